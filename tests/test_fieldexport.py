"""Exports for field teams, checked against plan.json: schedule.xlsx (openpyxl), plan.gpkg
(geopandas), sites.csv with HXL hashtags; assembly points read from an HXL-tagged CSV or
XLSX (a KoboToolbox-style registration export), their pcodes kept by every export."""

from __future__ import annotations

import csv
import json
from datetime import datetime

import geopandas as gpd
import openpyxl
import pyogrio
import pytest

from planner.errors import ScenarioError
from planner.export import write_plan_files
from planner.fieldexport import GPKG_LAYERS, RECEPTION_SHEET_COLUMNS, VEHICLE_SHEET_COLUMNS
from planner.hxl import read_assembly_points
from planner.scenario import GROUPS

# A registration export as KoboToolbox writes it with "HXL hashtags" on: labels, then tags;
# one row per household, the same site on several rows.
KOBO_CSV = """\
Site ID,Site,Oblast code,Latitude,Longitude,Children,Persons with disabilities,Injured,Total household members,Notes
#loc+id,#loc+name,#adm4+code,#geo+lat,#geo+lon,#affected+children,#affected+disabled,#affected+injured,#affected+total,#description
a1,School 1,UA23060070010033158,47.0,35.0,12,0,2,50,first floor
a1,School 1,,47.0,35.0,18,0,4,106,
a2,=2+3 Hospital,,47.3,35.1,0,10,0,90,"=HYPERLINK(""x"")"
,,,,,,,,,
"""


@pytest.fixture(scope="module")
def hxl_planned(tmp_path_factory):
    """The grid scenario with its assembly points read from the Kobo CSV, planned and exported."""
    import copy

    from conftest import GRID_SCENARIO
    from synth import grid_graph

    from planner.evacuation import plan_evacuation
    from planner.network import prepare_network
    from planner.scenario import parse_scenario

    folder = tmp_path_factory.mktemp("hxl")
    (folder / "registrations.csv").write_text(KOBO_CSV, encoding="utf-8")
    data = copy.deepcopy(GRID_SCENARIO)
    data["evacuation"]["assembly_points"] = {"file": "registrations.csv"}
    data["evacuation"]["reception_centres"][0]["pcode"] = "UA23060150010020071"
    sc = parse_scenario(data, folder / "scenario.yaml")
    net = prepare_network(sc, graph=grid_graph())
    plan = plan_evacuation(sc, network=net, workers=1, budget=100)
    paths = write_plan_files(plan, folder / "out", scenario=sc)
    return sc, json.loads(paths["plan"].read_text(encoding="utf-8")), paths


def test_hxl_csv_assembly_points_are_summed_by_site(hxl_planned):
    sc, _plan, _paths = hxl_planned
    points = {a.id: a for a in sc.evacuation.assembly_points}
    assert list(points) == ["a1", "a2"]
    a1, a2 = points["a1"], points["a2"]
    assert a1.name == "School 1" and tuple(a1.location) == (35.0, 47.0)
    # the two households of a1: children 12 + 18, wounded 2 + 4, the rest of 50 + 106 general
    assert a1.people.as_dict() == {
        "wounded": 6,
        "children": 30,
        "reduced_mobility": 0,
        "general": 120,
    }
    assert a2.people.as_dict() == {
        "wounded": 0,
        "children": 0,
        "reduced_mobility": 10,
        "general": 80,
    }
    assert a1.pcode == "UA23060070010033158" and a2.pcode is None


