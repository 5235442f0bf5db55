"""An upper bound on how many people could be evacuated at all, independent of the solver.

Each vehicle can make at most as many loaded trips as fit in the ceasefire windows when
every drive takes the shortest safe time the network allows (a drive may not span a closed
period) and every stop the scenario's minimum dwell.  Seats times trips, summed over the
vehicles that may carry a group, caps that group; people who cannot be reached, and the
reception centres' capacity, cap it further.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.scenario import GROUPS
from planner.timeline import Timeline


@dataclass
class BoundInputs:
    """What the bound needs, as plain arrays (seconds; ``inf`` = no safe road)."""

    timeline: Timeline
    waiting: dict[str, dict[str, int]]  # assembly id -> group -> people
    assembly_ids: list[str]
    reception_ids: list[str]
    reception_capacity: list[int]
    a_to_r: np.ndarray  # (A, R) drive time
    r_to_a: np.ndarray  # (R, A)
    start_to_a: np.ndarray  # (V, A)
    vehicle_seats: list[int]
    vehicle_groups: list[list[str]]
    vehicle_earliest: list[int]
    stop_s: float
    unload_s: float
    excluded_sites: set[str]


@dataclass
class Bound:
    """The bound per group (and ``total``), with the trips per vehicle behind it."""

    per_group: dict[str, int]
    trips: list[int]
    reachable: dict[str, int]


def max_trips(
    timeline: Timeline, earliest: float, first: float, loaded: float, reposition: float, stop_s: float, unload_s: float
) -> int:
    """Most loaded trips one vehicle can make with drives no shorter than the given ones.

    Parameters
    ----------
    timeline
        Ceasefire windows.
    earliest
        When the vehicle is available.
    first
        Shortest drive from its start to a pickup (0 if it starts at one).
    loaded
        Shortest loaded drive (pickup to reception).
    reposition
        Shortest empty drive back (reception to pickup).
    stop_s, unload_s
        Minimum dwell at a pickup and at a reception.

    Returns
    -------
    int
    """
    if not np.isfinite(first) or not np.isfinite(loaded):
        return 0
    t = float(earliest)
    if first > 0:
        s = timeline.earliest_fit(t, first)
        if s is None:
            return 0
        t = s + first
    trips = 0
    while True:
        t += stop_s
        s = timeline.earliest_fit(t, loaded)
        if s is None:
            return trips
        t = s + loaded + unload_s
        trips += 1
        if not np.isfinite(reposition):
            return trips
        s = timeline.earliest_fit(t, reposition)
        if s is None:
            return trips
        t = s + reposition
        if trips > 100_000:  # zero-length drives: capped, not infinite
            return trips


def compute_bound(inp: BoundInputs) -> Bound:
    """Compute the upper bound.

    Parameters
    ----------
    inp
        Drive times and demand.

    Returns
    -------
    Bound
    """
    A = len(inp.assembly_ids)
    # pickups that can reach some reception
    served_ok = np.array(
        [
            inp.assembly_ids[a] not in inp.excluded_sites and np.isfinite(inp.a_to_r[a]).any()
            for a in range(A)
        ],
        dtype=bool,
    )
    trips: list[int] = []
    for v, seats in enumerate(inp.vehicle_seats):
        cand = [
            a
            for a in range(A)
            if served_ok[a]
            and np.isfinite(inp.start_to_a[v, a])
            and any(inp.waiting[inp.assembly_ids[a]].get(g, 0) for g in inp.vehicle_groups[v])
        ]
        if not cand or seats <= 0:
            trips.append(0)
            continue
        first = float(np.min(inp.start_to_a[v, cand]))
        loaded = float(np.min(inp.a_to_r[cand]))
        rep = float(np.min(inp.r_to_a[:, cand]))
        trips.append(max_trips(inp.timeline, inp.vehicle_earliest[v], first, loaded, rep, inp.stop_s, inp.unload_s))
    seat_trips = [s * t for s, t in zip(inp.vehicle_seats, trips, strict=True)]
    reception_total = int(
        sum(c for c, col in zip(inp.reception_capacity, inp.a_to_r.T, strict=True) if np.isfinite(col).any())
    )
    per_group: dict[str, int] = {}
    reachable: dict[str, int] = {}
    for g in GROUPS:
        carriers = [v for v in range(len(inp.vehicle_seats)) if g in inp.vehicle_groups[v]]
        people = 0
        for a in range(A):
            n = inp.waiting[inp.assembly_ids[a]].get(g, 0)
            if n and served_ok[a] and any(np.isfinite(inp.start_to_a[v, a]) for v in carriers):
                people += n
        reachable[g] = people
        per_group[g] = int(min(people, sum(seat_trips[v] for v in carriers), reception_total))
    per_group["total"] = int(min(sum(per_group[g] for g in GROUPS), sum(seat_trips), reception_total))
    return Bound(per_group=per_group, trips=trips, reachable=reachable)
