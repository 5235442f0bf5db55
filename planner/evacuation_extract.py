"""From routes to a :class:`~planner.plan.Plan`: stops, legs with their road paths, totals,
who was not served and why."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np

from planner.agreed_corridors import plan_corridors
from planner.convoys import ConvoyOutcome, Convoys, Departure
from planner.evacuation_model import EvacuationModel, kind_dwell_site, site_path_details
from planner.evacuation_timing import leg_departure
from planner.network import RoadNetwork
from planner.plan import (
    REASONS,
    CheckpointStop,
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
from planner.scenario import GROUPS
from planner.timeline import Timeline


def leg_finder(model: EvacuationModel) -> Callable[[int, int], dict]:
    """Path details (coordinates, length, risk, crossings) of the drive between two sites, cached;
    the model's own cache when building it traced paths already."""
    if model.path_details is not None:
        return model.path_details
    return site_path_details(model.net, model.sites, model.corridors)


def prefetch_legs(model: EvacuationModel, routes: list[list[int]]) -> None:
    """Find the street paths of every leg the routes drive at once."""
    legs: dict[int, tuple[RoadNetwork, list[tuple[int, int]]]] = {}
    for v, route in enumerate(routes):
        cur = model.vstart[v]
        for node in route:
            if model.node_site[node] != cur:
                roads = model.roads_between(cur, model.node_site[node])
                pair = (model.sites[cur].node, model.sites[model.node_site[node]].node)
                legs.setdefault(id(roads), (roads, []))[1].append(pair)
                cur = model.node_site[node]
    for roads, pairs in legs.values():
        roads.prefetch_paths(pairs)


def _site_groups(
    model: EvacuationModel, route: list[int], rtimes: list[int]
) -> list[tuple[int, list[int], list[int], int]]:
    """Consecutive nodes at the same site, as (site, nodes, times, position of the first)."""
    out: list[tuple[int, list[int], list[int], int]] = []
    for pos, (node, tm) in enumerate(zip(route, rtimes, strict=True)):
        s = model.node_site[node]
        if out and out[-1][0] == s:
            out[-1][1].append(node)
            out[-1][2].append(tm)
        else:
            out.append((s, [node], [tm], pos))
    return out


def extract_vehicle(
    model: EvacuationModel,
    v: int,
    route: list[int],
    rtimes: list[int],
    start: int,
    departs: list[int | None] | None,
    leg_details: Callable[[int, int], dict],
    served: np.ndarray,
    received: dict[int, int],
    acc: dict[str, float],
    convoy: dict[int, Departure] | None = None,
) -> Vehicle:
    """One vehicle's stops and legs; adds what it delivers to ``served`` and ``received``, and
    its km and km under risk to ``acc``.  ``convoy`` gives the convoy departure each drive
    that joins a convoy takes, by the position of the stop it leads into: such a drive is the
    drive to the marshalling site, a stop there and the convoy's leg."""
    tl, sites = model.tl, model.sites
    service = model.problem.service
    vid, t = model.vehicles[v]
    vt = model.ev.fleet[t]
    stops: list[Stop] = []
    legs: list[Leg] = []
    onboard = dict.fromkeys(GROUPS, 0)
    cur_site, cur_free = model.vstart[v], None
    for s, gnodes, gtimes, pos0 in _site_groups(model, route, rtimes):
        first_t = gtimes[0]
        last_node, last_t = gnodes[-1], gtimes[-1]
        if s != cur_site:
            det = leg_details(cur_site, s)
            drive_s = int(model.drive[cur_site, s])
            dwell_s = int(kind_dwell_site(sites, cur_site, s, model.stop_s, model.unload_s))
            given = departs[pos0] if departs is not None else None
            if given is not None:
                depart = int(given)  # re-timed: may leave early and wait on arrival
            else:
                first = not legs and not stops
                ready = start if first or cur_free is None else cur_free
                depart = leg_departure(
                    tl,
                    float(ready),
                    float(first_t - dwell_s - drive_s),
                    float(drive_s),
                    first=first,
                )
            if stops:  # the vehicle stays at its last stop until it actually leaves
                stops[-1].depart = tl.iso(depart)
            dep = (convoy or {}).get(pos0)
            if dep is not None:
                arrive_t = convoy_legs(
                    model, cur_site, depart, dep, leg_details, onboard, legs, stops, acc
                )
            else:
                legs.append(
                    _leg(tl, sites[cur_site].id, sites[s].id, depart, drive_s, det, onboard)
                )
                _add_km(acc, det)
                arrive_t = depart + drive_s
        else:
            arrive_t = first_t if cur_free is None else cur_free
        board, alight, hh_on, hh_off = _board_and_alight(
            model, s, gnodes, onboard, served, received
        )
        depart_t = last_t + int(service[last_node])
        stops.append(
            Stop(
                site=sites[s].id,
                arrive=tl.iso(arrive_t),
                depart=tl.iso(depart_t),
                board={g: n for g, n in board.items() if n},
                alight={g: n for g, n in alight.items() if n},
                board_households=sorted(hh_on) if hh_on else None,
                alight_households=sorted(hh_off) if hh_off else None,
            )
        )
        cur_site, cur_free = s, depart_t
    return Vehicle(
        id=vid,
        type=vt.type,
        seats=vt.seats,
        groups=list(vt.groups),
        start=sites[model.vstart[v]].id,
        stops=stops,
        legs=legs,
    )


