"""The pytest plugin, run with pytest's own ``pytester``: one item per expectation and
variant, readable ids, failure messages with the measured value, one plan per scenario."""

from __future__ import annotations

import copy
from importlib.metadata import entry_points
from pathlib import Path

import osmnx as ox
import pytest
import yaml

pytest_plugins = ["pytester"]

DATA = Path(__file__).parent / "data" / "check"
TINY = yaml.safe_load((DATA / "tiny.yaml").read_text(encoding="utf-8"))


def _plugin_args() -> list[str]:
    """``-p planner.pytest_plugin`` unless the installed entry point loads it already."""
    installed = any(ep.value == "planner.pytest_plugin" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "planner.pytest_plugin"]


@pytest.fixture(scope="module", autouse=True)
def _warm_up(tmp_path_factory):
    """Plan once out here: pytester's in-process runs drop the modules they import, and
    OR-Tools' protobuf descriptors cannot be imported a second time."""
    from synth import grid_graph

    from planner.check import run_case
    from planner.variants import load_cases

    folder = tmp_path_factory.mktemp("warm")
    ox.save_graphml(grid_graph(), folder / "grid.graphml")
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, "expect": [{"max_vehicles": 9}]}), encoding="utf-8")
    assert run_case(load_cases(path)[0], budget=10, time_limit_s=600).passed


@pytest.fixture
def scenarios(pytester, monkeypatch):
    """Write scenario files (and grid.graphml) into the pytester folder."""
    from synth import grid_graph

    monkeypatch.setenv("PLANNER_SOLUTION_BUDGET", "100")
    monkeypatch.setenv("PLANNER_TIME_LIMIT_S", "20")
    ox.save_graphml(grid_graph(), pytester.path / "grid.graphml")

    def _write(name, **sections):
        data = copy.deepcopy(TINY)
        data.update(sections)
        p = pytester.path / name
        p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return p

    return _write


def test_passing_and_failing_expectations_with_ids_and_messages(pytester, scenarios, monkeypatch):
    import planner.check

    scenarios(
        "tiny.yaml",
        expect=[{"min_evacuated": {"total": 40}}, {"wounded_out_by": "2022-03-16T14:00:00+02:00"}],
        variants=[
            {"name": "no-crossing", "changes": [{"close_crossing": "cp1"}]},
            {"name": "plain", "changes": [], "expect": []},
        ],
    )
    (pytester.path / "other.yaml").write_text("name: not-a-scenario\nexpect: nothing\n")
    calls = []
    real = planner.check.plan_case
    monkeypatch.setattr(
        planner.check, "plan_case", lambda case, **kw: calls.append(case.id) or real(case, **kw)
    )

    result = pytester.runpytest(*_plugin_args(), "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*tiny.yaml::tiny::min_evacuated PASSED*",
            "*tiny.yaml::tiny::wounded_out_by PASSED*",
            "*tiny.yaml::tiny::no-crossing::min_evacuated FAILED*",
            "*tiny.yaml::tiny::no-crossing::wounded_out_by FAILED*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*tiny::no-crossing::wounded_out_by: wounded out by 2022-03-16T14:00+02:00: failed, 4 of 4 still waiting at a1*",
        ]
    )
    result.stdout.fnmatch_lines(["*at least 40 total evacuated: failed, total 0 < 40*"])
    assert "Traceback" not in result.stdout.str()
    # each scenario and variant planned once, whatever the number of its expectations
    assert sorted(calls) == ["tiny", "tiny::no-crossing"]


def test_select_one_variant_by_id(pytester, scenarios):
    scenarios(
        "tiny.yaml",
        expect=[{"max_vehicles": 3}],
        variants=[{"name": "two-buses", "changes": [{"fleet": {"type": "bus", "count": 2}}]}],
    )
    result = pytester.runpytest(
        *_plugin_args(), "-v", "-p", "no:cacheprovider", "tiny.yaml::tiny::two-buses::max_vehicles"
    )
    result.assert_outcomes(passed=1)
    result = pytester.runpytest(
        *_plugin_args(), "-p", "no:cacheprovider", "-k", "two-buses", "--collect-only", "-q"
    )
    result.stdout.fnmatch_lines(["tiny.yaml::tiny::two-buses::max_vehicles"])


def test_bad_scenario_is_a_one_line_collection_error(pytester, scenarios):
    path = scenarios("broken.yaml", expect=[{"max_vehicles": 2}, {"name": "x", "foo": 1}])
    result = pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{path.name}: expect.1: unknown expectation 'foo' (known: *"])
    assert "Traceback" not in result.stdout.str()


def test_files_without_expectations_are_not_collected(pytester, scenarios):
    scenarios("plain.yaml")
    result = pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
