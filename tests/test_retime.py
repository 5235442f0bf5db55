"""Re-timing routes under crossing rates (CP-SAT) and the search's coarse time units."""

from __future__ import annotations

import numpy as np
import pytest

from planner.retime import RetimeInput, retime
from planner.routing import RoutingProblem, SolveParams, coarsen_time, solve_routing

H = 3600

# nodes: 0 = depot (start), 1..k pickups, k+1..2k deliveries; sites: depot 0, pickups 1, deliveries 2
SITE_DRIVE = np.array([[0, H, H], [H, 0, H], [H, H, 0]])


def _input(
    n_veh: int,
    windows: list[tuple[int, int]],
    *,
    limit: int = 1,
    values: list[int] | None = None,
    max_wait: int | None = None,
) -> RetimeInput:
    """``n_veh`` vehicles, each with one trip depot → pickup → delivery; the pickup → delivery
    leg passes crossing ``c`` (one vehicle an hour by default)."""
    n = 1 + 2 * n_veh
    site = [0] + [1] * n_veh + [2] * n_veh
    drive = np.array(
        [[SITE_DRIVE[site[a], site[b]] for b in range(n)] for a in range(n)], dtype=np.int64
    )
    dwell = np.array([0] + [300] * n_veh + [600] * n_veh, dtype=np.int64)
    service = np.array([0] + [120] * n_veh + [120] * n_veh, dtype=np.int64)
    routes = [[1 + v, 1 + n_veh + v] for v in range(n_veh)]
    values = values or [10] * n_veh
    return RetimeInput(
        routes=routes,
        starts=[0] * n_veh,
        times=[[H + 300, 2 * H + 1020] for _ in range(n_veh)],  # all at once: breaks the rate
        kept=[2] * n_veh,
        start_node=[0] * n_veh,
        earliest=[0] * n_veh,
        site=site,
        drive=drive,
        dwell=dwell,
        service=service,
        windows=windows,
        max_wait={1 + v: max_wait for v in range(n_veh)} if max_wait is not None else {},
        value=[[values[v], 0] for v in range(n_veh)],
        load=[[10, -10] for _ in range(n_veh)],
        crossing_legs={"c": [(v, 1) for v in range(n_veh)]},
        span_s={"c": H},
        limit={"c": limit},
    )


def _check(inp: RetimeInput, out) -> list[int]:  # noqa: ANN001
    """Assert the re-timed schedule keeps every rule; return the crossing departures."""
    crossing = []
    for v, (route, times, deps) in enumerate(zip(out.routes, out.times, out.departs, strict=True)):
        prev, prev_t = inp.start_node[v], None
        for pos, (node, t) in enumerate(zip(route, times, strict=True)):
            d = deps[pos]
            assert d is not None
            if pos == 0:
                assert d == out.starts[v] >= inp.earliest[v]
            else:
                assert d >= prev_t + inp.service[prev]
            arrive = d + inp.drive[prev, node]
            assert any(a <= d and arrive <= b for a, b in inp.windows), "a drive leaves its window"
            assert any(a <= t and t + inp.service[node] <= b for a, b in inp.windows), (
                "a service leaves its window"
            )
            assert t >= arrive + inp.dwell[node]
            if pos > 0 and prev in inp.max_wait:
                assert (
                    t - (prev_t + inp.service[prev] + inp.drive[prev, node] + inp.dwell[node])
                    <= inp.max_wait[prev]
                )
            if (v, pos) in inp.crossing_legs["c"]:
                crossing.append(d)
            prev, prev_t = node, t
    return sorted(crossing)


def test_retime_spaces_legs_at_the_crossing_rate_and_keeps_every_trip():
    inp = _input(4, [(0, 12 * H)])
    out = retime(inp, seed=0)
    assert [len(r) for r in out.routes] == [2, 2, 2, 2]
    deps = _check(inp, out)
    assert len(deps) == 4
    assert all(b - a >= H for a, b in zip(deps, deps[1:], strict=False))


