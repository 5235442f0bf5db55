"""Invariants over random small scenarios: whatever the demand and fleet, the plan verifies
clean, nobody is counted twice, and evacuated never exceeds the bound."""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.evacuation import plan_evacuation
from planner.network import prepare_network
from planner.scenario import GROUPS, parse_scenario
from planner.verify import verify_plan

people = st.fixed_dictionaries({g: st.integers(0, 60) for g in GROUPS})


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    p1=people,
    p2=people,
    buses=st.integers(0, 3),
    seats=st.integers(5, 45),
    ambulances=st.integers(0, 2),
    capacity=st.integers(0, 300),
)
def test_random_scenarios_verify_clean(
    scenario_dict, grid, p1, p2, buses, seats, ambulances, capacity
):
    d = copy.deepcopy(scenario_dict)
    ev = d["evacuation"]
    ev["assembly_points"][0]["people"] = p1
    ev["assembly_points"][1]["people"] = p2
    ev["fleet"][0].update(count=buses, seats=seats)
    ev["fleet"][1].update(
        count=ambulances if buses or ambulances else 1
    )  # a fleet of nothing is refused at load
    ev["reception_centres"][0]["capacity"] = capacity
    sc = parse_scenario(d)
    plan = plan_evacuation(sc, network=prepare_network(sc, graph=grid), workers=1, budget=40)
    assert verify_plan(sc, json.loads(plan.to_json()), graph=grid) == []
    t = plan.totals
    assert t.evacuated["total"] <= t.bound["total"] <= t.requested["total"]
    assert t.evacuated["total"] <= capacity
    assert sum(u.people for u in plan.unserved) == t.requested["total"] - t.evacuated["total"]
    # nobody rides from a reception centre back towards an assembly point
    receptions = {r["id"] for r in ev["reception_centres"]}
    for v in plan.vehicles:
        for leg in v.legs:
            if leg.from_ in receptions and leg.to not in receptions:
                assert not leg.load, (v.id, leg)
