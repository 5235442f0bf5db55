"""Assembly points made from OpenStreetMap features, people shared out by rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from planner.errors import ScenarioError
from planner.scenario import load_scenario

DATA = Path(__file__).parent / "data" / "osm"


def _scenario(tmp_path, share="even", tags=None):
    data = {
        "name": "town-osm",
        "network": {"source": str(DATA / "amenities.osm")},
        "ceasefire": {
            "windows": [{"start": "2024-05-01T06:00:00+03:00", "end": "2024-05-01T14:00:00+03:00"}]
        },
        "evacuation": {
            "assembly_points": {
                "from_osm": {
                    "tags": tags or {"amenity": ["school", "hospital"]},
                    "people": {"general": 100, "wounded": 7},
                    "share": share,
                }
            },
            "reception_centres": [{"id": "east", "location": [35.112, 47.798], "capacity": 500}],
            "fleet": [
                {
                    "type": "bus",
                    "count": 2,
                    "seats": 30,
                    "groups": ["general", "wounded"],
                    "start": "east",
                }
            ],
        },
    }
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_points_from_osm_even_share(tmp_path):
    sc = load_scenario(_scenario(tmp_path))
    pts = sc.evacuation.assembly_points
    assert sorted(p.name for p in pts) == ["City Hospital", "School No. 1", "School No. 2"]
    assert sum(p.people.general for p in pts) == 100
    assert sum(p.people.wounded for p in pts) == 7
    assert sorted(p.people.general for p in pts) == [33, 33, 34]


def test_points_from_osm_by_building_area(tmp_path):
    pts = {
        p.name: p
        for p in load_scenario(
            _scenario(tmp_path, share="building_area")
        ).evacuation.assembly_points
    }
    # the apartment block (~3,300 m2) lies next to school 1, the house (~660 m2) next to the hospital
    assert pts["School No. 2"].people.general == 0
    assert pts["School No. 1"].people.general > 4 * pts["City Hospital"].people.general
    assert sum(p.people.general for p in pts.values()) == 100


def test_plan_from_osm_points_verifies(tmp_path):
    import json

    from planner.evacuation import plan_evacuation
    from planner.verify import verify_plan

    sc = load_scenario(_scenario(tmp_path))
    plan = plan_evacuation(sc, workers=1, budget=100)
    assert plan.totals.evacuated["total"] > 0
    assert verify_plan(sc, json.loads(plan.to_json())) == []


def test_no_matching_feature_is_a_clear_error(tmp_path):
    with pytest.raises(ScenarioError, match="from_osm: .*no OSM feature matches"):
        load_scenario(_scenario(tmp_path, tags={"amenity": ["theatre"]}))
