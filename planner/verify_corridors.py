"""Checks of a plan against the scenario's agreed corridors, for :mod:`planner.verify`.

Like the rest of the verifier this shares no code with the planner: it reads the corridor
lines from the plan's ``corridors`` part, checks that each passes its via points in order,
and then checks every leg that carries people or heads for an assembly point in a local
metric projection (shapely and pyproj only).

Check codes
-----------
``corridor_missing``
    The scenario has a corridor the plan does not describe (or describes without a path).
``corridor_via``
    A corridor's path does not pass one of its via points, or passes them out of order.
``corridor_route``
    A leg that carries people, or heads for an assembly point, leaves every corridor open
    at its time (farther than ``width_m``) outside the ``approach_km`` of the sites.
``corridor_direction``
    A leg drives a one-way corridor against its ``direction``.
``corridor_checkpoint``
    A leg passes a checkpoint without stopping there for its ``stop_min`` (inside the leg,
    in order), or lists a stop at a checkpoint it does not pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyproj
import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from planner.scenario import Corridor, PlaceRef, Scenario, location_lonlat

VIA_SLACK_M = 2000.0
"""How far a corridor's path may pass from a via point, on top of its reported snap distance."""

EDGE_SLACK_M = 250.0
"""Slack on the approach zones and corridor widths (curved roads between two nodes)."""

PASS_SLACK_M = 50.0
"""A leg passes a checkpoint when it comes this close to the corridor's nearest approach to it."""

STOP_SLACK_S = 1.0
"""Seconds of slack on a checkpoint stop (plan times are whole seconds)."""

#: ``add(code, where, message)``: how a violation is reported.
Report = Callable[[str, str, str], None]


@dataclass
class _Line:
    corridor: Corridor
    line: BaseGeometry
    """The corridor's path in metres (local projection)."""
    band: BaseGeometry
    windows: list[tuple[datetime, datetime]] | None
    checkpoints: list[tuple[str, float, Point, float]]
    """``(id, stop seconds, location in metres, distance of the path from it)``."""


