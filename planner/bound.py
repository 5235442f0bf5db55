"""An upper bound on how many people could be evacuated at all, independent of the solver.

Each vehicle can make at most as many loaded trips as fit in the ceasefire windows when
every drive takes the shortest safe time the network allows (a drive may not span a closed
period) and every stop the scenario's minimum dwell.  Seats times trips, summed over the
vehicles that may carry a group, caps that group; people who cannot be reached, and the
reception centres' capacity, cap it further.  A site counts as reached when some vehicle can
drive there and on to a reception centre inside the windows (waiting at sites between them),
whatever the trips before.
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
    site_drive: np.ndarray | None = None
    """Drive times between all sites (S, S); with the three index lists below, a site only
    counts when some vehicle can get there and on to a reception centre inside the windows
    (resting between windows at sites on the way)."""
    assembly_sites: list[int] | None = None  # row of each assembly point in site_drive
    reception_sites: list[int] | None = None
    vehicle_sites: list[int] | None = None  # row of each vehicle's start
    vehicle_types: list[int] | None = None  # fleet type index of each vehicle


@dataclass
class Bound:
    """The bound per group (and ``total``), with the trips per vehicle behind it."""

    per_group: dict[str, int]
    trips: list[int]
    reachable: dict[str, int]


def max_trips(
    timeline: Timeline,
    earliest: float,
    first: float,
    loaded: float,
    reposition: float,
    stop_s: float,
    unload_s: float,
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


def _earliest_arrivals(timeline: Timeline, drive: np.ndarray, source: int, t0: float) -> np.ndarray:
    """Earliest arrival at every site from ``source`` left at ``t0`` or later.

    Each drive lies inside one window; a vehicle may wait at a site for the next one.
    """
    ws = np.array([a for a, _b in timeline.windows], dtype=float)
    we = np.array([b for _a, b in timeline.windows], dtype=float)
    n = drive.shape[0]
    ea = np.full(n, np.inf)
    ea[source] = t0
    done = np.zeros(n, dtype=bool)
    for _ in range(n):
        i = int(np.argmin(np.where(done, np.inf, ea)))
        if done[i] or not np.isfinite(ea[i]):
            break
        done[i] = True
        d = drive[i]
        start = np.maximum(ea[i], ws)  # (W,)
        fits = start[None, :] + d[:, None] <= we[None, :]  # (n, W)
        ok = fits.any(axis=1) & np.isfinite(d) & ~done
        arrive = start[np.argmax(fits, axis=1)] + d
        ea[ok] = np.minimum(ea[ok], arrive[ok])
    return ea


def _latest_departures(timeline: Timeline, drive: np.ndarray, targets: list[int]) -> np.ndarray:
    """Latest time a vehicle may leave each site and still reach one of ``targets``."""
    ws = np.array([a for a, _b in timeline.windows], dtype=float)
    we = np.array([b for _a, b in timeline.windows], dtype=float)
    n = drive.shape[0]
    ld = np.full(n, -np.inf)
    ld[targets] = we.max() if len(we) else -np.inf
    done = np.zeros(n, dtype=bool)
    for _ in range(n):
        j = int(np.argmax(np.where(done, -np.inf, ld)))
        if done[j] or not np.isfinite(ld[j]):
            break
        done[j] = True
        d = drive[:, j]
        leave = np.minimum(ld[j], we)[None, :] - d[:, None]  # (n, W): leave to arrive in time
        fits = leave >= ws[None, :]
        ok = fits.any(axis=1) & np.isfinite(d) & ~done
        best = np.where(fits, leave, -np.inf).max(axis=1)
        ld[ok] = np.maximum(ld[ok], best[ok])
    return ld


def _reachable(inp: BoundInputs) -> np.ndarray | None:
    """(V, A): whether vehicle v can reach assembly point a and go on to a reception centre."""
    if (
        inp.site_drive is None
        or inp.assembly_sites is None
        or inp.reception_sites is None
        or inp.vehicle_sites is None
    ):
        return None
    drive = np.asarray(inp.site_drive, dtype=float)
    ld = _latest_departures(inp.timeline, drive, list(inp.reception_sites))
    out = np.zeros((len(inp.vehicle_sites), len(inp.assembly_sites)), dtype=bool)
    cache: dict[tuple[int, float], np.ndarray] = {}
    rows = np.asarray(inp.assembly_sites, dtype=np.int64)
    for v, (site, t0) in enumerate(zip(inp.vehicle_sites, inp.vehicle_earliest, strict=True)):
        key = (int(site), float(t0))
        if key not in cache:
            ea = _earliest_arrivals(inp.timeline, drive, int(site), float(t0))
            cache[key] = ea[rows] + inp.stop_s <= ld[rows]
        out[v] = cache[key]
    return out


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
    reach = _reachable(inp)
    if reach is None:  # without the site drives: every site a vehicle has a road to
        reach = np.isfinite(np.asarray(inp.start_to_a, dtype=float)).reshape(
            len(inp.vehicle_seats), A
        )
    trips: list[int] = []
    for v, seats in enumerate(inp.vehicle_seats):
        cand = [
            a
            for a in range(A)
            if served_ok[a]
            and reach[v, a]
            and any(inp.waiting[inp.assembly_ids[a]].get(g, 0) for g in inp.vehicle_groups[v])
        ]
        if not cand or seats <= 0:
            trips.append(0)
            continue
        first = float(np.min(inp.start_to_a[v, cand]))
        loaded = float(np.min(inp.a_to_r[cand]))
        rep = float(np.min(inp.r_to_a[:, cand]))
        trips.append(
            max_trips(
                inp.timeline, inp.vehicle_earliest[v], first, loaded, rep, inp.stop_s, inp.unload_s
            )
        )
    seat_trips = [s * t for s, t in zip(inp.vehicle_seats, trips, strict=True)]
    reception_total = int(
        sum(
            c
            for c, col in zip(inp.reception_capacity, inp.a_to_r.T, strict=True)
            if np.isfinite(col).any()
        )
    )
    per_group: dict[str, int] = {}
    reachable: dict[str, int] = {}
    for g in GROUPS:
        carriers = [v for v in range(len(inp.vehicle_seats)) if g in inp.vehicle_groups[v]]
        people = 0
        for a in range(A):
            n = inp.waiting[inp.assembly_ids[a]].get(g, 0)
            if n and served_ok[a] and any(reach[v, a] for v in carriers):
                people += n
        reachable[g] = people
        per_group[g] = int(min(people, sum(seat_trips[v] for v in carriers), reception_total))
    per_group["total"] = int(
        min(sum(per_group[g] for g in GROUPS), sum(seat_trips), reception_total)
    )
    return Bound(per_group=per_group, trips=trips, reachable=reachable)
