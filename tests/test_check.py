"""Variants (each change, clear errors), ``planner check`` (exit codes 0/1/2, measured values,
parallel runs) and ``planner compare`` (Markdown and CSV), on a tiny grid scenario."""

from __future__ import annotations

import copy
from pathlib import Path

import osmnx as ox
import pytest
import typer
import yaml
from typer.testing import CliRunner

from planner.check import check_paths, collect_files, compare_scenario, register_cli, write_compare
from planner.errors import ScenarioError
from planner.scenario import read_yaml
from planner.variants import load_cases

DATA = Path(__file__).parent / "data" / "check"
TINY = yaml.safe_load((DATA / "tiny.yaml").read_text(encoding="utf-8"))
FAST = dict(workers=1, budget=100, time_limit_s=600)

PASSING = [
    {"min_evacuated": {"total": 40, "wounded": 4}},
    {"wounded_out_by": "2022-03-16T14:00:00+02:00"},
    {"min_front_distance_km": 1},
    {"max_vehicles": 2},
]

cli = typer.Typer()
register_cli(cli)
runner = CliRunner()


@pytest.fixture(autouse=True)
def _fast_search(monkeypatch):
    monkeypatch.setenv("PLANNER_SOLUTION_BUDGET", "100")
    monkeypatch.setenv("PLANNER_TIME_LIMIT_S", "20")


@pytest.fixture(scope="module")
def graphml(tmp_path_factory):
    from synth import grid_graph

    p = tmp_path_factory.mktemp("net") / "grid.graphml"
    ox.save_graphml(grid_graph(), p)
    return p


@pytest.fixture
def write(tmp_path, graphml):
    """Write the tiny scenario with extra sections into tmp_path (next to grid.graphml)."""
    (tmp_path / "grid.graphml").write_bytes(graphml.read_bytes())

    def _write(name="tiny.yaml", folder=tmp_path, **sections):
        data = copy.deepcopy(TINY)
        data.update(sections)
        folder.mkdir(parents=True, exist_ok=True)
        if folder != tmp_path:
            (folder / "grid.graphml").write_bytes(graphml.read_bytes())
        p = folder / name
        p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return p

    return _write


# --------------------------------------------------------------------------- variants


def _case(write, *changes, **extra):
    path = write(expect=PASSING, variants=[{"name": "v", "changes": list(changes), **extra}])
    cases = load_cases(path)
    assert [c.id for c in cases] == ["tiny", "tiny::v"]
    return cases[0].scenario, cases[1]


def test_variant_is_its_own_scenario_inheriting_expectations(write):
    base, case = _case(write, {"fleet": {"type": "bus", "count": 3}})
    assert case.scenario.name == "tiny.v" and case.variant == "v" and case.base == "tiny"
    assert case.scenario.evacuation.fleet[0].count == 3 and base.evacuation.fleet[0].count == 1
    assert [e.name for e in case.expectations] == [
        e.kind if e.kind != "out_by" else "wounded_out_by" for e in case.expectations
    ]
    assert len(case.expectations) == len(PASSING)
    _base, own = _case(write, expect=[{"plan_exists": False}])
    assert [e.name for e in own.expectations] == ["plan_exists"]


def test_window_changes(write):
    _b, case = _case(write, {"shorten_window": {"index": 0, "end": "2022-03-16T11:00:00+02:00"}})
    assert case.scenario.ceasefire.windows[0].end.hour == 11
    path = write(variants=[{"name": "v", "changes": [{"remove_window": 0}]}])
    with pytest.raises(ScenarioError) as exc:
        load_cases(path)
    assert (
        exc.value.field == "variants.0"
        and "leaves an invalid scenario: ceasefire.windows" in exc.value.problem
    )
    path = write(variants=[{"name": "v", "changes": [{"remove_window": 3}]}])
    with pytest.raises(
        ScenarioError, match=r"variants\.0\.changes\.0\.remove_window: the scenario has 1 windows"
    ):
        load_cases(path)


