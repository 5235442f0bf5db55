"""The verifier's convoy rules (``ceasefire.convoys``), written apart from the planner's.

Like :mod:`planner.verify`, this reads the plan as raw JSON and the convoys from the
scenario, and shares no code with the planner (:mod:`planner.convoys`).  Each rule is a
short function with its own code:

``convoy_unknown``
    A leg names a convoy that is not ``<corridor>@<agreed departure>`` of a scenario convoy.
``convoy_departure``
    A convoy leg that does not leave the convoy's marshalling site at its agreed time.
``convoy_together``
    Legs of one convoy that differ in where they go, when they arrive, or when they pass a
    checkpoint.
``convoy_size``
    More vehicles in one departure than the convoy's ``max_vehicles``.
``convoy_lead``
    A departure without a vehicle of the convoy's lead type (when ``lead`` names one).
``convoy_outside``
    A leg outside every convoy that leaves or passes a convoy's marshalling site and heads
    along its corridor the convoy's way (away from the marshalling site, towards the
    corridor's farther end).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from planner.scenario import PlaceRef, Scenario, location_lonlat

PASS_RADIUS_M = 2000.0
"""A leg passes a marshalling site when its path comes this close (plus the site's snap)."""

LOOK_AHEAD_M = 1000.0
"""Where a path heads is read this far past the marshalling site."""

Add = Callable[[str, str, str, "str | None"], None]


@dataclass
class _Leg:
    vehicle: str
    vtype: str | None
    where: str
    frm: str | None
    to: str | None
    depart: datetime | None
    arrive: datetime | None
    path: list[tuple[float, float]]
    convoy: str | None
    checkpoints: Any


def _time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _legs(plan: dict[str, Any]) -> list[_Leg]:
    out = []
    for i, v in enumerate(plan.get("vehicles") or []):
        if not isinstance(v, dict):
            continue
        raw_id = v.get("id")
        vid = raw_id if isinstance(raw_id, str) else f"vehicles[{i}]"
        for j, leg in enumerate(v.get("legs") or []):
            if not isinstance(leg, dict):
                continue
            raw_path = leg.get("path")
            raw = raw_path if isinstance(raw_path, list) else []
            path = [
                (float(p[0]), float(p[1]))
                for p in raw
                if isinstance(p, list | tuple)
                and len(p) == 2
                and all(isinstance(c, int | float) for c in p)
            ]
            convoy = leg.get("convoy")
            out.append(
                _Leg(
                    vehicle=vid,
                    vtype=v.get("type") if isinstance(v.get("type"), str) else None,
                    where=f"vehicle {vid} leg {j} ({leg.get('from')}→{leg.get('to')})",
                    frm=leg.get("from") if isinstance(leg.get("from"), str) else None,
                    to=leg.get("to") if isinstance(leg.get("to"), str) else None,
                    depart=_time(leg.get("depart")),
                    arrive=_time(leg.get("arrive")),
                    path=path,
                    convoy=convoy if isinstance(convoy, str) else None,
                    checkpoints=leg.get("checkpoints"),
                )
            )
    return out


# --------------------------------------------------------------------------- geometry


def _xy(lon: float, lat: float, lat0: float) -> tuple[float, float]:
    """Local metres around latitude ``lat0`` (good to a fraction of a percent over 100 km)."""
    r = 6_371_008.8
    return (math.radians(lon) * r * math.cos(math.radians(lat0)), math.radians(lat) * r)


def _along(line: list[tuple[float, float]], p: tuple[float, float]) -> tuple[float, float]:
    """Distance along ``line`` of the point of it nearest ``p``, and the line's length."""
    best, best_at, walked = math.inf, 0.0, 0.0
    for (ax, ay), (bx, by) in zip(line, line[1:], strict=False):
        dx, dy = bx - ax, by - ay
        seg = math.hypot(dx, dy)
        t = 0.0 if seg == 0 else max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / seg**2))
        d = math.hypot(ax + t * dx - p[0], ay + t * dy - p[1])
        if d < best:
            best, best_at = d, walked + t * seg
        walked += seg
    return best_at, walked


