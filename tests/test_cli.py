"""The command line: plan writes its files, bad input is one line and exit 2."""

from __future__ import annotations

import json

import osmnx as ox
import pytest
from typer.testing import CliRunner

from planner.cli import app

runner = CliRunner()


@pytest.fixture
def grid_scenario_file(tmp_path, grid, scenario_dict, write_scenario):
    ox.save_graphml(grid, tmp_path / "grid.graphml")
    scenario_dict["network"] = {"source": "grid.graphml"}
    return write_scenario(scenario_dict)


def test_plan_writes_plan_schedule_and_map(grid_scenario_file, tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "plan",
            str(grid_scenario_file),
            "-o",
            str(out),
            "--time-limit",
            "600",
            "--budget",
            "100",
            "--workers",
            "1",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "evacuated" in res.output and "total" in res.output
    plan = json.loads((out / "plan.json").read_text())
    assert plan["scenario"] == "grid-test" and plan["seed"] == 0
    rows = (out / "schedule.csv").read_text().splitlines()
    assert rows[0].startswith("vehicle,type,seq,site,arrive,depart")
    assert rows[1].startswith("#item+transport+id,")  # HXL hashtags under the header
    assert len(rows) - 2 == sum(len(v["stops"]) for v in plan["vehicles"])
    html = (out / "map.html").read_text()
    assert "leaflet" in html.lower() and "School 1" in html
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left
    res = runner.invoke(app, ["verify", str(grid_scenario_file), str(out / "plan.json")])
    assert res.exit_code == 0, res.output
    assert "clean" in res.output


def test_site_names_are_escaped_in_the_map(
    grid_scenario_file, tmp_path, scenario_dict, write_scenario
):
    scenario_dict["network"] = {"source": "grid.graphml"}
    scenario_dict["evacuation"]["assembly_points"][0]["name"] = (
        '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    )
    path = write_scenario(scenario_dict, "xss.yaml")
    out = tmp_path / "xss"
    res = runner.invoke(
        app, ["plan", str(path), "-o", str(out), "--budget", "50", "--workers", "1", "-q"]
    )
    assert res.exit_code == 0, res.output
    html = (out / "map.html").read_text()
    assert "<script>alert(2)</script>" not in html
    assert "<img src=x onerror" not in html


def test_bad_scenario_is_one_line_exit_2_nothing_written(tmp_path, scenario_dict, write_scenario):
    scenario_dict["evacuation"]["fleet"][0]["seats"] = "many"
    path = write_scenario(scenario_dict)
    out = tmp_path / "out"
    res = runner.invoke(app, ["plan", str(path), "-o", str(out)])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert str(path) in lines[0] and "evacuation.fleet.0.seats" in lines[0]
    assert "Traceback" not in res.output
    assert not out.exists()


def test_missing_network_file_is_one_line(tmp_path, scenario_dict, write_scenario):
    scenario_dict["network"] = {"source": "nowhere.graphml"}
    res = runner.invoke(
        app, ["plan", str(write_scenario(scenario_dict)), "-o", str(tmp_path / "o")]
    )
    assert res.exit_code == 2
    assert "nowhere.graphml" in res.output and "Traceback" not in res.output


def test_schema_prints_json_schema():
    res = runner.invoke(app, ["schema"])
    assert res.exit_code == 0
    schema = json.loads(res.output)
    assert "ceasefire" in schema["properties"] and "evacuation" in schema["properties"]
    res = runner.invoke(app, ["schema", "--plan"])
    assert "vehicles" in json.loads(res.output)["properties"]


def test_committed_plan_schema_is_current():
    from pathlib import Path

    from planner.plan import SCHEMA_PATH, plan_json_schema

    assert json.loads(Path(SCHEMA_PATH).read_text()) == plan_json_schema()


def test_many_unserved_rows_are_summed_up_by_reason(capsys):
    from planner.cli import _print_unserved
    from planner.plan import Unserved

    rows = [
        Unserved(site=f"ap{i:02d}", group=g, people=10 + i, reason="no_safe_road", detail="...")
        for i in range(7)
        for g in ("children", "general")
    ] + [Unserved(site="ap99", group="wounded", people=3, reason="window_too_short", detail="...")]
    _print_unserved(rows)
    text = " ".join(capsys.readouterr().out.split())
    # one line per reason, the larger first, with the people per group and the sites
    assert text.index("not served (no safe road)") < text.index("not served (window too short)")
    people = sum(10 + i for i in range(7))
    assert f"{2 * people:,} people ({people} children, {people} general) at 7 sites" in text
    assert "ap00, ap01, ap02, ap03, ap04 and 2 more" in text
    assert "3 people (3 wounded) at 1 site: ap99" in text


def test_few_unserved_rows_are_listed_one_by_one(capsys):
    from planner.cli import _print_unserved
    from planner.plan import Unserved

    _print_unserved(
        [
            Unserved(
                site="ap1",
                group="general",
                people=1200,
                reason="fleet_too_small",
                detail="fleet too small: x",
            )
        ]
    )
    assert "not served: 1,200 general at ap1: fleet too small: x" in capsys.readouterr().out


def test_plan_exits_1_when_nobody_can_be_served(tmp_path, grid, scenario_dict, write_scenario):
    # every road to the reception centre crosses the line of contact, and its only crossing
    # point is closed: nobody can be moved, and the command says why and exits 1
    ox.save_graphml(grid, tmp_path / "grid.graphml")
    scenario_dict["network"] = {"source": "grid.graphml"}
    scenario_dict["ceasefire"]["crossing_points"] = []
    path = write_scenario(scenario_dict, "blocked.yaml")
    out = tmp_path / "blocked"
    res = runner.invoke(
        app,
        ["plan", str(path), "-o", str(out), "--budget", "20", "--workers", "1", "-q", "--no-map"],
    )
    assert res.exit_code == 1, res.output
    assert "nobody could be served" in res.output
    assert "no safe road: 246 people at a1, a2" in res.output
    assert json.loads((out / "plan.json").read_text())["status"] == "empty"


def test_plan_exits_0_when_it_moves_people(grid_scenario_file, tmp_path):
    out = tmp_path / "moves"
    res = runner.invoke(
        app,
        [
            "plan",
            str(grid_scenario_file),
            "-o",
            str(out),
            "--budget",
            "30",
            "--workers",
            "1",
            "-q",
            "--no-map",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "nobody could be served" not in res.output
