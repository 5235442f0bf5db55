"""The PyVRP backend of the routing core, the ``solver`` choice, and bench/side_by_side.py."""

from __future__ import annotations

import csv
import importlib.util
import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from planner.errors import PlannerError
from planner.routing import RoutingProblem, SolveParams, solve_routing
from planner.routing_pyvrp import pyvrp_unsupported, route_objective, route_violations

pytest.importorskip("pyvrp")

ROOT = Path(__file__).resolve().parents[1]

# depot at the origin and four customers; every customer's demand is 4, capacity 8
XY = np.array([[0, 0], [0, 10], [10, 10], [10, 0], [20, 0]], dtype=float)


def _problem(**changes) -> RoutingProblem:
    d = np.rint(np.hypot(*(XY[:, None, :] - XY[None, :, :]).transpose(2, 0, 1))).astype(np.int64)
    n = len(XY)
    # node n is the end copy of the depot
    m = np.zeros((n + 1, n + 1), dtype=np.int64)
    m[:n, :n] = d
    m[:n, n], m[n, :n] = d[:, 0], d[0, :]
    base = {
        "time": m,
        "cost": m,
        "service": np.array([0, 1, 1, 1, 1, 0]),
        "demand": np.array([0, 4, 4, 4, 4, 0]),
        "windows": [(0, 200), (0, 200), (0, 200), (0, 200), (0, 200), (0, 200)],
        "penalty": np.full(n + 1, 10_000, dtype=np.int64),
        "vehicle_capacity": [8, 8],
        "vehicle_start": [0, 0],
        "vehicle_end": [n, n],
        "horizon": 200,
    }
    base.update(changes)
    return RoutingProblem(**base)


def _optimum(p: RoutingProblem) -> int:
    """Brute force over every split of the customers into two ordered routes."""
    customers = [1, 2, 3, 4]
    best = math.inf
    for k in range(len(customers) + 1):
        for first in itertools.permutations(customers, k):
            rest = [c for c in customers if c not in first]
            for second in itertools.permutations(rest):
                routes = [list(first), list(second)]

                class R:
                    pass

                r = R()
                r.routes = routes  # type: ignore[attr-defined]
                if not route_violations(p, r):
                    best = min(best, route_objective(p, routes))
    return int(best)


@pytest.mark.parametrize("solver", ["pyvrp", "best", "ortools"])
def test_every_backend_finds_the_optimum_of_a_small_problem(solver):
    p = _problem()
    r = solve_routing(p, SolveParams(time_limit_s=600, solution_limit=50, solver=solver))
    assert route_violations(p, r) == []
    assert not r.dropped
    assert route_objective(p, r.routes) == _optimum(p)
    assert r.objective == route_objective(p, r.routes)


def test_pyvrp_backend_respects_time_windows_and_service_times():
    # customer 4 must be served in [0, 21]: only a vehicle going there first makes it
    windows = [(0, 200)] * 4 + [(0, 21), (0, 200)]
    p = _problem(windows=windows)
    r = solve_routing(p, SolveParams(time_limit_s=600, solution_limit=50, solver="pyvrp"))
    assert route_violations(p, r) == []
    route = next(rt for rt in r.routes if 4 in rt)
    assert route[0] == 4
    v = r.routes.index(route)
    assert r.times[v][0] <= 21


def test_pyvrp_backend_is_deterministic_on_a_budget():
    p = _problem()
    params = SolveParams(time_limit_s=600, solution_limit=30, seed=3, solver="pyvrp")
    a, b = solve_routing(p, params), solve_routing(p, params)
    assert (a.routes, a.times, a.stopped_by) == (b.routes, b.times, "budget")


def test_route_violations_finds_each_broken_rule():
    p = _problem(windows=[(0, 200)] * 4 + [(0, 21), (0, 200)], penalty=np.full(6, -1))

    class R:
        def __init__(self, routes):
            self.routes = routes

    assert route_violations(p, R([[4, 3], [1, 2]])) == []
    assert any("window" in e for e in route_violations(p, R([[1, 4], [3, 2]])))
    assert any("capacity" in e for e in route_violations(p, R([[4, 3, 1], [2]])))
    assert any("not served" in e for e in route_violations(p, R([[4, 3], [1]])))
    assert any("twice" in e for e in route_violations(p, R([[4, 3], [1, 2, 3]])))
    late = _problem(horizon=30, windows=[(0, 30)] * 6)
    assert any("horizon" in e for e in route_violations(late, R([[1, 2, 3, 4], []])))


