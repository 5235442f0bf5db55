"""Network cuts: closed hazards remove roads, risk hazards cost more, the frontline cuts
roads except at crossing points; snapping and travel-time matrices."""

from __future__ import annotations

import numpy as np
import pytest

from planner.network import (
    CutReport,
    EdgeTable,
    RoadNetwork,
    apply_frontline,
    apply_hazards,
    haversine_m,
    load_layers,
    prepare_network,
)
from planner.scenario import parse_scenario


def _layers(scenario_dict):
    return load_layers(parse_scenario(scenario_dict))


def test_closed_hazard_removes_roads_inside(grid, scenario_dict):
    # a closed square around node (1, 1) = id 101 at 35.1 E 47.1 N
    scenario_dict["hazards"] = [
        {
            "id": "c",
            "kind": "closed",
            "polygon": [[35.08, 47.08], [35.12, 47.08], [35.12, 47.12], [35.08, 47.12]],
        }
    ]
    rep = CutReport()
    g = apply_hazards(grid, _layers(scenario_dict), rep)
    assert 101 not in g.nodes
    assert rep.closed_edges == 8  # four two-way roads meet there
    assert g.has_edge(0, 1) and g.has_edge(200, 201)


def test_risk_hazard_costs_more_and_counts_exposure(grid, scenario_dict):
    scenario_dict["hazards"] = [
        {
            "id": "r",
            "kind": "risk",
            "factor": 4,
            "polygon": [[35.02, 46.95], [35.08, 46.95], [35.08, 47.05], [35.02, 47.05]],
        }
    ]
    g = apply_hazards(grid, _layers(scenario_dict))
    d = g.edges[0, 100, 0]
    # the road from 35.0 to 35.1 runs 60% inside the polygon (35.02..35.08)
    assert d["risk_m"] == pytest.approx(0.6 * d["length"], rel=1e-6)
    assert d["cost"] == pytest.approx(d["travel_time"] * (1 + 0.6 * 3), rel=1e-6)
    assert d["travel_time"] == grid.edges[0, 100, 0]["travel_time"]  # time unchanged
    assert g.edges[100, 200, 0]["risk_m"] == 0


def test_frontline_cuts_except_at_crossing(grid, scenario_dict):
    rep = CutReport()
    g = apply_frontline(apply_hazards(grid, _layers(scenario_dict)), _layers(scenario_dict), rep)
    # the line x = 35.25 cuts the four roads between column 2 and 3; only the one at 47.1 (crossing) stays
    assert not g.has_edge(200, 300) and not g.has_edge(202, 302) and not g.has_edge(203, 303)
    assert g.has_edge(201, 301) and g.has_edge(301, 201)
    e = g.edges[201, 301, 0]
    assert e["crossing"] == "cp1"
    assert e["travel_time"] == pytest.approx(grid.edges[201, 301, 0]["travel_time"] + 20 * 60)
    assert rep.frontline_cut_edges == 6 and rep.crossing_edges == {"cp1": 2}


def test_no_crossing_point_isolates_the_other_side(grid, scenario_dict):
    scenario_dict["ceasefire"]["crossing_points"] = []
    scenario_dict["hazards"] = []
    net = prepare_network(parse_scenario(scenario_dict), graph=grid)
    west, east = net.roads.index[0], net.roads.index[500]
    t, _ = net.roads.matrices([west], [east])
    assert np.isinf(t[0, 0])


def test_matrices_match_networkx_and_paths_follow_cost(grid, scenario_dict):
    import networkx as nx

    scenario_dict["frontline"] = None
    scenario_dict["ceasefire"]["crossing_points"] = []
    net = prepare_network(parse_scenario(scenario_dict), graph=grid)
    roads = net.roads
    ids = [0, 303, 503, 2]
    idx = [roads.index[i] for i in ids]
    time_s, cost_s = roads.matrices(idx, idx)
    g = net.roads.table.to_graph()
    for a, ia in zip(ids, idx, strict=False):
        for b, ib in zip(ids, idx, strict=False):
            if a == b:
                continue
            path = roads.path(ia, ib)
            det = roads.path_details(path)
            assert det["travel_time_s"] == pytest.approx(
                time_s[idx.index(ia), idx.index(ib)], abs=0.2
            )
            best = nx.shortest_path_length(g, a, b, weight="cost")
            assert cost_s[idx.index(ia), idx.index(ib)] == pytest.approx(best, abs=0.5)


def test_snap_reports_distance(grid):
    roads = RoadNetwork(grid)
    (s,) = roads.snap([(35.01, 47.0)])
    assert roads.node_ids[s.node] == 0
    assert s.distance_m == pytest.approx(float(haversine_m(35.01, 47.0, 35.0, 47.0)), rel=1e-6)