def heads_convoy_way(
    path: list[tuple[float, float]],
    line: list[tuple[float, float]],
    site: tuple[float, float],
    radius_m: float,
) -> bool:
    """Whether ``path`` leaves or passes ``site`` and then runs along ``line`` away from it,
    towards the line's end that lies farther from the site."""
    if len(path) < 2 or len(line) < 2:
        return False
    lat0 = site[1]
    p = [_xy(x, y, lat0) for x, y in path]
    s = _xy(*site, lat0)
    close = [i for i, q in enumerate(p) if math.hypot(q[0] - s[0], q[1] - s[1]) <= radius_m]
    if not close or close[-1] == len(p) - 1:
        return False
    # the point LOOK_AHEAD_M along the path past the last point near the site
    left, ahead = LOOK_AHEAD_M, p[-1]
    for a, b in zip(p[close[-1] :], p[close[-1] + 1 :], strict=False):
        seg = math.hypot(b[0] - a[0], b[1] - a[1])
        if seg >= left:
            k = left / seg
            ahead = (a[0] + k * (b[0] - a[0]), a[1] + k * (b[1] - a[1]))
            break
        left -= seg
    ln = [_xy(x, y, lat0) for x, y in line]
    at_site, length = _along(ln, s)
    at_ahead, _ = _along(ln, ahead)
    towards_end = at_site <= length / 2
    return at_ahead > at_site if towards_end else at_ahead < at_site


def _corridor_line(
    scenario: Scenario, corridor: Any, sites: dict[str, tuple[float, float]]
) -> list[tuple[float, float]]:
    if corridor.via is None:
        import geopandas as gpd

        geom = gpd.read_file(
            scenario.resolve_path(corridor.file), layer=corridor.layer
        ).geometry.iloc[0]
        return [(float(c[0]), float(c[1])) for c in geom.coords]
    out = []
    for item in corridor.via:
        if isinstance(item, str):
            out.append(sites[item] if item in sites else location_lonlat(PlaceRef(place=item)))
        elif isinstance(item, PlaceRef):
            out.append(location_lonlat(item))
        else:
            out.append((float(item[0]), float(item[1])))
    return out


# --------------------------------------------------------------------------- rules


def _departures(scenario: Scenario) -> dict[str, tuple[int, datetime]]:
    """Convoy id -> (convoy index, agreed departure)."""
    out = {}
    for i, cv in enumerate(scenario.ceasefire.convoys):
        for t in cv.depart:
            out[f"{cv.corridor}@{t.isoformat()}"] = (i, t)
    return out


def _match(
    label: str, known: dict[str, tuple[int, datetime]], scenario: Scenario
) -> tuple[int, datetime] | None:
    """The convoy and departure a label names (times compared as instants)."""
    if label in known:
        return known[label]
    corridor, _, when = label.partition("@")
    t = _time(when)
    if t is None or t.tzinfo is None:
        return None
    for i, cv in enumerate(scenario.ceasefire.convoys):
        if cv.corridor == corridor and any(d == t for d in cv.depart):
            return i, t
    return None


def rule_departure(scenario: Scenario, members: dict[str, list[_Leg]], add: Add) -> None:
    """``convoy_unknown`` and ``convoy_departure``."""
    known = _departures(scenario)
    for label, legs in sorted(members.items()):
        hit = _match(label, known, scenario)
        if hit is None:
            for lg in legs:
                add(
                    "convoy_unknown",
                    lg.where,
                    f"names convoy {label!r}, which is no agreed departure of a convoy",
                    lg.vehicle,
                )
            continue
        cv = scenario.ceasefire.convoys[hit[0]]
        for lg in legs:
            if lg.frm is not None and lg.frm != cv.from_:
                add(
                    "convoy_departure",
                    lg.where,
                    f"leaves {lg.frm}; convoy {label} leaves {cv.from_}",
                    lg.vehicle,
                )
            if lg.depart is not None and lg.depart != hit[1]:
                add(
                    "convoy_departure",
                    lg.where,
                    f"departs {lg.depart.isoformat()}; convoy {label} leaves at {hit[1].isoformat()}",
                    lg.vehicle,
                )