def test_hxl_xlsx_reads_like_the_csv(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in csv.reader(KOBO_CSV.splitlines()):
        ws.append(
            [
                float(c)
                if c.replace(".", "").isdigit() and "." in c
                else (int(c) if c.isdigit() else c)
                for c in row
            ]
        )
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text, as a form export holds it
    wb.save(tmp_path / "reg.xlsx")
    assert read_assembly_points(tmp_path / "reg.xlsx") == read_assembly_points(_csv(tmp_path))


def _csv(folder):
    p = folder / "reg.csv"
    p.write_text(KOBO_CSV, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Site,Children\nSchool,4\n", "no HXL hashtag row"),
        (
            "#loc+name,#affected+children\nSchool,four\n",
            "row 2: #affected children: 'four' is not a number",
        ),
        ("#geo+lat,#affected+children\n47,4\n", "needs a site column"),
        (
            "#loc+name,#affected+children,#affected+total\nSchool,5,3\n",
            "3 is less than the groups given (5)",
        ),
        (
            "#loc+name,#geo+lat,#geo+lon,#affected\nSchool,95,35,3\n",
            "row 2: #geo+lat: 95.0 is out of range",
        ),
    ],
)
def test_bad_hxl_files_are_one_clear_line(tmp_path, text, message):
    p = tmp_path / "reg.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError, match="reg.csv") as info:
        read_assembly_points(p)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_every_export_keeps_the_pcode(hxl_planned):
    _sc, plan, paths = hxl_planned
    code, rc_code = "UA23060070010033158", "UA23060150010020071"
    sites = {s["id"]: s for s in plan["sites"]}
    assert (
        sites["a1"]["pcode"] == code
        and sites["r1"]["pcode"] == rc_code
        and sites["a2"]["pcode"] is None
    )
    rows = list(csv.DictReader(paths["schedule"].read_text(encoding="utf-8").splitlines()))
    assert rows[0]["site_pcode"] == "#adm4+code"
    assert {r["site_pcode"] for r in rows[1:] if r["site"] == "a1"} == {code}
    srows = list(csv.DictReader(paths["sites"].read_text(encoding="utf-8").splitlines()))
    assert (
        srows[0]["pcode"] == "#adm4+code"
        and srows[0]["lat"] == "#geo+lat"
        and srows[0]["name"] == "#loc+name"
    )
    assert {r["id"]: r["pcode"] for r in srows[1:]} == {"a1": code, "a2": "", "r1": rc_code}
    geo = json.loads(paths["geojson"].read_text(encoding="utf-8"))
    assert {
        f["properties"]["id"]: f["properties"]["pcode"]
        for f in geo["features"]
        if f["properties"]["feature"] == "site"
    }["a1"] == code
    gsites = gpd.read_file(paths["gpkg"], layer="sites")
    assert dict(zip(gsites["id"], gsites["pcode"], strict=True))["a1"] == code
    wb = openpyxl.load_workbook(paths["xlsx"])
    assert any(
        row[3] == code
        for ws in wb.worksheets[1:]
        for row in ws.iter_rows(min_row=3, values_only=True)
    )
    # scenario text that looks like a formula stays text, in the workbook and in the CSV
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert any(c.value == "=2+3 Hospital" and c.data_type == "s" for c in cells)
    assert all(c.data_type != "f" for c in cells)
    assert {r["site_name"] for r in rows[1:] if r["site"] == "a2"} <= {"'=2+3 Hospital"}


