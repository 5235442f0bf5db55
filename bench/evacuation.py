"""Benchmark: plan a scenario scaled to a given number of people and buses.

Prints one table row per run: people, buses, planning time, evacuated, bound and their
ratio, whether the plan verifies clean, and peak memory.  Default: the Mariupol scenario
scaled to 10,000 people and 60 buses with a 60 s budget on 2 cores.

    python bench/evacuation.py [--scenario scenarios/mariupol-2022.yaml] [--people 10000]
                               [--buses 60] [--time-limit 40] [--workers 2] [--seed 0]
                               [--no-rate-limit]
"""

from __future__ import annotations

import argparse
import copy
import resource
import time
from pathlib import Path

import yaml

from planner.evacuation import plan_evacuation
from planner.network import prepare_network
from planner.scenario import GROUPS, parse_scenario
from planner.verify import verify_plan

ROOT = Path(__file__).resolve().parents[1]


def scaled(data: dict, people: int, buses: int) -> dict:
    """Scale every assembly point's people to ``people`` in total and bus counts to ``buses``."""
    d = copy.deepcopy(data)
    pts = d["evacuation"]["assembly_points"]
    total = sum(sum(p["people"].get(g, 0) for g in GROUPS) for p in pts)
    factor = people / total
    acc = 0
    cells = [(p, g) for p in pts for g in GROUPS if p["people"].get(g, 0)]
    for i, (p, g) in enumerate(cells):
        n = round(p["people"][g] * factor) if i < len(cells) - 1 else people - acc
        p["people"][g] = n
        acc += n
    bus_types = [f for f in d["evacuation"]["fleet"] if "general" in f.get("groups", [])]
    bt = sum(f["count"] for f in bus_types)
    acc = 0
    for i, f in enumerate(bus_types):
        f["count"] = round(f["count"] * buses / bt) if i < len(bus_types) - 1 else buses - acc
        acc += f["count"]
    cap = sum(r["capacity"] for r in d["evacuation"]["reception_centres"])
    if cap < people:
        for r in d["evacuation"]["reception_centres"]:
            r["capacity"] = int(r["capacity"] * people / cap) + 1
    d["name"] = f"{d['name']}-x{people}"
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "mariupol-2022.yaml")
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--buses", type=int, default=60)
    ap.add_argument(
        "--time-limit",
        type=float,
        default=40.0,
        help="search cap (s); re-timing and extraction come on top",
    )
    ap.add_argument("--budget", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--no-rate-limit",
        action="store_true",
        help="drop the crossing points' vehicles-per-hour limits",
    )
    args = ap.parse_args()

    data = yaml.safe_load(args.scenario.read_text())
    if args.no_rate_limit:
        for c in data.get("ceasefire", {}).get("crossing_points", []):
            c.pop("vehicles_per_hour", None)
    sc = parse_scenario(scaled(data, args.people, args.buses), args.scenario)
    t0 = time.perf_counter()
    net = prepare_network(sc)
    t1 = time.perf_counter()
    plan = plan_evacuation(
        sc,
        network=net,
        time_limit_s=args.time_limit,
        workers=args.workers,
        seed=args.seed,
        budget=args.budget,
    )
    t2 = time.perf_counter()

    violations = verify_plan(sc, plan)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    ev, bd = plan.evacuated_total(), plan.bound_total()
    print(
        "| people | buses | network s | plan s | total s | evacuated | bound | evacuated/bound | verify | stopped by | peak MB (main / worker) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.people:,} | {args.buses} | {t1 - t0:.1f} | {t2 - t1:.1f} | {t2 - t0:.1f} | {ev:,} | {bd:,} | "
        f"{ev / bd if bd else 0:.3f} | {'clean' if not violations else f'{len(violations)} violations'} | "
        f"{plan.solver.stopped_by} | {peak_mb:.0f} / {child_mb:.0f} |"
    )
    for g, r, e, b in plan.summary_rows():
        print(f"  {g:<17} requested {r:>7,}  evacuated {e:>7,}  bound {b:>7,}")
    for v in violations[:10]:
        print("  violation:", v)


if __name__ == "__main__":
    main()
