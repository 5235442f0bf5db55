"""The independent checker: a good plan verifies clean, and each way of breaking it is caught."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synth import grid_graph

from planner.errors import NetworkError
from planner.evacuation import plan_evacuation
from planner.network import prepare_network
from planner.plan import Plan
from planner.scenario import Scenario, load_scenario
from planner.verify import (
    FALLBACK_TOP_SPEED_KPH,
    INTERNAL_ERROR,
    Violation,
    format_violations,
    top_speed_kph,
    verify_plan,
)

SCENARIO_YAML = """\
name: grid-test
ceasefire:
  windows:
    - {start: "2022-03-16T08:00:00+02:00", end: "2022-03-16T14:00:00+02:00"}
    - {start: "2022-03-17T08:00:00+02:00", end: "2022-03-17T14:00:00+02:00"}
  crossing_points:
    - {id: cp1, location: [35.25, 47.1], delay_min: 20, radius_m: 3000}
frontline:
  coordinates: [[35.25, 46.9], [35.25, 47.5]]
hazards:
  - {id: h1, kind: closed, polygon: [[35.12,47.12],[35.18,47.12],[35.18,47.18],[35.12,47.18]]}
  - {id: h2, kind: risk, factor: 3, polygon: [[35.32,46.95],[35.38,46.95],[35.38,47.35],[35.32,47.35]]}
evacuation:
  assembly_points:
    - {id: a1, location: [35.0, 47.0], people: {general: 120, children: 30, wounded: 6}}
    - {id: a2, location: [35.1, 47.3], people: {general: 80, reduced_mobility: 10}}
  reception_centres:
    - {id: r1, location: [35.5, 47.1], capacity: 1000}
  fleet:
    - {type: bus, count: 2, seats: 40, groups: [general, children, reduced_mobility], start: r1}
    - {type: ambulance, count: 1, seats: 4, groups: [wounded, reduced_mobility], start: r1}
