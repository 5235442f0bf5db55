"""Expectations: parsing (unknown kinds are clear errors) and every kind holding and failing,
measured on one real plan of the grid scenario and on hand-made plans and exchange dicts."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

import pytest
from conftest import exchange_plan
from pyproj import Geod

from planner.errors import ScenarioError
from planner.evacuation import plan_evacuation
from planner.expect import (
    KINDS,
    Evidence,
    closest_to_front,
    delivered_by_site,
    evaluate,
    known_kinds,
    parse_expectation,
    parse_expectations,
)
from planner.network import load_layers, prepare_network
from planner.plan import Leg, Vehicle
from planner.scenario import GROUPS, parse_scenario

SRC = "s.yaml"


@pytest.fixture(scope="module")
def planned():
    from conftest import GRID_SCENARIO
    from synth import grid_graph

    sc = parse_scenario(copy.deepcopy(GRID_SCENARIO))
    plan = plan_evacuation(
        sc, network=prepare_network(sc, graph=grid_graph()), workers=1, budget=100, time_limit_s=600
    )
    assert 0 < plan.evacuated_total() < plan.totals.requested["total"]
    return sc, plan


def check(item, sc, plan, infeasible=None):
    """Evaluate one expectation item; return the outcome."""
    exp = parse_expectation(item, SRC, "expect.0")
    return exp.evaluate(Evidence(sc, plan, infeasible))


def with_exchange(sc, plan, exchange):
    """Evidence of the plan with a typed exchange schedule made of the events of ``exchange``."""
    typed = exchange_plan(
        exchange["events"],
        status=exchange.get("status", "optimal"),
        conflicts=exchange.get("conflicts", ()),
    )
    return Evidence(sc, plan.model_copy(update={"exchange": typed}))


# --------------------------------------------------------------------------- parsing


def test_every_kind_is_known_and_documented():
    import planner.expect as mod

    for k in KINDS:
        assert k in mod.__doc__
    assert {"wounded_out_by", "all_out_by"} <= set(known_kinds())


def test_unknown_expectation_is_a_clear_error():
    items = [
        {"max_vehicles": 3},
        {"plan_exists": True},
        {"min_evacuated": 5},
        {"name": "x", "foo": 1},
    ]
    with pytest.raises(ScenarioError) as exc:
        parse_expectations(items, SRC)
    e = exc.value
    assert e.file == SRC and e.field == "expect.3"
    assert (
        "unknown expectation 'foo'" in e.problem
        and "known: min_evacuated" in e.problem
        and "wounded_out_by" in e.problem
    )


@pytest.mark.parametrize(
    ("items", "field", "words"),
    [
        ([{"max_vehicles": -1}], "expect.0.max_vehicles", "greater than or equal to 0"),
        ([{"max_vehicles": 2, "plan_exists": True}], "expect.0", "one expectation per item"),
        ([{"name": "only-a-name"}], "expect.0", "give one expectation"),
        ([{"wounded_out_by": "2022-03-17T18:00:00"}], "expect.0.wounded_out_by", "timezone"),
        (
            [{"max_risk_km": {"per_vehicel": 3}}],
            "expect.0.max_risk_km.per_vehicel",
            "not a known field",
        ),
        ([{"min_evacuated": {"elderly": 3}}], "expect.0.min_evacuated.elderly", ""),
        ([{"max_vehicles": 2}, {"max_vehicles": 3}], "expect.1.name", "used twice"),
        ([{"name": "has space", "max_vehicles": 2}], "expect.0.name", ""),
        ({"max_vehicles": 2}, "expect", "must be a list"),
        (["max_vehicles"], "expect.0", "mapping"),
    ],
)
def test_invalid_expectations_name_the_field(items, field, words):
    with pytest.raises(ScenarioError) as exc:
        parse_expectations(items, SRC)
    assert exc.value.field == field
    assert words in exc.value.problem


def test_names_default_to_the_kind_and_shorthands_expand():
    exps = parse_expectations(
        [
            {"max_vehicles": 2},
            {"wounded_out_by": "2022-03-17T18:00:00+02:00"},
            {"name": "kids", "children_out_by": "2022-03-17T18:00:00+02:00"},
        ],
        SRC,
    )
    assert [e.name for e in exps] == ["max_vehicles", "wounded_out_by", "kids"]
    assert [e.kind for e in exps] == ["max_vehicles", "out_by", "out_by"]
    assert exps[2].out_by.groups == ["children"]
    assert parse_expectations(None, SRC) == []


# --------------------------------------------------------------------------- kinds on a real plan


def test_min_evacuated_holds_and_fails(planned):
    sc, plan = planned
    ev = plan.totals.evacuated
    ok = check({"min_evacuated": {"total": ev["total"], "wounded": ev["wounded"]}}, sc, plan)
    assert ok.passed and ok.measured == {"total": ev["total"], "wounded": ev["wounded"]}
    bad = check({"min_evacuated": ev["total"] + 1}, sc, plan)
    assert not bad.passed
    assert (
        bad.message
        == f"at least {ev['total'] + 1:,} total evacuated: failed, total {ev['total']:,} < {ev['total'] + 1:,}"
    )


def test_out_by_holds_and_fails_with_waiting_per_site(planned):
    sc, plan = planned
    end = sc.ceasefire.windows[-1].end
    ok = check({"wounded_out_by": end.isoformat()}, sc, plan)
    assert ok.passed and ok.measured == 0 and "all 6 out" in ok.message
    # before any vehicle reaches the reception centre nobody is out
    first = sc.ceasefire.windows[0].start + timedelta(minutes=30)
    bad = check({"name": "all_out_by", "all_out_by": first.isoformat()}, sc, plan)
    assert not bad.passed and bad.measured == 246
    assert bad.message.startswith("everyone out by 2022-03-16T08:30+02:00: failed, ")
    assert "156 of 156 still waiting at a1, 90 of 90 at a2" in bad.message
    wounded = check({"wounded_out_by": first.isoformat()}, sc, plan)
    assert wounded.message.endswith("failed, 6 of 6 still waiting at a1")
    # at the end, those still waiting are exactly the unserved
    late = check({"all_out_by": end.isoformat()}, sc, plan)
    assert late.measured == sum(u.people for u in plan.unserved)
    groups = check({"out_by": {"by": end.isoformat(), "groups": ["wounded", "children"]}}, sc, plan)
    assert groups.message.startswith("wounded and children out by")


def test_people_are_followed_from_where_they_boarded(planned):
    _sc, plan = planned
    out = delivered_by_site(plan)
    for g in GROUPS:
        assert sum(site.get(g, 0) for site in out.values()) == plan.totals.evacuated[g]
    assert set(out) <= {"a1", "a2"}
    early = delivered_by_site(plan, datetime.fromisoformat("2022-03-16T08:00:00+02:00"))
    assert early == {}


def test_max_risk_km_holds_and_fails(planned):
    sc, plan = planned
    per = max(sum(leg.risk_km for leg in v.legs) for v in plan.vehicles)
    ok = check({"max_risk_km": {"total": plan.risk_km, "per_vehicle": per}}, sc, plan)
    assert ok.passed and ok.measured["total"] == pytest.approx(plan.risk_km)
    assert not check({"max_risk_km": plan.risk_km - 1}, sc, plan).passed
    bad = check({"max_risk_km": {"per_vehicle": per - 1}}, sc, plan)
    assert not bad.passed and "drove" in bad.message and f"{per:,.1f} km under risk" in bad.message


def test_min_front_distance_holds_and_fails(planned):
    sc, plan = planned
    ok = check({"min_front_distance_km": 1}, sc, plan)
    assert ok.passed
    bad = check({"min_front_distance_km": 10}, sc, plan)
    assert not bad.passed and bad.measured == ok.measured
    assert "passes" in bad.message and "km from the front" in bad.message


def test_front_distance_leaves_out_the_crossing_zone(planned):
    sc, plan = planned
    layers = load_layers(sc)
    km = closest_to_front(plan, layers)[0]
    # every crossing leg touches the line at cp1 but is measured only 3 km (radius) away
    assert km == pytest.approx(3.0, abs=0.01)
    stripped = plan.model_copy(
        update={
            "vehicles": [
                v.model_copy(
                    update={"legs": [leg.model_copy(update={"crossings": []}) for leg in v.legs]}
                )
                for v in plan.vehicles
            ]
        }
    )
    assert closest_to_front(stripped, layers)[0] == pytest.approx(0.0, abs=1e-6)


def test_front_distance_is_true_metres(planned):
    sc, plan = planned
    leg = Leg(
        **{"from": "a1"},
        to="a2",
        depart="2022-03-16T08:00:00+02:00",
        arrive="2022-03-16T09:00:00+02:00",
        path=[(35.2, 47.0), (35.2, 47.3)],
        length_m=1.0,
        risk_km=0.0,
        load={},
    )
    v = Vehicle(
        id="bus-1", type="bus", seats=40, groups=["general"], start="r1", stops=[], legs=[leg]
    )
    one = plan.model_copy(update={"vehicles": [v]})
    km, vid, frm, to = closest_to_front(one, load_layers(sc))
    # geodesic distance from the path's northern end (the nearest) to the line at 35.25°E
    _az, _baz, dist_m = Geod(ellps="WGS84").inv(35.2, 47.3, 35.25, 47.3)
    assert (vid, frm, to) == ("bus-1", "a1", "a2")
    assert km == pytest.approx(dist_m / 1000.0, rel=2e-3)
    assert check({"min_front_distance_km": 3.7}, sc, one).passed
    assert not check({"min_front_distance_km": 3.9}, sc, one).passed


def test_no_frontline_holds_trivially(planned):
    sc, plan = planned
    no_front = sc.model_copy(update={"frontline": None})
    out = check({"min_front_distance_km": 50}, no_front, plan)
    assert out.passed and "no frontline" in out.message


def test_max_vehicles_holds_and_fails(planned):
    sc, plan = planned
    assert check({"max_vehicles": plan.vehicles_used}, sc, plan).passed
    bad = check({"max_vehicles": plan.vehicles_used - 1}, sc, plan)
    assert not bad.passed and bad.measured == plan.vehicles_used
    assert f"{plan.vehicles_used} of {plan.vehicles_total} used" in bad.message


def test_plan_exists_holds_and_fails(planned):
    sc, plan = planned
    assert check({"plan_exists": True}, sc, plan).passed
    assert not check({"plan_exists": False}, sc, plan).passed
    out = check({"plan_exists": True}, sc, None, infeasible=["no crossing point agreed"])
    assert not out.passed and "no crossing point agreed" in out.message
    assert check({"plan_exists": False}, sc, None, infeasible=["x"]).passed
    nobody = plan.model_copy(
        update={
            "totals": plan.totals.model_copy(
                update={"evacuated": dict.fromkeys((*GROUPS, "total"), 0)}
            )
        }
    )
    out = check({"plan_exists": True}, sc, nobody)
    assert not out.passed and "evacuates nobody" in out.message


def test_terms_infeasible_holds_and_fails(planned):
    sc, plan = planned
    bad = check({"terms_infeasible": True}, sc, plan)
    assert not bad.passed and "a plan was made" in bad.message
    assert check({"terms_infeasible": False}, sc, plan).passed
    ev = with_exchange(
        sc,
        plan,
        {"status": "infeasible", "events": [], "conflicts": ["parity cannot hold at facility B"]},
    )
    exp = parse_expectation({"terms_infeasible": True}, SRC, "expect.0")
    out = exp.evaluate(ev)
    assert out.passed and "parity cannot hold at facility B" in out.message
    assert not parse_expectation({"plan_exists": True}, SRC, "expect.0").evaluate(ev).passed


def test_no_plan_fails_what_needs_one(planned):
    sc, _plan = planned
    outs = evaluate(
        parse_expectations(
            [
                {"min_evacuated": 1},
                {"max_vehicles": 3},
                {"max_risk_km": 3},
                {"min_front_distance_km": 1},
            ],
            SRC,
        ),
        Evidence(sc, None, ["terms cannot be met"]),
    )
    assert [o.passed for o in outs] == [False] * 4
    assert all("no plan (terms cannot be met)" in o.message for o in outs)


# --------------------------------------------------------------------------- exchange


EXCHANGE = {
    "status": "optimal",
    "events": [
        {
            "start": "2022-03-20T09:00:00+02:00",
            "end": "2022-03-20T12:00:00+02:00",
            "counts": {
                "ua": {"f1": {"soldiers": 10, "civilians": 2}},
                "ru": {"g1": {"soldiers": 8}, "g2": {"civilians": 4}},
            },
        },
        {
            "start": "2022-03-21T09:00:00+02:00",
            "end": "2022-03-21T11:30:00+02:00",
            "counts": {"ua": {"f1": {"soldiers": 5}}, "ru": {"g1": {"soldiers": 5}}},
        },
    ],
    "conflicts": [],
}


def test_exchange_completed_by_holds_and_fails(planned):
    sc, plan = planned
    ev = with_exchange(sc, plan, EXCHANGE)
    ok = parse_expectation(
        {"exchange_completed_by": "2022-03-21T12:00:00+02:00"}, SRC, "e"
    ).evaluate(ev)
    assert ok.passed and ok.measured == "2022-03-21T11:30+02:00"
    bad = parse_expectation(
        {"exchange_completed_by": "2022-03-21T09:00:00+02:00"}, SRC, "e"
    ).evaluate(ev)
    assert not bad.passed and "last event ends 2022-03-21T11:30+02:00" in bad.message
    partial = with_exchange(
        sc, plan, {**EXCHANGE, "status": "infeasible", "conflicts": ["facility g2 closed"]}
    )
    out = parse_expectation(
        {"exchange_completed_by": "2022-03-25T12:00:00+02:00"}, SRC, "e"
    ).evaluate(partial)
    assert not out.passed and "exchange infeasible (facility g2 closed)" in out.message
    none = parse_expectation(
        {"exchange_completed_by": "2022-03-25T12:00:00+02:00"}, SRC, "e"
    ).evaluate(Evidence(sc, plan))
    assert not none.passed and "no exchange schedule" in none.message


def test_parity_every_event_holds_and_fails(planned):
    sc, plan = planned
    ev = with_exchange(sc, plan, EXCHANGE)
    assert (
        parse_expectation({"parity_every_event": True}, SRC, "e").evaluate(ev).passed
    )  # 12 = 12, 5 = 5
    by_cat = parse_expectation({"parity_every_event": {"by_category": True}}, SRC, "e").evaluate(ev)
    assert not by_cat.passed  # civilians 2 vs 4 in event 0
    assert "event 0 (2022-03-20T09:00:00+02:00) civilians: ru 4, ua 2" in by_cat.message
    broken = copy.deepcopy(EXCHANGE)
    broken["events"][1]["counts"]["ru"]["g1"]["soldiers"] = 4
    out = parse_expectation({"parity_every_event": True}, SRC, "e").evaluate(
        with_exchange(sc, plan, broken)
    )
    assert (
        not out.passed
        and out.measured == 1
        and "broken in 1 of 2 events" in out.message
        and "ru 4, ua 5" in out.message
    )
    ratio = copy.deepcopy(EXCHANGE)
    ratio["events"] = [
        {
            "start": "s",
            "end": "2022-03-20T12:00:00+02:00",
            "counts": {"ua": {"f": {"x": 20}}, "ru": {"g": {"x": 10}}},
        }
    ]
    exp = parse_expectation({"parity_every_event": {"ratio": {"ua": 2, "ru": 1}}}, SRC, "e")
    assert exp.evaluate(with_exchange(sc, plan, ratio)).passed
    assert (
        not parse_expectation({"parity_every_event": True}, SRC, "e")
        .evaluate(with_exchange(sc, plan, ratio))
        .passed
    )
