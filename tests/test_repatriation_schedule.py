"""Repatriation schedule: each rule binds in the schedule, and `planner verify` catches it broken."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from planner.repatriation.check import check_repatriation
from planner.repatriation.schedule import schedule_repatriation
from planner.scenario import parse_scenario

T0 = "2023-10-16T10:00:00+03:00"  # a Monday
T1 = "2023-10-23T10:00:00+03:00"


def child(cid: str, age: int = 10, **kw: Any) -> dict[str, Any]:
    c = {
        "id": cid,
        "age": age,
        "identity_verified": True,
        "guardian_located": True,
        "documents": ["birth_certificate", "travel_document"],
    }
    c.update(kw)
    return c


def base(children: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    crossing = {
        "open": "08:00",
        "close": "20:00",
        "utc_offset": "+03:00",
        "delay_min": 60,
        "documents": ["birth_certificate"],
        "guardian_documents": ["passport"],
    }
    return {
        "name": "rep-test",
        "ceasefire": {"windows": [{"start": "2023-10-01T00:00:00+03:00", "end": "2023-12-31T00:00:00+03:00"}]},
        "repatriation": {
            "children": children if children is not None else [child("c-1"), child("c-2", 14)],
            "guardians": [{"id": "g-1", "can_travel": True, "documents": ["passport"], "ready_from": "2023-10-10T08:00:00+03:00", "route": "north"}],
            "mediator": {
                "handover_sites": [{"id": "emb", "location": [37.6, 55.74], "handover_min": 60, "max_children": 10,
                                    "handovers": [{"at": T0}, {"at": T1}]}],
                "escorts": [{"id": "e-1"}, {"id": "e-2"}],
                "children_per_escort": [{"max_age": 5, "children": 2}, {"max_age": 17, "children": 4}],
                "escort_rest_h": 24,
            },
            "routes": [
                {"id": "north", "from": "emb", "legs": [
                    {"mode": "rail", "duration_min": 300, "to": {"id": "city", "location": [30.3, 59.9], "overnight": True}},
                    {"mode": "road", "duration_min": 180, "to": {"id": "border", "location": [28.2, 59.4], "crossing": dict(crossing, documents=["birth_certificate", "travel_document"])}},
                    {"mode": "road", "duration_min": 240, "to": {"id": "home", "location": [24.7, 59.4], "overnight": True}}]},
                {"id": "west", "from": "emb", "legs": [
                    {"mode": "rail", "duration_min": 600, "to": {"id": "minsk", "location": [27.6, 53.9], "overnight": True}},
                    {"mode": "road", "duration_min": 330, "to": {"id": "wborder", "location": [24.3, 51.8], "crossing": crossing}},
                    {"mode": "road", "duration_min": 150, "to": {"id": "kovel", "location": [24.7, 51.2], "overnight": True}},
                    {"mode": "road", "duration_min": 300, "to": {"id": "kyiv", "location": [30.5, 50.45], "overnight": True}}]},
            ],
            "travel_day": [{"max_age": 5, "hours": 10}, {"max_age": 17, "hours": 14}],
        },
    }  # fmt: skip


def run(data: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    sc = parse_scenario(data)
    rp = schedule_repatriation(sc, budget=5.0)
    return sc, {"repatriation": rp.model_dump(mode="json", by_alias=True)}


def where(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c: g for g in plan["repatriation"]["groups"] for c in g["children"]}


def waiting(plan: dict[str, Any]) -> dict[str, str]:
    return {w["child"]: w["reason"] for w in plan["repatriation"]["waiting"]}


def codes(sc: Any, plan: dict[str, Any]) -> set[str]:
    return {code for code, _msg in check_repatriation(sc, plan)}


def test_clean_plan_verifies_and_is_deterministic() -> None:
    sc, plan = run(base())
    assert codes(sc, plan) == set()
    assert set(where(plan)) == {"c-1", "c-2"}
    assert run(base())[1] == plan


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"identity_verified": False}, "identity_not_verified"),
        ({"guardian_located": False}, "guardian_not_located"),
        ({"documents": []}, "document_missing"),
        ({"ready_from": "2023-11-01T00:00:00+03:00"}, "no_handover_date_left"),
        ({"handover_to": "guardian", "guardian": "g-2"}, "guardian_cannot_travel"),
    ],
)
def test_status_rules_bind_with_the_reason_a_caseworker_acts_on(
    change: dict[str, Any], reason: str
) -> None:
    data = base([child("c-1", **change), child("c-2", 14)])
    data["repatriation"]["guardians"].append({"id": "g-2", "can_travel": False})
    sc, plan = run(data)
    assert waiting(plan) == {"c-1": reason}
    assert codes(sc, plan) == set()


def test_verify_catches_a_child_who_may_not_go_yet() -> None:
    sc, plan = run(
        base(
            [
                child("c-1", identity_verified=False),
                child("c-2", 14),
                child("c-3", 9, guardian_located=False),
            ]
        )
    )
    bad = copy.deepcopy(plan)
    g = bad["repatriation"]["groups"][0]
    g["children"] += ["c-1", "c-3"]
    bad["repatriation"]["waiting"] = []
    assert "rep_status" in codes(sc, bad)


def test_documents_bind_the_route_and_verify_catches_a_missing_one() -> None:
    sc, plan = run(base([child("c-1", documents=["birth_certificate"]), child("c-2", 14)]))
    assert where(plan)["c-1"]["route"] == "west"  # north asks for a travel document at its crossing
    bad = copy.deepcopy(plan)
    north = next((g for g in bad["repatriation"]["groups"] if g["route"] == "north"), None)
    if north is None:
        north = copy.deepcopy(where(plan)["c-1"])
        north["route"] = "north"
    north["children"] = ["c-1"]
    assert "rep_documents" in codes(
        sc, {"repatriation": {**bad["repatriation"], "groups": [north]}}
    )


def test_siblings_travel_together_or_not_at_all() -> None:
    kids = [
        child("c-1", 8, sibling_group="s"),
        child("c-2", 12, sibling_group="s"),
        child("c-3", 9, sibling_group="s"),
        child("c-4", 3, medical=True),
    ]
    data = base(kids)
    data["repatriation"]["mediator"]["handover_sites"][0]["handovers"] = [
        {"at": T0, "max_children": 2},
        {"at": T1, "max_children": 3},
    ]
    sc, plan = run(data)
    w = where(plan)
    assert w["c-4"]["handover_at"].startswith("2023-10-16")  # medical first
    assert {w[c]["id"] for c in ("c-1", "c-2", "c-3")} == {
        w["c-1"]["id"]
    }  # the three together, in the later handover
    assert w["c-1"]["handover_at"].startswith("2023-10-23")
    bad = copy.deepcopy(plan)
    g = next(g for g in bad["repatriation"]["groups"] if "c-1" in g["children"])
    g["children"].remove("c-3")
    bad["repatriation"]["waiting"].append(
        {"child": "c-3", "reason": "no_handover_date_left", "detail": ""}
    )
    assert "rep_siblings" in codes(sc, bad)


def test_a_sibling_who_cannot_go_holds_the_others_back() -> None:
    sc, plan = run(
        base(
            [
                child("c-1", sibling_group="s"),
                child("c-2", sibling_group="s", guardian_located=False),
                child("c-3"),
            ]
        )
    )
    assert waiting(plan) == {"c-1": "sibling_cannot_go", "c-2": "guardian_not_located"}


def test_handover_capacity_binds_and_verify_catches_it() -> None:
    data = base([child(f"c-{i}", 10 + i) for i in range(5)])
    data["repatriation"]["mediator"]["handover_sites"][0]["handovers"] = [
        {"at": T0, "max_children": 3}
    ]
    sc, plan = run(data)
    assert len(where(plan)) == 3
    assert set(waiting(plan).values()) == {"no_handover_date_left"}
    bad = copy.deepcopy(plan)
    bad["repatriation"]["groups"][0]["children"] += list(waiting(plan))
    bad["repatriation"]["waiting"] = []
    assert "rep_handover_capacity" in codes(sc, bad)


def test_group_size_binds_and_verify_catches_it() -> None:
    data = base()
    data["repatriation"]["mediator"]["group_size"] = {"min": 3, "max": 10}
    sc, plan = run(data)
    assert where(plan) == {}  # two children cannot make a group of three
    ok_sc, ok_plan = run(base())
    assert "rep_group_size" in codes(sc, {"repatriation": {**ok_plan["repatriation"]}})


def test_escorts_by_age_bind_and_verify_catches_too_few() -> None:
    data = base([child(f"c-{i}", 3) for i in range(6)])
    data["repatriation"]["mediator"]["escorts"] = [{"id": "e-1"}]
    data["repatriation"]["mediator"]["handover_sites"][0]["handovers"] = [{"at": T0}]
    sc, plan = run(data)
    assert len(where(plan)) == 2  # one escort for two children under six
    bad = copy.deepcopy(plan)
    bad["repatriation"]["groups"][0]["children"] += list(waiting(plan))[:2]
    bad["repatriation"]["waiting"] = bad["repatriation"]["waiting"][2:]
    assert "rep_escorts" in codes(sc, bad)


def test_an_escort_is_in_one_group_at_a_time() -> None:
    data = base(
        [
            child("c-1", ready_from=T0),
            child("c-2", ready_from=T0),
            child("c-3", ready_from="2023-10-17T00:00:00+03:00"),
        ]
    )
    med = data["repatriation"]["mediator"]
    med["escorts"] = [{"id": "e-1"}]
    med["escort_rest_h"] = 72
    med["handover_sites"][0]["handovers"] = [
        {"at": T0},
        {"at": "2023-10-18T10:00:00+03:00", "max_children": 1},
    ]
    sc, plan = run(data)
    assert waiting(plan) == {"c-3": "no_handover_date_left"}  # e-1 is still on the road on the 18th
    bad = copy.deepcopy(plan)
    g = copy.deepcopy(bad["repatriation"]["groups"][0])
    first = copy.deepcopy(
        run(base([child("c-3", ready_from="2023-10-17T00:00:00+03:00")]))[1]["repatriation"][
            "groups"
        ][0]
    )
    assert first["handover_at"].startswith("2023-10-23")
    assert g["escorts"] == ["e-1"]
    g2 = copy.deepcopy(g)
    g2.update(id="later", handover_at="2023-10-18T10:00+03:00", children=["c-3"])
    bad["repatriation"]["groups"].append(g2)
    bad["repatriation"]["waiting"] = []
    assert "rep_escorts" in codes(sc, bad)


def test_travel_day_by_age_binds_a_night_and_verify_catches_a_longer_day() -> None:
    kids = [
        child("c-1", 4, documents=["birth_certificate"], sibling_group="s"),
        child("c-2", 14, documents=["birth_certificate"], sibling_group="s"),
    ]
    sc, plan = run(base(kids))
    g = where(plan)
    young, old = g["c-1"], g["c-2"]
    assert young["route"] == old["route"] == "west"
    assert young["id"] == old["id"]  # together, on the timetable of the youngest
    assert young["max_travel_day_min"] <= 600
    assert any(leg["to"] == "kovel" and leg["overnight"] for leg in young["legs"])
    sc2, plan2 = run(base([child("c-2", 14, documents=["birth_certificate"])]))
    assert where(plan2)["c-2"]["max_travel_day_min"] > 600  # alone, the older child goes on to Kyiv
    bad = copy.deepcopy(plan)
    for leg in bad["repatriation"]["groups"][0]["legs"]:
        if leg["to"] == "kovel":
            leg["overnight"] = False
    assert "rep_travel_day" in codes(sc, bad)


def test_overnight_only_where_allowed() -> None:
    sc, plan = run(base())
    bad = copy.deepcopy(plan)
    for g in bad["repatriation"]["groups"]:
        for leg in g["legs"]:
            if leg["crossing"]:
                leg["overnight"] = True
    assert "rep_overnight" in codes(sc, bad)


def test_crossing_hours_bind_and_verify_catches_a_passage_when_closed() -> None:
    sc, plan = run(base([child("c-1", documents=["birth_certificate"])]))
    g = where(plan)["c-1"]
    cross = next(leg for leg in g["legs"] if leg["crossing"])
    assert cross["leave"][11:16] >= "09:00" and cross["leave"][11:16] <= "20:00"
    bad = copy.deepcopy(plan)
    for leg in bad["repatriation"]["groups"][0]["legs"]:
        if leg["crossing"]:
            leg["arrive"] = leg["arrive"][:11] + "04:00+03:00"
            leg["leave"] = leg["leave"][:11] + "05:00+03:00"
    assert "rep_crossing_hours" in codes(sc, bad)


def test_legs_keep_their_durations() -> None:
    sc, plan = run(base())
    bad = copy.deepcopy(plan)
    leg = bad["repatriation"]["groups"][0]["legs"][0]
    leg["arrive"] = leg["depart"]
    assert "rep_timetable" in codes(sc, bad)


def test_ready_date_binds_and_verify_catches_an_early_handover() -> None:
    sc, plan = run(
        base([child("c-1", ready_from="2023-10-17T00:00:00+03:00"), child("c-2", ready_from=T0)])
    )
    w = where(plan)
    assert w["c-1"]["handover_at"].startswith("2023-10-23") and w["c-2"]["handover_at"].startswith(
        "2023-10-16"
    )
    bad = copy.deepcopy(plan)
    for g in bad["repatriation"]["groups"]:
        g["children"] = [c for c in g["children"] if c != "c-1"]
        if g["handover_at"].startswith("2023-10-16"):
            g["children"].append("c-1")
    assert "rep_ready" in codes(sc, bad)


def test_guardian_journey_binds_the_date_and_verify_catches_a_late_guardian() -> None:
    data = base([child("c-1", 4, handover_to="guardian", guardian="g-1"), child("c-2", 14)])
    data["repatriation"]["guardians"][0]["ready_from"] = (
        "2023-10-15T20:00:00+03:00"  # too late for the 16th
    )
    sc, plan = run(data)
    w = where(plan)
    assert w["c-1"]["handover_at"].startswith("2023-10-23") and w["c-1"]["guardians"] == ["g-1"]
    trip = plan["repatriation"]["guardian_journeys"][0]
    assert trip["guardian"] == "g-1" and trip["arrive"] <= w["c-1"]["handover_at"]
    assert [leg["to"] for leg in trip["legs"]] == [
        "border",
        "city",
        "emb",
    ]  # the route walked backwards
    assert codes(sc, plan) == set()
    bad = copy.deepcopy(plan)
    bad["repatriation"]["guardian_journeys"][0]["arrive"] = "2023-10-24T10:00+03:00"
    assert "rep_guardian" in codes(sc, bad)
    bad["repatriation"]["guardian_journeys"] = []
    assert "rep_guardian" in codes(sc, bad)


def test_guardian_documents_bind() -> None:
    data = base([child("c-1", handover_to="guardian", guardian="g-1")])
    data["repatriation"]["guardians"][0]["documents"] = []
    sc, plan = run(data)
    assert waiting(plan) == {"c-1": "guardian_document_missing"}


def test_verify_catches_unknown_twice_and_missing_children() -> None:
    sc, plan = run(base())
    bad = copy.deepcopy(plan)
    g = bad["repatriation"]["groups"][0]
    g["children"].append("c-99")
    assert "rep_unknown_child" in codes(sc, bad)
    bad = copy.deepcopy(plan)
    bad["repatriation"]["waiting"].append(
        {
            "child": bad["repatriation"]["groups"][0]["children"][0],
            "reason": "no_handover_date_left",
            "detail": "",
        }
    )
    assert "rep_child_twice" in codes(sc, bad)
    bad = copy.deepcopy(plan)
    bad["repatriation"]["groups"][0]["children"].pop()
    assert "rep_child_missing" in codes(sc, bad)
    assert codes(sc, {}) == {"rep_missing"}


def test_bad_section_is_one_line_naming_the_field() -> None:
    from planner.errors import ScenarioError

    data = base([child("c-1", guardian="nobody")])
    with pytest.raises(ScenarioError, match=r"repatriation\.children\.0\.guardian"):
        parse_scenario(data)
    data = base()
    data["repatriation"]["routes"][0]["legs"][0]["mode"] = "boat"
    with pytest.raises(ScenarioError, match=r"repatriation\.routes\.0\.legs\.0\.mode"):
        parse_scenario(data)


@pytest.mark.slow
def test_road_legs_inside_the_bundled_network_take_its_travel_times() -> None:
    data = base([child("c-1")])
    data["network"] = {"source": "regional"}
    data["repatriation"]["routes"][0]["legs"].append(
        {"mode": "road", "to": {"id": "poltava", "location": [34.55, 49.59]}}
    )
    data["repatriation"]["routes"][0]["legs"][-2]["to"]["location"] = [36.23, 49.99]  # Kharkiv
    sc, plan = run(data)
    assert plan["repatriation"]["network_legs"] == ["north#3"]
    legs = [g for g in plan["repatriation"]["groups"] if g["route"] == "north"]
    if legs:
        last = legs[0]["legs"][-1]
        from datetime import datetime

        minutes = (
            datetime.fromisoformat(last["arrive"]) - datetime.fromisoformat(last["depart"])
        ).total_seconds() / 60
        assert 90 <= minutes <= 240  # about 140 km of the M03 / E40
    data["repatriation"]["routes"][0]["legs"][-1]["to"]["location"] = [10.0, 50.0]
    from planner.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"routes\.0\.legs\.3\.duration_min"):
        run(data)


def test_overnight_binds_a_young_child_to_the_stops_where_a_night_is_allowed() -> None:
    young = [child("c-1", 3, documents=["birth_certificate"])]  # west only, 10 h days
    sc, plan = run(base(young))
    g = where(plan)["c-1"]
    assert g["route"] == "west"
    assert [leg["to"] for leg in g["legs"] if leg["overnight"]] == ["minsk", "kovel"]
    data = base(young)
    data["repatriation"]["routes"][1]["legs"][2]["to"]["overnight"] = False  # no night at Kovel
    sc, plan = run(data)
    assert where(plan) == {}  # from Minsk to Kyiv is 14 h, and no stop on the way takes a night
    assert waiting(plan) == {"c-1": "travel_day_too_long"}


def test_verify_catches_a_group_off_its_route_site_or_handover_date() -> None:
    sc, plan = run(base())
    assert codes(sc, plan) == set()
    bad = copy.deepcopy(plan)
    g = bad["repatriation"]["groups"][0]
    g["route"] = "west" if g["route"] == "north" else "north"  # the legs are the other route's
    assert "rep_route" in codes(sc, bad)
    bad = copy.deepcopy(plan)
    bad["repatriation"]["groups"][0]["site"] = "elsewhere"
    assert "rep_route" in codes(sc, bad)
    bad = copy.deepcopy(plan)
    bad["repatriation"]["groups"][0]["handover_at"] = "2023-10-17T10:00+03:00"
    assert "rep_handover_date" in codes(sc, bad)


def test_verify_catches_a_waiting_reason_a_caseworker_cannot_act_on() -> None:
    sc, plan = run(base([child("c-1"), child("c-2", guardian_located=False)]))
    assert waiting(plan) == {"c-2": "guardian_not_located"}
    assert codes(sc, plan) == set()
    bad = copy.deepcopy(plan)
    bad["repatriation"]["waiting"][0]["reason"] = "later"
    assert "rep_waiting_reason" in codes(sc, bad)


def test_verify_catches_a_manifest_missing_or_unlike_its_group(tmp_path: Any) -> None:
    sc, plan = run(base())
    g = plan["repatriation"]["groups"][0]
    assert {code for code, _m in check_repatriation(sc, plan, folder=tmp_path)} == {"rep_manifest"}
    (tmp_path / "manifests").mkdir()
    path = tmp_path / "manifests" / f"repatriation_{g['id']}.csv"
    path.write_text("child\n" + "".join(f"{c}\n" for c in g["children"]), encoding="utf-8")
    assert check_repatriation(sc, plan, folder=tmp_path) == []
    path.write_text(f"child\n{g['children'][0]}\n", encoding="utf-8")
    assert {code for code, _m in check_repatriation(sc, plan, folder=tmp_path)} == {"rep_manifest"}


def test_verify_reports_a_malformed_part_in_one_finding() -> None:
    sc, plan = run(base())
    bad = copy.deepcopy(plan)
    bad["repatriation"]["groups"][0]["handover_at"] = 5
    assert "rep_malformed" in codes(sc, bad)


@pytest.mark.parametrize("gap", [0.0, 0.01])
def test_two_workers_give_the_same_plan_for_the_same_seed_and_budget(gap: float) -> None:
    from planner.repatriation.journey import resolve_durations
    from planner.repatriation.model import build_candidates
    from planner.repatriation.schedule import solve
    from planner.repatriation.spec import parse_repatriation

    kids = [child(f"c-{i}", 3 + i % 14, sibling_group="s" if i < 2 else None) for i in range(9)]
    sc = parse_scenario(base(kids))
    spec = parse_repatriation(sc)
    assert spec is not None
    dur = resolve_durations(sc, spec)
    runs = [
        solve(spec, build_candidates(spec, dur), workers=2, seed=3, budget=2.0, gap=gap)
        for _ in range(2)
    ]
    (a, ea, ia), (b, eb, ib) = runs
    assert a == b and ea == eb
    assert {k: v for k, v in ia.items() if k != "seconds"} == {
        k: v for k, v in ib.items() if k != "seconds"
    }
    assert len(a) == 9  # all home: each escort takes a group on both dates


def test_priority_phase_on_counts_has_the_optimum_of_the_model_on_children() -> None:
    """The priority phase solves classes of interchangeable children (same groups, size,
    escorts and priority weight): it must reach the optimum of the model that names each
    child, and its value must be that of the schedule it returns."""
    from ortools.sat.python import cp_model

    from planner.repatriation.journey import resolve_durations
    from planner.repatriation.model import build_candidates, build_model
    from planner.repatriation.schedule import earliness, solve
    from planner.repatriation.spec import parse_repatriation

    kids = [
        child(
            f"c-{i:02d}",
            (5 * i) % 18,
            medical=i % 7 == 0,
            separated_since=f"2022-0{1 + i % 9}-01",
            documents=["birth_certificate"] + (["travel_document"] if i % 3 else []),
            sibling_group=f"s-{i // 2}" if i in (4, 5, 10, 11) else None,
        )
        for i in range(26)
    ]
    sc = parse_scenario(base(kids))
    spec = parse_repatriation(sc)
    assert spec is not None
    dur = resolve_durations(sc, spec)
    cand = build_candidates(spec, dur)
    assign, _esc, info = solve(spec, cand, workers=1, seed=0, budget=10.0)
    assert info["status"] == "OPTIMAL"
    assert info["earliness"] == info["earliness_bound"] == earliness(cand, assign)
    full = build_model(spec, build_candidates(spec, dur))
    full.cp.add(full.count >= len(assign))
    full.cp.maximize(full.earliness)
    s = cp_model.CpSolver()
    s.parameters.num_workers = 1
    s.parameters.max_deterministic_time = 10.0
    assert s.solve(full.cp) == cp_model.OPTIMAL
    assert round(s.objective_value) == info["earliness"]
    assert 0 < len(assign) < len(kids)  # the handovers' places bind: priority decides
