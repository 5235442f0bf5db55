"""Front-line and hazard files as they come: ``where``, ``dissolve``, mixed geometries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely

from planner.errors import ScenarioError
from planner.geofile import value_matches
from planner.network import load_layers, prepare_network
from planner.scenario import parse_scenario

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEEPSTATE_2022_04_03 = (
    SHARED
    / "geodata"
    / "deepstatemaps-history_DanielRose2310"
    / "2022-04-03T1233Z_1648989208.geojson"
)
KSE_2022_09_28 = SHARED / "geodata" / "KSE-Loc-Data-Hub_kse-ua" / "frontline_28092022.geojson"

#: The occupied areas of a 2022 DeepState history file (labels of that year vary).
OCCUPIED_2022 = {"name": ["*окупов*", "ОРДЛО*", "Крим*", "*зайняті ворогом*"]}

EVAC = {
    "assembly_points": [{"id": "a", "location": [35.60, 47.10], "people": {"general": 10}}],
    "reception_centres": [{"id": "r", "location": [35.90, 47.10], "capacity": 10}],
    "fleet": [{"type": "bus", "count": 1, "seats": 10, "groups": ["general"], "start": "r"}],
}
WINDOWS = {"windows": [{"start": "2022-04-04T07:00:00+03:00", "end": "2022-04-04T17:00:00+03:00"}]}


def _scenario(**extra: object) -> object:
    return parse_scenario({"name": "files", "ceasefire": WINDOWS, "evacuation": EVAC, **extra})


def _box(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


@pytest.fixture
def mixed_file(tmp_path: Path) -> Path:
    """A DeepState-like layer: two touching occupied areas (one inside a GeometryCollection
    with a point), a liberated area, a contested one, an attack-direction point and a line."""
    feats = [
        ("Окуповано\u00a0/// Occupied", _box(35.0, 47.0, 35.5, 47.5)),
        (
            "Окуповано",
            {
                "type": "GeometryCollection",
                "geometries": [
                    _box(35.5, 47.0, 36.0, 47.5),
                    {"type": "Point", "coordinates": [35.7, 47.2]},
                ],
            },
        ),
        ("Звільнено 25.03", _box(34.0, 47.0, 35.0, 47.5)),
        ("Під питанням", _box(36.0, 47.0, 36.2, 47.5)),
        ("Напрямок удару", {"type": "Point", "coordinates": [35.2, 47.6]}),
        ("колона", {"type": "LineString", "coordinates": [[34.1, 47.6], [34.5, 47.7]]}),
    ]
    fc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"name": n, "rank": k}, "geometry": g}
            for k, (n, g) in enumerate(feats)
        ],
    }
    path = tmp_path / "occupied.geojson"
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return path


def test_where_matches_labels_as_they_are_written():
    assert value_matches("Окуповано /// Occupied\u00a0/// geoJSON.status.occupied", "окуповано*")
    assert value_matches("ОРДЛО\u00a0", "ОРДЛО")
    assert not value_matches("Звільнено 25.03", "Окуповано*")
    assert (
        value_matches(3, 3.0)
        and not value_matches(None, "x")
        and not value_matches(float("nan"), 1)
    )
    assert value_matches(True, True) and not value_matches("yes", True)


def test_a_closed_hazard_from_a_mixed_file_keeps_only_the_selected_areas(mixed_file: Path):
    sc = _scenario(
        hazards=[
            {
                "id": "occ",
                "kind": "closed",
                "file": str(mixed_file),
                "where": {"name": "Окуповано*"},
                "dissolve": True,
            }
        ]
    )
    layers = load_layers(sc)
    assert list(layers.closed["id"]) == ["occ"]  # dissolved: one area
    area = layers.closed.geometry.iloc[0]
    assert area.equals(shapely.box(35.0, 47.0, 36.0, 47.5))  # both occupied, merged
    assert not area.intersects(shapely.Point(34.5, 47.2))  # the liberated area is out
    assert not area.contains(shapely.Point(36.1, 47.2))  # so is the contested one


def test_without_dissolve_every_feature_is_a_hazard_and_points_and_lines_are_counted(
    mixed_file: Path,
):
    sc = _scenario(hazards=[{"id": "all", "kind": "closed", "file": str(mixed_file)}])
    layers = load_layers(sc)
    assert len(layers.closed) == 4  # four areas; the GeometryCollection's polygon is read
    assert layers.notes == [
        f"hazards.0: {mixed_file}: 1 line, 2 points dropped (only areas are used)"
    ]


def test_the_frontline_is_the_edge_of_the_dissolved_occupied_area(mixed_file: Path):
    where = {"name": ["Окуповано*"]}
    merged = load_layers(
        _scenario(frontline={"file": str(mixed_file), "where": where, "dissolve": True})
    ).frontline
    assert merged.equals(shapely.box(35.0, 47.0, 36.0, 47.5).boundary)
    assert (
        merged.distance(shapely.Point(35.5, 47.25)) > 0.2
    )  # the shared edge is no line of contact
    assert merged.distance(shapely.Point(34.0, 47.25)) > 0.9  # nor the liberated area's far edge
    each = load_layers(_scenario(frontline={"file": str(mixed_file), "where": where})).frontline
    assert each.distance(shapely.Point(35.5, 47.25)) == 0  # without dissolve: each area's edge
    everything = load_layers(_scenario(frontline={"file": str(mixed_file)}))
    assert everything.frontline.distance(shapely.Point(34.0, 47.25)) == 0
    assert everything.notes == [
        f"frontline: {mixed_file}: 2 points dropped (only areas and lines are used)"
    ]


def test_where_errors_name_the_field(mixed_file: Path):
    with pytest.raises(
        ScenarioError,
        match=r"hazards\.0\.where: no property 'label' in the file \(it has: name, rank\)",
    ):
        load_layers(_scenario(hazards=[{"file": str(mixed_file), "where": {"label": "x"}}]))
    with pytest.raises(ScenarioError, match=r"frontline\.where: selects no feature"):
        load_layers(_scenario(frontline={"file": str(mixed_file), "where": {"name": "nothing*"}}))
    with pytest.raises(ScenarioError, match="apply only to a 'file'"):
        _scenario(hazards=[{"polygon": [[35, 47], [36, 47], [36, 48]], "dissolve": True}])
    with pytest.raises(ScenarioError, match="selects no feature"):
        load_layers(_scenario(hazards=[{"file": str(mixed_file), "where": {"rank": [7, 8]}}]))


def test_the_plan_warns_of_dropped_points_and_the_verifier_reads_the_same_areas(mixed_file: Path):
    from planner.evacuation import plan_evacuation
    from planner.verify import verify_plan

    sc = _scenario(
        # the sites are points of the test layer, not towns: the snap limit is widened
        network={"source": "regional", "max_snap_m": 20000},
        hazards=[
            {
                "id": "occ",
                "kind": "closed",
                "file": str(mixed_file),
                "where": {"name": "Окуповано*"},
            }
        ],
        frontline={"file": str(mixed_file)},
    )
    plan = plan_evacuation(sc, workers=1, budget=50, time_limit_s=60)
    assert any("2 points dropped" in w for w in plan.warnings)
    data = json.loads(plan.to_json())
    assert verify_plan(sc, data) == []


# --------------------------------------------------------------------------- real files


@pytest.mark.shared
@pytest.mark.slow
def test_deepstate_history_of_2022_04_03_loads_without_the_liberated_areas():
    """The DeepState history file of 2022-04-03 as the frontline and as a closed hazard, with
    ``where`` picking the occupied areas: no liberated polygon is in the hazard, and no part
    of a liberated polygon's edge away from the occupied areas is on the line of contact."""
    import geopandas as gpd

    if not DEEPSTATE_2022_04_03.is_file():
        pytest.skip(f"{DEEPSTATE_2022_04_03} is absent")
    src = str(DEEPSTATE_2022_04_03)
    sc = _scenario(
        network={"source": "regional", "max_snap_m": 20000},  # the sites are not towns
        frontline={"file": src, "where": OCCUPIED_2022, "dissolve": True},
        hazards=[
            {
                "id": "occupied",
                "kind": "closed",
                "file": src,
                "where": OCCUPIED_2022,
                "dissolve": True,
            }
        ],
    )
    layers = load_layers(sc)
    assert list(layers.closed["id"]) == ["occupied"]
    occupied = layers.closed.geometry.iloc[0]
    raw = gpd.read_file(DEEPSTATE_2022_04_03)
    liberated = raw[raw["name"].str.startswith("Звільнено")].geometry
    assert len(liberated) >= 20
    for poly in liberated:
        assert not occupied.contains(poly.representative_point())
        assert occupied.intersection(poly).area < 0.01 * poly.area
        away = poly.boundary.difference(occupied.buffer(0.03))
        if not away.is_empty:
            assert layers.frontline.distance(away.interpolate(0.5, normalized=True)) > 0.02
    # the occupied GeometryCollections are in: Crimea (Simferopol) and the Kherson sector
    assert occupied.contains(shapely.Point(34.10, 44.96)) and occupied.contains(
        shapely.Point(32.61, 46.64)
    )
    assert not occupied.contains(shapely.Point(36.25, 49.98))  # Kharkiv
    # Read as it comes (no where), the liberated edges would be lines of contact
    plain = load_layers(_scenario(frontline={"file": src}))
    assert any(
        plain.frontline.distance(p.boundary.interpolate(0.5, normalized=True)) < 1e-9
        for p in liberated
    )
    assert plain.notes and "points dropped" in plain.notes[0]
    net = prepare_network(sc)  # on the regional network: Izium and Melitopol are cut off
    assert net.report.closed_edges > 0


@pytest.mark.shared
def test_kse_front_line_loads_as_it_comes():
    if not KSE_2022_09_28.is_file():
        pytest.skip(f"{KSE_2022_09_28} is absent")
    layers = load_layers(_scenario(frontline={"file": str(KSE_2022_09_28)}))
    assert (
        layers.frontline.geom_type in {"LineString", "MultiLineString"}
        and not layers.frontline.has_z
    )
    assert 6 < layers.frontline.length < 40 and layers.notes == []
