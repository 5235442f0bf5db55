"""The road network layer: load roads, cut them by hazards and the frontline, snap sites,
and compute travel-time matrices with ``scipy.sparse.csgraph``.

The graph is an osmnx-style ``networkx.MultiDiGraph`` (node ``x``/``y`` in EPSG:4326, edge
``length`` in metres and ``travel_time`` in seconds), whether it is the bundled regional
network or an OpenStreetMap graph.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import NamedTuple

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from planner._contraction import (
    DIJKSTRA_S_PER_EDGE,
    DIJKSTRA_S_PER_NODE,
    contract_graph,
    spans,
)
from planner.errors import NetworkError, ScenarioError
from planner.geofile import (
    Selected,
    describe_dropped,
    frontline_from_features,
    select_features,
    union_parts,
)
from planner.processes import local_cores, process_pool
from planner.scenario import Scenario, location_lonlat
from planner.settings import get_settings
from planner.validate import (
    check_layer,
    check_layers_in_extent,
    check_sites_near_roads,
    polygon_problem,
)

log = logging.getLogger(__name__)

EARTH_RADIUS_M = 6_371_008.8

# Travel times are quantised to tenths of a second so the combined weight used for
# shortest paths (cost first, then time) stays exact in float64.
_TIME_UNITS_PER_S = 10
_COMBINE = float(2**27)


def haversine_m(lon1, lat1, lon2, lat2):  # noqa: ANN001, ANN201 - numpy broadcasting helper
    """Great-circle distance in metres (arrays broadcast)."""
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2)
    )
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def line_length_m(coords: Sequence[Sequence[float]] | np.ndarray) -> float:
    """Great-circle length in metres of a polyline of ``(lon, lat)`` points."""
    arr = np.asarray(coords, dtype=float)
    if len(arr) < 2:
        return 0.0
    return float(haversine_m(arr[:-1, 0], arr[:-1, 1], arr[1:, 0], arr[1:, 1]).sum())


# --------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class Crossing:
    """A crossing point of the line of contact."""

    id: str
    lon: float
    lat: float
    delay_s: float
    vehicles_per_hour: float | None
    radius_m: float


@dataclass
class Layers:
    """The geometric layers of a scenario, in EPSG:4326."""

    closed: gpd.GeoDataFrame
    risk: gpd.GeoDataFrame
    frontline: BaseGeometry | None
    crossings: list[Crossing] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What the layer files held that was not used (points, lines), one line per file."""


def _read_file(
    scenario: Scenario, field_name: str, file: str, layer: str | None
) -> gpd.GeoDataFrame:
    path = scenario.resolve_path(file)
    try:
        gdf = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types; the user needs one line
        raise ScenarioError(
            scenario.source_name(), field_name, f"cannot read {path}: {str(exc).splitlines()[0]}"
        ) from None
    return check_layer(gdf, scenario.source_name(), field_name, path)


def load_layers(scenario: Scenario) -> Layers:
    """Read the scenario's hazards, frontline and crossing points into geometries.

    Parameters
    ----------
    scenario
        A validated scenario.

    Returns
    -------
    Layers

    Raises
    ------
    ScenarioError
        If a layer file cannot be read or holds the wrong geometry type.
    """
    src = scenario.source_name()
    rows: list[dict] = []
    notes: list[str] = []
    for i, h in enumerate(scenario.hazards):
        fname = f"hazards.{i}"
        if h.file is not None:
            rows.extend(_hazard_rows_from_file(scenario, i, notes))
        else:
            try:
                geom = h.inline_geometry()
            except ValueError as exc:
                raise ScenarioError(src, f"{fname}.geometry", str(exc)) from None
            rows.append(
                {
                    "id": h.id or f"hazard-{i}",
                    "kind": h.kind,
                    "factor": h.factor or 1.0,
                    "geometry": geom,
                    "field": fname,
                }
            )
    for r in rows:
        g = r["geometry"]
        if g is None or g.is_empty or g.geom_type not in {"Polygon", "MultiPolygon"}:
            raise ScenarioError(
                src, r["field"], f"hazard {r['id']!r} must be a Polygon or MultiPolygon"
            )
        if not g.is_valid:
            if not scenario.hazards[int(r["field"].split(".")[1])].repair:
                raise ScenarioError(src, r["field"], f"hazard {r['id']!r} {polygon_problem(g)}")
            r["geometry"] = shapely.make_valid(g)
    df = gpd.GeoDataFrame(
        rows, columns=["id", "kind", "factor", "geometry", "field"], geometry="geometry", crs=4326
    )
    closed = df[df["kind"] == "closed"].reset_index(drop=True)
    risk = df[df["kind"] == "risk"].reset_index(drop=True)

    frontline = _load_frontline(scenario, notes)
    crossings = _plannable_crossings(scenario)
    return Layers(closed=closed, risk=risk, frontline=frontline, crossings=crossings, notes=notes)


def _load_frontline(scenario: Scenario, notes: list[str]) -> BaseGeometry | None:
    """The scenario's frontline (given, read from a file, or the bundled regional one); a
    note on what a file's features dropped goes to ``notes``."""
    src = scenario.source_name()
    frontline: BaseGeometry | None = None
    fl = scenario.frontline
    if fl is not None:
        if fl.coordinates is not None:
            frontline = LineString(fl.coordinates)
        elif fl.file is not None:
            gdf = _read_file(scenario, "frontline.file", fl.file, fl.layer)
            frontline, dropped = frontline_from_features(
                select_features(gdf, fl.where, src, "frontline"), dissolve=fl.dissolve
            )
            if frontline is None:
                raise ScenarioError(src, "frontline.file", "holds no line or polygon")
            note = describe_dropped("frontline", fl.file, dropped)
            if note:
                notes.append(note)
        else:
            from planner.regional import load_regional_frontline

            frontline = load_regional_frontline()
    return frontline


