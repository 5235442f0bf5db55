"""From routes to a :class:`~planner.plan.Plan`: stops, legs with their road paths, totals,
who was not served and why."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from planner.evacuation_model import EvacuationModel, kind_dwell_site
from planner.evacuation_timing import leg_departure
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
from planner.scenario import GROUPS
from planner.timeline import Timeline


def leg_finder(model: EvacuationModel) -> Callable[[int, int], dict]:
    """Path details (coordinates, length, risk, crossings) of the drive between two sites, cached."""
    roads, sites = model.net.roads, model.sites
    cache: dict[tuple[int, int], dict] = {}

    def leg_details(sa: int, sb: int) -> dict:
        if (sa, sb) not in cache:
            cache[(sa, sb)] = roads.path_details(roads.path(sites[sa].node, sites[sb].node))
        return cache[(sa, sb)]

    return leg_details


def prefetch_legs(model: EvacuationModel, routes: list[list[int]]) -> None:
    """Find the street paths of every leg the routes drive at once."""
    legs = []
    for v, route in enumerate(routes):
        cur = model.vstart[v]
        for node in route:
            if model.node_site[node] != cur:
                legs.append((model.sites[cur].node, model.sites[model.node_site[node]].node))
                cur = model.node_site[node]
    model.net.roads.prefetch_paths(legs)


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
) -> Vehicle:
    """One vehicle's stops and legs; adds what it delivers to ``served`` and ``received``, and
    its km and km under risk to ``acc``."""
    tl, sites, chunks = model.tl, model.sites, model.chunks
    c0, d0 = model.chunk_node0, model.deliv_node0
    service = model.problem.service
    vid, t = model.vehicles[v]
    vt = model.ev.fleet[t]
    a_pos = {a: i for i, a in enumerate(model.A_idx)}
    gi_of = model.gi_of
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
            legs.append(_leg(tl, sites[cur_site].id, sites[s].id, depart, drive_s, det, onboard))
            acc["risk_km"] = acc.get("risk_km", 0.0) + det["risk_m"] / 1000.0
            acc["distance_km"] = acc.get("distance_km", 0.0) + det["length_m"] / 1000.0
            arrive_t = depart + drive_s
        else:
            arrive_t = first_t if cur_free is None else cur_free
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
            code = model.reason_of.get((ai, gi))
            if code is None and any(
                model.chunks[k].site == a and g in model.chunks[k].by_group() for k in rate_limited
            ):
                code = "crossing_capacity"
            if code is None:
                assigned = int(model.x[ai, gi].sum())
                code = (
                    "reception_full"
                    if served[ai, gi] >= assigned and assigned < model.W[ai, gi]
                    else "fleet_too_small"
                )
            out.append(_unserved_row(model, a, g, left, code))
    out.sort(key=lambda u: (-model.ev.priorities[u.group], u.site, u.group))
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
    status = (
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
    )
