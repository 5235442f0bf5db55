"""Robustness sweeps: simulation of a plan under sampled disruptions, on dask."""

from __future__ import annotations

import json

import pytest

from planner.errors import ScenarioError
from planner.evacuation import plan_evacuation
from planner.network import prepare_network
from planner.plan import Plan
from planner.scenario import parse_scenario
from planner.sweep import compact_plan, parse_disruptions, run_sweep, simulate_run, summarise


@pytest.fixture(scope="module")
def planned():
    from conftest import GRID_SCENARIO
    from synth import grid_graph

    data = json.loads(json.dumps(GRID_SCENARIO))
    data["disruptions"] = {
        "window_cut": {"probability": 0.5, "max_hours": 4},
        "crossing_closure": {"probability": 0.2},
        "crossing_delay": {"mean_min": 20},
        "breakdown": {"probability": 0.1},
    }
    sc = parse_scenario(data)
    plan = plan_evacuation(
        sc, network=prepare_network(sc, graph=grid_graph()), workers=1, budget=150
    )
    return sc, json.loads(plan.to_json())


def test_no_disruption_reproduces_the_plan(planned):
    sc, plan = planned
    sc2 = sc.model_copy(update={"disruptions": {}})
    sim = compact_plan(plan, sc2)
    r = simulate_run(sim, parse_disruptions(sc2), seed=1, run=0)
    assert r["evacuated"] == {g: plan["totals"]["evacuated"][g] for g in r["evacuated"]}


def test_closing_the_only_crossing_at_the_start_stops_everything(planned):
    sc, plan = planned
    sc2 = sc.model_copy(update={"disruptions": {"crossing_closure": {"probability": 1.0}}})
    sim = compact_plan(plan, sc2)
    runs = [simulate_run(sim, parse_disruptions(sc2), seed=3, run=i) for i in range(50)]
    res = summarise(runs, sim)
    assert res.mean["total"] < plan["totals"]["evacuated"]["total"]
    assert res.damaging[0][0] == "crossing cp1 closed"
    assert res.damaging[0][1] == 1.0


def test_unknown_disruption_is_a_clear_error(planned):
    sc, _plan = planned
    with pytest.raises(ScenarioError, match=r"disruptions.meteor: is not a known disruption"):
        parse_disruptions(sc.model_copy(update={"disruptions": {"meteor": {"probability": 1}}}))


def test_same_figures_with_one_or_two_dask_workers(planned):
    sc, plan = planned
    typed = Plan.model_validate(plan)
    one, two = (run_sweep(sc, typed, 120, seed=7, workers=w, batch_size=25) for w in (1, 2))
    assert one == two
    assert one.runs == 120
    lo, hi = one.ci95["total"]
    assert lo <= one.mean["total"] <= hi <= plan["totals"]["evacuated"]["total"]
    assert 0.0 <= one.p_all_wounded_out <= 1.0


def test_sweep_command(tmp_path, planned, scenario_dict, grid):
    import osmnx as ox
    import yaml
    from typer.testing import CliRunner

    from planner.cli import app

    sc, plan = planned
    ox.save_graphml(grid, tmp_path / "grid.graphml")
    scenario_dict["network"] = {"source": "grid.graphml"}
    scenario_dict["disruptions"] = {"window_cut": {"probability": 0.5, "max_hours": 4}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(scenario_dict))
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    res = CliRunner().invoke(
        app,
        [
            "sweep",
            str(tmp_path / "s.yaml"),
            "--runs",
            "40",
            "--plan",
            str(tmp_path / "plan.json"),
            "--workers",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "40 runs" in res.output and "wounded" in res.output


@pytest.fixture(scope="module")
def on_file(tmp_path_factory):
    """The grid scenario with its network in a GraphML file (dask workers load it themselves)."""
    import copy

    import osmnx as ox
    import yaml
    from conftest import GRID_SCENARIO
    from synth import grid_graph

    from planner.scenario import load_scenario

    d = tmp_path_factory.mktemp("sweep-replan")
    ox.save_graphml(grid_graph(), d / "grid.graphml")
    data = copy.deepcopy(GRID_SCENARIO)
    data["network"] = {"source": "grid.graphml"}
    data["disruptions"] = {
        "window_cut": {"probability": 0.5, "max_hours": 4},
        "breakdown": {"probability": 0.5},
    }
    (d / "s.yaml").write_text(yaml.safe_dump(data))
    sc = load_scenario(d / "s.yaml")
    return d, sc, json.loads(plan_evacuation(sc, workers=1, budget=150).to_json())


@pytest.mark.slow
def test_replanning_recovers_what_a_breakdown_costs(on_file):
    from planner.sweep import replan_run

    _d, sc, plan = on_file
    sim, dis = compact_plan(plan, sc), parse_disruptions(sc)
    kw = {"workers": 1, "budget": 100, "time_limit_s": 600, "seed": 0}
    gained = 0
    for r in range(6):
        fixed = simulate_run(sim, dis, 0, r)
        again = replan_run(sc, plan, sim, dis, 0, r, kw)
        assert again["events"] == fixed["events"]  # the same draws
        assert sum(again["evacuated"].values()) <= plan["totals"]["requested"]["total"]
        if fixed["events"]:
            assert again["replans"] >= 1
        # without crossing delays the re-planned run never does worse than the plan left alone
        assert sum(again["evacuated"].values()) >= sum(fixed["evacuated"].values()), r
        gained += sum(again["evacuated"].values()) - sum(fixed["evacuated"].values())
    assert gained > 0  # some breakdown's people were picked up by another vehicle


@pytest.mark.slow
def test_replanning_sweep_same_figures_with_one_or_two_dask_workers(on_file):
    _d, sc, plan = on_file
    typed = Plan.model_validate(plan)
    one, two = (
        run_sweep(sc, typed, 4, seed=2, workers=w, replan=True, plan_kwargs={"budget": 100})
        for w in (1, 2)
    )
    assert one == two
    assert one.runs == 4


@pytest.mark.slow
def test_sweep_command_with_replanning(on_file):
    from typer.testing import CliRunner

    from planner.cli import app

    d, _sc, plan = on_file
    (d / "plan.json").write_text(json.dumps(plan))
    res = CliRunner().invoke(
        app,
        [
            "sweep",
            str(d / "s.yaml"),
            "--runs",
            "3",
            "--plan",
            str(d / "plan.json"),
            "--workers",
            "1",
            "--replan",
            "--replan-budget",
            "50",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "3 runs" in res.output and "re-planning" in res.output


def test_replan_budget_must_be_positive(on_file):
    from typer.testing import CliRunner

    from planner.cli import app

    d, _sc, _plan = on_file
    res = CliRunner().invoke(
        app, ["sweep", str(d / "s.yaml"), "--runs", "1", "--replan", "--replan-budget", "0"]
    )
    assert res.exit_code == 2
    assert "--replan-budget" in res.output
