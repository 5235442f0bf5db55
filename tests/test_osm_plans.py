"""Integration: plan an evacuation on real OpenStreetMap extracts from ../shared and verify it.

Skipped when ../shared is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.evacuation import plan_evacuation
from planner.network import prepare_network
from planner.scenario import parse_scenario
from planner.verify import verify_plan

SHARED = Path(__file__).resolve().parents[2] / "shared" / "geodata"

pytestmark = pytest.mark.shared


def _scenario(source: Path, sites: dict, hazard: list | None = None) -> dict:
    return {
        "name": f"osm-{source.name.split('.')[0]}",
        "network": {"source": str(source)},
        "ceasefire": {
            "windows": [{"start": "2024-05-01T06:00:00+02:00", "end": "2024-05-01T12:00:00+02:00"}]
        },
        "hazards": [{"id": "blocked", "kind": "closed", "polygon": hazard}] if hazard else [],
        "evacuation": {
            "assembly_points": [
                {"id": k, "location": v, "people": {"general": 60, "children": 20, "wounded": 2}}
                for k, v in sites["assembly"].items()
            ],
            "reception_centres": [
                {"id": "reception", "location": sites["reception"], "capacity": 1000}
            ],
            "fleet": [
                {
                    "type": "bus",
                    "count": 2,
                    "seats": 40,
                    "groups": ["general", "children"],
                    "start": "reception",
                },
                {
                    "type": "ambulance",
                    "count": 1,
                    "seats": 4,
                    "groups": ["wounded"],
                    "start": "reception",
                },
            ],
            "stop_min": 5,
            "unload_min": 5,
        },
    }


@pytest.mark.parametrize(
    ("file", "sites", "hazard"),
    [
        (
            "graphhopper/monaco.osm.gz",
            {
                "assembly": {"larvotto": [7.4380, 43.7460], "fontvieille": [7.4170, 43.7290]},
                "reception": [7.4250, 43.7370],
            },
            [[7.4200, 43.7330], [7.4230, 43.7330], [7.4230, 43.7350], [7.4200, 43.7350]],
        ),
        (
            "graphhopper/andorra.osm.pbf",
            {
                "assembly": {"pas-de-la-casa": [1.7330, 42.5430], "canillo": [1.5980, 42.5670]},
                "reception": [1.5210, 42.5070],
            },
            None,
        ),
    ],
)
def test_plan_on_real_extract_verifies(file, sites, hazard):
    path = SHARED / file
    if not path.exists():
        pytest.skip(f"{path} absent")
    sc = parse_scenario(_scenario(path, sites, hazard))
    net = prepare_network(sc)
    assert net.roads.n_nodes > 300  # drivable roads only (monaco: ~350, andorra: ~1,200)
    if hazard:
        assert net.report.closed_edges > 0
    plan = plan_evacuation(sc, network=net, workers=1, budget=100, time_limit_s=600)
    data = json.loads(plan.to_json())
    assert verify_plan(sc, data, graph=net.base) == []
    assert plan.totals.evacuated["total"] > 0
    # legs follow the real street geometry: many more points than stops
    legs = [lg for v in plan.vehicles for lg in v.legs]
    assert max(len(lg.path) for lg in legs) > 10
    assert all(s.snap_m < 500 for s in plan.sites)
