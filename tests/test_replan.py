"""Re-planning after each kind of event; every re-plan verified against scenario + events."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
import yaml

from planner.errors import ScenarioError
from planner.plan import Plan
from planner.replan import apply_events, load_events, replan
from planner.verify import verify_plan

FAST = dict(time_limit_s=600, workers=1, budget=100)


@pytest.fixture(scope="module")
def base():
    from conftest import GRID_SCENARIO
    from synth import grid_graph

    from planner.evacuation import plan_evacuation
    from planner.network import prepare_network
    from planner.scenario import parse_scenario

    sc = parse_scenario(json.loads(json.dumps(GRID_SCENARIO)))
    plan = json.loads(
        plan_evacuation(sc, network=prepare_network(sc, graph=grid_graph()), **FAST).to_json()
    )
    # a loaded leg in progress: the event strikes half-way along it
    vid, leg = next((v["id"], lg) for v in plan["vehicles"] for lg in v["legs"] if lg["load"])
    d, a = datetime.fromisoformat(leg["depart"]), datetime.fromisoformat(leg["arrive"])
    return sc, plan, vid, leg, d + (a - d) / 2


def _events(tmp_path, items):
    p = tmp_path / "events.yaml"
    p.write_text(yaml.safe_dump({"events": items}, sort_keys=False))
    return p


def _replan_and_verify(sc, plan, path, monkeypatch):
    from synth import grid_graph

    import planner.network as network

    monkeypatch.setattr(network, "build_network", lambda _sc: grid_graph())
    evs = load_events(path, sc)
    new = replan(sc, Plan.model_validate(plan), evs, **FAST)
    data = json.loads(new.to_json())
    violations = verify_plan(apply_events(sc, evs), data, graph=grid_graph())
    assert violations == [], "\n".join(map(str, violations))
    return new, data


def _keeps_history(plan, data, t):
    """Every leg finished before the event is still there, unchanged in time and place."""
    before = {
        (v["id"], lg["from"], lg["to"], lg["depart"])
        for v in plan["vehicles"]
        for lg in v["legs"]
        if datetime.fromisoformat(lg["arrive"]) <= t
    }
    after = {
        (v["id"], lg["from"], lg["to"], lg["depart"]) for v in data["vehicles"] for lg in v["legs"]
    }
    assert before <= after


def test_hazard_on_the_road_turns_the_vehicle_back(base, tmp_path, monkeypatch):
    sc, plan, vid, leg, t = base
    lon, lat = leg["path"][-2]
    poly = [
        [lon - 0.02, lat - 0.02],
        [lon + 0.02, lat - 0.02],
        [lon + 0.02, lat + 0.02],
        [lon - 0.02, lat + 0.02],
    ]
    path = _events(
        tmp_path,
        [
            {
                "at": t.isoformat(),
                "hazard": {"id": "new-shelling", "kind": "closed", "polygon": poly},
            }
        ],
    )
    new, data = _replan_and_verify(sc, plan, path, monkeypatch)
    assert any(f"{vid} turned back" in w for w in new.warnings)
    _keeps_history(plan, data, t)
    assert new.totals.evacuated["total"] <= plan["totals"]["requested"]["total"]


def test_window_shortened(base, tmp_path, monkeypatch):
    sc, plan, _vid, _leg, t = base
    end = t + timedelta(hours=1)
    new, data = _replan_and_verify(
        sc,
        plan,
        _events(tmp_path, [{"at": t.isoformat(), "window": {"index": 0, "end": end.isoformat()}}]),
        monkeypatch,
    )
    _keeps_history(plan, data, t)
    assert new.windows[0][1] == end.isoformat()


def test_window_cancelled(base, tmp_path, monkeypatch):
    sc, plan, _vid, _leg, t = base
    new, data = _replan_and_verify(
        sc,
        plan,
        _events(tmp_path, [{"at": t.isoformat(), "window": {"index": 1, "cancel": True}}]),
        monkeypatch,
    )
    assert len(new.windows) == 1
    assert new.totals.evacuated["total"] <= plan["totals"]["evacuated"]["total"]


def test_crossing_closed(base, tmp_path, monkeypatch):
    sc, plan, _vid, _leg, t = base
    new, data = _replan_and_verify(
        sc, plan, _events(tmp_path, [{"at": t.isoformat(), "close_crossing": "cp1"}]), monkeypatch
    )
    for v in data["vehicles"]:
        for lg in v["legs"]:
            if "cp1" in lg["crossings"]:
                assert datetime.fromisoformat(lg["depart"]) < t
    assert (
        new.totals.evacuated["total"] < plan["totals"]["evacuated"]["total"]
        or plan["totals"]["evacuated"]["total"] == 0
    )


def test_vehicle_lost(base, tmp_path, monkeypatch):
    sc, plan, vid, _leg, t = base
    new, data = _replan_and_verify(
        sc, plan, _events(tmp_path, [{"at": t.isoformat(), "vehicle_lost": vid}]), monkeypatch
    )
    lost = next(v for v in data["vehicles"] if v["id"] == vid)
    assert all(datetime.fromisoformat(lg["depart"]) < t for lg in lost["legs"])


def test_bad_events_file(base, tmp_path):
    sc, _plan, _vid, _leg, t = base
    with pytest.raises(
        ScenarioError, match=r"events.0.close_crossing: 'nowhere' is not a crossing point"
    ):
        load_events(_events(tmp_path, [{"at": t.isoformat(), "close_crossing": "nowhere"}]), sc)
    with pytest.raises(ScenarioError, match=r"events.0"):
        load_events(_events(tmp_path, [{"at": t.isoformat()}]), sc)


def _note(new, prefix):
    return next(w for w in new.warnings if w.startswith(prefix))


def test_an_event_that_touches_nothing_changes_no_vehicle_pickups(base, tmp_path, monkeypatch):
    sc, plan, _vid, _leg, t = base
    # a closed area far from every road of the grid
    poly = [[36.5, 48.5], [36.6, 48.5], [36.6, 48.6], [36.5, 48.6]]
    path = _events(
        tmp_path,
        [{"at": t.isoformat(), "hazard": {"id": "far-away", "kind": "closed", "polygon": poly}}],
    )
    new, data = _replan_and_verify(sc, plan, path, monkeypatch)
    note = _note(new, "re-plan: ")
    kept, total = (int(x) for x in re.match(r"re-plan: (\d+) of the (\d+) people", note).groups())
    assert total > 0 and kept == total, note

    # and every vehicle boards at the same sites, in the same groups and numbers as before
    def boards(p):
        return {
            (v["id"], s["site"], g, n)
            for v in p["vehicles"]
            for s in v["stops"]
            for g, n in s["board"].items()
            if n
        }

    assert boards(data) == boards(plan)
    assert new.totals.evacuated["total"] == plan["totals"]["evacuated"]["total"]


@pytest.mark.parametrize(("share", "turns_back"), [(0.1, True), (0.95, False)])
def test_a_crossing_closing_behind_a_vehicle_does_not_turn_it_back(
    base, tmp_path, monkeypatch, share, turns_back
):
    sc, plan, _vid, _leg, _t = base
    vid, leg = next(
        (v["id"], lg)
        for v in plan["vehicles"]
        for lg in v["legs"]
        if lg["load"] and "cp1" in lg["crossings"]
    )
    d, a = datetime.fromisoformat(leg["depart"]), datetime.fromisoformat(leg["arrive"])
    at = d + (a - d) * share
    new, data = _replan_and_verify(
        sc, plan, _events(tmp_path, [{"at": at.isoformat(), "close_crossing": "cp1"}]), monkeypatch
    )
    assert any(f"{vid} turned back" in w for w in new.warnings) == turns_back
    kept = next(v for v in data["vehicles"] if v["id"] == vid)
    assert (
        any(lg["depart"] == leg["depart"] and lg["to"] == leg["to"] for lg in kept["legs"])
        != turns_back
    )


def test_replan_on_the_prepared_network_gives_the_same_plan(base, tmp_path, monkeypatch):
    from synth import grid_graph

    import planner.network as network

    sc, plan, vid, _leg, t = base
    loads = []
    monkeypatch.setattr(network, "build_network", lambda _sc: loads.append(1) or grid_graph())
    hazard = {
        "id": "new",
        "kind": "closed",
        "polygon": [[35.09, 47.09], [35.11, 47.09], [35.11, 47.11], [35.09, 47.11], [35.09, 47.09]],
    }
    evs = load_events(
        _events(
            tmp_path,
            [{"at": t.isoformat(), "hazard": hazard}, {"at": t.isoformat(), "vehicle_lost": vid}],
        ),
        sc,
    )
    scratch = replan(sc, Plan.model_validate(plan), evs, **FAST).to_json()
    assert len(loads) == 1
    prepared = network.prepare_network(sc)
    again = replan(sc, Plan.model_validate(plan), evs, network=prepared, **FAST).to_json()
    assert len(loads) == 2  # only for ``prepared``: the re-plan loaded no roads
    assert again == scratch