def _board_and_alight(
    model: EvacuationModel,
    s: int,
    gnodes: list[int],
    onboard: dict[str, int],
    served: np.ndarray,
    received: dict[int, int],
) -> tuple[dict[str, int], dict[str, int], list[str], list[str]]:
    """Who boards and who alights at one stop (by group, and the households); updates
    ``onboard``, and ``served`` and ``received`` with what is delivered."""
    chunks, c0, d0 = model.chunks, model.chunk_node0, model.deliv_node0
    a_pos = {a: i for i, a in enumerate(model.A_idx)}
    gi_of = model.gi_of
    board = dict.fromkeys(GROUPS, 0)
    alight = dict.fromkeys(GROUPS, 0)
    hh_on: list[str] = []
    hh_off: list[str] = []
    for node in gnodes:
        if c0 <= node < d0:
            c = chunks[node - c0]
            hh_on += c.households
            for g, n in c.by_group().items():
                board[g] += n
                onboard[g] += n
        elif node >= d0:
            c = chunks[node - d0]
            hh_off += c.households
            received[s] += c.people
            for g, n in c.by_group().items():
                alight[g] += n
                onboard[g] -= n
                served[a_pos[c.site], gi_of[g]] += n
    return board, alight, hh_on, hh_off


def _convoys_of(model: EvacuationModel) -> Convoys:
    """The model's convoys (a drive joins a convoy only when the model has some)."""
    assert model.convoys is not None
    return model.convoys


def _add_km(acc: dict[str, float], det: dict) -> None:
    acc["risk_km"] = acc.get("risk_km", 0.0) + det["risk_m"] / 1000.0
    acc["distance_km"] = acc.get("distance_km", 0.0) + det["length_m"] / 1000.0


def convoy_legs(
    model: EvacuationModel,
    frm: int,
    depart: int,
    dep: Departure,
    leg_details: Callable[[int, int], dict],
    onboard: dict[str, int],
    legs: list[Leg],
    stops: list[Stop],
    acc: dict[str, float],
) -> int:
    """Append a drive that joins a convoy: to the marshalling site (a stop there until the
    convoy leaves, nobody boards), then the convoy's leg.  Returns the arrival."""
    f = _convoys_of(model).runs[dep.run].site
    if frm != f:
        drive_s = int(_convoys_of(model).arcs[(frm, dep.dest)].to_marshal_s)
        _to_marshal(model, frm, depart, drive_s, dep, leg_details, onboard, legs, stops, acc)
    legs.append(_convoy_leg(model, dep, leg_details, onboard))
    _add_km(acc, leg_details(f, dep.dest))
    return dep.arrive


def _to_marshal(
    model: EvacuationModel,
    frm: int,
    depart: int,
    drive_s: int,
    dep: Departure,
    leg_details: Callable[[int, int], dict],
    onboard: dict[str, int],
    legs: list[Leg],
    stops: list[Stop],
    acc: dict[str, float],
) -> None:
    """The drive to a convoy's marshalling site and the wait there until it leaves."""
    tl, sites = model.tl, model.sites
    f = _convoys_of(model).runs[dep.run].site
    det = leg_details(frm, f)
    legs.append(_leg(tl, sites[frm].id, sites[f].id, depart, drive_s, det, onboard))
    _add_km(acc, det)
    at, leaves = tl.iso(depart + drive_s), tl.iso(dep.depart)
    stops.append(Stop(site=sites[f].id, arrive=at, depart=leaves, board={}, alight={}))


