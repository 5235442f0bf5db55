"""Benchmark of the repatriation track: the CP-SAT schedule and the list reconciliation.

    python bench/repatriation.py [--children 2000] [--dates 20] [--routes 6] [--records 100000]
                                 [--workers 2] [--time-limit 20] [--processes 2]
                                 [--skip-psi] [--skip-schedule]

Schedule: a generated case (one handover site with ``--dates`` handovers of 60 children,
``--routes`` routes with border crossings asking for different documents, nights allowed at
some stops, travel days of 10 / 12 / 14 h by age, sibling groups of 2 to 4, a tenth collected
by a guardian who travels there, escorts with dates). Prints the children home, CP-SAT's
bound on that number and the gap, the priority phase's value and bound, and the seconds.

Reconciliation: two lists of ``--records`` records (Cyrillic on one side; on the other the
records both hold written in Latin, Ukrainian or Russian transliteration, with Russian given
names where they differ) go through blind, reblind by the other side and match, in two
processes for the curve operations; prints the seconds of each step and the pairs found
against the pairs planted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.repatriation.journey import Durations  # noqa: E402
from planner.repatriation.keys import DEFAULT_KINDS  # noqa: E402
from planner.repatriation.model import build_candidates  # noqa: E402
from planner.repatriation.reconcile import ListRecord, blind, dumps, match, reblind  # noqa: E402
from planner.repatriation.schedule import solve  # noqa: E402
from planner.repatriation.spec import RepatriationSpec  # noqa: E402

MSK = timezone(timedelta(hours=3))


def schedule_case(n_children: int, n_dates: int, n_routes: int, seed: int = 7) -> RepatriationSpec:
    """A generated repatriation section."""
    rnd = random.Random(seed)
    day0 = datetime(2024, 3, 4, 10, 0, tzinfo=MSK)
    handovers = [
        {"at": (day0 + timedelta(days=7 * i)).isoformat(), "max_children": 60}
        for i in range(n_dates)
    ]
    docs_of = [
        ["birth_certificate"],
        ["birth_certificate", "travel_document"],
        ["birth_certificate", "medical_certificate"],
    ]
    routes = []
    for r in range(n_routes):
        legs = [
            {"mode": "rail", "duration_min": 300 + 60 * (r % 4), "to": {"id": f"r{r}-city", "location": [30.0 + r, 55.0], "overnight": True}},
            {"mode": "road", "duration_min": 240 + 30 * r, "to": {"id": f"r{r}-border", "location": [28.0 + r, 53.0],
             "crossing": {"open": "08:00", "close": "20:00", "utc_offset": "+03:00", "delay_min": 90 + 15 * r,
                          "open_days": ["mon", "tue", "wed", "thu", "fri"] if r % 2 else ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                          "documents": docs_of[r % 3], "guardian_documents": ["passport"]}}},
            {"mode": "road", "duration_min": 180, "to": {"id": f"r{r}-town", "location": [27.0 + r, 52.0], "overnight": r % 3 != 2}},
            {"mode": "road", "duration_min": 240 + 20 * r, "to": {"id": "kyiv", "location": [30.52, 50.45], "overnight": True}},
        ]  # fmt: skip
        routes.append({"id": f"route-{r}", "from": "embassy", "legs": legs})
    children, guardians = [], []
    i = 0
    while i < n_children:
        size = rnd.choices([1, 2, 3, 4], weights=[70, 18, 9, 3])[0]
        size = min(size, n_children - i)
        sib = f"s-{i}" if size > 1 else None
        ready = day0 + timedelta(days=rnd.randrange(0, 7 * n_dates)) - timedelta(days=3)
        docs = ["birth_certificate"] if rnd.random() < 0.92 else []
        docs += ["travel_document"] if rnd.random() < 0.6 else []
        docs += ["medical_certificate"] if rnd.random() < 0.5 else []
        collect = rnd.random() < 0.1
        gid = f"g-{i}"
        guardians.append({"id": gid, "can_travel": rnd.random() < 0.9, "documents": ["passport"], "ready_from": (ready - timedelta(days=4)).isoformat(),
                          "route": f"route-{rnd.randrange(n_routes)}", "to_route_min": 600})  # fmt: skip
        for _k in range(size):
            children.append({
                "id": f"c-{i:05d}", "age": rnd.randrange(0, 18), "sibling_group": sib, "medical": rnd.random() < 0.05,
                "separated_since": (date(2022, 3, 1) + timedelta(days=rnd.randrange(0, 600))).isoformat(),
                "identity_verified": rnd.random() < 0.95, "guardian_located": rnd.random() < 0.95, "guardian": gid,
                "handover_to": "guardian" if collect else "mediator", "documents": docs, "ready_from": ready.isoformat(), "transfer_min": 120,
            })  # fmt: skip
            i += 1
    escorts = [
        {"id": f"e-{k:02d}"}
        if k % 4
        else {
            "id": f"e-{k:02d}",
            "dates": [
                (day0 + timedelta(days=7 * d)).date().isoformat() for d in range(0, n_dates, 2)
            ],
        }
        for k in range(40)
    ]
    return RepatriationSpec.model_validate({
        "children": children, "guardians": guardians, "routes": routes,
        "mediator": {"handover_sites": [{"id": "embassy", "location": [37.6, 55.74], "handover_min": 90, "max_children": 60, "handovers": handovers}],
                     "escorts": escorts, "children_per_escort": [{"max_age": 5, "children": 2}, {"max_age": 17, "children": 4}],
                     "escort_rest_h": 72, "group_size": {"min": 3, "max": 10}},
        "travel_day": [{"max_age": 5, "hours": 10}, {"max_age": 11, "hours": 12}, {"max_age": 17, "hours": 14}],
    })  # fmt: skip


def bench_schedule(args: argparse.Namespace) -> None:
    spec = schedule_case(args.children, args.dates, args.routes)
    dur = Durations(legs={(r.id, j): float(leg.duration_min or 0) for r in spec.routes for j, leg in enumerate(r.legs)},
                    to_route={g.id: float(g.to_route_min or 0) for g in spec.guardians}, transfer={c.id: 120.0 for c in spec.child_list()})  # fmt: skip
    t0 = time.perf_counter()
    cand = build_candidates(spec, dur)
    t1 = time.perf_counter()
    assign, _esc, info = solve(
        spec,
        cand,
        workers=args.workers,
        seed=0,
        budget=1e9,
        time_limit_s=args.time_limit - (t1 - t0) - 2.0,  # the priority phase stops by then
        gap=0.01,
    )
    t2 = time.perf_counter()
    sec = info.get("seconds", {})
    home, bound = len(assign), info["returned_bound"]
    pairs = sum(len(v) for v in cand.eligible.values())
    gap = (bound - home) / bound if bound else 0.0
    eb = info["earliness_bound"]
    egap = (eb - info["earliness"]) / eb if eb else 0.0
    reached = (t1 - t0) + sec.get("model", 0.0) + sec.get("phase 1", 0.0)
    print(
        "| children | dates | routes | candidate groups | child-group pairs | home | CP-SAT bound | "
        "gap | priority phase / bound | status | candidates s | model s | phase 1 s | "
        "gap reached at s | phase 2 s | total s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.children:,} | {args.dates} | {args.routes} | {len(cand.groups)} | {pairs:,} | {home:,} | {bound:,} | {gap:.2%} | "
          f"{info['earliness']:,} / {eb:,} ({egap:.2%}) | {info['status']} | {t1 - t0:.1f} | {sec.get('model', 0.0):.1f} | "
          f"{sec.get('phase 1', 0.0):.1f} | {reached:.1f} | {sec.get('phase 2', 0.0):.1f} | {t2 - t0:.1f} |")  # fmt: skip


_FAM = [
    "Коваль",
    "Шевч",
    "Мельн",
    "Бонд",
    "Ткач",
    "Крав",
    "Литв",
    "Гнат",
    "Захар",
    "Петр",
    "Марч",
    "Савч",
    "Рудн",
    "Лис",
    "Гончар",
    "Олійн",
    "Сидор",
    "Пономар",
]
_END = ["енко", "ук", "ик", "ич", "чук", "ко", "ець", "ський", "як"]
_GIV = [("Олександр", "Александр"), ("Дмитро", "Дмитрий"), ("Микола", "Николай"), ("Олена", "Елена"), ("Юлія", "Юлия"), ("Софія", "София"),
        ("Артем", "Артём"), ("Максим", "Максим"), ("Анна", "Анна"), ("Ілля", "Илья"), ("Марія", "Мария"), ("Ярослава", "Ярослава"),
        ("Андрій", "Андрей"), ("Вікторія", "Виктория"), ("Тарас", "Тарас"), ("Оксана", "Оксана")]  # fmt: skip


def psi_lists(
    n: int, overlap: float = 0.3, seed: int = 11
) -> tuple[list[ListRecord], list[ListRecord], int]:
    """Two lists of ``n`` records sharing ``overlap`` of them (in another script or language)."""
    from planner.repatriation.keys import canonical_latin

    rnd = random.Random(seed)
    a, b = [], []
    shared = int(n * overlap)
    for i in range(n):
        fam = rnd.choice(_FAM) + rnd.choice(_END)
        ua, ru = rnd.choice(_GIV)
        born = date(2006, 1, 1) + timedelta(days=rnd.randrange(0, 18 * 365))
        a.append(ListRecord(f"ua-{i:06d}", fam, ua, "", born, ""))
        if i < shared:
            given = ru if rnd.random() < 0.5 else canonical_latin(ua).capitalize()
            b.append(
                ListRecord(
                    f"ru-{i:06d}",
                    canonical_latin(fam).capitalize() if rnd.random() < 0.5 else fam,
                    given,
                    "",
                    born,
                    "",
                )
            )
        else:
            b.append(
                ListRecord(
                    f"ru-{i:06d}",
                    rnd.choice(_FAM) + rnd.choice(_END),
                    rnd.choice(_GIV)[1],
                    "",
                    born + timedelta(days=1),
                    "",
                )
            )
    rnd.shuffle(b)
    return a, b, shared


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the worker processes)."""
    import resource

    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def bench_psi(args: argparse.Namespace) -> None:
    """Blind, write, read, reblind, write, read and match two lists; a table of the seconds."""
    a, b, shared = psi_lists(args.records)
    sa, sb = "ukrainian-side-secret-bench-0001", "russian-side-secret-bench-00002"
    steps: dict[str, float] = {}

    def timed(name: str, fn, *xs):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        out = fn(*xs)
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - t
        return out

    def through_file(data: dict) -> dict:  # what goes over the wire: the JSON text
        return json.loads(dumps(data))

    procs = args.processes
    cpu0 = cpu_seconds()
    a1 = timed("blind", blind, a, sa, DEFAULT_KINDS, procs)
    b1 = timed("blind", blind, b, sb, DEFAULT_KINDS, procs)
    a1, b1 = timed("files", through_file, a1), timed("files", through_file, b1)
    a2 = timed("reblind", reblind, a1, sb, procs)
    b2 = timed("reblind", reblind, b1, sa, procs)
    a2, b2 = timed("files", through_file, a2), timed("files", through_file, b2)
    found = timed("match", match, a2, b2)
    cpu = cpu_seconds() - cpu0
    planted = sum(1 for m in found if m.a_id[3:] == m.b_id[3:])
    keys = sum(len(k) for _, k in a1["records"]) + sum(len(k) for _, k in b1["records"])
    print(
        "| records per side | keys both sides | hash-to-curve | scalar mult. | processes | "
        "blind both s | reblind both s | files (JSON) s | match s | total s | CPU s (all processes) | "
        "pairs found | planted found / planted |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.records:,} | {keys:,} | {keys:,} | {2 * keys:,} | {procs} | {steps['blind']:.1f} | "
          f"{steps['reblind']:.1f} | {steps['files']:.1f} | {steps['match']:.1f} | {sum(steps.values()):.1f} | {cpu:.1f} | "
          f"{len(found):,} | {planted:,} / {shared:,} |")  # fmt: skip


