"""Exports: GPX tracks, GeoJSON, driver sheets and the Markdown summary, and no roster
names in any file."""

from __future__ import annotations

import csv
import json

import geopandas as gpd
import gpxpy
import pytest
import shapely
from shapely.geometry import shape

from planner.export import (
    DRIVER_COLUMNS,
    driver_sheets,
    plan_geojson,
    routes_gpx,
    summary_markdown,
    write_plan_files,
)

ROSTER = ["Oleksandr Hnatiuk", "Serhii Marchenko", "Ivan Ivanovich Petrov"]


def readable_text(path) -> str:
    """All the text of an export: the cells of a workbook, the attributes of a GeoPackage."""
    if path.suffix == ".xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(path)
        return " ".join(
            str(c)
            for ws in wb.worksheets
            for row in ws.iter_rows(values_only=True)
            for c in row
            if c is not None
        )
    if path.suffix == ".gpkg":
        import pyogrio

        return " ".join(
            gpd.read_file(path, layer=name).drop(columns="geometry").astype(str).to_csv()
            for name, _kind in pyogrio.list_layers(path)
        )
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def planned():
    """The grid scenario and its plan (budgeted search, one worker: the same every run)."""
    from conftest import GRID_SCENARIO
    from synth import grid_graph

    from planner.evacuation import plan_evacuation
    from planner.network import prepare_network
    from planner.scenario import parse_scenario

    sc = parse_scenario(GRID_SCENARIO)
    net = prepare_network(sc, graph=grid_graph())
    return sc, net, plan_evacuation(sc, network=net, workers=1, budget=100)


@pytest.fixture(scope="module")
def written(planned, tmp_path_factory):
    sc, _net, plan = planned
    folder = tmp_path_factory.mktemp("exports")
    return folder, write_plan_files(plan, folder, scenario=sc)


def test_every_file_is_written_atomically(written):
    folder, paths = written
    for kind in ("plan", "schedule", "gpx", "geojson", "summary"):
        assert paths[kind].is_file() and paths[kind].stat().st_size > 0, kind
    assert paths["drivers"].is_dir()
    assert not [p for p in folder.rglob(".*")]


def test_gpx_has_one_track_per_used_vehicle_with_the_plans_coordinates(planned, written):
    _sc, _net, plan = planned
    gpx = gpxpy.parse(written[1]["gpx"].read_text(encoding="utf-8"))
    used = [v for v in plan.vehicles if v.legs]
    assert [t.name for t in gpx.tracks] == [v.id for v in used]
    for track, v in zip(gpx.tracks, used, strict=True):
        assert len(track.segments) == len(v.legs)
        for seg, leg in zip(track.segments, v.legs, strict=True):
            assert [(round(p.longitude, 7), round(p.latitude, 7)) for p in seg.points] == [
                (round(x, 7), round(y, 7)) for x, y in leg.path
            ]
            times = [p.time for p in seg.points]
            assert (
                times == sorted(times)
                and times[0].isoformat() == leg.depart
                and times[-1].isoformat() == leg.arrive
            )
    assert len(gpx.waypoints) == sum(len(v.stops) for v in used)
    names = {s.id: s.name or s.id for s in plan.sites}
    first = used[0].stops[0]
    assert gpx.waypoints[0].name == f"{used[0].id} 1: {names[first.site]}"
    assert gpx.waypoints[0].type == used[0].id


def test_geojson_is_valid_and_round_trips_through_geopandas(planned, written):
    _sc, _net, plan = planned
    path = written[1]["geojson"]
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["type"] == "FeatureCollection" and "crs" not in data
    for f in data["features"]:
        assert f["type"] == "Feature" and set(f) == {"type", "geometry", "properties"}
        geom = shape(f["geometry"])
        assert geom.is_valid and not geom.is_empty
        minx, miny, maxx, maxy = geom.bounds
        assert -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90
    legs = [f for f in data["features"] if f["properties"]["feature"] == "leg"]
    assert len(legs) == sum(len(v.legs) for v in plan.vehicles)
    assert sum(f["properties"]["people"] for f in legs) == plan.evacuated_total()
    gdf = gpd.read_file(path)
    assert len(gdf) == len(data["features"]) and gdf.crs.to_epsg() == 4326
    gleg = gdf[gdf["feature"] == "leg"].reset_index(drop=True)
    for row, f in zip(gleg.itertuples(), legs, strict=True):
        assert row.vehicle == f["properties"]["vehicle"] and row.people == f["properties"]["people"]
        assert shapely.equals_exact(row.geometry, shape(f["geometry"]), 1e-9)
    sites = gdf[gdf["feature"] == "site"]
    assert set(sites["id"]) == {s.id for s in plan.sites}
    assert int(sites["evacuated"].fillna(0).sum()) == plan.evacuated_total()


