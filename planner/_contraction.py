"""Node contraction for travel-time matrices (used by :mod:`planner.network`).

A travel-time matrix needs distances between sites only.  Contracting a node v (removing
it and adding a shortcut u -> w of weight w(u, v) + w(v, w) for every in-neighbour u and
out-neighbour w, unless a path u -> x -> w at most as long exists) keeps every distance
between the remaining nodes.  Contracting the nodes that are not sites, cheapest first, leaves
a small "core" graph on which scipy's Dijkstra runs several times faster.  Dead-end trees
(nothing to add) and chains of degree-2 nodes (one shortcut each way) go first.  Weights are
integers in float64 (cost and time in tenths of seconds, see ``_COMBINE`` in
:mod:`planner.network`), so every sum is
exact and the core's distances equal the full graph's bit for bit.
"""

from __future__ import annotations

from concurrent.futures import Executor

import numpy as np
from scipy.sparse import csr_array, csr_matrix

# Dijkstra in scipy costs about this much per node and per edge of the graph (seconds, measured
# on the 100,000-node grid city).  Contraction goes on while a round (charged
# _ROUND_S_PER_EDGE per edge, tuned on the same graph for the least total time) saves more
# Dijkstra time than it costs.
DIJKSTRA_S_PER_NODE = 1.7e-7
DIJKSTRA_S_PER_EDGE = 2.0e-8
_ROUND_S_PER_EDGE = 2.0e-8
_MAX_SCORE = 128  # contract no node whose removal may add more edges than this
_TAIL = 0.05  # a round contracting fewer of the candidates than this share ends a phase
# The final pruning of the core (2-hop witnesses for every edge) drops ~20 % of its edges
# for ~0.35 s on the grid city and saves ~1 ms per Dijkstra run there.
_PRUNE_RUNS = 350
# Graphs of at least this many nodes are contracted in two halves at once (2 processes).
SPLIT_NODES = 20_000