def test_close_crossing_add_hazard_people_and_set(write, tmp_path):
    (tmp_path / "shelling.geojson").write_text((DATA / "shelling.geojson").read_text())
    _b, case = _case(
        write,
        {"close_crossing": "cp1"},
        {"add_hazard": {"file": "shelling.geojson", "kind": "closed"}},
        {"people": {"site": "a1", "add": {"general": 500, "children": 7}}},
        {"people": {"site": "a1", "set": {"wounded": 1}}},
        {"set": {"path": "evacuation.reception_centres.0.capacity", "value": 10}},
        {"set": {"path": "evacuation.stop_min", "value": 7}},
    )
    sc = case.scenario
    assert sc.ceasefire.crossing_points == []
    assert (
        sc.hazards[-1].file == "shelling.geojson" and sc.resolve_path("shelling.geojson").exists()
    )
    assert sc.evacuation.assembly_points[0].people.as_dict() == {
        "wounded": 1,
        "children": 7,
        "reduced_mobility": 0,
        "general": 560,
    }
    assert sc.evacuation.reception_centres[0].capacity == 10
    assert sc.evacuation.stop_min == 7  # set reaches any field by its dotted path


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (
            {"close_crossing": "nowhere"},
            "variants.0.changes.0.close_crossing",
            "'nowhere' is not a crossing point (known: cp1)",
        ),
        (
            {"fleet": {"type": "tank", "count": 1}},
            "variants.0.changes.0.fleet.type",
            "not a vehicle type",
        ),
        ({"fleet": {"type": "bus"}}, "variants.0.changes.0.fleet", "give 'count'"),
        (
            {"people": {"site": "zz", "add": {"general": 1}}},
            "variants.0.changes.0.people.site",
            "not an assembly point",
        ),
        (
            {"people": {"site": "a1", "add": {"elderly": 1}}},
            "variants.0.changes.0.people",
            "unknown group",
        ),
        (
            {"teleport": 1},
            "variants.0.changes.0",
            "unknown change 'teleport' (known: shorten_window",
        ),
        (
            {"set": {"path": "evacuation.fleet.9.count", "value": 1}},
            "variants.0.changes.0.set.path",
            "out of range",
        ),
        ({"add_hazard": {"kind": "closed"}}, "variants.0.changes.0.add_hazard", "exactly one of"),
        (
            {"shorten_window": {"index": 0, "end": "2022-03-16T11:00:00"}},
            "variants.0.changes.0.shorten_window.end",
            "timezone",
        ),
        (
            {"set": {"path": "evacuation.fleet.0.seats", "value": 0}},
            "variants.0",
            "evacuation.fleet.0.seats",
        ),
    ],
)
def test_bad_changes_name_the_field(write, change, field, words):
    path = write(variants=[{"name": "v", "changes": [change]}])
    with pytest.raises(ScenarioError) as exc:
        load_cases(path)
    assert exc.value.file == str(path) and exc.value.field == field
    assert words in exc.value.problem


@pytest.mark.parametrize(
    ("variants", "field"),
    [
        ([{"name": "base", "changes": []}], "variants.0.name"),
        ([{"name": "a b", "changes": []}], "variants.0.name"),
        ([{"name": "v"}, {"name": "v"}], "variants.1.name"),
        ([{"name": "v", "expect": "inheritt"}], "variants.0.expect"),
        ([{"name": "v", "expect": [{"nope": 1}]}], "variants.0.expect.0"),
        ([{"name": "v", "chnages": []}], "variants.0.chnages"),
        ({"name": "v"}, "variants"),
    ],
)
def test_bad_variants_name_the_field(write, variants, field):
    with pytest.raises(ScenarioError) as exc:
        load_cases(write(variants=variants))
    assert exc.value.field == field


def test_unknown_expectation_in_the_file_is_a_clear_error(write):
    path = write(expect=[*PASSING, {"name": "x", "foo": 1}])
    with pytest.raises(ScenarioError) as exc:
        load_cases(path)
    assert str(exc.value).startswith(
        f"{path}: expect.4: unknown expectation 'foo' (known: min_evacuated, out_by,"
    )


# --------------------------------------------------------------------------- check


def test_check_passes_and_fails_with_measured_values(write, tmp_path):
    write(
        expect=PASSING,
        variants=[
            {"name": "no-crossing", "changes": [{"close_crossing": "cp1"}]},
            {
                "name": "no-crossing-known",
                "changes": [{"close_crossing": "cp1"}],
                "expect": [{"plan_exists": False}],
            },
        ],
    )
    (tmp_path / "notes.yaml").write_text("just: notes\n")  # not a scenario: ignored
    report = check_paths([tmp_path], seed=0, **FAST)
    assert [r.id for r in report.results] == [
        "tiny",
        "tiny::no-crossing",
        "tiny::no-crossing-known",
    ]
    by = {(r.id, o.name): o for r, o in report.outcomes}
    assert all(o.passed for (cid, _n), o in by.items() if cid != "tiny::no-crossing")
    out = by[("tiny::no-crossing", "wounded_out_by")]
    assert not out.passed
    assert (
        out.message == "wounded out by 2022-03-16T14:00+02:00: failed, 4 of 4 still waiting at a1"
    )
    assert by[("tiny::no-crossing", "min_evacuated")].measured == {"total": 0, "wounded": 0}
    assert report.exit_code == 1 and report.n_failed == 2  # no leg, no vehicle: those two hold
    assert report.results[0].summary["total"] == 64


