"""The routing core and PyVRP side by side on the literature instances, in one run.

For every instance of a set (``../shared/benchmarks/<set>/``, see bench/literature.py for
the format and the distance convention) the script solves the same integer data twice, one
after the other and alternating which goes first: once with this project's routing core
(:func:`planner.routing.solve_routing` through bench/literature.py, with ``--solver``:
``best`` by default, i.e. OR-Tools and the PyVRP backend each with half the time, the better
checked result kept; ``ortools`` for OR-Tools alone), and once with PyVRP as a user would call
it (``pyvrp.Model`` built here from the same matrices, ``MaxRuntime``).  Both get the same
time limit, one core each, the same fleet (the instance's vehicle count) and the same seed.
Both solutions go through the independent checker of bench/literature.py (capacity, time
windows, fleet, every customer once, distance in the reference convention).

Prints one row per instance and the mean gaps to the reference, and writes a CSV.  Needs the
bench extra (``pip install -e ".[bench]"``)::

    python bench/side_by_side.py --set solomon100 --time-limit 30
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _literature():  # noqa: ANN202 - the bench/literature.py module
    spec = importlib.util.spec_from_file_location("bench_literature", HERE / "literature.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_literature"] = mod
    spec.loader.exec_module(mod)
    return mod


lit = _literature()


@dataclass
class Outcome:
    """One solver's checked solution of one instance."""

    vehicles: int
    distance: float
    gap: float | None
    feasible: bool
    seconds: float
    errors: list[str]


def _checked(inst, ref, routes, dropped, seconds) -> Outcome:  # noqa: ANN001
    chk = lit.check_solution(inst, routes, dropped=dropped)
    gap = None
    if ref is not None and ref[1] > 0:
        gap = 100.0 * (chk.distance - ref[1]) / ref[1]
    return Outcome(chk.vehicles, chk.distance, gap, chk.feasible, seconds, chk.errors)


def run_core(inst, ref, time_limit: float, seed: int, solver: str, budget: int | None) -> Outcome:  # noqa: ANN001
    """This project's routing core on one core (one search process)."""
    row = lit.solve_instance(inst, ref, time_limit, 1, seed, solver=solver, solution_limit=budget)
    return Outcome(row.vehicles, row.distance, row.gap, row.feasible, row.time_s, row.errors)


def run_pyvrp(inst, ref, time_limit: float, seed: int, budget: int | None) -> Outcome:  # noqa: ANN001
    """PyVRP on the same integer data: a ``pyvrp.Model`` with every arc given; with a budget,
    it also stops after as many iterations as the core's PyVRP backend would make of it."""
    from pyvrp import Model
    from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

    from planner.routing_pyvrp import ITERATIONS_PER_SOLUTION

    problem = lit.to_problem(inst)  # the same integer matrices, windows and service times
    n = len(inst.x)  # depot 0 and customers 1..n-1 (the problem's end copy is not needed)
    m = Model()
    locs = [m.add_location(x=float(inst.x[i]), y=float(inst.y[i])) for i in range(n)]
    m.add_depot(locs[0], tw_early=int(problem.vehicle_earliest[0]), tw_late=int(problem.horizon))
    m.add_vehicle_type(
        num_available=inst.vehicles,
        capacity=inst.capacity,
        tw_early=int(problem.vehicle_earliest[0]),
        tw_late=int(problem.horizon),
    )
    for c in range(1, n):
        lo, hi = problem.windows[c]
        m.add_client(
            locs[c],
            delivery=int(problem.demand[c]),
            service_duration=int(problem.service[c]),
            tw_early=int(lo),
            tw_late=int(hi),
        )
    dist = np.asarray(problem.cost)[:n, :n]
    dur = np.asarray(problem.time)[:n, :n]
    for i in range(n):
        for j in range(n):
            if i != j:
                m.add_edge(locs[i], locs[j], distance=int(dist[i, j]), duration=int(dur[i, j]))
    t0 = time.perf_counter()
    stop = MaxRuntime(time_limit)
    if budget:
        stop = MultipleCriteria([stop, MaxIterations(budget * ITERATIONS_PER_SOLUTION)])
    res = m.solve(stop=stop, seed=seed, display=False, collect_stats=False)
    seconds = time.perf_counter() - t0
    routes = [
        [m.data().client(a.idx).location for a in r.schedule() if a.is_client()]
        for r in res.best.routes()
    ]
    dropped = [] if res.best.is_feasible() else [-1]
    return _checked(inst, ref, routes, dropped, seconds)


