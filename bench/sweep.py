"""Benchmark: robustness sweep of the Mariupol scenario, and time per re-plan.

Part 1 plans the Mariupol scenario once, then times ``run_sweep`` with 1,000 simulated runs
on a dask LocalCluster (simulation only), against one worker in the same run.  Part 2 (with
``--replan``) plans the grid city of bench/city.py and times one re-plan after a hazard
appears mid-morning.

    python bench/sweep.py [--runs 1000] [--workers 2] [--replan] [--seed 0] [--replan-runs N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

from planner.evacuation import plan_evacuation
from planner.scenario import parse_scenario
from planner.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[1]

DISRUPTIONS = {
    "window_cut": {"probability": 0.3, "max_hours": 5},
    "crossing_closure": {"probability": 0.1},
    "crossing_delay": {"mean_min": 30},
    "road_closure": {"probability": 0.01},
    "breakdown": {"probability": 0.03},
}


def part1(args: argparse.Namespace) -> None:
    path = ROOT / "scenarios" / "mariupol-2022.yaml"
    data = yaml.safe_load(path.read_text())
    data.setdefault("disruptions", DISRUPTIONS)
    sc = parse_scenario(data, path)
    t0 = time.perf_counter()
    plan = plan_evacuation(sc, time_limit_s=60, budget=args.budget, seed=args.seed)
    t_plan = time.perf_counter() - t0
    rows = []
    for w in sorted({1, args.workers}):
        t0 = time.perf_counter()
        res = run_sweep(sc, plan, args.runs, seed=args.seed, workers=w)
        rows.append((w, time.perf_counter() - t0, res))
    print(f"plan: {plan.evacuated_total():,} evacuated in {t_plan:.1f} s")
    print()
    print("| workers | runs | seconds | expected evacuated | 95% interval | P(all wounded out) |")
    print("|---|---|---|---|---|---|")
    for w, secs, res in rows:
        lo, hi = res.ci95["total"]
        print(
            f"| {w} | {res.runs:,} | {secs:.1f} | {res.mean['total']:,.1f} | {lo:,.1f} – {hi:,.1f} | {res.p_all_wounded_out:.1%} |"
        )
    same = all(r[2] == rows[0][2] for r in rows)
    print(f"(identical figures with 1 and {args.workers} workers: {same})")
    for event, share, loss in rows[-1][2].damaging[:5]:
        print(f"  {event}: {share:.0%} of runs, costs {loss:,.0f} evacuees on average")
    if args.replan_runs:
        n = args.replan_runs
        t0 = time.perf_counter()
        again = run_sweep(
            sc,
            plan,
            n,
            seed=args.seed,
            workers=args.workers,
            replan=True,
            plan_kwargs={"budget": args.replan_budget},
        )
        secs = time.perf_counter() - t0
        alone = run_sweep(sc, plan, n, seed=args.seed, workers=args.workers)
        print()
        print(f"| first {n} runs | seconds | expected evacuated | 95% interval |")
        print("|---|---|---|---|")
        for name, res, t in (
            ("plan left alone", alone, None),
            (f"re-planned (budget {args.replan_budget})", again, secs),
        ):
            lo, hi = res.ci95["total"]
            print(
                f"| {name} | {'' if t is None else f'{t:.1f}'} | {res.mean['total']:,.1f} | {lo:,.1f} – {hi:,.1f} |"
            )


def part2(args: argparse.Namespace) -> None:
    import sys
    from datetime import datetime, timedelta

    sys.path.insert(0, str(ROOT / "bench"))
    from city import grid_city  # noqa: E402

    from planner.network import prepare_network
    from planner.replan import Event, replan

    g = grid_city(args.side, args.seed)
    import city as city_mod

    ns = argparse.Namespace(side=args.side, seed=args.seed, time_limit=60, workers=args.workers)
    sc_data = city_mod.city_scenario(ns)
    sc = parse_scenario(sc_data)
    net = prepare_network(sc, graph=g)
    plan = plan_evacuation(sc, network=net, time_limit_s=60, workers=args.workers, budget=10**9)
    at = datetime.fromisoformat(sc_data["ceasefire"]["windows"][0]["start"]) + timedelta(hours=3)
    lon, lat = sc_data["evacuation"]["assembly_points"][0]["location"]
    poly = [
        [lon - 0.01, lat - 0.01],
        [lon + 0.01, lat - 0.01],
        [lon + 0.01, lat + 0.01],
        [lon - 0.01, lat + 0.01],
    ]
    ev = Event.model_validate(
        {"at": at.isoformat(), "hazard": {"id": "strike", "kind": "closed", "polygon": poly}}
    )
    import planner.network as network

    network.build_network = lambda _sc: g  # the generated city stands in for the scenario's network
    t0 = time.perf_counter()
    new = replan(sc, plan, [ev], time_limit_s=args.replan_limit, workers=args.workers, budget=10**9)
    secs = time.perf_counter() - t0
    print()
    print("| re-plan (city, hazard at +3 h) | value |")
    print("|---|---|")
    print(f"| seconds (search cap {args.replan_limit:.0f} s) | {secs:.1f} |")
    print(
        f"| evacuated before / after | {plan.evacuated_total():,} / {new.totals.evacuated['total']:,} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--budget", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--replan", action="store_true")
    ap.add_argument("--side", type=int, default=317)
    ap.add_argument("--replan-limit", type=float, default=30.0)
    ap.add_argument(
        "--replan-runs", type=int, default=0, help="also sweep this many runs with re-planning"
    )
    ap.add_argument("--replan-budget", type=int, default=300)
    args = ap.parse_args()
    part1(args)
    if args.replan:
        part2(args)


if __name__ == "__main__":
    main()