def bench_curve() -> None:
    """CPU microseconds per libsodium operation through rbcl, one process."""
    import hashlib

    import rbcl

    n = 2000
    scalar = bytes(rbcl.crypto_core_ristretto255_scalar_random())
    digests = [hashlib.blake2b(str(i).encode(), digest_size=64).digest() for i in range(n)]
    t = time.process_time()
    points = [bytes(rbcl.crypto_core_ristretto255_from_hash(d)) for d in digests]
    h2c = (time.process_time() - t) / n * 1e6
    t = time.process_time()
    for p in points:
        rbcl.crypto_scalarmult_ristretto255(scalar, p)
    mult = (time.process_time() - t) / n * 1e6
    print(
        f"libsodium (rbcl) CPU per operation: hash-to-curve {h2c:.1f} us, scalar mult. {mult:.1f} us"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--children", type=int, default=2000)
    p.add_argument("--dates", type=int, default=20)
    p.add_argument("--routes", type=int, default=6)
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--time-limit",
        type=float,
        default=20.0,
        help="wall-clock cap of the whole schedule (candidates, model, both CP-SAT phases); "
        "the priority phase (phase 2) improves the order until 2 s before it",
    )
    p.add_argument("--processes", type=int, default=2, help="processes for the curve operations")
    p.add_argument("--skip-psi", action="store_true")
    p.add_argument("--skip-schedule", action="store_true")
    args = p.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    if not args.skip_schedule:
        bench_schedule(args)
    if not args.skip_psi:
        bench_curve()
        bench_psi(args)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
