"""Timing the routes the search found: leg departures, crossing rates and exact re-timing.

The search plans in whole minutes under rules that are exact in the first window (see
:mod:`planner.evacuation_model`).  Routes through a rate-limited crossing point are re-timed
by CP-SAT (:mod:`planner.retime`) under the verifier's own rules.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np

from planner.convoys import ConvoyInput, ConvoyLeg, ConvoyOutcome, LeadVehicle
from planner.evacuation_model import EvacuationModel, SiteRec, kind_dwell_site
from planner.retime import RetimeInput, retime
from planner.timeline import Timeline

log = logging.getLogger(__name__)

RETIME_DET_TIME = 10.0
"""CP-SAT deterministic time budget for re-timing routes."""

CONVOY_DET_TIME = 30.0
"""The budget when routes join convoys: the re-timing then chooses every trip's departure."""


def leg_departure(
    tl: Timeline, ready: float, latest: float, drive: float, *, first: bool = False
) -> int:
    """When a drive leaves: at ``latest`` (arriving just in time) where the drive fits a window.

    Parameters
    ----------
    tl
        The windows.
    ready
        When the vehicle is free to leave.
    latest
        The latest departure that still arrives in time.
    drive
        The drive's duration.
    first
        The vehicle's first leg: leave at ``ready`` where the drive fits (the search's start
        time is its departure).

    Returns
    -------
    int
        A departure in ``[ready, latest]`` whose drive lies inside one window, or ``latest``
        when there is none (the search's rules rule that out).
    """

    def fits(t: float) -> bool:
        return ready <= t <= latest and any(a <= t and t + drive <= b for a, b in tl.windows)

    for t in [ready, latest] if first else [latest]:
        if fits(t):
            return int(t)
    early = tl.earliest_fit(ready, drive)
    return int(early) if early is not None and early <= latest else int(latest)


def crossing_legs(
    routes: list[list[int]],
    vstart: list[int],
    node_site: list[int],
    leg_details: Callable[[int, int], dict],
    vph: dict[str, float],
) -> dict[str, list[tuple[int, int]]]:
    """(vehicle, position) of every leg that passes a rate-limited crossing, per crossing."""
    out: dict[str, list[tuple[int, int]]] = {}
    for v, route in enumerate(routes):
        cur = vstart[v]
        for pos, node in enumerate(route):
            site = node_site[node]
            if site != cur:
                for c in dict.fromkeys(leg_details(cur, site)["crossings"]):
                    if c in vph:
                        out.setdefault(c, []).append((v, pos))
                cur = site
    return out


def enforce_crossing_rates(
    routes: list[list[int]],
    times: list[list[int]],
    vstart: list[int],
    starts: list[int],
    rank: list[float],
    node_site: list[int],
    chunk_node0: int,
    deliv_node0: int,
    demand: np.ndarray,
    drive: np.ndarray,
    sites: list[SiteRec],
    stop_s: float,
    unload_s: float,
    leg_details: Callable[[int, int], dict],
    vph: dict[str, float],
    forbidden: dict[int, list[tuple[int, int]]],
    horizon: int,
    tl: Timeline,
) -> tuple[list[list[int]], list[list[int]], list[int], set[int]]:
    """Keep at most ``vehicles_per_hour`` departures through a crossing point in any hour.

    The routing model does not see the crossing rate; legs are checked in time order.  A
    vehicle whose leg would exceed it waits its turn: the rest of its schedule moves later
    when every moved stop still falls inside the windows; otherwise it ends its day after its
    last completed delivery before that leg (cutting a route's tail keeps the rest valid).
    Vehicles that carry higher-priority groups go first when they reach the crossing at the
    same time.  Returns the routes, their times, the start times and the chunks that lost
    their ride.
    """
    routes = [list(r) for r in routes]
    times = [list(t) for t in times]
    lost: set[int] = set()

    def allowed(node: int, t: int) -> bool:
        return t <= horizon and not any(a <= t <= b for a, b in forbidden.get(node, ()))

    for _ in range(100_000):
        events = []  # (depart, vehicle, position in route where the leg arrives)
        for v, (route, rt) in enumerate(zip(routes, times, strict=True)):
            cur = vstart[v]
            for pos, (node, tm) in enumerate(zip(route, rt, strict=True)):
                site = node_site[node]
                if site != cur:
                    dwell = kind_dwell_site(sites, cur, site, stop_s, unload_s)
                    first_leg = pos == 0
                    latest = tm - dwell - float(drive[cur, site])
                    dep = (
                        float(
                            leg_departure(
                                tl, starts[v], latest, float(drive[cur, site]), first=True
                            )
                        )
                        if first_leg
                        else latest
                    )
                    for c in leg_details(cur, site)["crossings"]:
                        if c in vph:
                            events.append((dep, rank[v], v, pos, c))
                    cur = site
        events.sort()
        cut = _first_over_rate(events, vph)
        if cut is None:
            return routes, times, starts, lost
        v, pos, delta = cut
        moved = [t + delta for t in times[v][pos:]]
        if all(allowed(n, t) for n, t in zip(routes[v][pos:], moved, strict=True)):
            times[v][pos:] = moved
            if pos == 0:
                starts[v] += delta
            continue
        keep = _last_empty(routes[v], pos, demand)
        for node in routes[v][keep:]:
            if chunk_node0 <= node < deliv_node0:
                lost.add(node - chunk_node0)
        routes[v] = routes[v][:keep]
        times[v] = times[v][:keep]
    return routes, times, starts, lost


