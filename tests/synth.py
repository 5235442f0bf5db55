"""Small hand-made road graphs for tests (no file, no network)."""

from __future__ import annotations

import networkx as nx

from planner.network import haversine_m


def grid_graph(
    nx_: int = 6,
    ny: int = 4,
    lon0: float = 35.0,
    lat0: float = 47.0,
    step: float = 0.1,
    speed_kph: float = 60.0,
) -> nx.MultiDiGraph:
    """A grid of two-way roads, ``step`` degrees apart, node ids ``100*i + j``."""
    g = nx.MultiDiGraph(crs="EPSG:4326", name="grid")
    for i in range(nx_):
        for j in range(ny):
            g.add_node(100 * i + j, x=lon0 + i * step, y=lat0 + j * step)
    for i in range(nx_):
        for j in range(ny):
            for di, dj in ((1, 0), (0, 1)):
                a, b = (i, j), (i + di, j + dj)
                if b[0] >= nx_ or b[1] >= ny:
                    continue
                u, v = 100 * a[0] + a[1], 100 * b[0] + b[1]
                length = (
                    float(
                        haversine_m(
                            g.nodes[u]["x"], g.nodes[u]["y"], g.nodes[v]["x"], g.nodes[v]["y"]
                        )
                    )
                    * 1.1
                )
                for s, t in ((u, v), (v, u)):
                    g.add_edge(
                        s,
                        t,
                        key=0,
                        length=length,
                        speed_kph=speed_kph,
                        travel_time=length / (speed_kph / 3.6),
                        highway="primary",
                        ref="T-01",
                    )
    return g


def road_graph(
    points: dict[int, tuple[float, float]],
    roads: list[tuple[int, int, float]],
    speed_kph: float = 60.0,
) -> nx.MultiDiGraph:
    """Two-way roads between given points: ``roads`` holds ``(u, v, length_m)``.

    Lengths are given (at least the great-circle distance), so drives are exact: 90 km at
    60 km/h is 5,400 s.
    """
    g = nx.MultiDiGraph(crs="EPSG:4326", name="roads")
    for n, (x, y) in points.items():
        g.add_node(n, x=x, y=y)
    for u, v, length in roads:
        gc = float(haversine_m(g.nodes[u]["x"], g.nodes[u]["y"], g.nodes[v]["x"], g.nodes[v]["y"]))
        assert length >= gc, (u, v, length, gc)
        for s, t in ((u, v), (v, u)):
            g.add_edge(
                s,
                t,
                key=0,
                length=float(length),
                speed_kph=speed_kph,
                travel_time=length / (speed_kph / 3.6),
                highway="primary",
                ref="T-01",
            )
    return g
