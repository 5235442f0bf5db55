"""The command line for scripts: --version, --json on every command that has it (one JSON
document on stdout, nothing else there), -q everywhere, the JSON and the table agreeing,
and compare readable at 80 columns with the route of each variant."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import osmnx as ox
import pytest
from typer.testing import CliRunner

from planner.cli import app

pytestmark = pytest.mark.slow

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory):
    import copy

    import yaml
    from conftest import GRID_SCENARIO
    from synth import grid_graph

    folder = tmp_path_factory.mktemp("cli-json")
    ox.save_graphml(grid_graph(), folder / "grid.graphml")
    data = copy.deepcopy(GRID_SCENARIO)
    data["network"] = {"source": "grid.graphml"}
    data["expect"] = [{"plan_exists": True}, {"min_evacuated": {"total": 50}}]
    # a second crossing point further north; the variant closes the first, so the road changes
    data["ceasefire"]["crossing_points"].append(
        {"id": "cp2", "location": [35.25, 47.3], "delay_min": 20, "radius_m": 3000}
    )
    data["variants"] = [{"name": "north-road", "changes": [{"close_crossing": "cp1"}]}]
    data["disruptions"] = {"breakdown": {"probability": 0.2}}
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    """``planner ARGS | python -m json.tool`` in a shell, as a script would."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = " ".join([sys.executable, "-m", "planner.cli", *[f"'{a}'" for a in args]])
    return subprocess.run(
        f"set -o pipefail; {cmd} | {sys.executable} -m json.tool",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def test_version_comes_from_the_package_metadata():
    import planner

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.stdout.strip() == f"planner (corridor-planner) {version('corridor-planner')}"
    assert planner.__version__ == version("corridor-planner")


def test_every_json_command_pipes_into_json_tool(scenario_file, tmp_path):
    out = tmp_path / "out"
    budget = ["--budget", "50", "--workers", "1"]
    res = run(["plan", str(scenario_file), "-o", str(out), "--no-map", *budget, "--json"])
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["scenario"] == "grid-test" and doc["groups"][-1]["group"] == "total"
    commands = {
        "verify": ["verify", str(scenario_file), str(out / "plan.json"), "--json"],
        "check": ["check", str(scenario_file), *budget, "--json"],
        "compare": ["compare", str(scenario_file), "-o", str(tmp_path / "cmp"), *budget, "--json"],
        "sweep": [
            "sweep",
            str(scenario_file),
            "--plan",
            str(out / "plan.json"),
            "--runs",
            "20",
            "--workers",
            "1",
            "--json",
        ],
        "corridors": [
            "corridors",
            str(scenario_file),
            "--max",
            "1",
            "-o",
            str(tmp_path / "corr"),
            "--json",
        ],
    }
    for name, args in commands.items():
        if name in ("check", "sweep"):  # worker processes and dask: a real shell pipeline
            res = run(args)
            assert res.returncode == 0, f"{name}: {res.stderr}"
            stdout = res.stdout
        else:  # in-process (quicker), stdout still through json.tool
            res = runner.invoke(app, args)
            assert res.exit_code == 0, f"{name}: {res.stderr}"
            tool = subprocess.run(
                [sys.executable, "-m", "json.tool"],
                input=res.stdout,
                capture_output=True,
                text=True,
                check=False,
            )
            assert tool.returncode == 0, f"{name}: {tool.stderr}"
            stdout = tool.stdout
        doc = json.loads(stdout)  # exactly one document
        assert isinstance(doc, dict) and doc, name
        if name == "verify":
            assert doc["clean"] is True


def test_plan_json_and_table_agree(scenario_file, tmp_path):
    args = [
        "plan",
        str(scenario_file),
        "-o",
        str(tmp_path / "o"),
        "--no-map",
        "--budget",
        "50",
        "--workers",
        "1",
    ]
    table = runner.invoke(app, [*args, "-q"])
    doc = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert table.exit_code == 0, table.output
    for g in doc["groups"]:
        cells = [f"{g['requested']:,}", f"{g['evacuated']:,}", f"{g['bound']:,}"]
        line = next(
            ln
            for ln in table.stdout.splitlines()
            if re.search(rf"\b{g['group']}\b", ln) and "│" in ln
        )
        assert [c.strip() for c in line.split("│")[2:5]] == cells, line
    assert f"vehicles used {doc['vehicles_used']}/{doc['vehicles_total']}" in table.stdout
    for u in doc["unserved"]:
        assert f"{u['people']:,} {u['group']} at {u['site']}" in table.stdout
    assert "wrote " not in table.stdout  # -q: the table, no "wrote" line
    assert "wrote " in runner.invoke(app, args).stdout


def test_compare_reads_at_80_columns_and_names_the_route(scenario_file, tmp_path):
    args = [
        "compare",
        str(scenario_file),
        "-o",
        str(tmp_path / "c"),
        "--budget",
        "50",
        "--workers",
        "1",
    ]
    text = runner.invoke(app, args, terminal_width=80)
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert all(len(ln) <= 80 for ln in lines), [ln for ln in lines if len(ln) > 80]
    assert lines[1].split()[:3] == ["variant", "evacuated", "Δ"]  # headers whole, not cut
    doc = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    rows = {r["variant"]: r for r in doc["variants"]}
    assert set(rows) == {"base", "north-road"}
    for name, r in rows.items():
        figures = next(ln for ln in lines if ln.startswith(name + " "))
        assert f"{r['total']:,}" in figures.split()
        assert f"route: {r['route']}"[:60] in " ".join(" ".join(lines).split())
    # the closed road moves the main route: the routes differ even if the totals do not
    assert rows["base"]["route"] and rows["north-road"]["route"]
    assert rows["base"]["route"] != rows["north-road"]["route"]


def test_quiet_is_on_every_command():
    import typer.main

    cmd = typer.main.get_command(app)
    missing = []

    def walk(group: Any, prefix: str) -> None:
        for name, sub in group.commands.items():
            if hasattr(sub, "commands"):
                walk(sub, f"{prefix}{name} ")
            elif not any("-q" in p.opts for p in sub.params):
                missing.append(prefix + name)

    walk(cmd, "")
    assert missing == []