def test_driver_sheets_add_up_to_the_plans_totals(planned, written):
    _sc, _net, plan = planned
    folder = written[1]["drivers"]
    used = [v for v in plan.vehicles if v.legs]
    assert sorted(p.name for p in folder.glob("*.csv")) == sorted(f"{v.id}.csv" for v in used)
    boarded = alighted = 0
    receptions = {s.id for s in plan.sites if s.kind == "reception"}
    for v in used:
        with (folder / f"{v.id}.csv").open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert list(rows[0]) == DRIVER_COLUMNS
        hxl = rows.pop(0)  # the HXL hashtag row under the header
        assert hxl["stop"] == "#loc+name" and hxl["time"] == "#date"
        assert rows[0]["action"] == "depart"
        assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
        assert all(int(r["on_board"]) >= 0 for r in rows) and int(rows[-1]["on_board"]) == 0
        boarded += sum(int(r["people"]) for r in rows if r["action"] == "board")
        alighted += sum(
            int(r["people"]) for r in rows if r["action"] == "alight" and r["site"] in receptions
        )
    assert boarded == alighted == plan.evacuated_total()


def test_summary_is_the_cli_table_in_markdown(planned, written):
    _sc, _net, plan = planned
    md = written[1]["summary"].read_text(encoding="utf-8")
    assert md.startswith(f"# {plan.scenario} (seed {plan.seed}): {plan.status}")
    assert "| group | requested | evacuated | bound | evacuated / bound |" in md
    t = plan.totals
    assert (
        f"| **total** | **{t.requested['total']:,}** | **{t.evacuated['total']:,}** | **{t.bound['total']:,}** |"
        in md
    )
    assert f"vehicles used {plan.vehicles_used}/{plan.vehicles_total}" in md
    for u in plan.unserved:
        assert f"{u.people:,} {u.group} at {u.site}" in md


def test_hostile_names_stay_text(planned, tmp_path):
    _sc, _net, plan = planned
    plan = plan.model_copy(deep=True)
    plan.sites[0].name = '=HYPERLINK("http://x")<script>alert(1)</script>|x'
    plan.unserved[0].detail = "<img src=x onerror=alert(1)> | pipe" if plan.unserved else ""
    md = summary_markdown(plan)
    assert "<script>" not in md and "<img" not in md
    gpx = gpxpy.parse(routes_gpx(plan))
    assert any(
        "<script>alert(1)</script>" in (w.name or "") for w in gpx.waypoints
    )  # XML-escaped, read back intact
    sheets = driver_sheets(plan)
    text = "".join(sheets.values())
    if plan.sites[0].id in text:
        assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    assert (
        json.loads(json.dumps(plan_geojson(plan)))["features"][0]["properties"]["name"]
        == plan.sites[0].name
    )


def test_stale_driver_sheets_are_removed(planned, tmp_path):
    sc, _net, plan = planned
    (tmp_path / "drivers").mkdir()
    (tmp_path / "drivers" / "old-bus-9.csv").write_text("time\n")
    write_plan_files(plan, tmp_path, scenario=sc)
    assert not (tmp_path / "drivers" / "old-bus-9.csv").exists()


def test_no_roster_names_in_any_file(planned, tmp_path):
    """Names cannot ride in the scenario or in the exchange schedule, and the exports and the
    map of a plan with an exchange carry none."""
    from conftest import GRID_SCENARIO, exchange_plan
    from pydantic import ValidationError

    from planner.errors import ScenarioError
    from planner.exchange_result import ExchangePlan
    from planner.render import render_map
    from planner.scenario import parse_scenario

    data = json.loads(json.dumps(GRID_SCENARIO))
    # names given in the scenario itself, outside a roster file, are refused when it is read
    inline = {
        "parties": ["A", "B"],
        "rosters": {
            "A": [{"name": ROSTER[0], "category": "civilians"}],
            "B": [{"name": ROSTER[1]}, {"name": ROSTER[2]}],
        },
    }
    with pytest.raises(ScenarioError, match=r"exchange\."):
        parse_scenario({**data, "exchange": inline})
    sc = parse_scenario(data)
    _sc, net, plan = planned
    plan = plan.model_copy(deep=True)
    event = {
        "start": "2022-03-16T10:00:00+02:00",
        "end": "2022-03-16T11:00:00+02:00",
        "counts": {"A": {"f1": {"civilians": 1}}, "B": {"f2": {"civilians": 2}}},
    }
    # the typed schedule has no place for names: an event that carries them is refused
    carrying = exchange_plan([event]).model_dump(mode="json")
    carrying["events"][0]["released"] = {"A": [ROSTER[0]], "B": ROSTER[1:]}
    with pytest.raises(ValidationError, match="released"):
        ExchangePlan.model_validate(carrying)
    plan.exchange = exchange_plan([event])
    write_plan_files(plan, tmp_path, scenario=sc)
    render_map(sc, plan, net.layers, tmp_path / "map.html")
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "plan.json"]
    assert {p.name for p in files} >= {
        "schedule.csv",
        "routes.gpx",
        "plan.geojson",
        "summary.md",
        "map.html",
    }
    for p in files:
        text = readable_text(p)
        for name in ROSTER:
            assert name not in text and name.split()[-1] not in text, f"{name} in {p.name}"
    # the exchange itself is there, as counts
    assert "| 1 | 2022-03-16T10:00:00+02:00 |" in (tmp_path / "summary.md").read_text(
        encoding="utf-8"
    )
    ex = [
        f
        for f in json.loads((tmp_path / "plan.geojson").read_text())["features"]
        if f["properties"]["feature"] == "exchange"
    ]
    assert ex and ex[0]["properties"]["people"] == 3