def _convoy_leg(
    model: EvacuationModel,
    dep: Departure,
    leg_details: Callable[[int, int], dict],
    onboard: dict[str, int],
) -> Leg:
    """A vehicle's leg in a convoy: its times and checkpoint stops are the convoy's."""
    tl, sites = model.tl, model.sites
    f = _convoys_of(model).runs[dep.run].site
    det = leg_details(f, dep.dest)
    leg = _leg(
        tl, sites[f].id, sites[dep.dest].id, dep.depart, dep.arrive - dep.depart, det, onboard
    )
    leg.convoy = dep.label
    if leg.checkpoints is not None:
        leg.checkpoints = [
            CheckpointStop(
                id=cid,
                arrive=tl.iso(dep.depart + math.ceil(a)),
                depart=tl.iso(dep.depart + math.ceil(b)),
            )
            for cid, a, b in _convoys_of(model).pace(dep.run, dep.dest).checkpoints
        ]
    return leg


def lead_vehicle(
    model: EvacuationModel,
    v: int,
    dep: Departure,
    leg_details: Callable[[int, int], dict],
    acc: dict[str, float],
) -> Vehicle:
    """A lead vehicle's schedule: to the marshalling site if it starts elsewhere, then at the
    head of its convoy."""
    tl, sites = model.tl, model.sites
    vid, t = model.vehicles[v]
    vt = model.ev.fleet[t]
    legs: list[Leg] = []
    stops: list[Stop] = []
    start = model.vstart[v]
    depart = dep.lead_approach if dep.lead_approach is not None else dep.depart
    f = _convoys_of(model).runs[dep.run].site
    if start == f:  # it waits at the marshalling site for its departure
        at = tl.iso(dep.depart)
        stops.append(Stop(site=sites[f].id, arrive=at, depart=at, board={}, alight={}))
    else:
        drive_s = int(model.drive[start, f])
        _to_marshal(model, start, depart, drive_s, dep, leg_details, {}, legs, stops, acc)
    legs.append(_convoy_leg(model, dep, leg_details, {}))
    _add_km(acc, leg_details(f, dep.dest))
    stops.append(
        Stop(
            site=sites[dep.dest].id,
            arrive=tl.iso(dep.arrive),
            depart=tl.iso(dep.arrive),
            board={},
            alight={},
        )
    )
    return Vehicle(
        id=vid,
        type=vt.type,
        seats=vt.seats,
        groups=list(vt.groups),
        start=sites[start].id,
        stops=stops,
        legs=legs,
    )


def convoy_stops(outcome: ConvoyOutcome | None, v: int) -> dict[int, Departure] | None:
    """The convoy departure of each of vehicle ``v``'s drives that joins one, by stop position."""
    if outcome is None:
        return None
    return {pos: outcome.departures[rk] for (u, pos), rk in outcome.leg_departure.items() if u == v}


def add_lead_vehicles(
    model: EvacuationModel,
    vehicles: list[Vehicle],
    outcome: ConvoyOutcome | None,
    leg_details: Callable[[int, int], dict],
    acc: dict[str, float],
) -> None:
    """Give each lead vehicle the schedule of the convoy it leads (in place)."""
    if outcome is None:
        return
    for dep in outcome.departures.values():
        if dep.lead is not None:
            vehicles[dep.lead] = lead_vehicle(model, dep.lead, dep, leg_details, acc)


def _leg(
    tl: Timeline, frm: str, to: str, depart: int, drive_s: int, det: dict, onboard: dict[str, int]
) -> Leg:
    return Leg(
        **{"from": frm},
        to=to,
        depart=tl.iso(depart),
        arrive=tl.iso(depart + drive_s),
        path=[(round(p[0], 6), round(p[1], 6)) for p in det["coords"]],
        length_m=round(det["length_m"], 1),
        risk_km=round(det["risk_m"] / 1000.0, 3),
        crossings=det["crossings"],
        load={g: n for g, n in onboard.items() if n},
        checkpoints=[
            CheckpointStop(id=cid, arrive=tl.iso(depart + a), depart=tl.iso(depart + math.ceil(b)))
            for cid, a, b in det["checkpoints"]
        ]
        if "checkpoints" in det
        else None,
    )


def reason_detail(code: str, site: str, group: str) -> str:
    """A coordinator's sentence for a reason code."""
    words = {
        "no_safe_road": f"no road from {site} to a reception centre (or from any vehicle able to carry {group}) avoids the closed areas and crosses the line of contact only at an open crossing point",
        "window_too_short": f"no vehicle able to carry {group} can reach {site} and bring them to a reception centre inside one ceasefire window",
        "fleet_too_small": f"the vehicles able to carry {group} had no time left in the ceasefire windows",
        "reception_full": "the reception centres reachable from here are full",
        "no_vehicle_for_group": f"no vehicle in the fleet may carry {group}",
        "site_in_closed_area": f"{site} lies inside a closed hazard area; no vehicle may enter",
        "crossing_capacity": "the crossing point on their road lets too few vehicles through per hour for more trips",
        "household_too_large": f"their households (with {group}) are larger than every vehicle that may carry all their members, and households are not split",
    }
    return f"{REASONS[code]}: {words[code]}"