def _random_city(side, seed):
    """A small street grid with random travel times, one-way streets, dead ends and parallel edges."""
    import networkx as nx

    rng = np.random.default_rng(seed)
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for i in range(side):
        for j in range(side):
            g.add_node(i * side + j, x=35.0 + 0.001 * i, y=47.0 + 0.001 * j)
    for i in range(side):
        for j in range(side):
            for a, b in ((i + 1, j), (i, j + 1)):
                if a >= side or b >= side or rng.random() < 0.15:  # missing blocks leave dead ends
                    continue
                u, v = i * side + j, a * side + b
                for x, y in (
                    [(u, v), (v, u)]
                    if rng.random() < 0.8
                    else [(u, v)]
                    if rng.random() < 0.5
                    else [(v, u)]
                ):
                    t = float(rng.uniform(5, 60))
                    g.add_edge(x, y, length=10 * t, travel_time=t)
                    if rng.random() < 0.05:
                        g.add_edge(x, y, length=10 * t, travel_time=t * 1.5)
    for k in range(side):  # dead-end trees hanging off the grid
        tip = side * side + k
        g.add_node(tip, x=34.99, y=47.0 + 0.001 * k)
        g.add_edge(k, tip, length=100.0, travel_time=10.0)
        g.add_edge(tip, k, length=100.0, travel_time=10.0)
    return g


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contracted_matrix_equals_plain_dijkstra_bit_for_bit(seed):
    from scipy.sparse.csgraph import dijkstra

    g = _random_city(24, seed)
    rng = np.random.default_rng(seed)
    table = EdgeTable(g)
    risky = rng.random(len(table.cost)) < 0.2  # risk-weighted costs, as after hazards
    table.cost[risky] *= rng.uniform(1.5, 4.0, risky.sum())
    roads = RoadNetwork(table)
    n = len(roads.node_ids)
    src = rng.choice(n, 40, replace=False)
    tgt = rng.choice(n, 30, replace=False)
    plain = dijkstra(roads.csr, directed=True, indices=np.unique(src))[:, tgt]
    got = roads._distances(np.unique(src), tgt, contract=True)
    assert np.array_equal(got, plain)  # same floats, including inf for unreachable pairs
    t1, c1 = roads.matrices(list(src), list(tgt), contract=True)
    t0, c0 = roads.matrices(list(src), list(tgt), contract=False)
    assert np.array_equal(t1, t0) and np.array_equal(c1, c0)
    # path reconstruction still follows the matrix
    for a, b in [(src[0], tgt[0]), (src[1], tgt[2])]:
        i, j = list(src).index(a), list(tgt).index(b)
        if np.isfinite(t1[i, j]):
            det = roads.path_details(roads.path(int(a), int(b)))
            assert det["travel_time_s"] == pytest.approx(
                t1[i, j], abs=0.1 * len(roads.path(int(a), int(b)))
            )


def test_contraction_shrinks_the_graph_and_keeps_the_sites():
    from scipy.sparse.csgraph import dijkstra

    from planner._contraction import contract_graph

    roads = RoadNetwork(_random_city(30, 5))
    keep = np.zeros(len(roads.node_ids), dtype=bool)
    keep[::37] = True
    core, nodes = contract_graph(roads.csr, keep, runs=1e4)  # many runs: contract deep, prune
    assert set(np.flatnonzero(keep)) <= set(nodes.tolist())
    assert core.shape[0] < 0.6 * roads.csr.shape[0]
    label = {int(v): i for i, v in enumerate(nodes)}
    sites = np.flatnonzero(keep)
    plain = dijkstra(roads.csr, directed=True, indices=sites)[:, sites]
    small = dijkstra(core, directed=True, indices=[label[s] for s in sites])[
        :, [label[s] for s in sites]
    ]
    assert np.array_equal(small, plain)


