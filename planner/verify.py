"""An independent checker of ``plan.json`` against its scenario.

The checker shares no code with the solver: it reads the scenario's hazards, frontline and
crossing points itself, recomputes great-circle lengths, and replays every vehicle's stops
and legs.  It trusts nothing in the plan; a missing or mistyped field is reported as a
``format`` violation, never raised.

Check codes
-----------
``format``
    A field of the plan is missing or has the wrong type.
``unknown_site``, ``unknown_vehicle_type``, ``site_location``
    A site, crossing point or vehicle type the scenario does not define, or a site the plan
    places elsewhere than the scenario.
``fleet_size``
    More vehicles of a type than its ``count``.
``start``
    A vehicle that does not start where its type starts, or moves before ``available_from``.
``closed_hazard``
    A leg's path intersects a closed hazard polygon (touching its boundary counts).
``frontline``
    A leg's path meets the frontline farther than the radius from every crossing point.
``crossing_unlisted``
    A leg passes a crossing point it does not list in ``crossings``, or lists one it does
    not pass.
``crossing_rate``
    More legs through a crossing point in a sliding hour than its ``vehicles_per_hour``.
``seats``
    A load over the vehicle's seats, or seats that differ from the fleet type.
``group_not_allowed``
    A group aboard a vehicle whose type may not carry it.
``load``
    A leg's ``load`` differs from what its vehicle's stops put on board.
``boarded_more_than_waiting``
    More people of a group boarded at an assembly point than wait there.
``board_not_at_assembly``, ``alight_not_at_reception``
    Boarding away from an assembly point, alighting away from a reception centre.
``not_delivered``
    People still on board at the end, or more alighting than are on board.
``reception_capacity``
    A reception centre receiving more people than its capacity.
``outside_window``
    A leg whose ``[depart, arrive]`` lies inside no ceasefire window.
``too_fast``
    A leg shorter in time than its path's great-circle length at the network's top speed
    (plus the delays of the crossing points it passes).
``length``
    A leg's ``length_m`` more than 1 % below its path's great-circle length.
``path_endpoints``
    A path that starts or ends more than 2 km plus the site's snap distance from the site.
``two_places``
    A vehicle whose legs overlap in time or do not chain, or whose stops and legs disagree.
``totals``
    Plan totals or reception figures that differ from what the legs and stops deliver.
``corridor_missing``, ``corridor_via``, ``corridor_route``, ``corridor_direction``, ``corridor_checkpoint``
    Agreed corridors (see :mod:`planner.verify_corridors`).
``convoy_*``
    Convoy rules (``ceasefire.convoys``), see :mod:`planner.verify_convoys`.
``household_split``, ``household_vehicle``, ``household_counts``, ``household_seats``, ``household_unknown``
    A household split across vehicles or reception centres, or on a vehicle that may not
    carry it (see :mod:`planner.verify_households`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import networkx as nx
import numpy as np
import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from planner.errors import NetworkError, PlannerError, ScenarioError
from planner.geofile import Selected, frontline_from_features, select_features
from planner.scenario import GROUPS, Scenario, location_lonlat
from planner.settings import get_settings
from planner.verify_convoys import check_convoys
from planner.verify_corridors import CorridorChecker
from planner.verify_households import household_findings

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius used for great-circle lengths."""

ENDPOINT_SLACK_M = 2000.0
"""How far a path may start or end from its site, on top of the site's snap distance."""

LENGTH_TOLERANCE = 0.01
"""A reported ``length_m`` may fall this share below the great-circle length of its path."""

SPEED_TOLERANCE_S = 2.0
"""Seconds of slack on the minimum leg duration (plan times are rounded to whole seconds)."""

SPEED_TOLERANCE_REL = 0.001
"""Relative slack on the minimum leg duration."""

FALLBACK_TOP_SPEED_KPH = 130.0
"""Top speed assumed when the scenario's road network cannot be loaded."""

INTERNAL_ERROR = "cannot be checked further: a field has an unexpected shape"
"""Message of the ``format`` violation raised when a check meets a shape it did not foresee."""

RATE_TOLERANCE_S = 1.0
"""Departures this close to an hour apart count as in different hours (times are rounded)."""

SITE_LOCATION_TOLERANCE_M = 5.0
"""How far the plan may place a scenario site from the scenario's location (rounding)."""


@dataclass(frozen=True)
class Violation:
    """One way in which a plan breaks its scenario.

    Parameters
    ----------
    code
        Short machine-readable kind of violation (see the module documentation).
    vehicle
        The vehicle concerned, if any.
    where
        Where in the plan: a vehicle's leg or stop, a site, a crossing point, a field.
    message
        What is wrong, in words.
    """

    code: str
    vehicle: str | None
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.code}] {self.where}: {self.message}"


# --------------------------------------------------------------------------- geometry


def _haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, max(0.0, a))))


def _path_length_m(coords: list[tuple[float, float]]) -> float:
    if len(coords) < 2:
        return 0.0
    arr = np.radians(np.asarray(coords, dtype=float))
    lon, lat = arr[:, 0], arr[:, 1]
    a = (
        np.sin(np.diff(lat) / 2) ** 2
        + np.cos(lat[:-1]) * np.cos(lat[1:]) * np.sin(np.diff(lon) / 2) ** 2
    )
    return float((2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))).sum())