"""


@pytest.fixture(scope="module")
def graph() -> nx.MultiDiGraph:
    """The synthetic grid the plan is made on."""
    return grid_graph()


@pytest.fixture(scope="module")
def scenario_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The grid scenario written to a temporary file."""
    p = tmp_path_factory.mktemp("verify") / "scenario.yaml"
    p.write_text(SCENARIO_YAML, encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def scenario(scenario_path: Path) -> Scenario:
    """The grid scenario."""
    return load_scenario(scenario_path)


@pytest.fixture(scope="module")
def good_plan(scenario: Scenario, graph: nx.MultiDiGraph) -> dict[str, Any]:
    """A plan made by the planner, as the raw JSON mapping."""
    net = prepare_network(scenario, graph=graph)
    plan = plan_evacuation(scenario, network=net, time_limit_s=600, workers=1, budget=200)
    return json.loads(plan.to_json())


@pytest.fixture
def plan(good_plan: dict[str, Any]) -> dict[str, Any]:
    """A fresh copy of the good plan to break."""
    return copy.deepcopy(good_plan)


def _variant(scenario_path: Path, tmp_path: Path, change: Any) -> Scenario:
    data = yaml.safe_load(scenario_path.read_text(encoding="utf-8"))
    change(data)
    p = tmp_path / "variant.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_scenario(p)


def _codes(violations: list[Violation]) -> set[str]:
    return {v.code for v in violations}


def _check(scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph) -> set[str]:
    return _codes(verify_plan(scenario, plan, graph=graph))


def _vehicle(plan: dict[str, Any], vtype: str) -> dict[str, Any]:
    return next(v for v in plan["vehicles"] if v["type"] == vtype and v["legs"])


def _loaded_leg(plan: dict[str, Any], vtype: str) -> tuple[dict[str, Any], int]:
    v = _vehicle(plan, vtype)
    j = next(j for j, leg in enumerate(v["legs"]) if leg["load"])
    return v, j


def _crossing_leg(plan: dict[str, Any]) -> dict[str, Any]:
    return next(leg for v in plan["vehicles"] for leg in v["legs"] if leg["crossings"])


def _iso(t: str, **delta: float) -> str:
    return (datetime.fromisoformat(t) + timedelta(**delta)).isoformat()


# --------------------------------------------------------------------------- clean


def test_good_plan_verifies_clean(
    scenario: Scenario, good_plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    violations = verify_plan(scenario, good_plan, graph=graph)
    assert violations == [], format_violations(violations)
    assert good_plan["totals"]["evacuated"]["total"] > 0
    assert "no violations" in format_violations(violations)


def test_a_typed_plan_is_checked_as_its_file_would_be(
    scenario: Scenario, good_plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    typed = Plan.model_validate(good_plan)
    assert verify_plan(scenario, typed, graph=graph) == []
    # the same fault in the object and in the file: the same violations
    broken = copy.deepcopy(good_plan)
    loaded = next(v for v in broken["vehicles"] if any(lg["load"] for lg in v["legs"]))
    leg = next(lg for lg in loaded["legs"] if lg["load"])
    leg["load"] = {g: n + 100 for g, n in leg["load"].items()}
    from_file = verify_plan(scenario, broken, graph=graph)
    assert from_file
    assert verify_plan(scenario, Plan.model_validate(broken), graph=graph) == from_file


def test_without_graph_loads_the_scenario_network(
    scenario: Scenario, good_plan: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import planner.network

    slow = grid_graph(speed_kph=30.0)
    monkeypatch.setattr(planner.network, "build_network", lambda sc: slow)
    assert top_speed_kph(scenario) == pytest.approx(30.0)
    # at 30 km/h the plan's 60 km/h legs are too fast: the top speed came from build_network
    assert "too_fast" in _codes(verify_plan(scenario, good_plan))


def test_without_network_falls_back(
    scenario: Scenario, good_plan: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import planner.network

    def offline(sc: Scenario) -> nx.MultiDiGraph:
        raise NetworkError("offline")

    monkeypatch.setattr(planner.network, "build_network", offline)
    assert top_speed_kph(scenario) == FALLBACK_TOP_SPEED_KPH
    assert verify_plan(scenario, good_plan) == []


def test_cli_exit_codes(
    scenario_path: Path, tmp_path: Path, plan: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import planner.network
    from planner.cli import app

    monkeypatch.setattr(planner.network, "build_network", lambda sc: grid_graph())
    good = tmp_path / "plan.json"
    good.write_text(json.dumps(plan), encoding="utf-8")
    result = CliRunner().invoke(app, ["verify", str(scenario_path), str(good)])
    assert result.exit_code == 0, result.output
    _vehicle(plan, "bus")["legs"][0]["load"] = {"general": 41}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(plan), encoding="utf-8")
    result = CliRunner().invoke(app, ["verify", str(scenario_path), str(bad)])
    assert result.exit_code == 1
    assert "[seats]" in result.output


def test_top_speed_of_graph(scenario: Scenario, graph: nx.MultiDiGraph) -> None:
    assert top_speed_kph(scenario, graph) == pytest.approx(60.0)


def test_violation_str_is_one_line() -> None:
    v = Violation(
        "seats",
        "bus-1",
        "vehicle bus-1 leg 0 (a1→r1)",
        "carries 41 people, the vehicle has 40 seats",
    )
    assert (
        str(v) == "[seats] vehicle bus-1 leg 0 (a1→r1): carries 41 people, the vehicle has 40 seats"
    )
    assert "\n" not in str(v)
    assert format_violations([v, v]).splitlines()[-1] == "2 violation(s)"


# --------------------------------------------------------------------------- geometry


def test_path_through_closed_hazard(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    v, j = _loaded_leg(plan, "bus")
    path = v["legs"][j]["path"]
    path.insert(1, [35.15, 47.15])  # the middle of closed area h1
    assert "closed_hazard" in _check(scenario, plan, graph)


def test_path_touching_closed_hazard_counts(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    v, j = _loaded_leg(plan, "bus")
    v["legs"][j]["path"].insert(1, [35.12, 47.12])  # a corner of h1: strict, touching counts
    assert "closed_hazard" in _check(scenario, plan, graph)


def test_path_across_frontline_away_from_crossing(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    leg = _crossing_leg(plan)
    a, b = leg["path"][0], leg["path"][-1]
    # go north first and cross the line at 47.4 N, 33 km from cp1
    leg["path"] = [a, [a[0], 47.4], [b[0], 47.4], b]
    found = verify_plan(scenario, plan, graph=graph)
    codes = _codes(found)
    assert "frontline" in codes
    assert "crossing_unlisted" in codes  # it still lists cp1 but no longer passes it
    fl = next(v for v in found if v.code == "frontline")
    assert "[35.25, 47.4]" in fl.message


def test_crossing_not_listed(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    _crossing_leg(plan)["crossings"] = []
    assert _check(scenario, plan, graph) == {"crossing_unlisted"}


def test_crossing_rate(
    scenario_path: Path, tmp_path: Path, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    def limit(d: dict[str, Any]) -> None:
        d["ceasefire"]["crossing_points"][0]["vehicles_per_hour"] = 1

    sc = _variant(scenario_path, tmp_path, limit)
    # the good plan sends every vehicle through cp1 at the start of the first window
    assert "crossing_rate" in _check(sc, plan, graph)


@pytest.mark.parametrize(("per_hour", "flagged"), [(1, False), (0.5, True)])
def test_crossing_rate_below_one_per_hour(
    scenario_path: Path,
    tmp_path: Path,
    plan: dict[str, Any],
    graph: nx.MultiDiGraph,
    per_hour: float,
    flagged: bool,
) -> None:
    # one vehicle crossing out and back, its two departures 1 to 2 hours apart
    v = _vehicle(plan, "bus")
    v["legs"], v["stops"] = v["legs"][:2], v["stops"][:2]
    plan["vehicles"] = [v]
    gap = datetime.fromisoformat(v["legs"][1]["depart"]) - datetime.fromisoformat(
        v["legs"][0]["depart"]
    )
    assert timedelta(hours=1) <= gap < timedelta(hours=2)
    assert all(leg["crossings"] == ["cp1"] for leg in v["legs"])

    def limit(d: dict[str, Any]) -> None:
        d["ceasefire"]["crossing_points"][0]["vehicles_per_hour"] = per_hour

    sc = _variant(scenario_path, tmp_path, limit)
    assert ("crossing_rate" in _check(sc, plan, graph)) == flagged


def test_path_endpoint_far_from_site(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    v, j = _loaded_leg(plan, "bus")
    leg = v["legs"][j]
    leg["path"][0] = [leg["path"][0][0], leg["path"][0][1] - 0.05]  # 5.6 km south of the site
    assert "path_endpoints" in _check(scenario, plan, graph)


def test_length_shorter_than_path(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    v, j = _loaded_leg(plan, "bus")
    v["legs"][j]["length_m"] = 1000.0
    assert _check(scenario, plan, graph) == {"length"}


def test_layers_read_from_files(
    scenario_path: Path, tmp_path: Path, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    # the same hazards as GeoJSON features, and the frontline as the edge of an occupied area
    hazards = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"id": "h1", "kind": "closed"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [35.12, 47.12],
                            [35.18, 47.12],
                            [35.18, 47.18],
                            [35.12, 47.18],
                            [35.12, 47.12],
                        ]
                    ],
                },
            },
            {
                "type": "Feature",
                "properties": {"id": "h2", "kind": "risk", "factor": 3},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [35.32, 46.95],
                            [35.38, 46.95],
                            [35.38, 47.35],
                            [35.32, 47.35],
                            [35.32, 46.95],
                        ]
                    ],
                },
            },
        ],
    }
    occupied = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[35.25, 46.9], [35.25, 47.5], [36.0, 47.5], [36.0, 46.9], [35.25, 46.9]]
                    ],
                },
            }
        ],
    }
    (tmp_path / "hazards.geojson").write_text(json.dumps(hazards), encoding="utf-8")
    (tmp_path / "occupied.geojson").write_text(json.dumps(occupied), encoding="utf-8")

    def files(d: dict[str, Any]) -> None:
        d["hazards"] = [{"file": "hazards.geojson"}]
        d["frontline"] = {"file": "occupied.geojson"}

    sc = _variant(scenario_path, tmp_path, files)
    assert verify_plan(sc, plan, graph=graph) == []
    v, j = _loaded_leg(plan, "bus")
    v["legs"][j]["path"].insert(1, [35.15, 47.15])
    leg = _crossing_leg(plan)
    leg["path"] = [
        leg["path"][0],
        [leg["path"][0][0], 47.4],
        [leg["path"][-1][0], 47.4],
        leg["path"][-1],
    ]
    found = verify_plan(sc, plan, graph=graph)
    assert {"closed_hazard", "frontline"} <= _codes(found)
    assert any(x.code == "closed_hazard" and "h1" in x.message for x in found)


