"""An upper bound on how many people could be evacuated at all, independent of the solver.

Each vehicle can make at most as many loaded trips as fit in the ceasefire windows when
every drive takes the shortest safe time the network allows (a drive may not span a closed
period) and every stop the scenario's minimum dwell.  Seats times trips, summed over the
vehicles that may carry a group, caps that group; people who cannot be reached, and the
reception centres' capacity, cap it further.  A site counts as reached when some vehicle can
drive there and on to a reception centre inside the windows (waiting at sites between them),
whatever the trips before.  People who can leave only in a convoy are no more than the seats
its agreed departures can carry (:func:`convoy_seats`), and a departure carries a site's people
only in vehicles that can stop there and reach the marshalling site in time, from their start
on their first departure, from where an earlier departure took them on a later one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from planner.scenario import GROUPS
from planner.timeline import Timeline


@dataclass
class ConvoyLimits:
    """One convoy as the bound sees it (sites are rows of :attr:`BoundInputs.site_drive`)."""

    site: int
    """The marshalling site."""
    departs: list[int]
    """Agreed departures inside a window (seconds)."""
    window_end: list[int]
    """End of the window each departure lies in: its convoy arrives by then."""
    arcs: set[tuple[int, int]]
    """Site pairs whose drive joins this convoy."""
    dest_s: dict[int, int]
    """The convoy's drive from the marshalling site to each destination site."""
    max_vehicles: int | None
    lead_vehicles: int | None
    """Vehicles of the lead type in the fleet (``None``: no lead vehicle takes a place)."""
    crossings: list[tuple[int, int]] = field(default_factory=list)
    """``(span_s, limit)`` of every rate-limited crossing each convoy drive passes: at most
    ``limit`` vehicles (the lead counted) in departures less than ``span_s`` apart."""


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
    convoys: list[ConvoyLimits] | None = None
    """The convoys, each with the site pairs whose drives join it (see :class:`ConvoyLimits`)."""


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


def _reception_reach(inp: BoundInputs) -> np.ndarray | None:
    """(V, A, R): whether vehicle v can reach assembly point a and go on to reception r in time."""
    if (
        inp.site_drive is None
        or inp.assembly_sites is None
        or inp.reception_sites is None
        or inp.vehicle_sites is None
    ):
        return None
    drive = np.asarray(inp.site_drive, dtype=float)
    rows = np.asarray(inp.assembly_sites, dtype=np.int64)
    lds = [_latest_departures(inp.timeline, drive, [r])[rows] for r in inp.reception_sites]
    out = np.zeros((len(inp.vehicle_sites), len(rows), len(lds)), dtype=bool)
    cache: dict[tuple[int, float], np.ndarray] = {}
    for v, (site, t0) in enumerate(zip(inp.vehicle_sites, inp.vehicle_earliest, strict=True)):
        key = (int(site), float(t0))
        if key not in cache:
            ea = _earliest_arrivals(inp.timeline, drive, int(site), float(t0))[rows] + inp.stop_s
            cache[key] = (
                np.stack([ea <= ld for ld in lds], axis=1)
                if lds
                else np.zeros((len(rows), 0), dtype=bool)
            )
        out[v] = cache[key]
    return out


def _window_time(timeline: Timeline, earliest: float) -> float:
    """Ceasefire time left after ``earliest``."""
    return float(sum(max(0.0, b - max(a, earliest)) for a, b in timeline.windows))


def _vehicle_classes(inp: BoundInputs) -> list[list[int]]:
    """The vehicles grouped by class (same seats, groups, start and earliest time)."""
    classes: dict[tuple, list[int]] = {}
    for v in range(len(inp.vehicle_seats)):
        key = (
            inp.vehicle_seats[v],
            tuple(inp.vehicle_groups[v]),
            int(inp.vehicle_sites[v]) if inp.vehicle_sites else 0,
            float(inp.vehicle_earliest[v]),
        )
        classes.setdefault(key, []).append(v)
    return list(classes.values())