def test_schedule_xlsx_matches_the_plan(hxl_planned):
    _sc, plan, paths = hxl_planned
    wb = openpyxl.load_workbook(paths["xlsx"])
    summary = wb["Summary"]
    table = {
        r[0]: r[1:5]
        for r in summary.iter_rows(min_row=4, max_row=4 + len(GROUPS), values_only=True)
    }
    for g in (*GROUPS, "total"):
        t = plan["totals"]
        assert table[g][:3] == (
            t["requested"].get(g, 0),
            t["evacuated"].get(g, 0),
            t["bound"].get(g, 0),
        ), g
    names = {s["id"]: s["name"] or s["id"] for s in plan["sites"]}
    with_stops = [v for v in plan["vehicles"] if v["stops"]]
    assert wb.sheetnames[1 : 1 + len(with_stops)] == [v["id"] for v in with_stops]
    for v in with_stops:
        ws = wb[v["id"]]
        assert [c.value for c in ws[2]] == VEHICLE_SHEET_COLUMNS
        rows = list(ws.iter_rows(min_row=3, values_only=True))
        assert len(rows) == len(v["stops"])
        for row, st in zip(rows, v["stops"], strict=True):
            assert row[1] == st["site"] and row[2] == names[st["site"]]
            assert row[4] == datetime.fromisoformat(st["arrive"]).replace(tzinfo=None)
            assert row[5] == datetime.fromisoformat(st["depart"]).replace(tzinfo=None)
            assert list(row[6 : 6 + len(GROUPS)]) == [st["board"].get(g, 0) for g in GROUPS]
        assert rows[-1][-1] == 0  # everyone got off
    for rec in plan["receptions"]:
        ws = next(wb[n] for n in wb.sheetnames if n.startswith("rc "))
        assert [c.value for c in ws[2]] == RECEPTION_SHEET_COLUMNS
        arrivals = list(ws.iter_rows(min_row=3, values_only=True))
        assert sum(r[-2] for r in arrivals) == rec["received"] == arrivals[-1][-1]
        assert [r[0] for r in arrivals] == sorted(r[0] for r in arrivals)


def test_plan_gpkg_matches_the_plan(hxl_planned):
    sc, plan, paths = hxl_planned
    assert [name for name, _kind in pyogrio.list_layers(paths["gpkg"])] == list(GPKG_LAYERS)
    sites = gpd.read_file(paths["gpkg"], layer="sites")
    assert sites.crs.to_epsg() == 4326
    assert list(sites["id"]) == [s["id"] for s in plan["sites"]]
    for s, (x, y) in zip(
        plan["sites"], zip(sites.geometry.x, sites.geometry.y, strict=True), strict=True
    ):
        assert (x, y) == pytest.approx(tuple(s["location"]))
    assert int(sites["evacuated_general"].fillna(0).sum()) == plan["totals"]["evacuated"]["general"]
    legs = gpd.read_file(paths["gpkg"], layer="legs")
    all_legs = [(v["id"], leg) for v in plan["vehicles"] for leg in v["legs"]]
    assert len(legs) == len(all_legs)
    assert list(legs["vehicle"]) == [vid for vid, _ in all_legs]
    assert list(legs["people"]) == [sum(leg["load"].values()) for _, leg in all_legs]
    for geom, (_vid, leg) in zip(legs.geometry, all_legs, strict=True):
        assert list(geom.coords)[0] == pytest.approx(tuple(leg["path"][0]))
    hazards = gpd.read_file(paths["gpkg"], layer="hazards")
    assert sorted(hazards["id"]) == sorted(h.id for h in sc.hazards)
    corridors = gpd.read_file(paths["gpkg"], layer="corridors")
    assert int(corridors["people"].sum()) == sum(sum(leg["load"].values()) for _, leg in all_legs)


def test_exports_are_the_same_bytes_when_written_again_later(hxl_planned, tmp_path, monkeypatch):
    """schedule.xlsx and plan.gpkg carry no time of writing: the same plan, the same bytes."""
    import time
    import zipfile

    from planner.plan import read_plan

    sc, _plan, paths = hxl_planned
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 86_400 * 3)  # "three days later"
    plan = read_plan(paths["plan"])
    again = write_plan_files(plan, tmp_path / "again", scenario=sc)
    for kind in ("xlsx", "gpkg"):
        assert again[kind].read_bytes() == paths[kind].read_bytes(), kind
    with zipfile.ZipFile(again["xlsx"]) as z:
        core = z.read("docProps/core.xml").decode()
    first = sc.ceasefire.windows[0].start.replace(tzinfo=None)
    assert f'<dcterms:modified xsi:type="dcterms:W3CDTF">{first:%Y-%m-%dT%H:%M:%S}Z' in core
