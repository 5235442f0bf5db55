"""Shared fixtures: small hand-made scenarios on a synthetic grid road network."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth import grid_graph  # noqa: E402

collect_ignore_glob = ["data/malformed/*"]  # input for test_malformed.py, not scenarios to collect

SHARED = Path(__file__).resolve().parents[2] / "shared"

GRID_SCENARIO = {
    "name": "grid-test",
    "ceasefire": {
        "windows": [
            {"start": "2022-03-16T08:00:00+02:00", "end": "2022-03-16T14:00:00+02:00"},
            {"start": "2022-03-17T08:00:00+02:00", "end": "2022-03-17T14:00:00+02:00"},
        ],
        "crossing_points": [
            {"id": "cp1", "location": [35.25, 47.1], "delay_min": 20, "radius_m": 3000}
        ],
    },
    "frontline": {"coordinates": [[35.25, 46.9], [35.25, 47.5]]},
    "hazards": [
        {
            "id": "h1",
            "kind": "closed",
            "polygon": [[35.12, 47.12], [35.18, 47.12], [35.18, 47.18], [35.12, 47.18]],
        },
        {
            "id": "h2",
            "kind": "risk",
            "factor": 3,
            "polygon": [[35.32, 46.95], [35.38, 46.95], [35.38, 47.35], [35.32, 47.35]],
        },
    ],
    "evacuation": {
        "assembly_points": [
            {
                "id": "a1",
                "name": "School 1",
                "location": [35.0, 47.0],
                "people": {"general": 120, "children": 30, "wounded": 6},
            },
            {
                "id": "a2",
                "location": [35.1, 47.3],
                "people": {"general": 80, "reduced_mobility": 10},
            },
        ],
        "reception_centres": [{"id": "r1", "location": [35.5, 47.1], "capacity": 1000}],
        "fleet": [
            {
                "type": "bus",
                "count": 2,
                "seats": 40,
                "groups": ["general", "children", "reduced_mobility"],
                "start": "r1",
            },
            {
                "type": "ambulance",
                "count": 1,
                "seats": 4,
                "groups": ["wounded", "reduced_mobility"],
                "start": "r1",
            },
        ],
    },
}


def exchange_plan(events, *, status="optimal", conflicts=(), point="cp1", location=(35.0, 47.0)):
    """A typed exchange schedule around hand-written events.

    Each event gives ``start``, ``end`` and ``counts`` (party, facility, category, people),
    optionally ``point`` and ``location``; the rest (ids, days, people per party) follows.
    """
    from planner.exchange_result import ExchangePlan

    evs = []
    for i, e in enumerate(events):
        counts = e["counts"]
        people = {
            p: sum(n for cats in f.values() for n in cats.values()) for p, f in counts.items()
        }
        evs.append(
            {
                "id": e.get("id", f"E{i + 1:03d}"),
                "point": e.get("point", point),
                "place": e.get("point", point),
                "location": e.get("location", location),
                "start": e["start"],
                "end": e["end"],
                "day": e["start"][:10],
                "counts": counts,
                "people": people,
                "transports": [],
            }
        )
    parties = sorted({p for e in events for p in e["counts"]})
    cats = sorted(
        {c for e in events for f in e["counts"].values() for cs in f.values() for c in cs}
    )
    return ExchangePlan(
        status=status,
        parties=parties,
        categories=cats,
        terms=[],
        events=evs,
        totals={},
        days=[],
        conflicts=list(conflicts),
    )


@pytest.fixture
def grid():
    """A 6 × 4 grid of two-way roads near 35°E 47°N."""
    return grid_graph()


@pytest.fixture
def scenario_dict():
    """A fresh copy of the grid scenario as a mapping."""
    import copy

    return copy.deepcopy(GRID_SCENARIO)


@pytest.fixture
def write_scenario(tmp_path):
    """Write a scenario mapping to a YAML file and return its path."""

    def _write(data, name="scenario.yaml"):
        p = tmp_path / name
        p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return p

    return _write


def pytest_collection_modifyitems(config, items):
    if not SHARED.exists():
        skip = pytest.mark.skip(reason="../shared is absent")
        for item in items:
            if "shared" in item.keywords:
                item.add_marker(skip)
