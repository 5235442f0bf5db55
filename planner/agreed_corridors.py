"""Agreed humanitarian corridors (``ceasefire.corridors``): their road paths and the roads
vehicles carrying people may use.

A corridor is the road path through its ``via`` points in order (the shortest open path
between consecutive points), or a line read from a file and followed road by road.  Via
points and checkpoints that are not nodes of the network attach to the nearest road node
(their distance is reported).  When a scenario has corridors, every drive that carries people
or heads for an assembly point runs on the *corridor network*: the corridor edges (in their
allowed ``direction``) plus every road within ``ceasefire.approach_km`` of a site; other drives
(empty runs between reception centres and vehicle starts) use every open road.  Vehicles
stop at each checkpoint they pass for its ``stop_min``.

This is not :mod:`planner.corridors`, which ranks candidate corridors to negotiate.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field

import numpy as np

from planner.corridor_refs import check_corridor_refs as check_corridor_refs
from planner.corridor_refs import site_locations, via_points
from planner.errors import NetworkError, ScenarioError
from planner.network import RoadNetwork, haversine_m
from planner.plan import CorridorCheckpointPart, CorridorPart, CorridorVia
from planner.scenario import Corridor, Scenario, location_lonlat
from planner.settings import get_settings
from planner.validate import check_layer

# --------------------------------------------------------------------------- road paths


@dataclass
class CheckpointOnPath:
    """A checkpoint attached to the nearest node of its corridor's road path."""

    id: str
    corridor: str
    name: str | None
    location: tuple[float, float]
    node: int
    """Node index (into ``RoadNetwork.node_ids``)."""
    position_m: float
    """Metres from the corridor's first node."""
    stop_min: float
    snap_m: float
    """Distance from the given location to the node."""


@dataclass
class CorridorPath:
    """The road path of an agreed corridor on a cut network."""

    id: str
    corridor: Corridor
    nodes: list[int]
    """Node indices (into ``RoadNetwork.node_ids``), from the first via point to the last."""
    edges: list[int]
    """Edge indices (into ``RoadNetwork.table``), one fewer than ``nodes``."""
    position_m: np.ndarray
    """Metres along the path at each node."""
    via: list[tuple[str, int, float]]
    """``(label, node, snap_m)`` of each via point (or each vertex of a line file)."""
    checkpoints: list[CheckpointOnPath]
    """In order along the path."""
    length_m: float
    travel_time_s: float
    coords: list[list[float]]
    """``[lon, lat]`` along the real edge geometry."""


