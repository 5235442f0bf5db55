"""Corridor selection on a case whose answer is known by hand."""

from __future__ import annotations

import json

import pytest

from planner.corridors import candidate_corridors, choose_corridors, corridors_geojson
from planner.network import prepare_network
from planner.scenario import parse_scenario


@pytest.fixture
def two_crossings(scenario_dict):
    cps = scenario_dict["ceasefire"]["crossing_points"]
    cps.append({"id": "cp2", "location": [35.25, 47.3], "delay_min": 20, "radius_m": 3000})
    scenario_dict["hazards"] = []
    return scenario_dict


def test_two_corridors_one_blocked_by_a_hazard(two_crossings, grid):
    # a closed area on the road east of cp2 blocks that corridor
    two_crossings["hazards"] = [
        {
            "id": "shelled",
            "kind": "closed",
            "polygon": [[35.26, 47.28], [35.34, 47.28], [35.34, 47.32], [35.26, 47.32]],
        }
    ]
    open_sc = parse_scenario({**two_crossings, "hazards": []})
    assert {
        c.crossing for c in candidate_corridors(open_sc, prepare_network(open_sc, graph=grid))
    } == {"cp1", "cp2"}
    sc = parse_scenario(two_crossings)
    net = prepare_network(sc, graph=grid)
    cands = candidate_corridors(sc, net)
    assert {c.crossing for c in cands} == {"cp1"}  # no safe road through cp2 any more
    choice = choose_corridors(sc, net, 1)
    chosen = [c for c in choice.corridors if c.selected]
    # a1 (156 waiting) beats a2 (90 waiting); the fleet can move all of a1 in two days
    assert len(chosen) == 1 and chosen[0].id == "a1~cp1~r1"
    assert choice.people == 156
    # without it the best single corridor is a2's, with 90 people: it is worth 66 more
    assert chosen[0].marginal == 156 - 90


def test_more_corridors_never_move_fewer_people_and_truce_hour_helps(two_crossings, grid):
    sc = parse_scenario(two_crossings)
    net = prepare_network(sc, graph=grid)
    one = choose_corridors(sc, net, 1)
    two = choose_corridors(sc, net, 4)
    assert two.people >= one.people
    assert one.people_all >= two.people
    assert one.extra_hour >= 0
    gj = json.loads(corridors_geojson(two))
    assert len(gj["features"]) == len(two.corridors)
    assert sum(f["properties"]["selected"] for f in gj["features"]) <= 4


def test_people_never_exceed_waiting_or_reception(two_crossings, grid):
    two_crossings["evacuation"]["reception_centres"][0]["capacity"] = 70
    sc = parse_scenario(two_crossings)
    choice = choose_corridors(sc, prepare_network(sc, graph=grid), 2)
    assert choice.people <= 70


def test_corridors_command(tmp_path, two_crossings, grid, write_scenario):
    import osmnx as ox
    from typer.testing import CliRunner

    from planner.cli import app

    ox.save_graphml(grid, tmp_path / "grid.graphml")
    two_crossings["network"] = {"source": "grid.graphml"}
    res = CliRunner().invoke(
        app,
        ["corridors", str(write_scenario(two_crossings)), "--max", "1", "-o", str(tmp_path / "o")],
    )
    assert res.exit_code == 0, res.output
    assert "adds" in res.output and "one more hour" in res.output
    gj = json.loads((tmp_path / "o" / "corridors.geojson").read_text())
    assert any(f["properties"]["selected"] for f in gj["features"])
    assert (tmp_path / "o" / "corridors.html").exists()


def test_corridors_map_works_offline(two_crossings, grid, tmp_path):
    import re

    from planner.corridors import corridors_map

    sc = parse_scenario(two_crossings)
    net = prepare_network(sc, graph=grid)
    choice = choose_corridors(sc, net, 1)
    corridors_map(choice, sc, net, tmp_path / "corridors.html")
    html = (tmp_path / "corridors.html").read_text(encoding="utf-8")
    # Leaflet inlined, no Bootstrap or jQuery from a CDN, nothing else linked
    assert not re.findall(r'<(?:script|link)[^>]*(?:src|href)="https?:', html)
    assert "Leaflet 1.9.3" in html and "bootstrap" not in html.lower()
    assert '"collapsed": true' in html  # the layer control starts closed
    assert (
        "School 1" in html and "Mykhaylivka" in html
    )  # a site and a town of the area are labelled
    corridors_map(choice, sc, net, tmp_path / "online.html", online=True)
    assert "cdn.jsdelivr.net/npm/leaflet@1.9.3" in (tmp_path / "online.html").read_text(
        encoding="utf-8"
    )
