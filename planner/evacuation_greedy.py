"""A first solution for the evacuation search, built trip by trip (see :func:`greedy_routes`)."""

from __future__ import annotations

import math

import numpy as np

from planner.evacuation_model import Chunk
from planner.routing import RoutingProblem


def fit_time(forbidden: list[tuple[int, int]], t: float, horizon: int) -> int | None:
    """Earliest whole time ``>= t`` outside the sorted forbidden intervals (``None`` past the horizon)."""
    t = int(math.ceil(t))
    for a, b in forbidden:
        if b < t:
            continue
        if a <= t:
            t = b + 1
        else:
            break
    return t if t <= horizon else None


def allowed_starts(forbidden: list[tuple[int, int]], ready: float, horizon: int) -> list[int]:
    """Earliest allowed time at or after ``ready``, then the start of every later allowed
    block (a vehicle may wait for the next window before boarding)."""
    out = []
    t = fit_time(forbidden, ready, horizon)
    while t is not None:
        out.append(t)
        nxt = next((b + 1 for a, b in forbidden if a > t), None)
        t = fit_time(forbidden, nxt, horizon) if nxt is not None else None
    return out


def greedy_routes(
    problem: RoutingProblem,
    chunks: list[Chunk],
    chunk_node0: int,
    deliv_node0: int,
    prio: np.ndarray,
    gi_of: dict[str, int],
    max_wait: dict[int, int],
) -> list[list[int]]:
    """A feasible first solution built trip by trip, the earliest-free vehicle first.

    Each trip fills a vehicle at one assembly point (highest priority first, then the
    nearest point) and takes the people to their reception centre, honouring every time
    restriction of the model, so OR-Tools starts its search from a plan that already moves
    people (its own insertion heuristics are slow on thousands of nodes).
    """
    import heapq

    horizon = problem.horizon
    forb = {k: sorted(v) for k, v in problem.forbidden.items()}
    T = problem.time
    svc = problem.service

    def fit(node: int, t: float) -> int | None:
        return fit_time(forb.get(node, []), t, horizon)

    allowed_for: dict[int, set[int]] = {v: set() for v in range(problem.n_vehicles)}
    for k in range(len(chunks)):
        for v in problem.allowed_vehicles.get(chunk_node0 + k, range(problem.n_vehicles)):
            allowed_for[v].add(k)
    first_ok = {
        s: {n - chunk_node0 for n in problem.next_allowed.get(s, []) if n >= 0}
        for s in set(problem.vehicle_start)
    }
    pending = set(range(len(chunks)))
    routes: list[list[int]] = [[] for _ in range(problem.n_vehicles)]
    earliest = problem.vehicle_earliest or [0] * problem.n_vehicles
    heap = [(earliest[v], v, problem.vehicle_start[v], True) for v in range(problem.n_vehicles)]
    heapq.heapify(heap)

    def starts_from(node: int, ready: float) -> list[int]:
        return allowed_starts(forb.get(node, []), ready, horizon)

    def schedule(
        v: int, pos: int, t_free: float, first: bool, ks: list[int]
    ) -> tuple[int, int] | None:
        nodes = [chunk_node0 + k for k in ks] + [deliv_node0 + k for k in ks]
        if first:
            start = fit(pos, earliest[v])
            if start is None:
                return None
            ready = start + T[pos, nodes[0]]
        else:
            ready = t_free + T[pos, nodes[0]]
        for c in starts_from(nodes[0], ready):
            ok = True
            for prev, node in zip(nodes, nodes[1:], strict=False):
                at = c + svc[prev] + T[prev, node]
                nxt = fit(node, at)
                if nxt is None or (prev in max_wait and nxt - at > max_wait[prev]):
                    ok = False
                    break
                c = nxt
            if ok:
                return nodes[-1], c + int(svc[nodes[-1]])
        return None

    while heap and pending:
        t_free, v, pos, first = heapq.heappop(heap)
        cand = [
            k
            for k in pending
            if k in allowed_for[v] and (not first or k in first_ok.get(pos, set()))
        ]
        if not cand:
            continue
        site_of: dict[int, list[int]] = {}
        for k in cand:
            site_of.setdefault(chunks[k].site, []).append(k)
        node_site_of = {site: chunk_node0 + ks[0] for site, ks in site_of.items()}
        order = sorted(
            site_of,
            key=lambda st: (
                -max(prio[gi_of[chunks[k].group]] for k in site_of[st]),
                T[pos, node_site_of[st]],
                st,
            ),
        )
        done = False
        for site in order:
            ks = sorted(site_of[site], key=lambda k: (-prio[gi_of[chunks[k].group]], k))
            r = chunks[ks[0]].reception
            load, trip = 0, []
            for k in ks:
                if (
                    chunks[k].reception == r
                    and load + chunks[k].seats <= problem.vehicle_capacity[v]
                ):
                    trip.append(k)
                    load += chunks[k].seats
            while trip:
                res = schedule(v, pos, t_free, first, trip)
                if res is not None:
                    last, free = res
                    routes[v] += [chunk_node0 + k for k in trip] + [deliv_node0 + k for k in trip]
                    pending.difference_update(trip)
                    heapq.heappush(heap, (free, v, last, False))
                    done = True
                    break
                trip = trip[:-1]
            if done:
                break
    return routes