def _show(x: Any) -> Any:
    return x.isoformat() if isinstance(x, datetime) else x


def rule_together(members: dict[str, list[_Leg]], add: Add) -> None:
    """``convoy_together``: one destination, one arrival, the same checkpoint times."""
    for label, legs in sorted(members.items()):
        head = legs[0]
        for lg in legs[1:]:
            for what, a, b in (
                ("drives to", lg.to, head.to),
                ("leaves", lg.frm, head.frm),
                ("departs", lg.depart, head.depart),
                ("arrives", lg.arrive, head.arrive),
                ("passes the checkpoints", lg.checkpoints, head.checkpoints),
            ):
                if a != b:
                    add(
                        "convoy_together",
                        lg.where,
                        f"{what} {_show(a)}, but {head.vehicle} of convoy {label} {what} {_show(b)}",
                        lg.vehicle,
                    )


def rule_size_and_lead(scenario: Scenario, members: dict[str, list[_Leg]], add: Add) -> None:
    """``convoy_size`` and ``convoy_lead``."""
    known = _departures(scenario)
    fleet = {vt.type for vt in scenario.evacuation.fleet} if scenario.evacuation else set()
    for label, legs in sorted(members.items()):
        hit = _match(label, known, scenario)
        if hit is None:
            continue
        cv = scenario.ceasefire.convoys[hit[0]]
        n = len({lg.vehicle for lg in legs})
        if cv.max_vehicles is not None and n > cv.max_vehicles:
            add(
                "convoy_size",
                f"convoy {label}",
                f"{n} vehicles, at most {cv.max_vehicles} agreed",
                None,
            )
        if cv.lead is not None and cv.lead in fleet and not any(lg.vtype == cv.lead for lg in legs):
            add("convoy_lead", f"convoy {label}", f"no {cv.lead} vehicle leads it", None)


def rule_outside(
    scenario: Scenario,
    legs: list[_Leg],
    sites: dict[str, tuple[float, float]],
    snap_m: dict[str, float],
    add: Add,
) -> None:
    """``convoy_outside``: driving a convoy's way from its marshalling site without a convoy."""
    convoys = scenario.ceasefire.convoys
    corridors = {c.id: c for c in scenario.ceasefire.corridors}
    lines = {
        cv.corridor: _corridor_line(scenario, corridors[cv.corridor], sites)
        for cv in convoys
        if cv.corridor in corridors
    }
    for lg in legs:
        if lg.convoy is not None:
            continue
        for cv in convoys:
            site = sites.get(cv.from_)
            if site is None or cv.corridor not in lines or lg.to == cv.from_:
                continue
            radius = PASS_RADIUS_M + snap_m.get(cv.from_, 0.0)
            if heads_convoy_way(lg.path, lines[cv.corridor], site, radius):
                add(
                    "convoy_outside",
                    lg.where,
                    f"drives corridor {cv.corridor} from {cv.from_} outside a convoy",
                    lg.vehicle,
                )
                break


def check_convoys(
    scenario: Scenario, plan: dict[str, Any], snap_m: dict[str, float], add: Add
) -> None:
    """Run every convoy rule on a plan (nothing to do without ``ceasefire.convoys``).

    Parameters
    ----------
    scenario
        The scenario.
    plan
        ``plan.json`` as parsed JSON.
    snap_m
        Each site's snap distance as the plan reports it.
    add
        ``(code, where, message, vehicle)`` records a violation.
    """
    if not scenario.ceasefire.convoys or scenario.evacuation is None:
        return
    ev = scenario.evacuation
    points = ev.assembly_points if isinstance(ev.assembly_points, list) else []
    sites = {a.id: location_lonlat(a.location) for a in points}
    sites |= {r.id: location_lonlat(r.location) for r in ev.reception_centres}
    legs = _legs(plan)
    members: dict[str, list[_Leg]] = defaultdict(list)
    for lg in legs:
        if lg.convoy is not None:
            members[lg.convoy].append(lg)
    rule_departure(scenario, members, add)
    rule_together(members, add)
    rule_size_and_lead(scenario, members, add)
    rule_outside(scenario, legs, sites, snap_m, add)