@pytest.mark.parametrize("runs", [50.0, 1e4])  # without and with pruning
def test_contraction_in_two_halves_keeps_every_distance(runs, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from scipy.sparse.csgraph import dijkstra

    import planner._contraction
    from planner._contraction import contract_graph
    from planner.processes import process_pool

    monkeypatch.setattr(planner._contraction, "SPLIT_NODES", 0)  # split this small city too
    roads = RoadNetwork(_random_city(30, 7))
    keep = np.zeros(len(roads.node_ids), dtype=bool)
    keep[::29] = True
    side = roads._halves()
    assert 0.4 < side.mean() < 0.6
    with process_pool(2) as pool:
        core, nodes = contract_graph(roads.csr, keep, runs, side=side, pool=pool)
    with ThreadPoolExecutor(2) as threads:
        again, _ = contract_graph(roads.csr, keep, runs, side=side, pool=threads)
    assert (core != again).nnz == 0  # the same core, however the halves were run
    assert set(np.flatnonzero(keep)) <= set(nodes.tolist())
    assert core.shape[0] < 0.6 * roads.csr.shape[0]
    label = {int(v): i for i, v in enumerate(nodes)}
    sites = np.flatnonzero(keep)
    plain = dijkstra(roads.csr, directed=True, indices=sites)[:, sites]
    small = dijkstra(core, directed=True, indices=[label[s] for s in sites])[
        :, [label[s] for s in sites]
    ]
    assert np.array_equal(small, plain)


@pytest.mark.parametrize("chunk", [4_000_000, 50])
def test_nodes_inside_matches_strtree_contains(chunk, monkeypatch):
    import shapely

    import planner.network
    from planner.network import _nodes_inside

    monkeypatch.setattr(planner.network, "_POINTS_PER_CHUNK", chunk)

    rng = np.random.default_rng(3)
    x = np.round(rng.uniform(0, 10, 3000), 1)  # on a 0.1 lattice: some points on polygon edges
    y = np.round(rng.uniform(0, 10, 3000), 1)
    polys = np.array(
        [
            shapely.box(a, b, a + w, b + h)
            for a, b, w, h in np.round(rng.uniform(0, 3, (40, 4)) * [3, 3, 1, 1], 1)
        ]
        + [
            shapely.Polygon([(1, 1), (4, 1.5), (2, 4)]),
            shapely.MultiPolygon([shapely.box(6, 6, 7, 7), shapely.box(8, 8, 9, 9)]),
        ]
    )
    _, expected = shapely.STRtree(shapely.points(x, y)).query(polys, predicate="contains")
    assert np.array_equal(_nodes_inside(x, y, polys), np.unique(expected))


def _mixed_roads(seed: int):
    """A random graph with short straight edges, curved edges (a geometry) and a few long
    straight ones that reach far from their tail node."""
    import networkx as nx
    import shapely

    rng = np.random.default_rng(seed)
    g = nx.MultiDiGraph(crs="EPSG:4326")
    pts = np.round(rng.uniform(0, 10, (400, 2)), 1)
    for i, (x, y) in enumerate(pts):
        g.add_node(i, x=float(x), y=float(y))
    for _ in range(1200):
        a = int(rng.integers(400))
        near = np.flatnonzero(np.abs(pts - pts[a]).max(axis=1) < 0.8)
        b = int(rng.choice(near)) if rng.random() < 0.97 else int(rng.integers(400))
        if a == b:
            continue
        attrs = {"length": 100.0, "travel_time": 10.0}
        if rng.random() < 0.3:  # curved: a detour through a point off the straight line
            mid = (pts[a] + pts[b]) / 2 + rng.uniform(-0.5, 0.5, 2)
            attrs["geometry"] = shapely.LineString([pts[a], mid, pts[b]])
        g.add_edge(a, b, **attrs)
    return g


@pytest.mark.parametrize("seed", [0, 1])
def test_edge_query_matches_an_strtree_of_all_edges(seed):
    import shapely

    table = EdgeTable(_mixed_roads(seed))
    rng = np.random.default_rng(seed + 10)
    geoms = np.array(
        [
            shapely.box(a, b, a + w, b + h)
            for a, b, w, h in np.round(rng.uniform(0, 9, (60, 4)) * [1, 1, 0.15, 0.15], 1)
        ]
        + [
            shapely.box(4.0, -1, 4.05, 11),  # a thin strip: long edges cross it end to end
            shapely.Polygon(
                [(0, 0), (10, 0), (10, 10), (0, 10)], [[(1, 1), (9, 1), (9, 9), (1, 9)]]
            ),
            shapely.LineString([(0, 5), (3, 6), (10, 4)]),
            shapely.Polygon(),  # empty: meets nothing
            shapely.box(20, 20, 21, 21),  # off the map
        ],
        dtype=object,
    )
    expected_g, expected_e = shapely.STRtree(table.geom).query(geoms, predicate="intersects")
    order = np.lexsort((expected_e, expected_g))
    got_g, got_e = table.query(geoms)
    assert len(got_e) > 100
    assert np.array_equal(got_g, expected_g[order]) and np.array_equal(got_e, expected_e[order])
    assert len(table._index.far) > 0  # the long and curved edges went through their own tree


def test_segments_of_lines_and_polygon_boundaries():
    import shapely

    from planner.network import _segments

    ring = shapely.Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (2, 1), (2, 2)]])
    lines = shapely.MultiLineString([[(10, 0), (11, 0), (11, 1)], [(20, 0), (21, 0)]])
    segs = _segments(shapely.GeometryCollection([ring, lines]))
    assert len(segs) == 4 + 3 + 2 + 1  # no segment joins two separate parts
    assert shapely.equals(shapely.union_all(segs), shapely.union_all([ring.boundary, lines]))