def _points(geom: BaseGeometry) -> list[Point]:
    """Points where a path meets the frontline (ends of a collinear overlap count)."""
    if geom.is_empty:
        return []
    if geom.geom_type == "Point":
        return [geom]
    if geom.geom_type == "LineString":
        return [Point(geom.coords[0]), Point(geom.coords[-1])]
    if hasattr(geom, "geoms"):
        out: list[Point] = []
        for part in geom.geoms:
            out.extend(_points(part))
        return out
    return [geom.representative_point()]


@dataclass(frozen=True)
class _Crossing:
    id: str
    lon: float
    lat: float
    radius_m: float
    delay_s: float
    vehicles_per_hour: float | None
    closed_from: datetime | None = None


@dataclass
class _Geo:
    """The scenario's geometry, read independently of the network module."""

    closed_ids: list[str]
    closed_from: list[datetime | None]
    closed_tree: shapely.STRtree | None
    closed_geoms: list[BaseGeometry]
    frontline: BaseGeometry | None
    crossings: dict[str, _Crossing]


def _read_geofile(scenario: Scenario, field_name: str, file: str, layer: str | None) -> Any:
    import geopandas as gpd

    path = scenario.resolve_path(file)
    try:
        gdf = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types; one line is enough
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScenarioError(
            scenario.source_name(), field_name, f"cannot read {path}: {msg}"
        ) from None
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    elif gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    return gdf


def _read_geometry(scenario: Scenario) -> _Geo:
    src = scenario.source_name()
    ids: list[str] = []
    geoms: list[BaseGeometry] = []
    since: dict[str, datetime | None] = {}
    for i, h in enumerate(scenario.hazards):
        if h.file is not None:
            gdf = _read_geofile(scenario, f"hazards.{i}.file", h.file, h.layer)
            sel = Selected.read(select_features(gdf, h.where, src, f"hazards.{i}"))
            dissolved: list[BaseGeometry] = []
            for j, (props, parts) in enumerate(sel.features):
                kind = props.get("kind")
                kind = str(kind) if isinstance(kind, str) and kind else h.kind
                if kind != "closed":
                    continue
                geom = parts[0] if len(parts) == 1 else shapely.union_all(parts)
                if h.dissolve:
                    dissolved.append(geom)
                    continue
                fid = props.get("id")
                ids.append(
                    str(fid)
                    if isinstance(fid, str | int) and fid != ""
                    else (h.id or f"hazard-{i}-{j}")
                )
                since[ids[-1]] = h.active_from
                geoms.append(geom)
            if dissolved:
                ids.append(h.id or f"hazard-{i}")
                since[ids[-1]] = h.active_from
                geoms.append(shapely.union_all(dissolved))
        elif h.kind == "closed":
            if h.polygon is not None:
                ring = list(h.polygon)
                if ring[0] != ring[-1]:
                    ring.append(ring[0])
                geom = shapely.Polygon(ring)
            else:
                try:
                    geom = shapely.geometry.shape(h.geometry)
                except Exception as exc:
                    raise ScenarioError(
                        src, f"hazards.{i}.geometry", f"not a GeoJSON geometry: {exc}"
                    ) from None
            ids.append(h.id or f"hazard-{i}")
            since[ids[-1]] = h.active_from
            geoms.append(geom)
    keep = [(i, g) for i, g in zip(ids, geoms, strict=True) if g is not None and not g.is_empty]
    ids = [i for i, _ in keep]
    geoms = [g if g.is_valid else shapely.make_valid(g) for _, g in keep]
    tree = shapely.STRtree(geoms) if geoms else None

    frontline: BaseGeometry | None = None
    fl = scenario.frontline
    if fl is not None:
        if fl.coordinates is not None:
            frontline = LineString(fl.coordinates)
        elif fl.file is not None:
            gdf = _read_geofile(scenario, "frontline.file", fl.file, fl.layer)
            frontline, _dropped = frontline_from_features(
                select_features(gdf, fl.where, src, "frontline"), dissolve=fl.dissolve
            )
            if frontline is None:
                raise ScenarioError(src, "frontline.file", "holds no line or polygon")
        else:
            try:
                from planner.regional import load_regional_frontline

                frontline = load_regional_frontline()
            except (ImportError, OSError, PlannerError) as exc:
                raise ScenarioError(
                    src, "frontline.bundled", f"the bundled frontline is unavailable: {exc}"
                ) from None
    radius = get_settings().crossing_radius_m
    crossings: dict[str, _Crossing] = {}
    for c in scenario.ceasefire.crossing_points:
        lon, lat = location_lonlat(c.location)
        crossings[c.id] = _Crossing(
            id=c.id,
            lon=lon,
            lat=lat,
            radius_m=c.radius_m if c.radius_m is not None else radius,
            delay_s=c.delay_min * 60.0,
            vehicles_per_hour=c.vehicles_per_hour,
            closed_from=c.closed_from,
        )
    return _Geo(
        closed_ids=ids,
        closed_from=[since.get(i) for i in ids],
        closed_tree=tree,
        closed_geoms=geoms,
        frontline=frontline,
        crossings=crossings,
    )


def _graph_top_speed_kph(graph: nx.MultiDiGraph) -> float | None:
    best: float | None = None
    for _u, _v, d in graph.edges(data=True):
        cands = []
        sp = d.get("speed_kph")
        if isinstance(sp, int | float) and math.isfinite(sp) and sp > 0:
            cands.append(float(sp))
        length, tt = d.get("length"), d.get("travel_time")
        if (
            isinstance(length, int | float)
            and isinstance(tt, int | float)
            and tt > 0
            and length >= 0
        ):
            cands.append(float(length) / float(tt) * 3.6)
        for c in cands:
            best = c if best is None else max(best, c)
    return best