def test_default_crossing_radius(
    scenario_path: Path,
    tmp_path: Path,
    plan: dict[str, Any],
    graph: nx.MultiDiGraph,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_radius(d: dict[str, Any]) -> None:
        d["ceasefire"]["crossing_points"][0].pop("radius_m")
        d["ceasefire"]["crossing_points"][0]["location"] = [35.25, 47.115]  # 1.7 km from the road

    sc = _variant(scenario_path, tmp_path, no_radius)
    assert verify_plan(sc, plan, graph=graph) == []  # within the default radius of 2000 m
    monkeypatch.setenv("PLANNER_CROSSING_RADIUS_M", "1000")
    assert "frontline" in _check(sc, plan, graph)


# --------------------------------------------------------------------------- people


def test_load_over_seats(scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph) -> None:
    v, j = _loaded_leg(plan, "bus")
    v["legs"][j]["load"] = {"general": 41}
    assert "seats" in _check(scenario, plan, graph)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_overload_is_caught(
    scenario: Scenario, good_plan: dict[str, Any], graph: nx.MultiDiGraph, data: st.DataObject
) -> None:
    # whatever leg is loaded with whatever people, ``seats`` fires exactly when they exceed the seats
    plan = copy.deepcopy(good_plan)
    v = data.draw(st.sampled_from([v for v in plan["vehicles"] if v["legs"]]))
    leg = data.draw(st.sampled_from(v["legs"]))
    load = data.draw(st.dictionaries(st.sampled_from(v["groups"]), st.integers(0, 2 * v["seats"])))
    leg["load"] = load
    codes = _check(scenario, plan, graph)
    assert ("seats" in codes) == (sum(load.values()) > v["seats"])


def test_seats_differ_from_fleet(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    _vehicle(plan, "bus")["seats"] = 80
    assert _check(scenario, plan, graph) == {"seats"}


def test_ambulance_group_in_a_bus(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    # move the ambulance's wounded into a bus that also calls at a1
    amb = _vehicle(plan, "ambulance")
    bus = next(
        v
        for v in plan["vehicles"]
        if v["type"] == "bus" and any(s["site"] == "a1" and s["board"] for s in v["stops"])
    )
    k = next(k for k, s in enumerate(bus["stops"]) if s["site"] == "a1" and s["board"])
    group, n = next(iter(bus["stops"][k]["board"].items()))
    bus["stops"][k]["board"] = {group: n - 2, "wounded": 2}
    codes = _check(scenario, plan, graph)
    assert "group_not_allowed" in codes
    assert amb["type"] == "ambulance"


def test_boarded_more_than_waiting(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    # every wounded person is already boarded by the ambulance; board two more on its first trip
    amb = _vehicle(plan, "ambulance")
    i = next(i for i, s in enumerate(amb["stops"]) if s["board"].get("wounded"))
    n = amb["stops"][i]["board"]["wounded"]
    extra = amb["seats"] - n
    if extra == 0:  # the first trip is full: make the next one fuller instead
        i = next(k for k, s in enumerate(amb["stops"]) if k > i and s["board"].get("wounded"))
        n = amb["stops"][i]["board"]["wounded"]
        extra = amb["seats"] - n
    assert extra > 0
    amb["stops"][i]["board"]["wounded"] = n + extra
    found = verify_plan(scenario, plan, graph=graph)
    assert "boarded_more_than_waiting" in _codes(found)
    assert any(v.code == "boarded_more_than_waiting" and "wounded" in v.message for v in found)


def test_reception_over_capacity(
    scenario_path: Path, tmp_path: Path, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    def shrink(d: dict[str, Any]) -> None:
        d["evacuation"]["reception_centres"][0]["capacity"] = 50

    sc = _variant(scenario_path, tmp_path, shrink)
    assert _check(sc, plan, graph) == {"reception_capacity"}


def test_people_left_on_board(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    v = _vehicle(plan, "bus")
    v["stops"][-1]["alight"] = {}
    codes = _check(scenario, plan, graph)
    assert "not_delivered" in codes
    assert "totals" in codes  # the plan's totals now claim more than is delivered


def test_board_not_at_assembly(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    v = _vehicle(plan, "bus")
    st = next(s for s in v["stops"] if s["site"] == "r1")
    st["board"] = {"general": 1}
    assert "board_not_at_assembly" in _check(scenario, plan, graph)


def test_totals_disagree(scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph) -> None:
    plan["totals"]["evacuated"]["general"] += 10
    plan["totals"]["evacuated"]["total"] += 10
    assert _check(scenario, plan, graph) == {"totals"}


# --------------------------------------------------------------------------- time


def test_leg_at_night(scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph) -> None:
    v, j = _loaded_leg(plan, "bus")
    leg = v["legs"][j]
    day = datetime.fromisoformat(leg["depart"]).date().isoformat()
    dur = datetime.fromisoformat(leg["arrive"]) - datetime.fromisoformat(leg["depart"])
    leg["depart"] = f"{day}T22:00:00+02:00"
    leg["arrive"] = (datetime.fromisoformat(leg["depart"]) + dur).isoformat()
    assert "outside_window" in _check(scenario, plan, graph)


def test_leg_too_fast(scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph) -> None:
    v, j = _loaded_leg(plan, "bus")
    leg = v["legs"][j]
    leg["arrive"] = _iso(leg["depart"], minutes=10)  # 50 km in 10 min
    assert _check(scenario, plan, graph) == {"too_fast"}


def test_legs_overlap(scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph) -> None:
    v = _vehicle(plan, "bus")
    assert len(v["legs"]) >= 2
    v["legs"][1]["depart"] = _iso(v["legs"][0]["arrive"], minutes=-30)
    assert "two_places" in _check(scenario, plan, graph)


def test_leg_starts_elsewhere(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    v = _vehicle(plan, "bus")
    leg = v["legs"][1]
    other = "a2" if leg["from"] != "a2" else "a1"
    leg["from"] = other
    assert "two_places" in _check(scenario, plan, graph)


def test_first_leg_not_from_start(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    v = _vehicle(plan, "bus")
    v["legs"][0]["from"] = "a2"
    assert "start" in _check(scenario, plan, graph)


def test_stop_and_leg_disagree(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    v = _vehicle(plan, "bus")
    del v["stops"][0]
    assert "two_places" in _check(scenario, plan, graph)


# --------------------------------------------------------------------------- fleet and sites


def test_fleet_size(scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph) -> None:
    amb = copy.deepcopy(_vehicle(plan, "ambulance"))
    amb["id"] = "ambulance-2"
    amb["legs"] = []
    amb["stops"] = []
    plan["vehicles"].append(amb)
    assert _check(scenario, plan, graph) == {"fleet_size"}


def test_unknown_type_and_site(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    _vehicle(plan, "ambulance")["type"] = "tank"
    _vehicle(plan, "bus")["stops"][0]["site"] = "nowhere"
    codes = _check(scenario, plan, graph)
    assert {"unknown_vehicle_type", "unknown_site"} <= codes


# --------------------------------------------------------------------------- format


def test_missing_vehicles_is_format(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    del plan["vehicles"]
    found = verify_plan(scenario, plan, graph=graph)
    assert "format" in _codes(found)


def test_not_an_object_is_format(scenario: Scenario, graph: nx.MultiDiGraph) -> None:
    assert _codes(verify_plan(scenario, [], graph=graph)) == {"format"}  # type: ignore[arg-type]


def _mutations(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    if isinstance(obj, dict):
        for k, val in obj.items():
            out.append((*path, k))
            out.extend(_mutations(val, (*path, k)))
    elif isinstance(obj, list):
        for i, val in enumerate(obj[:2]):
            out.append((*path, i))
            out.extend(_mutations(val, (*path, i)))
    return out


def _no_internal_error(found: list[Violation]) -> None:
    assert not [v for v in found if INTERNAL_ERROR in v.message], found


def test_mangled_fields_never_raise(
    scenario: Scenario, good_plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    # trim to one vehicle and its first two legs/stops to keep this quick
    base = copy.deepcopy(good_plan)
    base["vehicles"] = base["vehicles"][:1]
    base["vehicles"][0]["legs"] = base["vehicles"][0]["legs"][:2]
    base["vehicles"][0]["stops"] = base["vehicles"][0]["stops"][:2]
    for where in _mutations(base):
        if where[0] in {"solver", "windows", "unserved", "warnings"}:
            continue
        for bad in (None, "x", -1, [], {}, 1.5, True):
            broken = copy.deepcopy(base)
            parent = broken
            for k in where[:-1]:
                parent = parent[k]
            parent[where[-1]] = bad
            _no_internal_error(verify_plan(scenario, broken, graph=graph))
        broken = copy.deepcopy(base)
        parent = broken
        for k in where[:-1]:
            parent = parent[k]
        if isinstance(parent, dict):
            del parent[where[-1]]
            _no_internal_error(verify_plan(scenario, broken, graph=graph))


def test_mistyped_fields_are_format(
    scenario: Scenario, plan: dict[str, Any], graph: nx.MultiDiGraph
) -> None:
    v = _vehicle(plan, "bus")
    v["seats"] = "forty"
    v["legs"][0]["path"] = "not a path"
    v["legs"][0]["depart"] = "16 March, 8 am"
    v["stops"][0]["board"] = {"general": -3}
    found = verify_plan(scenario, plan, graph=graph)
    fmt = [x for x in found if x.code == "format"]
    assert len(fmt) >= 4
    assert all(x.vehicle == v["id"] for x in fmt)


# --------------------------------------------------------------------------- the rule registry


def _documented_codes() -> list[str]:
    """The codes the ``Check codes`` section of :mod:`planner.verify` lists."""
    import re

    import planner.verify

    section = (planner.verify.__doc__ or "").split("Check codes", 1)[1]
    return [
        c
        for line in section.splitlines()
        if line.startswith("``")
        for c in re.findall(r"``([a-z_*]+)``", line)
    ]


def _is_documented(code: str, documented: list[str]) -> bool:
    return any(code == d or (d.endswith("*") and code.startswith(d[:-1])) for d in documented)


def test_every_rule_has_a_name_a_summary_and_documented_codes() -> None:
    import planner.exchange_check  # noqa: F401  (registers the exchange rules)
    from planner.verify_registry import RULES

    rules = [r for scope in RULES.values() for r in scope]
    names = [r.name for r in rules]
    assert len(names) == len(set(names)), "two rules share a name"
    assert len(rules) >= 40
    documented = _documented_codes()
    for r in rules:
        assert r.summary and r.summary.endswith("."), f"rule {r.name} needs a one-line docstring"
        assert r.codes, f"rule {r.name} declares no code"
        for code in r.codes:
            if r.scope.startswith("exchange"):
                assert code.startswith("exchange_"), (r.name, code)
            else:
                assert _is_documented(code, documented), (
                    f"{r.name} reports {code}, not in planner.verify's doc"
                )
    declared = {c for r in rules for c in r.codes}
    for d in documented:
        assert any(_is_documented(c, [d]) for c in declared), (
            f"{d} is documented but no rule reports it"
        )


def test_registering_a_rule_needs_a_docstring_and_a_new_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from planner.verify_registry import RULES, rule

    monkeypatch.setitem(RULES, "leg", list(RULES["leg"]))
    with pytest.raises(ValueError, match="no docstring"):
        rule("leg", codes=("x",))(lambda ctx, veh, lg: None)

    def too_fast(ctx: Any, veh: Any, lg: Any) -> None:
        """A second rule of that name."""

    with pytest.raises(ValueError, match="already registered"):
        rule("leg", codes=("x",))(too_fast)
    with pytest.raises(ValueError, match="unknown rule scope"):
        rule("legs", codes=("x",))


def test_a_new_rule_is_one_function(
    scenario: Scenario,
    good_plan: dict[str, Any],
    graph: nx.MultiDiGraph,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from planner.verify_registry import RULES, rule

    monkeypatch.setitem(RULES, "leg", list(RULES["leg"]))

    @rule("leg", codes=("escort",))
    def escorted(ctx: Any, veh: Any, lg: Any) -> None:
        """``escort``: every leg with people aboard is reported (a contributor's new rule)."""
        if lg.load and any(lg.load.values()):
            ctx.add("escort", lg.where, "needs an escort", veh.vid)

    found = verify_plan(scenario, good_plan, graph=graph)
    loaded = [
        f"vehicle {v['id']} leg {j} ({leg['from']}→{leg['to']})"
        for v in good_plan["vehicles"]
        for j, leg in enumerate(v["legs"])
        if any(leg["load"].values())
    ]
    assert 0 < len(loaded) < sum(len(v["legs"]) for v in good_plan["vehicles"])
    assert [x.where for x in found] == loaded
    assert {(x.code, x.message) for x in found} == {("escort", "needs an escort")}


def test_each_rule_reports_only_the_codes_it_declares(
    scenario: Scenario,
    good_plan: dict[str, Any],
    graph: nx.MultiDiGraph,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Break the good plan in many ways; every violation comes from a rule declaring its code."""
    import dataclasses

    from planner.verify_context import Context
    from planner.verify_registry import RULES

    running: list[Any] = []
    wrong: list[tuple[str, str]] = []
    seen: set[str] = set()
    ran: set[str] = set()

    def wrap(r: Any) -> Any:
        def check(*args: Any) -> None:
            ran.add(r.name)
            running.append(r)
            try:
                r.check(*args)
            finally:
                running.pop()

        return dataclasses.replace(r, check=check)

    for scope in ("plan", "vehicle", "stop", "leg", "itinerary"):
        monkeypatch.setitem(RULES, scope, [wrap(r) for r in RULES[scope]])
    add = Context.add

    def recording_add(
        self: Context, code: str, where: str, message: str, vehicle: str | None = None
    ) -> None:
        seen.add(code)
        if running and code not in running[-1].codes:
            wrong.append((running[-1].name, code))
        add(self, code, where, message, vehicle)

    monkeypatch.setattr(Context, "add", recording_add)
    base = copy.deepcopy(good_plan)
    paths = [
        p for p in _mutations(base) if p[0] not in {"solver", "windows", "unserved", "warnings"}
    ]
    for i, where in enumerate(paths[:: max(1, len(paths) // 150)]):
        broken = copy.deepcopy(base)
        parent = broken
        for k in where[:-1]:
            parent = parent[k]
        old = parent[where[-1]]
        if isinstance(old, str) and old[:2] == "20":
            parent[where[-1]] = _iso(old, minutes=(-1) ** i * 90)
        elif isinstance(old, str):
            parent[where[-1]] = "elsewhere"
        elif isinstance(old, int | float) and not isinstance(old, bool):
            parent[where[-1]] = old * 3 + 1
        else:
            parent[where[-1]] = None
        verify_plan(scenario, broken, graph=graph)
    assert not wrong, f"rules reporting codes they do not declare: {sorted(set(wrong))}"
    assert ran == {
        r.name for scope in ("plan", "vehicle", "stop", "leg", "itinerary") for r in RULES[scope]
    }
    assert len(seen) >= 8, seen
