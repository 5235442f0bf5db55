"""Agreed corridors (``ceasefire.corridors``): scenario checks, the known-answer case of two
roads where the agreed one is longer, and the verifier's corridor rules on hand-broken plans."""

from __future__ import annotations

import copy
import json
from datetime import datetime

import pytest
from synth import road_graph

from planner.errors import ScenarioError
from planner.evacuation import plan_evacuation
from planner.network import prepare_network
from planner.scenario import parse_scenario
from planner.verify import verify_plan

FAST = dict(time_limit_s=600, workers=1, budget=100)

# Town a (west), reception r (east).  The short road runs straight through m (60 km);
# the agreed road dips south through s (2 x 45 km = 90 km) and has a checkpoint at s.
POINTS = {1: (35.0, 47.0), 2: (35.35, 47.0), 3: (35.7, 47.0), 4: (35.35, 46.8)}
ROADS = [(1, 2, 30_000.0), (2, 3, 30_000.0), (1, 4, 45_000.0), (4, 3, 45_000.0)]
STOP_MIN = 20


def two_roads() -> dict:
    return {
        "name": "two-roads",
        "ceasefire": {
            "windows": [{"start": "2022-03-16T08:00:00+02:00", "end": "2022-03-16T18:00:00+02:00"}],
            "corridors": [
                {
                    "id": "south",
                    "name": "southern road",
                    "via": ["a", [35.35, 46.8], "r"],
                    "width_m": 300,
                    "checkpoints": [
                        {"id": "cp-s", "location": [35.351, 46.801], "stop_min": STOP_MIN}
                    ],
                }
            ],
        },
        "evacuation": {
            "assembly_points": [{"id": "a", "location": [35.0, 47.0], "people": {"general": 60}}],
            "reception_centres": [{"id": "r", "location": [35.7, 47.0], "capacity": 1000}],
            "fleet": [
                {"type": "bus", "count": 1, "seats": 30, "groups": ["general"], "start": "r"}
            ],
            "stop_min": 5,
            "unload_min": 5,
        },
    }


def _plan(d: dict) -> tuple:
    graph = road_graph(POINTS, ROADS)
    sc = parse_scenario(d)
    plan = plan_evacuation(sc, network=prepare_network(sc, graph=graph), **FAST)
    return sc, graph, json.loads(plan.to_json())


@pytest.fixture(scope="module")
def corridor_plan():
    return _plan(two_roads())


def _passes(leg: dict, lonlat: tuple[float, float]) -> bool:
    return any(abs(p[0] - lonlat[0]) < 1e-6 and abs(p[1] - lonlat[1]) < 1e-6 for p in leg["path"])


def _seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def test_only_the_agreed_longer_road_is_used_and_its_checkpoint_is_stopped_at(corridor_plan):
    sc, graph, plan = corridor_plan
    assert verify_plan(sc, plan, graph=graph) == []
    legs = [leg for v in plan["vehicles"] for leg in v["legs"]]
    assert plan["totals"]["evacuated"]["total"] == 60
    assert len(legs) == 4  # two round trips of 30
    for leg in legs:
        assert _passes(leg, POINTS[4]) and not _passes(leg, POINTS[2])
        assert leg["length_m"] == 90_000.0
        (stop,) = leg["checkpoints"]
        assert stop["id"] == "cp-s"
        assert _seconds(stop["arrive"], stop["depart"]) == STOP_MIN * 60
        assert _seconds(leg["depart"], stop["arrive"]) == 45_000 / (60 / 3.6)  # halfway
        assert _seconds(leg["depart"], leg["arrive"]) == 90_000 / (60 / 3.6) + STOP_MIN * 60
    from planner.export import driver_sheet_rows
    from planner.plan import Plan

    typed = Plan.model_validate(plan)
    rows = driver_sheet_rows(typed, typed.vehicles[0])
    stops = [r for r in rows if r["action"] in ("checkpoint", "leave_checkpoint")]
    assert len(stops) == 2 * len(typed.vehicles[0].legs) and stops[0]["site"] == "cp-s"
    (part,) = plan["corridors"]
    assert part["length_m"] == 90_000.0 and part["checkpoints"][0]["position_m"] == 45_000.0
    assert part["checkpoints"][0]["snap_m"] > 0  # the checkpoint is not a node: attached