def spans(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each i, the positions ``starts[i] .. starts[i] + counts[i] - 1``, with their owner i."""
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(len(owner)) + np.repeat(starts - (np.cumsum(counts) - counts), counts)


class _Contraction:
    """A directed graph as sorted edge keys ``u * n + v`` with one (the least) weight each."""

    def __init__(self, u: np.ndarray, v: np.ndarray, w: np.ndarray, n: int) -> None:
        u, v = u.astype(np.int64), v.astype(np.int64)
        loop = u == v
        key, w = u[~loop] * n + v[~loop], w[~loop].astype(float)
        order = np.lexsort((w, key))
        key, w = key[order], w[order]
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        self.n = n
        self._set(key[first], w[first])

    @classmethod
    def of_csr(cls, csr: csr_matrix) -> _Contraction:
        """The graph of a square weighted adjacency matrix."""
        coo = csr.tocoo()
        return cls(coo.row, coo.col, coo.data, csr.shape[0])

    def _set(self, key: np.ndarray, w: np.ndarray) -> None:
        self.key, self.w = key, w
        self.u, self.v = np.divmod(key, self.n)
        self.outdeg = np.bincount(self.u, minlength=self.n)
        self.out_start = np.concatenate([[0], np.cumsum(self.outdeg)])
        self.adj = csr_array((w, self.v, self.out_start), shape=(self.n, self.n))

    def _weight(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Weight of each edge a -> b, 0 where there is none (weights are > 0)."""
        if len(a) == 0:
            return np.zeros(0)
        return np.asarray(self.adj[a, b], dtype=float).ravel()  # a binary search in row a, in C

    def _witnessed(
        self, a: np.ndarray, b: np.ndarray, weight: np.ndarray, banned: np.ndarray
    ) -> np.ndarray:
        """Whether an edge a -> b or a path a -> x -> b (x not banned) weighs at most ``weight``."""
        direct = self._weight(a, b)
        out = (direct > 0) & (direct <= weight)
        todo = np.flatnonzero(~out)
        owner, e1 = spans(self.out_start[a[todo]], self.outdeg[a[todo]])
        j = todo[owner]
        first, limit = self.w[e1], weight[j]
        k = np.flatnonzero(first < limit)  # x -> b weighs >= 1
        j, e1, first, limit = j[k], e1[k], first[k], limit[k]
        x, bj = self.v[e1], b[j]
        k = np.flatnonzero((x != bj) & ~banned[x])
        second = self._weight(x[k], bj[k])
        good = (second > 0) & (first[k] + second <= limit[k])
        out[j[k[good]]] = True
        return out

    def contract(self, sel: np.ndarray) -> None:
        """Remove an independent set of nodes, adding the shortcuts their removal needs."""
        n = self.n
        ie = np.flatnonzero(sel[self.v])  # u -> v, v in sel
        ie = ie[np.argsort(self.v[ie], kind="stable")]
        owner, oe = spans(self.out_start[self.v[ie]], self.outdeg[self.v[ie]])
        ie = ie[owner]
        a, b, weight = self.u[ie], self.v[oe], self.w[ie] + self.w[oe]
        ok = a != b
        a, b, weight = a[ok], b[ok], weight[ok]
        ck = a * n + b
        order = np.argsort(ck)  # the lightest shortcut per pair (several v may give one)
        ck, weight = ck[order], weight[order]
        first = np.ones(len(ck), dtype=bool)
        first[1:] = ck[1:] != ck[:-1]
        starts = np.flatnonzero(first)
        ck = ck[starts]
        cw = np.minimum.reduceat(weight, starts) if len(starts) else weight[:0]
        need = ~self._witnessed(ck // n, ck % n, cw, sel)
        ck, cw = ck[need], cw[need]
        gone = sel[self.u] | sel[self.v]
        key, w = self.key[~gone], self.w[~gone].copy()
        pos = np.searchsorted(key, ck)
        hit = pos < len(key)
        hit[hit] = key[pos[hit]] == ck[hit]
        better = np.zeros(len(ck), dtype=bool)
        better[hit] = cw[hit] < w[pos[hit]]
        w[pos[better]] = cw[better]
        self._set(np.insert(key, pos[~hit], ck[~hit]), np.insert(w, pos[~hit], cw[~hit]))

    def prune(self, only: np.ndarray | None = None) -> None:
        """Drop every edge a -> b for which a path a -> x -> b at most as heavy exists.

        Safe all at once: weights are positive, so each path that replaces a dropped edge is
        made of strictly lighter edges, kept or replaced in turn.  ``only`` (a mask over the
        edges) limits the edges that may go.
        """
        check = np.arange(len(self.key)) if only is None else np.flatnonzero(only)
        owner, e1 = spans(self.out_start[self.u[check]], self.outdeg[self.u[check]])
        owner = check[owner]
        x, b = self.v[e1], self.v[owner]
        ok = (x != b) & (self.w[e1] < self.w[owner])
        owner, e1, x, b = owner[ok], e1[ok], x[ok], b[ok]
        second = self._weight(x, b)
        good = (second > 0) & (self.w[e1] + second <= self.w[owner])
        drop = np.zeros(len(self.key), dtype=bool)
        drop[owner[good]] = True
        self._set(self.key[~drop], self.w[~drop])


def contract_graph(
    csr: csr_matrix,
    keep: np.ndarray,
    runs: float = 1.0,
    *,
    side: np.ndarray | None = None,
    pool: Executor | None = None,
) -> tuple[csr_matrix, np.ndarray]:
    """A smaller graph with the same shortest-path distances between the ``keep`` nodes.

    Nodes outside ``keep`` are contracted in rounds of independent nodes, fewest shortcuts
    first, while the Dijkstra time saved over ``runs`` single-source runs exceeds the time
    of a round.

    Parameters
    ----------
    csr
        Square weighted adjacency matrix (weights > 0).
    keep
        Boolean mask of the nodes that must stay.
    runs
        How many single-source Dijkstra runs (per process) the core will serve.
    side, pool
        With both, and a graph of at least ``SPLIT_NODES`` nodes, the two halves of the
        graph (``side`` False / True) are first contracted at the same time in two processes
        of ``pool``, each keeping the nodes on edges between the halves; the rounds then go
        on over the whole graph.  The result depends on ``side``, never on the timing.

    Returns
    -------
    core : scipy.sparse.csr_matrix
        The contracted graph over the remaining nodes, in their original order.
    nodes : numpy.ndarray
        Original index of each core node.
    """
    n = csr.shape[0]
    pruned = None
    if side is not None and pool is not None and n >= SPLIT_NODES:
        (u, v, w), nodes, pruned = _contract_halves(csr, keep, runs, side, pool)
    else:
        coo = csr.tocoo()
        (u, v, w), nodes = (coo.row, coo.col, coo.data), np.arange(n)
    # the rounds go on over the nodes still there, numbered 0..k-1
    label = np.full(n, -1, dtype=np.int64)
    label[nodes] = np.arange(len(nodes))
    g = _Contraction(label[u], label[v], w, len(nodes))
    alive = np.ones(len(nodes), dtype=bool)
    _contract_rounds(g, alive, keep[nodes], runs)
    if runs > _PRUNE_RUNS:
        # the halves pruned their own edges: only the others (between the halves, or new)
        g.prune(
            None
            if pruned is None
            else ~_same_edges(g, label[pruned[0]], label[pruned[1]], pruned[2])
        )
    core_nodes = np.flatnonzero(alive)
    relabel = np.full(len(nodes), -1, dtype=np.int64)
    relabel[core_nodes] = np.arange(len(core_nodes))
    k = len(core_nodes)
    core = csr_matrix((g.w, (relabel[g.u], relabel[g.v])), shape=(k, k))
    return core, nodes[core_nodes]


_Edges = tuple[np.ndarray, np.ndarray, np.ndarray]  # tails, heads, weights


def _contract_halves(
    csr: csr_matrix, keep: np.ndarray, runs: float, side: np.ndarray, pool: Executor
) -> tuple[_Edges, np.ndarray, _Edges]:
    """Contract each half of the graph in a process of its own; return the joined result.

    Each half is the subgraph of the edges with both ends on that side; its nodes on an edge
    between the halves stay.  Every path between kept nodes is a chain of within-half
    stretches between kept nodes and edges between the halves, so the joined graph keeps
    every distance.

    Returns the joined edges, the nodes still there, and the edges as the halves left them
    (pruned, when they were asked to prune).
    """
    n = csr.shape[0]
    coo = csr.tocoo()
    u, v, w = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
    cross = side[u] != side[v]
    border = np.zeros(n, dtype=bool)
    border[u[cross]] = border[v[cross]] = True
    jobs = []
    for half in (False, True):
        mine = np.flatnonzero(side == half)
        label = np.full(n, -1, dtype=np.int64)
        label[mine] = np.arange(len(mine))
        inner = ~cross & (side[u] == half)
        args = (label[u[inner]], label[v[inner]], w[inner], (keep | border)[mine], runs)
        jobs.append((mine, pool.submit(_contract_part, *args)))
    gone = np.zeros(n, dtype=bool)
    edges: list[_Edges] = []
    for mine, job in jobs:  # in a fixed order: the result never depends on timing
        (pu, pv, pw), alive = job.result()
        gone[mine[~alive]] = True
        edges.append((mine[pu], mine[pv], pw))
    hu, hv, hw = (np.concatenate([e[i] for e in edges]) for i in range(3))
    joined = (
        np.concatenate([hu, u[cross]]),
        np.concatenate([hv, v[cross]]),
        np.concatenate([hw, w[cross]]),
    )
    return joined, np.flatnonzero(~gone), (hu, hv, hw)


def _same_edges(g: _Contraction, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mask of the edges of ``g`` found, with the same weight, among the edges ``u, v, w``."""
    if len(u) == 0:
        return np.zeros(len(g.key), dtype=bool)
    key = u * g.n + v
    order = np.argsort(key, kind="stable")
    key, w = key[order], w[order]
    pos = np.minimum(np.searchsorted(key, g.key), len(key) - 1)
    return (key[pos] == g.key) & (w[pos] == g.w)


def _contract_part(
    u: np.ndarray, v: np.ndarray, w: np.ndarray, keep: np.ndarray, runs: float
) -> tuple[_Edges, np.ndarray]:
    """Contract one half (in a worker): its remaining edges and ``alive`` mask."""
    g = _Contraction(u, v, w, len(keep))
    alive = np.ones(len(keep), dtype=bool)
    _contract_rounds(g, alive, keep, runs)
    if runs > _PRUNE_RUNS:
        g.prune()
    return (g.u, g.v, g.w), alive


def _contract_rounds(g: _Contraction, alive: np.ndarray, keep: np.ndarray, runs: float) -> None:
    """Contract nodes of ``g`` outside ``keep`` in rounds while it pays; updates ``alive``.

    Nodes whose removal may add at most ``limit`` edges are candidates; the limit grows as
    the cheap nodes run out.
    """
    n = g.n
    # ties broken at random spread each round's independent set over the whole map
    tie = np.random.default_rng(0).permutation(n).astype(np.int64)
    never = np.iinfo(np.int64).max

    def dijkstra_s() -> float:
        return (DIJKSTRA_S_PER_NODE * alive.sum() + DIJKSTRA_S_PER_EDGE * len(g.key)) * runs

    limit, idle = 0, 0
    before = dijkstra_s()
    while limit <= _MAX_SCORE and idle < 3:
        indeg, outdeg = np.bincount(g.v, minlength=n), g.outdeg
        # shortcuts added minus edges removed, at most (witnesses only lower it)
        score = indeg * outdeg - indeg - outdeg
        cand = alive & ~keep & (score <= limit)
        prio = np.where(cand, (score + 2 * n) * n + tie, never)
        lowest = np.full(n, never)
        np.minimum.at(lowest, g.u, prio[g.v])
        np.minimum.at(lowest, g.v, prio[g.u])
        sel = cand & (prio < lowest)
        if sel.sum() <= _TAIL * cand.sum() or sel.sum() < 0.002 * alive.sum():
            limit += 2 + limit // 4  # the cheap nodes are (almost) gone: allow dearer ones
            if not sel.any():
                continue
        cost = _ROUND_S_PER_EDGE * len(g.key)
        g.contract(sel)
        alive[sel] = False
        after = dijkstra_s()
        idle = idle + 1 if before - after < cost and limit > 0 else 0
        before = after
