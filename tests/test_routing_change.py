"""Re-planning's change cost in the routing core: keep a node's previous vehicle unless
moving it saves more than the change costs."""

from __future__ import annotations

import numpy as np
import pytest

from planner.routing import RoutingProblem, SolveParams, solve_routing


def _problem(detour: int, change_cost: int) -> RoutingProblem:
    # nodes: 0, 1 = starts of vehicles 0 and 1; 2, 3 = customers; 4 = common free end
    t = np.zeros((5, 5), dtype=np.int64)
    t[0, 2], t[0, 3] = 1000, 1000 + detour
    t[1, 2], t[1, 3] = 1000 + detour, 1000
    t[2, 3] = t[3, 2] = 50_000  # one customer per vehicle
    return RoutingProblem(
        time=t,
        cost=t,
        service=np.zeros(5, dtype=np.int64),
        demand=np.array([0, 0, 1, 1, 0]),
        windows=[(0, 100_000)] * 5,
        penalty=np.array([0, 0, 10**7, 10**7, 0]),
        vehicle_capacity=[1, 1],
        vehicle_start=[0, 1],
        vehicle_end=[4, 4],
        horizon=100_000,
        preferred_vehicle={2: 1, 3: 0},
        change_cost=change_cost,
    )


@pytest.mark.parametrize(
    ("detour", "change_cost", "expected"),
    [
        (100, 0, [[2], [3]]),  # nothing to keep: the shorter assignment
        (
            100,
            3600,
            [[3], [2]],
        ),  # keeping the previous vehicles costs 200 s of driving, less than two changes
        (5000, 3600, [[2], [3]]),  # keeping them would cost 10,000 s: worth two changes
    ],
)
def test_change_cost_keeps_previous_vehicles_unless_moving_saves_more(
    detour, change_cost, expected
):
    res = solve_routing(
        _problem(detour, change_cost),
        SolveParams(time_limit_s=600, seed=0, workers=1, solution_limit=50),
    )
    assert res.routes == expected