def _first_over_rate(
    events: list[tuple[float, float, int, int, str]], vph: dict[str, float]
) -> tuple[int, int, int] | None:
    """The first leg, in time order, over its crossing's rate: ``(vehicle, position, delay)``
    with the delay that makes it fit, or None."""
    accepted: dict[str, list[float]] = {}
    for (
        dep,
        _rank,
        v,
        pos,
        c,
    ) in events:  # at the same time, vehicles for higher priorities go first
        # at most floor(vph) departures in any hour; below one an hour, one per 1/vph hours
        span = 3600.0 * max(1.0, 1.0 / vph[c])
        limit = max(1, int(math.floor(vph[c])))
        recent = [t for t in accepted.get(c, []) if dep - t < span]
        if len(recent) + 1 > limit:
            return (v, pos, int(math.ceil(sorted(recent)[len(recent) - limit] + span - dep)))
        accepted.setdefault(c, []).append(dep)
    return None


def _last_empty(route: list[int], pos: int, demand: np.ndarray) -> int:
    """How many stops before ``pos`` the route keeps: up to its last one that empties it."""
    load = 0
    keep = 0
    for i in range(pos):
        load += int(demand[route[i]])
        if load == 0:
            keep = i + 1
    return keep


def _later_window_vehicles(model: EvacuationModel, times: list[list[int]]) -> list[int]:
    """Vehicles with a stop after the first window closes."""
    if len(model.tl.windows) < 2:
        return []
    first_end = model.tl.windows[0][1]
    return [v for v, ts in enumerate(times) if ts and max(ts) > first_end]


def convoy_input(
    model: EvacuationModel,
    routes: list[list[int]],
    leg_details: Callable[[int, int], dict],
    vph: dict[str, float],
) -> ConvoyInput | None:
    """The routes' drives that join a convoy, and the lead vehicles (``None``: no convoy drive)."""
    conv = model.convoys
    if conv is None:
        return None
    legs: dict[tuple[int, int], ConvoyLeg] = {}
    for v, route in enumerate(routes):
        cur = model.vstart[v]
        for pos, node in enumerate(route):
            site = model.node_site[node]
            if site != cur and (cur, site) in conv.arcs:
                arc = conv.arcs[(cur, site)]
                f = conv.runs[arc.run].site
                legs[(v, pos)] = ConvoyLeg(
                    run=arc.run,
                    to_marshal_s=arc.to_marshal_s,
                    convoy_s=arc.convoy_s,
                    dest=site,
                    to_marshal_crossings=[c for c in leg_details(cur, f)["crossings"] if c in vph]
                    if cur != f
                    else [],
                    convoy_crossings=[c for c in leg_details(f, site)["crossings"] if c in vph],
                )
            cur = site if site >= 0 else cur
    if not legs:
        return None
    dest_s = {(arc.run, b): arc.convoy_s for (_a, b), arc in conv.arcs.items()}
    dest_crossings = {
        (r, b): [c for c in leg_details(conv.runs[r].site, b)["crossings"] if c in vph]
        for r, b in dest_s
    }
    leads = []
    for v, (_vid, t) in enumerate(model.vehicles):
        runs = [
            r
            for r, run in enumerate(conv.runs)
            if run.lead_type == t and np.isfinite(model.drive[model.vstart[v], run.site])
        ]
        if not runs:
            continue
        approach = {r: int(model.drive[model.vstart[v], conv.runs[r].site]) for r in runs}
        leads.append(
            LeadVehicle(
                vehicle=v,
                runs=runs,
                approach_s=approach,
                approach_crossings={
                    r: [
                        c
                        for c in leg_details(model.vstart[v], conv.runs[r].site)["crossings"]
                        if c in vph
                    ]
                    for r in runs
                    if approach[r] > 0
                },
                earliest=int(model.earliest[v]),
            )
        )
    return ConvoyInput(
        runs=conv.runs,
        legs=legs,
        dest_s=dest_s,
        dest_crossings=dest_crossings,
        leads=leads,
        windows=list(model.tl.windows),
    )


def first_convoy_trip(
    kept: int, route: list[int], demand: np.ndarray, v: int, conv: ConvoyInput | None
) -> int:
    """How much of a hinted route stays hinted: its trips before the first that joins a convoy
    (the search's times do not keep the agreed departures, the re-timing finds them)."""
    if conv is None:
        return kept
    load, start = 0, 0
    for pos, node in enumerate(route[:kept]):
        if load == 0:
            start = pos
        if (v, pos) in conv.legs:
            return start
        load += int(demand[node])
    return kept


