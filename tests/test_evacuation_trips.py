"""Known answers: vehicles make every trip their time allows and leave with every seat taken.

Two cases on a straight road:

- *convoy*: an ambulance starts at the reception centre ``r``; wounded wait at ``f``, beyond
  the marshalling site ``m`` of a convoy that leaves ``m`` for ``r`` at agreed times (a
  corridor ``f - m - r``).  It can reach ``f`` and be back at ``m`` for the 12:30 departure
  of day 1, and on day 2 reach ``m`` for the 12:00 departure: two trips.
- *full seats*: a 50-seat bus and a 4-seat ambulance both carry people of reduced mobility
  (so the people are cut into chunks that also fit the ambulance); each has time for one
  trip, and the bus leaves with all 50 seats taken, not 48.
"""

from __future__ import annotations

import json
from datetime import datetime

from synth import road_graph

from planner.chunks import chunk_pieces, fill_pattern
from planner.evacuation import plan_evacuation
from planner.network import prepare_network
from planner.scenario import parse_scenario
from planner.verify import verify_plan

FAST = dict(time_limit_s=600, workers=1, budget=300)  # the budget decides; the cap is a hang guard
# f -- 30 km -- m -- 180 km -- r, at 60 km/h: 30 min and 3 h
ROAD = road_graph(
    {1: (35.0, 47.0), 2: (35.3, 47.0), 3: (37.6, 47.0)}, [(1, 2, 30_000.0), (2, 3, 180_000.0)]
)
DAY1 = {"start": "2022-03-16T08:00:00+02:00", "end": "2022-03-16T18:00:00+02:00"}
DAY2 = {"start": "2022-03-17T08:00:00+02:00", "end": "2022-03-17T18:00:00+02:00"}


def _convoy_case() -> dict:
    return {
        "name": "convoy-two-trips",
        "ceasefire": {
            "windows": [DAY1, DAY2],
            "corridors": [{"id": "c1", "via": ["f", "m", "r"]}],
            "convoys": [
                {
                    "corridor": "c1",
                    "from": "m",
                    # 09:00 is out of reach from r; 12:30 is reached by way of f
                    "depart": [
                        "2022-03-16T09:00:00+02:00",
                        "2022-03-16T12:30:00+02:00",
                        "2022-03-17T09:00:00+02:00",
                        "2022-03-17T12:00:00+02:00",
                    ],
                    "max_vehicles": 10,
                    "gap_min": 1,
                }
            ],
        },
        "evacuation": {
            "assembly_points": [
                {"id": "f", "location": [35.0, 47.0], "people": {"wounded": 4}},
                {"id": "m", "location": [35.3, 47.0], "people": {"wounded": 4}},
            ],
            "reception_centres": [{"id": "r", "location": [37.6, 47.0], "capacity": 1000}],
            "fleet": [
                {"type": "ambulance", "count": 1, "seats": 4, "groups": ["wounded"], "start": "r"}
            ],
            "stop_min": 10,
            "unload_min": 15,
            "boarding_s_per_person": 6,
        },
    }


def test_a_vehicle_catches_the_earlier_departure_and_comes_back():
    sc = parse_scenario(_convoy_case())
    plan = plan_evacuation(sc, network=prepare_network(sc, graph=ROAD), **FAST)
    data = json.loads(plan.to_json())
    assert verify_plan(sc, data, graph=ROAD) == []
    assert plan.totals.evacuated["wounded"] == 8 == plan.totals.bound["wounded"]
    (amb,) = data["vehicles"]
    convoys = [leg["convoy"] for leg in amb["legs"] if leg.get("convoy")]
    # day 1 from f by the 12:30 departure, day 2 from m by the 12:00 one
    assert convoys == ["c1@2022-03-16T12:30:00+02:00", "c1@2022-03-17T12:00:00+02:00"]
    boards = [(s["site"], s["board"]) for s in amb["stops"] if s["board"]]
    assert boards == [("f", {"wounded": 4}), ("m", {"wounded": 4})]
    first_back = datetime.fromisoformat(amb["legs"][1]["arrive"])
    assert first_back.date().isoformat() == "2022-03-16"


def _seats_case() -> dict:
    return {
        "name": "full-seats",
        "ceasefire": {"windows": [DAY1]},
        "evacuation": {
            "assembly_points": [
                {"id": "f", "location": [35.0, 47.0], "people": {"reduced_mobility": 200}}
            ],
            "reception_centres": [{"id": "r", "location": [37.6, 47.0], "capacity": 1000}],
            "fleet": [
                {
                    "type": "bus",
                    "count": 1,
                    "seats": 50,
                    "groups": ["reduced_mobility"],
                    "start": "r",
                },
                {
                    "type": "ambulance",
                    "count": 1,
                    "seats": 4,
                    "groups": ["reduced_mobility"],
                    "start": "r",
                },
            ],
            "stop_min": 10,
            "unload_min": 15,
            "boarding_s_per_person": 6,
        },
    }


def test_a_bus_leaves_with_every_seat_taken():
    # r -> f is 3.5 h: one round trip each in a 10-hour window
    sc = parse_scenario(_seats_case())
    plan = plan_evacuation(sc, network=prepare_network(sc, graph=ROAD), **FAST)
    data = json.loads(plan.to_json())
    assert verify_plan(sc, data, graph=ROAD) == []
    loads = {
        v["type"]: sum(s["board"].get("reduced_mobility", 0) for s in v["stops"])
        for v in data["vehicles"]
    }
    assert loads == {"bus": 50, "ambulance": 4}
    assert plan.totals.evacuated["total"] == 54 == plan.totals.bound["total"]


def test_chunk_pieces_fill_every_carrier():
    assert fill_pattern(4, [4, 50]) == [4] * 12 + [2]
    assert fill_pattern(25, [50]) == [25]
    for people, size, seats in [(646, 4, [4, 50]), (1000, 25, [50]), (40, 25, [50]), (3, 4, [4])]:
        pieces = chunk_pieces(people, size, seats)
        assert sum(pieces) == people
        assert max(pieces) <= size
        # every seat count up to the largest carrier is made of whole pieces (greedy by size)
        for q in seats:
            left = min(q, people)
            for p in sorted(pieces, reverse=True):
                if p <= left:
                    left -= p
            assert left == 0, (people, size, q)


def test_without_top_up_a_stream_follows_the_fill_pattern_alone():
    assert chunk_pieces(110, 4, [4, 50], top_up=False) == [4] * 12 + [2] + [4] * 12 + [2] + [
        4
    ] * 2 + [2]
    assert chunk_pieces(60, 25, [50], top_up=False) == [25, 25, 10]
    # with the top-up the tail is cut into 1, 2, 4, ... instead
    assert chunk_pieces(60, 25, [50])[-3:] != [25, 25, 10]


def test_top_up_pieces_only_where_they_add_few_nodes(scenario_dict, grid):
    """On a small case the top-up pieces would add most of the nodes: the plain cut is used."""
    from planner.evacuation_model import TOP_UP_GROWTH, build_model

    sc = parse_scenario(scenario_dict)
    model = build_model(sc, prepare_network(sc, graph=grid))
    sizes = [c.people for c in model.chunks]
    assert TOP_UP_GROWTH < 1.5
    assert 1 not in sizes  # no piece of one person: the streams' tails are whole chunks