def top_speed_kph(scenario: Scenario, graph: nx.MultiDiGraph | None = None) -> float:
    """The fastest speed any road of the scenario's network allows.

    Parameters
    ----------
    scenario
        The scenario; its ``network`` section says where roads come from.
    graph
        A preloaded road graph; when absent, ``planner.network.build_network`` loads the
        scenario's (for ``source: regional`` that is the bundled regional network).

    Returns
    -------
    float
        km/h: the largest edge ``speed_kph`` (or ``length / travel_time``), never below a
        speed set in ``network.speeds_kph``; :data:`FALLBACK_TOP_SPEED_KPH` when the
        network cannot be loaded.
    """
    best: float | None = None
    if graph is None:
        try:
            from planner.network import build_network

            graph = build_network(scenario)
        except (ImportError, OSError, PlannerError, NetworkError):
            graph = None
    if graph is not None:
        best = _graph_top_speed_kph(graph)
    overrides = [float(v) for v in scenario.network.speeds_kph.values()]
    if best is None:
        best = max([FALLBACK_TOP_SPEED_KPH, *overrides])
    elif overrides:
        best = max(best, *overrides)
    return best


# --------------------------------------------------------------------------- plan reading


class _Checker:
    def __init__(self, scenario: Scenario, plan: Any, top_kph: float, geo: _Geo) -> None:
        self.sc = scenario
        self.plan = plan
        self.top_mps = top_kph / 3.6
        self.geo = geo
        self.out: list[Violation] = []
        ev = scenario.evacuation
        self.assembly = {a.id: a for a in ev.assembly_points}
        self.reception = {r.id: r for r in ev.reception_centres}
        self.fleet = {vt.type: vt for vt in ev.fleet}
        self.site_loc: dict[str, tuple[float, float]] = {}
        for a in ev.assembly_points:
            self.site_loc[a.id] = location_lonlat(a.location)
        for r in ev.reception_centres:
            self.site_loc[r.id] = location_lonlat(r.location)
        self.snap_m: dict[str, float] = {}
        self.start_sites: set[str] = set()
        self.windows = [(w.start, w.end) for w in scenario.ceasefire.windows]
        self._path_cache: dict[tuple[tuple[float, float], ...], dict[str, Any]] = {}
        # aggregates
        self.boarded: dict[tuple[str, str], int] = defaultdict(int)
        self.received: dict[str, int] = defaultdict(int)
        self.delivered: dict[str, int] = defaultdict(int)
        self.crossing_times: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        # set when some stop could not be read: the plan's own totals are then not compared
        self.incomplete = False
        self.corridors: CorridorChecker | None = None

    # ----------------------------------------------------------------- helpers

    def add(self, code: str, where: str, message: str, vehicle: str | None = None) -> None:
        self.out.append(Violation(code=code, vehicle=vehicle, where=where, message=message))

    def field(
        self,
        obj: Any,
        key: str,
        types: type | tuple[type, ...],
        where: str,
        vehicle: str | None = None,
    ) -> Any:
        """``obj[key]`` if present and of ``types``, else ``None`` and a ``format`` violation."""
        if not isinstance(obj, dict):
            self.add("format", where, "is not an object", vehicle)
            return None
        if key not in obj:
            self.add("format", where, f"'{key}' is missing", vehicle)
            return None
        val = obj[key]
        ok = isinstance(val, types)
        if (
            ok
            and isinstance(val, bool)
            and bool not in (types if isinstance(types, tuple) else (types,))
        ):
            ok = False
        if ok and isinstance(val, float) and not math.isfinite(val):
            ok = False
        if not ok:
            self.add("format", where, f"'{key}' has the wrong type ({type(val).__name__})", vehicle)
            return None
        return val

    def time(self, obj: Any, key: str, where: str, vehicle: str | None) -> datetime | None:
        text = self.field(obj, key, str, where, vehicle)
        if text is None:
            return None
        try:
            t = datetime.fromisoformat(text)
        except ValueError:
            self.add("format", where, f"'{key}' is not an ISO 8601 time: {text!r}", vehicle)
            return None
        if t.tzinfo is None or t.utcoffset() is None:
            self.add("format", where, f"'{key}' has no timezone offset: {text!r}", vehicle)
            return None
        return t

    def counts(self, obj: Any, key: str, where: str, vehicle: str | None) -> dict[str, int] | None:
        raw = self.field(obj, key, dict, where, vehicle)
        if raw is None:
            return None
        out: dict[str, int] = {}
        for g, n in raw.items():
            if g not in GROUPS:
                self.add("format", where, f"'{key}' names an unknown group {g!r}", vehicle)
                continue
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                self.add("format", where, f"'{key}.{g}' is not a count of people ({n!r})", vehicle)
                continue
            out[g] = n
        return out

    def coords(self, obj: Any, where: str, vehicle: str | None) -> list[tuple[float, float]] | None:
        raw = self.field(obj, "path", list, where, vehicle)
        if raw is None:
            return None
        pts: list[tuple[float, float]] = []
        for p in raw:
            if (
                not isinstance(p, list | tuple)
                or len(p) != 2
                or not all(
                    isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c)
                    for c in p
                )
                or not (-180 <= p[0] <= 180 and -90 <= p[1] <= 90)
            ):
                self.add(
                    "format", where, f"'path' holds a point that is not [lon, lat]: {p!r}", vehicle
                )
                return None
            pts.append((float(p[0]), float(p[1])))
        if not pts:
            self.add("format", where, "'path' is empty", vehicle)
            return None
        return pts

    def known_site(self, site: str) -> bool:
        return site in self.site_loc

    # ----------------------------------------------------------------- sites

    def read_sites(self) -> None:
        sites = self.field(self.plan, "sites", list, "plan")
        starts_by_loc = {
            vt.type: location_lonlat(vt.start)
            for vt in self.sc.evacuation.fleet
            if not isinstance(vt.start, str)
        }
        for i, s in enumerate(sites or []):
            where = f"sites[{i}]"
            sid = self.field(s, "id", str, where)
            kind = self.field(s, "kind", str, where)
            loc = s.get("location") if isinstance(s, dict) else None
            snap = self.field(s, "snap_m", (int, float), where)
            if sid is None:
                continue
            where = f"site {sid}"
            if snap is not None:
                if snap < 0:
                    self.add("format", where, f"'snap_m' is negative ({snap})")
                else:
                    self.snap_m[sid] = float(snap)
            lonlat: tuple[float, float] | None = None
            if (
                isinstance(loc, list | tuple)
                and len(loc) == 2
                and all(isinstance(c, int | float) and not isinstance(c, bool) for c in loc)
            ):
                lonlat = (float(loc[0]), float(loc[1]))
            else:
                self.add("format", where, f"'location' is not [lon, lat]: {loc!r}")
            if sid in self.site_loc:
                want = "assembly" if sid in self.assembly else "reception"
                if kind is not None and kind not in {want, "start"}:
                    self.add(
                        "unknown_site", where, f"is a {want} site in the scenario, not {kind!r}"
                    )
                if lonlat is not None:
                    d = _haversine_m(*lonlat, *self.site_loc[sid])
                    if d > SITE_LOCATION_TOLERANCE_M:
                        self.add(
                            "site_location",
                            where,
                            f"the plan places it {d:.0f} m from the scenario's location",
                        )
            elif kind == "start" and lonlat is not None:
                near = [
                    t
                    for t, ll in starts_by_loc.items()
                    if _haversine_m(*lonlat, *ll) <= SITE_LOCATION_TOLERANCE_M
                ]
                if near:
                    self.site_loc[sid] = lonlat
                    self.start_sites.add(sid)
                else:
                    self.add(
                        "unknown_site",
                        where,
                        "is a start site no vehicle type of the scenario starts at",
                    )
            else:
                self.add("unknown_site", where, "is not a site of the scenario")

    # ----------------------------------------------------------------- paths

    def analyse_path(self, pts: list[tuple[float, float]]) -> dict[str, Any]:
        key = tuple(pts)
        hit = self._path_cache.get(key)
        if hit is not None:
            return hit
        geom: BaseGeometry = LineString(pts) if len(pts) >= 2 else Point(pts[0])
        closed: list[str] = []
        if self.geo.closed_tree is not None:
            idx = self.geo.closed_tree.query(geom, predicate="intersects")
            closed = sorted({self.geo.closed_ids[int(i)] for i in idx})
        bad_points: list[tuple[float, float]] = []
        passed: list[str] = []
        if self.geo.frontline is not None and geom.intersects(self.geo.frontline):
            for p in _points(geom.intersection(self.geo.frontline)):
                near = [
                    (d, c.id)
                    for c in self.geo.crossings.values()
                    if (d := _haversine_m(p.x, p.y, c.lon, c.lat)) <= c.radius_m
                ]
                if near:
                    passed.append(min(near)[1])
                else:
                    bad_points.append((round(p.x, 5), round(p.y, 5)))
        result = {
            "gc_m": _path_length_m(pts),
            "closed": closed,
            "frontline_bad": bad_points,
            "passed": list(dict.fromkeys(passed)),
        }
        self._path_cache[key] = result
        return result

    # ----------------------------------------------------------------- vehicles

    def check_vehicles(self) -> None:
        vehicles = self.field(self.plan, "vehicles", list, "plan")
        if vehicles is None:
            return
        per_type: dict[str, int] = defaultdict(int)
        seen: set[str] = set()
        for i, v in enumerate(vehicles):
            vid = self.field(v, "id", str, f"vehicles[{i}]")
            label = vid if vid is not None else f"vehicles[{i}]"
            if vid is not None:
                if vid in seen:
                    self.add(
                        "format", f"vehicle {vid}", "the vehicle id is used more than once", vid
                    )
                seen.add(vid)
            vtype = self.field(v, "type", str, f"vehicle {label}", vid)
            if vtype is not None:
                per_type[vtype] += 1
            self.check_vehicle(v, label, vid, vtype)
        for t, n in per_type.items():
            vt = self.fleet.get(t)
            if vt is not None and n > vt.count:
                self.add(
                    "fleet_size",
                    f"fleet {t}",
                    f"{n} vehicles in the plan, the scenario has {vt.count}",
                )

    def check_vehicle(self, v: Any, label: str, vid: str | None, vtype: str | None) -> None:
        where = f"vehicle {label}"
        vt = self.fleet.get(vtype) if vtype is not None else None
        if vtype is not None and vt is None:
            self.add(
                "unknown_vehicle_type", where, f"type {vtype!r} is not in the scenario's fleet", vid
            )
        seats = self.field(v, "seats", int, where, vid)
        if vt is not None and seats is not None and seats != vt.seats:
            self.add("seats", where, f"has {seats} seats, type {vt.type} has {vt.seats}", vid)
        cap = vt.seats if vt is not None else seats
        allowed = set(vt.groups) if vt is not None else None
        groups = self.field(v, "groups", list, where, vid)
        if allowed is not None and groups is not None:
            extra = sorted(str(g) for g in groups if not isinstance(g, str) or g not in allowed)
            if extra:
                self.add(
                    "group_not_allowed",
                    where,
                    f"lists {', '.join(extra)}, which type {vt.type} may not carry",
                    vid,
                )
        start = self.field(v, "start", str, where, vid)
        if start is not None and vt is not None:
            if isinstance(vt.start, str):
                if start != vt.start:
                    self.add(
                        "start",
                        where,
                        f"starts at {start}, type {vt.type} starts at {vt.start}",
                        vid,
                    )
            else:
                want = location_lonlat(vt.start)
                loc = self.site_loc.get(start)
                if loc is None or _haversine_m(*loc, *want) > SITE_LOCATION_TOLERANCE_M:
                    self.add(
                        "start",
                        where,
                        f"starts at {start}, type {vt.type} starts at {list(want)}",
                        vid,
                    )
        stops = self.field(v, "stops", list, where, vid)
        if stops is None:
            self.incomplete = True
            stops = []
        legs = self.field(v, "legs", list, where, vid) or []

        # --- parse stops
        pstops: list[dict[str, Any] | None] = []
        for j, s in enumerate(stops):
            w = f"{where} stop {j}"
            site = self.field(s, "site", str, w, vid)
            if site is not None:
                w = f"{where} stop {j} ({site})"
                if not self.known_site(site):
                    self.add("unknown_site", w, f"site {site!r} is not in the scenario", vid)
            rec = {
                "site": site,
                "arrive": self.time(s, "arrive", w, vid),
                "depart": self.time(s, "depart", w, vid),
                "board": self.counts(s, "board", w, vid),
                "alight": self.counts(s, "alight", w, vid),
                "where": w,
            }
            if (
                rec["arrive"] is not None
                and rec["depart"] is not None
                and rec["depart"] < rec["arrive"]
            ):
                self.add("two_places", w, "departs before it arrives", vid)
            pstops.append(rec)

        # --- parse and check legs
        pleg: list[dict[str, Any]] = []
        for j, leg in enumerate(legs):
            pleg.append(self.check_leg(leg, j, where, vid, cap, allowed))

        # --- chain legs
        prev: dict[str, Any] | None = None
        for lg in pleg:
            if prev is None:
                if start is not None and lg["from"] is not None and lg["from"] != start:
                    self.add(
                        "start",
                        lg["where"],
                        f"the first leg leaves {lg['from']}, the vehicle starts at {start}",
                        vid,
                    )
                if (
                    vt is not None
                    and vt.available_from is not None
                    and lg["depart"] is not None
                    and lg["depart"] < vt.available_from
                ):
                    self.add(
                        "start",
                        lg["where"],
                        f"departs {lg['depart'].isoformat()}, before type {vt.type} is available "
                        f"({vt.available_from.isoformat()})",
                        vid,
                    )
            else:
                if prev["to"] is not None and lg["from"] is not None and lg["from"] != prev["to"]:
                    self.add(
                        "two_places",
                        lg["where"],
                        f"leaves {lg['from']} but the previous leg ended at {prev['to']}",
                        vid,
                    )
                if (
                    prev["arrive"] is not None
                    and lg["depart"] is not None
                    and lg["depart"] < prev["arrive"]
                ):
                    self.add(
                        "two_places",
                        lg["where"],
                        f"departs {lg['depart'].isoformat()}, before the previous leg arrives "
                        f"({prev['arrive'].isoformat()})",
                        vid,
                    )
            prev = lg

        # --- pair stops with legs
        offset = 0
        paired = True
        if len(pstops) == len(pleg) + 1:
            first = pstops[0]
            if (
                first is not None
                and first["site"] is not None
                and start is not None
                and first["site"] != start
            ):
                self.add(
                    "two_places",
                    first["where"],
                    f"a stop at {first['site']} that no leg leads to",
                    vid,
                )
            elif (
                first is not None
                and pleg
                and first["depart"] is not None
                and pleg[0]["depart"] is not None
                and pleg[0]["depart"] < first["depart"]
            ):
                self.add(
                    "two_places",
                    pleg[0]["where"],
                    "departs before the vehicle's first stop ends",
                    vid,
                )
            offset = 1
        elif len(pstops) != len(pleg):
            self.add("two_places", where, f"has {len(pleg)} legs but {len(pstops)} stops", vid)
            paired = False
        if paired:
            for j, lg in enumerate(pleg):
                st = pstops[j + offset]
                if st is None:
                    continue
                if st["site"] is not None and lg["to"] is not None and st["site"] != lg["to"]:
                    self.add(
                        "two_places",
                        st["where"],
                        f"is at {st['site']} but leg {j} drives to {lg['to']}",
                        vid,
                    )
                if (
                    st["arrive"] is not None
                    and lg["arrive"] is not None
                    and st["arrive"] < lg["arrive"]
                ):
                    self.add(
                        "two_places",
                        st["where"],
                        f"starts {st['arrive'].isoformat()}, before leg {j} arrives ({lg['arrive'].isoformat()})",
                        vid,
                    )
                if j + 1 < len(pleg):
                    nxt = pleg[j + 1]
                    if nxt["depart"] is not None:
                        if st["arrive"] is not None and nxt["depart"] < st["arrive"]:
                            self.add(
                                "two_places",
                                nxt["where"],
                                "departs before the vehicle arrived at that stop",
                                vid,
                            )
                        elif st["depart"] is not None and nxt["depart"] < st["depart"]:
                            self.add(
                                "two_places",
                                nxt["where"],
                                "departs before the vehicle's stop there ends",
                                vid,
                            )

        # --- replay people on board
        onboard = dict.fromkeys(GROUPS, 0)
        on_known = True

        def expect_load(j: int) -> None:
            lg = pleg[j]
            if lg["load"] is None or not on_known:
                return
            want = {g: n for g, n in onboard.items() if n}
            if want != lg["load"]:
                self.add(
                    "load",
                    lg["where"],
                    f"carries {lg['load']} but its stops put {want} on board",
                    vid,
                )

        if paired and offset == 0 and pleg:
            expect_load(0)
        for k, st in enumerate(pstops):
            if st is None:
                continue
            site = st["site"]
            alight, board = st["alight"], st["board"]
            if alight is None or board is None:
                on_known = False
                self.incomplete = True
            for g, n in (alight or {}).items():
                if n == 0:
                    continue
                if site is not None and site not in self.reception:
                    self.add(
                        "alight_not_at_reception",
                        st["where"],
                        f"{n} {g} alight at {site}, not a reception centre",
                        vid,
                    )
                elif site is not None:
                    self.received[site] += n
                self.delivered[g] += n
                if n > onboard[g]:
                    self.add(
                        "not_delivered",
                        st["where"],
                        f"{n} {g} alight but only {onboard[g]} are on board",
                        vid,
                    )
                onboard[g] = max(0, onboard[g] - n)
            for g, n in (board or {}).items():
                if n == 0:
                    continue
                if allowed is not None and g not in allowed:
                    self.add(
                        "group_not_allowed",
                        st["where"],
                        f"{n} {g} board a {vt.type if vt else ''} that may not carry them",
                        vid,
                    )
                if site is not None and site not in self.assembly:
                    self.add(
                        "board_not_at_assembly",
                        st["where"],
                        f"{n} {g} board at {site}, not an assembly point",
                        vid,
                    )
                elif site is not None:
                    self.boarded[(site, g)] += n
                onboard[g] += n
            total = sum(onboard.values())
            if cap is not None and total > cap:
                self.add(
                    "seats",
                    st["where"],
                    f"{total} people on board, the vehicle has {cap} seats",
                    vid,
                )
            if paired and k - offset + 1 < len(pleg) and k - offset + 1 >= 0:
                expect_load(k - offset + 1)
        left = {g: n for g, n in onboard.items() if n}
        if left:
            self.add("not_delivered", where, f"still has {left} on board at the end", vid)

    def check_leg(
        self,
        leg: Any,
        j: int,
        vwhere: str,
        vid: str | None,
        cap: int | None,
        allowed: set[str] | None,
    ) -> dict[str, Any]:
        w = f"{vwhere} leg {j}"
        frm = self.field(leg, "from", str, w, vid)
        to = self.field(leg, "to", str, w, vid)
        if frm is not None and to is not None:
            w = f"{vwhere} leg {j} ({frm}→{to})"
        for s in (frm, to):
            if s is not None and not self.known_site(s):
                self.add("unknown_site", w, f"site {s!r} is not in the scenario", vid)
        depart = self.time(leg, "depart", w, vid)
        arrive = self.time(leg, "arrive", w, vid)
        load = self.counts(leg, "load", w, vid)
        pts = self.coords(leg, w, vid)
        length = self.field(leg, "length_m", (int, float), w, vid)
        raw_cross = self.field(leg, "crossings", list, w, vid)
        listed: list[str] | None = None
        if raw_cross is not None:
            listed = []
            for c in raw_cross:
                if not isinstance(c, str):
                    self.add("format", w, f"'crossings' holds a non-id {c!r}", vid)
                elif c not in self.geo.crossings:
                    self.add(
                        "unknown_site",
                        w,
                        f"lists crossing point {c!r}, which the scenario does not define",
                        vid,
                    )
                else:
                    listed.append(c)
        if load is not None:
            total = sum(load.values())
            if cap is not None and total > cap:
                self.add("seats", w, f"carries {total} people, the vehicle has {cap} seats", vid)
            if allowed is not None:
                for g, n in load.items():
                    if n and g not in allowed:
                        self.add(
                            "group_not_allowed",
                            w,
                            f"carries {n} {g}, which this vehicle type may not carry",
                            vid,
                        )

        if depart is not None and arrive is not None:
            inside = any(a <= depart and arrive <= b for a, b in self.windows)
            if not inside:
                self.add(
                    "outside_window",
                    w,
                    f"drives {depart.isoformat()} – {arrive.isoformat()}, inside no ceasefire window",
                    vid,
                )

        if pts is not None:
            info = self.analyse_path(pts)
            for hid in info["closed"]:
                appears = self.geo.closed_from[self.geo.closed_ids.index(hid)]
                if appears is not None and depart is not None and depart < appears:
                    continue  # the hazard appeared after this leg set off
                self.add("closed_hazard", w, f"the path enters closed area {hid}", vid)
            for p in info["frontline_bad"]:
                self.add(
                    "frontline",
                    w,
                    f"the path crosses the frontline at {list(p)}, away from every crossing point",
                    vid,
                )
            passed: list[str] = info["passed"]
            if listed is not None:
                for c in passed:
                    if c not in listed:
                        self.add(
                            "crossing_unlisted",
                            w,
                            f"the path passes crossing point {c} but does not list it",
                            vid,
                        )
                for c in dict.fromkeys(listed):
                    if c not in passed:
                        self.add(
                            "crossing_unlisted",
                            w,
                            f"lists crossing point {c} but its path does not pass it",
                            vid,
                        )
            if depart is not None:
                for c in dict.fromkeys([*passed, *(listed or [])]):
                    self.crossing_times[c].append((depart, w))
                    cp = self.geo.crossings.get(c)
                    if cp is not None and cp.closed_from is not None and depart >= cp.closed_from:
                        self.add("frontline", w, f"uses crossing point {c}, closed since {cp.closed_from.isoformat()}", vid)
            gc = info["gc_m"]
            if length is not None:
                if length < 0:
                    self.add("format", w, f"'length_m' is negative ({length})", vid)
                elif length < gc * (1.0 - LENGTH_TOLERANCE):
                    self.add(
                        "length",
                        w,
                        f"reports {length:.0f} m, its path is at least {gc:.0f} m long",
                        vid,
                    )
            if depart is not None and arrive is not None:
                delay = sum(self.geo.crossings[c].delay_s for c in passed)
                need = gc / self.top_mps + delay
                took = (arrive - depart).total_seconds()
                if took < need * (1.0 - SPEED_TOLERANCE_REL) - SPEED_TOLERANCE_S:
                    self.add(
                        "too_fast",
                        w,
                        f"takes {took / 60:.1f} min for {gc / 1000:.1f} km"
                        + (f" and {delay / 60:.0f} min at crossings" if delay else "")
                        + f"; at {self.top_mps * 3.6:.0f} km/h it needs at least {need / 60:.1f} min",
                        vid,
                    )
            for s, p, end in ((frm, pts[0], "starts"), (to, pts[-1], "ends")):
                if s is None or s not in self.site_loc:
                    continue
                d = _haversine_m(*p, *self.site_loc[s])
                slack = ENDPOINT_SLACK_M + self.snap_m.get(s, 0.0)
                if d > slack:
                    self.add(
                        "path_endpoints",
                        w,
                        f"the path {end} {d:.0f} m from {s} (allowed {slack:.0f} m)",
                        vid,
                    )
            if self.corridors is not None and isinstance(leg, dict):
                people = sum(load.values()) if load else 0
                self.corridors.check_leg(leg, w, frm, to, (depart, arrive), people, pts)
        elif depart is not None and arrive is not None and arrive < depart:
            self.add("too_fast", w, "arrives before it departs", vid)
        return {"from": frm, "to": to, "depart": depart, "arrive": arrive, "load": load, "where": w}

    # ----------------------------------------------------------------- aggregates

    def check_aggregates(self) -> None:
        for (site, g), n in sorted(self.boarded.items()):
            waiting = self.assembly[site].people.as_dict()[g]
            if n > waiting:
                self.add(
                    "boarded_more_than_waiting",
                    f"site {site}",
                    f"{n} {g} board, only {waiting} wait there",
                )
        for rid, rc in self.reception.items():
            got = self.received.get(rid, 0)
            if got > rc.capacity:
                self.add(
                    "reception_capacity",
                    f"site {rid}",
                    f"receives {got} people, capacity {rc.capacity}",
                )
        receptions = self.field(self.plan, "receptions", list, "plan")
        for i, r in enumerate(receptions or []):
            rid = self.field(r, "id", str, f"receptions[{i}]")
            got = self.field(r, "received", int, f"receptions[{i}]")
            if rid is None or got is None:
                continue
            if rid not in self.reception:
                self.add(
                    "unknown_site",
                    f"receptions[{i}]",
                    f"{rid!r} is not a reception centre of the scenario",
                )
            elif got != self.received.get(rid, 0) and not self.incomplete:
                self.add(
                    "totals",
                    f"site {rid}",
                    f"the plan says {got} received, its stops deliver {self.received.get(rid, 0)}",
                )
        for c, events in sorted(self.crossing_times.items()):
            cp = self.geo.crossings.get(c)
            if cp is None or cp.vehicles_per_hour is None:
                continue
            self.check_rate(cp, sorted(events, key=lambda e: e[0]))
        self.check_totals()

    def check_rate(self, cp: _Crossing, events: list[tuple[datetime, str]]) -> None:
        vph = float(cp.vehicles_per_hour or 0.0)
        if vph >= 1.0:
            span, limit = timedelta(hours=1), math.floor(vph)
        else:  # fewer than one an hour: at most one in every 1/vph hours
            span, limit = timedelta(hours=1.0 / vph), 1
        worst, worst_at = 0, None
        hi = 0
        for lo, (t, _w) in enumerate(events):
            hi = max(hi, lo)
            while hi < len(events) and events[hi][0] < t + span - timedelta(
                seconds=RATE_TOLERANCE_S
            ):
                hi += 1
            n = hi - lo
            if n > worst:
                worst, worst_at = n, t
        if worst > limit and worst_at is not None:
            mins = span.total_seconds() / 60
            self.add(
                "crossing_rate",
                f"crossing point {cp.id}",
                f"{worst} legs cross within {mins:.0f} min from {worst_at.isoformat()} "
                f"(limit {vph:g} vehicles/h; crossing time taken as the leg's departure)",
            )

    def check_totals(self) -> None:
        requested = {g: 0 for g in GROUPS}
        for a in self.assembly.values():
            for g, n in a.people.as_dict().items():
                requested[g] += n
        for g in GROUPS:
            if self.delivered.get(g, 0) > requested[g]:
                self.add(
                    "totals",
                    f"group {g}",
                    f"{self.delivered[g]} delivered, only {requested[g]} requested",
                )
        totals = self.field(self.plan, "totals", dict, "plan")
        if totals is None:
            return
        evac = self.counts_with_total(totals, "evacuated")
        if evac is not None:
            for g in GROUPS:
                got = evac.get(g, 0)
                if got != self.delivered.get(g, 0) and not self.incomplete:
                    self.add(
                        "totals",
                        f"totals.evacuated.{g}",
                        f"says {got}, the stops deliver {self.delivered.get(g, 0)}",
                    )
                if got > requested[g]:
                    self.add(
                        "totals",
                        f"totals.evacuated.{g}",
                        f"says {got}, more than the {requested[g]} requested",
                    )
            if "total" in evac and evac["total"] != sum(evac.get(g, 0) for g in GROUPS):
                self.add(
                    "totals",
                    "totals.evacuated.total",
                    f"says {evac['total']}, its groups sum to {sum(evac.get(g, 0) for g in GROUPS)}",
                )
        req = self.counts_with_total(totals, "requested")
        if req is not None:
            for g in GROUPS:
                if req.get(g, 0) != requested[g]:
                    self.add(
                        "totals",
                        f"totals.requested.{g}",
                        f"says {req.get(g, 0)}, the scenario has {requested[g]}",
                    )

    def counts_with_total(self, totals: dict[str, Any], key: str) -> dict[str, int] | None:
        raw = self.field(totals, key, dict, "totals")
        if raw is None:
            return None
        out: dict[str, int] = {}
        for g, n in raw.items():
            if g not in (*GROUPS, "total") or isinstance(n, bool) or not isinstance(n, int):
                self.add("format", f"totals.{key}", f"{g!r}: {n!r} is not a group count")
                continue
            out[g] = n
        return out

    def read_corridors(self) -> None:
        if self.sc.ceasefire.corridors:
            self.corridors = CorridorChecker(
                self.sc, self.plan, lambda code, where, msg: self.add(code, where, msg)
            )

    def check_convoys(self) -> None:
        check_convoys(self.sc, self.plan, self.snap_m, self.add)
    def check_households(self) -> None:
        for code, where, message, vid in household_findings(self.sc, self.plan):
            self.add(code, where, message, vid)

    def run(self) -> list[Violation]:
        if not isinstance(self.plan, dict):
            self.add("format", "plan", "is not a JSON object")
            return self.out
        for step in (
            self.read_corridors,
            self.read_sites,
            self.check_vehicles,
            self.check_aggregates,
            self.check_convoys,
            self.check_households,
        ):
            try:
                step()
            except Exception as exc:  # a plan shaped in a way no check foresaw
                self.add("format", "plan", f"{INTERNAL_ERROR} ({type(exc).__name__}: {exc})")
        return self.out


