"""bench/literature.py: the instance parser, the independent feasibility checker, and one quick
solve through the routing core."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLOMON = ROOT.parent / "shared" / "benchmarks" / "solomon100"


def _load():
    spec = importlib.util.spec_from_file_location("bench_literature", ROOT / "bench" / "literature.py")
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
        elif section in ("NODE_COORD_SECTION", "DEMAND_SECTION", "TIME_WINDOW_SECTION") and s.split()[:1] and s.split()[0].isdigit() and int(s.split()[0]) > 26:
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
    row = lit.solve_instance(inst, (3, 191.3), time_limit=3.0, workers=1, seed=0)
    assert row.feasible, row.errors
    assert row.vehicles <= 5
    assert row.gap is not None and row.gap < 5