def _flow_variables(
    inp: BoundInputs, reach: np.ndarray, members: list[list[int]], group: str | None
) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int]]]:
    """The flow variables ``(class, a, g, r)`` and the trip variables ``(class, r)``."""
    A, R = len(inp.assembly_ids), len(inp.reception_ids)
    y_of: list[tuple[int, int, int, int]] = []  # (class, a, g, r)
    z_of: list[tuple[int, int]] = []  # (class, r)
    groups = [g for g in GROUPS if group is None or g == group]
    for c, vs in enumerate(members):
        v0 = vs[0]
        for r in range(R):
            ok_a = [
                a
                for a in range(A)
                if reach[v0, a, r] and inp.assembly_ids[a] not in inp.excluded_sites
            ]
            ys = [
                (c, a, gi, r)
                for a in ok_a
                for gi, g in enumerate(GROUPS)
                if g in groups
                and g in inp.vehicle_groups[v0]
                and inp.waiting[inp.assembly_ids[a]].get(g, 0) > 0
            ]
            if ys and inp.vehicle_seats[v0] > 0:
                y_of.extend(ys)
                z_of.append((c, r))
    return y_of, z_of


@dataclass
class _SparseRows:
    """The ``<=`` rows of a linear programme, in coordinate form."""

    rows: list[int] = field(default_factory=list)
    cols: list[int] = field(default_factory=list)
    vals: list[float] = field(default_factory=list)
    b: list[float] = field(default_factory=list)

    def row(self, entries: list[tuple[int, float]], bound: float) -> None:
        """Add the row ``sum(val * x[col]) <= bound``."""
        k = len(self.b)
        for col, val in entries:
            self.rows.append(k)
            self.cols.append(col)
            self.vals.append(val)
        self.b.append(bound)


def _demand_rows(
    inp: BoundInputs,
    members: list[list[int]],
    y_of: list[tuple[int, int, int, int]],
    z_index: dict[tuple[int, int], int],
    lp: _SparseRows,
) -> None:
    """People waiting per point and group, centre capacities, seats per trip."""
    by_ag: dict[tuple[int, int], list[int]] = {}
    by_r: dict[int, list[int]] = {}
    by_cr: dict[tuple[int, int], list[int]] = {}
    for k, (c, a, gi, r) in enumerate(y_of):
        by_ag.setdefault((a, gi), []).append(k)
        by_r.setdefault(r, []).append(k)
        by_cr.setdefault((c, r), []).append(k)
    for (a, gi), ks in by_ag.items():
        lp.row([(k, 1.0) for k in ks], float(inp.waiting[inp.assembly_ids[a]].get(GROUPS[gi], 0)))
    for r, ks in by_r.items():
        lp.row([(k, 1.0) for k in ks], float(inp.reception_capacity[r]))
    for (c, r), ks in by_cr.items():
        lp.row(
            [(k, 1.0) for k in ks] + [(z_index[(c, r)], -float(inp.vehicle_seats[members[c][0]]))],
            0.0,
        )


def _trip_rows(
    inp: BoundInputs,
    trips: list[int],
    members: list[list[int]],
    y_of: list[tuple[int, int, int, int]],
    z_index: dict[tuple[int, int], int],
    drives: tuple[np.ndarray, np.ndarray],
    lp: _SparseRows,
) -> None:
    """Each class's trips: their drives inside its ceasefire time, their number capped."""
    from_r, to_r = drives
    asites = inp.assembly_sites
    assert asites is not None
    for c, vs in enumerate(members):
        zs = [(cr, k) for cr, k in z_index.items() if cr[0] == c]
        if not zs:
            continue
        ok = [(a, r) for (_c, a, _g, r) in y_of if _c == c]
        empty = min((float(from_r[:, asites[a]].min()) for a, _r in ok), default=0.0)
        empty = float(empty) if np.isfinite(empty) else 0.0
        loaded = {
            r: min(float(to_r[rr, asites[a]]) for a, rr in ok if rr == r)
            for _c, r in (cr for cr, _k in zs)
        }
        budget = (
            sum(_window_time(inp.timeline, inp.vehicle_earliest[v]) for v in vs) + len(vs) * empty
        )
        lp.row([(k, float(loaded[r]) + empty) for (_c, r), k in zs], budget)
        lp.row([(k, 1.0) for _cr, k in zs], float(sum(trips[v] for v in vs)))