def _plannable_crossings(scenario: Scenario) -> list[Crossing]:
    """The crossing points routes may use (those that never close)."""
    settings = get_settings()
    crossings = []
    for c in scenario.ceasefire.crossing_points:
        if c.closed_from is not None:  # a crossing that closes is not planned through
            continue
        lon, lat = location_lonlat(c.location)
        crossings.append(
            Crossing(
                id=c.id,
                lon=lon,
                lat=lat,
                delay_s=c.delay_min * 60.0,
                vehicles_per_hour=c.vehicles_per_hour,
                radius_m=c.radius_m if c.radius_m is not None else settings.crossing_radius_m,
            )
        )
    return crossings


def _refuse_invalid_polygons(gdf: gpd.GeoDataFrame, src: str, field: str) -> None:
    """Refuse the first invalid polygon of a layer (anywhere inside a collection too), with
    shapely's reason: a file's polygons are repaired only when the scenario says ``repair``."""
    for j, geom in enumerate(gdf.geometry):
        if geom is None:
            continue
        for part in shapely.get_parts(geom):
            if part.geom_type == "GeometryCollection":
                inner = [g for g in part.geoms if g.geom_type in {"Polygon", "MultiPolygon"}]
            else:
                inner = [part] if part.geom_type == "Polygon" else []
            for poly in inner:
                problem = polygon_problem(poly) if not poly.is_valid else None
                if problem:
                    raise ScenarioError(src, field, f"feature {j} {problem}")


def _hazard_rows_from_file(scenario: Scenario, i: int, notes: list[str]) -> list[dict]:
    """The hazard rows of ``hazards[i]`` read from its file (``where`` and ``dissolve``)."""
    src = scenario.source_name()
    h = scenario.hazards[i]
    fname = f"hazards.{i}"
    assert h.file is not None
    gdf = select_features(
        _read_file(scenario, f"{fname}.file", h.file, h.layer), h.where, src, fname
    )
    if not h.repair:
        _refuse_invalid_polygons(gdf, src, f"{fname}.file")
    sel = Selected.read(gdf)
    note = describe_dropped(fname, h.file, sel.dropped)
    if note:
        notes.append(note)
    if not sel.features:
        raise ScenarioError(src, f"{fname}.file", "holds no Polygon or MultiPolygon")
    rows: list[dict] = []
    for j, (props, parts) in enumerate(sel.features):
        kind = props.get("kind")
        kind = kind if isinstance(kind, str) and kind else h.kind
        if kind not in {"closed", "risk"}:
            raise ScenarioError(
                src, f"{fname}.file", f"feature {j}: kind {kind!r} must be 'closed' or 'risk'"
            )
        factor = props.get("factor", h.factor)
        try:
            factor = (
                None
                if factor is None or (isinstance(factor, float) and np.isnan(factor))
                else float(factor)
            )
        except (TypeError, ValueError):
            raise ScenarioError(
                src, f"{fname}.file", f"feature {j}: factor {factor!r} is not a number"
            ) from None
        if kind == "risk" and (factor is None or factor <= 1):
            raise ScenarioError(
                src, f"{fname}.file", f"feature {j}: a risk hazard needs factor > 1"
            )
        fid = props.get("id")
        hid = fid if isinstance(fid, str | int) and fid != "" else (h.id or f"hazard-{i}-{j}")
        geom = parts[0] if len(parts) == 1 else union_parts(parts)
        rows.append(
            {
                "id": str(hid),
                "kind": kind,
                "factor": factor or 1.0,
                "geometry": geom,
                "field": f"{fname}.file",
            }
        )
    if not h.dissolve:
        return rows
    merged: dict[tuple[str, float], list[BaseGeometry]] = {}
    for r in rows:
        merged.setdefault((r["kind"], r["factor"]), []).append(r["geometry"])
    return [
        {
            "id": (h.id or f"hazard-{i}") + ("" if len(merged) == 1 else f"-{kind}-{factor:g}"),
            "kind": kind,
            "factor": factor,
            "geometry": union_parts(geoms),
            "field": f"{fname}.file",
        }
        for (kind, factor), geoms in merged.items()
    ]


# --------------------------------------------------------------------------- graph loading


def build_network(scenario: Scenario) -> nx.MultiDiGraph:
    """Load the scenario's road graph, before any cut.

    Parameters
    ----------
    scenario
        A validated scenario; its ``network`` section says where roads come from.

    Returns
    -------
    networkx.MultiDiGraph
        osmnx-style, EPSG:4326, with edge ``length`` (m) and ``travel_time`` (s).

    Raises
    ------
    NetworkError
        If the roads cannot be loaded (missing file, offline download).
    """
    spec = scenario.network
    if spec.source == "regional" and spec.place is None and spec.bbox is None:
        from planner.regional import load_regional_network

        graph = load_regional_network()
        if spec.speeds_kph:
            _override_speeds(graph, spec.speeds_kph)
        return graph
    if spec.source in ("ukraine", "national") and spec.place is None and spec.bbox is None:
        from planner.national import load_national_network

        graph = load_national_network()
        if spec.speeds_kph:
            _override_speeds(graph, spec.speeds_kph)
        return graph
    from planner.osm import load_osm_graph

    source = scenario.resolve_path(spec.source) if spec.source else None
    return load_osm_graph(
        source,
        place=spec.place,
        bbox=spec.bbox,
        speeds_kph=spec.speeds_kph or None,
        overpass_url=spec.overpass_url,
    )


def _network_of(scenario: Scenario) -> nx.MultiDiGraph:
    """:func:`build_network`, its errors naming the scenario and its ``network`` field."""
    try:
        return build_network(scenario)
    except NetworkError as exc:
        spec = scenario.network
        field = (
            "network.source" if spec.source else ("network.place" if spec.place else "network.bbox")
        )
        raise ScenarioError(scenario.source_name(), field, " ".join(str(exc).split())) from None


