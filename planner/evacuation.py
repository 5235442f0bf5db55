"""Evacuation planning: scenario → network → OR-Tools routing → :class:`~planner.plan.Plan`.

People waiting at an assembly point are split into *chunks* (a group, a few tens of people);
each chunk is an optional routing node whose drop penalty is its people times the group's
priority, so the wounded and children are served first when not everyone can be.  Reception
centres appear as *reload* nodes where a vehicle empties, so vehicles make as many round
trips as the ceasefire windows allow; the closed hours between windows are break intervals
on the time dimension, so no vehicle is on the road outside a window.  Before routing, a
small transport LP shares the people out among reception centres within their capacity
(highest priority first, nearest centre preferred); every trip then ends at the centre its
passengers were given.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from planner.bound import BoundInputs, compute_bound
from planner.network import PreparedNetwork, prepare_network
from planner.plan import (
    REASONS,
    Leg,
    Plan,
    Reception,
    Site,
    SolverInfo,
    Stop,
    Totals,
    Unserved,
    Vehicle,
)
from planner.retime import RetimeInput, retime
from planner.routing import END, RoutingProblem, SolveParams, coarsen_time, solve_routing
from planner.scenario import GROUPS, Scenario, location_lonlat
from planner.settings import get_settings
from planner.timeline import Timeline

log = logging.getLogger(__name__)

TIME_UNIT_S = 60
"""The routing search counts time in minutes (drives rounded up); plans are in seconds."""

RETIME_DET_TIME = 10.0
"""CP-SAT deterministic time budget for re-timing routes under crossing rates."""

CHANGE_COST = 3_600
"""Cost (seconds of driving) of giving a chunk to another vehicle than before, when re-planning;
far below the penalty of leaving one person behind, so serving people always comes first."""

PENALTY_PER_PERSON = 200_000
"""Drop penalty per person of priority weight 1 (in cost seconds)."""
MAX_CHUNK_NODES = 1500


@dataclass
class _SiteRec:
    id: str
    kind: str
    name: str | None
    lonlat: tuple[float, float]
    node: int
    snap_m: float


@dataclass
class _Chunk:
    site: int  # index into sites
    group: str
    people: int
    reception: int  # index into sites


def default_workers() -> int:
    """Parallel searches by default: one per core, at most two."""
    return max(1, min(2, os.cpu_count() or 1))


def _vehicle_list(scenario: Scenario) -> list[tuple[str, int]]:
    out = []
    for t, vt in enumerate(scenario.evacuation.fleet):
        for k in range(vt.count):
            out.append((f"{vt.type}-{k + 1}", t))
    return out


def _sites(scenario: Scenario) -> list[tuple[str, str, str | None, tuple[float, float]]]:
    ev = scenario.evacuation
    sites = [(a.id, "assembly", a.name, location_lonlat(a.location)) for a in ev.assembly_points]
    sites += [(r.id, "reception", r.name, location_lonlat(r.location)) for r in ev.reception_centres]
    for vt in ev.fleet:
        if not isinstance(vt.start, str):
            sites.append((f"start-{vt.type}", "start", f"start of {vt.type}", location_lonlat(vt.start)))
    return sites


def _assign_receptions(
    waiting: np.ndarray, prio: np.ndarray, time_ar: np.ndarray, capacity: np.ndarray, servable: np.ndarray
) -> np.ndarray:
    """Share people out among reception centres (transport LP, integral by total unimodularity).

    ``waiting`` is (A, G), ``time_ar`` (A, R). Returns x of shape (A, G, R).
    """
    A, G = waiting.shape
    R = capacity.shape[0]
    finite = np.isfinite(time_ar)
    tmax = float(np.max(time_ar[finite])) if finite.any() else 1.0
    var = [(a, g, r) for a in range(A) for g in range(G) for r in range(R) if finite[a, r] and servable[a, g] and waiting[a, g] > 0]
    x = np.zeros((A, G, R), dtype=np.int64)
    if not var:
        return x
    c = np.array([-(prio[g] * (1.0 + 1e-3 * (1.0 - time_ar[a, r] / (tmax + 1.0)))) for a, g, r in var])
    rows_ag: dict[tuple[int, int], int] = {}
    a_ub: list[dict[int, float]] = []
    b_ub: list[float] = []
    for k, (a, g, _r) in enumerate(var):
        if (a, g) not in rows_ag:
            rows_ag[(a, g)] = len(a_ub)
            a_ub.append({})
            b_ub.append(float(waiting[a, g]))
        a_ub[rows_ag[(a, g)]][k] = 1.0
    for r in range(R):
        row = {k: 1.0 for k, (_a, _g, rr) in enumerate(var) if rr == r}
        if row:
            a_ub.append(row)
            b_ub.append(float(capacity[r]))
    from scipy.sparse import lil_matrix

    m = lil_matrix((len(a_ub), len(var)))
    for i, row in enumerate(a_ub):
        for k, val in row.items():
            m[i, k] = val
    res = linprog(c, A_ub=m.tocsr(), b_ub=b_ub, bounds=(0, None), method="highs-ds")
    if res.status != 0:
        return x
    for k, (a, g, r) in enumerate(var):
        x[a, g, r] = int(math.floor(res.x[k] + 1e-6))
    return x


def plan_evacuation(
    scenario: Scenario,
    *,
    time_limit_s: float | None = None,
    seed: int | None = None,
    workers: int | None = None,
    budget: int | None = None,
    progress: Callable[[str], None] | None = None,
    network: PreparedNetwork | None = None,
    previous: dict[str, list[tuple[str, str, int]]] | None = None,
) -> Plan:
    """Plan an evacuation.

    Parameters
    ----------
    scenario
        A validated scenario.
    time_limit_s
        Wall-clock cap of the search (default from settings).
    seed
        Seed of the search; the same scenario, seed and budget give the same plan.
    workers
        Parallel searches (default: one per core, at most two); the best is kept.
    budget
        Deterministic work budget (solutions accepted by the local search).
    progress
        Called with a line of text whenever the search improves.
    network
        A prepared network to reuse.
    previous
        What each vehicle (by the id this plan gives it) was planned to pick up before, as
        ``(assembly id, group, people)``: when re-planning, the search charges
        :data:`CHANGE_COST` for every chunk a vehicle takes over from another, so the new
        plan changes the old one only where that serves more people or saves real driving.

    Returns
    -------
    Plan
    """
    settings = get_settings()
    time_limit_s = settings.time_limit_s if time_limit_s is None else time_limit_s
    seed = settings.seed if seed is None else seed
    workers = default_workers() if workers is None else workers
    budget = settings.solution_budget if budget is None else budget
    if scenario.evacuation is None:
        return _empty_plan(scenario, seed, time_limit_s, budget, workers)
    net = network if network is not None else prepare_network(scenario)
    roads = net.roads
    ev = scenario.evacuation
    tl = Timeline.from_scenario(scenario)
    warnings: list[str] = list(net.layers.notes)  # what the layer files held and we dropped

    # --- sites and snapping
    raw_sites = _sites(scenario)
    snaps = roads.snap([s[3] for s in raw_sites])
    sites = [
        _SiteRec(sid, kind, name, ll, sn.node, sn.distance_m)
        for (sid, kind, name, ll), sn in zip(raw_sites, snaps, strict=True)
    ]
    site_index = {s.id: i for i, s in enumerate(sites)}
    for s in sites:
        if s.snap_m > settings.snap_warn_m:
            warnings.append(f"site {s.id} is {s.snap_m:.0f} m from the nearest usable road")
    if net.layers.frontline is not None:
        for c in net.layers.crossings:
            if not net.report.crossing_edges.get(c.id):
                warnings.append(
                    f"crossing point {c.id}: no open road crosses the line of contact within "
                    f"{c.radius_m:.0f} m of it (or each such road is nearer another crossing "
                    "point), so no vehicle can use it"
                )
    closed_union = net.layers.closed.geometry.union_all() if len(net.layers.closed) else None
    in_closed: set[str] = set()
    if closed_union is not None:
        import shapely

        for s in sites:
            if closed_union.contains(shapely.Point(s.lonlat)):
                in_closed.add(s.id)
                warnings.append(f"site {s.id} lies inside a closed hazard area")

    nodes = [s.node for s in sites]
    time_s, cost_s = roads.matrices(nodes, nodes)
    for i, s in enumerate(sites):
        if s.id in in_closed:
            time_s[i, :] = np.inf
            time_s[:, i] = np.inf
            time_s[i, i] = 0
            cost_s[i, :] = np.inf
            cost_s[:, i] = np.inf
            cost_s[i, i] = 0
    drive = np.where(np.isfinite(time_s), np.ceil(time_s), np.inf)

    A_idx = [i for i, s in enumerate(sites) if s.kind == "assembly"]
    R_idx = [i for i, s in enumerate(sites) if s.kind == "reception"]
    vehicles = _vehicle_list(scenario)
    vstart = []
    for _vid, t in vehicles:
        st = ev.fleet[t].start
        vstart.append(site_index[st if isinstance(st, str) else f"start-{ev.fleet[t].type}"])
    earliest = []
    for _vid, t in vehicles:
        af = ev.fleet[t].available_from
        earliest.append(max(0, tl.seconds(af)) if af is not None else 0)

    stop_s = float(ev.stop_min * 60)
    unload_s = float(ev.unload_min * 60)
    waiting = {sites[a].id: next(p for p in ev.assembly_points if p.id == sites[a].id).people.as_dict() for a in A_idx}

    # --- upper bound (independent of the solver)
    bound = compute_bound(
        BoundInputs(
            timeline=tl,
            waiting=waiting,
            assembly_ids=[sites[a].id for a in A_idx],
            reception_ids=[sites[r].id for r in R_idx],
            reception_capacity=[next(r for r in ev.reception_centres if r.id == sites[i].id).capacity for i in R_idx],
            a_to_r=drive[np.ix_(A_idx, R_idx)],
            r_to_a=drive[np.ix_(R_idx, A_idx)],
            start_to_a=drive[np.ix_(vstart, A_idx)] if vstart else np.zeros((0, len(A_idx))),
            vehicle_seats=[ev.fleet[t].seats for _v, t in vehicles],
            vehicle_groups=[list(ev.fleet[t].groups) for _v, t in vehicles],
            vehicle_earliest=earliest,
            stop_s=stop_s,
            unload_s=unload_s,
            excluded_sites=in_closed,
            site_drive=drive,
            assembly_sites=A_idx,
            reception_sites=R_idx,
            vehicle_sites=vstart,
        )
    )

    # --- which (assembly, group) can be served at all, and by which vehicles
    prio = np.array([ev.priorities[g] for g in GROUPS], dtype=float)
    G = len(GROUPS)
    W = np.array([[waiting[sites[a].id][g] for g in GROUPS] for a in A_idx], dtype=np.int64)
    carriers = {g: [v for v, (_vid, t) in enumerate(vehicles) if g in ev.fleet[vehicles[v][1]].groups] for g in GROUPS}
    reason_of: dict[tuple[int, int], str] = {}
    servable = np.zeros((len(A_idx), G), dtype=bool)
    for ai, a in enumerate(A_idx):
        for gi, g in enumerate(GROUPS):
            if W[ai, gi] == 0:
                continue
            if sites[a].id in in_closed:
                reason_of[(ai, gi)] = "site_in_closed_area"
            elif not carriers[g]:
                reason_of[(ai, gi)] = "no_vehicle_for_group"
            elif not np.isfinite(drive[a, R_idx]).any() or not any(np.isfinite(drive[vstart[v], a]) for v in carriers[g]):
                reason_of[(ai, gi)] = "no_safe_road"
            elif not _one_trip_fits(tl, drive, a, R_idx, [vstart[v] for v in carriers[g]], [earliest[v] for v in carriers[g]], stop_s, unload_s):
                reason_of[(ai, gi)] = "window_too_short"
            else:
                servable[ai, gi] = True

    cap = np.array([next(r for r in ev.reception_centres if r.id == sites[i].id).capacity for i in R_idx], dtype=np.int64)
    x = _assign_receptions(W, prio, drive[np.ix_(A_idx, R_idx)], cap, servable)

    # --- chunks
    seats_of = {g: sorted({ev.fleet[vehicles[v][1]].seats for v in carriers[g]}) for g in GROUPS}
    min_seats = {g: min(seats_of[g], default=1) for g in GROUPS}
    total_people = int(x.sum())
    chunks: list[_Chunk] = []
    scale = 1
    while True:
        chunks = []
        for ai, a in enumerate(A_idx):
            for gi, g in enumerate(GROUPS):
                for ri, r in enumerate(R_idx):
                    n = int(x[ai, gi, ri])
                    size = _chunk_size(seats_of[g]) * scale
                    size = min(size, min_seats[g]) if scale == 1 else size
                    while n > 0:
                        c = min(size, n)
                        chunks.append(_Chunk(a, g, c, r))
                        n -= c
        if len(chunks) <= MAX_CHUNK_NODES or total_people == 0:
            break
        scale += 1

    # --- routing problem: vehicle starts, one free end, a pickup and a delivery per chunk
    n_vehicles = len(vehicles)
    start_sites = sorted(set(vstart))
    node_site: list[int] = list(start_sites)
    end_node = len(node_site)
    node_site.append(-1)
    chunk_node0 = len(node_site)
    node_site.extend(c.site for c in chunks)
    deliv_node0 = len(node_site)
    node_site.extend(c.reception for c in chunks)
    N = len(node_site)
    BIG = int(tl.horizon * 4 + 10**6)

    site_arr = np.array([s if s >= 0 else 0 for s in node_site])
    dT = drive[np.ix_(site_arr, site_arr)]
    dC = np.where(np.isfinite(cost_s), np.ceil(cost_s), np.inf)[np.ix_(site_arr, site_arr)]
    kind_dwell = np.array(
        [0.0 if s < 0 else (stop_s if sites[s].kind == "assembly" else unload_s if sites[s].kind == "reception" else 0.0) for s in node_site]
    )
    same = site_arr[:, None] == site_arr[None, :]
    dwell = np.where(~same, kind_dwell[None, :], 0.0)
    T = np.where(np.isfinite(dT), dT + dwell, BIG)
    C = np.where(np.isfinite(dC), dC + dwell, BIG)
    T[:, end_node] = 0
    T[end_node, :] = 0
    C[:, end_node] = 0
    C[end_node, :] = 0
    T = T.astype(np.int64)
    C = C.astype(np.int64)
    service = np.zeros(N, dtype=np.int64)
    demand = np.zeros(N, dtype=np.int64)
    penalty = np.zeros(N, dtype=np.int64)
    allowed: dict[int, list[int]] = {}
    gi_of = {g: i for i, g in enumerate(GROUPS)}
    pairs: list[tuple[int, int]] = []
    for k, c in enumerate(chunks):
        pu, de = chunk_node0 + k, deliv_node0 + k
        service[pu] = service[de] = int(round(ev.boarding_s_per_person * c.people))
        demand[pu], demand[de] = c.people, -c.people
        penalty[pu] = int(round(PENALTY_PER_PERSON * prio[gi_of[c.group]] * c.people))
        penalty[de] = -1  # tied to its pickup
        allowed[pu] = allowed[de] = carriers[c.group]
        pairs.append((pu, de))

    # Ceasefire windows: a node's service may start only where the drive into it, and its own
    # service, fit inside one window.  Each stop node gets a longest inbound drive: for a
    # pickup, the drive from the farthest reception centre (vehicles come back from there),
    # for a delivery, the drive from its chunk's assembly point, each widened by a margin so
    # that nearby stops can share a trip.  Longer arcs into the node (other than from a
    # vehicle start, whose first drive leaves when the vehicle does) are removed, so the
    # restriction holds for every arc the search can use; the longest drive from any site,
    # used before, kept every stop out of the first hours of each window on a regional map.
    pre = _inbound_limits(chunks, chunk_node0, deliv_node0, drive, sites, stop_s, unload_s)
    into = T[chunk_node0:, chunk_node0:]  # arcs between stop nodes (a view: edited in place)
    too_long = (into > pre[chunk_node0:][None, :]) & ~same[chunk_node0:, chunk_node0:]
    into[too_long] = BIG
    C[chunk_node0:, chunk_node0:][too_long] = BIG
    forbidden: dict[int, list[tuple[int, int]]] = {}
    for node in range(chunk_node0, N):
        forbidden[node] = _forbidden(tl, float(pre[node]), float(service[node]))
    # A vehicle's first drive goes to a pickup it can reach inside one window; it leaves its
    # start only when the longest such drive still fits.
    longest = max(b - a for a, b in tl.windows)
    next_allowed: dict[int, list[int]] = {}
    for s_node, site in enumerate(start_sites):
        first = [
            chunk_node0 + k
            for k, c in enumerate(chunks)
            if np.isfinite(drive[site, c.site]) and drive[site, c.site] + kind_dwell_site(sites, site, c.site, stop_s, unload_s) <= longest
        ]
        outs = [drive[site, chunks[n - chunk_node0].site] + kind_dwell_site(sites, site, chunks[n - chunk_node0].site, stop_s, unload_s) for n in first]
        next_allowed[s_node] = [*first, END]
        if first:
            forbidden[s_node] = _forbidden(tl, 0.0, max(outs))
    max_wait = {chunk_node0 + k: int(ev.max_wait_loaded_min * 60) for k in range(len(chunks))}
    preferred = _preferred_vehicles(previous, vehicles, chunks, sites, chunk_node0) if previous else {}
    problem = RoutingProblem(
        time=T,
        cost=C,
        service=service,
        demand=demand,
        windows=[(0, tl.horizon)] * N,
        penalty=penalty,
        vehicle_capacity=[ev.fleet[t].seats for _v, t in vehicles],
        vehicle_start=[start_sites.index(vstart[v]) for v in range(n_vehicles)],
        vehicle_end=[end_node] * n_vehicles,
        horizon=tl.horizon,
        allowed_vehicles=allowed,
        pairs=pairs,
        pairs_in_one_trip=True,
        next_allowed=next_allowed,
        vehicle_earliest=earliest,
        forbidden=forbidden,
        max_wait=max_wait,
        zero_wait_at_start=False,
        preferred_vehicle=preferred,
        change_cost=CHANGE_COST if preferred else 0,
    )
    # the search counts time in whole units (see coarsen_time); plans stay in seconds
    coarse = coarsen_time(problem, TIME_UNIT_S)
    coarse.initial_routes = _greedy_routes(coarse, chunks, chunk_node0, deliv_node0, prio, gi_of, coarse.max_wait)
    params = SolveParams(
        time_limit_s=time_limit_s, seed=seed, workers=workers, solution_limit=budget, progress=progress
    )
    if chunks and n_vehicles:
        result = solve_routing(coarse, params)
        routes, objective, stopped = result.routes, result.objective, result.stopped_by
        times = [[t * TIME_UNIT_S for t in ts] for ts in result.times]
        starts = [t * TIME_UNIT_S for t in result.start_times]
    else:
        routes, times, objective, stopped = [[] for _ in vehicles], [[] for _ in vehicles], 0, "nothing to plan"
        starts = [0] * len(vehicles)

    # --- plan extraction
    served = np.zeros((len(A_idx), G), dtype=np.int64)
    a_pos = {a: i for i, a in enumerate(A_idx)}
    received = dict.fromkeys(R_idx, 0)
    plan_vehicles: list[Vehicle] = []
    risk_total = 0.0
    dist_total = 0.0
    leg_cache: dict[tuple[int, int], dict] = {}

    def leg_details(sa: int, sb: int) -> dict:
        key = (sa, sb)
        if key not in leg_cache:
            leg_cache[key] = roads.path_details(roads.path(sites[sa].node, sites[sb].node))
        return leg_cache[key]

    legs_driven = []  # every (from, to) node pair the routes drive: their paths, found at once
    for v, route in enumerate(routes):
        cur = vstart[v]
        for node in route:
            if node_site[node] != cur:
                legs_driven.append((sites[cur].node, sites[node_site[node]].node))
                cur = node_site[node]
    roads.prefetch_paths(legs_driven)

    rate_limited: set[int] = set()
    departs: list[list[int | None]] | None = None  # explicit leg departures, when re-timed
    vph = {c.id: c.vehicles_per_hour for c in net.layers.crossings if c.vehicles_per_hour}
    if vph:
        rank = [-max(ev.priorities[g] for g in ev.fleet[t].groups) for _v, t in vehicles]
        q_routes, q_times, q_starts, _lost = _enforce_crossing_rates(
            routes, times, vstart, list(starts), rank, node_site, chunk_node0, deliv_node0, demand, drive, sites, stop_s, unload_s,
            leg_details, vph, problem.forbidden if chunks and n_vehicles else {}, tl.horizon,
        )
        retimed = retime(
            RetimeInput(
                routes=routes,
                starts=q_starts,
                times=[qt + list(t[len(qt):]) for qt, t in zip(q_times, times, strict=True)],
                kept=[len(r) for r in q_routes],
                start_node=list(problem.vehicle_start),
                earliest=list(problem.vehicle_earliest or [0] * n_vehicles),
                site=node_site,
                drive=np.where(np.isfinite(dT), dT, BIG).astype(np.int64),
                dwell=kind_dwell.astype(np.int64),
                service=problem.service,
                windows=list(tl.windows),
                max_wait=problem.max_wait,
                value=[[max(0, int(penalty[n])) for n in r] for r in routes],
                load=[[int(demand[n]) for n in r] for r in routes],
                crossing_legs=_crossing_legs(routes, vstart, node_site, leg_details, vph),
                span_s={c: int(math.ceil(3600.0 * max(1.0, 1.0 / r))) for c, r in vph.items()},
                limit={c: max(1, int(math.floor(r))) for c, r in vph.items()},
            ),
            seed=seed,
            time_limit_s=max(5.0, 0.2 * time_limit_s),
            det_time=RETIME_DET_TIME,
        )
        kept_pickups = {n for r in retimed.routes for n in r}
        rate_limited = {n - chunk_node0 for r in routes for n in r if chunk_node0 <= n < deliv_node0 and n not in kept_pickups}
        routes, times, starts, departs = retimed.routes, retimed.times, retimed.starts, retimed.departs
        log.info("crossing rates: schedule re-timed (%s), %d chunks lost their ride", retimed.status, len(rate_limited))
        if "time cap" in retimed.status:
            warnings.append(
                "the re-timing under crossing rates stopped on its time cap, not its work budget: "
                "the same seed may give another plan on a busier machine"
            )

    for v, (vid, t) in enumerate(vehicles):
        vt = ev.fleet[t]
        route, rtimes = routes[v], times[v]
        stops: list[Stop] = []
        legs: list[Leg] = []
        onboard = dict.fromkeys(GROUPS, 0)
        cur_site = vstart[v]
        cur_free = None  # time the vehicle is free to leave cur_site
        # group consecutive nodes at the same site into one stop
        groups_: list[tuple[int, list[int], list[int], int]] = []
        for pos, (node, tm) in enumerate(zip(route, rtimes, strict=True)):
            s = node_site[node]
            if groups_ and groups_[-1][0] == s:
                groups_[-1][1].append(node)
                groups_[-1][2].append(tm)
            else:
                groups_.append((s, [node], [tm], pos))
        for s, gnodes, gtimes, pos0 in groups_:
            first_t = gtimes[0]
            last_node, last_t = gnodes[-1], gtimes[-1]
            if s != cur_site:
                det = leg_details(cur_site, s)
                drive_s = int(drive[cur_site, s])
                dwell_s = int(kind_dwell_site(sites, cur_site, s, stop_s, unload_s))
                if departs is not None and departs[v][pos0] is not None:
                    depart = departs[v][pos0]  # re-timed: may leave early and wait on arrival
                elif not legs and not stops and cur_site == vstart[v]:
                    # the first drive leaves the start when the vehicle does (the model keeps
                    # it inside a window); the vehicle then waits at the site if need be
                    depart = starts[v]
                else:
                    depart = first_t - dwell_s - drive_s  # waits at the origin, arrives in time
                arrive = depart + drive_s
                if stops:  # the vehicle stays at its last stop until it actually leaves
                    stops[-1].depart = tl.iso(depart)
                legs.append(
                    Leg(
                        **{"from": sites[cur_site].id},
                        to=sites[s].id,
                        depart=tl.iso(depart),
                        arrive=tl.iso(arrive),
                        path=[(round(p[0], 6), round(p[1], 6)) for p in det["coords"]],
                        length_m=round(det["length_m"], 1),
                        risk_km=round(det["risk_m"] / 1000.0, 3),
                        crossings=det["crossings"],
                        load={g: n for g, n in onboard.items() if n},
                    )
                )
                risk_total += det["risk_m"] / 1000.0
                dist_total += det["length_m"] / 1000.0
                arrive_t = arrive
            else:
                arrive_t = first_t if cur_free is None else cur_free
            board = dict.fromkeys(GROUPS, 0)
            alight = dict.fromkeys(GROUPS, 0)
            for node in gnodes:
                if chunk_node0 <= node < deliv_node0:
                    c = chunks[node - chunk_node0]
                    board[c.group] += c.people
                    onboard[c.group] += c.people
                elif node >= deliv_node0:
                    c = chunks[node - deliv_node0]
                    alight[c.group] += c.people
                    onboard[c.group] -= c.people
                    received[s] += c.people
                    served[a_pos[c.site], gi_of[c.group]] += c.people
            depart_t = last_t + int(service[last_node])
            stops.append(
                Stop(
                    site=sites[s].id,
                    arrive=tl.iso(arrive_t),
                    depart=tl.iso(depart_t),
                    board={g: n for g, n in board.items() if n},
                    alight={g: n for g, n in alight.items() if n},
                )
            )
            cur_site, cur_free = s, depart_t
        plan_vehicles.append(
            Vehicle(
                id=vid,
                type=vt.type,
                seats=vt.seats,
                groups=list(vt.groups),
                start=sites[vstart[v]].id,
                stops=stops,
                legs=legs,
            )
        )

    # --- totals and unserved
    requested = {g: int(W[:, gi].sum()) for gi, g in enumerate(GROUPS)}
    requested["total"] = sum(requested[g] for g in GROUPS)
    evacuated = {g: int(served[:, gi].sum()) for gi, g in enumerate(GROUPS)}
    evacuated["total"] = sum(evacuated[g] for g in GROUPS)
    unserved: list[Unserved] = []
    for ai, a in enumerate(A_idx):
        for gi, g in enumerate(GROUPS):
            left = int(W[ai, gi] - served[ai, gi])
            if left <= 0:
                continue
            code = reason_of.get((ai, gi))
            if code is None and any(chunks[k].site == a and chunks[k].group == g for k in rate_limited):
                code = "crossing_capacity"
            if code is None:
                assigned = int(x[ai, gi].sum())
                code = "reception_full" if served[ai, gi] >= assigned and assigned < W[ai, gi] else "fleet_too_small"
            unserved.append(
                Unserved(
                    site=sites[a].id,
                    group=g,
                    people=left,
                    reason=code,
                    detail=_reason_detail(code, sites[a].id, g, tl),
                )
            )
    unserved.sort(key=lambda u: (-ev.priorities[u.group], u.site, u.group))
    status = "complete" if evacuated["total"] == requested["total"] else ("empty" if evacuated["total"] == 0 else "partial")
    tzname = tl.origin.strftime("%z")
    return Plan(
        scenario=scenario.name,
        seed=seed,
        status=status,
        timezone=f"{tzname[:3]}:{tzname[3:]}",
        windows=[(w.start.isoformat(), w.end.isoformat()) for w in scenario.ceasefire.windows],
        totals=Totals(requested=requested, evacuated=evacuated, bound=bound.per_group),
        vehicles_used=sum(1 for pv in plan_vehicles if pv.legs),
        vehicles_total=n_vehicles,
        risk_km=round(risk_total, 3),
        distance_km=round(dist_total, 3),
        sites=[
            Site(
                id=s.id,
                kind=s.kind,  # type: ignore[arg-type]
                name=s.name,
                location=(round(s.lonlat[0], 6), round(s.lonlat[1], 6)),
                node=str(roads.node_ids[s.node].item()),
                snap_m=round(s.snap_m, 1),
            )
            for s in sites
        ],
        receptions=[
            Reception(
                id=sites[r].id,
                capacity=int(next(rc for rc in ev.reception_centres if rc.id == sites[r].id).capacity),
                received=int(received[r]),
            )
            for r in R_idx
        ],
        vehicles=plan_vehicles,
        unserved=unserved,
        warnings=warnings,
        solver=SolverInfo(
            time_limit_s=float(time_limit_s),
            budget=budget,
            workers=workers,
            stopped_by=stopped,
            objective=int(objective),
        ),
    )


def _preferred_vehicles(
    previous: dict[str, list[tuple[str, str, int]]],
    vehicles: list[tuple[str, int]],
    chunks: list[_Chunk],
    sites: list[_SiteRec],
    chunk_node0: int,
) -> dict[int, int]:
    """Pickup node → the vehicle that was to carry its people before (first come, first fill)."""
    v_of = {vid: v for v, (vid, _t) in enumerate(vehicles)}
    left: dict[tuple[str, str], list[list[int]]] = {}
    for vid, items in sorted(previous.items()):
        if vid not in v_of:
            continue
        for site, group, people in items:
            if people > 0:
                left.setdefault((site, group), []).append([v_of[vid], int(people)])
    out: dict[int, int] = {}
    for k, c in enumerate(chunks):
        queue = left.get((sites[c.site].id, c.group))
        while queue and queue[0][1] <= 0:
            queue.pop(0)
        if queue:
            out[chunk_node0 + k] = queue[0][0]
            queue[0][1] -= c.people
    return out


def _crossing_legs(
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


def _enforce_crossing_rates(
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
    sites: list[_SiteRec],
    stop_s: float,
    unload_s: float,
    leg_details: Callable[[int, int], dict],
    vph: dict[str, float],
    forbidden: dict[int, list[tuple[int, int]]],
    horizon: int,
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
                    dep = float(starts[v]) if first_leg else tm - dwell - float(drive[cur, site])
                    for c in leg_details(cur, site)["crossings"]:
                        if c in vph:
                            events.append((dep, rank[v], v, pos, c))
                    cur = site
        events.sort()
        accepted: dict[str, list[float]] = {}
        cut = None
        for dep, _rank, v, pos, c in events:  # at the same time, vehicles for higher priorities go first
            # at most floor(vph) departures in any hour; below one an hour, one per 1/vph hours
            span = 3600.0 * max(1.0, 1.0 / vph[c])
            limit = max(1, int(math.floor(vph[c])))
            recent = [t for t in accepted.get(c, []) if dep - t < span]
            if len(recent) + 1 > limit:
                cut = (v, pos, int(math.ceil(sorted(recent)[len(recent) - limit] + span - dep)))
                break
            accepted.setdefault(c, []).append(dep)
        if cut is None:
            return routes, times, starts, lost
        v, pos, delta = cut
        moved = [t + delta for t in times[v][pos:]]
        if all(allowed(n, t) for n, t in zip(routes[v][pos:], moved, strict=True)):
            times[v][pos:] = moved
            if pos == 0:
                starts[v] += delta
            continue
        load = 0
        keep = 0
        for i in range(pos):
            load += int(demand[routes[v][i]])
            if load == 0:
                keep = i + 1
        for node in routes[v][keep:]:
            if chunk_node0 <= node < deliv_node0:
                lost.add(node - chunk_node0)
        routes[v] = routes[v][:keep]
        times[v] = times[v][:keep]
    return routes, times, starts, lost


def _empty_plan(scenario: Scenario, seed: int, time_limit_s: float, budget: int | None, workers: int) -> Plan:
    """The evacuation part of a scenario that has none (an exchange-only scenario)."""
    zero = {g: 0 for g in (*GROUPS, "total")}
    tl = Timeline.from_scenario(scenario)
    tz = tl.origin.strftime("%z")
    return Plan(
        scenario=scenario.name, seed=seed, status="empty", timezone=f"{tz[:3]}:{tz[3:]}",
        windows=[(w.start.isoformat(), w.end.isoformat()) for w in scenario.ceasefire.windows],
        totals=Totals(requested=dict(zero), evacuated=dict(zero), bound=dict(zero)),
        vehicles_used=0, vehicles_total=0, risk_km=0.0, distance_km=0.0, sites=[], receptions=[],
        vehicles=[], unserved=[], warnings=["the scenario has no evacuation section"],
        solver=SolverInfo(time_limit_s=float(time_limit_s), budget=budget, workers=workers, stopped_by="nothing to plan", objective=0),
    )


def _greedy_routes(
    problem: RoutingProblem,
    chunks: list[_Chunk],
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
        t = int(math.ceil(t))
        for a, b in forb.get(node, ()):
            if b < t:
                continue
            if a <= t:
                t = b + 1
            else:
                break
        return t if t <= horizon else None

    allowed_for = {v: set() for v in range(problem.n_vehicles)}
    for k in range(len(chunks)):
        for v in problem.allowed_vehicles.get(chunk_node0 + k, range(problem.n_vehicles)):
            allowed_for[v].add(k)
    first_ok = {s: {n - chunk_node0 for n in problem.next_allowed.get(s, []) if n >= 0} for s in set(problem.vehicle_start)}
    pending = set(range(len(chunks)))
    routes: list[list[int]] = [[] for _ in range(problem.n_vehicles)]
    earliest = problem.vehicle_earliest or [0] * problem.n_vehicles
    heap = [(earliest[v], v, problem.vehicle_start[v], True) for v in range(problem.n_vehicles)]
    heapq.heapify(heap)

    def starts_from(node: int, ready: float) -> list[int]:
        """Earliest allowed time of ``node`` at or after ``ready``, then the start of every
        later allowed block (a vehicle may wait for the next window before boarding)."""
        out = []
        t = fit(node, ready)
        while t is not None:
            out.append(t)
            nxt = next((b + 1 for a, b in forb.get(node, ()) if a > t), None)
            t = fit(node, nxt) if nxt is not None else None
        return out

    def schedule(v: int, pos: int, t_free: float, first: bool, ks: list[int]) -> tuple[int, int] | None:
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
        cand = [k for k in pending if k in allowed_for[v] and (not first or k in first_ok.get(pos, set()))]
        if not cand:
            continue
        site_of = node_site_of = {}
        for k in cand:
            site_of.setdefault(chunks[k].site, []).append(k)
        node_site_of = {site: chunk_node0 + ks[0] for site, ks in site_of.items()}
        order = sorted(site_of, key=lambda st: (-max(prio[gi_of[chunks[k].group]] for k in site_of[st]), T[pos, node_site_of[st]], st))
        done = False
        for site in order:
            ks = sorted(site_of[site], key=lambda k: (-prio[gi_of[chunks[k].group]], k))
            r = chunks[ks[0]].reception
            load, trip = 0, []
            for k in ks:
                if chunks[k].reception == r and load + chunks[k].people <= problem.vehicle_capacity[v]:
                    trip.append(k)
                    load += chunks[k].people
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


def kind_dwell_site(sites: list[_SiteRec], frm: int, to: int, stop_s: float, unload_s: float) -> float:
    """Dwell on arriving at a new site: boarding set-up at a pickup, unloading at a reception."""
    if frm == to:
        return 0.0
    kind = sites[to].kind
    return stop_s if kind == "assembly" else unload_s if kind == "reception" else 0.0


# Margin on a stop's longest inbound drive (see _inbound_limits), seconds.
INBOUND_MARGIN_S = 900.0


def _inbound_limits(
    chunks: list[_Chunk],
    chunk_node0: int,
    deliv_node0: int,
    drive: np.ndarray,
    sites: list[_SiteRec],
    stop_s: float,
    unload_s: float,
) -> np.ndarray:
    """The longest drive (with the dwell on arrival) allowed into each stop node, in seconds.

    A pickup may be reached from every reception centre of the plan, and from other stops
    no farther away; a delivery from its chunk's assembly point and from stops no farther.
    Both get a margin of ``INBOUND_MARGIN_S``.  Where no reception centre reaches a
    pickup, the longest drive from any stop site is allowed.  Entries before ``chunk_node0`` are 0 (starts and the end).
    """

    receptions = sorted({c.reception for c in chunks})
    stop_sites = sorted({c.site for c in chunks} | set(receptions))
    pick: dict[int, float] = {}
    for a in sorted({c.site for c in chunks}):
        back = [drive[r, a] for r in receptions if r != a and np.isfinite(drive[r, a])]
        if back:
            pick[a] = max(back) + stop_s + INBOUND_MARGIN_S
        else:
            ins = [drive[p, a] + kind_dwell_site(sites, p, a, stop_s, unload_s) for p in stop_sites if p != a and np.isfinite(drive[p, a])]
            pick[a] = max(ins, default=0.0)
    pre = np.zeros(deliv_node0 + len(chunks))
    for k, c in enumerate(chunks):
        pre[chunk_node0 + k] = pick[c.site]
        to = drive[c.site, c.reception] + (unload_s if c.site != c.reception else 0.0)
        pre[deliv_node0 + k] = to + INBOUND_MARGIN_S if np.isfinite(to) else 0.0
    return pre


def _forbidden(tl: Timeline, pre: float, post: float) -> list[tuple[int, int]]:
    """Service start times outside every ``[window start + pre, window end - post]``."""
    allowed = [(int(math.ceil(a + pre)), int(math.floor(b - post))) for a, b in tl.windows]
    allowed = [(a, b) for a, b in allowed if a <= b]
    out: list[tuple[int, int]] = []
    cursor = 0
    for a, b in allowed:
        if a > cursor:
            out.append((cursor, a - 1))
        cursor = max(cursor, b + 1)
    if cursor <= tl.horizon:
        out.append((cursor, tl.horizon))
    return out


def _chunk_size(seats: list[int]) -> int:
    """People per routing node for a group carried by vehicles with these seat counts.

    About half the smallest carrier (a whole one below 16 seats), but no more than whole
    nodes can fill: the largest size, down to half of that, with which every carrier's seats
    are filled to at least 95 % by whole nodes (a 45-seat bus takes two nodes of 22, where
    nodes of 23 would fill only half of it), else the size that fills them best.
    """
    smallest = min(seats, default=1)
    top = max(1, smallest if smallest < 16 else smallest // 2)
    sizes = range(top, max(1, math.ceil(top / 2)) - 1, -1)

    def fill(size: int) -> float:
        return min((q // size) * size / q for q in seats) if seats else 1.0

    return next((s for s in sizes if fill(s) >= 0.95), max(sizes, key=lambda s: (fill(s), s)))


def _one_trip_fits(
    tl: Timeline,
    drive: np.ndarray,
    a: int,
    receptions: list[int],
    starts: list[int],
    earliest: list[int],
    stop_s: float,
    unload_s: float,
) -> bool:
    """Whether some carrier can drive start → a → some reception inside the windows."""
    for s, e in zip(starts, earliest, strict=True):
        first = drive[s, a]
        if not np.isfinite(first):
            continue
        t = float(e)
        if first > 0:
            st = tl.earliest_fit(t, first)
            if st is None:
                continue
            t = st + first
        for r in receptions:
            d = drive[a, r]
            if np.isfinite(d) and tl.earliest_fit(t + stop_s, d) is not None:
                st = tl.earliest_fit(t + stop_s, d)
                if st is not None and st + d + unload_s <= tl.horizon:
                    return True
    return False


def _reason_detail(code: str, site: str, group: str, tl: Timeline) -> str:
    words = {
        "no_safe_road": f"no road from {site} to a reception centre (or from any vehicle able to carry {group}) avoids the closed areas and crosses the line of contact only at an open crossing point",
        "window_too_short": f"no vehicle able to carry {group} can reach {site} and bring them to a reception centre inside one ceasefire window",
        "fleet_too_small": f"the vehicles able to carry {group} had no time left in the ceasefire windows",
        "reception_full": "the reception centres reachable from here are full",
        "no_vehicle_for_group": f"no vehicle in the fleet may carry {group}",
        "site_in_closed_area": f"{site} lies inside a closed hazard area; no vehicle may enter",
        "crossing_capacity": "the crossing point on their road lets too few vehicles through per hour for more trips",
    }
    return f"{REASONS[code]}: {words[code]}"
