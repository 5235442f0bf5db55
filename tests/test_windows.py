"""Known answers for the ceasefire-window rules inside the search.

Each case has one road with an exact drive (a given length at 60 km/h) and whole-minute
dwells, so the best plan a coordinator would make by hand can be written down.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from synth import road_graph

from planner.evacuation import plan_evacuation
from planner.network import prepare_network
from planner.scenario import parse_scenario
from planner.verify import verify_plan

FAST = dict(time_limit_s=30, workers=1, budget=200)

# A at 35.0 E; R 210 km east (3.5 h at 60 km/h) or 90 km east (1.5 h)
FAR = road_graph({1: (35.0, 47.0), 2: (37.75, 47.0)}, [(1, 2, 210_000.0)])
NEAR = road_graph({1: (35.0, 47.0), 2: (36.15, 47.0)}, [(1, 2, 90_000.0)])


def _scenario(windows, r_lon, people, fleet, **ev):
    return {
        "name": "window-case",
        "ceasefire": {"windows": [{"start": a, "end": b} for a, b in windows]},
        "evacuation": {
            "assembly_points": [{"id": "a", "location": [35.0, 47.0], "people": people}],
            "reception_centres": [{"id": "r", "location": [r_lon, 47.0], "capacity": 100_000}],
            "fleet": fleet,
            "stop_min": 10,
            "unload_min": 15,
            "boarding_s_per_person": 6,
            **ev,
        },
    }


def _plan(d, graph, **kw):
    sc = parse_scenario(d)
    net = prepare_network(sc, graph=graph)
    plan = plan_evacuation(sc, network=net, **{**FAST, **kw})
    violations = verify_plan(sc, json.loads(plan.to_json()), graph=graph)
    assert violations == [], "\n".join(map(str, violations))
    return sc, plan


def _trips(vehicle) -> list[int]:
    """People delivered per trip (one entry per stop where people alight)."""
    return [sum(s.alight.values()) for s in vehicle.stops if s.alight]


def test_a_buses_standing_in_the_town_each_make_one_full_trip():
    # one 7-hour window; 50 buses of 50 seats wait at the assembly point of 2,500 people,
    # 3.5 h from the reception centre: every bus boards at once and makes one full trip
    d = _scenario(
        [("2022-03-16T08:00:00+02:00", "2022-03-16T15:00:00+02:00")],
        37.75,
        {"general": 2500},
        [{"type": "bus", "count": 50, "seats": 50, "groups": ["general"], "start": "a"}],
    )
    sc, plan = _plan(d, FAR)
    assert plan.totals.evacuated["total"] == 2500
    assert plan.totals.bound["total"] == 2500
    for v in plan.vehicles:
        assert _trips(v) == [50], v.id
    opens = sc.ceasefire.windows[0].start
    first = min(datetime.fromisoformat(leg.depart) for v in plan.vehicles for leg in v.legs)
    assert first - opens <= timedelta(minutes=6)  # boarding 50 x 6 s, then away


def _most_trips(
    window_s: float, drive_s: float, stop_s: float, unload_s: float, board_s: float
) -> int:
    """Trips of an ambulance starting at the reception centre, by hand."""
    t, trips = 0.0, 0
    while True:
        t += drive_s + stop_s + board_s + drive_s + unload_s + board_s
        if t > window_s:
            return trips
        trips += 1


def test_b_ambulances_make_as_many_trips_as_fit():
    # a 12-hour window, ambulances 1.5 h from the reception centre where they start
    d = _scenario(
        [("2022-03-16T06:00:00+02:00", "2022-03-16T18:00:00+02:00")],
        36.15,
        {"wounded": 200},
        [{"type": "ambulance", "count": 2, "seats": 4, "groups": ["wounded"], "start": "r"}],
        boarding_s_per_person=15,
    )
    sc, plan = _plan(d, NEAR)
    want = _most_trips(12 * 3600, 5400, 600, 900, 60)
    assert want == 3
    for v in plan.vehicles:
        assert _trips(v) == [4] * want, v.id
    opens = sc.ceasefire.windows[0].start
    for v in plan.vehicles:
        pickup = next(s for s in v.stops if s.board)
        # boarding starts when the ambulance arrives and has stopped (1.5 h + 10 min), not later
        started = datetime.fromisoformat(pickup.depart) - timedelta(seconds=60)
        assert started - opens == timedelta(minutes=100), v.id


def test_c_a_bus_arriving_in_the_evening_boards_when_the_next_window_opens(monkeypatch):
    # with the arrival dimension (PLANNER_WINDOW_RULE=arrival); the default, conservative rule
    # holds the boarding back to 07:55 and finds no trip (see the README, window rules)
    monkeypatch.setenv("PLANNER_WINDOW_RULE", "arrival")
    # two windows with a closed night; the bus is free at 18:00 at the reception centre, 1.5 h
    # away: it drives out in the evening (no time left to come back), stands overnight and
    # boards at 06:00
    d = _scenario(
        [
            ("2022-03-16T16:00:00+02:00", "2022-03-16T20:00:00+02:00"),
            ("2022-03-17T06:00:00+02:00", "2022-03-17T09:30:00+02:00"),
        ],
        36.15,
        {"general": 100},
        [
            {
                "type": "bus",
                "count": 1,
                "seats": 50,
                "groups": ["general"],
                "start": "r",
                "available_from": "2022-03-16T18:00:00+02:00",
            }
        ],
    )
    sc, plan = _plan(d, NEAR)
    (v,) = plan.vehicles
    out = v.legs[0]
    assert datetime.fromisoformat(out.arrive) <= sc.ceasefire.windows[0].end  # in the evening
    pickup = next(s for s in v.stops if s.board)
    opens = sc.ceasefire.windows[1].start
    started = datetime.fromisoformat(pickup.depart) - timedelta(
        seconds=6 * sum(pickup.board.values())
    )
    assert started == opens
    # boarding at 06:00 leaves time for exactly one trip of 50 before 09:30 (5 min boarding,
    # 1.5 h, 15 min unloading, 5 min): 07:55 would be too late
    assert plan.totals.evacuated["total"] == 50
