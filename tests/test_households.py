"""Households: given by means, sizes or a file; never split; the bound counts whole households."""

from __future__ import annotations

import copy
import json

import pytest
from synth import road_graph

from planner.errors import ScenarioError
from planner.evacuation import plan_evacuation
from planner.network import prepare_network
from planner.plan import Plan
from planner.scenario import parse_scenario
from planner.verify import verify_plan

FAST = dict(time_limit_s=600, workers=1, budget=200)  # the budget decides; the cap is a hang guard

# A at 35.0 E, R 90 km east: 1.5 h at 60 km/h; a 10-hour window gives each vehicle 3 trips
NEAR = road_graph({1: (35.0, 47.0), 2: (36.15, 47.0)}, [(1, 2, 90_000.0)])

MEMBERS = (
    """household,group,needs
f1,general,
f1,children,
f1,children,
f2,general,
f2,general,
f2,children,
f2,children,
f3,wounded,
f3,general,
f4,general,
f4,general,
"""
    + "f4,children,\n" * 8
    + "f5,wounded,\n"
)


def _scenario(households, fleet=None, people=None, end="2022-03-16T18:00:00+02:00"):
    point = {"id": "a", "location": [35.0, 47.0], "households": households}
    if people is not None:
        point["people"] = people
    return {
        "name": "household-case",
        "ceasefire": {"windows": [{"start": "2022-03-16T08:00:00+02:00", "end": end}]},
        "evacuation": {
            "assembly_points": [point],
            "reception_centres": [{"id": "r", "location": [36.15, 47.0], "capacity": 1000}],
            "fleet": fleet
            or [
                {
                    "type": "bus",
                    "count": 1,
                    "seats": 8,
                    "groups": ["general", "children"],
                    "start": "r",
                },
                {"type": "ambulance", "count": 1, "seats": 4, "groups": ["wounded"], "start": "r"},
                {
                    "type": "van",
                    "count": 1,
                    "seats": 3,
                    "groups": ["wounded", "general", "children"],
                    "start": "r",
                },
            ],
            "stop_min": 10,
            "unload_min": 15,
        },
    }


def _file_case(tmp_path):
    (tmp_path / "households.csv").write_text(MEMBERS)
    d = _scenario({"file": "households.csv"})
    return parse_scenario(d, tmp_path / "case.yaml")


@pytest.fixture(scope="module")
def file_plan(tmp_path_factory):
    sc = _file_case(tmp_path_factory.mktemp("hh"))
    net = prepare_network(sc, graph=NEAR)
    plan = plan_evacuation(sc, network=net, **FAST)
    return sc, json.loads(plan.to_json())


def _households_on(plan):
    """household -> [(vehicle, stop site, 'board' | 'alight')]."""
    seen: dict[str, list[tuple[str, str, str]]] = {}
    for v in plan["vehicles"]:
        for s in v["stops"]:
            for key in ("board", "alight"):
                for h in s.get(f"{key}_households", []):
                    seen.setdefault(h, []).append((v["id"], s["site"], key))
    return seen


# ------------------------------------------------------------------- scenario forms


def test_means_expand_to_rounded_totals_spread_evenly():
    sc = parse_scenario(_scenario({"count": 10, "members": {"general": 2, "children": 1.5}}))
    a = sc.evacuation.assembly_points[0]
    assert a.people.as_dict() == {
        "wounded": 0,
        "children": 15,
        "reduced_mobility": 0,
        "general": 20,
    }
    sizes = sorted(h.people for h in a.household_list)
    assert sizes == [3] * 5 + [4] * 5
    assert [h.id for h in a.household_list][:2] == ["a-h001", "a-h002"]


def test_sizes_expand_with_two_adults_and_children_by_default():
    sc = parse_scenario(_scenario({"sizes": {1: 2, 4: 3}}))
    a = sc.evacuation.assembly_points[0]
    assert a.people.general == 2 + 3 * 2 and a.people.children == 3 * 2
    assert len(a.household_list) == 5


def test_companions_take_seats_not_places_on_the_list():
    sc = parse_scenario(
        _scenario({"count": 2, "members": {"wounded": 1, "general": 1}, "companions": 1})
    )
    hh = sc.evacuation.assembly_points[0].household_list
    assert [(h.people, h.seats) for h in hh] == [(2, 3), (2, 3)]


def test_people_that_disagree_with_households_are_refused_in_one_line():
    d = _scenario({"sizes": {3: 2}}, people={"general": 6})
    with pytest.raises(ScenarioError) as err:
        parse_scenario(d, "x.yaml")
    line = str(err.value)
    assert "\n" not in line and "x.yaml" in line and "people" in line and "disagrees" in line
    parse_scenario(_scenario({"sizes": {3: 2}}, people={"general": 4, "children": 2}))


def test_a_registration_file_names_file_row_and_column_on_error(tmp_path):
    (tmp_path / "households.csv").write_text("household,group\nf1,general\nf1,soldier\n")
    with pytest.raises(ScenarioError) as err:
        parse_scenario(_scenario({"file": "households.csv"}), tmp_path / "case.yaml")
    assert "households.csv" in str(err.value) and "row 3: group" in str(err.value)
    (tmp_path / "names.csv").write_text("household,group\nIvanenko,general\n")
    with pytest.raises(ScenarioError, match="pseudonymous"):
        parse_scenario(_scenario({"file": "names.csv"}), tmp_path / "case.yaml")


