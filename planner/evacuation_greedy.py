"""A first solution for the evacuation search, built trip by trip (see :func:`greedy_routes`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


@dataclass
class _TripTimer:
    """Times a trip (pickups then deliveries) under the model's time restrictions."""

    problem: RoutingProblem
    chunk_node0: int
    deliv_node0: int
    max_wait: dict[int, int]
    forb: dict[int, list[tuple[int, int]]]
    earliest: list[int]

    def fit(self, node: int, t: float) -> int | None:
        """Earliest allowed service start at ``node`` from ``t``."""
        return fit_time(self.forb.get(node, []), t, self.problem.horizon)

    def schedule(
        self, v: int, pos: int, t_free: float, first: bool, ks: list[int]
    ) -> tuple[int, int] | None:
        """The last node of vehicle ``v``'s trip through chunks ``ks`` from node ``pos`` and
        when it is free again, or None if the trip cannot be timed."""
        T, svc, max_wait = self.problem.time, self.problem.service, self.max_wait
        nodes = [self.chunk_node0 + k for k in ks] + [self.deliv_node0 + k for k in ks]
        if first:
            start = self.fit(pos, self.earliest[v])
            if start is None:
                return None
            ready = start + T[pos, nodes[0]]
        else:
            ready = t_free + T[pos, nodes[0]]
        for c in allowed_starts(self.forb.get(nodes[0], []), ready, self.problem.horizon):
            ok = True
            for prev, node in zip(nodes, nodes[1:], strict=False):
                at = c + svc[prev] + T[prev, node]
                nxt = self.fit(node, at)
                if nxt is None or (prev in max_wait and nxt - at > max_wait[prev]):
                    ok = False
                    break
                c = nxt
            if ok:
                return nodes[-1], c + int(svc[nodes[-1]])
        return None


def _site_order(
    chunks: list[Chunk],
    cand: list[int],
    chunk_node0: int,
    time: Any,
    pos: int,
    rank: Callable[[int], float],
) -> tuple[list[int], dict[int, list[int]]]:
    """The candidate chunks' sites, highest priority then nearest first, and their chunks."""
    site_of: dict[int, list[int]] = {}
    for k in cand:
        site_of.setdefault(chunks[k].site, []).append(k)
    node_site_of = {site: chunk_node0 + ks[0] for site, ks in site_of.items()}
    order = sorted(
        site_of,
        key=lambda st: (
            -max(rank(k) for k in site_of[st]),
            time[pos, node_site_of[st]],
            st,
        ),
    )
    return order, site_of


def _first_trip(
    chunks: list[Chunk], ks: list[int], capacity: int, rank: Callable[[int], float]
) -> list[int]:
    """The chunks of one site a vehicle takes: to the top chunk's centre, as many as fit."""
    ks = sorted(ks, key=lambda k: (-rank(k), k))
    r = chunks[ks[0]].reception
    load, trip = 0, []
    for k in ks:
        if chunks[k].reception == r and load + chunks[k].seats <= capacity:
            trip.append(k)
            load += chunks[k].seats
    return trip


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

    earliest = problem.vehicle_earliest or [0] * problem.n_vehicles
    timer = _TripTimer(
        problem,
        chunk_node0,
        deliv_node0,
        max_wait,
        {k: sorted(v) for k, v in problem.forbidden.items()},
        earliest,
    )

    def rank(k: int) -> float:
        return prio[gi_of[chunks[k].group]]

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
    heap = [(earliest[v], v, problem.vehicle_start[v], True) for v in range(problem.n_vehicles)]
    heapq.heapify(heap)
    while heap and pending:
        t_free, v, pos, first = heapq.heappop(heap)
        cand = [
            k
            for k in pending
            if k in allowed_for[v] and (not first or k in first_ok.get(pos, set()))
        ]
        if not cand:
            continue
        order, site_of = _site_order(chunks, cand, chunk_node0, problem.time, pos, rank)
        for site in order:
            trip = _first_trip(chunks, site_of[site], problem.vehicle_capacity[v], rank)
            while trip:
                res = timer.schedule(v, pos, t_free, first, trip)
                if res is not None:
                    break
                trip = trip[:-1]
            if trip and res is not None:
                last, free = res
                routes[v] += [chunk_node0 + k for k in trip] + [deliv_node0 + k for k in trip]
                pending.difference_update(trip)
                heapq.heappush(heap, (free, v, last, False))
                break
    return routes
