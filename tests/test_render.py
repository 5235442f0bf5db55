"""map.html without a browser: inlined code offline, CDN links online, escaped text,
layers, and plans with nothing to draw."""

from __future__ import annotations

import json
import re

import pytest
from conftest import exchange_plan

from planner.render import TILES_LAYER, layer_names, map_html, render_map

NET_LINK = re.compile(r'<(?:script|link)[^>]*(?:src|href)="https?:')


@pytest.fixture(scope="module")
def planned():
    """The grid scenario, its network and its plan."""
    from conftest import GRID_SCENARIO
    from synth import grid_graph

    from planner.evacuation import plan_evacuation
    from planner.network import prepare_network
    from planner.scenario import parse_scenario

    sc = parse_scenario(GRID_SCENARIO)
    net = prepare_network(sc, graph=grid_graph())
    return sc, net, plan_evacuation(sc, network=net, workers=1, budget=100)


def test_offline_map_inlines_leaflet_and_links_nothing(planned, tmp_path):
    sc, net, plan = planned
    render_map(sc, plan, net.layers, tmp_path / "map.html")
    html = (tmp_path / "map.html").read_text(encoding="utf-8")
    assert not NET_LINK.findall(html)
    assert "Leaflet 1.9.3" in html and "jQuery v3.7.1" in html  # licence notices kept
    assert ".leaflet-control-layers-toggle" in html and "data:image/png;base64," in html
    assert "window.plannerTimeline" in html
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_online_map_keeps_the_cdn_form(planned, tmp_path):
    sc, net, plan = planned
    render_map(sc, plan, net.layers, tmp_path / "map.html", online=True)
    html = (tmp_path / "map.html").read_text(encoding="utf-8")
    assert (
        '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"></script>' in html
    )
    assert "Leaflet 1.9.3, a JS library" not in html
    assert len(html) < 150_000


def test_layers_legend_scale_and_timeline(planned):
    sc, net, plan = planned
    m = render_map(sc, plan, net.layers)
    html = map_html(m)
    for name in layer_names(plan):
        assert json.dumps(name) in html, name
    assert TILES_LAYER in layer_names(plan)
    assert "control_scale" in html or "L.control.scale" in html
    assert "pl-legend" in html
    data = next(
        d
        for d in (json.loads(x) for x in re.findall(r"var D = (\{.*?\}), map = ", html))
        if "t0" in d
    )
    used = [v for v in plan.vehicles if v.legs]
    assert [v["id"] for v in data["vehicles"]] == [v.id for v in used]
    assert len(data["windows"]) == len(plan.windows)
    assert sum(b[1] for s in data["sites"] for b in s["boards"]) == plan.evacuated_total()


def test_hostile_text_is_escaped_everywhere(planned):
    sc, net, plan = planned
    plan = plan.model_copy(deep=True)
    evil = '"><img src=x onerror=alert(1)><script>alert(2)</script>${alert(3)}`'
    plan.sites[0].name = evil
    plan.vehicles[0].id = evil
    plan.exchange = exchange_plan(
        [
            {
                "start": "2022-03-16T10:00:00+02:00",
                "end": "2022-03-16T11:00:00+02:00",
                "point": evil,
                "counts": {evil: {"f": {"c": 2}}},
            }
        ]
    )
    html = map_html(render_map(sc, plan, net.layers))
    assert "<script>alert(2)</script>" not in html
    assert "<img src=x" not in html
    # outside the JSON of the timeline and of the labels (plain strings there) no template
    # string may see it
    assert "${alert(3)}" not in re.sub(r"D = \{.*?\}, (?:map|towns) = ", "", html)
    assert "Exchanges" in html


def test_plan_without_sites_still_draws(planned):
    sc, net, plan = planned
    empty = plan.model_copy(deep=True)
    empty.sites, empty.vehicles, empty.receptions, empty.unserved = [], [], [], []
    html = map_html(render_map(sc, empty, net.layers))
    assert "plannerTimeline" in html
