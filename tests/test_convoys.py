"""Convoys (``ceasefire.convoys``): known answers and the verifier's convoy rules.

One road of 90 km from the town ``a`` to the reception centre ``r``, with a checkpoint
half-way (30 minutes' stop); the corridor runs ``a -> r`` and its convoy leaves ``a`` at
09:00 and 12:00 at 45 km/h (2 h of driving), at most three vehicles (the ICRC lead
counted), two minutes apart.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta

import pytest
from synth import road_graph

from planner.errors import ScenarioError
from planner.evacuation import plan_evacuation
from planner.network import prepare_network
from planner.scenario import parse_scenario
from planner.verify import verify_plan

FAST = dict(time_limit_s=600, workers=1, budget=200)  # the budget decides; the cap is a hang guard
ROAD = road_graph(
    {1: (35.0, 47.0), 3: (35.575, 47.0), 2: (36.15, 47.0)}, [(1, 3, 45_000.0), (3, 2, 45_000.0)]
)
NINE, NOON = "2022-03-16T09:00:00+02:00", "2022-03-16T12:00:00+02:00"


def _scenario(convoy: dict | None = None, buses: int = 4, people: int = 200) -> dict:
    ceasefire = {
        "windows": [{"start": "2022-03-16T08:00:00+02:00", "end": "2022-03-16T18:00:00+02:00"}],
        "corridors": [
            {
                "id": "c1",
                "via": ["a", "r"],
                "checkpoints": [{"id": "cp", "location": [35.575, 47.0], "stop_min": 30}],
            }
        ],
    }
    if convoy is not None:
        ceasefire["convoys"] = [convoy]
    return {
        "name": "convoy-case",
        "ceasefire": ceasefire,
        "evacuation": {
            "assembly_points": [
                {"id": "a", "location": [35.0, 47.0], "people": {"general": people}}
            ],
            "reception_centres": [{"id": "r", "location": [36.15, 47.0], "capacity": 100_000}],
            "fleet": [
                {"type": "bus", "count": buses, "seats": 50, "groups": ["general"], "start": "a"},
                {"type": "icrc", "count": 2, "seats": 0, "start": "a"},
            ],
            "stop_min": 10,
            "unload_min": 15,
            "boarding_s_per_person": 6,
        },
    }


CONVOY = {
    "corridor": "c1",
    "from": "a",
    "depart": [NINE, NOON],
    "max_vehicles": 3,
    "lead": "icrc",
    "max_speed_kph": 45,
    "gap_min": 2,
}


def _plan(d: dict):
    sc = parse_scenario(d)
    plan = plan_evacuation(sc, network=prepare_network(sc, graph=ROAD), **FAST)
    return sc, plan


@pytest.fixture(scope="module")
def convoy_plan():
    sc, plan = _plan(_scenario(CONVOY))
    return sc, plan, json.loads(plan.to_json())


def _codes(sc, data) -> list[str]:
    return sorted({v.code for v in verify_plan(sc, data, graph=ROAD)})


def test_e_a_convoy_leaves_and_arrives_together(convoy_plan):
    sc, plan, data = convoy_plan
    assert verify_plan(sc, data, graph=ROAD) == []
    assert plan.totals.evacuated["total"] == 200
    by_convoy: dict[str, list] = {}
    for v in plan.vehicles:
        for leg in v.legs:
            assert leg.convoy is not None, (v.id, leg)  # the corridor is driven only in convoy
            by_convoy.setdefault(leg.convoy, []).append((v.type, leg))
    assert sorted(by_convoy) == [f"c1@{NINE}", f"c1@{NOON}"]
    for label, members in by_convoy.items():
        # two buses behind one lead vehicle (three at most)
        assert sorted(t for t, _ in members) == ["bus", "bus", "icrc"]
        depart = datetime.fromisoformat(label.split("@")[1])
        for _t, leg in members:
            assert datetime.fromisoformat(leg.depart) == depart
            # 45 km at 45 km/h to the checkpoint, 30 minutes there, 45 km more; the column of
            # three vehicles two minutes apart is in 4 minutes after its head
            (cp,) = leg.checkpoints
            assert cp.id == "cp"
            assert datetime.fromisoformat(cp.arrive) == depart + timedelta(hours=1)
            assert datetime.fromisoformat(cp.depart) == depart + timedelta(hours=1, minutes=30)
            assert datetime.fromisoformat(leg.arrive) == depart + timedelta(hours=2, minutes=34)


def test_without_convoys_the_buses_leave_at_once():
    # the same case without the convoy: nobody waits for 09:00 (the test above is not vacuous)
    sc, plan = _plan(_scenario(None))
    first = min(datetime.fromisoformat(leg.depart) for v in plan.vehicles for leg in v.legs)
    assert first < datetime.fromisoformat(NINE)
    assert all(
        "convoy" not in leg for v in json.loads(plan.to_json())["vehicles"] for leg in v["legs"]
    )


def test_a_trip_that_fits_no_departure_is_dropped():
    # one departure of three vehicles (lead counted): two buses go, the third stays
    sc, plan = _plan(_scenario({**CONVOY, "depart": [NINE]}, buses=3, people=150))
    assert verify_plan(sc, json.loads(plan.to_json()), graph=ROAD) == []
    assert plan.totals.evacuated["total"] == 100


def _legs_of(data: dict, label: str) -> list[dict]:
    return [leg for v in data["vehicles"] for leg in v["legs"] if leg.get("convoy") == label]


def test_verify_catches_a_member_leaving_late(convoy_plan):
    sc, _plan_, data = convoy_plan
    broken = copy.deepcopy(data)
    leg = _legs_of(broken, f"c1@{NINE}")[0]
    leg["depart"] = "2022-03-16T09:10:00+02:00"
    assert {"convoy_departure", "convoy_together"} <= set(_codes(sc, broken))


def test_verify_catches_a_member_arriving_apart(convoy_plan):
    sc, _plan_, data = convoy_plan
    broken = copy.deepcopy(data)
    _legs_of(broken, f"c1@{NINE}")[1]["arrive"] = "2022-03-16T10:30:00+02:00"
    assert "convoy_together" in _codes(sc, broken)


def test_verify_catches_a_vehicle_on_the_corridor_outside_a_convoy(convoy_plan):
    sc, _plan_, data = convoy_plan
    broken = copy.deepcopy(data)
    leg = next(lg for v in broken["vehicles"] if v["type"] == "bus" for lg in v["legs"])
    del leg["convoy"]
    assert "convoy_outside" in _codes(sc, broken)


def test_verify_catches_a_member_stopping_apart_at_a_checkpoint(convoy_plan):
    sc, _plan_, data = convoy_plan
    broken = copy.deepcopy(data)
    cp = _legs_of(broken, f"c1@{NINE}")[1]["checkpoints"][0]
    cp["arrive"], cp["depart"] = "2022-03-16T10:05:00+02:00", "2022-03-16T10:35:00+02:00"
    codes = _codes(sc, broken)
    assert "convoy_together" in codes and "corridor_checkpoint" not in codes


def test_verify_catches_an_unknown_convoy(convoy_plan):
    sc, _plan_, data = convoy_plan
    broken = copy.deepcopy(data)
    _legs_of(broken, f"c1@{NINE}")[0]["convoy"] = "c1@2022-03-16T10:00:00+02:00"
    assert "convoy_unknown" in _codes(sc, broken)


def test_verify_catches_a_convoy_too_long_and_one_without_its_lead(convoy_plan):
    sc, _plan_, data = convoy_plan
    broken = copy.deepcopy(data)
    for v in broken["vehicles"]:
        for leg in v["legs"]:
            if leg.get("convoy") == f"c1@{NOON}" and v["type"] == "bus":
                leg["convoy"] = f"c1@{NINE}"
                leg["depart"], leg["arrive"] = (
                    "2022-03-16T09:00:00+02:00",
                    "2022-03-16T11:04:00+02:00",
                )
    codes = _codes(sc, broken)
    assert "convoy_size" in codes  # four buses and the lead at 09:00
    assert "convoy_lead" in _codes(sc, _without_lead(data))


def _without_lead(data: dict) -> dict:
    broken = copy.deepcopy(data)
    broken["vehicles"] = [v for v in broken["vehicles"] if v["type"] != "icrc"]
    return broken


def test_a_lead_type_has_no_seats():
    d = _scenario({**CONVOY, "lead": "bus"})
    sc = parse_scenario(d)
    with pytest.raises(ScenarioError, match="ceasefire.convoys.0.lead"):
        plan_evacuation(sc, network=prepare_network(sc, graph=ROAD), **FAST)
    bad = _scenario(CONVOY)
    bad["evacuation"]["fleet"][1]["groups"] = ["general"]
    with pytest.raises(ScenarioError, match="fleet.1.seats: 0 seats, yet it carries general"):
        parse_scenario(bad)


def test_schedule_driver_sheets_and_xlsx_name_the_convoy(convoy_plan):
    import csv
    import io

    from openpyxl import load_workbook

    from planner.export import driver_sheet_rows, schedule_csv
    from planner.fieldexport import VEHICLE_SHEET_COLUMNS, schedule_xlsx

    _sc, plan, _data = convoy_plan
    rows = list(csv.DictReader(io.StringIO(schedule_csv(plan))))[1:]
    leaving = {(r["vehicle"], r["convoy"]) for r in rows if r["convoy"]}
    every = {(v.id, leg.convoy) for v in plan.vehicles for leg in v.legs}
    assert leaving == every
    bus = next(v for v in plan.vehicles if v.type == "bus")
    sheet = driver_sheet_rows(plan, bus)
    assert {r["convoy"] for r in sheet if r["action"] in ("depart", "arrive")} == {
        bus.legs[0].convoy
    }
    wb = load_workbook(io.BytesIO(schedule_xlsx(plan)))
    col = VEHICLE_SHEET_COLUMNS.index("convoy")
    cells = {
        row[col]
        for ws in wb.worksheets
        for row in ws.iter_rows(values_only=True)
        if len(row) > col and isinstance(row[col], str) and "@" in row[col]
    }
    assert cells == {f"c1@{NINE}", f"c1@{NOON}"}


def test_each_vehicle_of_a_convoy_counts_at_a_crossing():
    # the line of contact cuts the road at 35.3 E; its crossing lets 2 vehicles an hour
    # through, so one departure of four buses can take only two
    d = _scenario({**CONVOY, "depart": [NINE], "max_vehicles": 10, "lead": None}, people=200)
    d["frontline"] = {"coordinates": [[35.3, 46.8], [35.3, 47.2]]}
    d["ceasefire"]["crossing_points"] = [
        {"id": "x", "location": [35.3, 47.0], "vehicles_per_hour": 2, "radius_m": 5000}
    ]
    sc, plan = _plan(d)
    assert verify_plan(sc, json.loads(plan.to_json()), graph=ROAD) == []
    members = [leg for v in plan.vehicles for leg in v.legs if leg.convoy]
    assert len(members) == 2 and all(leg.crossings == ["x"] for leg in members)
    assert plan.totals.evacuated["total"] == 100


def test_the_same_convoy_plan_twice(convoy_plan):
    _sc, plan, _data = convoy_plan
    _sc2, again = _plan(_scenario(CONVOY))
    assert again.to_json() == plan.to_json()
