"""City-scale benchmark: hazards and travel-time matrices on a 100,000-node street graph,
and a full city evacuation plan.

The graph is a generated grid city (one-way streets, dead ends, arterials every tenth
street) of at least 100,000 nodes; the OpenStreetMap extracts in ../shared are far smaller
(north Bayreuth has 708 drivable nodes), so they cannot stand in here.

Part 1 prints: hazards applied (1,000 polygons, STRtree), a 1,000 x 1,000 travel-time
matrix (scipy.sparse.csgraph over one CSR matrix), and networkx single-pair Dijkstra on a
sample of pairs in the same run, scaled to 1,000,000 pairs.  Part 2 plans 300 assembly
points, 20,000 people, 80 buses and two 8-hour windows, verifies the plan and prints the
time, evacuated/bound and peak memory.

    python bench/city.py [--side 317] [--sites 1000] [--pairs 40] [--skip-plan]
                         [--time-limit 60] [--workers 2] [--seed 0] [--baseline REF]

With ``--baseline REF`` part 1 also runs planner/network.py as it was at git REF on the same
graph in the same run, prints both timings and checks that the matrices are equal bit for bit.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import resource
import sys
import time

import networkx as nx
import numpy as np

import planner.network
from planner.network import Layers, haversine_m

LON0, LAT0 = 35.10, 47.80  # somewhere like Zaporizhzhia
STEP_DEG = 0.0012  # about 90-130 m


def grid_city(side: int, seed: int = 0) -> nx.MultiDiGraph:
    """A ``side`` x ``side`` grid city: 15 % one-way streets, 3 % missing blocks (dead ends)."""
    rng = np.random.default_rng(seed)
    g = nx.MultiDiGraph(crs="EPSG:4326", name=f"grid-city-{side}")
    for i in range(side):
        for j in range(side):
            g.add_node(i * side + j, x=LON0 + i * STEP_DEG, y=LAT0 + j * STEP_DEG * 0.7)
    for i in range(side):
        for j in range(side):
            for di, dj in ((1, 0), (0, 1)):
                a, b = i + di, j + dj
                if a >= side or b >= side or rng.random() < 0.03:
                    continue
                u, v = i * side + j, a * side + b
                arterial = (j % 10 == 0) if di else (i % 10 == 0)
                speed = 50.0 if arterial else 30.0
                length = float(
                    haversine_m(g.nodes[u]["x"], g.nodes[u]["y"], g.nodes[v]["x"], g.nodes[v]["y"])
                )
                attrs = dict(
                    length=length,
                    speed_kph=speed,
                    travel_time=length / (speed / 3.6),
                    highway="primary" if arterial else "residential",
                )
                r = rng.random()
                if arterial or r > 0.15:
                    g.add_edge(u, v, **attrs)
                    g.add_edge(v, u, **attrs)
                elif r > 0.075:
                    g.add_edge(u, v, **attrs)
                else:
                    g.add_edge(v, u, **attrs)
    big = max(nx.strongly_connected_components(g), key=len)
    return g.subgraph(big).copy()


def random_hazards(n: int, side: int, seed: int) -> Layers:
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed + 1)
    span = side * STEP_DEG
    cx = LON0 + rng.random(n) * span
    cy = LAT0 + rng.random(n) * span * 0.7
    r = STEP_DEG * (0.5 + rng.random(n) * 2.0)
    polys = [
        shapely.box(x - s, y - s * 0.7, x + s, y + s * 0.7)
        for x, y, s in zip(cx, cy, r, strict=True)
    ]
    closed = rng.random(n) < 0.2
    df = gpd.GeoDataFrame(
        {
            "id": [f"h{i}" for i in range(n)],
            "kind": np.where(closed, "closed", "risk"),
            "factor": np.where(closed, 1.0, 2.0 + rng.random(n) * 3),
            "field": "bench",
        },
        geometry=polys,
        crs=4326,
    )
    return Layers(
        closed=df[df.kind == "closed"].reset_index(drop=True),
        risk=df[df.kind == "risk"].reset_index(drop=True),
        frontline=None,
    )


def network_module(ref: str):  # noqa: ANN201 - a module
    """``planner/network.py`` as it was at git ``ref``, loaded beside the current one."""
    import importlib.util
    import pathlib
    import subprocess
    import tempfile

    root = pathlib.Path(__file__).resolve().parent.parent
    text = subprocess.run(
        ["git", "show", f"{ref}:planner/network.py"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = pathlib.Path(tempfile.mkdtemp()) / "network_baseline.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("network_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def timed(fn, *args):  # noqa: ANN001, ANN201
    """``fn(*args)``, its wall seconds and its CPU seconds (this process and its finished workers)."""
    c0, t0 = sum(os.times()[:4]), time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0, sum(os.times()[:4]) - c0


def hazards_and_csr(net, g: nx.MultiDiGraph, layers: Layers):  # noqa: ANN001, ANN201
    """Build the edge table, cut it and build the CSR with module ``net``."""
    rep = net.CutReport()
    table = net.EdgeTable(g)
    net.cut_hazards(table, layers, rep)
    net.cut_frontline(table, layers, rep)
    return net.RoadNetwork(table), rep


def part1(args: argparse.Namespace) -> nx.MultiDiGraph:
    t0 = time.perf_counter()
    g = grid_city(args.side, args.seed)
    t_gen = time.perf_counter() - t0
    layers = random_hazards(1000, args.side, args.seed)
    old = network_module(args.baseline) if args.baseline else None
    if old is not None:  # the old code path, same graph, same run
        (old_roads, _), t_haz_old, c_haz_old = timed(hazards_and_csr, old, g, layers)
    (roads, rep), t_haz, c_haz = timed(hazards_and_csr, planner.network, g, layers)
    table = roads.table
    cut = table.to_graph()  # for networkx, outside the timing
    rng = np.random.default_rng(args.seed + 2)
    pts = [
        (
            LON0 + rng.random() * args.side * STEP_DEG,
            LAT0 + rng.random() * args.side * STEP_DEG * 0.7,
        )
        for _ in range(args.sites)
    ]
    nodes = [s.node for s in roads.snap(pts)]
    (tm, cm), t_mat, c_mat = timed(roads.matrices, nodes, nodes)
    rows = []
    if old is not None:
        same_net = (
            (old_roads.csr != roads.csr).nnz == 0
            and np.array_equal(old_roads.table.cost, table.cost)
            and np.array_equal(old_roads.table.node_alive, table.node_alive)
            and [s.node for s in old_roads.snap(pts)] == nodes
        )
        (tm_old, cm_old), t_mat_old, c_mat_old = timed(old_roads.matrices, nodes, nodes)
        same = np.array_equal(tm, tm_old) and np.array_equal(cm, cm_old)
        rows = [
            ("hazards applied (1,000 polygons) + CSR built", t_haz_old, t_haz, c_haz_old, c_haz),
            (
                f"{len(nodes):,} x {len(nodes):,} travel-time matrix (csgraph)",
                t_mat_old,
                t_mat,
                c_mat_old,
                c_mat,
            ),
            (
                "hazards + matrix",
                t_haz_old + t_mat_old,
                t_haz + t_mat,
                c_haz_old + c_mat_old,
                c_haz + c_mat,
            ),
        ]
    # networkx single-pair Dijkstra on the same cut graph (min cost over parallel edges), same weights
    weight = lambda u, v, d: min(e.get("cost", e["travel_time"]) for e in d.values())  # noqa: E731
    pairs = [
        (int(rng.integers(len(nodes))), int(rng.integers(len(nodes)))) for _ in range(args.pairs)
    ]
    t0 = time.perf_counter()
    for a, b in pairs:
        with contextlib.suppress(nx.NetworkXNoPath):
            nx.dijkstra_path_length(
                cut, roads.node_ids[nodes[a]].item(), roads.node_ids[nodes[b]].item(), weight=weight
            )
    t_nx = (time.perf_counter() - t0) / len(pairs) * len(nodes) ** 2
    finite = np.isfinite(tm).mean()
    print(
        f"graph: {g.number_of_nodes():,} nodes, {g.number_of_edges():,} edges (generated in {t_gen:.1f} s); "
        f"after hazards {roads.n_nodes:,} nodes, {roads.n_edges:,} edges; "
        f"{rep.closed_edges:,} closed, {rep.risk_edges:,} under risk"
    )
    print()
    if old is not None:
        print(
            f"| step | seconds, {args.baseline} | seconds, now | speed-up | CPU s, {args.baseline} | CPU s, now |"
        )
        print("|---|---|---|---|---|---|")
        for name, a, b, ca, cb in rows:
            print(f"| {name} | {a:.2f} | {b:.2f} | {a / b:.1f}x | {ca:.2f} | {cb:.2f} |")
        print(
            f"(same network, CSR and snaps as {args.baseline}: {same_net}; same matrices, bit for bit: {same})"
        )
        print()
    print("| step | seconds |")
    print("|---|---|")
    print(f"| hazards applied (1,000 polygons) + CSR built | {t_haz:.2f} |")
    print(f"| {len(nodes):,} x {len(nodes):,} travel-time matrix (csgraph) | {t_mat:.2f} |")
    print(f"| hazards + matrix | {t_haz + t_mat:.2f} |")
    print(f"| CPU seconds of hazards + matrix (all processes) | {c_haz + c_mat:.2f} |")
    print(
        f"| networkx single-pair Dijkstra, {args.pairs} pairs scaled to {len(nodes) ** 2:,} | {t_nx:.1f} |"
    )
    print(f"| speed-up of the matrix over networkx | {t_nx / t_mat:.0f}x |")
    print(f"(reachable pairs: {finite:.1%})")
    return g


def city_scenario(args: argparse.Namespace) -> dict:
    """300 assembly points, 20,000 people, 80 vehicles, two 8-hour windows on the grid city."""
    rng = np.random.default_rng(args.seed + 3)
    span = args.side * STEP_DEG
    groups = ["general", "children", "reduced_mobility", "wounded"]
    share = [0.7, 0.2, 0.07, 0.03]
    people_left = 20_000
    pts = []
    for i in range(300):
        n = people_left if i == 299 else int(20_000 / 300)
        people_left -= n
        split = {g_: int(n * s) for g_, s in zip(groups, share, strict=True)}
        split["general"] += n - sum(split.values())
        pts.append(
            {
                "id": f"ap{i}",
                "location": [LON0 + rng.random() * span * 0.6, LAT0 + rng.random() * span * 0.7],
                "people": split,
            }
        )
    data = {
        "name": "grid-city",
        "ceasefire": {
            "windows": [
                {"start": "2024-05-01T06:00:00+03:00", "end": "2024-05-01T14:00:00+03:00"},
                {"start": "2024-05-02T06:00:00+03:00", "end": "2024-05-02T14:00:00+03:00"},
            ]
        },
        "evacuation": {
            "assembly_points": pts,
            "reception_centres": [
                {
                    "id": "east-1",
                    "location": [LON0 + span * 0.97, LAT0 + span * 0.2],
                    "capacity": 12_000,
                },
                {
                    "id": "east-2",
                    "location": [LON0 + span * 0.97, LAT0 + span * 0.5],
                    "capacity": 12_000,
                },
            ],
            "fleet": [
                {
                    "type": "bus",
                    "count": 74,
                    "seats": 50,
                    "groups": ["general", "children", "reduced_mobility"],
                    "start": "east-1",
                },
                {
                    "type": "ambulance",
                    "count": 6,
                    "seats": 6,
                    "groups": ["wounded", "reduced_mobility"],
                    "start": "east-2",
                },
            ],
            "stop_min": 5,
            "unload_min": 10,
        },
    }
    return data


def part2(args: argparse.Namespace, g: nx.MultiDiGraph) -> None:
    from planner.evacuation import plan_evacuation
    from planner.network import prepare_network
    from planner.scenario import parse_scenario
    from planner.verify import verify_plan

    data = city_scenario(args)
    sc = parse_scenario(data)
    t0 = time.perf_counter()
    net = prepare_network(sc, graph=g)
    plan = plan_evacuation(
        sc,
        network=net,
        time_limit_s=args.time_limit,
        workers=args.workers,
        seed=args.seed,
        budget=args.budget or 10**9,
    )
    t_plan = time.perf_counter() - t0
    violations = verify_plan(sc, plan, graph=g)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    ev, bd = plan.evacuated_total(), plan.bound_total()
    print()
    print("| city plan | value |")
    print("|---|---|")
    print("| assembly points / people / vehicles | 300 / 20,000 / 80 |")
    print(f"| total time (network + plan) s | {t_plan:.1f} |")
    print(f"| evacuated / bound | {ev:,} / {bd:,} = {ev / bd if bd else 0:.3f} |")
    print(f"| verify | {'clean' if not violations else f'{len(violations)} violations'} |")
    print(f"| search stopped by | {plan.solver.stopped_by} (objective {plan.solver.objective:,}) |")
    print(f"| peak memory MB (main / largest worker) | {peak:.0f} / {child:.0f} |")
    for v in violations[:5]:
        print("  ", v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=317, help="grid side (317 -> ~100,000 nodes)")
    ap.add_argument("--sites", type=int, default=1000)
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--skip-plan", action="store_true")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--budget",
        type=int,
        default=None,
        help="solutions per search (default: the time limit only)",
    )
    ap.add_argument(
        "--baseline",
        metavar="REF",
        help="also time planner/network.py as at git REF (e.g. 7ccd088) in the same run, and compare",
    )
    args = ap.parse_args()
    handler = logging.StreamHandler(sys.stdout)  # the core size of the contracted matrix graph
    handler.setFormatter(logging.Formatter("(%(message)s)"))
    logging.getLogger("planner.network").addHandler(handler)
    logging.getLogger("planner.network").setLevel(logging.DEBUG)
    g = part1(args)
    if not args.skip_plan:
        part2(args, g)


if __name__ == "__main__":
    main()