def _fmt(v: float | None, nd: int = 2) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def summary(rows: list[tuple[str, Outcome, Outcome]]) -> dict[str, float | int | None]:
    """Feasible counts and mean gaps of both solvers (gaps over every instance with a
    reference; an infeasible solution's gap counts as it is, and is flagged)."""
    core = [r[1] for r in rows]
    pyv = [r[2] for r in rows]
    return {
        "instances": len(rows),
        "core_feasible": sum(o.feasible for o in core),
        "pyvrp_feasible": sum(o.feasible for o in pyv),
        "core_mean_gap": _mean([o.gap for o in core if o.gap is not None]),
        "pyvrp_mean_gap": _mean([o.gap for o in pyv if o.gap is not None]),
    }


def write_csv(path: Path, rows: list[tuple[str, Outcome, Outcome]], refs: dict) -> None:
    """One line per instance and solver, written whole (temporary file, then renamed)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["instance", "solver", "vehicles", "distance", "ref_vehicles", "ref_distance"]
            + ["gap_pct", "feasible", "seconds"]
        )
        for name, core, pyv in rows:
            ref = refs.get(name) or (None, None)
            for label, o in (("core", core), ("pyvrp", pyv)):
                w.writerow(
                    [name, label, o.vehicles, f"{o.distance:.3f}", ref[0], ref[1]]
                    + [_fmt(o.gap, 3), o.feasible, f"{o.seconds:.2f}"]
                )
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--set", default="solomon100", choices=["solomon100", "homberger200"])
    ap.add_argument("--data", type=Path, default=lit.DEFAULT_DATA)
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per solve")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--solver", default="best", choices=["best", "ortools", "pyvrp"], help="core backend"
    )
    ap.add_argument(
        "--budget",
        type=int,
        default=None,
        help="also stop on a work budget (core: solutions; PyVRP: iterations), deterministic",
    )
    ap.add_argument("--instances", default=None, help="globs or prefixes, e.g. 'C1*,R101'")
    ap.add_argument("--csv", type=Path, default=None, help="default bench/side_by_side_<set>.csv")
    args = ap.parse_args(argv)
    folder = args.data / args.set
    if not folder.is_dir():
        print(f"no benchmark folder {folder}", file=sys.stderr)
        return 2
    files = sorted(lit.select(sorted(folder.glob("*.vrptw")), args.instances), key=lit.sort_key)
    if not files:
        print("no instance matches", file=sys.stderr)
        return 2
    refs = lit.read_reference(folder)
    rows: list[tuple[str, Outcome, Outcome]] = []
    print(f"{'instance':10s} {'ref':>12s} | {'core':>26s} | {'pyvrp':>26s}")
    for k, f in enumerate(files):
        inst = lit.parse_vrptw(f)
        ref = refs.get(inst.name)
        nd = 1 if inst.edge_weight_type == "FLOOR_2D" else 3
        solves = [
            lambda: run_core(inst, ref, args.time_limit, args.seed, args.solver, args.budget),  # noqa: B023
            lambda: run_pyvrp(inst, ref, args.time_limit, args.seed, args.budget),  # noqa: B023
        ]
        if k % 2:  # alternate which goes first, so a load swing hurts both alike
            core_first = False
            pyv, core = solves[1](), solves[0]()
        else:
            core_first = True
            core, pyv = solves[0](), solves[1]()
        rows.append((inst.name, core, pyv))
        cells = []
        for o in (core, pyv):
            flag = "" if o.feasible else " INFEASIBLE"
            cells.append(f"{o.vehicles:3d} {o.distance:10.{nd}f} {_fmt(o.gap):>6s}%{flag}")
        refc = f"{ref[0]}/{ref[1]:.{nd}f}" if ref else "-"
        first = "core first" if core_first else "pyvrp first"
        print(f"{inst.name:10s} {refc:>12s} | {cells[0]:>26s} | {cells[1]:>26s}  ({first})")
    s = summary(rows)
    print(
        f"\n{s['instances']} instances, {args.time_limit:g} s each, seed {args.seed}, "
        f"core solver {args.solver}"
    )
    print(f"feasible: core {s['core_feasible']}, pyvrp {s['pyvrp_feasible']}")
    print(f"mean gap: core {_fmt(s['core_mean_gap'])} %, pyvrp {_fmt(s['pyvrp_mean_gap'])} %")
    if s["core_mean_gap"] is not None and s["pyvrp_mean_gap"] is not None:
        print(f"difference: {s['core_mean_gap'] - s['pyvrp_mean_gap']:+.2f} percentage points")
    out = args.csv or HERE / f"side_by_side_{args.set}.csv"
    write_csv(out, rows, refs)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
