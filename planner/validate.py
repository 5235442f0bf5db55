"""Load-time validation of scenario, events and plan files, beyond their pydantic types.

Every input goes through these checks before any work is done, and each failure is one
:class:`~planner.errors.ScenarioError` line: the file, the field path, the value, what is
wrong and what would be right.

- **Numbers**: every number finite (no ``.nan`` / ``.inf``), inside the range of
  :data:`RANGES` for the fields listed there and at most :data:`MAX_MAGNITUDE` anywhere
  else; totals capped (:data:`MAX_PEOPLE_TOTAL`, :data:`MAX_VEHICLES_TOTAL`).
- **Times**: every timestamp carries a timezone offset, wherever it appears.
- **Text**: strings no longer than :func:`max_length` allows for their key.
- **YAML**: aliases may add at most :data:`MAX_ALIAS_NODES` nodes to what the file holds
  (no "billion laughs"), and may not refer to themselves.
- **Geometry**: inline polygons valid (shapely's reason otherwise, unless ``repair: true``);
  layer files in the CRS they declare (reprojected to EPSG:4326), refused when their
  coordinates are projected and they declare none, or when the CRS is unknown; empty
  layers refused.
- **Sites** (:func:`check_sites_near_roads`, once the road network is loaded): every
  assembly point, reception centre, fleet start, exchange facility and exchange point
  within ``network.max_snap_m`` of a road (default :data:`MAX_SNAP_REGIONAL_M` on the
  bundled network, :data:`MAX_SNAP_OSM_M` on OpenStreetMap graphs); crossing points,
  hazards and the line of contact inside the network's extent with a margin of
  :data:`EXTENT_MARGIN_KM`.  A point that would lie near a road with longitude and
  latitude swapped is named as such.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from planner.disruptions import parse_disruptions
from planner.errors import PlanFormatError, ScenarioError
from planner.scenario_base import location_lonlat

if TYPE_CHECKING:
    import geopandas as gpd
    from shapely.geometry.base import BaseGeometry

    from planner.network import EdgeTable
    from planner.scenario import Scenario

MAX_MAGNITUDE = 1e9
"""No number in an input file may exceed this in magnitude (where no range is listed)."""
MAX_PEOPLE_TOTAL = 10_000_000
MAX_VEHICLES_TOTAL = 10_000
MAX_DETAINEES_TOTAL = 1_000_000
MAX_HORIZON_DAYS = 366
MAX_ALIAS_NODES = 10_000
MAX_SNAP_REGIONAL_M = 2_000.0
MAX_SNAP_OSM_M = 500.0
EXTENT_MARGIN_KM = 50.0


@dataclass(frozen=True)
class Range:
    """The accepted values of a numeric field.

    Attributes
    ----------
    pattern
        Dotted field path; ``*`` stands for any list index or mapping key.
    low, high
        Bounds; ``low_open`` makes the lower bound strict.
    integer
        Whole numbers only.
    what
        Words for the README table.
    """

    pattern: str
    low: float
    high: float
    what: str
    integer: bool = False
    low_open: bool = False

    def regex(self) -> re.Pattern[str]:
        parts = [r"[^.]+" if p == "*" else re.escape(p) for p in self.pattern.split(".")]
        return re.compile(r"^" + r"\.".join(parts) + r"$")

    def describe(self) -> str:
        """The range in words: ``a whole number from 0 to 10,000``."""
        kind = "a whole number" if self.integer else "a number"
        if self.low_open:
            return f"{kind} greater than {_num(self.low)} and at most {_num(self.high)}"
        return f"{kind} from {_num(self.low)} to {_num(self.high)}"

    def accepts(self, value: float) -> bool:
        if self.integer and not float(value).is_integer():
            return False
        low_ok = value > self.low if self.low_open else value >= self.low
        return low_ok and value <= self.high


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


_PEOPLE = "evacuation.assembly_points.*.people.*"
RANGES: tuple[Range, ...] = (
    Range(_PEOPLE, 0, 1_000_000, "people of one group at an assembly point", integer=True),
    Range(
        "evacuation.assembly_points.from_osm.people.*",
        0,
        MAX_PEOPLE_TOTAL,
        "people of one group shared over OSM features",
        integer=True,
    ),
    Range(
        "evacuation.assembly_points.*.households.count",
        1,
        1_000_000,
        "households at an assembly point",
        integer=True,
    ),
    Range(
        "evacuation.assembly_points.*.households.sizes.*",
        0,
        1_000_000,
        "households of one size",
        integer=True,
    ),
    Range(
        "evacuation.assembly_points.*.households.members.*",
        0,
        100,
        "mean members of one group per household",
    ),
    Range(
        "evacuation.assembly_points.*.households.companions",
        0,
        2,
        "companions per wounded member",
        integer=True,
    ),
    Range(
        "evacuation.reception_centres.*.capacity",
        0,
        MAX_PEOPLE_TOTAL,
        "people a reception centre takes",
        integer=True,
    ),
    Range("evacuation.fleet.*.count", 0, MAX_VEHICLES_TOTAL, "vehicles of one type", integer=True),
    Range(
        "evacuation.fleet.*.seats",
        0,
        1_000,
        "seats per vehicle (0: a convoy's lead vehicle)",
        integer=True,
    ),
    Range("evacuation.priorities.*", 0, 1_000_000, "priority weight of a group", low_open=True),
    Range("evacuation.boarding_s_per_person", 0, 3_600, "boarding seconds per person"),
    Range("evacuation.stop_min", 0, 1_440, "minutes at a pickup stop"),
    Range("evacuation.unload_min", 0, 1_440, "minutes to unload at a reception centre"),
    Range(
        "evacuation.max_wait_loaded_min",
        0,
        10_080,
        "longest wait with passengers on board, minutes",
    ),
    Range("network.speeds_kph.*", 0, 300, "road speed, km/h", low_open=True),
    Range(
        "network.max_snap_m",
        0,
        100_000,
        "farthest a site may lie from a road, metres",
        low_open=True,
    ),
    Range("ceasefire.crossing_points.*.delay_min", 0, 10_080, "delay at a crossing point, minutes"),
    Range(
        "ceasefire.crossing_points.*.vehicles_per_hour",
        0,
        10_000,
        "vehicles a crossing point passes per hour",
        low_open=True,
    ),
    Range(
        "ceasefire.crossing_points.*.radius_m",
        0,
        100_000,
        "radius of a crossing point, metres",
        low_open=True,
    ),
    Range("ceasefire.approach_km", 0, 100, "roads off the corridors near a site, km"),
    Range(
        "ceasefire.corridors.*.width_m",
        0,
        50_000,
        "width of an agreed corridor, metres",
        low_open=True,
    ),
    Range(
        "ceasefire.corridors.*.checkpoints.*.stop_min",
        0,
        1_440,
        "stop at a corridor checkpoint, minutes",
    ),
    Range(
        "ceasefire.convoys.*.max_vehicles",
        1,
        MAX_VEHICLES_TOTAL,
        "vehicles in one convoy",
        integer=True,
    ),
    Range(
        "ceasefire.convoys.*.max_speed_kph", 0, 300, "speed cap of a convoy, km/h", low_open=True
    ),
    Range("ceasefire.convoys.*.gap_min", 0, 1_440, "minutes between convoy vehicles"),
    Range("hazards.*.factor", 1, 1_000, "cost factor of a risk area", low_open=True),
    Range("disruptions.*.probability", 0, 1, "probability of a disruption"),
    Range(
        "disruptions.window_cut.max_hours", 0, 720, "longest cut of a window, hours", low_open=True
    ),
    Range(
        "disruptions.crossing_delay.mean_min",
        0,
        10_080,
        "mean extra delay at a crossing, minutes",
        low_open=True,
    ),
    Range(
        "disruptions.road_closure.segment_km", 0, 1_000, "road cell of a closure, km", low_open=True
    ),
    Range(
        "exchange.facilities.*.buses", 0, MAX_VEHICLES_TOTAL, "buses of a facility", integer=True
    ),
    Range("exchange.facilities.*.seats", 1, 1_000, "seats per bus of a facility", integer=True),
    Range(
        "exchange.detainees.*.counts.*.*",
        0,
        MAX_DETAINEES_TOTAL,
        "detainees of a category at a facility",
        integer=True,
    ),
    Range("exchange.categories.*", 0, 1_000_000, "weight of a category", low_open=True),
    Range(
        "exchange.exchange_points.*.handovers_per_hour",
        0,
        100_000,
        "people handed over per hour",
        low_open=True,
    ),
    Range(
        "exchange.exchange_points.*.max_per_event",
        1,
        MAX_DETAINEES_TOTAL,
        "people in one event",
        integer=True,
    ),
    Range(
        "exchange.exchange_points.*.event_min",
        1,
        1_440,
        "length of an event slot, minutes",
        integer=True,
    ),
    Range(
        "exchange.terms.max_per_event",
        1,
        MAX_DETAINEES_TOTAL,
        "people in one event (terms)",
        integer=True,
    ),
    Range(
        "exchange.terms.max_per_day",
        1,
        2 * MAX_DETAINEES_TOTAL,
        "people per day, both sides (terms)",
        integer=True,
    ),
    Range(
        "exchange.terms.parity.tolerance",
        0,
        MAX_DETAINEES_TOTAL,
        "parity tolerance, people",
        integer=True,
    ),
    Range("exchange.terms.ratio.*", 0, 1_000_000, "share of a party in a ratio", low_open=True),
    Range("exchange.transfer_buffer_min", 0, 1_440, "minutes transfers arrive before an event"),
    Range("events.*.hazard.factor", 1, 1_000, "cost factor of a risk area (events)", low_open=True),
    Range("events.*.window.index", 0, 10_000, "window index (events)", integer=True),
)
"""Documented ranges of numeric fields (the README's table of accepted ranges)."""

_COMPILED = [(r, r.regex()) for r in RANGES]

_LONG_TEXT = {"description", "notes", "comment"}
_PATH_TEXT = {"file", "roster", "source", "overpass_url", "layer", "url"}
_ID_TEXT = {
    "id",
    "type",
    "party",
    "facility",
    "site",
    "start",
    "vehicle_lost",
    "close_crossing",
    "corridor",
}
_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def max_length(key: str) -> int:
    """Longest text accepted under ``key``: ids 100, names 200, paths 4,096, descriptions
    10,000, anything else 1,000 characters."""
    if key in _LONG_TEXT:
        return 10_000
    if key in _PATH_TEXT:
        return 4_096
    if key in _ID_TEXT:
        return 100
    if key == "name":
        return 200
    return 1_000


# --------------------------------------------------------------------------- YAML


class _CappedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that remembers where the first alias is."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.first_alias: Any = None

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _value in node.value:
                if (
                    isinstance(key_node, yaml.ScalarNode)
                    and key_node.tag != "tag:yaml.org,2002:merge"
                ):
                    key = (key_node.tag, key_node.value)
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None,
                            None,
                            f"key {key_node.value!r} appears twice in one mapping",
                            key_node.start_mark,
                        )
                    seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.first_alias is None and self.check_event(yaml.AliasEvent):
            self.first_alias = self.peek_event().start_mark
        return super().compose_node(parent, index)