def test_a_prepared_network_is_reused_for_a_scenario_on_the_same_roads(
    grid, scenario_dict, monkeypatch
):
    import copy

    import planner.network

    loads = []
    monkeypatch.setattr(planner.network, "build_network", lambda sc: loads.append(sc) or grid)
    before = parse_scenario(copy.deepcopy(scenario_dict))
    scenario_dict["hazards"] = [
        {
            "id": "c",
            "kind": "closed",
            "polygon": [
                [35.09, 47.09],
                [35.11, 47.09],
                [35.11, 47.11],
                [35.09, 47.11],
                [35.09, 47.09],
            ],
        },
        {
            "id": "r",
            "kind": "risk",
            "factor": 3,
            "polygon": [
                [35.19, 46.99],
                [35.31, 46.99],
                [35.31, 47.31],
                [35.19, 47.31],
                [35.19, 46.99],
            ],
        },
    ]
    after = parse_scenario(scenario_dict)
    first = prepare_network(before)
    table_before = (
        first.roads.table.cost.copy(),
        first.roads.table.alive.copy(),
        first.roads.csr.copy(),
    )
    reused = prepare_network(after, reuse=first)
    assert len(loads) == 1  # the roads were loaded once
    scratch = prepare_network(after)
    assert (reused.roads.csr != scratch.roads.csr).nnz == 0
    assert np.array_equal(reused.roads.table.cost, scratch.roads.table.cost)
    assert np.array_equal(reused.roads.table.time, scratch.roads.table.time)
    assert reused.report == scratch.report and reused.report.closed_edges > 0
    # the first network is untouched by the cuts made for the second
    assert np.array_equal(first.roads.table.cost, table_before[0])
    assert np.array_equal(first.roads.table.alive, table_before[1])
    assert (first.roads.csr != table_before[2]).nnz == 0
    # other roads: loaded, not reused
    after.network.speeds_kph = {"primary": 20.0}
    prepare_network(after, reuse=first)
    assert len(loads) == 3


def _matrix_in_daemon(roads, sources, targets, queue):
    queue.put(roads.matrices(sources, targets)[0])


def test_big_matrix_inside_a_daemon_process_runs_without_a_pool():
    """A dask worker is a daemon and may not start processes: the matrix then runs in one."""
    import multiprocessing as mp

    roads = RoadNetwork(_random_city(50, 3))
    n = len(roads.node_ids)
    sources, targets = list(range(n)), [n // 2]  # a small answer: it fits the pipe's buffer
    assert len(sources) * n > 5e6  # big enough for two processes outside a daemon
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_matrix_in_daemon, args=(roads, sources, targets, queue), daemon=True)
    proc.start()
    proc.join(timeout=120)
    assert proc.exitcode == 0
    assert np.array_equal(queue.get(timeout=10), roads.matrices(sources, targets)[0])


@pytest.mark.parametrize("pool", [False, True])
def test_prefetched_paths_are_shortest_and_match_the_matrix(pool, monkeypatch):
    from scipy.sparse.csgraph import dijkstra

    import planner.network

    if pool:
        monkeypatch.setattr(planner.network, "_PATHS_POOL_WORK", 0)
    g = _random_city(20, 4)
    g.add_node(-1, x=36.0, y=48.0)  # no road reaches it
    roads = RoadNetwork(g)
    n = len(roads.node_ids)
    island = roads.index[-1]
    rng = np.random.default_rng(4)
    src = sorted(rng.choice(n - 1, 12, replace=False).tolist())
    tgt = sorted(rng.choice(n - 1, 9, replace=False).tolist()) + [island]
    roads.matrices(src, tgt)  # the paths' searches stop at the farthest target's distance
    pairs = [(a, b) for a in src for b in tgt if rng.random() < 0.5]
    pairs += [(src[0], island), (src[1], 0 if src[1] else 1)]  # no path; no bound known
    roads.prefetch_paths(pairs)
    plain = dijkstra(roads.csr, directed=True, indices=src)
    for a, b in pairs:
        d = plain[src.index(a), b]
        if not np.isfinite(d):
            with pytest.raises(planner.network.NetworkError):
                roads.path(a, b)
            continue
        p = roads.path(a, b)
        assert p[0] == a and p[-1] == b
        assert sum(roads.csr[x, y] for x, y in zip(p, p[1:], strict=False)) == d
    assert len(roads._pred_cache) == 0  # every path came from the prefetch