def test_without_corridors_the_short_road_is_taken():
    d = two_roads()
    del d["ceasefire"]["corridors"]
    sc, graph, plan = _plan(d)
    legs = [leg for v in plan["vehicles"] for leg in v["legs"]]
    assert legs and all(_passes(leg, POINTS[2]) and not _passes(leg, POINTS[4]) for leg in legs)
    assert "corridors" not in plan and all("checkpoints" not in leg for leg in legs)


def test_an_outbound_corridor_cannot_be_driven_back_to_the_town():
    d = two_roads()
    d["ceasefire"]["corridors"][0]["direction"] = "outbound"  # a -> r only; buses start at r
    _sc, _graph, plan = _plan(d)
    assert plan["totals"]["evacuated"]["total"] == 0


def test_roads_near_a_site_may_be_used_off_the_corridor():
    d = two_roads()
    d["ceasefire"]["approach_km"] = 40  # m (27 km from a and r) is now inside both towns' zones
    _sc, _graph, plan = _plan(d)
    legs = [leg for v in plan["vehicles"] for leg in v["legs"]]
    assert legs and all(_passes(leg, POINTS[2]) for leg in legs)


def test_drives_keep_to_the_corridor_windows():
    d = two_roads()
    d["ceasefire"]["corridors"][0]["windows"] = [
        {"start": "2022-03-16T12:00:00+02:00", "end": "2022-03-16T20:00:00+02:00"}
    ]
    sc, graph, plan = _plan(d)
    legs = [leg for v in plan["vehicles"] for leg in v["legs"]]
    assert verify_plan(sc, plan, graph=graph) == []
    assert legs and min(leg["depart"] for leg in legs) >= "2022-03-16T12:00:00+02:00"
    assert plan["windows"] == [["2022-03-16T08:00:00+02:00", "2022-03-16T18:00:00+02:00"]]


def test_a_corridor_given_as_a_line_file(tmp_path):
    line = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[35.0, 47.0], [35.35, 46.81], [35.7, 47.0]],
                },
            }
        ],
    }
    (tmp_path / "south.geojson").write_text(json.dumps(line), encoding="utf-8")
    d = two_roads()
    corridor = d["ceasefire"]["corridors"][0]
    del corridor["via"]
    corridor["file"] = "south.geojson"
    sc = parse_scenario(d, tmp_path / "s.yaml")
    graph = road_graph(POINTS, ROADS)
    plan = json.loads(
        plan_evacuation(sc, network=prepare_network(sc, graph=graph), **FAST).to_json()
    )
    legs = [leg for v in plan["vehicles"] for leg in v["legs"]]
    assert legs and all(_passes(leg, POINTS[4]) and not _passes(leg, POINTS[2]) for leg in legs)
    assert verify_plan(sc, plan, graph=graph) == []


def test_the_map_draws_the_agreed_corridor_and_its_checkpoint():
    from planner.plan import Plan
    from planner.render import layer_names, map_html, render_map

    d = two_roads()
    graph = road_graph(POINTS, ROADS)
    sc = parse_scenario(d)
    net = prepare_network(sc, graph=graph)
    plan = plan_evacuation(sc, network=net, **FAST)
    html = map_html(render_map(sc, plan, net.layers))
    assert "Agreed corridors" in layer_names(plan) and json.dumps("Agreed corridors") in html
    assert (
        "agreed corridor southern road: 90 km" in html
        and "checkpoint cp-s on southern road: stop 20 min" in html
    )
    plain = Plan.model_validate({**json.loads(plan.to_json()), "corridors": None})
    assert "Agreed corridors" not in layer_names(plain)


# --------------------------------------------------------------------------- verifier rules


def _codes(sc, plan, graph) -> set[str]:
    return {v.code for v in verify_plan(sc, plan, graph=graph)}


def _direct_plan() -> dict:
    d = two_roads()
    del d["ceasefire"]["corridors"]
    return _plan(d)[2]


def test_verify_catches_a_leg_off_the_corridor(corridor_plan):
    sc, graph, plan = corridor_plan
    broken = _direct_plan()
    broken["corridors"] = plan["corridors"]
    for v in broken["vehicles"]:
        for leg in v["legs"]:
            leg["checkpoints"] = []
    assert "corridor_route" in _codes(sc, broken, graph)