def flow_bound(inp: BoundInputs, trips: list[int], group: str | None = None) -> int | None:
    """People the vehicles could bring to the reception centres, as a linear programme.

    Vehicles of one class (same seats, groups, start and earliest time) carry people of the
    groups they may carry from an assembly point to a reception centre they can reach from
    it inside the windows (per centre, not any centre), each centre up to its capacity.  A
    trip to centre r carries at most the class's seats and drives at least the shortest
    loaded drive into r plus, after the vehicle's first trip, the shortest empty drive from
    a centre to a pickup; the drives of a vehicle's trips fit in the ceasefire time it has
    (every drive lies inside a window), and a class makes no more trips than
    :func:`max_trips` allows its vehicles; people who can leave only in a convoy are no
    more than its departures carry (:func:`convoy_caps`).  Every plan the verifier accepts is a solution, so
    the optimum (rounded down) is an upper bound.  ``group``: count that group only.
    Returns ``None`` without the site drives.
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    reach = _reception_reach(inp)
    if reach is None or inp.assembly_sites is None or inp.reception_sites is None:
        return None
    from scipy.sparse.csgraph import csgraph_from_dense, dijkstra

    # shortest drives over the sites (a trip may pass other sites on the way)
    graph = csgraph_from_dense(np.asarray(inp.site_drive, dtype=float), null_value=np.inf)
    rs = list(inp.reception_sites)
    from_r = dijkstra(graph, indices=rs)  # (R, S)
    to_r = dijkstra(graph.T.tocsr(), indices=rs)  # (R, S): drive from each site into r
    members = _vehicle_classes(inp)
    y_of, z_of = _flow_variables(inp, reach, members, group)
    if not y_of:
        return 0
    ny, nz = len(y_of), len(z_of)
    z_index = {cr: ny + k for k, cr in enumerate(z_of)}
    lp = _SparseRows()
    _demand_rows(inp, members, y_of, z_index, lp)
    _trip_rows(inp, trips, members, y_of, z_index, (from_r, to_r), lp)
    for only, cap in convoy_caps(inp, group):  # people who can leave only in a convoy
        lp.row([(k, 1.0) for k, y in enumerate(y_of) if y[1] in only], float(cap))
    m = coo_matrix((lp.vals, (lp.rows, lp.cols)), shape=(len(lp.b), ny + nz)).tocsr()
    cost = np.concatenate([-np.ones(ny), np.zeros(nz)])
    res = linprog(cost, A_ub=m, b_ub=np.array(lp.b), bounds=(0, None), method="highs")
    if res.status != 0:
        return None
    return int(math.floor(-res.fun + 1e-6))


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
    if inp.site_drive is not None:
        for g in GROUPS:
            if per_group[g]:
                flow = flow_bound(inp, trips, g)
                per_group[g] = per_group[g] if flow is None else min(per_group[g], flow)
        flow = flow_bound(inp, trips)
        total = min(per_group["total"], sum(per_group[g] for g in GROUPS))
        per_group["total"] = total if flow is None else min(total, flow)
    return Bound(per_group=per_group, trips=trips, reachable=reachable)


# --------------------------------------------------------------------------- convoys

RATE_SLACK_S = 60
"""Departures this close to a crossing's span apart are not counted together (the verifier
allows one second of slack; a wider one keeps the bound an upper bound)."""


def convoy_only_sites(inp: BoundInputs, run: ConvoyLimits) -> set[int]:
    """Assembly points (indices into ``assembly_ids``) whose people can reach no reception
    centre, by any chain of drives between sites, without a drive that joins ``run``."""
    drive = np.asarray(inp.site_drive, dtype=float)
    ok = np.isfinite(drive)
    for a, b in run.arcs:
        ok[a, b] = False
    np.fill_diagonal(ok, False)
    reaches = np.zeros(len(drive), dtype=bool)
    reaches[list(inp.reception_sites or [])] = True
    while True:
        more = reaches | ok[:, reaches].any(axis=1)
        if (more == reaches).all():
            break
        reaches = more
    return {a for a, s in enumerate(inp.assembly_sites or []) if not reaches[s]}


def departure_returns(inp: BoundInputs, run: ConvoyLimits) -> tuple[list[bool], list[float]]:
    """Per departure: whether its convoy can arrive somewhere inside its window, and the
    earliest a member can be back at the marshalling site (after unloading at a reception
    centre, every drive inside a window)."""
    drive = np.asarray(inp.site_drive, dtype=float)
    receptions = set(inp.reception_sites or [])
    cache: dict[tuple[int, float], float] = {}
    useful, back = [], []
    for t, end in zip(run.departs, run.window_end, strict=True):
        best, fits = np.inf, False
        for b, d in sorted(run.dest_s.items()):
            if t + d > end:
                continue
            fits = True
            t0 = float(t + d + (inp.unload_s if b in receptions else 0.0))
            if (b, t0) not in cache:
                cache[(b, t0)] = float(_earliest_arrivals(inp.timeline, drive, b, t0)[run.site])
            best = min(best, cache[(b, t0)])
        useful.append(fits)
        back.append(best)
    return useful, back


def _convoy_classes(
    inp: BoundInputs, run: ConvoyLimits, groups: set[str], useful: list[bool], back: list[float]
) -> list[tuple[int, int, list[bool], int, int, float, tuple[str, ...]]]:
    """Vehicle classes that may carry ``groups``: ``(seats, count, departures each vehicle
    can reach, most departures one vehicle can join, start site, earliest, groups)``."""
    drive = np.asarray(inp.site_drive, dtype=float)
    by_key: dict[tuple[int, int, float, tuple[str, ...]], int] = {}
    for v, seats in enumerate(inp.vehicle_seats):
        if seats > 0 and groups & set(inp.vehicle_groups[v]):
            site = int((inp.vehicle_sites or [])[v])
            key = (seats, site, float(inp.vehicle_earliest[v]), tuple(inp.vehicle_groups[v]))
            by_key[key] = by_key.get(key, 0) + 1
    order = sorted(range(len(run.departs)), key=lambda k: run.departs[k])
    out = []
    for (seats, site, t0, _g), count in sorted(by_key.items()):
        there = float(_earliest_arrivals(inp.timeline, drive, site, t0)[run.site])
        can = [u and there <= t for u, t in zip(useful, run.departs, strict=True)]
        chain = [0] * len(run.departs)
        for i, k in enumerate(order):
            if can[k]:
                before = [chain[j] for j in order[:i] if back[j] <= run.departs[k]]
                chain[k] = 1 + max(before, default=0)
        out.append((seats, count, can, max(chain, default=0), site, t0, _g))
    return out


def _pickup_reach(
    inp: BoundInputs, run: ConvoyLimits, classes: list, sites: set[int]
) -> tuple[list[list[set[int]]], list[list[set[int]]]]:
    """Per departure and class: the assembly points (of ``sites``) a vehicle can stop at and
    still be at the marshalling site by the departure, on its first departure of the convoy
    (from its start) and on a later one (from where an earlier departure took it)."""
    drive = np.asarray(inp.site_drive, dtype=float)
    asites = inp.assembly_sites or []
    receptions = set(inp.reception_sites or [])
    cache: dict[tuple[int, float], np.ndarray] = {}

    def arrivals(src: int, t: float) -> np.ndarray:
        if (src, t) not in cache:
            cache[(src, t)] = _earliest_arrivals(inp.timeline, drive, src, t)
        return cache[(src, t)]

    def via(arrive: np.ndarray, k: int) -> set[int]:  # stop at a, then on to the convoy
        out = set()
        for a in sorted(sites):
            t = float(arrive[asites[a]])
            if np.isfinite(t) and arrivals(asites[a], t + inp.stop_s)[run.site] <= run.departs[k]:
                out.add(a)
        return out

    after = []  # per departure: earliest arrival at every site after it
    for t, end in zip(run.departs, run.window_end, strict=True):
        best = np.full(len(drive), np.inf)
        for b, d in sorted(run.dest_s.items()):
            if t + d <= end:
                t0 = float(t + d + (inp.unload_s if b in receptions else 0.0))
                best = np.minimum(best, arrivals(b, t0))
        after.append(best)
    first, later = [], []
    for k, t in enumerate(run.departs):
        before = [after[j] for j in range(len(run.departs)) if run.departs[j] < t]
        back = np.min(before, axis=0) if before else np.full(len(drive), np.inf)
        first.append([via(arrivals(cl[4], cl[5]), k) for cl in classes])
        later.append([via(back, k) for _cl in classes])
    return first, later


def convoy_seats(
    inp: BoundInputs, run: ConvoyLimits, groups: set[str], sites: set[int] | None = None
) -> int:
    """Most people of ``groups`` the departures of one convoy can carry (a small MILP).

    Per departure at most ``max_vehicles`` vehicles, the lead counted (each departure used
    takes one of the fleet's lead vehicles); a vehicle joins a departure only when it can
    be at the marshalling site by then, and a later one only once it can be back; per
    rate-limited crossing every convoy passes, at most its limit of vehicles (leads counted)
    in departures less than its span apart; seats as the vehicles that join.  With
    ``sites`` (assembly points): people of those sites only, each up to the people of the
    groups its vehicles may carry waiting there, and a vehicle carries a site's people in a
    departure only when it can stop there and be at the marshalling site in time, coming
    from its start (its first departure, one per vehicle) or from an earlier departure.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    useful, back = departure_returns(inp, run)
    classes = _convoy_classes(inp, run, groups, useful, back)
    K, C = len(run.departs), len(classes)
    if not K or not C:
        return 0
    lead = 1 if run.lead_vehicles is not None else 0
    fleet = sum(cl[1] for cl in classes)
    per_dep = fleet if run.max_vehicles is None else max(0, run.max_vehicles - lead)

    def n(k: int, c: int) -> int:
        return k * C + c

    u0 = K * C  # u[k]: departure k used
    f0 = u0 + K  # f[k, c]: vehicles of class c on their first departure in departure k
    ys: list[tuple[int, int, int]] = []  # (k, c, a): people of site a in class c in k
    if sites is not None:
        first, later = _pickup_reach(inp, run, classes, sites)
        ys = [
            (k, c, a) for k in range(K) for c in range(C) for a in sorted(first[k][c] | later[k][c])
        ]
    y0 = f0 + (K * C if sites is not None else 0)
    nvar = y0 + len(ys)
    rows: list[dict[int, float]] = []
    ub: list[float] = []

    def add(coef: dict[int, float], bound: float) -> None:
        rows.append(coef)
        ub.append(bound)

    for k in range(K):
        add({**{n(k, c): 1.0 for c in range(C)}, u0 + k: -float(per_dep)}, 0.0)
    for c, (_seats, count, _can, chain, *_rest) in enumerate(classes):
        add({n(k, c): 1.0 for k in range(K)}, float(count * chain))
        for k in range(K):  # departures whose members are not back by departure k
            busy = [j for j in range(K) if run.departs[j] <= run.departs[k] < back[j]]
            add({n(j, c): 1.0 for j in busy}, float(count))
    if run.lead_vehicles is not None:
        add({u0 + k: 1.0 for k in range(K)}, float(run.lead_vehicles))
    for span, limit in run.crossings:
        for k in range(K):
            near = [
                j for j in range(K) if 0 <= run.departs[j] - run.departs[k] < span - RATE_SLACK_S
            ]
            coef = {n(j, c): 1.0 for j in near for c in range(C)}
            add({**coef, **{u0 + j: float(lead) for j in near}}, float(limit))
    hi: list[float] = [cl[1] if cl[2][k] else 0 for k in range(K) for cl in classes]
    hi += [1] * K
    if sites is not None:
        _people_rows(inp, classes, groups, ys, (K, C, f0, y0), (first, later), add)
        hi += [cl[1] for _k in range(K) for cl in classes] + [np.inf] * len(ys)
        cost = np.concatenate([np.zeros(y0), -np.ones(len(ys))])
    else:
        cost = np.array([-float(classes[c][0]) for _k in range(K) for c in range(C)] + [0.0] * K)
    m = np.zeros((len(rows), nvar))
    for i, coef in enumerate(rows):
        for j, x in coef.items():
            m[i, j] += x
    res = milp(
        cost,
        constraints=LinearConstraint(m, -np.inf, np.array(ub)),
        integrality=np.array([1] * y0 + [0] * len(ys)),
        bounds=Bounds(np.zeros(nvar), np.array(hi, dtype=float)),
    )
    if res.status != 0 or res.x is None:
        return sum(cl[0] * cl[1] * cl[3] for cl in classes)  # relaxed, still valid
    return int(math.floor(-res.fun + 1e-6))


def _people_rows(
    inp: BoundInputs,
    classes: list,
    groups: set[str],
    ys: list[tuple[int, int, int]],
    dims: tuple[int, int, int, int],
    reach: tuple[list[list[set[int]]], list[list[set[int]]]],
    add: Callable[[dict[int, float], float], None],
) -> None:
    """Rows of :func:`convoy_seats` for the people of each site: seats of the vehicles that
    join, of first-departure vehicles for sites only they reach, of the others for sites
    only they reach, and the people waiting."""
    K, C, f0, y0 = dims
    first, later = reach
    by_kc: dict[tuple[int, int], list[int]] = {}
    by_ca: dict[tuple[int, int], list[int]] = {}
    for i, (k, c, a) in enumerate(ys):
        by_kc.setdefault((k, c), []).append(i)
        by_ca.setdefault((c, a), []).append(i)
    for k in range(K):
        for c in range(C):
            seats, f = float(classes[c][0]), f0 + k * C + c
            add({f: 1.0, k * C + c: -1.0}, 0.0)  # f <= n
            idx = by_kc.get((k, c), [])
            add({**{y0 + i: 1.0 for i in idx}, k * C + c: -seats}, 0.0)
            only1 = [i for i in idx if ys[i][2] not in later[k][c]]
            add({**{y0 + i: 1.0 for i in only1}, f: -seats}, 0.0)
            only2 = [i for i in idx if ys[i][2] not in first[k][c]]
            add({**{y0 + i: 1.0 for i in only2}, k * C + c: -seats, f: seats}, 0.0)
    for c, cl in enumerate(classes):
        add({f0 + k * C + c: 1.0 for k in range(K)}, float(cl[1]))  # one first departure
    by_a: dict[int, list[int]] = {}
    for (c, a), idx in by_ca.items():
        w = inp.waiting[inp.assembly_ids[a]]
        add(
            {y0 + i: 1.0 for i in idx}, float(sum(w.get(g, 0) for g in groups & set(classes[c][6])))
        )
        by_a.setdefault(a, []).extend(idx)
    for a, idx in by_a.items():
        w = inp.waiting[inp.assembly_ids[a]]
        add({y0 + i: 1.0 for i in idx}, float(sum(w.get(g, 0) for g in groups)))


def convoy_caps(inp: BoundInputs, group: str | None = None) -> list[tuple[set[int], int]]:
    """Per convoy: the assembly points whose people can leave only in it, and how many of
    them (of ``group``, or of every group) its departures can carry."""
    if not inp.convoys or inp.site_drive is None or inp.assembly_sites is None:
        return []
    out = []
    for run in inp.convoys:
        only = convoy_only_sites(inp, run)
        if not only:
            continue
        waiting = {
            g
            for a in only
            for g, n in inp.waiting[inp.assembly_ids[a]].items()
            if n > 0 and (group is None or g == group)
        }
        if waiting:
            out.append((only, convoy_seats(inp, run, waiting, only)))
    return out
