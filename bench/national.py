"""Benchmark: the national network against the regional one.

Prints two tables:

1. loading and snapping: the regional graph (its first load in the process: it has no
   cache), the national graph compiled from its CSV files and GeoNames (cold, no cache) and
   loaded from its cache, each then
   prepared (edge table, CSR) and 1,000 random sites in Ukraine snapped to it; seconds in
   the process after the imports, best of ``--repeat`` runs;
2. a Mariupol-sized scenario (``scenarios/mariupol-2022.yaml``) planned on both networks with
   the same seed and a fixed search budget (deterministic): seconds, evacuated / bound.

Run it under the shared lock and quote the load average it prints:

    flock /tmp/bench.lock python bench/national.py [--budget 300] [--workers 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from planner import national
from planner.evacuation import plan_evacuation
from planner.network import prepare_network
from planner.scenario import parse_scenario

ROOT = Path(__file__).resolve().parents[1]


def _scenario(source: str) -> object:
    path = ROOT / "scenarios" / "mariupol-2022.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["network"] = {"source": source}
    return parse_scenario(data, path)


def _load_and_snap(
    source: str, sites: list[tuple[float, float]], cold: bool
) -> tuple[float, float, int]:
    """Seconds to load the graph and prepare it, seconds to snap, nodes."""
    national.forget_loaded_network()
    if cold:
        os.environ["PLANNER_CACHE_FOLDER"] = tempfile.mkdtemp(prefix="national-bench-")
    sc = _scenario(source).model_copy(update={"hazards": [], "frontline": None})
    t0 = time.perf_counter()
    net = prepare_network(sc)
    t1 = time.perf_counter()
    net.roads.snap(sites)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, net.roads.n_nodes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(
        f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
    )
    rng = np.random.default_rng(0)
    sites = list(
        zip(
            rng.uniform(22.5, 40.0, 1000).tolist(),
            rng.uniform(44.5, 52.0, 1000).tolist(),
            strict=True,
        )
    )
    warm_cache = os.environ.get("PLANNER_CACHE_FOLDER")
    rows = []
    for label, source, cold in (
        ("regional (first load in the process; it has no cache)", "regional", False),
        ("national, compiled (no cache)", "ukraine", True),
        ("national, from the cache", "ukraine", False),
    ):
        best = None
        for _ in range(args.repeat if not cold and source != "regional" else 1):
            if not cold:
                if warm_cache is None:
                    os.environ.pop("PLANNER_CACHE_FOLDER", None)
                else:
                    os.environ["PLANNER_CACHE_FOLDER"] = warm_cache
                if source == "ukraine":
                    national.load_national_network()  # make sure the cache exists
            got = _load_and_snap(source, sites, cold)
            best = got if best is None or sum(got) < sum(best) else best
        rows.append((label, *best))
    print("\n| network | load + prepare s | snap 1,000 sites s | total s | nodes |")
    print("|---|---|---|---|---|")
    for label, load_s, snap_s, nodes in rows:
        print(f"| {label} | {load_s:.3f} | {snap_s:.3f} | {load_s + snap_s:.3f} | {nodes:,} |")

    print(
        f"\n| Mariupol scenario on | plan s (budget {args.budget}, seed {args.seed}, {args.workers} workers) | evacuated / bound | stopped by |"
    )
    print("|---|---|---|---|")
    for source in ("regional", "ukraine"):
        sc = _scenario(source)
        t0 = time.perf_counter()
        plan = plan_evacuation(
            sc, budget=args.budget, seed=args.seed, workers=args.workers, time_limit_s=600
        )
        dt = time.perf_counter() - t0
        t = plan.totals
        print(
            f"| {source} | {dt:.1f} | {t.evacuated['total']:,} / {t.bound['total']:,} | {plan.solver.stopped_by} |"
        )
    print(
        f"\nload average at end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
    )


if __name__ == "__main__":
    main()