class CorridorChecker:
    """The scenario's corridors, read once, and the checks of each leg against them.

    Parameters
    ----------
    scenario
        The scenario; has ``ceasefire.corridors``.
    plan
        ``plan.json`` as parsed JSON (not trusted).
    report
        Called with ``(code, where, message)`` for each violation found.
    """

    def __init__(self, scenario: Scenario, plan: dict[str, Any], report: Report) -> None:
        self.sc, self.report = scenario, report
        ev = scenario.evacuation
        assert ev is not None
        points = ev.assembly_points if isinstance(ev.assembly_points, list) else []
        self.sites = {a.id: location_lonlat(a.location) for a in points}
        self.sites |= {r.id: location_lonlat(r.location) for r in ev.reception_centres}
        self.assembly = {a.id for a in points}
        starts = [location_lonlat(vt.start) for vt in ev.fleet if not isinstance(vt.start, str)]
        pts = [*self.sites.values(), *starts]
        lon0 = sum(p[0] for p in pts) / len(pts)
        lat0 = sum(p[1] for p in pts) / len(pts)
        self.to_m = pyproj.Transformer.from_crs(
            "EPSG:4326",
            f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m",
            always_xy=True,
        ).transform
        radius = scenario.ceasefire.approach_km * 1000.0 + EDGE_SLACK_M
        self.approach = shapely.union_all([Point(self.to_m(*p)).buffer(radius, 32) for p in pts])
        self.lines = self._read_lines(plan)

    # ------------------------------------------------------------------ corridors

    def _metres(self, coords: list[tuple[float, float]]) -> LineString | Point:
        xy = [self.to_m(x, y) for x, y in coords]
        return LineString(xy) if len(xy) > 1 else Point(xy[0])

    def _read_lines(self, plan: dict[str, Any]) -> list[_Line]:
        given = {c.get("id"): c for c in plan.get("corridors") or [] if isinstance(c, dict)}
        out: list[_Line] = []
        for c in self.sc.ceasefire.corridors:
            part = given.get(c.id)
            path = part.get("path") if isinstance(part, dict) else None
            if (
                not isinstance(part, dict)
                or not isinstance(path, list)
                or not path
                or not all(_is_lonlat(p) for p in path)
            ):
                self.report("corridor_missing", f"corridor {c.id}", "the plan gives no path for it")
                continue
            line = self._metres([(float(p[0]), float(p[1])) for p in path])
            self._check_via(c, part, line)
            cps = []
            for cp in c.checkpoints:
                at = Point(self.to_m(*location_lonlat(cp.location)))
                cps.append((cp.id, cp.stop_min * 60.0, at, line.distance(at)))
            wins = [(w.start, w.end) for w in c.windows] if c.windows is not None else None
            out.append(_Line(c, line, line.buffer(c.width_m + EDGE_SLACK_M, 8), wins, cps))
        return out

    def _check_via(self, c: Corridor, part: dict[str, Any], line: BaseGeometry) -> None:
        """The corridor's path passes its via points, in order."""
        if c.via is None:
            return
        snaps = [v.get("snap_m") for v in part.get("via") or [] if isinstance(v, dict)]
        last = -math.inf
        for k, item in enumerate(c.via):
            ll = self._via_lonlat(item)
            at = Point(self.to_m(*ll))
            given = snaps[k] if k < len(snaps) else None
            snap = float(given) if isinstance(given, int | float) else 0.0
            d = line.distance(at)
            if d > VIA_SLACK_M + snap:
                self.report(
                    "corridor_via",
                    f"corridor {c.id}",
                    f"its path passes via point {k} ({item}) at {d:.0f} m",
                )
                continue
            pos = line.project(at)
            if pos < last - c.width_m:
                self.report(
                    "corridor_via",
                    f"corridor {c.id}",
                    f"its path reaches via point {k} ({item}) before the one listed before it",
                )
            last = max(last, pos)

    def _via_lonlat(self, item: Any) -> tuple[float, float]:
        if isinstance(item, str):
            return self.sites[item] if item in self.sites else location_lonlat(PlaceRef(place=item))
        return location_lonlat(item)

    # ------------------------------------------------------------------ legs

    def check_leg(
        self,
        leg: dict[str, Any],
        where: str,
        frm: str | None,
        to: str | None,
        times: tuple[datetime | None, datetime | None],
        people: int,
        pts: list[tuple[float, float]],
    ) -> None:
        """Check one leg (already read by the verifier) against the corridors."""
        depart, arrive = times
        bound = to in self.assembly or people > 0
        line = self._metres(pts)
        if bound and self.lines:
            self._check_route(where, line, depart, arrive)
        self._check_checkpoints(leg, where, line, (depart, arrive), bound)

    def _open(self, depart: datetime | None, arrive: datetime | None) -> list[_Line]:
        if depart is None or arrive is None:
            return self.lines
        return [
            c
            for c in self.lines
            if c.windows is None or any(a <= depart and arrive <= b for a, b in c.windows)
        ]

    def _check_route(
        self, where: str, line: BaseGeometry, depart: datetime | None, arrive: datetime | None
    ) -> None:
        open_ = self._open(depart, arrive)
        allowed = shapely.union_all([self.approach, *(c.band for c in open_)])
        off = line.difference(allowed)
        if off.length > 1.0 or (off.geom_type == "Point" and not off.is_empty):
            self.report(
                "corridor_route",
                where,
                f"drives {off.length / 1000:.1f} km off the agreed corridors open at its time, outside the sites' approach zones",
            )
        for c in open_:
            if c.corridor.direction == "both":
                continue
            inside = line.intersection(c.band).difference(self.approach)
            pieces = getattr(inside, "geoms", [inside])
            for piece in pieces:
                if piece.is_empty or piece.length < 2 * c.corridor.width_m:
                    continue
                a = c.line.project(Point(piece.coords[0]))
                b = c.line.project(Point(piece.coords[-1]))
                forward = b >= a
                if (
                    forward != (c.corridor.direction == "outbound")
                    and abs(b - a) > c.corridor.width_m
                ):
                    self.report(
                        "corridor_direction",
                        where,
                        f"drives corridor {c.corridor.id} against its direction ({c.corridor.direction})",
                    )
                    break

    def _check_checkpoints(
        self,
        leg: dict[str, Any],
        where: str,
        line: BaseGeometry,
        times: tuple[datetime | None, datetime | None],
        bound: bool,
    ) -> None:
        """Stops at the checkpoints a corridor-bound leg passes; any listed stop is real."""
        depart, arrive = times
        stops = _read_stops(leg.get("checkpoints"))
        if stops is None:
            self.report("format", where, "'checkpoints' is not a list of {id, arrive, depart}")
            return
        passed = []
        for c in self.lines:
            for cid, stop_s, at, d in c.checkpoints:
                if line.distance(at) > d + PASS_SLACK_M + 1.0 or line.length == 0:
                    continue
                if line.project(at) >= line.length - 1.0:
                    continue  # the leg ends there: its stop is the site's
                passed.append((line.project(at), cid, stop_s))
        passed.sort()
        listed = {s[0]: s for s in stops}
        for _pos, cid, stop_s in passed if bound else []:
            got = listed.get(cid)
            if got is None:
                self.report(
                    "corridor_checkpoint", where, f"passes checkpoint {cid} without stopping"
                )
            elif (got[2] - got[1]).total_seconds() < stop_s - STOP_SLACK_S:
                self.report(
                    "corridor_checkpoint",
                    where,
                    f"stops {(got[2] - got[1]).total_seconds() / 60:.0f} min at checkpoint {cid}; agreed {stop_s / 60:.0f} min",
                )
        known = {cid for _p, cid, _s in passed}
        for cid, a, b in stops:
            if cid not in known:
                self.report(
                    "corridor_checkpoint",
                    where,
                    f"lists a stop at checkpoint {cid}, which its path does not pass",
                )
            if depart is not None and arrive is not None and not (depart <= a <= b <= arrive):
                self.report(
                    "corridor_checkpoint",
                    where,
                    f"its stop at checkpoint {cid} is not inside the leg's times",
                )
        order = [cid for _p, cid, _s in passed if cid in listed]
        stopped = [listed[cid][1] for cid in order]
        if stopped != sorted(stopped):
            self.report(
                "corridor_checkpoint",
                where,
                "stops at the checkpoints out of their order along the path",
            )


def _is_lonlat(p: Any) -> bool:
    return (
        isinstance(p, list | tuple)
        and len(p) == 2
        and all(
            isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c) for c in p
        )
    )


def _read_stops(raw: Any) -> list[tuple[str, datetime, datetime]] | None:
    """A leg's checkpoint stops, or ``None`` when they are malformed."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        return None
    out = []
    for s in raw:
        if not isinstance(s, dict) or not isinstance(s.get("id"), str):
            return None
        try:
            a, b = datetime.fromisoformat(s["arrive"]), datetime.fromisoformat(s["depart"])
        except (KeyError, TypeError, ValueError):
            return None
        if a.tzinfo is None or b.tzinfo is None:
            return None
        out.append((s["id"], a, b))
    return out