def test_verify_catches_a_missing_or_short_checkpoint_stop(corridor_plan):
    sc, graph, plan = corridor_plan
    missing = copy.deepcopy(plan)
    missing["vehicles"][0]["legs"][0]["checkpoints"] = []
    assert _codes(sc, missing, graph) == {"corridor_checkpoint"}
    short = copy.deepcopy(plan)
    stop = short["vehicles"][0]["legs"][0]["checkpoints"][0]
    stop["depart"] = stop["arrive"]
    assert _codes(sc, short, graph) == {"corridor_checkpoint"}
    invented = copy.deepcopy(plan)
    leg = invented["vehicles"][0]["legs"][0]
    leg["checkpoints"] = [
        *leg["checkpoints"],
        {"id": "cp-x", "arrive": leg["depart"], "depart": leg["depart"]},
    ]
    assert _codes(sc, invented, graph) == {"corridor_checkpoint"}


def test_verify_catches_a_corridor_path_that_skips_a_via_point(corridor_plan):
    sc, graph, plan = corridor_plan
    broken = copy.deepcopy(plan)
    broken["corridors"][0]["path"] = [list(POINTS[1]), list(POINTS[2]), list(POINTS[3])]
    assert "corridor_via" in _codes(sc, broken, graph)
    backwards = copy.deepcopy(plan)
    backwards["corridors"][0]["path"] = backwards["corridors"][0]["path"][::-1]
    assert "corridor_via" in _codes(sc, backwards, graph)
    gone = copy.deepcopy(plan)
    del gone["corridors"]
    assert "corridor_missing" in _codes(sc, gone, graph)


def test_verify_catches_driving_against_the_corridor_direction(corridor_plan):
    _sc, graph, plan = corridor_plan
    d = two_roads()
    d["ceasefire"]["corridors"][0]["direction"] = "inbound"  # r -> a only: loaded legs break it
    assert "corridor_direction" in _codes(parse_scenario(d), plan, graph)


def test_verify_catches_a_leg_outside_the_corridor_windows(corridor_plan):
    _sc, graph, plan = corridor_plan
    d = two_roads()
    d["ceasefire"]["corridors"][0]["windows"] = [
        {"start": "2022-03-16T17:00:00+02:00", "end": "2022-03-16T18:00:00+02:00"}
    ]
    assert "corridor_route" in _codes(parse_scenario(d), plan, graph)


# --------------------------------------------------------------------------- scenario checks


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda c: c["corridors"][0].update(via=["a", "Nowhere-on-earth"]),
            "ceasefire.corridors.0.via.1",
        ),
        (lambda c: c["corridors"][0].update(via=["a"]), "ceasefire.corridors.0"),
        (lambda c: c["corridors"][0].update(file="line.geojson"), "ceasefire.corridors.0"),
        (
            lambda c: c["corridors"].append(copy.deepcopy(c["corridors"][0])),
            "ceasefire.corridors.1.id",
        ),
        (lambda c: c["corridors"][0].update(width_m=0), "ceasefire.corridors.0.width_m"),
        (
            lambda c: c["corridors"][0].update(
                windows=[{"start": "2022-03-17T08:00:00+02:00", "end": "2022-03-17T09:00:00+02:00"}]
            ),
            "ceasefire.corridors",
        ),
        (lambda c: c["corridors"][0].update(direction="north"), "ceasefire.corridors.0.direction"),
        (
            lambda c: c.update(
                convoys=[{"corridor": "x", "from": "r", "depart": ["2022-03-16T08:00:00+02:00"]}]
            ),
            "ceasefire.convoys.0.corridor",
        ),
        (
            lambda c: c.update(
                convoys=[
                    {"corridor": "south", "from": "x", "depart": ["2022-03-16T08:00:00+02:00"]}
                ]
            ),
            "ceasefire.convoys.0.from",
        ),
        (
            lambda c: c.update(
                convoys=[{"corridor": "south", "from": "r", "depart": ["2022-03-16T08:00:00"]}]
            ),
            "ceasefire.convoys.0.depart.0",
        ),
    ],
)
def test_bad_corridors_are_one_line_errors(change, field):
    d = two_roads()
    change(d["ceasefire"])
    with pytest.raises(ScenarioError) as err:
        parse_scenario(d, "c.yaml")
    assert str(err.value).startswith(f"c.yaml: {field}:") and "\n" not in str(err.value)


def test_a_convoy_on_a_corridor_is_accepted():
    d = two_roads()
    d["ceasefire"]["convoys"] = [
        {
            "corridor": "south",
            "from": "r",
            "depart": ["2022-03-16T09:00:00+02:00"],
            "max_vehicles": 10,
            "lead": "ICRC",
        }
    ]
    cv = parse_scenario(d).ceasefire.convoys[0]
    assert (cv.from_, cv.max_vehicles, cv.lead, cv.gap_min) == ("r", 10, "ICRC", 0.0)