# ------------------------------------------------------------------- known answer (f)


def test_f_no_household_is_split_and_the_bound_counts_households(file_plan):
    sc, plan = file_plan
    # f4 (10 people) is larger than every vehicle; f3 (wounded + general) fits only the van;
    # splitting would move all 20 (the fleet has 45 seat-trips), whole households move 10
    assert plan["totals"]["requested"]["total"] == 20
    assert plan["totals"]["bound"]["total"] == 10
    assert plan["totals"]["evacuated"]["total"] == 10
    too_large = [u for u in plan["unserved"] if u["reason"] == "household_too_large"]
    assert sum(u["people"] for u in too_large) == 10
    seen = _households_on(plan)
    assert sorted(seen) == ["f1", "f2", "f3", "f5"]
    for h, events in seen.items():
        assert [e[2] for e in events] == ["board", "alight"], (h, events)
        assert events[0][0] == events[1][0], (h, events)  # one vehicle
    assert seen["f3"][0][0].startswith("van")
    assert verify_plan(sc, plan, graph=NEAR) == []


def test_sites_without_households_write_no_household_fields(file_plan):
    sc, plan = file_plan
    d = _scenario(None, people={"general": 5})
    del d["evacuation"]["assembly_points"][0]["households"]
    sc2 = parse_scenario(d)
    p2 = json.loads(
        plan_evacuation(sc2, network=prepare_network(sc2, graph=NEAR), **FAST).to_json()
    )
    text = json.dumps(p2)
    assert "households" not in text and p2["totals"]["evacuated"]["total"] == 5


# ------------------------------------------------------------------- the verifier


def _codes(sc, plan):
    return {v.code for v in verify_plan(sc, plan, graph=NEAR)}


def _stop_with(plan, hid, key):
    for v in plan["vehicles"]:
        for s in v["stops"]:
            if hid in s.get(f"{key}_households", []):
                return v, s
    raise AssertionError(hid)


def test_verify_catches_a_household_split_across_vehicles(file_plan):
    sc, plan = file_plan
    broken = copy.deepcopy(plan)
    v, s = _stop_with(broken, "f1", "alight")
    other = next(x for x in broken["vehicles"] if x["id"] != v["id"] and x["stops"])
    s["alight_households"].remove("f1")
    target = next(t for t in other["stops"] if t["site"] == "r")
    target.setdefault("alight_households", []).append("f1")
    assert "household_split" in _codes(sc, broken)


def test_verify_catches_a_household_on_a_vehicle_that_may_not_carry_a_member(file_plan):
    sc, plan = file_plan
    broken = copy.deepcopy(plan)
    van, board = _stop_with(broken, "f3", "board")
    _van, alight = _stop_with(broken, "f3", "alight")
    board["board_households"].remove("f3")
    alight["alight_households"].remove("f3")
    bus = next(x for x in broken["vehicles"] if x["type"] == "bus" and x["stops"])
    bus_board = next(t for t in bus["stops"] if t["site"] == "a")
    bus_alight = next(t for t in bus["stops"] if t["site"] == "r")
    bus_board.setdefault("board_households", []).append("f3")
    bus_alight.setdefault("alight_households", []).append("f3")
    codes = _codes(sc, broken)
    assert "household_vehicle" in codes and "household_split" not in codes


def test_verify_catches_people_of_a_household_site_boarding_outside_their_household(file_plan):
    sc, plan = file_plan
    broken = copy.deepcopy(plan)
    _v, s = _stop_with(broken, "f2", "board")
    s["board_households"].remove("f2")
    assert {"household_counts", "household_split"} <= _codes(sc, broken)


def test_a_replan_keeps_households_whole_and_never_moves_one_twice(tmp_path, monkeypatch):
    from datetime import datetime

    import yaml

    import planner.network as network
    from planner.replan import apply_events, load_events, replan

    bus = {"type": "bus", "count": 2, "seats": 7, "groups": ["general", "children"], "start": "r"}
    hh = {"count": 10, "members": {"general": 1, "children": 2}}
    sc = parse_scenario(_scenario(hh, [bus], end="2022-03-17T02:00:00+02:00"))
    plan = json.loads(
        plan_evacuation(sc, network=prepare_network(sc, graph=NEAR), **FAST).to_json()
    )
    # a bus is lost half-way through its last loaded leg, after others were delivered
    legs = [(v["id"], lg) for v in plan["vehicles"] for lg in v["legs"] if lg["load"]]
    vid, leg = max(legs, key=lambda x: x[1]["depart"])
    d, a = datetime.fromisoformat(leg["depart"]), datetime.fromisoformat(leg["arrive"])
    path = tmp_path / "events.yaml"
    event = {"at": (d + (a - d) / 2).isoformat(), "vehicle_lost": vid}
    path.write_text(yaml.safe_dump({"events": [event]}))
    monkeypatch.setattr(network, "build_network", lambda _sc: NEAR)
    evs = load_events(path, sc)
    data = json.loads(replan(sc, Plan.model_validate(plan), evs, **FAST).to_json())
    assert verify_plan(apply_events(sc, evs), data, graph=NEAR) == []
    seen = _households_on(data)
    assert len(seen) >= 4
    for h, events in seen.items():
        assert [e[2] for e in events] == ["board", "alight"], (h, events)
