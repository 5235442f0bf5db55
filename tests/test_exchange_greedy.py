"""Exchanges at scale: the constructive first solution of the aggregate model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from planner.exchange import parse_exchange, schedule_exchanges, site_travel
from planner.exchange_check import check_exchange
from planner.exchange_flows import FlowModel, fewer_events, switch_terms
from planner.exchange_greedy import greedy_flows
from planner.exchange_model import build_data, satisfies
from planner.network import prepare_network
from planner.scenario import parse_scenario

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_exchange", ROOT / "bench" / "exchange.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def case():
    """The benchmark's generated case, small: 1,500 a side in 16 facilities, 12 days."""
    sc = parse_scenario(_bench().make_case(1500, 3, 12, 8), ROOT / "bench" / "exchange.yaml")
    spec = parse_exchange(sc)
    net = prepare_network(sc)
    travel, _nodes, _lls = site_travel(sc, spec, net)
    return sc, spec, net, build_data(sc, spec, travel)


def test_greedy_hint_is_complete_and_feasible(case):
    """CP-SAT with every variable fixed to the hint finds it feasible: every term holds."""
    _sc, _spec, _net, d = case
    flow = FlowModel(d)
    active = [t.id for t in d.terms]
    switch_terms(flow, active)
    hint, schedule = greedy_flows(flow, active)
    decision = [*flow.y.values(), *flow.n.values(), *flow.used.values(), *flow.trips.values()]
    assert all(v in hint for v in decision)
    assert schedule is not None
    values = {v.index: x for v, x in hint.items()}
    assert satisfies(flow, values)
    some = next(v for k, v in flow.y.items() if hint[v] > 0)
    assert not satisfies(flow, {**values, some.index: hint[some] - 1})  # one person fewer
    for v, x in hint.items():
        flow.m.add_hint(v, x)
    solver = flow.solver(0, 60.0, 5.0)
    solver.parameters.fix_variables_to_their_hinted_value = True
    status = solver.solve(flow.m)
    assert status in (flow.cp.OPTIMAL, flow.cp.FEASIBLE)
    ceiling = sum(d.weights[c] * d.held(f.id, c) for f in d.facs for c in d.cats)
    assert sum(d.weights[c] * hint[v] for (_k, _f, c), v in flow.y.items()) == ceiling


@pytest.mark.slow
def test_flows_exchange_everyone_with_value_proven_and_verify_clean(case):
    """At a budget far too small for CP-SAT to find a first solution alone, the plan
    exchanges everyone, the value stage is proven optimal, and the checker finds it clean."""
    sc, spec, net, _d = case
    plan = schedule_exchanges(sc, spec, network=net, method="flows", det_time=0.5, seed=0)
    d = plan.model_dump(mode="json")
    held = d["totals"]["held"]
    assert d["totals"]["released"]["ua"]["total"] == held["ua"]["total"] == 1500
    assert d["totals"]["released"]["ru"]["total"] == 1500
    value = d["solver"]["stages"][0]
    assert value["stage"] == "value" and value["status"] == "optimal"
    assert value["objective"] == value["bound"]
    assert check_exchange(sc, spec, d, network=net) == []
    again = schedule_exchanges(sc, spec, network=net, method="flows", det_time=0.5, seed=0)
    assert again.to_json() == plan.to_json()


def test_lp_bound_reads_the_relaxation_and_drops_switched_off_constraints():
    """The LP bound of a CP-SAT model: domains as bounds, constraints of terms off dropped."""
    from planner.exchange_model import CpBase, ModelData, lp_bound

    base = CpBase.__new__(CpBase)
    CpBase.__init__(base, ModelData([], [], [], [], {}, {}, {}, [], 0.0, None))
    m = base.m
    x, y = m.new_int_var(0, 5, "x"), m.new_int_var(0, 5, "y")
    on, off = m.new_bool_var("on"), m.new_bool_var("off")
    m.add(2 * x + 2 * y <= 3).only_enforce_if(on)
    m.add(x + y <= 0).only_enforce_if(off)
    m.maximize(x + y)
    assert lp_bound(base, {on.index: 1, off.index: 0}) == pytest.approx(1.5)
    assert lp_bound(base, {on.index: 0, off.index: 0}) == pytest.approx(10.0)
    m.minimize(x - y)
    assert lp_bound(base, {on.index: 1, off.index: 0}) == pytest.approx(-1.5)


def test_fewer_events_keeps_people_and_earliest_sum():
    """Re-solving the constructive schedule three days at a time takes fewer events, with the
    same people per (facility, category) and an earliest-exchange sum no greater (1,500 a
    side over 12 days: the schedule's days often carry a second start time)."""
    sc = parse_scenario(_bench().make_case(1500, 0, 12, 8), ROOT / "bench" / "exchange.yaml")
    spec = parse_exchange(sc)
    net = prepare_network(sc)
    d = build_data(sc, spec, site_travel(sc, spec, net)[0])
    flow = FlowModel(d)
    active = [t.id for t in d.terms]
    switch_terms(flow, active)
    _hint, schedule = greedy_flows(flow, active)
    blocks = sorted({s.block for s in d.slots})
    better, _repairs, _word = fewer_events(d, active, schedule, blocks, (0, 60.0, 5.0))

    def figures(counts):
        people, earliest = {}, 0
        for (si, fid, c), n in counts.items():
            people[(fid, c)] = people.get((fid, c), 0) + n
            earliest += d.slots[si].rank * n
        events = len({si for (si, _f, _c), n in counts.items() if n})
        return {k: v for k, v in people.items() if v}, earliest, events

    people0, earliest0, events0 = figures(schedule["counts"])
    people1, earliest1, events1 = figures(better["counts"])
    assert people1 == people0
    assert earliest1 <= earliest0
    assert events1 < events0
