"""The upper bound: trips that fit in the windows, capped by people and reception space."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from planner.bound import BoundInputs, compute_bound, max_trips
from planner.timeline import Timeline

T0 = datetime(2022, 3, 16, 8, tzinfo=timezone(timedelta(hours=2)))


def tl(*windows):
    return Timeline(origin=T0, windows=tuple(windows))


def test_trips_in_one_window_by_hand():
    # 1 h to the pickup, then each trip: 10 min stop, 1 h loaded, 15 min unload, 1 h back
    assert max_trips(tl((0, 36000)), 0, 3600, 3600, 3600, 600, 900) == 4


def test_a_drive_never_spans_the_closed_hours():
    # a 3 h loaded drive fits neither the rest of day one nor is split over the night
    two_days = tl((0, 4 * 3600), (24 * 3600, 28 * 3600))
    # day one: loaded 0-3 h; the drive back waits for day two (24-27 h); no time left to load
    assert max_trips(two_days, 0, 0, 3 * 3600, 3 * 3600, 0, 0) == 1
    assert max_trips(two_days, 0, 0, 1800, 1800, 0, 0) == 8  # four round trips a day
    assert max_trips(two_days, 0, 0, 5 * 3600, 5 * 3600, 0, 0) == 0


def test_unreachable_means_no_trip():
    assert max_trips(tl((0, 36000)), 0, np.inf, 3600, 3600, 0, 0) == 0


def _inputs(**kw):
    base = dict(
        timeline=tl((0, 36000)),
        waiting={"a": {"general": 500, "wounded": 10}},
        assembly_ids=["a"],
        reception_ids=["r"],
        reception_capacity=[10_000],
        a_to_r=np.array([[3600.0]]),
        r_to_a=np.array([[3600.0]]),
        start_to_a=np.array([[3600.0], [3600.0]]),
        vehicle_seats=[50, 4],
        vehicle_groups=[["general"], ["wounded"]],
        vehicle_earliest=[0, 0],
        stop_s=600.0,
        unload_s=900.0,
        excluded_sites=set(),
    )
    base.update(kw)
    return BoundInputs(**base)


def test_bound_caps_by_seats_people_and_reception():
    b = compute_bound(_inputs())
    assert b.trips == [4, 4]
    assert b.per_group["general"] == 200  # 50 seats × 4 trips < 500 waiting
    assert b.per_group["wounded"] == 10  # 4 × 4 = 16 seats > 10 waiting
    assert b.per_group["total"] == 210
    b = compute_bound(_inputs(reception_capacity=[120]))
    assert b.per_group["general"] == 120 and b.per_group["total"] == 120


def test_bound_excludes_sites_without_a_safe_road():
    b = compute_bound(_inputs(a_to_r=np.array([[np.inf]])))
    assert b.per_group["total"] == 0
    b = compute_bound(_inputs(excluded_sites={"a"}))
    assert b.per_group["total"] == 0


def _three_sites(drive_h: dict, windows, people=None):
    """Sites: 0 = near town, 1 = far town, 2 = reception (the vehicles' start)."""
    h = 3600.0
    d = np.full((3, 3), np.inf)
    np.fill_diagonal(d, 0.0)
    for (i, j), hours in drive_h.items():
        d[i, j] = d[j, i] = hours * h
    return _inputs(
        timeline=tl(*windows),
        waiting=people or {"near": {"general": 100}, "far": {"general": 100}},
        assembly_ids=["near", "far"],
        a_to_r=d[[0, 1]][:, [2]],
        r_to_a=d[[2]][:, [0, 1]],
        start_to_a=d[[2, 2]][:, [0, 1]],
        vehicle_seats=[50, 50],
        vehicle_groups=[["general"], ["general"]],
        site_drive=d,
        assembly_sites=[0, 1],
        reception_sites=[2],
        vehicle_sites=[2, 2],
        stop_s=0.0,
        unload_s=0.0,
    )


def test_bound_leaves_out_people_no_vehicle_can_reach_and_bring_back_in_time():
    # the far town is 4 h away: a 6 h window allows no round trip to it
    from dataclasses import replace

    inp = _three_sites({(0, 2): 1.0, (1, 2): 4.0}, [(0, 6 * 3600)])
    b = compute_bound(inp)
    assert b.reachable["general"] == 100 and b.per_group["general"] == 100
    # without the site drives the far town would count (the bound as it was)
    assert compute_bound(replace(inp, site_drive=None)).reachable["general"] == 200


def test_bound_lets_a_vehicle_rest_at_a_site_between_windows():
    # the far town's own road to the reception takes 5.5 h, longer than a window; via the
    # near town it is 2 h + 2 h: two 5 h windows let a bus go out through the near town,
    # come back to it, rest there overnight and go on to the reception the next day
    two_days = [(0, 5 * 3600), (24 * 3600, 29 * 3600)]
    b = compute_bound(_three_sites({(0, 2): 2.0, (0, 1): 2.0, (1, 2): 5.5}, two_days))
    assert b.reachable["general"] == 200
    # in a single 5 h window the far town is out of reach (4 h there, 4 h back)
    b = compute_bound(_three_sites({(0, 2): 2.0, (0, 1): 2.0, (1, 2): 5.5}, two_days[:1]))
    assert b.reachable["general"] == 100


def test_bound_counts_each_reception_centre_by_its_own_reach_and_capacity():
    # the near centre (2 h) holds 60; the far one (6.5 h) has room for everyone but a 6 h
    # window allows no drive to it: the bound is the near centre's 60, not the 100 waiting
    h = 3600.0
    d = np.array([[0.0, 2 * h, 6.5 * h], [2 * h, 0.0, 8.5 * h], [6.5 * h, 8.5 * h, 0.0]])
    inp = _inputs(
        timeline=tl((0, 6 * h)),
        waiting={"a": {"general": 100}},
        reception_ids=["near", "far"],
        reception_capacity=[60, 10_000],
        a_to_r=d[[0]][:, [1, 2]],
        r_to_a=d[[1, 2]][:, [0]],
        start_to_a=np.zeros((2, 1)),
        vehicle_seats=[50, 50],
        vehicle_groups=[["general"], ["general"]],
        site_drive=d,
        assembly_sites=[0],
        reception_sites=[1, 2],
        vehicle_sites=[0, 0],
        stop_s=0.0,
        unload_s=0.0,
    )
    b = compute_bound(inp)
    assert b.per_group["general"] == 60 and b.per_group["total"] == 60


def test_bound_shares_the_ceasefire_time_of_a_vehicle_class():
    # two buses of 50 in one 10 h window, 1 h loaded and 1 h back: the drives of all trips
    # fit in 2 x 10 h plus the free first approach: 10 trips = 500, not 1,000 waiting
    from dataclasses import replace

    inp = _three_sites(
        {(0, 2): 1.0, (1, 2): 1.0, (0, 1): 2.0},
        [(0, 10 * 3600)],
        people={"near": {"general": 1000}, "far": {"general": 0}},
    )
    b = compute_bound(replace(inp, vehicle_sites=[0, 0], start_to_a=np.zeros((2, 2))))
    assert b.per_group["total"] == 500
