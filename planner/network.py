"""The road network layer: load roads, cut them by hazards and the frontline, snap sites,
and compute travel-time matrices with ``scipy.sparse.csgraph``.

The graph is an osmnx-style ``networkx.MultiDiGraph`` (node ``x``/``y`` in EPSG:4326, edge
``length`` in metres and ``travel_time`` in seconds), whether it is the bundled regional
network or an OpenStreetMap graph.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from planner.errors import NetworkError, ScenarioError
from planner.scenario import Scenario, location_lonlat
from planner.settings import get_settings

log = logging.getLogger(__name__)

EARTH_RADIUS_M = 6_371_008.8

# Travel times are quantised to tenths of a second so the combined weight used for
# shortest paths (cost first, then time) stays exact in float64.
_TIME_UNITS_PER_S = 10
_COMBINE = float(2**27)


def haversine_m(lon1, lat1, lon2, lat2):  # noqa: ANN001, ANN201 - numpy broadcasting helper
    """Great-circle distance in metres (arrays broadcast)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def line_length_m(coords: list[tuple[float, float]] | np.ndarray) -> float:
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


def _read_file(scenario: Scenario, field_name: str, file: str, layer: str | None) -> gpd.GeoDataFrame:
    path = scenario.resolve_path(file)
    try:
        gdf = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types; the user needs one line
        raise ScenarioError(scenario.source_name(), field_name, f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    elif gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    return gdf


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
    for i, h in enumerate(scenario.hazards):
        fname = f"hazards.{i}"
        if h.file is not None:
            gdf = _read_file(scenario, f"{fname}.file", h.file, h.layer)
            for j, rec in enumerate(gdf.itertuples(index=False)):
                geom = rec.geometry
                props = rec._asdict()
                kind = str(props.get("kind") or h.kind)
                if kind not in {"closed", "risk"}:
                    raise ScenarioError(src, f"{fname}.file", f"feature {j}: kind {kind!r} must be 'closed' or 'risk'")
                factor = props.get("factor", h.factor)
                try:
                    factor = None if factor is None or (isinstance(factor, float) and np.isnan(factor)) else float(factor)
                except (TypeError, ValueError):
                    raise ScenarioError(src, f"{fname}.file", f"feature {j}: factor {factor!r} is not a number") from None
                if kind == "risk" and (factor is None or factor <= 1):
                    raise ScenarioError(src, f"{fname}.file", f"feature {j}: a risk hazard needs factor > 1")
                hid = props.get("id") or h.id or f"hazard-{i}-{j}"
                rows.append({"id": str(hid), "kind": kind, "factor": factor or 1.0, "geometry": geom, "field": fname})
        else:
            if h.polygon is not None:
                ring = list(h.polygon)
                if ring[0] != ring[-1]:
                    ring.append(ring[0])
                geom = shapely.Polygon(ring)
            else:
                try:
                    geom = shapely.geometry.shape(h.geometry)
                except Exception as exc:
                    raise ScenarioError(src, f"{fname}.geometry", f"not a GeoJSON geometry: {exc}") from None
            rows.append({"id": h.id or f"hazard-{i}", "kind": h.kind, "factor": h.factor or 1.0, "geometry": geom, "field": fname})
    for r in rows:
        g = r["geometry"]
        if g is None or g.is_empty or g.geom_type not in {"Polygon", "MultiPolygon"}:
            raise ScenarioError(src, r["field"], f"hazard {r['id']!r} must be a Polygon or MultiPolygon")
        if not g.is_valid:
            r["geometry"] = shapely.make_valid(g)
    df = gpd.GeoDataFrame(rows, columns=["id", "kind", "factor", "geometry", "field"], geometry="geometry", crs=4326)
    closed = df[df["kind"] == "closed"].reset_index(drop=True)
    risk = df[df["kind"] == "risk"].reset_index(drop=True)

    frontline: BaseGeometry | None = None
    fl = scenario.frontline
    if fl is not None:
        if fl.coordinates is not None:
            frontline = LineString(fl.coordinates)
        elif fl.file is not None:
            gdf = _read_file(scenario, "frontline.file", fl.file, fl.layer)
            geoms = [g for g in gdf.geometry if g is not None and not g.is_empty]
            lines = [g for g in geoms if g.geom_type in {"LineString", "MultiLineString"}]
            polys = [g for g in geoms if g.geom_type in {"Polygon", "MultiPolygon"}]
            parts = lines + [p.boundary for p in polys]
            if not parts:
                raise ScenarioError(src, "frontline.file", "holds no line or polygon")
            frontline = shapely.force_2d(shapely.union_all(parts))
        else:
            from planner.regional import load_regional_frontline

            frontline = load_regional_frontline()
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
    return Layers(closed=closed, risk=risk, frontline=frontline, crossings=crossings)


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
    from planner.osm import load_osm_graph

    source = scenario.resolve_path(spec.source) if spec.source else None
    return load_osm_graph(
        source,
        place=spec.place,
        bbox=spec.bbox,
        speeds_kph=spec.speeds_kph or None,
        overpass_url=spec.overpass_url,
    )


def _override_speeds(graph: nx.MultiDiGraph, speeds: dict[str, float]) -> None:
    for _u, _v, data in graph.edges(data=True):
        hw = data.get("highway")
        hw = hw[0] if isinstance(hw, list) else hw
        if hw in speeds:
            data["speed_kph"] = float(speeds[hw])
            data["travel_time"] = float(data["length"]) / (float(speeds[hw]) / 3.6)


def edges_frame(graph: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    """Return the edges as a GeoDataFrame (``u``, ``v``, ``key``, ``length``, ``travel_time``, geometry).

    Straight lines stand in for edges without a ``geometry`` attribute.
    """
    us, vs, ks, lengths, times, geoms = [], [], [], [], [], []
    xs = nx.get_node_attributes(graph, "x")
    ys = nx.get_node_attributes(graph, "y")
    straight_from: list[int] = []
    for idx, (u, v, k, d) in enumerate(graph.edges(keys=True, data=True)):
        us.append(u)
        vs.append(v)
        ks.append(k)
        lengths.append(float(d.get("length", 0.0)))
        times.append(float(d.get("travel_time", 0.0)))
        g = d.get("geometry")
        if g is None:
            straight_from.append(idx)
            geoms.append(None)
        else:
            geoms.append(g)
    if straight_from:
        coords = np.empty((len(straight_from), 2, 2))
        for n, idx in enumerate(straight_from):
            coords[n, 0] = (xs[us[idx]], ys[us[idx]])
            coords[n, 1] = (xs[vs[idx]], ys[vs[idx]])
        lines = shapely.linestrings(coords)
        for n, idx in enumerate(straight_from):
            geoms[idx] = lines[n]
    return gpd.GeoDataFrame(
        {"u": us, "v": vs, "key": ks, "length": lengths, "travel_time": times},
        geometry=geoms,
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


def apply_hazards(graph: nx.MultiDiGraph, layers: Layers, report: CutReport | None = None) -> nx.MultiDiGraph:
    """Apply hazard polygons to the edges, using a spatial index.

    Edges that touch a ``closed`` polygon are removed.  Edges through ``risk`` polygons
    keep their travel time, but their ``cost`` is the travel time with the part inside
    multiplied by the factor, and ``risk_m`` holds the metres inside.

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
    g = graph.copy()
    for _u, _v, d in g.edges(data=True):
        d["cost"] = float(d.get("travel_time", 0.0))
        d["risk_m"] = 0.0
    if len(layers.closed) == 0 and len(layers.risk) == 0:
        return g
    edges = edges_frame(g)
    tree = shapely.STRtree(edges.geometry.values)
    if len(layers.closed):
        _, eidx = tree.query(layers.closed.geometry.values, predicate="intersects")
        hit = np.unique(eidx)
        remove = [(edges.u.iat[i], edges.v.iat[i], edges.key.iat[i]) for i in hit]
        g.remove_edges_from(remove)
        if report is not None:
            report.closed_edges += len(remove)
        # Nodes inside a closed area are not usable either.
        node_ids = np.array(list(g.nodes))
        if len(node_ids):
            pts = shapely.points(
                np.array([g.nodes[n]["x"] for n in node_ids]), np.array([g.nodes[n]["y"] for n in node_ids])
            )
            ptree = shapely.STRtree(pts)
            _, nidx = ptree.query(layers.closed.geometry.values, predicate="contains")
            g.remove_nodes_from(node_ids[np.unique(nidx)].tolist())
    if len(layers.risk):
        edges = edges_frame(g)
        if len(edges):
            tree = shapely.STRtree(edges.geometry.values)
            hidx, eidx = tree.query(layers.risk.geometry.values, predicate="intersects")
            if len(eidx):
                egeom = edges.geometry.values[eidx]
                inter = shapely.intersection(egeom, layers.risk.geometry.values[hidx])
                frac = np.where(shapely.length(egeom) > 0, shapely.length(inter) / np.maximum(shapely.length(egeom), 1e-12), 0.0)
                factors = layers.risk["factor"].to_numpy(dtype=float)[hidx]
                extra: dict[int, float] = {}
                risk_frac: dict[int, float] = {}
                for e, f, fac in zip(eidx, frac, factors, strict=True):
                    extra[e] = extra.get(e, 0.0) + f * (fac - 1.0)
                    risk_frac[e] = min(1.0, risk_frac.get(e, 0.0) + f)
                for e, ex in extra.items():
                    d = g.edges[edges.u.iat[e], edges.v.iat[e], edges.key.iat[e]]
                    d["cost"] = float(d["travel_time"]) * (1.0 + ex)
                    d["risk_m"] = float(d["length"]) * risk_frac[e]
                if report is not None:
                    report.risk_edges += len(extra)
    return g


def apply_frontline(graph: nx.MultiDiGraph, layers: Layers, report: CutReport | None = None) -> nx.MultiDiGraph:
    """Cut every edge that crosses the frontline except at a crossing point.

    An edge is kept when every point where it meets the line lies within the crossing
    point's ``radius_m``; it then carries ``crossing`` (the id) and the crossing's delay is
    added to its ``travel_time`` and ``cost``.

    Parameters
    ----------
    graph
        Road graph (modified copy returned).
    layers
        Frontline and crossing points.
    report
        Filled with counts, if given.

    Returns
    -------
    networkx.MultiDiGraph
    """
    g = graph.copy()
    if layers.frontline is None or g.number_of_edges() == 0:
        return g
    edges = edges_frame(g)
    tree = shapely.STRtree(edges.geometry.values)
    eidx = tree.query(layers.frontline, predicate="intersects")
    remove = []
    for i in np.sort(eidx):
        geom = edges.geometry.values[i]
        inter = geom.intersection(layers.frontline)
        pts = _points_of(inter)
        chosen: Crossing | None = None
        ok = bool(pts)
        for p in pts:
            near = [
                c for c in layers.crossings if float(haversine_m(p.x, p.y, c.lon, c.lat)) <= c.radius_m
            ]
            if not near:
                ok = False
                break
            best = min(near, key=lambda c: float(haversine_m(p.x, p.y, c.lon, c.lat)))
            if chosen is None:
                chosen = best
        u, v, k = edges.u.iat[i], edges.v.iat[i], edges.key.iat[i]
        if ok and chosen is not None:
            d = g.edges[u, v, k]
            d["crossing"] = chosen.id
            d["travel_time"] = float(d["travel_time"]) + chosen.delay_s
            d["cost"] = float(d.get("cost", d["travel_time"])) + chosen.delay_s
            if report is not None:
                report.crossing_edges[chosen.id] = report.crossing_edges.get(chosen.id, 0) + 1
        else:
            remove.append((u, v, k))
    g.remove_edges_from(remove)
    if report is not None:
        report.frontline_cut_edges += len(remove)
    return g


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
    """A cut road graph ready for shortest paths.

    Holds one CSR matrix built once; shortest paths minimise risk-weighted cost, then time.

    Parameters
    ----------
    graph
        Graph after :func:`apply_hazards` and :func:`apply_frontline`.
    snap_graph
        Graph whose largest strongly connected component defines where sites may snap
        (usually the graph before cuts); defaults to ``graph``.
    """

    def __init__(self, graph: nx.MultiDiGraph, snap_graph: nx.MultiDiGraph | None = None) -> None:
        self.graph = graph
        self.node_ids = np.array(list(graph.nodes))
        self.index = {n: i for i, n in enumerate(self.node_ids.tolist())}
        self.x = np.array([graph.nodes[n]["x"] for n in self.node_ids], dtype=float)
        self.y = np.array([graph.nodes[n]["y"] for n in self.node_ids], dtype=float)
        n = len(self.node_ids)
        if n == 0:
            raise NetworkError("the road network has no usable node after hazards and frontline cuts")
        rows, cols, cost, time, keys = [], [], [], [], []
        for u, v, k, d in graph.edges(keys=True, data=True):
            rows.append(self.index[u])
            cols.append(self.index[v])
            t = float(d.get("travel_time", 0.0))
            cost.append(float(d.get("cost", t)))
            time.append(t)
            keys.append(k)
        rows_a = np.array(rows, dtype=np.int64)
        cols_a = np.array(cols, dtype=np.int64)
        cost_q = np.maximum(np.rint(np.array(cost) * _TIME_UNITS_PER_S), 1.0)
        time_q = np.maximum(np.rint(np.array(time) * _TIME_UNITS_PER_S), 1.0)
        weight = cost_q * _COMBINE + time_q
        # keep the best of parallel edges
        order = np.lexsort((weight, cols_a, rows_a))
        rows_a, cols_a, weight = rows_a[order], cols_a[order], weight[order]
        keys_a = np.array(keys, dtype=object)[order] if keys else np.array([], dtype=object)
        first = np.ones(len(rows_a), dtype=bool)
        if len(rows_a) > 1:
            first[1:] = (rows_a[1:] != rows_a[:-1]) | (cols_a[1:] != cols_a[:-1])
        self._rows, self._cols, self._keys = rows_a[first], cols_a[first], keys_a[first]
        self.csr = csr_matrix((weight[first], (self._rows, self._cols)), shape=(n, n))
        self._edge_key = {(int(a), int(b)): k for a, b, k in zip(self._rows, self._cols, self._keys, strict=True)}
        snap_graph = snap_graph if snap_graph is not None else graph
        self._snap_nodes = self._largest_scc(snap_graph)
        self._pred_cache: dict[int, np.ndarray] = {}

    # ----------------------------------------------------------------- snapping

    def _largest_scc(self, snap_graph: nx.MultiDiGraph) -> np.ndarray:
        ids = list(snap_graph.nodes)
        if not ids:
            return np.array([], dtype=np.int64)
        idx = {n: i for i, n in enumerate(ids)}
        r = [idx[u] for u, v in snap_graph.edges()]
        c = [idx[v] for u, v in snap_graph.edges()]
        m = csr_matrix((np.ones(len(r)), (r, c)), shape=(len(ids), len(ids)))
        _, labels = connected_components(m, directed=True, connection="strong")
        big = np.bincount(labels).argmax()
        keep = {ids[i] for i in np.flatnonzero(labels == big)}
        return np.array(sorted(self.index[n] for n in keep if n in self.index), dtype=np.int64)

    @property
    def snap_share(self) -> float:
        """Share of usable nodes that sites may snap to (largest strongly connected part)."""
        return len(self._snap_nodes) / max(1, len(self.node_ids))

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
        cand = self._snap_nodes if len(self._snap_nodes) else np.arange(len(self.node_ids))
        tree = _sphere_tree(self.x[cand].tobytes(), self.y[cand].tobytes())
        pts = np.asarray(lonlats, dtype=float).reshape(-1, 2)
        _, j = tree.query(_to_xyz(pts[:, 0], pts[:, 1]))
        nodes = cand[np.atleast_1d(j)]
        dist = haversine_m(pts[:, 0], pts[:, 1], self.x[nodes], self.y[nodes])
        return [Snap(int(nd), float(dm)) for nd, dm in zip(nodes, np.atleast_1d(dist), strict=True)]

    # ----------------------------------------------------------------- matrices

    def matrices(self, sources: list[int], targets: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Travel time and risk-weighted cost between node indices, in seconds.

        Shortest paths minimise the cost, then the time; unreachable pairs are ``inf``.

        Parameters
        ----------
        sources, targets
            Node indices (into ``node_ids``).

        Returns
        -------
        time_s, cost_s : numpy.ndarray
            Arrays of shape ``(len(sources), len(targets))``.
        """
        src = np.asarray(sources, dtype=np.int64)
        tgt = np.asarray(targets, dtype=np.int64)
        uniq, inv = np.unique(src, return_inverse=True)
        dist, pred = dijkstra(self.csr, directed=True, indices=uniq, return_predecessors=True)
        for row, s in enumerate(uniq):
            self._pred_cache[int(s)] = pred[row]
        d = dist[:, tgt][inv]
        finite = np.isfinite(d)
        cost_q = np.floor(np.where(finite, d, 0.0) / _COMBINE)
        time_q = np.where(finite, d, 0.0) - cost_q * _COMBINE
        time_s = np.where(finite, time_q / _TIME_UNITS_PER_S, np.inf)
        cost_s = np.where(finite, cost_q / _TIME_UNITS_PER_S, np.inf)
        return time_s, cost_s

    def path(self, source: int, target: int) -> list[int]:
        """Node indices of the shortest path (as used by :meth:`matrices`)."""
        if source == target:
            return [source]
        pred = self._pred_cache.get(source)
        if pred is None:
            _, pred = dijkstra(self.csr, directed=True, indices=source, return_predecessors=True)
            self._pred_cache[source] = pred
        out = [target]
        while out[-1] != source:
            p = int(pred[out[-1]])
            if p < 0:
                raise NetworkError(f"no path between nodes {self.node_ids[source]} and {self.node_ids[target]}")
            out.append(p)
        return out[::-1]

    def path_details(self, nodes: list[int]) -> dict:
        """Geometry and figures of a path of node indices.

        Returns
        -------
        dict
            ``coords`` ([lon, lat] along the real edge geometry), ``length_m``,
            ``travel_time_s``, ``risk_m``, ``crossings`` (ids in order).
        """
        coords: list[list[float]] = [[float(self.x[nodes[0]]), float(self.y[nodes[0]])]]
        length = time = risk = 0.0
        crossings: list[str] = []
        for a, b in zip(nodes, nodes[1:], strict=False):
            u, v = self.node_ids[a].item(), self.node_ids[b].item()
            k = self._edge_key[(a, b)]
            d = self.graph.edges[u, v, k]
            length += float(d.get("length", 0.0))
            time += float(d.get("travel_time", 0.0))
            risk += float(d.get("risk_m", 0.0))
            if d.get("crossing"):
                crossings.append(str(d["crossing"]))
            geom = d.get("geometry")
            if geom is not None:
                pts = list(geom.coords)
                # osmnx geometries run u -> v; guard against reversed storage
                if haversine_m(pts[0][0], pts[0][1], self.x[a], self.y[a]) > haversine_m(
                    pts[-1][0], pts[-1][1], self.x[a], self.y[a]
                ):
                    pts = pts[::-1]
                coords.extend([float(px), float(py)] for px, py in pts[1:])
            else:
                coords.append([float(self.x[b]), float(self.y[b])])
        return {
            "coords": coords,
            "length_m": length,
            "travel_time_s": time,
            "risk_m": risk,
            "crossings": crossings,
        }


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


def prepare_network(scenario: Scenario, graph: nx.MultiDiGraph | None = None) -> PreparedNetwork:
    """Load roads and layers, apply hazards and the frontline, and index the result.

    Parameters
    ----------
    scenario
        A validated scenario.
    graph
        A preloaded base graph (skips :func:`build_network`).

    Returns
    -------
    PreparedNetwork
    """
    base = graph if graph is not None else build_network(scenario)
    if base.number_of_nodes() == 0:
        raise NetworkError("the road network is empty")
    layers = load_layers(scenario)
    report = CutReport()
    cut = apply_hazards(base, layers, report)
    cut = apply_frontline(cut, layers, report)
    if cut.number_of_nodes() == 0:
        raise NetworkError("hazards remove every node of the road network")
    log.info(
        "network: %d nodes, %d edges; closed %d, risk %d, frontline cut %d, crossings %s",
        cut.number_of_nodes(),
        cut.number_of_edges(),
        report.closed_edges,
        report.risk_edges,
        report.frontline_cut_edges,
        report.crossing_edges,
    )
    return PreparedNetwork(base=base, roads=RoadNetwork(cut, snap_graph=base), layers=layers, report=report)