def _merged(rows: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """(reason, people) rows summed per reason, in the order reasons first appear."""
    out: dict[str, int] = {}
    for code, n in rows:
        out[code] = out.get(code, 0) + n
    return list(out.items())


def _unserved_row(model: EvacuationModel, a: int, g: str, people: int, code: str) -> Unserved:
    site = model.sites[a].id
    return Unserved(
        site=site, group=g, people=people, reason=code, detail=reason_detail(code, site, g)
    )


def unserved_rows(
    model: EvacuationModel, served: np.ndarray, rate_limited: set[int]
) -> list[Unserved]:
    """Who is left waiting, per (assembly point, group), with the reason."""
    out: list[Unserved] = []
    for ai, a in enumerate(model.A_idx):
        for gi, g in enumerate(GROUPS):
            left = int(model.W[ai, gi] - served[ai, gi])
            for code, n in _merged(model.blocked.get((ai, gi), [])):
                out.append(_unserved_row(model, a, g, n, code))
                left -= n
            if left <= 0:
                continue
            reason = model.reason_of.get((ai, gi))
            if reason is None and any(
                model.chunks[k].site == a and g in model.chunks[k].by_group() for k in rate_limited
            ):
                reason = "crossing_capacity"
            if reason is None:
                assigned = int(model.x[ai, gi].sum())
                reason = (
                    "reception_full"
                    if served[ai, gi] >= assigned and assigned < model.W[ai, gi]
                    else "fleet_too_small"
                )
            out.append(_unserved_row(model, a, g, left, reason))
    weights: dict[str, float] = {g: w for g, w in model.ev.priorities.items()}
    out.sort(key=lambda u: (-weights[u.group], u.site, u.group))
    return out


def assemble_plan(
    model: EvacuationModel,
    plan_vehicles: list[Vehicle],
    served: np.ndarray,
    received: dict[int, int],
    rate_limited: set[int],
    acc: dict[str, float],
    solver: SolverInfo,
    seed: int,
) -> Plan:
    """The plan: totals, sites, receptions, vehicles, unserved rows and warnings."""
    W, ev, tl, sites = model.W, model.ev, model.tl, model.sites
    requested = {g: int(W[:, gi].sum()) for gi, g in enumerate(GROUPS)}
    requested["total"] = sum(requested[g] for g in GROUPS)
    evacuated = {g: int(served[:, gi].sum()) for gi, g in enumerate(GROUPS)}
    evacuated["total"] = sum(evacuated[g] for g in GROUPS)
    status: Literal["complete", "partial", "empty"] = (
        "complete"
        if evacuated["total"] == requested["total"]
        else ("empty" if evacuated["total"] == 0 else "partial")
    )
    tzname = tl.origin.strftime("%z")
    capacity = {rc.id: int(rc.capacity) for rc in ev.reception_centres}
    return Plan(
        scenario=model.scenario.name,
        seed=seed,
        status=status,
        timezone=f"{tzname[:3]}:{tzname[3:]}",
        windows=[
            (w.start.isoformat(), w.end.isoformat()) for w in model.scenario.ceasefire.windows
        ],
        totals=Totals(requested=requested, evacuated=evacuated, bound=model.bound.per_group),
        vehicles_used=sum(1 for pv in plan_vehicles if pv.legs),
        vehicles_total=len(model.vehicles),
        risk_km=round(acc.get("risk_km", 0.0), 3),
        distance_km=round(acc.get("distance_km", 0.0), 3),
        sites=[
            Site(
                id=s.id,
                kind=s.kind,  # type: ignore[arg-type]
                name=s.name,
                location=(round(s.lonlat[0], 6), round(s.lonlat[1], 6)),
                node=str(model.net.roads.node_ids[s.node].item()),
                snap_m=round(s.snap_m, 1),
            )
            for s in sites
        ],
        receptions=[
            Reception(id=sites[r].id, capacity=capacity[sites[r].id], received=int(received[r]))
            for r in model.R_idx
        ],
        vehicles=plan_vehicles,
        unserved=unserved_rows(model, served, rate_limited),
        warnings=model.warnings,
        solver=solver,
        corridors=plan_corridors(model.corridors),
    )