def test_what_pyvrp_cannot_express_stays_with_ortools():
    p = _problem(pairs=[(1, 2)])
    assert pyvrp_unsupported(p) == "pickup-delivery pairs"
    assert pyvrp_unsupported(_problem(forbidden={1: [(0, 10)]})) == "forbidden service intervals"
    assert pyvrp_unsupported(_problem()) is None
    with pytest.raises(PlannerError, match="cannot express"):
        solve_routing(p, SolveParams(time_limit_s=5, solution_limit=10, solver="pyvrp"))
    # "best" falls back to OR-Tools alone and still keeps the pair on one vehicle
    r = solve_routing(p, SolveParams(time_limit_s=600, solution_limit=50, solver="best"))
    v = next(k for k, rt in enumerate(r.routes) if 1 in rt)
    assert 2 in r.routes[v] and r.routes[v].index(1) < r.routes[v].index(2)


def test_unknown_solver_is_refused():
    with pytest.raises(PlannerError, match="unknown solver"):
        solve_routing(_problem(), SolveParams(solver="gurobi"))


TINY = """NAME : {name}
TYPE : CVRPTW
DIMENSION : 5
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
5 {x} 2
DEMAND_SECTION
1 0
2 6
3 4
4 5
5 3
TIME_WINDOW_SECTION
1 0 100
2 0 40
3 0 50
4 10 60
5 0 80
DEPOT_SECTION
1
-1
EOF
"""


def _side_by_side():
    spec = importlib.util.spec_from_file_location(
        "bench_side_by_side", ROOT / "bench" / "side_by_side.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_side_by_side"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_side_by_side_runs_both_solvers_and_checks_them(tmp_path, capsys):
    sbs = _side_by_side()
    folder = tmp_path / "solomon100"
    folder.mkdir()
    for name, x in (("TINYA", 5), ("TINYB", 8)):
        (folder / f"{name}.4.2.vrptw").write_text(TINY.format(name=name, x=x))
    # brute-force optima, in the reference convention, written as the references
    refs = {}
    for name in ("TINYA", "TINYB"):
        inst = sbs.lit.parse_vrptw(next(folder.glob(f"{name}.*")))
        best = math.inf
        for perm in itertools.permutations(range(1, 5)):
            for cut in range(5):
                chk = sbs.lit.check_solution(inst, [list(perm[:cut]), list(perm[cut:])])
                if chk.feasible:
                    best = min(best, chk.distance)
        refs[name] = best
    (folder / "reference.csv").write_text(
        "instance,vehicles,distance\n" + "".join(f"{k},2,{v:.1f}\n" for k, v in refs.items())
    )
    out = tmp_path / "sbs.csv"
    code = sbs.main(
        ["--data", str(tmp_path), "--time-limit", "600", "--budget", "30", "--csv", str(out)]
    )
    assert code == 0
    rows = list(csv.DictReader(out.open()))
    assert {(r["instance"], r["solver"]) for r in rows} == {
        (i, s) for i in ("TINYA", "TINYB") for s in ("core", "pyvrp")
    }
    for r in rows:
        assert r["feasible"] == "True"
        assert float(r["distance"]) == pytest.approx(refs[r["instance"]])
        assert float(r["gap_pct"]) == pytest.approx(0.0)
    printed = capsys.readouterr().out
    assert "feasible: core 2, pyvrp 2" in printed
    assert "mean gap: core 0.00 %, pyvrp 0.00 %" in printed


def test_cli_solver_choice_on_an_evacuation(tmp_path, grid, scenario_dict, write_scenario):
    """An evacuation's routing problem has what PyVRP cannot express: ``--solver pyvrp`` is
    refused in one line naming why; ``best`` (also as the scenario's ``solver``) plans the same
    as OR-Tools alone, byte for byte."""
    import osmnx as ox
    from typer.testing import CliRunner

    from planner.cli import app

    runner = CliRunner()
    ox.save_graphml(grid, tmp_path / "grid.graphml")
    scenario_dict["network"] = {"source": "grid.graphml"}
    path = write_scenario(scenario_dict)
    base = ["plan", str(path), "--time-limit", "600", "--budget", "60", "--workers", "1", "-q"]
    res = runner.invoke(app, [*base, "-o", str(tmp_path / "p"), "--solver", "pyvrp"])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot express" in lines[0] and "pickup-delivery" in lines[0]
    res = runner.invoke(app, [*base, "-o", str(tmp_path / "o"), "--solver", "ortools"])
    assert res.exit_code == 0, res.output
    scenario_dict["solver"] = "best"
    best_path = write_scenario(scenario_dict)
    res = runner.invoke(app, [*base[:1], str(best_path), *base[2:], "-o", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "b" / "plan.json").read_bytes() == (
        tmp_path / "o" / "plan.json"
    ).read_bytes()
    res = runner.invoke(app, [*base, "-o", str(tmp_path / "x"), "--solver", "gurobi"])
    assert res.exit_code == 2 and "--solver" in res.output