def test_check_exit_codes(write, tmp_path):
    ok = write("ok.yaml", folder=tmp_path / "ok", expect=PASSING)
    res = runner.invoke(cli, ["check", str(ok), "--workers", "1", "-q"])
    assert res.exit_code == 0, res.output
    assert "4 passed, 0 failed" in res.output

    bad = write(
        "bad.yaml",
        folder=tmp_path / "bad",
        expect=[{"name": "everyone_early", "all_out_by": "2022-03-16T08:30:00+02:00"}],
    )
    res = runner.invoke(cli, ["check", str(bad), "--workers", "1"])
    assert res.exit_code == 1, res.output
    assert (
        "FAILED tiny::everyone_early: everyone out by 2022-03-16T08:30+02:00: failed, 64 of 64 still waiting at a1"
        in res.output
    )

    wrong = write("wrong.yaml", folder=tmp_path / "wrong", expect=[{"foo": 1}])
    res = runner.invoke(cli, ["check", str(tmp_path / "wrong")])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert (
        len(lines) == 1
        and str(wrong) in lines[0]
        and "expect.0: unknown expectation 'foo'" in lines[0]
    )
    assert "Traceback" not in res.output

    res = runner.invoke(cli, ["check", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2 and "file not found" in res.output

    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(cli, ["check", str(empty)])
    assert res.exit_code == 2 and "no scenario file" in res.output


def test_bad_input_met_while_planning_is_exit_2(write, tmp_path):
    path = write(
        "net.yaml", folder=tmp_path / "net", expect=PASSING, network={"source": "nowhere.graphml"}
    )
    report = check_paths([path], **FAST)
    assert report.exit_code == 2 and "nowhere.graphml" in report.errors[0]
    res = runner.invoke(cli, ["check", str(path), "--workers", "1", "-q"])
    assert res.exit_code == 2 and "ERROR tiny: " in res.output


@pytest.mark.slow
def test_check_runs_scenarios_in_parallel_with_the_same_results(write, tmp_path):
    write(
        "one.yaml",
        folder=tmp_path / "p",
        expect=PASSING,
        variants=[
            {
                "name": "short",
                "changes": [{"shorten_window": {"index": 0, "end": "2022-03-16T11:00:00+02:00"}}],
            }
        ],
    )
    serial = check_paths([tmp_path / "p"], **FAST)
    parallel = check_paths([tmp_path / "p"], workers=2, budget=100, time_limit_s=600)
    assert [
        (r.id, [(o.name, o.passed, o.measured) for o in r.outcomes]) for r in serial.results
    ] == [(r.id, [(o.name, o.passed, o.measured) for o in r.outcomes]) for r in parallel.results]


def test_collect_files_finds_only_scenarios_with_expectations(write, tmp_path):
    a = write("a.yaml", folder=tmp_path / "c", expect=PASSING)
    write("b.yml", folder=tmp_path / "c" / "sub", variants=[{"name": "v", "changes": []}])
    write("plain.yaml", folder=tmp_path / "c")
    write("h.yaml", folder=tmp_path / "c" / ".hidden", expect=PASSING)
    found = collect_files([tmp_path / "c", a])
    assert [p.name for p in found] == ["a.yaml", "b.yml"]
    assert read_yaml(a)["name"] == "tiny"


# --------------------------------------------------------------------------- compare


def test_compare_shows_the_trade_off_and_writes_markdown_and_csv(write, tmp_path):
    (tmp_path / "shelling.geojson").write_text((DATA / "shelling.geojson").read_text())
    path = write(
        expect=PASSING,
        variants=[
            {
                "name": "shelled-crossing",
                "changes": [{"add_hazard": {"file": "shelling.geojson", "kind": "closed"}}],
            },
            {
                "name": "short-truce",
                "changes": [{"shorten_window": {"index": 0, "end": "2022-03-16T11:00:00+02:00"}}],
            },
        ],
    )
    rows = compare_scenario(path, seed=0, **FAST)
    assert [r["variant"] for r in rows] == ["base", "shelled-crossing", "short-truce"]
    base, shelled, short = rows
    assert base["total"] == 64 and base["delta"] is None and base["expectations"] == "4/4 hold"
    assert shelled["total"] == 0 and shelled["delta"] == -64 and shelled["unserved"] == 64
    assert 0 < short["total"] < 64 and short["delta"] == short["total"] - 64
    md, csv_path = tmp_path / "out" / "compare.md", tmp_path / "out" / "compare.csv"
    write_compare(rows, md, csv_path, title="tiny")
    text = md.read_text()
    assert (
        "| variant | wounded |" in text and "| shelled-crossing | 0 | 0 | 0 | 0 | 0 | -64 |" in text
    )
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith(
        "variant,wounded,children,reduced_mobility,general,total,delta,bound,risk_km,unserved"
    )
    assert lines[2].startswith("shelled-crossing,0,0,0,0,0,-64,0,")
    res = runner.invoke(cli, ["compare", str(path), "-o", str(tmp_path / "cli"), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "cli" / "compare.md").exists() and (
        tmp_path / "cli" / "compare.csv"
    ).exists()
    assert not [p for p in (tmp_path / "cli").iterdir() if p.name.startswith(".")]
