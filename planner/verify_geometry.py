"""The verifier's own reading of the scenario's geometry, apart from the network module.

Closed hazards, the frontline and the crossing points are read from the scenario here, and
paths are measured on the sphere, so :mod:`planner.verify` trusts nothing the solver computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from planner.errors import PlannerError, ScenarioError
from planner.geofile import Selected, frontline_from_features, select_features
from planner.scenario import Scenario, location_lonlat
from planner.settings import get_settings

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius used for great-circle lengths."""


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two ``(lon, lat)`` points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, max(0.0, a))))


def path_length_m(coords: list[tuple[float, float]]) -> float:
    """Great-circle length in metres of a path of ``(lon, lat)`` points."""
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
class Crossing:
    """A crossing point of the frontline as the verifier reads it."""

    id: str
    lon: float
    lat: float
    radius_m: float
    delay_s: float
    vehicles_per_hour: float | None
    closed_from: datetime | None = None


@dataclass
class Geo:
    """The scenario's geometry, read independently of the network module."""

    closed_ids: list[str]
    closed_from: list[datetime | None]
    closed_tree: shapely.STRtree | None
    closed_geoms: list[BaseGeometry]
    frontline: BaseGeometry | None
    crossings: dict[str, Crossing]


@dataclass(frozen=True)
class PathInfo:
    """What the verifier measures on one path.

    Parameters
    ----------
    gc_m
        Great-circle length in metres.
    closed
        Ids of the closed areas the path intersects, sorted.
    frontline_bad
        Points where it meets the frontline away from every crossing point.
    passed
        Crossing points it passes, in order, each once.
    """

    gc_m: float
    closed: list[str]
    frontline_bad: list[tuple[float, float]]
    passed: list[str]


def _read_geofile(scenario: Scenario, field_name: str, file: str, layer: str | None) -> Any:
    """A scenario's layer file as a GeoDataFrame in EPSG:4326."""
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


Area = tuple[str, datetime | None, BaseGeometry]
"""A closed area: id, since when, geometry."""


def _file_areas(scenario: Scenario, i: int, h: Any) -> list[Area]:
    """The closed areas of hazard ``i``, read from its layer file."""
    gdf = _read_geofile(scenario, f"hazards.{i}.file", h.file, h.layer)
    sel = Selected.read(select_features(gdf, h.where, scenario.source_name(), f"hazards.{i}"))
    out: list[Area] = []
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
        hid = str(fid) if isinstance(fid, str | int) and fid != "" else (h.id or f"hazard-{i}-{j}")
        out.append((hid, h.active_from, geom))
    if dissolved:
        out.append((h.id or f"hazard-{i}", h.active_from, shapely.union_all(dissolved)))
    return out


def _inline_area(scenario: Scenario, i: int, h: Any) -> Area:
    """The closed area of hazard ``i``, given as a polygon or a GeoJSON geometry."""
    try:
        geom = h.inline_geometry()
    except ValueError as exc:
        raise ScenarioError(scenario.source_name(), f"hazards.{i}.geometry", str(exc)) from None
    return (h.id or f"hazard-{i}", h.active_from, geom)


def _closed_areas(scenario: Scenario) -> list[Area]:
    """Every closed area of the scenario, empty ones dropped, invalid ones made valid."""
    areas: list[Area] = []
    for i, h in enumerate(scenario.hazards):
        if h.file is not None:
            areas.extend(_file_areas(scenario, i, h))
        elif h.kind == "closed":
            areas.append(_inline_area(scenario, i, h))
    # a later area with the same id sets its start (as a dict of ids did)
    since = {hid: t for hid, t, _g in areas}
    return [
        (hid, since[hid], g if g.is_valid else shapely.make_valid(g))
        for hid, _t, g in areas
        if g is not None and not g.is_empty
    ]


def _frontline(scenario: Scenario) -> BaseGeometry | None:
    """The scenario's frontline: inline, from a file, or the bundled one."""
    src = scenario.source_name()
    fl = scenario.frontline
    if fl is None:
        return None
    if fl.coordinates is not None:
        return LineString(fl.coordinates)
    if fl.file is not None:
        gdf = _read_geofile(scenario, "frontline.file", fl.file, fl.layer)
        frontline, _dropped = frontline_from_features(
            select_features(gdf, fl.where, src, "frontline"), dissolve=fl.dissolve
        )
        if frontline is None:
            raise ScenarioError(src, "frontline.file", "holds no line or polygon")
        return frontline
    try:
        from planner.regional import load_regional_frontline

        return load_regional_frontline()
    except (ImportError, OSError, PlannerError) as exc:
        raise ScenarioError(
            src, "frontline.bundled", f"the bundled frontline is unavailable: {exc}"
        ) from None


def _crossings(scenario: Scenario) -> dict[str, Crossing]:
    """The scenario's crossing points, with the default radius filled in."""
    radius = get_settings().crossing_radius_m
    crossings: dict[str, Crossing] = {}
    for c in scenario.ceasefire.crossing_points:
        lon, lat = location_lonlat(c.location)
        crossings[c.id] = Crossing(
            id=c.id,
            lon=lon,
            lat=lat,
            radius_m=c.radius_m if c.radius_m is not None else radius,
            delay_s=c.delay_min * 60.0,
            vehicles_per_hour=c.vehicles_per_hour,
            closed_from=c.closed_from,
        )
    return crossings


def read_geometry(scenario: Scenario) -> Geo:
    """Read the scenario's closed areas, frontline and crossing points.

    Parameters
    ----------
    scenario
        The scenario.

    Returns
    -------
    Geo

    Raises
    ------
    ScenarioError
        If a layer file cannot be read or a geometry is malformed.
    """
    areas = _closed_areas(scenario)
    geoms = [g for _i, _t, g in areas]
    return Geo(
        closed_ids=[i for i, _t, _g in areas],
        closed_from=[t for _i, t, _g in areas],
        closed_tree=shapely.STRtree(geoms) if geoms else None,
        closed_geoms=geoms,
        frontline=_frontline(scenario),
        crossings=_crossings(scenario),
    )


def analyse_path(geo: Geo, pts: list[tuple[float, float]]) -> PathInfo:
    """Measure a path against the scenario's geometry.

    Parameters
    ----------
    geo
        The scenario's geometry.
    pts
        The path, ``(lon, lat)`` points (at least one).

    Returns
    -------
    PathInfo
    """
    geom: BaseGeometry = LineString(pts) if len(pts) >= 2 else Point(pts[0])
    closed: list[str] = []
    if geo.closed_tree is not None:
        idx = geo.closed_tree.query(geom, predicate="intersects")
        closed = sorted({geo.closed_ids[int(i)] for i in idx})
    bad_points: list[tuple[float, float]] = []
    passed: list[str] = []
    if geo.frontline is not None and geom.intersects(geo.frontline):
        for p in _points(geom.intersection(geo.frontline)):
            near = [
                (d, c.id)
                for c in geo.crossings.values()
                if (d := haversine_m(p.x, p.y, c.lon, c.lat)) <= c.radius_m
            ]
            if near:
                passed.append(min(near)[1])
            else:
                bad_points.append((round(p.x, 5), round(p.y, 5)))
    return PathInfo(
        gc_m=path_length_m(pts),
        closed=closed,
        frontline_bad=bad_points,
        passed=list(dict.fromkeys(passed)),
    )
