"""Exchanges at scale: the aggregate model's bounds hold for every exact schedule."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from planner.exchange import parse_exchange, site_travel
from planner.exchange_flows import (
    FlowModel,
    optimise,
    pick_schedule,
    schedule_figures,
    switch_terms,
)
from planner.exchange_greedy import greedy_events, greedy_flows
from planner.exchange_model import ExactModel, build_data, satisfies
from planner.network import prepare_network
from planner.scenario import parse_scenario

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_exchange", ROOT / "bench" / "exchange.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _case(seed: int, per_side: int = 240, per_event: int = 100, per_day: int = 160):
    """The benchmark's case, small: 6 facilities, 5 days, events of ``per_event`` and days of
    ``per_day`` people (so that a day needs two events)."""
    raw = _bench().make_case(per_side, seed, 5, 3)
    for p in raw["exchange"]["exchange_points"]:
        p["max_per_event"] = per_event
    raw["exchange"]["terms"]["max_per_event"] = per_event
    raw["exchange"]["terms"]["max_per_day"] = per_day
    sc = parse_scenario(raw, ROOT / "bench" / "exchange.yaml")
    spec = parse_exchange(sc)
    net = prepare_network(sc)
    return build_data(sc, spec, site_travel(sc, spec, net)[0])


def _exact_least(d, active, keep: dict[str, int], goal: str) -> int:
    """The exact model solved whole: least ``goal`` with the value at least ``keep["value"]``
    and the earliest sum at most ``keep["earliest"]`` (when given)."""
    model = ExactModel(d)
    switch_terms(model, active)
    model.m.add(model.obj_value >= keep["value"])
    if "earliest" in keep:
        model.m.add(model.obj_time <= keep["earliest"])
    model.m.minimize(model.obj_events if goal == "events" else model.obj_time)
    solver = model.solver(0, 120.0, 60.0)
    status = solver.solve(model.m)
    assert status == model.cp.OPTIMAL, solver.status_name(status)
    return int(round(solver.objective_value))


@pytest.mark.parametrize("seed", [0, 2, 8])
def test_flow_bounds_hold_for_every_exact_schedule(seed):
    """Each stage's reported bound is at most the exact model's optimum of that stage among
    the schedules that keep the earlier stages' reported values, and a stage reported
    optimal meets it."""
    d = _case(seed)
    active = [t.id for t in d.terms]
    status, plan, info = optimise(d, active, seed, 60.0, 5.0, method="flows")
    assert plan is not None and status in ("optimal", "feasible")
    stages = {st["stage"]: st for st in info["stages"]}
    value, earliest, events = stages["value"], stages["earliest"], stages["events"]
    assert value["objective"] == value["bound"]  # everyone exchanged: the ceiling
    least_earliest = _exact_least(d, active, {"value": value["objective"]}, "earliest")
    assert earliest["bound"] <= least_earliest <= earliest["objective"]
    keep = {"value": value["objective"], "earliest": earliest["objective"]}
    least_events = _exact_least(d, active, keep, "events")
    assert events["bound"] <= least_events <= events["objective"]
    if events["status"] == "optimal":
        assert events["objective"] == least_events


def test_greedy_events_holds_every_term_with_fewer_events():
    """The schedule that keeps as many slots a day as its limit needs holds every term of the
    aggregate model, exchanges as many people as the first schedule and takes fewer events."""
    d = _case(0)
    flow = FlowModel(d)
    active = [t.id for t in d.terms]
    switch_terms(flow, active)
    first = greedy_flows(flow, active)
    other = greedy_events(flow, active)
    assert other is not None and other[1] is not None
    assert satisfies(flow, {v.index: x for v, x in other[0].items()})
    value0, _earliest0, events0 = schedule_figures(d, first[1]["counts"])
    value1, _earliest1, events1 = schedule_figures(d, other[1]["counts"])
    assert value1 == value0
    assert events1 < events0
    days = {d.slots[si].day for (si, _f, _c), n in other[1]["counts"].items() if n}
    assert events1 <= 2 * len(days)  # 160 a day in events of at most 100
    assert pick_schedule(flow, active, first) in (first, other)
