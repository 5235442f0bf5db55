"""Load OpenStreetMap road graphs: OSM XML, PBF, GraphML, or an Overpass download.

Every loader returns the same kind of graph, an osmnx-style ``networkx.MultiDiGraph``:

* graph attribute ``crs`` is ``EPSG:4326`` (unprojected), nodes carry ``x`` (lon) / ``y`` (lat);
* only drivable ways are kept (the same rules for XML, PBF and downloads, following osmnx's
  ``drive`` / ``drive_service`` filters, which pyrosm's ``driving`` filter also follows);
* every edge has ``length`` (m), ``highway`` (one string), ``speed_kph`` and ``travel_time`` (s).

Speeds come from the ``maxspeed`` tag where it can be read, else from
:data:`DEFAULT_SPEEDS_KPH` per highway class (merged with the caller's overrides), through
``osmnx.add_edge_speeds`` and ``osmnx.add_edge_travel_times``.

PBF files are read with pyrosm (a dependency-light reader that returns GeoDataFrames and an
osmnx-compatible networkx graph, with the same driving filter as osmnx). Downloads go through
osmnx to the Overpass API (``PLANNER_OVERPASS_URL``) and, for place names, to Nominatim
(``PLANNER_NOMINATIM_URL``); answers are cached under ``<cache_folder>/overpass`` so a second
run does not download again.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import math
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import networkx as nx
import osmnx as ox
import requests
from osmnx._errors import InsufficientResponseError, ResponseStatusCodeError

from planner.errors import NetworkError
from planner.files import publish, temporary_path
from planner.settings import get_settings

log = logging.getLogger(__name__)

#: Default free-flow speeds (km/h) per OSM ``highway`` class, used where ``maxspeed`` is
#: missing or unreadable. Conservative values for evacuation traffic; ``*_link`` roads are
#: the parent class minus 20 km/h.
DEFAULT_SPEEDS_KPH: dict[str, float] = {
    "motorway": 110.0,
    "motorway_link": 90.0,
    "trunk": 90.0,
    "trunk_link": 70.0,
    "primary": 70.0,
    "primary_link": 50.0,
    "secondary": 60.0,
    "secondary_link": 40.0,
    "tertiary": 50.0,
    "tertiary_link": 30.0,
    "unclassified": 40.0,
    "residential": 30.0,
    "living_street": 10.0,
    "service": 20.0,
    "road": 30.0,
    "track": 15.0,
}

#: Speed (km/h) for a highway class that is neither in the defaults nor in the overrides.
FALLBACK_SPEED_KPH = 30.0

#: Supported ``network_type`` values (osmnx names).
NETWORK_TYPES = ("drive", "drive_service", "all")

_XML_SUFFIXES = (".osm", ".osm.gz", ".osm.bz2", ".xml", ".xml.gz", ".xml.bz2")
_PBF_SUFFIXES = (".pbf",)
_GRAPHML_SUFFIXES = (".graphml",)

# Highway values that are never part of a road network (as in osmnx and pyrosm).
_ALWAYS_EXCLUDED_HIGHWAY = frozenset(
    {
        "abandoned",
        "construction",
        "no",
        "planned",
        "platform",
        "proposed",
        "raceway",
        "razed",
        "rest_area",
        "services",
    }
)
# Highway values that cars cannot use (osmnx "drive" plus pyrosm's busway/ladder/trail).
_NOT_DRIVABLE_HIGHWAY = frozenset(
    {
        "bridleway",
        "bus_guideway",
        "busway",
        "corridor",
        "cycleway",
        "elevator",
        "escalator",
        "footway",
        "ladder",
        "path",
        "pedestrian",
        "steps",
        "track",
        "trail",
    }
)
_EXCLUDED_SERVICE = frozenset({"emergency_access", "parking", "parking_aisle", "private"})
# Access tags for cars, most specific first: the first one present decides.
_CAR_ACCESS_KEYS = ("motorcar", "motor_vehicle", "vehicle", "access")
_CLOSED_ACCESS = frozenset({"no", "private"})
# Way tags osmnx must keep from XML/Overpass data so the filter can read them.
_FILTER_TAGS = ("highway", "area", "service", "access", "motorcar", "motor_vehicle", "vehicle")
# A simplified edge never merges across a change of these (as pyrosm does).
_EDGE_ATTRS_DIFFER = ("highway", "maxspeed")


# --------------------------------------------------------------------------- public API


def load_osm_graph(
    source: str | Path | None = None,
    *,
    place: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    speeds_kph: Mapping[str, float] | None = None,
    overpass_url: str | None = None,
    network_type: str = "drive",
    retain_all: bool = False,
) -> nx.MultiDiGraph:
    """Load a drivable OSM road graph from a file or download it through Overpass.

    Parameters
    ----------
    source
        A file: ``.osm`` / ``.osm.gz`` / ``.osm.bz2`` / ``.xml`` (OSM XML, read by
        ``osmnx.graph_from_xml``), ``.osm.pbf`` (read by pyrosm) or ``.graphml`` (read by
        ``osmnx.load_graphml``). Give either ``source``, ``place`` or ``bbox``.
    place
        A place name geocoded by Nominatim (``"Zaporizhzhia, Ukraine"``); its roads are
        downloaded from Overpass.
    bbox
        ``(west, south, east, north)`` in degrees; its roads are downloaded from Overpass.
    speeds_kph
        Speeds per highway class that override :data:`DEFAULT_SPEEDS_KPH`.
    overpass_url
        Overpass API base URL (``https://overpass-api.de/api``); defaults to
        ``get_settings().overpass_url`` (``PLANNER_OVERPASS_URL``).
    network_type
        ``"drive"`` (default: public roads without service roads), ``"drive_service"``
        (also service roads other than parking aisles and private ones) or ``"all"``
        (every highway in use, private ones included).
    retain_all
        Keep every connected piece; by default only the largest weakly connected one.

    Returns
    -------
    networkx.MultiDiGraph
        osmnx-style graph in EPSG:4326 whose edges have ``length`` (m), ``highway``,
        ``speed_kph`` and ``travel_time`` (s).

    Raises
    ------
    NetworkError
        Missing or unreadable file, unknown suffix, no drivable road, or a failed download
        (one line, e.g. when offline).
    """
    if network_type not in NETWORK_TYPES:
        raise NetworkError(
            f"unknown network_type {network_type!r}; use one of {', '.join(NETWORK_TYPES)}"
        )
    speeds = _merged_speeds(speeds_kph)
    given = sum(x is not None for x in (source, place, bbox))
    if given != 1:
        raise NetworkError("give exactly one road network source: a file, a place or a bbox")

    if source is not None:
        label = str(source)
        graph = _load_file(Path(source), network_type, retain_all)
    else:
        if bbox is not None:
            bbox = _check_bbox(bbox)
        label = _area_label(place, bbox)
        graph = _download(
            place=place, bbox=bbox, overpass_url=overpass_url, network_type=network_type
        )
        graph = _finish_raw_graph(graph, network_type, retain_all, label=label)

    graph = _normalise(graph, label)
    _add_speeds(graph, speeds)
    log.info(
        "road graph from %s: %d nodes, %d edges",
        label,
        graph.number_of_nodes(),
        graph.number_of_edges(),
    )
    return graph


def fetch_osm_graph(
    output: str | Path,
    *,
    place: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    overpass_url: str | None = None,
    network_type: str = "drive",
) -> nx.MultiDiGraph:
    """Download a road graph and save it as GraphML, atomically.

    The file is written next to ``output`` under a temporary name and then moved into
    place with ``os.replace``, so a failed run never leaves a half-written graph.

    Parameters
    ----------
    output
        The GraphML file to write (its folder is created if needed).
    place, bbox, overpass_url, network_type
        As in :func:`load_osm_graph`; give ``place`` or ``bbox``.

    Returns
    -------
    networkx.MultiDiGraph
        The graph that was saved.

    Raises
    ------
    NetworkError
        Neither/both of ``place`` and ``bbox``, a failed download, or an unwritable output.
    """
    if (place is None) == (bbox is None):
        raise NetworkError("give either a place or a bbox to fetch")
    graph = load_osm_graph(
        place=place, bbox=bbox, overpass_url=overpass_url, network_type=network_type
    )
    output = Path(output)
    tmp_name: str | None = None
    try:
        tmp_name = str(temporary_path(output))
        ox.save_graphml(graph, filepath=tmp_name)
        publish(tmp_name, output)
        tmp_name = None
    except OSError as exc:
        raise NetworkError(f"cannot write {output}: {exc.strerror or exc}") from exc
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
    log.info("saved road graph to %s", output)
    return graph


def graph_info(graph: nx.MultiDiGraph) -> dict[str, Any]:
    """Summarise a road graph.

    Parameters
    ----------
    graph
        An osmnx-style graph (node ``x``/``y`` in degrees, edge ``length`` in metres).

    Returns
    -------
    dict
        ``nodes`` and ``edges`` (counts), ``extent`` (``(west, south, east, north)``, or
        ``None`` for an empty graph), ``largest_scc_share`` (share of nodes in the largest
        strongly connected component, 0..1) and ``length_km`` (sum of edge lengths).
    """
    n = graph.number_of_nodes()
    xs = [float(d["x"]) for _, d in graph.nodes(data=True) if "x" in d]
    ys = [float(d["y"]) for _, d in graph.nodes(data=True) if "y" in d]
    extent = (min(xs), min(ys), max(xs), max(ys)) if xs and ys else None
    largest = max((len(c) for c in nx.strongly_connected_components(graph)), default=0)
    length_m = sum(float(d.get("length", 0.0) or 0.0) for _, _, d in graph.edges(data=True))
    return {
        "nodes": n,
        "edges": graph.number_of_edges(),
        "extent": extent,
        "largest_scc_share": largest / n if n else 0.0,
        "length_km": length_m / 1000.0,
    }


def format_graph_info(info: Mapping[str, Any]) -> str:
    """Render :func:`graph_info` as a few human-readable lines (for ``planner osm info``).

    Parameters
    ----------
    info
        The dictionary :func:`graph_info` returns.

    Returns
    -------
    str
        Lines without a trailing newline.
    """
    extent = info.get("extent")
    ext = "W {:.5f}  S {:.5f}  E {:.5f}  N {:.5f}".format(*extent) if extent else "(empty graph)"
    return "\n".join(
        [
            f"nodes:                    {info['nodes']:,}",
            f"edges:                    {info['edges']:,}",
            f"extent:                   {ext}",
            f"largest strongly connected share: {info['largest_scc_share']:.1%}",
            f"total length:             {info['length_km']:,.1f} km",
        ]
    )


# --------------------------------------------------------------------------- files


def _suffix_kind(path: Path) -> str | None:
    name = path.name.lower()
    for kind, suffixes in (
        ("xml", _XML_SUFFIXES),
        ("pbf", _PBF_SUFFIXES),
        ("graphml", _GRAPHML_SUFFIXES),
    ):
        if name.endswith(suffixes):
            return kind
    return None


def _load_file(path: Path, network_type: str, retain_all: bool) -> nx.MultiDiGraph:
    kind = _suffix_kind(path)
    if kind is None:
        raise NetworkError(
            f"{path}: unknown road network format; use .osm, .osm.gz, .osm.bz2, .xml, "
            ".osm.pbf or .graphml"
        )
    if not path.is_file():
        raise NetworkError(f"{path}: road network file not found")
    log.info("reading road network %s (%s)", path, kind)
    if kind == "xml":
        with _osmnx_settings(useful_tags_way=_useful_tags_way()):
            graph = _read(path, "OSM XML", ox.graph_from_xml, path, simplify=False, retain_all=True)
        return _finish_raw_graph(graph, network_type, retain_all, label=str(path))
    if kind == "pbf":
        graph = _read_pbf(path, network_type)
        return _keep_components(graph, retain_all, label=str(path))
    return _read(path, "GraphML", ox.load_graphml, path)


def _read(path: Path, what: str, func: Any, *args: Any, **kwargs: Any) -> nx.MultiDiGraph:
    """Call a third-party reader and turn any failure into a one-line NetworkError."""
    try:
        return func(*args, **kwargs)
    except NetworkError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is "cannot read the file"
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NetworkError(f"{path}: cannot read {what}: {detail}") from exc


def _read_pbf(path: Path, network_type: str) -> nx.MultiDiGraph:
    import pyrosm  # local import: pyrosm is slow to import and only needed for PBF

    pyrosm_type = {"drive": "driving", "drive_service": "driving+service", "all": "all"}[
        network_type
    ]

    def read() -> nx.MultiDiGraph | None:
        osm = pyrosm.OSM(str(path))
        result = osm.get_network(nodes=True, network_type=pyrosm_type)
        if result is None:
            return None
        nodes, edges = result
        if edges is None or len(edges) == 0:
            return None
        # pyrosm simplifies (not across a change of highway or maxspeed) and makes the graph
        # osmnx-compatible: osmid keys, x/y, oneway/reversed, length in metres.
        return osm.to_graph(nodes, edges, graph_type="networkx", retain_all=True, progress=False)

    graph = _read(path, "OSM PBF", read)
    if graph is None or graph.number_of_edges() == 0:
        raise NetworkError(f"{path}: no drivable roads ({network_type}) in the file")
    # Drop pyrosm extras that osmnx graphs do not have (and that GraphML cannot round-trip).
    for _, data in graph.nodes(data=True):
        data.pop("geometry", None)
    for _, _, data in graph.edges(data=True):
        data.pop("u", None)
        data.pop("v", None)
    graph.graph["crs"] = "EPSG:4326"
    graph.graph["simplified"] = True
    return graph


# --------------------------------------------------------------------------- downloads


def _area_label(place: str | None, bbox: tuple[float, float, float, float] | None) -> str:
    if place is not None or bbox is None:
        return repr(place)
    return "bbox ({:.5f}, {:.5f}, {:.5f}, {:.5f})".format(*bbox)


def _overpass_base(url: str) -> str:
    """osmnx wants the API base; accept ``.../api/interpreter`` too."""
    url = url.strip().rstrip("/")
    for tail in ("/interpreter", "/status"):
        if url.endswith(tail):
            url = url[: -len(tail)]
    return url


def _reachable(url: str, timeout: float) -> bool:
    """Whether a TCP connection to the URL's host can be opened (sends no HTTP request)."""
    parts = urlparse(url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _download(
    *,
    place: str | None,
    bbox: tuple[float, float, float, float] | None,
    overpass_url: str | None,
    network_type: str,
) -> nx.MultiDiGraph:
    settings = get_settings()
    url = _overpass_base(overpass_url or settings.overpass_url)
    nominatim_url = settings.nominatim_url
    cache = Path(settings.cache_folder) / "overpass"
    label = _area_label(place, bbox)
    # osmnx asks <url>/status before a download and, when that fails, sleeps 60 s before
    # failing anyway; skip the rate-limit check when the server cannot even be reached
    # (a cached answer is still used, and an uncached one fails at once).
    online = _reachable(url, timeout=min(5.0, settings.http_timeout_s))
    if not online:
        log.info("Overpass server %s unreachable; only the cache can answer", url)
    overrides = {
        "overpass_url": url,
        "nominatim_url": nominatim_url,
        "use_cache": True,
        "cache_only_mode": False,
        "cache_folder": str(cache),
        "requests_timeout": settings.http_timeout_s,
        "overpass_rate_limit": online,
        "useful_tags_way": _useful_tags_way(),
    }
    # simplify/filter happen afterwards, the same way as for files
    kwargs: dict[str, Any] = {
        "network_type": network_type,
        "simplify": False,
        "retain_all": True,
    }
    try:
        with _osmnx_settings(**overrides):
            if place is not None:
                return ox.graph_from_place(place, **kwargs)
            assert bbox is not None  # load_osm_graph gives exactly one of place and bbox
            return ox.graph_from_bbox(bbox, **kwargs)
    except requests.exceptions.RequestException as exc:
        if place is None:
            where, env = url, "PLANNER_OVERPASS_URL"
        else:
            where = f"{url} (Nominatim: {nominatim_url})"
            env = "PLANNER_OVERPASS_URL / PLANNER_NOMINATIM_URL"
        raise NetworkError(
            f"cannot download roads for {label} from {where}: offline? "
            f"({type(exc).__name__}); check {env} or use a saved .graphml/.osm file"
        ) from exc
    except InsufficientResponseError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "empty answer"
        raise NetworkError(f"cannot download roads for {label} from {url}: {first}") from exc
    except ResponseStatusCodeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "bad HTTP status"
        raise NetworkError(f"cannot download roads for {label} from {url}: {first}") from exc
    except TypeError as exc:
        if place is None:
            raise
        # osmnx: the place geocoded to a point, not an area
        raise NetworkError(
            f"cannot download roads for {label}: Nominatim did not return an area for it; "
            "try a bbox"
        ) from exc


def _check_bbox(bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in bbox)
    except (TypeError, ValueError) as exc:
        raise NetworkError(f"bbox must be (west, south, east, north), got {bbox!r}") from exc
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise NetworkError(
            f"bbox must be (west, south, east, north) in degrees with west < east and "
            f"south < north, got {bbox!r}"
        )
    return west, south, east, north


@contextlib.contextmanager
def _osmnx_settings(**overrides: Any) -> Iterator[None]:
    """Set ``osmnx.settings`` values for the duration of a block, then restore them."""
    saved = {name: getattr(ox.settings, name) for name in overrides}
    try:
        for name, value in overrides.items():
            setattr(ox.settings, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(ox.settings, name, value)


def _useful_tags_way() -> list[str]:
    tags = list(ox.settings.useful_tags_way)
    return tags + [t for t in _FILTER_TAGS if t not in tags]


# --------------------------------------------------------------------------- filtering


def _first(value: Any) -> Any:
    """The first element of a list (or of a list written as a string), else the value."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        with contextlib.suppress(ValueError, SyntaxError):
            value = ast.literal_eval(value)
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _tag_values(value: Any) -> set[str]:
    """The values of an OSM tag: ``"private;delivery"`` or a list gives several."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return set()
    items = value if isinstance(value, (list, tuple)) else [value]
    out: set[str] = set()
    for item in items:
        out.update(part.strip() for part in str(item).split(";") if part.strip())
    return out


def is_drivable(tags: Mapping[str, Any], network_type: str = "drive") -> bool:
    """Whether a way with these tags belongs to the road network of ``network_type``.

    Follows osmnx's ``drive`` / ``drive_service`` / ``all`` Overpass filters and pyrosm's
    ``driving`` filter (which also drops busways, ladders and trails, and reads the car
    access tags from the most specific one: ``motorcar``, ``motor_vehicle``, ``vehicle``,
    ``access``).

    Parameters
    ----------
    tags
        The way's (or edge's) OSM tags; ``highway`` is required.
    network_type
        ``"drive"``, ``"drive_service"`` or ``"all"``.

    Returns
    -------
    bool
        True when the way is kept.
    """
    highway = _tag_values(tags.get("highway"))
    if not highway or highway & _ALWAYS_EXCLUDED_HIGHWAY:
        return False
    if "yes" in _tag_values(tags.get("area")):
        return False
    if network_type == "all":
        return True
    if highway & _NOT_DRIVABLE_HIGHWAY:
        return False
    for key in _CAR_ACCESS_KEYS:
        values = _tag_values(tags.get(key))
        if values:
            if values & _CLOSED_ACCESS:
                return False
            break
    service = _tag_values(tags.get("service"))
    if network_type == "drive":
        return "service" not in highway and not service & (
            _EXCLUDED_SERVICE | {"alley", "driveway"}
        )
    return not service & _EXCLUDED_SERVICE


def _finish_raw_graph(
    graph: nx.MultiDiGraph, network_type: str, retain_all: bool, *, label: str
) -> nx.MultiDiGraph:
    """Filter an unsimplified osmnx graph to drivable ways, then simplify it."""
    drop = [
        (u, v, k)
        for u, v, k, d in graph.edges(keys=True, data=True)
        if not is_drivable(d, network_type)
    ]
    graph.remove_edges_from(drop)
    graph.remove_nodes_from([n for n in list(graph.nodes) if graph.degree(n) == 0])
    for _, _, data in graph.edges(data=True):
        for tag in _FILTER_TAGS:
            if tag not in ox.settings.useful_tags_way:
                data.pop(tag, None)
    if graph.number_of_edges() == 0:
        raise NetworkError(f"{label}: no drivable roads ({network_type}) in the data")
    graph = _keep_components(graph, retain_all, label=label)
    return ox.simplify_graph(graph, edge_attrs_differ=list(_EDGE_ATTRS_DIFFER))


def _keep_components(graph: nx.MultiDiGraph, retain_all: bool, *, label: str) -> nx.MultiDiGraph:
    if retain_all or graph.number_of_nodes() == 0:
        return graph
    largest = max(nx.weakly_connected_components(graph), key=len)
    if len(largest) < graph.number_of_nodes():
        log.info(
            "%s: keeping the largest connected road network (%d of %d nodes)",
            label,
            len(largest),
            graph.number_of_nodes(),
        )
        graph = graph.subgraph(largest).copy()
    return graph


# --------------------------------------------------------------------------- attributes


def _merged_speeds(overrides: Mapping[str, float] | None) -> dict[str, float]:
    speeds = dict(DEFAULT_SPEEDS_KPH)
    for hwy, value in (overrides or {}).items():
        try:
            kph = float(value)
        except (TypeError, ValueError) as exc:
            raise NetworkError(
                f"speed for highway {hwy!r} must be a number, got {value!r}"
            ) from exc
        if not math.isfinite(kph) or kph <= 0:
            raise NetworkError(f"speed for highway {hwy!r} must be positive, got {value!r}")
        speeds[str(hwy)] = kph
    return speeds


def _normalise(graph: nx.MultiDiGraph, label: str) -> nx.MultiDiGraph:
    """Make any loaded graph osmnx-style: EPSG:4326, x/y, length, one highway string."""
    if graph.number_of_edges() == 0:
        raise NetworkError(f"{label}: the road graph has no edges")
    crs = graph.graph.get("crs")
    if crs is not None and ox.projection.is_projected(crs):
        graph = ox.project_graph(graph, to_latlong=True)
    graph.graph["crs"] = "EPSG:4326"
    for node, data in graph.nodes(data=True):
        if "x" not in data or "y" not in data:
            raise NetworkError(f"{label}: node {node} has no x/y coordinates")
        data["x"] = float(data["x"])
        data["y"] = float(data["y"])
    missing_length = []
    for u, v, k, data in graph.edges(keys=True, data=True):
        hwy = _first(data.get("highway"))
        data["highway"] = str(hwy) if hwy not in (None, "") else "road"
        length = data.get("length")
        if length is None or (isinstance(length, float) and math.isnan(length)):
            missing_length.append((u, v, k))
    if missing_length:
        ox.distance.add_edge_lengths(graph, edges=missing_length)
    return graph


def _add_speeds(graph: nx.MultiDiGraph, speeds: Mapping[str, float]) -> None:
    """Set ``speed_kph`` (maxspeed, else per class) and ``travel_time`` on every edge."""
    for _, _, data in graph.edges(data=True):
        # recomputed from the tags each time, so scenario overrides apply to GraphML too
        data.pop("speed_kph", None)
        data.pop("travel_time", None)
    ox.add_edge_speeds(graph, hwy_speeds=dict(speeds), fallback=FALLBACK_SPEED_KPH)
    ox.add_edge_travel_times(graph)


# --------------------------------------------------------------------------- features


def features_from_file(path: str | Path, tags: Mapping[str, Any]) -> Any:
    """OSM features matching ``tags`` from an XML (``.osm``, compressed too) or ``.pbf`` file.

    Parameters
    ----------
    path
        The OSM file.
    tags
        osmnx-style tag filter, e.g. ``{"amenity": ["school", "hospital"]}`` or
        ``{"building": True}``.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 features with their tags as columns (empty when none match).

    Raises
    ------
    NetworkError
        If the file is missing or cannot be read.
    """
    import geopandas as gpd

    path = Path(path)
    if not path.exists():
        raise NetworkError(f"{path}: file not found")
    kind = _suffix_kind(path)
    try:
        if kind == "pbf":
            import pyrosm

            osm = pyrosm.OSM(str(path))
            custom = {k: (True if v is True else list(_tag_values(v))) for k, v in tags.items()}
            gdf = osm.get_data_by_custom_criteria(
                custom_filter=custom,
                filter_type="keep",
                keep_nodes=True,
                keep_ways=True,
                keep_relations=True,
            )
            if gdf is None:
                return gpd.GeoDataFrame(geometry=[], crs=4326)
            return gdf.set_crs(4326, allow_override=True)
        if kind != "xml":
            raise NetworkError(
                f"{path}: OSM features need an .osm/.osm.gz/.osm.bz2 or .osm.pbf file"
            )
        with _plain_xml(path) as plain:
            try:
                gdf = ox.features_from_xml(plain, tags=dict(tags))
            except InsufficientResponseError:
                return gpd.GeoDataFrame(geometry=[], crs=4326)
        return gdf.reset_index()
    except NetworkError:
        raise
    except Exception as exc:  # parsers raise many types; the user needs one line
        raise NetworkError(
            f"{path}: cannot read OSM features: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


@contextlib.contextmanager
def _plain_xml(path: Path) -> Iterator[Path]:
    """The file itself, or a decompressed temporary copy of a .gz / .bz2 file."""
    name = path.name.lower()
    if not name.endswith((".gz", ".bz2")):
        yield path
        return
    import bz2
    import gzip

    opener = gzip.open if name.endswith(".gz") else bz2.open
    fd, tmp = tempfile.mkstemp(suffix=".osm")
    try:
        with os.fdopen(fd, "wb") as out, opener(path, "rb") as src:
            shutil.copyfileobj(src, out)
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


def assembly_points_from_osm(
    path: str | Path,
    tags: Mapping[str, Any],
    people: Mapping[str, int],
    share: str = "even",
) -> list[dict[str, Any]]:
    """Assembly points at OSM features, with people shared out among them.

    Parameters
    ----------
    path
        OSM file holding the features (and the buildings, for ``building_area``).
    tags
        Which features become assembly points, e.g. ``{"amenity": ["school", "hospital"]}``.
    people
        People per group to share out.
    share
        ``even`` (equal shares) or ``building_area`` (in proportion to the floor area of
        the buildings nearest each point: its catchment).

    Returns
    -------
    list of dict
        ``{id, name, location, people}`` mappings, ordered by id; shares are whole people
        by the largest-remainder rule, so every group's total is kept exactly.
    """
    import numpy as np
    from scipy.spatial import cKDTree

    feats = features_from_file(path, tags)
    if len(feats) == 0:
        raise NetworkError(f"{path}: no OSM feature matches {dict(tags)}")
    pts = feats.geometry.representative_point()
    ids: list[str] = []
    names: list[str | None] = []
    for i, row in enumerate(feats.itertuples(index=False)):
        osmid = getattr(row, "id", None)
        osmid = osmid if osmid is not None else i
        value = next(
            (str(getattr(row, k)) for k in tags if isinstance(getattr(row, k, None), str)), "site"
        )
        ids.append(f"{value}-{osmid}")
        nm = getattr(row, "name", None)
        names.append(nm if isinstance(nm, str) else None)
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])[order]
    ids = [ids[i] for i in order]
    names = [names[i] for i in order]
    if share == "building_area":
        blds = features_from_file(path, {"building": True})
        blds = blds[blds.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
        weights = np.zeros(len(ids))
        if len(blds):
            area = blds.to_crs(blds.estimate_utm_crs()).area.to_numpy()
            c = blds.geometry.representative_point()
            scale = np.cos(np.radians(float(np.mean(xy[:, 1]))))
            _, near = cKDTree(xy * [scale, 1.0]).query(np.column_stack([c.x * scale, c.y]))
            np.add.at(weights, near, area)
        if weights.sum() <= 0:
            weights = np.ones(len(ids))
    elif share == "even":
        weights = np.ones(len(ids))
    else:
        raise NetworkError(f"unknown share rule {share!r} (use even or building_area)")
    split = {g: _largest_remainder(int(n), weights) for g, n in people.items()}
    return [
        {
            "id": ids[i],
            "name": names[i],
            "location": [round(float(xy[i, 0]), 7), round(float(xy[i, 1]), 7)],
            "people": {g: int(split[g][i]) for g in people},
        }
        for i in range(len(ids))
    ]


def _largest_remainder(total: int, weights: Any) -> list[int]:
    import numpy as np

    w = np.asarray(weights, dtype=float)
    exact = total * w / w.sum()
    base = np.floor(exact).astype(int)
    left = total - int(base.sum())
    order = np.lexsort((np.arange(len(w)), -(exact - base)))
    base[order[:left]] += 1
    return base.tolist()