def retime_routes(
    model: EvacuationModel,
    routes: list[list[int]],
    times: list[list[int]],
    starts: list[int],
    leg_details: Callable[[int, int], dict],
    *,
    seed: int,
    time_limit_s: float,
) -> tuple[
    list[list[int]],
    list[list[int]],
    list[int],
    list[list[int | None]] | None,
    set[int],
    list[str],
    ConvoyOutcome | None,
]:
    """Re-time routes by CP-SAT where the search's timing is not the exact one.

    With crossing rates, every route (the search does not see them; the greedy queueing at
    the crossings is the hint); with the arrival rule, the routes that run into a later
    window (the search's times there are feasible, not the earliest); otherwise the search's
    times stand, each leg leaving just in time
    where its drive fits a window, else as early as it fits (see :func:`leg_departure`).  Returns the routes, times, starts, explicit leg departures (``None`` when
    nothing was re-timed), the chunks that lost their ride, warnings and the convoys'
    departures (see :mod:`planner.convoys`).
    """
    problem, ev, tl = model.problem, model.ev, model.tl
    vph = {c.id: c.vehicles_per_hour for c in model.net.layers.crossings if c.vehicles_per_hour}
    later = _later_window_vehicles(model, times) if model.problem.arrival_forbidden else []
    convoy_in = convoy_input(model, routes, leg_details, vph)
    subset = list(range(len(routes))) if vph or convoy_in is not None else later
    if not subset or not any(routes):
        return routes, times, starts, None, set(), [], None
    q_routes, q_times, q_starts = routes, times, list(starts)
    if vph:
        rank = [
            -max((ev.priorities[g] for g in ev.fleet[t].groups), default=0.0)
            for _v, t in model.vehicles
        ]
        q_routes, q_times, q_starts, _lost = enforce_crossing_rates(
            routes,
            times,
            model.vstart,
            list(starts),
            rank,
            model.node_site,
            model.chunk_node0,
            model.deliv_node0,
            problem.demand,
            model.drive,
            model.sites,
            model.stop_s,
            model.unload_s,
            leg_details,
            vph,
            model.conservative,
            tl.horizon,
            tl,
        )
    sub_routes = [routes[v] for v in subset]
    big = int(tl.horizon * 4 + 10**6)
    site_arr = np.array([s if s >= 0 else 0 for s in model.node_site])
    d_nodes = model.drive[np.ix_(site_arr, site_arr)]
    retimed = retime(
        RetimeInput(
            routes=sub_routes,
            starts=[q_starts[v] for v in subset],
            times=[list(q_times[v]) + list(times[v][len(q_times[v]) :]) for v in subset],
            kept=[
                first_convoy_trip(len(q_routes[v]), routes[v], problem.demand, v, convoy_in)
                for v in subset
            ],
            start_node=[problem.vehicle_start[v] for v in subset],
            earliest=[(problem.vehicle_earliest or [0] * len(routes))[v] for v in subset],
            site=model.node_site,
            drive=np.where(np.isfinite(d_nodes), d_nodes, big).astype(np.int64),
            dwell=model.dwell.astype(np.int64),
            service=problem.service,
            windows=list(tl.windows),
            max_wait=problem.max_wait,
            value=[[max(0, int(problem.penalty[n])) for n in r] for r in sub_routes],
            load=[[int(problem.demand[n]) for n in r] for r in sub_routes],
            crossing_legs=crossing_legs(
                sub_routes, [model.vstart[v] for v in subset], model.node_site, leg_details, vph
            ),
            span_s={c: int(math.ceil(3600.0 * max(1.0, 1.0 / r))) for c, r in vph.items()},
            limit={c: max(1, int(math.floor(r))) for c, r in vph.items()},
            convoy=convoy_in,
        ),
        seed=seed,
        time_limit_s=max(5.0, 0.2 * time_limit_s),
        det_time=RETIME_DET_TIME if convoy_in is None else CONVOY_DET_TIME,
    )
    routes, times, starts = [list(r) for r in routes], [list(t) for t in times], list(starts)
    departs: list[list[int | None]] = [[None] * len(r) for r in routes]
    for i, v in enumerate(subset):
        routes[v], times[v], starts[v], departs[v] = (
            retimed.routes[i],
            retimed.times[i],
            retimed.starts[i],
            retimed.departs[i],
        )
    kept_pickups = {n for r in retimed.routes for n in r}
    lost = {
        n - model.chunk_node0
        for r in sub_routes
        for n in r
        if model.chunk_node0 <= n < model.deliv_node0 and n not in kept_pickups
    }
    log.info("routes re-timed (%s), %d chunks lost their ride", retimed.status, len(lost))
    warnings = []
    if "time cap" in retimed.status:
        warnings.append(
            "the re-timing of the routes stopped on its time cap, not its work budget: "
            "the same seed may give another plan on a busier machine"
        )
    return routes, times, starts, departs, lost, warnings, retimed.convoy
