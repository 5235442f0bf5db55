"""The bundled exchange scenarios on the national network: a point on the Belarus border,
facilities in Kursk and Bryansk oblasts; every site within 2 km of a road; each side's buses
stay on its own side of the border."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.exchange import parse_exchange
from planner.national import load_national_network
from planner.network import prepare_network
from planner.scenario import load_scenario, location_lonlat

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
runner = CliRunner()


@pytest.mark.parametrize(
    ("name", "point_countries", "ru_towns"),
    [
        ("exchange-belarus-border", "UA-BY", {"Bryansk", "Klintsy"}),
        ("exchange-kursk-bryansk", "UA-RU", {"Kursk", "L’govskiy", "Bryansk"}),
    ],
)
def test_exchange_scenario_plans_and_verifies_on_the_national_network(
    tmp_path, name, point_countries, ru_towns
):
    path = SCENARIOS / f"{name}.yaml"
    sc = load_scenario(path)
    ex = parse_exchange(sc)
    sites = [location_lonlat(f.location) for f in ex.facilities] + [
        location_lonlat(p.location) for p in ex.exchange_points
    ]
    roads = prepare_network(sc).roads
    snaps = roads.snap(sites)
    ids = [int(roads.table.node_ids[s.node]) for s in snaps]
    assert max(s.distance_m for s in snaps) <= 2000.0  # every site within 2 km of a road
    graph = load_national_network()
    point = graph.nodes[ids[-1]]
    assert (point["kind"], point["countries"]) == ("crossing", point_countries)
    assert {
        graph.nodes[n]["name"]
        for n, f in zip(ids[: len(ex.facilities)], ex.facilities, strict=True)
        if f.party == "ru"
    } == ru_towns
    ru_facility_country = {
        graph.nodes[n]["country"]
        for n, f in zip(ids[: len(ex.facilities)], ex.facilities, strict=True)
        if f.party == "ru"
    }
    assert ru_facility_country == {"RU"}

    out = tmp_path / name
    res = runner.invoke(app, ["plan", str(path), "-o", str(out), "-q", "--time-limit", "30"])
    assert res.exit_code == 0, res.output
    plan = json.loads((out / "plan.json").read_text())
    assert all(s["snap_m"] <= 2000.0 for s in plan["exchange"]["sites"])
    events = plan["exchange"]["events"]
    assert (
        events
        and sum(e["people"]["ua"] for e in events) == sum(e["people"]["ru"] for e in events) > 100
    )
    where = {(round(d["x"], 5), round(d["y"], 5)): d for _, d in graph.nodes(data=True)}
    for event in plan["exchange"]["events"]:
        for t in event["transports"]:
            inner = [where.get((round(x, 5), round(y, 5))) for x, y in t["path"][1:-1]]
            countries = {d["country"] for d in inner if d is not None and d["kind"] == "settlement"}
            assert countries <= ({"UA"} if t["party"] == "ua" else {"RU", "BY"}), (
                t["facility"],
                countries,
            )
    res = runner.invoke(app, ["verify", str(path), str(out / "plan.json")])
    assert res.exit_code == 0, res.output
    # the map sums the exchange up (not "evacuated 0 of 0") and draws the national roads
    page = (out / "map.html").read_text(encoding="utf-8")
    released = plan["exchange"]["totals"]["released"]
    held = plan["exchange"]["totals"]["held"]
    for side in ("ua", "ru"):
        assert f"{side} {released[side]['total']:,} of {held[side]['total']:,}" in page, side
    assert "exchange (optimal): released " in page
    assert f"{len(events)} event(s)" in page and "evacuated 0 of 0" not in page
    assert "assembly point (size" not in page  # no evacuation lines in the legend


def test_the_map_of_a_national_scenario_draws_the_national_roads():
    from shapely.geometry import box

    from planner.plan import Plan
    from planner.render import _context_lines

    empty = Plan.model_construct(vehicles=[])  # no legs: only the bundled roads count
    europe = (14.0, 40.0, 50.0, 58.0)
    national = _context_lines(empty, europe, "ukraine")
    regional = _context_lines(empty, europe, "regional")
    assert national.bounds[0] < 25.0 < regional.bounds[0]  # Lviv's roads, west of the regional net
    assert national.intersects(box(23.9, 49.7, 24.2, 49.95))  # roads reach Lviv itself
