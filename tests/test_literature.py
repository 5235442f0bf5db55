"""bench/literature.py: the instance parser, the independent feasibility checker, and one quick
solve through the routing core."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLOMON = ROOT.parent / "shared" / "benchmarks" / "solomon100"


def _load():
    spec = importlib.util.spec_from_file_location(
        "bench_literature", ROOT / "bench" / "literature.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_literature"] = mod
    spec.loader.exec_module(mod)
    return mod


lit = _load()

TINY = """NAME : TINY1
TYPE : CVRPTW
DIMENSION : 4
VEHICLES : 2
CAPACITY : 10
SERVICE_TIME : 1
SCALE : 10
EDGE_WEIGHT_TYPE : FLOOR_2D
NODE_COORD_SECTION
1 0 0
2 3 4
3 1 1
4 0 10
DEMAND_SECTION
1 0
2 6
3 4
4 5
TIME_WINDOW_SECTION
1 0 100
2 0 20
3 0 5
4 10 30
DEPOT_SECTION
1
-1
EOF
"""


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "TINY1.3.2.vrptw"
    p.write_text(TINY)
    return lit.parse_vrptw(p)


def test_parse(tiny):
    assert tiny.name == "TINY1"
    assert tiny.n_customers == 3
    assert (tiny.vehicles, tiny.capacity) == (2, 10)
    assert tiny.edge_weight_type == "FLOOR_2D" and tiny.scale == 10
    assert tiny.demand == [0, 6, 4, 5]
    assert tiny.ready == [0, 0, 0, 10] and tiny.due == [100, 20, 5, 30]
    assert tiny.service == [0, 1, 1, 1]
    assert lit.instance_class("RC208") == "RC2" and lit.instance_class("C1_2_1") == "C1"


def test_checker_accepts_a_feasible_plan(tiny):
    # 0 -> 3 -> 2 -> 0 : load 10, then 0 -> 4 -> 0 : load 5
    chk = lit.check_solution(tiny, [[2, 1], [3]])
    assert chk.feasible, chk.errors
    assert chk.vehicles == 2
    d01 = math.floor(10 * math.hypot(1, 1)) / 10  # 1.4
    d12 = math.floor(10 * math.hypot(2, 3)) / 10  # 3.6
    expected = d01 + d12 + 5.0 + 10.0 + 10.0
    assert chk.distance == pytest.approx(expected)
    assert chk.distance == pytest.approx(30.0)


def test_checker_flags_broken_plans(tiny):
    over = lit.check_solution(tiny, [[2, 1, 3]])  # load 15 > capacity 10
    assert not over.feasible and any("capacity" in e for e in over.errors)
    late = lit.check_solution(tiny, [[1, 2], [3]])  # customer 2 (due 5) reached at 5 + 1 + 3.6
    assert not late.feasible and any("after due" in e for e in late.errors)
    missing = lit.check_solution(tiny, [[2, 1]])
    assert not missing.feasible and any("customer 3 not served" in e for e in missing.errors)
    twice = lit.check_solution(tiny, [[2, 1], [3, 1]])
    assert not twice.feasible and any("served 2 times" in e for e in twice.errors)
    fleet = lit.check_solution(tiny, [[2], [1], [3]])
    assert not fleet.feasible and any("fleet" in e for e in fleet.errors)
    dropped = lit.check_solution(tiny, [[2, 1], [3]], dropped=[3])
    assert not dropped.feasible


def test_problem_uses_the_reference_convention(tiny):
    p = lit.to_problem(tiny)
    assert p.n == 5  # depot, 3 customers, end copy of the depot
    assert p.cost[0, 2] == 14 and p.cost[2, 1] == 36  # floor(10 · euclid) tenths
    assert p.windows[3] == (100, 300) and p.horizon == 1000
    assert list(p.service) == [0, 10, 10, 10, 0]


def test_quick_solve_is_feasible(tmp_path):
    files = sorted(SOLOMON.glob("C101.*.vrptw")) if SOLOMON.is_dir() else []
    if not files:
        pytest.skip("../shared/benchmarks/solomon100 is absent")
    # the first 25 customers of C101, written as a file of the same format
    lines = files[0].read_text().splitlines()
    out, section = [], None
    for line in lines:
        s = line.strip()
        if s.endswith("SECTION"):
            section = s
        elif (
            section in ("NODE_COORD_SECTION", "DEMAND_SECTION", "TIME_WINDOW_SECTION")
            and s.split()[:1]
            and s.split()[0].isdigit()
            and int(s.split()[0]) > 26
        ):
            continue
        if s.startswith("DIMENSION"):
            line = "DIMENSION : 26"
        if s.startswith("VEHICLES"):
            line = "VEHICLES : 5"
        out.append(line)
    p = tmp_path / "C101_25.vrptw"
    p.write_text("\n".join(out) + "\n")
    inst = lit.parse_vrptw(p)
    assert inst.n_customers == 25
    row = lit.solve_instance(
        inst, (3, 191.3), time_limit=600, workers=1, seed=0, solution_limit=200
    )
    assert row.feasible, row.errors
    assert row.vehicles <= 5
    assert row.gap is not None and row.gap < 5


# --------------------------------------------------------------------------- feasibility phase


def _small_problem():
    """Depot 0, customers 1-8 on a line and a square, end copy 9; two vehicles of capacity 10."""
    from planner.routing import RoutingProblem

    xy = np.array(
        [(0, 0), (3, 0), (6, 0), (9, 0), (0, 4), (0, 8), (5, 5), (2, 7), (7, 2), (0, 0)],
        dtype=float,
    )
    d = np.rint(10 * np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))).astype(np.int64)
    n = len(xy)
    windows = [
        (0, 1000),
        (0, 200),
        (50, 300),
        (100, 400),
        (0, 200),
        (60, 350),
        (0, 500),
        (100, 600),
        (0, 400),
    ]
    return RoutingProblem(
        time=d,
        cost=d,
        service=np.array([0] + [10] * 8 + [0], dtype=np.int64),
        demand=np.array([0, 3, 2, 2, 3, 2, 3, 2, 2, 0], dtype=np.int64),
        windows=[*windows, (0, 1000)],
        penalty=np.full(n, 10**6, dtype=np.int64),
        vehicle_capacity=[10, 10],
        vehicle_start=[0, 0],
        vehicle_end=[n - 1, n - 1],
        horizon=1000,
    )


def _route_cost(problem, routes) -> int:
    total = 0
    for v, r in enumerate(routes):
        if not r:
            continue
        path = [problem.vehicle_start[v], *r, problem.vehicle_end[v]]
        total += sum(int(problem.cost[a, b]) for a, b in zip(path, path[1:], strict=False))
    return total


def test_feasibility_phase_is_off_by_default():
    from planner.routing import SolveParams

    assert SolveParams().feasibility_first == 0.0


def test_feasibility_phase_performs_every_node_and_reports_the_plain_objective(monkeypatch):
    from planner import routing
    from planner.routing import SolveParams, solve_routing

    charged = []
    real = routing._charge_late_service
    monkeypatch.setattr(
        routing, "_charge_late_service", lambda *a: charged.append(a[-1]) or real(*a)
    )
    problem = _small_problem()
    # the first solution leaves every node unperformed, and the budget is small enough for
    # the phase to reach its second round, the one with the early-service charge
    params = SolveParams(
        time_limit_s=600,
        solution_limit=60,
        first_solution="ALL_UNPERFORMED",
        feasibility_first=0.5,
        feasibility_lambda=0.5,
        workers=1,
    )
    result = solve_routing(problem, params)
    assert charged and charged[0] == params.feasibility_early_cost
    assert result.solutions <= params.solution_limit
    assert result.dropped == []
    assert sorted(n for r in result.routes for n in r) == list(range(1, 9))
    # the early-service charge of the feasibility phase is not in the final objective
    assert result.objective == _route_cost(problem, result.routes)
    assert result.stopped_by in ("budget", "search finished")
    for r, t in zip(result.routes, result.times, strict=True):
        for node, start in zip(r, t, strict=True):
            lo, hi = problem.windows[node]
            assert lo <= start <= hi


def test_feasibility_phase_is_deterministic_under_a_budget():
    from planner.routing import SolveParams, solve_routing

    problem = _small_problem()
    params = SolveParams(
        time_limit_s=600,
        solution_limit=40,
        first_solution="ALL_UNPERFORMED",
        feasibility_first=0.5,
        workers=2,
        seed=3,
    )
    a = solve_routing(problem, params)
    b = solve_routing(problem, params)
    assert (a.routes, a.objective, a.worker, a.solutions) == (
        b.routes,
        b.objective,
        b.worker,
        b.solutions,
    )
    assert a.dropped == []


def test_feasibility_phase_leaves_a_complete_search_alone(monkeypatch):
    from planner import routing
    from planner.routing import SolveParams, solve_routing

    charged = []
    monkeypatch.setattr(routing, "_charge_late_service", lambda *a: charged.append(a))
    problem = _small_problem()
    budget = dict(time_limit_s=600, solution_limit=30, workers=1)
    plain = solve_routing(problem, SolveParams(**budget))
    phased = solve_routing(problem, SolveParams(**budget, feasibility_first=0.9))
    # the first solution already serves everyone: the feasibility phase ends there, before
    # any round with the early-service charge, and the normal search gets the budget
    assert charged == []
    assert plain.dropped == [] and phased.dropped == []
    assert phased.objective == _route_cost(problem, phased.routes)
    assert phased.solutions <= 30
    assert phased.objective <= plain.objective * 1.05


def test_benchmark_passes_the_feasibility_settings(tiny, monkeypatch):
    from planner import routing

    seen = []
    real = routing.solve_routing
    monkeypatch.setattr(
        routing,
        "solve_routing",
        lambda problem, params: seen.append(params) or real(problem, params),
    )
    row = lit.solve_instance(tiny, None, time_limit=600, workers=1, seed=0, solution_limit=20)
    assert row.feasible, row.errors
    assert seen[0].feasibility_first == lit.FEASIBILITY_FIRST > 0
    assert seen[0].feasibility_lambda == lit.FEASIBILITY_LAMBDA
    assert seen[0].feasibility_early_cost == lit.EARLY_COST
    lit.solve_instance(
        tiny, None, time_limit=600, workers=1, seed=0, solution_limit=20, feasibility_first=0.0
    )
    assert seen[1].feasibility_first == 0.0 and seen[1].solution_limit == 20