# --------------------------------------------------------------------------- public API


def verify_plan(
    scenario: Scenario, plan: dict[str, Any], *, graph: nx.MultiDiGraph | None = None
) -> list[Violation]:
    """Check a plan against its scenario and return every violation found.

    The plan is read as raw JSON and not trusted: missing or mistyped fields become
    ``format`` violations.  Hazards, the frontline and crossing points are read from the
    scenario independently of the solver.

    Parameters
    ----------
    scenario
        The validated scenario the plan claims to satisfy.
    plan
        ``plan.json`` as parsed by :func:`json.loads`.
    graph
        The road graph the plan was made on, used only for the top speed of the network.
        When absent the scenario's network is loaded (see :func:`top_speed_kph`).

    Returns
    -------
    list of Violation
        Empty when the plan is clean.

    Raises
    ------
    ScenarioError
        If a layer file named by the scenario cannot be read.

    Notes
    -----
    The ``crossing_rate`` check takes a leg's departure as the moment it crosses (the
    plan gives no time along the path); it allows ``floor(vehicles_per_hour)`` legs in any
    hour, with one second of slack for rounded times, and for ``vehicles_per_hour`` below 1
    one leg in every ``1 / vehicles_per_hour`` hours.
    """
    geo = _read_geometry(scenario)
    top = top_speed_kph(scenario, graph)
    return _Checker(scenario, plan, top, geo).run()


def format_violations(violations: list[Violation]) -> str:
    """One line per violation, then a count (or a line saying the plan is clean).

    Parameters
    ----------
    violations
        As returned by :func:`verify_plan`.

    Returns
    -------
    str
    """
    if not violations:
        return "no violations: the plan satisfies its scenario"
    lines = [str(v) for v in violations]
    lines.append(f"{len(violations)} violation(s)")
    return "\n".join(lines)