def _override_speeds(graph: nx.MultiDiGraph, speeds: dict[str, float]) -> None:
    for _u, _v, data in graph.edges(data=True):
        hw = data.get("highway")
        hw = hw[0] if isinstance(hw, list) else hw
        if hw in speeds:
            data["speed_kph"] = float(speeds[hw])
            data["travel_time"] = float(data["length"]) / (float(speeds[hw]) / 3.6)


def _gc_paused(fn):  # noqa: ANN001, ANN202 - a decorator
    """Run ``fn`` with the cyclic garbage collector paused.

    Building one object per edge or node (lists, points, lines) would otherwise set off
    full collections that walk every object of a big networkx graph (millions), which costs
    more than the work itself; none of these objects form cycles, so nothing is left over.
    """

    @functools.wraps(fn)
    def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()

    return run


class _EdgeIndex(NamedTuple):
    nodes: shapely.STRtree  # every node, as a point
    hx: float  # how far (degrees) the near edges reach from their tail node
    hy: float
    out_order: np.ndarray  # edges in order of their tail node...
    out_start: np.ndarray  # ...and where each node's run starts
    near: np.ndarray  # mask of the edges found through their tail node
    far: np.ndarray  # the other edges...
    far_tree: shapely.STRtree  # ...and an index of their geometries


