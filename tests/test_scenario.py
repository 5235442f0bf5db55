"""Scenario validation: every bad file gives one line naming file, field and problem."""

from __future__ import annotations

import pytest

from planner.errors import ScenarioError
from planner.scenario import PlaceRef, load_scenario, resolve_place


def test_good_scenario_loads(scenario_dict, write_scenario):
    sc = load_scenario(write_scenario(scenario_dict))
    assert sc.name == "grid-test"
    assert [w.start.hour for w in sc.ceasefire.windows] == [8, 8]
    assert sc.evacuation.assembly_points[0].people.total() == 156
    assert sc.evacuation.priorities["wounded"] > sc.evacuation.priorities["general"]


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (
            lambda d: d["ceasefire"]["windows"][0].update(start="2022-03-16T08:00:00"),
            "ceasefire.windows.0.start",
            "timezone",
        ),
        (
            lambda d: d["ceasefire"]["windows"][0].update(end="2022-03-15T08:00:00+02:00"),
            "ceasefire.windows.0",
            "after start",
        ),
        (
            lambda d: d["evacuation"]["fleet"][0].update(seats=-1),
            "evacuation.fleet.0.seats",
            "from 0 to",
        ),
        (
            lambda d: d["evacuation"]["fleet"][0].update(seats=0),
            "evacuation.fleet.0.seats",
            "only a convoy's lead",
        ),
        (
            lambda d: d["evacuation"]["fleet"][0].update(groups=["pets"]),
            "evacuation.fleet.0.groups.0",
            "wounded",
        ),
        (
            lambda d: d["evacuation"]["fleet"][0].update(start="nowhere"),
            "evacuation.fleet.0.start",
            "not a site id",
        ),
        (
            lambda d: d["evacuation"]["assembly_points"][0].update(location=[35.0, 95.0]),
            "evacuation.assembly_points.0.location",
            "latitude",
        ),
        (
            lambda d: d["evacuation"]["assembly_points"][0]["people"].update(general=-5),
            "evacuation.assembly_points.0.people.general",
            "from 0 to",
        ),
        (
            lambda d: d["evacuation"]["assembly_points"][0].update(peeple={}),
            "evacuation.assembly_points.0.peeple",
            "not a known field",
        ),
        (lambda d: d["hazards"][1].pop("factor"), "hazards.1", "factor"),
        (lambda d: d["hazards"][0].update(kind="shelled"), "hazards.0.kind", "closed"),
        (lambda d: d.pop("ceasefire"), "ceasefire", "required"),
        (lambda d: d["evacuation"]["reception_centres"][0].update(id="a1"), "evacuation", "unique"),
        (
            lambda d: d["hazards"].append({"kind": "closed", "file": "missing.geojson"}),
            "hazards.2.file",
            "not found",
        ),
        (
            lambda d: d["evacuation"]["assembly_points"][0].update(
                location={"place": "Atlantis-on-Dnipro"}
            ),
            "evacuation.assembly_points.0.location",
            "unknown place",
        ),
    ],
)
def test_bad_scenarios_name_file_field_problem(scenario_dict, write_scenario, mutate, field, words):
    mutate(scenario_dict)
    path = write_scenario(scenario_dict)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert err.file == str(path)
    assert err.field == field
    assert words in err.problem
    assert "\n" not in str(err)


def test_yaml_syntax_error_names_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("name: x\nceasefire: [unclosed\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"broken.yaml: not valid YAML: line \d+"):
        load_scenario(p)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "nope.yaml")
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="mapping"):
        load_scenario(p)


def test_place_names_resolve_from_geonames():
    lon, lat = resolve_place(PlaceRef(place="Mariupol"))
    assert 37.4 < lon < 37.7 and 47.0 < lat < 47.2
