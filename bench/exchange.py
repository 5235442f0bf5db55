"""Benchmark: an exchange at negotiation scale, generated from a seed.

Each side holds ``--per-side`` people (default 10,000) in 20 facilities (40 in all) on the
bundled regional road network, in 6 categories; three exchange points hand people over on a
60-day horizon (one window a day per point) under exact parity, precedence, all-for-all of the
seriously wounded and the deceased, and limits per event and per day.  Prints, per stage of
the lexicographic solve, its status, objective, CP-SAT's bound, the gap and seconds, then the
totals and whether ``planner verify``'s checker finds the plan clean.

    python bench/exchange.py [--per-side 10000] [--seed 0] [--time-limit 60] [--det-time 5]
                             [--no-verify]

A constructive schedule (:mod:`planner.exchange_greedy`) starts every solve (the one with
fewer events, each day keeping only the slots its limit fills, when its earliest sum is
within 1 % of that stage's LP bound); a stage whose schedule is within 1 % of the LP
relaxation's bound is not solved further, the others get ``--det-time`` of CP-SAT
deterministic time each (one worker: the same seed and budget give the same plan).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import time
from datetime import date, timedelta

from planner.exchange import parse_exchange, schedule_exchanges
from planner.exchange_check import check_exchange
from planner.network import prepare_network
from planner.scenario import parse_scenario

# settlements of the bundled network (GeoNames ids), one list per side of the 2022 front
SIDE_A = [
    709930,
    687700,
    706483,
    696643,
    703845,
    709932,
    713245,
    697889,
    700051,
    704147,
    702723,
    701075,
    702760,
    701347,
    707292,
    704508,
    705104,
    704422,
    693796,
    698436,
]
SIDE_B = [
    709717,
    702320,
    707753,
    706466,
    698614,
    713504,
    691374,
    710229,
    701822,
    701404,
    712451,
    691469,
    709276,
    706448,
    699839,
    708878,
    702658,
    713716,
    692975,
    692105,
]
POINTS = [(35.33, 47.50), (37.55, 49.70), (33.38, 46.75)]
CATEGORIES = {
    "seriously_wounded": 10,
    "deceased": 3,
    "civilian": 4,
    "lightly_wounded": 3,
    "officer": 2,
    "combatant": 1,
}
SHARES = {
    "seriously_wounded": 0.04,
    "deceased": 0.06,
    "civilian": 0.15,
    "lightly_wounded": 0.10,
    "officer": 0.05,
    "combatant": 0.60,
}


def _split(total: int, weights: list[float], rng: random.Random) -> list[int]:
    raw = [w * total / sum(weights) for w in weights]
    out = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (out[i] - raw[i], rng.random()))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def make_case(per_side: int = 10_000, seed: int = 0, days: int = 60, facilities: int = 20) -> dict:
    """A seeded exchange scenario (a mapping for :func:`planner.scenario.parse_scenario`).

    Parameters
    ----------
    per_side
        People held by each side.
    seed
        Seed of the generator: sizes of facilities, categories held, buses.
    days
        Days of the horizon (one window a day at each exchange point).
    facilities
        Facilities per side.

    Returns
    -------
    dict
        The scenario.
    """
    rng = random.Random(seed)
    start = date(2025, 5, 1)
    windows = [
        {
            "start": f"{start + timedelta(days=k)}T08:00:00+03:00",
            "end": f"{start + timedelta(days=k)}T20:00:00+03:00",
        }
        for k in range(days)
    ]
    facs, counts = [], {"ua": {}, "ru": {}}
    for party, sites in (("ua", SIDE_A), ("ru", SIDE_B)):
        sizes = _split(per_side, [rng.uniform(0.3, 2.0) for _ in range(facilities)], rng)
        for k, (gid, size) in enumerate(zip(sites[:facilities], sizes, strict=True)):
            fid = f"{party}-f{k:02d}"
            held = list(CATEGORIES) if k % 4 == 0 else rng.sample(list(CATEGORIES), 3)
            n = _split(size, [SHARES[c] for c in held], rng)
            counts[party][fid] = {c: v for c, v in zip(held, n, strict=True) if v}
            facs.append(
                {
                    "id": fid,
                    "party": party,
                    "location": {"geonameid": gid},
                    "buses": max(2, size // 150 + rng.randint(0, 4)),
                    "seats": 45,
                }
            )
    points = [
        {
            "id": f"p{k}",
            "location": list(ll),
            "handovers_per_hour": 300,
            "max_per_event": 1200,
            "event_min": 240,
        }
        for k, ll in enumerate(POINTS)
    ]
    return {
        "name": f"bench-exchange-{per_side}",
        "network": {"source": "regional"},
        "ceasefire": {"windows": windows},
        "exchange": {
            "parties": ["ua", "ru"],
            "categories": CATEGORIES,
            "facilities": facs,
            "detainees": {p: {"counts": c} for p, c in counts.items()},
            "exchange_points": points,
            "terms": {
                "ratio": "1:1",
                "parity": "exact",
                "all_for_all": ["seriously_wounded", "deceased"],
                "precedence": ["seriously_wounded", "lightly_wounded", "civilian"],
                "max_per_event": 1200,
                "max_per_day": max(1200, per_side // 5),
            },
            "transfer_buffer_min": 30,
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-side", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument(
        "--time-limit", type=float, default=60.0, help="wall-clock cap per solve (s), a safety net"
    )
    ap.add_argument("--det-time", type=float, default=5.0, help="deterministic budget per solve")
    ap.add_argument("--no-verify", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    sc = parse_scenario(make_case(a.per_side, a.seed, a.days), "bench/exchange.yaml")
    spec = parse_exchange(sc)
    net = prepare_network(sc)
    t1 = time.perf_counter()
    plan = schedule_exchanges(
        sc, spec, network=net, seed=a.seed, time_limit_s=a.time_limit, det_time=a.det_time
    )
    t2 = time.perf_counter()
    d = plan.model_dump(mode="json")
    print(
        f"per side {a.per_side:,}, {len(spec.facilities)} facilities, {len(spec.category_ids)} categories, "
        f"{len(spec.exchange_points)} points, {a.days} days; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'stage':<10} {'status':<10} {'objective':>14} {'bound':>14} {'gap':>8} {'seconds':>8}")
    for st, secs in zip(d["solver"].get("stages", []), plan.stage_seconds, strict=False):
        obj, bnd = st.get("objective"), st.get("bound")
        gap = st.get("gap")
        print(
            f"{st['stage']:<10} {st['status']:<10} {obj!s:>14} {bnd!s:>14} "
            f"{'' if gap is None else f'{100 * gap:.3f}%':>8} {secs:8.2f}"
        )
    rel = d["totals"]["released"]
    print(
        f"status {d['status']}; released "
        + ", ".join(f"{p} {rel[p]['total']:,}" for p in d["parties"])
        + f" of {per_side_total(d)}; {len(d['events'])} events on {len(d['days'])} days"
    )
    print(f"setup {t1 - t0:.2f} s, schedule {t2 - t1:.2f} s (total {t2 - t0:.2f} s)")
    print("plan sha256 " + hashlib.sha256(plan.to_json().encode()).hexdigest()[:16])
    if not a.no_verify:
        found = check_exchange(sc, spec, d, network=net)
        print("verify: " + ("clean" if not found else f"{len(found)} violations, first {found[0]}"))


def per_side_total(d: dict) -> str:
    """Held per party, for the totals line."""
    return ", ".join(f"{d['totals']['held'][p]['total']:,}" for p in d["parties"])


if __name__ == "__main__":
    main()