class EdgeTable:
    """The edges of a road graph as arrays, cut in place by hazards and the frontline.

    Building the table walks the graph once; every cut afterwards is vectorised, so a
    200,000-edge OpenStreetMap graph is cut in seconds without copying the graph.

    Parameters
    ----------
    graph
        osmnx-style road graph (not modified).
    """

    @_gc_paused
    def __init__(self, graph: nx.MultiDiGraph) -> None:
        self.graph = graph
        self.node_ids = np.array(list(graph.nodes))
        self.index = {n: i for i, n in enumerate(self.node_ids.tolist())}
        self.x = np.fromiter(
            (d["x"] for _n, d in graph.nodes(data=True)), float, len(self.node_ids)
        )
        self.y = np.fromiter(
            (d["y"] for _n, d in graph.nodes(data=True)), float, len(self.node_ids)
        )
        idx = self.index
        us: list[int] = []
        vs: list[int] = []
        keys: list[object] = []
        datas: list[dict] = []
        # one pass over the adjacency dicts (the order of graph.edges); the edge views cost ~3x
        for a, nbrs in graph._adj.items():
            ia = idx[a]
            for b, kd in nbrs.items():
                ib = idx[b]
                for k, d in kd.items():
                    us.append(ia)
                    vs.append(ib)
                    keys.append(k)
                    datas.append(d)
        m = len(datas)
        u = np.array(us, dtype=np.int64)
        v = np.array(vs, dtype=np.int64)
        length = np.array([float(d.get("length", 0.0)) for d in datas], dtype=float)
        time = np.array([float(d.get("travel_time", 0.0)) for d in datas], dtype=float)
        geoms = [d.get("geometry") for d in datas]
        self.u, self.v, self.length, self.time = u, v, length, time
        self.keys = np.array(keys, dtype=object) if keys else np.empty(0, dtype=object)
        self._time0 = time.copy()  # as built, before cuts add crossing delays
        self.cost = time.copy()
        self.risk_m = np.zeros(m)
        self.crossing = np.full(m, None, dtype=object)
        self.alive = np.ones(m, dtype=bool)
        self.node_alive = np.ones(len(self.node_ids), dtype=bool)
        # straight edges (no geometry attribute) get a LineString only when one is needed
        self.straight = np.array([g is None for g in geoms], dtype=bool)
        self._given = np.empty(m, dtype=object)
        self._given[:] = geoms

    def fresh(self) -> EdgeTable:
        """A copy of this table as it was built from the graph, before any cut.

        The graph, the coordinates, the geometries and the spatial indexes are shared (no cut
        changes them); travel times, costs and what is alive start over.
        """
        t = copy.copy(self)
        t.time, t.cost = self._time0.copy(), self._time0.copy()
        t.risk_m = np.zeros(len(self.u))
        t.crossing = np.full(len(self.u), None, dtype=object)
        t.alive = np.ones(len(self.u), dtype=bool)
        t.node_alive = np.ones(len(self.node_ids), dtype=bool)
        return t

    @_gc_paused
    def geom_of(self, edges: np.ndarray) -> np.ndarray:
        """Geometries of the given edge indices (a straight line where the graph has none)."""
        edges = np.asarray(edges, dtype=np.int64)
        out = self._given[edges].copy()
        flat = self.straight[edges]
        if flat.any():
            a, b = self.u[edges[flat]], self.v[edges[flat]]
            ends = np.stack(
                [np.column_stack([self.x[a], self.y[a]]), np.column_stack([self.x[b], self.y[b]])],
                axis=1,
            )
            out[flat] = shapely.linestrings(ends)
        return out

    @cached_property
    def geom(self) -> np.ndarray:
        """Geometry of every edge (built on first use)."""
        return self.geom_of(np.arange(len(self.u)))

    @cached_property
    def bounds(self) -> np.ndarray:
        """Bounding box ``(minx, miny, maxx, maxy)`` of every edge."""
        xu, yu, xv, yv = self.x[self.u], self.y[self.u], self.x[self.v], self.y[self.v]
        b = np.column_stack(
            [np.minimum(xu, xv), np.minimum(yu, yv), np.maximum(xu, xv), np.maximum(yu, yv)]
        )
        curved = np.flatnonzero(~self.straight)
        if len(curved):
            b[curved] = shapely.bounds(self._given[curved])
        return b

    @cached_property
    @_gc_paused
    def _index(self) -> _EdgeIndex:
        """Spatial indexes for :meth:`query` (built on first use)."""
        b = self.bounds
        xu, yu = self.x[self.u], self.y[self.u]
        reach_x = np.maximum(np.abs(b[:, 0] - xu), np.abs(b[:, 2] - xu))
        reach_y = np.maximum(np.abs(b[:, 1] - yu), np.abs(b[:, 3] - yu))
        hx, hy = float(np.quantile(reach_x, _NEAR_SHARE)), float(np.quantile(reach_y, _NEAR_SHARE))
        near = (reach_x <= hx) & (reach_y <= hy)
        far = np.flatnonzero(~near)
        return _EdgeIndex(
            nodes=shapely.STRtree(shapely.points(self.x, self.y)),
            hx=hx,
            hy=hy,
            out_order=np.argsort(self.u, kind="stable"),
            out_start=np.concatenate([[0], np.cumsum(np.bincount(self.u, minlength=len(self.x)))]),
            near=near,
            far=far,
            far_tree=shapely.STRtree(self.geom_of(far)),
        )

    def query(self, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs ``(geometry index, edge index)`` of the given geometries and the edges they
        intersect, sorted by geometry then edge.

        Candidates come from two STRtrees (the nodes, padded by how far the edges reach from
        their tail node, and the few farther-reaching edges) and a bounding-box test; only the
        candidates get a LineString for the exact ``intersects`` test.
        """
        geoms = np.asarray(geoms, dtype=object).ravel()
        if len(geoms) == 0 or len(self.u) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        ix = self._index
        gb = shapely.bounds(geoms)
        ok = np.flatnonzero(~np.isnan(gb).any(axis=1))  # empty geometries meet nothing
        # an edge's bounding box lies within (hx, hy) of its tail node: the nodes in the padded
        # box of a geometry are the tails of every near edge whose box meets the geometry's
        pad = shapely.box(
            gb[ok, 0] - ix.hx, gb[ok, 1] - ix.hy, gb[ok, 2] + ix.hx, gb[ok, 3] + ix.hy
        )
        qi, node = ix.nodes.query(pad)
        owner, pos = spans(ix.out_start[node], np.diff(ix.out_start)[node])
        gi, ei = ok[qi[owner]], ix.out_order[pos]
        keep = ix.near[ei]
        gi, ei = gi[keep], ei[keep]
        fi, fe = ix.far_tree.query(geoms)
        gi, ei = np.concatenate([gi, fi]), np.concatenate([ei, ix.far[fe]])
        b = self.bounds[ei]
        q = gb[gi]
        overlap = (
            (b[:, 0] <= q[:, 2])
            & (b[:, 2] >= q[:, 0])
            & (b[:, 1] <= q[:, 3])
            & (b[:, 3] >= q[:, 1])
        )
        gi, ei = gi[overlap], ei[overlap]
        hit = shapely.intersects(self.geom_of(ei), geoms[gi])
        gi, ei = gi[hit], ei[hit]
        srt = np.lexsort((ei, gi))
        return gi[srt], ei[srt]

    def to_graph(self) -> nx.MultiDiGraph:
        """A copy of the graph with the cuts applied (for small graphs and the public API)."""
        g = self.graph.copy()
        dead = np.flatnonzero(~self.alive)
        g.remove_edges_from(
            (self.node_ids[self.u[i]].item(), self.node_ids[self.v[i]].item(), self.keys[i])
            for i in dead
        )
        for i in np.flatnonzero(self.alive):
            d = g.edges[
                self.node_ids[self.u[i]].item(), self.node_ids[self.v[i]].item(), self.keys[i]
            ]
            d["travel_time"] = float(self.time[i])
            d["cost"] = float(self.cost[i])
            d["risk_m"] = float(self.risk_m[i])
            if self.crossing[i] is not None:
                d["crossing"] = self.crossing[i]
        g.remove_nodes_from(self.node_ids[~self.node_alive].tolist())
        return g


def edges_frame(graph: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    """Return the edges as a GeoDataFrame (``u``, ``v``, ``key``, ``length``, ``travel_time``, geometry).

    Straight lines stand in for edges without a ``geometry`` attribute.
    """
    t = EdgeTable(graph)
    return gpd.GeoDataFrame(
        {
            "u": t.node_ids[t.u],
            "v": t.node_ids[t.v],
            "key": t.keys,
            "length": t.length,
            "travel_time": t.time,
        },
        geometry=list(t.geom),
        crs=4326,
    )


# --------------------------------------------------------------------------- cuts


@dataclass
class CutReport:
    """What the hazards and the frontline did to the network."""

    closed_edges: int = 0
    risk_edges: int = 0
    frontline_cut_edges: int = 0
    crossing_edges: dict[str, int] = field(default_factory=dict)


@_gc_paused
def cut_hazards(table: EdgeTable, layers: Layers, report: CutReport | None = None) -> None:
    """Apply hazard polygons to an edge table in place, through its STRtree.

    Edges that touch a ``closed`` polygon die, and so do nodes inside one.  Edges through
    ``risk`` polygons keep their travel time; their ``cost`` is the time with the share
    inside multiplied by the factor, and ``risk_m`` holds the metres inside.
    """
    if len(table.u) == 0:
        return
    if len(layers.closed):
        _, eidx = table.query(layers.closed.geometry.values)
        hit = np.unique(eidx)
        hit = hit[table.alive[hit]]
        table.alive[hit] = False
        if report is not None:
            report.closed_edges += len(hit)
        dead_nodes = _nodes_inside(table.x, table.y, np.asarray(layers.closed.geometry.values))
        table.node_alive[dead_nodes] = False
        table.alive &= table.node_alive[table.u] & table.node_alive[table.v]
    if len(layers.risk):
        hidx, eidx = table.query(layers.risk.geometry.values)
        keep = table.alive[eidx]
        hidx, eidx = hidx[keep], eidx[keep]
        if len(eidx):
            egeom = table.geom_of(eidx)
            polys = np.asarray(layers.risk.geometry.values)
            shapely.prepare(polys)
            elen = shapely.length(egeom)
            # an edge wholly inside is inside for its whole length: clip only the others
            inside = np.where(shapely.contains_properly(polys[hidx], egeom), elen, 0.0)
            part = inside == 0
            inside[part] = shapely.length(shapely.intersection(egeom[part], polys[hidx[part]]))
            frac = np.where(elen > 0, inside / np.maximum(elen, 1e-12), 0.0)
            factors = layers.risk["factor"].to_numpy(dtype=float)[hidx]
            extra = np.zeros(len(table.u))
            share = np.zeros(len(table.u))
            np.add.at(extra, eidx, frac * (factors - 1.0))
            np.add.at(share, eidx, frac)
            touched = np.unique(eidx)
            table.cost[touched] = table.time[touched] * (1.0 + extra[touched])
            table.risk_m[touched] = table.length[touched] * np.minimum(1.0, share[touched])
            if report is not None:
                report.risk_edges += len(touched)


_POINTS_PER_CHUNK = 4_000_000
# Edges that reach no farther from their tail node than this share of all edges are found
# through the STRtree of the nodes; the rest through an STRtree of their own geometries.
_NEAR_SHARE = 0.99  # candidate points tested at once, to bound memory


def _nodes_inside(x: np.ndarray, y: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Indices of the points inside any polygon (``contains``: the boundary is outside).

    Points are picked by each polygon's bounding box from the points sorted by x, and only
    those are tested, without building a geometry per point.
    """
    order = np.argsort(x, kind="stable")
    xs = x[order]
    b = shapely.bounds(polygons)
    lo = np.searchsorted(xs, b[:, 0], side="left")
    count = np.maximum(np.searchsorted(xs, b[:, 2], side="right") - lo, 0)
    chunk = np.cumsum(count) // _POINTS_PER_CHUNK
    found = []
    for c in np.unique(chunk):
        sel = np.flatnonzero(chunk == c)
        poly, pos = spans(lo[sel], count[sel])
        poly, node = sel[poly], order[pos]
        ok = (y[node] >= b[poly, 1]) & (y[node] <= b[poly, 3])
        poly, node = poly[ok], node[ok]
        found.append(node[shapely.contains_xy(polygons[poly], x[node], y[node])])
    return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


@_gc_paused
def cut_frontline(table: EdgeTable, layers: Layers, report: CutReport | None = None) -> None:
    """Cut every edge that crosses the frontline except at a crossing point, in place.

    An edge is kept when every point where it meets the line lies within a crossing point's
    ``radius_m``; it then carries the crossing's id and the crossing's delay is added to its
    travel time and cost.
    """
    if layers.frontline is None or len(table.u) == 0:
        return
    _, eidx = table.query(_segments(layers.frontline))
    eidx = np.unique(eidx)
    eidx = eidx[table.alive[eidx]]
    for i, geom in zip(eidx, table.geom_of(eidx), strict=True):
        pts = _points_of(geom.intersection(layers.frontline))
        chosen: Crossing | None = None
        ok = bool(pts)
        for p in pts:
            near = [(float(haversine_m(p.x, p.y, c.lon, c.lat)), c) for c in layers.crossings]
            near = [(d, c) for d, c in near if d <= c.radius_m]
            if not near:
                ok = False
                break
            if chosen is None:
                chosen = min(near, key=lambda t: (t[0], t[1].id))[1]
        if ok and chosen is not None:
            table.crossing[i] = chosen.id
            table.time[i] += chosen.delay_s
            table.cost[i] += chosen.delay_s
            if report is not None:
                report.crossing_edges[chosen.id] = report.crossing_edges.get(chosen.id, 0) + 1
        else:
            table.alive[i] = False
            if report is not None:
                report.frontline_cut_edges += 1


def apply_hazards(
    graph: nx.MultiDiGraph, layers: Layers, report: CutReport | None = None
) -> nx.MultiDiGraph:
    """Apply hazard polygons to the edges of a graph, using a spatial index.

    Edges that touch a ``closed`` polygon are removed (and nodes inside one).  Edges through
    ``risk`` polygons keep their travel time, but their ``cost`` is the travel time with the
    part inside multiplied by the factor, and ``risk_m`` holds the metres inside.

    Parameters
    ----------
    graph
        The road graph (not modified).
    layers
        Hazards from :func:`load_layers`.
    report
        Filled with counts, if given.

    Returns
    -------
    networkx.MultiDiGraph
        A copy with ``cost`` and ``risk_m`` on every edge.
    """
    table = EdgeTable(graph)
    cut_hazards(table, layers, report)
    return table.to_graph()


def apply_frontline(
    graph: nx.MultiDiGraph, layers: Layers, report: CutReport | None = None
) -> nx.MultiDiGraph:
    """Cut every edge of a graph that crosses the frontline except at a crossing point.

    Parameters
    ----------
    graph
        Road graph (not modified).
    layers
        Frontline and crossing points.
    report
        Filled with counts, if given.

    Returns
    -------
    networkx.MultiDiGraph
        A copy; kept crossing edges carry ``crossing`` and the crossing's delay.
    """
    table = EdgeTable(graph)
    cut_frontline(table, layers, report)
    return table.to_graph()


def _segments(geom: BaseGeometry) -> np.ndarray:
    """The straight segments of a (multi)line or of polygon boundaries, as LineStrings.

    Small pieces find their candidate edges through the spatial index far better than one
    long line whose bounding box covers the whole map.
    """
    parts = shapely.get_parts(geom)
    poly = shapely.get_type_id(parts) == 3
    parts[poly] = shapely.boundary(parts[poly])
    parts = shapely.get_parts(parts)  # boundaries with holes are MultiLineStrings
    coords, idx = shapely.get_coordinates(parts, return_index=True)
    same = idx[1:] == idx[:-1]
    if not same.any():
        return np.array([geom], dtype=object)
    return shapely.linestrings(np.stack([coords[:-1][same], coords[1:][same]], axis=1))


def _points_of(geom: BaseGeometry) -> list[Point]:
    if geom.is_empty:
        return []
    if geom.geom_type == "Point":
        return [geom]
    if geom.geom_type in {"MultiPoint", "GeometryCollection", "MultiLineString"}:
        out: list[Point] = []
        for part in geom.geoms:
            out.extend(_points_of(part))
        return out
    if geom.geom_type == "LineString":  # collinear overlap: treat its ends as crossings
        return [Point(geom.coords[0]), Point(geom.coords[-1])]
    return [geom.representative_point()]


# --------------------------------------------------------------------------- routing graph


@dataclass
class Snap:
    """A site snapped to the road network."""

    node: int  # index into RoadNetwork.node_ids
    distance_m: float


class RoadNetwork:
    """A cut road network ready for shortest paths.

    Holds one CSR matrix built once; shortest paths minimise risk-weighted cost, then time.

    Parameters
    ----------
    roads
        An :class:`EdgeTable` after cuts, or a graph (used as it is).
    snap_graph
        Unused when ``roads`` is a table (sites snap to the largest strongly connected
        component of the table's uncut graph); for a graph, the graph whose largest strongly
        connected component sites may snap to (defaults to ``roads``).
    """

    def __init__(
        self, roads: EdgeTable | nx.MultiDiGraph, snap_graph: nx.MultiDiGraph | None = None
    ) -> None:
        table = roads if isinstance(roads, EdgeTable) else EdgeTable(roads)
        self.table = table
        self.graph = table.graph
        self.node_ids = table.node_ids
        self.index = table.index
        self.x, self.y = table.x, table.y
        n = len(self.node_ids)
        if n == 0 or not table.node_alive.any():
            raise NetworkError(
                "the road network has no usable node after hazards and frontline cuts"
            )
        live = np.flatnonzero(table.alive)
        rows, cols = table.u[live], table.v[live]
        # rounded up, so a planned drive is never shorter than the road allows
        cost_q = np.maximum(np.ceil(table.cost[live] * _TIME_UNITS_PER_S - 1e-9), 1.0)
        time_q = np.maximum(np.ceil(table.time[live] * _TIME_UNITS_PER_S - 1e-9), 1.0)
        weight = cost_q * _COMBINE + time_q
        order = np.lexsort((weight, cols, rows))  # keep the best of parallel edges
        rows, cols, weight, live = rows[order], cols[order], weight[order], live[order]
        first = np.ones(len(rows), dtype=bool)
        if len(rows) > 1:
            first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
        rows, cols, weight, live = rows[first], cols[first], weight[first], live[first]
        self.csr = csr_matrix((weight, (rows, cols)), shape=(n, n))
        self._edge_arrays = (rows, cols, live)
        if isinstance(roads, EdgeTable) or snap_graph is None:
            self._snap_nodes = (
                self._largest_scc(table.u, table.v, n)
                if isinstance(roads, EdgeTable)
                else self._largest_scc(rows, cols, n)
            )
        else:
            sub = EdgeTable(snap_graph)
            keep = self._largest_scc(sub.u, sub.v, len(sub.node_ids))
            self._snap_nodes = np.array(
                sorted(
                    self.index[sub.node_ids[i].item()]
                    for i in keep
                    if sub.node_ids[i].item() in self.index
                ),
                dtype=np.int64,
            )
        self._snap_nodes = (
            self._snap_nodes[table.node_alive[self._snap_nodes]]
            if len(self._snap_nodes)
            else self._snap_nodes
        )
        self._pred_cache: dict[int, np.ndarray] = {}
        self._paths: dict[tuple[int, int], list[int] | None] = {}
        # combined-weight distances from each source of a matrix: (targets, distances)
        self._known: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @cached_property
    def _edge_of(self) -> dict[tuple[int, int], int]:
        """Edge index (in :attr:`table`) by node pair, for the edges shortest paths use."""
        rows, cols, live = (a.tolist() for a in self._edge_arrays)
        return dict(zip(zip(rows, cols, strict=True), live, strict=True))

    # ----------------------------------------------------------------- snapping

    @staticmethod
    def _largest_scc(u: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
        if n == 0:
            return np.array([], dtype=np.int64)
        m = csr_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
        _, labels = connected_components(m, directed=True, connection="strong")
        big = np.bincount(labels).argmax()
        return np.flatnonzero(labels == big).astype(np.int64)

    @property
    def snap_share(self) -> float:
        """Share of nodes that sites may snap to (largest strongly connected part)."""
        return len(self._snap_nodes) / max(1, len(self.node_ids))

    @property
    def n_nodes(self) -> int:
        """Usable nodes after cuts."""
        return int(self.table.node_alive.sum())

    @property
    def n_edges(self) -> int:
        """Usable edges after cuts."""
        return int(self.table.alive.sum())

    def snap(self, lonlats: list[tuple[float, float]]) -> list[Snap]:
        """Snap points to the nearest usable node of the largest strongly connected component.

        Parameters
        ----------
        lonlats
            ``(lon, lat)`` points.

        Returns
        -------
        list of Snap
            Node index and great-circle distance in metres for each point.
        """
        cand = self._snap_nodes if len(self._snap_nodes) else np.flatnonzero(self.table.node_alive)
        tree = _sphere_tree(self.x[cand].tobytes(), self.y[cand].tobytes())
        pts = np.asarray(lonlats, dtype=float).reshape(-1, 2)
        _, j = tree.query(_to_xyz(pts[:, 0], pts[:, 1]))
        nodes = cand[np.atleast_1d(j)]
        dist = haversine_m(pts[:, 0], pts[:, 1], self.x[nodes], self.y[nodes])
        return [Snap(int(nd), float(dm)) for nd, dm in zip(nodes, np.atleast_1d(dist), strict=True)]

    # ----------------------------------------------------------------- matrices

    def matrices(
        self, sources: list[int], targets: list[int], *, contract: bool | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Travel time and risk-weighted cost between node indices, in seconds.

        Shortest paths minimise the cost, then the time; unreachable pairs are ``inf``.

        Parameters
        ----------
        sources, targets
            Node indices (into ``node_ids``).
        contract
            Run Dijkstra on a graph where the nodes other than ``sources`` and ``targets`` are
            contracted (same distances, bit for bit; see :func:`contract_graph`).  By default,
            when enough sources make it pay off; ``False`` searches the whole graph.

        Returns
        -------
        time_s, cost_s : numpy.ndarray
            Arrays of shape ``(len(sources), len(targets))``.
        """
        src = np.asarray(sources, dtype=np.int64)
        tgt = np.asarray(targets, dtype=np.int64)
        uniq, inv = np.unique(src, return_inverse=True)
        # distances only: paths are traced later for the few legs a plan uses
        d = self._distances(uniq, tgt, contract=contract)
        for i, source in enumerate(uniq.tolist()):  # bounds for the path searches later
            self._known[source] = (tgt, d[i])
        d = d[inv]
        finite = np.isfinite(d)
        cost_q = np.floor(np.where(finite, d, 0.0) / _COMBINE)
        time_q = np.where(finite, d, 0.0) - cost_q * _COMBINE
        time_s = np.where(finite, time_q / _TIME_UNITS_PER_S, np.inf)
        cost_s = np.where(finite, cost_q / _TIME_UNITS_PER_S, np.inf)
        return time_s, cost_s

    def _distances(
        self, sources: np.ndarray, targets: np.ndarray, contract: bool | None = None
    ) -> np.ndarray:
        """Combined-weight distances ``sources x targets`` (csgraph Dijkstra, 2 processes when large)."""
        csr = self.csr
        n = csr.shape[0]
        # a daemon process (a dask worker) may not start processes of its own
        procs = local_cores() if len(sources) * n > 5e6 else 1
        runs = len(sources) / procs
        if contract is None:  # contracting takes ~0.1-2 s: worth it when Dijkstra takes longer
            contract = runs * (DIJKSTRA_S_PER_NODE * n + DIJKSTRA_S_PER_EDGE * csr.nnz) > 0.5
        with contextlib.ExitStack() as stack:
            # one pool (forked before the work) serves the contraction and the Dijkstra runs
            pool = stack.enter_context(process_pool(procs)) if procs > 1 else None
            t0 = time.perf_counter()
            if contract:
                keep = np.zeros(n, dtype=bool)
                keep[sources] = keep[targets] = True
                csr, nodes = contract_graph(csr, keep, runs, side=self._halves(), pool=pool)
                label = np.full(n, -1, dtype=np.int64)
                label[nodes] = np.arange(len(nodes))
                sources, targets = label[sources], label[targets]
                log.debug(
                    "matrix on a core of %d of %d nodes, %d of %d edges, contracted in %.2f s",
                    csr.shape[0],
                    n,
                    csr.nnz,
                    self.csr.nnz,
                    time.perf_counter() - t0,
                )
                if len(sources) * csr.shape[0] <= 2e6:
                    pool = None
            if pool is not None:
                parts = np.array_split(sources, 4 * procs)  # small parts even out a busy core
                rows = list(
                    pool.map(_distances_of, [csr] * len(parts), parts, [targets] * len(parts))
                )
                return np.vstack(rows)
            return _distances_of(csr, sources, targets)

    def _halves(self) -> np.ndarray:
        """Which half of the map each node lies in, split at the median of the longer side."""
        alive = self.table.node_alive
        lon_scale = np.cos(np.radians(np.median(self.y[alive])))
        xs, ys = self.x * lon_scale, self.y
        wide = np.ptp(xs[alive]) >= np.ptp(ys[alive])
        along = xs if wide else ys
        return along > np.median(along[alive])

    def prefetch_paths(self, pairs: list[tuple[int, int]]) -> None:
        """Find the shortest paths of many ``(source, target)`` node pairs at once.

        One Dijkstra per source (in two processes when there are many), each stopped at the
        distance of its farthest target when :meth:`matrices` has already given it; later
        :meth:`path` calls for these pairs are then lookups.
        """
        todo: dict[int, set[int]] = {}
        for a, b in pairs:
            a, b = int(a), int(b)
            if a != b and (a, b) not in self._paths and a not in self._pred_cache:
                todo.setdefault(a, set()).add(b)
        if not todo:
            return
        jobs = [(a, sorted(bs), self._search_limit(a, bs)) for a, bs in sorted(todo.items())]
        cores = local_cores()
        if cores > 1 and len(jobs) >= 8 and len(jobs) * self.csr.shape[0] > _PATHS_POOL_WORK:
            parts = [jobs[i :: 4 * cores] for i in range(4 * cores)]
            parts = [part for part in parts if part]
            with process_pool(cores) as pool:
                found = list(pool.map(_paths_from, [self.csr] * len(parts), parts))
        else:
            found = [_paths_from(self.csr, jobs)]
        for part in found:
            self._paths.update(part)

    def _search_limit(self, source: int, targets: set[int]) -> float:
        """The distance of the farthest target, if the matrices gave them all; else ``inf``."""
        known = self._known.get(source)
        if known is None:
            return np.inf
        tgt, d = known
        order = np.argsort(tgt, kind="stable")
        want = np.array(sorted(targets), dtype=tgt.dtype)
        pos = np.searchsorted(tgt[order], want)
        if (pos >= len(tgt)).any() or not np.array_equal(tgt[order[pos]], want):
            return np.inf
        # distances are exact integer sums: the search keeps every node at most this far
        return float(np.max(d[order[pos]]))

    def path(self, source: int, target: int) -> list[int]:
        """Node indices of the shortest path (as used by :meth:`matrices`)."""
        if source == target:
            return [source]
        if (source, target) in self._paths:
            found = self._paths[(source, target)]
            if found is None:
                raise NetworkError(
                    f"no path between nodes {self.node_ids[source]} and {self.node_ids[target]}"
                )
            return list(found)
        pred = self._pred_cache.get(source)
        if pred is None:
            _, pred = dijkstra(self.csr, directed=True, indices=source, return_predecessors=True)
            self._pred_cache[source] = pred
        out = [target]
        while out[-1] != source:
            p = int(pred[out[-1]])
            if p < 0:
                raise NetworkError(
                    f"no path between nodes {self.node_ids[source]} and {self.node_ids[target]}"
                )
            out.append(p)
        return out[::-1]

    def edge(self, a: int, b: int) -> int:
        """Index (in :attr:`table`) of the edge the paths use from node ``a`` to node ``b``."""
        return self._edge_of[(a, b)]

    def path_details(self, nodes: list[int]) -> dict:
        """Geometry and figures of a path of node indices.

        Returns
        -------
        dict
            ``coords`` ([lon, lat] along the real edge geometry), ``length_m``,
            ``travel_time_s``, ``risk_m``, ``crossings`` (ids in order).
        """
        t = self.table
        coords: list[list[float]] = [[float(self.x[nodes[0]]), float(self.y[nodes[0]])]]
        length = secs = risk = 0.0
        crossings: list[str] = []
        for a, b in zip(nodes, nodes[1:], strict=False):
            e = self._edge_of[(a, b)]
            length += float(t.length[e])
            secs += float(t.time[e])
            risk += float(t.risk_m[e])
            if t.crossing[e] is not None:
                crossings.append(str(t.crossing[e]))
            geom = t._given[e]
            if geom is None:  # a straight edge
                coords.append([float(self.x[b]), float(self.y[b])])
                continue
            pts = list(geom.coords)
            # osmnx geometries run u -> v; guard against reversed storage
            if haversine_m(pts[0][0], pts[0][1], self.x[a], self.y[a]) > haversine_m(
                pts[-1][0], pts[-1][1], self.x[a], self.y[a]
            ):
                pts = pts[::-1]
            coords.extend([float(px), float(py)] for px, py in pts[1:])
        return {
            "coords": coords,
            "length_m": length,
            "travel_time_s": secs,
            "risk_m": risk,
            "crossings": crossings,
        }


# Path searches (sources x nodes) worth two processes.
_PATHS_POOL_WORK = 2e6


def _paths_from(
    csr: csr_matrix, jobs: list[tuple[int, list[int], float]]
) -> dict[tuple[int, int], list[int] | None]:
    """Shortest paths for ``(source, targets, limit)`` jobs (``None`` where none exists)."""
    out: dict[tuple[int, int], list[int] | None] = {}
    for source, targets, limit in jobs:
        _, pred = dijkstra(
            csr, directed=True, indices=source, return_predecessors=True, limit=limit
        )
        for target in targets:
            path = [target]
            while path[-1] != source and path[-1] >= 0:
                path.append(int(pred[path[-1]]))
            out[(source, target)] = path[::-1] if path[-1] == source else None
    return out


def _distances_of(csr: csr_matrix, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    d = np.empty((len(sources), len(targets)))
    # a few rows of the dense sources x nodes output at a time, only the target columns kept
    step = max(1, min(256, int(4e6 // max(1, csr.shape[0]))))
    for i in range(0, len(sources), step):
        d[i : i + step] = dijkstra(csr, directed=True, indices=sources[i : i + step])[:, targets]
    return d


def _to_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


@lru_cache(maxsize=8)
def _sphere_tree(xb: bytes, yb: bytes) -> cKDTree:
    return cKDTree(_to_xyz(np.frombuffer(xb), np.frombuffer(yb)))


@dataclass
class PreparedNetwork:
    """The network of a scenario after cuts, with its layers and cut report."""

    base: nx.MultiDiGraph
    roads: RoadNetwork
    layers: Layers
    report: CutReport
    source: tuple | None = None  # what the roads were loaded from (see _roads_key)


def _roads_key(scenario: Scenario) -> tuple:
    """What a scenario's roads are loaded from: two scenarios with the same key share them."""
    spec = scenario.network
    source = (
        str(scenario.resolve_path(spec.source))
        if spec.source and spec.source not in ("regional", "ukraine", "national")
        else spec.source
    )
    return (
        source,
        spec.place,
        spec.bbox,
        spec.overpass_url,
        tuple(sorted(spec.speeds_kph.items())),
    )


def prepare_network(
    scenario: Scenario,
    graph: nx.MultiDiGraph | None = None,
    *,
    reuse: PreparedNetwork | None = None,
) -> PreparedNetwork:
    """Load roads and layers, apply hazards and the frontline, and index the result.

    Parameters
    ----------
    scenario
        A validated scenario.
    graph
        A preloaded base graph (skips :func:`build_network`).
    reuse
        The prepared network of another scenario (say, the same one before a re-plan's
        events): when its roads come from the same source, they are not loaded again and
        their edge table and spatial indexes are reused; every hazard of ``scenario`` and its
        frontline are then cut afresh.

    Returns
    -------
    PreparedNetwork
    """
    key = _roads_key(scenario) if graph is None else None
    if graph is None and reuse is not None and reuse.source is not None and reuse.source == key:
        base, table = reuse.base, reuse.roads.table.fresh()
    else:
        base = graph if graph is not None else _network_of(scenario)
        if base.number_of_nodes() == 0:
            raise NetworkError("the road network is empty")
        table = EdgeTable(base)
    check_sites_near_roads(scenario, table)
    layers = load_layers(scenario)
    check_layers_in_extent(scenario, table, layers)
    report = CutReport()
    cut_hazards(table, layers, report)
    cut_frontline(table, layers, report)
    if not table.node_alive.any():
        raise NetworkError("hazards remove every node of the road network")
    roads = RoadNetwork(table)
    log.info(
        "network: %d nodes, %d edges; closed %d, risk %d, frontline cut %d, crossings %s",
        roads.n_nodes,
        roads.n_edges,
        report.closed_edges,
        report.risk_edges,
        report.frontline_cut_edges,
        report.crossing_edges,
    )
    return PreparedNetwork(base=base, roads=roads, layers=layers, report=report, source=key)
