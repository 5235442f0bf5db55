"""The bound with agreed corridors and convoys: known answers, and never below a plan.

The convoy cases are those of ``tests/test_convoys.py`` (one 90 km road from the town ``a``
to the reception centre ``r``, a checkpoint half-way, convoys from ``a`` at 45 km/h); the
corridor case is that of ``tests/test_agreed_corridors.py`` (a short road and a longer
agreed one).
"""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synth import road_graph
from test_agreed_corridors import POINTS, ROADS, two_roads
from test_convoys import CONVOY, FAST, NINE, NOON, ROAD, _scenario

from planner.evacuation import plan_evacuation
from planner.evacuation_model import build_model
from planner.network import prepare_network
from planner.scenario import parse_scenario
from planner.verify import verify_plan

THREE = "2022-03-16T15:00:00+02:00"


def _bound(d: dict, graph=ROAD) -> int:
    sc = parse_scenario(d)
    return build_model(sc, prepare_network(sc, graph=graph)).bound.per_group["total"]


def _buses(d: dict, count: int, seats: int) -> dict:
    d["evacuation"]["fleet"][0].update(count=count, seats=seats)
    return d


def test_a_convoy_bounds_its_sites_at_the_seats_its_departures_carry():
    # 2 departures x (3 vehicles - the lead) x 40 seats, with 1,000 people and 10 buses
    assert _bound(_buses(_scenario(CONVOY, people=1000), 10, 40)) == 2 * 2 * 40
    # without the convoy: two round trips of each bus in the window
    assert _bound(_buses(_scenario(None, people=1000), 10, 40)) == 10 * 2 * 40


def test_a_convoy_without_lead_vehicles_in_the_fleet_takes_nobody():
    d = _buses(_scenario(CONVOY, people=1000), 10, 40)
    d["evacuation"]["fleet"][1]["count"] = 1  # one ICRC vehicle leads one departure
    assert _bound(d) == 2 * 40


def test_a_vehicle_is_back_for_a_departure_only_after_its_round_trip():
    # one bus: back at a by about 14:30 after the 09:00 convoy (2 h 34 + unloading + 2 h
    # 30 back), so it cannot take the 12:00 departure as well, but it can take one at 15:00
    one = _buses(_scenario(CONVOY, people=1000), 1, 40)
    assert _bound(one) == 40
    later = _buses(_scenario({**CONVOY, "depart": [NINE, THREE]}, people=1000), 1, 40)
    assert _bound(later) == 80


def test_a_crossing_bounds_a_convoy_by_its_vehicles_per_hour():
    # 2 vehicles an hour through the crossing: one departure of four buses takes two
    d = _scenario({**CONVOY, "depart": [NINE], "max_vehicles": 10, "lead": None}, people=200)
    d["frontline"] = {"coordinates": [[35.3, 46.8], [35.3, 47.2]]}
    d["ceasefire"]["crossing_points"] = [
        {"id": "x", "location": [35.3, 47.0], "vehicles_per_hour": 2, "radius_m": 5000}
    ]
    assert _bound(d) == 100


def test_a_corridor_that_puts_a_site_out_of_reach_in_the_window_takes_it_out():
    # the bus starts at r: 1 h to a and 1 h back on the short road fit in a 3 h window;
    # 1 h 50 each way on the agreed road (its checkpoint stop included) do not
    graph = road_graph(POINTS, ROADS)
    short = two_roads()
    short["ceasefire"]["windows"][0]["end"] = "2022-03-16T11:00:00+02:00"
    free = copy.deepcopy(short)
    del free["ceasefire"]["corridors"]
    assert _bound(free, graph) == 30
    assert _bound(short, graph) == 0
    # the same through the corridor's own windows within a longer ceasefire
    narrow = two_roads()
    narrow["ceasefire"]["corridors"][0]["windows"] = [
        {"start": "2022-03-16T08:00:00+02:00", "end": "2022-03-16T11:00:00+02:00"}
    ]
    assert _bound(two_roads(), graph) == 60
    assert _bound(narrow, graph) == 0