def _sizes(obj: Any) -> tuple[int, int]:
    """(values the file holds, values once aliases are expanded); RecursionError on a cycle."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(o: Any) -> int:
        if not isinstance(o, dict | list):
            return 1
        key = id(o)
        if key in memo:
            return memo[key]
        if key in active:
            raise RecursionError
        active.add(key)
        children = [*o.keys(), *o.values()] if isinstance(o, dict) else o
        total = 1 + sum(size(c) for c in children)
        active.discard(key)
        memo[key] = total
        return total

    expanded = size(obj)
    distinct = 0
    seen: set[int] = set()
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, dict | list):
            if id(o) in seen:
                continue
            seen.add(id(o))
            stack.extend([*o.keys(), *o.values()] if isinstance(o, dict) else o)
        distinct += 1
    return distinct, expanded


def load_yaml_text(text: str, source: str) -> Any:
    """Parse YAML safely, capping what aliases may expand to.

    Raises
    ------
    ScenarioError
        Not valid YAML (with line and column), an alias that refers to itself, or aliases
        that expand to more than :data:`MAX_ALIAS_NODES` nodes beyond what the file holds.
    """
    loader = _CappedLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(source, "", f"not valid YAML: {where}{problem}") from None
    except RecursionError:
        raise ScenarioError(source, "", "not valid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    mark = loader.first_alias
    if mark is None:
        return data
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    try:
        distinct, expanded = _sizes(data)
    except RecursionError:
        raise ScenarioError(
            source, "", f"YAML alias at {where} refers to itself; write the value out"
        ) from None
    if expanded - distinct > MAX_ALIAS_NODES:
        raise ScenarioError(
            source,
            "",
            f"YAML aliases (first at {where}) expand to {expanded:,} values, {expanded - distinct:,} more than "
            f"the file holds (at most {MAX_ALIAS_NODES:,} more); write the values out or use fewer aliases",
        )
    return data


# --------------------------------------------------------------------------- raw data


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _walk(obj: Any, path: str, source: str, active: set[int]) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, dict | list):
        if id(obj) in active:
            raise ScenarioError(source, path, "refers to itself (a recursive YAML alias)")
        active.add(id(obj))
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for k, v in items:
            if isinstance(k, str) and len(k) > 100:
                raise ScenarioError(
                    source, path, f"a key of {len(k):,} characters; keys are at most 100"
                )
            yield from _walk(v, f"{path}.{k}" if path else str(k), source, active)
        active.discard(id(obj))
    else:
        yield path, obj


def _check_value(source: str, path: str, key: str, value: Any) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ScenarioError(
            source, path, f"{value} is not a number a plan can use; give a finite number"
        )
    if isinstance(value, int | float):
        for rule, rx in _COMPILED:
            if rx.match(path):
                if not rule.accepts(float(value)):
                    raise ScenarioError(
                        source, path, f"{_short(value)} is out of range; give {rule.describe()}"
                    )
                return
        if abs(value) > MAX_MAGNITUDE:
            raise ScenarioError(
                source,
                path,
                f"{_short(value)} is too large; numbers here are at most {_num(MAX_MAGNITUDE)}",
            )
    elif isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ScenarioError(
                source,
                path,
                f"{value.isoformat()} has no timezone; give an offset, e.g. {value.isoformat()}+02:00",
            )
    elif isinstance(value, str):
        cap = max_length(key)
        if len(value) > cap:
            raise ScenarioError(
                source, path, f"text of {len(value):,} characters; at most {cap:,} here"
            )
        if _NAIVE.match(value.strip()):
            raise ScenarioError(
                source,
                path,
                f"{value!r} has no timezone; give an offset, e.g. {value.strip()}+02:00",
            )


def check_raw(data: Any, source: str | Path, prefix: str = "") -> None:
    """Check every value of a parsed file: finite numbers in range, aware times, short text.

    Parameters
    ----------
    data
        The parsed YAML or JSON.
    source
        The file, for messages.
    prefix
        Field path of ``data`` itself (``events`` for an events file).

    Raises
    ------
    ScenarioError
        The first value that is wrong.
    """
    src = str(source)
    for path, value in _walk(data, prefix, src, set()):
        _check_value(src, path, _key_of(path), value)


def _key_of(path: str) -> str:
    parts = [p for p in path.split(".") if not p.isdigit()]
    return parts[-1] if parts else ""


def check_raw_scenario(data: Any, source: str | Path) -> None:
    """:func:`check_raw` plus the totals of a scenario mapping."""
    check_raw(data, source)
    if not isinstance(data, dict):
        return
    ev = data.get("evacuation")
    if isinstance(ev, dict):
        points = ev.get("assembly_points")
        if isinstance(points, list):
            total = sum(_people(p) for p in points)
            if total > MAX_PEOPLE_TOTAL:
                raise ScenarioError(
                    str(source),
                    "evacuation.assembly_points",
                    f"{total:,} people in all; at most {MAX_PEOPLE_TOTAL:,}",
                )
        fleet = ev.get("fleet")
        if isinstance(fleet, list):
            counts = [v.get("count") for v in fleet if isinstance(v, dict)]
            numbers = [c for c in counts if isinstance(c, int) and not isinstance(c, bool)]
            if sum(numbers) > MAX_VEHICLES_TOTAL:
                raise ScenarioError(
                    str(source),
                    "evacuation.fleet",
                    f"{sum(numbers):,} vehicles in all; at most {MAX_VEHICLES_TOTAL:,}",
                )
            if counts and len(numbers) == len(counts) and sum(numbers) == 0:
                raise ScenarioError(
                    str(source),
                    "evacuation.fleet",
                    "every count is 0, so no vehicle can move anyone; give at least one vehicle",
                )


def _people(point: Any) -> int:
    if not isinstance(point, dict) or not isinstance(point.get("people"), dict):
        return 0
    return sum(
        v for v in point["people"].values() if isinstance(v, int) and not isinstance(v, bool)
    )


# --------------------------------------------------------------------------- the scenario


def polygon_problem(geom: BaseGeometry) -> str | None:
    """Why a polygon is unusable (shapely's reason when it is invalid), or ``None``."""
    import shapely

    if geom is None or geom.is_empty:
        return "is empty"
    if geom.geom_type not in {"Polygon", "MultiPolygon"}:
        return f"is a {geom.geom_type}, not a Polygon or MultiPolygon"
    if not geom.is_valid:
        return f"is not a valid polygon ({shapely.is_valid_reason(geom)}); fix it or set 'repair: true'"
    return None


def check_scenario(scenario: Scenario) -> None:
    """Checks of a validated scenario that need more than one field.

    Inline hazard polygons valid (unless ``repair: true``), the windows' horizon at most
    :data:`MAX_HORIZON_DAYS` days.

    Raises
    ------
    ScenarioError
    """

    src = scenario.source_name()
    for i, h in enumerate(scenario.hazards):
        if h.polygon is None and h.geometry is None:
            continue
        field = f"hazards.{i}.polygon" if h.polygon is not None else f"hazards.{i}.geometry"
        try:
            geom = h.inline_geometry()
        except ValueError as exc:
            raise ScenarioError(src, field, str(exc)) from None
        if h.polygon is None:
            check_lonlat_bounds(src, field, geom.bounds)
        problem = polygon_problem(geom)
        if problem and not (
            getattr(h, "repair", False)
            and geom.geom_type in {"Polygon", "MultiPolygon"}
            and not geom.is_empty
        ):
            raise ScenarioError(src, field, problem)
    if scenario.disruptions is not None:
        parse_disruptions(scenario)  # a misspelt disruption is an error at load, not at sweep
    windows = scenario.ceasefire.windows
    span = (max(w.end for w in windows) - min(w.start for w in windows)).total_seconds() / 86_400
    if span > MAX_HORIZON_DAYS:
        raise ScenarioError(
            src,
            "ceasefire.windows",
            f"span {span:,.0f} days; at most {MAX_HORIZON_DAYS} (check the years)",
        )


def check_lonlat_bounds(source: str, field: str, bounds: tuple[float, float, float, float]) -> None:
    """Refuse coordinates outside -180..180 / -90..90 (projected ones, or a swap)."""
    w, s, e, n = bounds
    if not (
        math.isfinite(w) and math.isfinite(e) and w >= -180 and e <= 180 and s >= -90 and n <= 90
    ):
        raise ScenarioError(
            source,
            field,
            f"coordinates reach ({_num(round(w, 4))}, {_num(round(s, 4))}) .. ({_num(round(e, 4))}, {_num(round(n, 4))}), "
            "outside WGS84 longitude -180..180 and latitude -90..90; give [lon, lat] in degrees",
        )


def check_layer(gdf: gpd.GeoDataFrame, source: str, field: str, path: Path) -> gpd.GeoDataFrame:
    """A layer read from a file, in EPSG:4326, or a one-line error.

    GDAL reads every GeoJSON file as EPSG:4326 whatever its ``crs`` member says when it
    cannot make sense of it, and assumes EPSG:4326 when there is none; so the member is read
    here too: a CRS that is not known is refused, and so are coordinates that cannot be
    degrees in a file that declares no CRS.

    Parameters
    ----------
    gdf
        As ``geopandas.read_file`` gave it.
    source, field
        Scenario file and field (``hazards.0.file``) for messages.
    path
        The layer file.

    Raises
    ------
    ScenarioError
        Empty layer; unknown CRS; projected coordinates without a CRS.
    """
    if len(gdf) == 0 or all(g is None or g.is_empty for g in gdf.geometry):
        raise ScenarioError(
            source, field, f"{path.name} holds no features; give a layer with at least one geometry"
        )
    declared = geojson_crs_name(path)
    if declared is not None:
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            crs = CRS.from_user_input(declared)
        except CRSError:
            raise ScenarioError(
                source,
                field,
                f"{path.name} declares the CRS {declared!r}, which is not known; use an EPSG code such as EPSG:4326",
            ) from None
        if gdf.crs is None or not gdf.crs.equals(crs):
            gdf = gdf.set_crs(crs, allow_override=True)
    w, s, e, n = (float(x) for x in gdf.total_bounds)
    in_degrees = w >= -180 and e <= 180 and s >= -90 and n <= 90
    if gdf.crs is None or (declared is None and path.suffix.lower() in {".geojson", ".json"}):
        if not in_degrees:
            raise ScenarioError(
                source,
                field,
                f"{path.name} has coordinates up to {_num(round(max(abs(w), abs(e), abs(s), abs(n))))}, so they are "
                "projected (metres?), but it declares no CRS; add its CRS or reproject it to EPSG:4326",
            )
        gdf = gdf.set_crs(4326, allow_override=True)
    elif gdf.crs.to_epsg() != 4326:
        try:
            gdf = gdf.to_crs(4326)
        except Exception as exc:  # pyproj raises several types
            raise ScenarioError(
                source, field, f"{path.name}: cannot reproject from {gdf.crs} to EPSG:4326: {exc}"
            ) from None
    west, south, east, north = (float(x) for x in gdf.total_bounds)
    check_lonlat_bounds(source, field, (west, south, east, north))
    return gdf


def geojson_crs_name(path: Path) -> str | None:
    """The CRS named by a GeoJSON file's top-level ``crs`` member, or ``None`` (other formats too)."""
    import json

    if path.suffix.lower() not in {".geojson", ".json"}:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    crs = doc.get("crs") if isinstance(doc, dict) else None
    if not isinstance(crs, dict):
        return None
    props = crs.get("properties")
    name = props.get("name") if isinstance(props, dict) else None
    return str(name) if name is not None else "(a crs member without a name)"


# --------------------------------------------------------------------------- sites and roads

_EARTH_M = 6_371_008.8
_ROADS: weakref.WeakKeyDictionary[Any, tuple[Any, np.ndarray, np.ndarray, np.ndarray]] = (
    weakref.WeakKeyDictionary()
)


def _road_nodes(table: EdgeTable) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """KD-tree (unit sphere) over the nodes of the largest strongly connected part of the
    roads as loaded (before any cut), their lon and lat, and which edges lie in that part."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    cached = _ROADS.get(table.graph)
    if cached is not None and len(cached[3]) == len(table.u):
        return cached
    n = len(table.x)
    inside = np.ones(n, dtype=bool)
    if len(table.u):
        m = csr_matrix((np.ones(len(table.u)), (table.u, table.v)), shape=(n, n))
        _, labels = connected_components(m, directed=True, connection="strong")
        inside = labels == np.bincount(labels).argmax()
    lon, lat = table.x[inside], table.y[inside]
    out = (cKDTree(_xyz(lon, lat)), lon, lat, inside[table.u] & inside[table.v])
    _ROADS[table.graph] = out
    return out


def _xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    lo1, la1, lo2, la2 = (math.radians(v) for v in (*a, *b))
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return 2 * _EARTH_M * math.asin(min(1.0, math.sqrt(h)))


def road_distance_m(table: EdgeTable, point: tuple[float, float], limit: float) -> float:
    """Distance in metres from ``(lon, lat)`` to the nearest road (an edge of the largest
    strongly connected part of the roads as loaded), exact enough to compare with ``limit``.

    The nearest node answers when it lies within ``limit``; otherwise the edges near the
    point are measured, and only when none is within ``limit`` all of them (an error path).
    """
    import shapely
    import shapely.ops

    tree, _lon, _lat, edge_in = _road_nodes(table)
    chord, _ = tree.query(_xyz(np.array([point[0]]), np.array([point[1]])))
    node_d = float(2 * _EARTH_M * np.arcsin(min(1.0, float(np.atleast_1d(chord)[0]) / 2)))
    if node_d <= limit or not edge_in.any():
        return node_d
    p = shapely.Point(point)

    def nearest(edges: np.ndarray) -> float:
        geoms = table.geom_of(edges)
        i = int(np.argmin(shapely.distance(geoms, p)))
        q = shapely.ops.nearest_points(geoms[i], p)[0]
        return _metres(point, (q.x, q.y))

    dlat = limit / 111_000.0
    dlon = dlat / max(0.05, math.cos(math.radians(min(85.0, abs(point[1])))))
    _gi, near = table.query(
        np.array([shapely.box(point[0] - dlon, point[1] - dlat, point[0] + dlon, point[1] + dlat)])
    )
    near = near[edge_in[near]]
    if len(near) and (d := nearest(near)) <= limit:
        return d
    return min(node_d, nearest(np.flatnonzero(edge_in)))


def max_snap_m(scenario: Scenario) -> float:
    """``network.max_snap_m``, or its default: 2,000 m on the bundled network, 500 m on OSM graphs."""
    spec = scenario.network
    given = getattr(spec, "max_snap_m", None)
    if given is not None:
        return float(given)
    regional = spec.source == "regional" and spec.place is None and spec.bbox is None
    return MAX_SNAP_REGIONAL_M if regional else MAX_SNAP_OSM_M


def scenario_sites(scenario: Scenario) -> list[tuple[str, tuple[float, float]]]:
    """Every site a vehicle must reach, as (field path, (lon, lat)): assembly points,
    reception centres, fleet starts given as locations, exchange facilities and points."""
    out: list[tuple[str, tuple[float, float]]] = []
    ev = scenario.evacuation
    if ev is not None:
        points = ev.assembly_points if isinstance(ev.assembly_points, list) else []
        out += [
            (f"evacuation.assembly_points.{i}.location", location_lonlat(a.location))
            for i, a in enumerate(points)
        ]
        out += [
            (f"evacuation.reception_centres.{i}.location", location_lonlat(r.location))
            for i, r in enumerate(ev.reception_centres)
        ]
        out += [
            (f"evacuation.fleet.{i}.start", location_lonlat(v.start))
            for i, v in enumerate(ev.fleet)
            if not isinstance(v.start, str)
        ]
    ex = scenario.exchange
    if ex is not None:
        located = {
            "facilities": [f.location for f in ex.facilities],
            "exchange_points": [p.location for p in ex.exchange_points],
        }
        for key, locations in located.items():
            out += [
                (f"exchange.{key}.{i}.location", location_lonlat(loc))
                for i, loc in enumerate(locations)
            ]
    return out


def _far_message(ll: tuple[float, float], dist: float, limit: float, swapped: float | None) -> str:
    where = f"[{_num(round(ll[0], 5))}, {_num(round(ll[1], 5))}]"
    km = f"{dist / 1000:,.1f} km" if dist >= 10_000 else f"{dist:,.0f} m"
    msg = f"{where} is {km} from the nearest road of the network (network.max_snap_m is {_num(limit)} m)"
    if swapped is not None:
        return f"{msg}; longitude and latitude look swapped: [{_num(round(ll[1], 5))}, {_num(round(ll[0], 5))}] is {swapped:,.0f} m from a road (coordinates are [lon, lat])"
    return f"{msg}; move the site onto a road, load a network that covers it, or raise network.max_snap_m"


def check_sites_near_roads(scenario: Scenario, table: EdgeTable) -> None:
    """Refuse a site farther than ``network.max_snap_m`` from every road of the network.

    Raises
    ------
    ScenarioError
        Naming the site's field and its distance (and a lon/lat swap when that explains it).
    """
    if len(table.x) == 0:
        return
    limit = max_snap_m(scenario)
    for field, ll in scenario_sites(scenario):
        d = road_distance_m(table, ll, limit)
        if d <= limit:
            continue
        swapped = None
        if -180 <= ll[1] <= 180 and -90 <= ll[0] <= 90:
            ds = road_distance_m(table, (ll[1], ll[0]), limit)
            swapped = ds if ds <= limit else None
        raise ScenarioError(scenario.source_name(), field, _far_message(ll, d, limit, swapped))


def _extent(table: EdgeTable) -> tuple[float, float, float, float]:
    _tree, lon, lat, _edges = _road_nodes(table)
    dlat = EXTENT_MARGIN_KM / 111.0
    mid = math.radians(float(np.clip((lat.min() + lat.max()) / 2, -85, 85)))
    dlon = EXTENT_MARGIN_KM / (111.0 * max(0.05, math.cos(mid)))
    return (
        float(lon.min()) - dlon,
        float(lat.min()) - dlat,
        float(lon.max()) + dlon,
        float(lat.max()) + dlat,
    )


def check_layers_in_extent(scenario: Scenario, table: EdgeTable, layers: Any) -> None:
    """Refuse crossing points outside the network's extent widened by :data:`EXTENT_MARGIN_KM`,
    and hazards or a line of contact wholly outside it that would lie over it with longitude
    and latitude swapped (a hazard merely far away changes nothing and is allowed).

    Raises
    ------
    ScenarioError
    """
    if len(table.x) == 0:
        return
    w, s, e, n = _extent(table)
    src = scenario.source_name()
    box = f"the network's extent [{w + 0:.2f}, {s:.2f}] .. [{e:.2f}, {n:.2f}] (with a {EXTENT_MARGIN_KM:g} km margin)"

    def outside(b: tuple[float, float, float, float]) -> bool:
        return b[2] < w or b[0] > e or b[3] < s or b[1] > n

    for i, c in enumerate(scenario.ceasefire.crossing_points):
        lon, lat = location_lonlat(c.location)
        if outside((lon, lat, lon, lat)):
            hint = (
                "; longitude and latitude look swapped" if not outside((lat, lon, lat, lon)) else ""
            )
            raise ScenarioError(
                src,
                f"ceasefire.crossing_points.{i}.location",
                f"[{_num(round(lon, 5))}, {_num(round(lat, 5))}] lies outside {box}{hint}",
            )
    # a hazard far from every road is allowed (it changes nothing), unless it would lie over
    # the network with longitude and latitude swapped back
    for frame in (layers.closed, layers.risk):
        for rec in frame.itertuples(index=False):
            b = rec.geometry.bounds
            if outside(b) and not outside((b[1], b[0], b[3], b[2])):
                raise ScenarioError(
                    src,
                    str(rec.field),
                    f"hazard {rec.id!r} lies wholly outside {box}; longitude and latitude look swapped",
                )
    fl = layers.frontline
    if (
        fl is not None
        and not fl.is_empty
        and outside(b := fl.bounds)
        and not outside((b[1], b[0], b[3], b[2]))
    ):
        raise ScenarioError(
            src,
            "frontline",
            f"the line of contact lies wholly outside {box}; longitude and latitude look swapped",
        )


# --------------------------------------------------------------------------- events and plans


def check_events(data: Any, source: str | Path) -> None:
    """Raw checks of an events file (numbers, times, text) and its inline hazard polygons.

    Raises
    ------
    ScenarioError
    """
    import shapely

    check_raw(data, source)
    events = data.get("events") if isinstance(data, dict) else None
    for i, e in enumerate(events if isinstance(events, list) else []):
        hz = e.get("hazard") if isinstance(e, dict) else None
        poly = hz.get("polygon") if isinstance(hz, dict) else None
        if (
            not isinstance(poly, list)
            or len(poly) < 3
            or (isinstance(hz, dict) and hz.get("repair") is True)
        ):
            continue
        try:
            ring = [(float(p[0]), float(p[1])) for p in poly]
        except (TypeError, ValueError, IndexError, KeyError):
            continue  # the types are pydantic's to report
        problem = polygon_problem(shapely.Polygon([*ring, ring[0]]))
        if problem:
            raise ScenarioError(str(source), f"events.{i}.hazard.polygon", problem)


def check_plan_scenario(data: Any, path: str | Path, scenario: Scenario) -> None:
    """Refuse a plan file that is not a plan, or a plan of another scenario.

    Raises
    ------
    PlanFormatError
        One line naming the plan file.
    """
    if not isinstance(data, dict):
        raise PlanFormatError(
            f"{path}: not a plan (the file holds a {type(data).__name__}, not a JSON object)"
        )
    name = data.get("scenario")
    if not isinstance(name, str):
        raise PlanFormatError(f"{path}: scenario: missing; not a plan written by planner plan")
    if name != scenario.name:
        raise PlanFormatError(
            f"{path}: scenario: this plan is of scenario {name!r}, not of {scenario.name!r} ({scenario.source_name()})"
        )


def check_events_against_plan(events: list[Any], source: str | Path, plan: Any) -> None:
    """Every ``vehicle_lost`` names a vehicle of the plan being carried out.

    Raises
    ------
    ScenarioError
    """
    ids = [v.id for v in plan.vehicles]
    for i, e in enumerate(events):
        lost = getattr(e, "vehicle_lost", None)
        if lost is not None and lost not in ids:
            shown = ", ".join(ids[:6]) + (f" and {len(ids) - 6} more" if len(ids) > 6 else "")
            raise ScenarioError(
                str(source),
                f"events.{i}.vehicle_lost",
                f"{lost!r} is not a vehicle of the plan ({shown or 'it has none'})",
            )


def check_scheduler(address: str, timeout_s: float) -> None:
    """Make sure a dask scheduler address answers a TCP connection within ``timeout_s``.

    Raises
    ------
    PlannerError
        One line naming the address and what went wrong.
    """
    import socket
    from urllib.parse import urlparse

    from planner.errors import PlannerError

    url = urlparse(address if "://" in address else f"tcp://{address}")
    if url.scheme not in {"tcp", "tls"}:
        return
    try:
        host, port = url.hostname, url.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise PlannerError(f"--scheduler {address}: give tcp://HOST:PORT")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except TimeoutError:
        raise PlannerError(
            f"--scheduler {address}: no answer within {timeout_s:g} s (--connect-timeout)"
        ) from None
    except OSError as exc:
        raise PlannerError(
            f"--scheduler {address}: cannot connect ({exc.strerror or exc}); start a dask scheduler there or leave --scheduler out"
        ) from None