def test_retime_keeps_the_most_valuable_trips_when_the_crossing_is_full():
    # legs through the crossing may leave between 1 h 07 and 3 h: two departures an hour apart fit
    inp = _input(3, [(0, 4 * H)], values=[5, 50, 20])
    out = retime(inp, seed=0)
    deps = _check(inp, out)
    assert len(deps) == 2
    assert [len(r) for r in out.routes] == [0, 2, 2]
    assert out.status == "optimal"


def test_retime_allows_two_an_hour_when_the_limit_says_so():
    inp = _input(4, [(0, 4 * H)], limit=2)
    out = retime(inp, seed=0)
    deps = _check(inp, out)
    assert len(deps) == 4
    for i, d in enumerate(deps):
        assert sum(1 for e in deps if d <= e < d + H) <= 2, i


def test_retime_lets_a_vehicle_leave_early_and_wait_across_a_closed_night():
    # two windows; the second trip can only fit if its vehicle drives to the pickup in the
    # first window and boards at the second window's start
    windows = [(0, 3 * H), (12 * H, 15 * H)]
    inp = _input(2, windows)
    out = retime(inp, seed=0)
    deps = _check(inp, out)
    assert len(deps) == 2
    assert any(t >= 12 * H for ts in out.times for t in ts)


def test_retime_respects_the_longest_wait_on_board():
    # with no waiting allowed after boarding, the second vehicle must board later, not wait
    inp = _input(2, [(0, 12 * H)], max_wait=0)
    out = retime(inp, seed=0)
    deps = _check(inp, out)
    assert len(deps) == 2


def test_retime_is_deterministic():
    inp = _input(5, [(0, 6 * H), (10 * H, 16 * H)], values=[3, 1, 4, 1, 5])
    a, b = retime(inp, seed=3), retime(inp, seed=3)
    assert (a.routes, a.times, a.departs, a.starts) == (b.routes, b.times, b.departs, b.starts)


@pytest.mark.parametrize("unit", [1, 60, 300])
def test_coarse_time_solutions_are_feasible_in_seconds(unit):
    rng = np.random.default_rng(4)
    n = 9  # depot + 8 customers
    xy = rng.uniform(0, 3000, size=(n, 2))
    t = (
        np.ceil(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))).astype(np.int64)
        + 37
    )
    service = np.array([0] + [95] * (n - 1), dtype=np.int64)
    windows = [(0, 20000)] + [(int(lo), int(lo) + 5000) for lo in rng.integers(0, 9000, size=n - 1)]
    forbidden = {3: [(6001, 7499)], 5: [(100, 2999)]}
    prob = RoutingProblem(
        time=t,
        cost=t,
        service=service,
        demand=np.array([0] + [1] * (n - 1)),
        windows=windows,
        penalty=np.full(n, 10**6),
        vehicle_capacity=[4, 4],
        vehicle_start=[0, 0],
        vehicle_end=[0, 0],
        horizon=20000,
        forbidden=forbidden,
        max_wait={2: 900},
    )
    coarse = coarsen_time(prob, unit)
    res = solve_routing(
        coarse, SolveParams(time_limit_s=600, seed=0, workers=1, solution_limit=200)
    )
    for v, (route, times) in enumerate(zip(res.routes, res.times, strict=True)):
        prev, prev_t = 0, res.start_times[v] * unit
        for node, tc in zip(route, times, strict=True):
            ts = tc * unit
            lo, hi = windows[node]
            assert lo <= ts <= hi
            assert not any(a <= ts <= b for a, b in forbidden.get(node, []))
            assert ts >= prev_t + service[prev] + t[prev, node]
            if prev in prob.max_wait:
                assert ts - (prev_t + service[prev] + t[prev, node]) <= prob.max_wait[prev]
            prev, prev_t = node, ts