@pytest.mark.slow
@settings(max_examples=8, deadline=None, derandomize=True)
@given(
    people=st.integers(0, 300),
    buses=st.integers(1, 4),
    seats=st.integers(5, 50),
    departs=st.sets(st.sampled_from([NINE, NOON, THREE]), min_size=1),
    max_vehicles=st.integers(2, 4),
    lead=st.booleans(),
    vph=st.sampled_from([None, 1, 2, 3]),
    start=st.sampled_from(["a", "r"]),
)
def test_random_convoy_plans_never_beat_the_bound(
    people, buses, seats, departs, max_vehicles, lead, vph, start
):
    convoy = {
        **CONVOY,
        "depart": sorted(departs),
        "max_vehicles": max_vehicles,
        "lead": "icrc" if lead else None,
    }
    d = _buses(_scenario(convoy, people=people), buses, seats)
    for vt in d["evacuation"]["fleet"]:
        vt["start"] = start
    if vph is not None:
        d["frontline"] = {"coordinates": [[35.3, 46.8], [35.3, 47.2]]}
        d["ceasefire"]["crossing_points"] = [
            {"id": "x", "location": [35.3, 47.0], "vehicles_per_hour": vph, "radius_m": 5000}
        ]
    sc = parse_scenario(d)
    # Any plan must stay within the bound, however early its search stops: a budget of 60
    # solutions reaches the bound or one below it on these two-site roads, and the time cap
    # only ends a search that finds no more solutions (the assertion does not depend on it).
    plan = plan_evacuation(
        sc, network=prepare_network(sc, graph=ROAD), **{**FAST, "budget": 60, "time_limit_s": 5}
    )
    assert verify_plan(sc, json.loads(plan.to_json()), graph=ROAD) == []
    t = plan.totals
    assert t.evacuated["total"] <= t.bound["total"] <= t.requested["total"]


ROAD4 = road_graph(
    {0: (34.425, 47.0), 1: (35.0, 47.0), 3: (35.575, 47.0), 2: (36.15, 47.0)},
    [(0, 1, 45_000.0), (1, 3, 45_000.0), (3, 2, 45_000.0)],
)


def _ambulance(depart: list[str]) -> dict:
    """One 4-seat ambulance, the only vehicle that may carry the wounded, starting at ``b``
    45 min upstream of the marshalling site ``a`` (2 h 30 in convoy to ``r``, 2 h back)."""
    d = _scenario({**CONVOY, "depart": depart}, people=0)
    d["ceasefire"]["corridors"][0]["via"] = ["b", "a", "r"]
    ev = d["evacuation"]
    ev["assembly_points"] = [
        {"id": "b", "location": [34.425, 47.0], "people": {"wounded": 20}},
        {"id": "a", "location": [35.0, 47.0], "people": {"wounded": 2}},
    ]
    ev["fleet"][0].update(type="ambulance", count=1, seats=4, groups=["wounded"], start="b")
    return d


def test_a_vehicle_back_for_a_later_departure_reaches_only_the_sites_near_it():
    # 09:00 with four wounded from b (boarded at 08:10, at a by 08:55); back at a at 13:45
    # (2 h 30 + 15 min unloading + 2 h), so the 14:00 departure takes only a's two wounded:
    # b is 45 min away each way.  Seats alone would allow 2 x 4.
    d = _ambulance(["2022-03-16T09:00:00+02:00", "2022-03-16T14:00:00+02:00"])
    assert _bound(d, ROAD4) == 4 + 2
    sc = parse_scenario(d)
    plan = plan_evacuation(sc, network=prepare_network(sc, graph=ROAD4), **FAST)
    assert verify_plan(sc, json.loads(plan.to_json()), graph=ROAD4) == []
    assert plan.totals.evacuated["wounded"] <= plan.totals.bound["wounded"] == 6