def _line_points(
    scenario: Scenario, i: int, corridor: Corridor
) -> list[tuple[str, tuple[float, float]]]:
    """The vertices of a corridor's line file, in order, as via points."""
    import geopandas as gpd
    import shapely

    src, field = scenario.source_name(), f"ceasefire.corridors.{i}.file"
    assert corridor.file is not None
    path = scenario.resolve_path(corridor.file)
    try:
        gdf = gpd.read_file(path, layer=corridor.layer) if corridor.layer else gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types; the user needs one line
        raise ScenarioError(src, field, f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    gdf = check_layer(gdf, src, field, path)
    lines = [
        g
        for g in gdf.geometry
        if g is not None and g.geom_type in {"LineString", "MultiLineString"}
    ]
    if not lines:
        raise ScenarioError(src, field, f"{path} holds no line")
    line = shapely.line_merge(shapely.union_all(lines))
    if line.geom_type != "LineString":
        raise ScenarioError(src, field, f"{path}: the lines do not join into one line")
    return [(f"vertex {k}", (float(x), float(y))) for k, (x, y, *_) in enumerate(line.coords)]


def corridor_path(scenario: Scenario, roads: RoadNetwork, corridor: Corridor) -> CorridorPath:
    """The road path of a corridor: the shortest open path through its via points in order.

    Via points (or a line file's vertices) attach to the nearest usable road node; a
    checkpoint attaches to the nearest node of the path.

    Parameters
    ----------
    scenario
        The scenario (for site ids and file paths).
    roads
        The scenario's cut road network (``prepare_network(scenario).roads``).
    corridor
        One of ``scenario.ceasefire.corridors``.

    Returns
    -------
    CorridorPath

    Raises
    ------
    NetworkError
        When no open road joins two consecutive via points.
    """
    i = scenario.ceasefire.corridors.index(corridor)
    points = (
        via_points(corridor, site_locations(scenario))
        if corridor.via is not None
        else _line_points(scenario, i, corridor)
    )
    snaps = roads.snap([p for _label, p in points])
    via = [(label, sn.node, sn.distance_m) for (label, _p), sn in zip(points, snaps, strict=True)]
    nodes = [via[0][1]]
    for (la, a, _da), (lb, b, _db) in zip(via, via[1:], strict=False):
        if a == b:
            continue
        try:
            nodes.extend(roads.path(a, b)[1:])
        except NetworkError:
            raise NetworkError(f"corridor {corridor.id}: no open road from {la} to {lb}") from None
    edges = [roads.edge(a, b) for a, b in zip(nodes, nodes[1:], strict=False)]
    t = roads.table
    position = np.concatenate([[0.0], np.cumsum(t.length[edges])]) if edges else np.zeros(1)
    det = roads.path_details(nodes)
    nx_, ny_ = roads.x[nodes], roads.y[nodes]
    checkpoints = []
    for cp in corridor.checkpoints:
        lon, lat = location_lonlat(cp.location)
        dist = haversine_m(lon, lat, nx_, ny_)
        k = int(np.argmin(dist))
        checkpoints.append(
            CheckpointOnPath(
                cp.id,
                corridor.id,
                cp.name,
                (lon, lat),
                nodes[k],
                float(position[k]),
                cp.stop_min,
                float(dist[k]),
            )
        )
    checkpoints.sort(key=lambda c: (c.position_m, c.id))
    return CorridorPath(
        id=corridor.id,
        corridor=corridor,
        nodes=nodes,
        edges=edges,
        position_m=position,
        via=via,
        checkpoints=checkpoints,
        length_m=float(det["length_m"]),
        travel_time_s=float(det["travel_time_s"]),
        coords=det["coords"],
    )


def corridor_paths(scenario: Scenario, roads: RoadNetwork) -> tuple[list[CorridorPath], list[str]]:
    """The road paths of every corridor, and warnings (a corridor no open road follows,
    a via point or checkpoint far from the roads)."""
    paths: list[CorridorPath] = []
    warnings: list[str] = []
    far = get_settings().snap_warn_m
    sites = site_locations(scenario)
    for c in scenario.ceasefire.corridors:
        try:
            cp = corridor_path(scenario, roads, c)
        except NetworkError as exc:
            warnings.append(f"{exc}; no vehicle can use it")
            continue
        paths.append(cp)
        warnings += [
            f"corridor {c.id}: via point {label} is {d:.0f} m from the nearest usable road"
            for label, _n, d in cp.via
            if d > far and c.via is not None and label not in sites
        ]
        warnings += [
            f"corridor {c.id}: checkpoint {k.id} is {k.snap_m:.0f} m from the corridor's road"
            for k in cp.checkpoints
            if k.snap_m > far
        ]
    return paths, warnings


# --------------------------------------------------------------------------- corridor network


@dataclass
class CorridorRoads:
    """The roads that drives carrying people (or heading for an assembly point) may use.

    ``roads`` is the cut network restricted to the corridor edges (in their allowed
    direction) and the roads within ``approach_km`` of a site; leaving a checkpoint node
    costs its stop.
    """

    paths: list[CorridorPath]
    roads: RoadNetwork
    stop_s: dict[int, tuple[str, float]]
    """``(checkpoint id, stop seconds)`` by node."""
    approach_m: float
    warnings: list[str] = field(default_factory=list)

    def leg_checkpoints(self, nodes: list[int]) -> list[tuple[str, float, float]]:
        """``(checkpoint id, arrive, depart)`` in seconds after the leg leaves, along a path
        of this network's nodes (a checkpoint at the last node is not stopped at)."""
        t = self.roads.table
        out: list[tuple[str, float, float]] = []
        clock = 0.0
        for k, a in enumerate(nodes[:-1]):
            if a in self.stop_s:
                cid, stop = self.stop_s[a]
                out.append((cid, clock, clock + stop))
            clock += float(t.time[self.roads.edge(a, nodes[k + 1])])
        return out


def _corridor_edges(roads: RoadNetwork, paths: list[CorridorPath]) -> np.ndarray:
    """Mask of the table's edges on a corridor, in the directions the corridor allows."""
    mask = np.zeros(len(roads.table.u), dtype=bool)
    for p in paths:
        if p.corridor.direction in ("both", "outbound"):
            mask[p.edges] = True
        if p.corridor.direction in ("both", "inbound"):
            for a, b in zip(p.nodes, p.nodes[1:], strict=False):
                with contextlib.suppress(KeyError):
                    mask[roads.edge(b, a)] = True
    return mask


def _approach_nodes(
    roads: RoadNetwork, lonlats: list[tuple[float, float]], radius_m: float
) -> np.ndarray:
    """Mask of the nodes within ``radius_m`` of one of the points."""
    near = np.zeros(len(roads.node_ids), dtype=bool)
    for lon, lat in lonlats:
        near |= haversine_m(lon, lat, roads.x, roads.y) <= radius_m
    return near


def corridor_roads(
    scenario: Scenario, roads: RoadNetwork, site_lonlats: list[tuple[float, float]]
) -> CorridorRoads | None:
    """The corridor network of a scenario (``None`` when it has no corridors).

    Parameters
    ----------
    scenario
        The scenario.
    roads
        Its cut road network.
    site_lonlats
        Where the sites are (assembly points, reception centres, vehicle starts): roads
        within ``ceasefire.approach_km`` of them may be used off the corridors.

    Returns
    -------
    CorridorRoads or None
    """
    if not scenario.ceasefire.corridors:
        return None
    paths, warnings = corridor_paths(scenario, roads)
    t = roads.table
    approach_m = scenario.ceasefire.approach_km * 1000.0
    near = _approach_nodes(roads, site_lonlats, approach_m)
    allowed = t.alive & (_corridor_edges(roads, paths) | (near[t.u] & near[t.v]))
    stop_s: dict[int, tuple[str, float]] = {}
    for p in paths:
        for k in p.checkpoints:
            if k.stop_min > 0 and k.node not in stop_s:
                stop_s[k.node] = (k.id, k.stop_min * 60.0)
    extra = np.zeros(len(t.u))
    for node, (_cid, s) in stop_s.items():
        extra[t.u == node] = s
    restricted = copy.copy(t)
    restricted.alive = allowed
    restricted.time = t.time + extra
    restricted.cost = t.cost + extra
    return CorridorRoads(paths, RoadNetwork(restricted), stop_s, approach_m, warnings)


def carries_on_corridor(from_kind: str, to_kind: str) -> bool:
    """Whether a drive between sites of these kinds must follow the corridors: it heads for
    an assembly point, or leaves one (and so may carry people)."""
    return from_kind == "assembly" or to_kind == "assembly"


def plan_corridors(corridors: CorridorRoads | None) -> list[CorridorPart] | None:
    """The ``corridors`` part of ``plan.json`` (``None`` without corridors)."""
    if corridors is None:
        return None
    ids = corridors.roads.node_ids
    out = []
    for p in corridors.paths:
        c = p.corridor
        out.append(
            CorridorPart(
                id=c.id,
                name=c.name,
                direction=c.direction,
                width_m=c.width_m,
                windows=[(w.start.isoformat(), w.end.isoformat()) for w in c.windows]
                if c.windows is not None
                else None,
                length_m=round(p.length_m, 1),
                travel_time_s=round(p.travel_time_s, 1),
                path=[(round(x, 6), round(y, 6)) for x, y in p.coords],
                via=[
                    CorridorVia(point=label, node=str(ids[n].item()), snap_m=round(d, 1))
                    for label, n, d in p.via
                ],
                checkpoints=[
                    CorridorCheckpointPart(
                        id=k.id,
                        name=k.name,
                        location=(round(k.location[0], 6), round(k.location[1], 6)),
                        node=str(ids[k.node].item()),
                        snap_m=round(k.snap_m, 1),
                        position_m=round(k.position_m, 1),
                        stop_min=k.stop_min,
                    )
                    for k in p.checkpoints
                ],
            )
        )
    return out
