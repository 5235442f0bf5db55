"""Front-line and hazard files as they come: feature selection, polygon extraction, dissolve.

Published occupied-area files (the DeepState history, the KSE front lines) mix occupied,
liberated and contested polygons, attack-direction points, unit labels and
GeometryCollections in one layer.  A scenario's ``frontline`` or ``hazards`` entry picks the
features it means with ``where`` and may merge them with ``dissolve``::

    frontline: {file: occupied.geojson, where: {name: ["Окуповано*", "ОРДЛО*"]}, dissolve: true}

``where`` maps a property to a value or a list of values; a feature is kept when every named
property matches one of its values.  Text is compared without regard to case or to runs of
white space (DeepState labels carry no-break spaces), and ``*`` / ``?`` are shell-style
wildcards (``"Окуповано*"`` matches ``"Окуповано /// Occupied /// geoJSON.status.occupied"``).
Numbers and booleans compare by value.

From each kept feature the polygonal parts are read (a Polygon, a MultiPolygon, the polygons
of a GeometryCollection); for a frontline, lines are read too.  Everything else (points,
and lines in a hazard layer) is dropped and counted, and the count becomes a plan warning.
Both the network layer (:mod:`planner.network`) and the independent checker
(:mod:`planner.verify`) read files through these functions, so both see the same areas.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from planner.errors import ScenarioError

__all__ = [
    "Selected",
    "describe_dropped",
    "frontline_from_features",
    "polygonal_part",
    "select_features",
    "union_parts",
    "value_matches",
]

_SPACE = re.compile(r"\s+")
_POLY = {"Polygon", "MultiPolygon"}
_LINE = {"LineString", "MultiLineString", "LinearRing"}


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def value_matches(actual: Any, wanted: Any) -> bool:
    """Whether a feature's property value matches one ``where`` value.

    Parameters
    ----------
    actual
        The feature's value (``None`` or NaN when the feature lacks it).
    wanted
        A value of the ``where`` clause: text (wildcards ``*`` and ``?`` allowed), a number
        or a boolean.

    Returns
    -------
    bool
    """
    if actual is None or (isinstance(actual, float) and math.isnan(actual)):
        return False
    if isinstance(wanted, str):
        pattern, value = _norm(wanted), _norm(str(actual))
        if any(c in pattern for c in "*?["):
            return fnmatch.fnmatchcase(value, pattern)
        return value == pattern
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return bool(actual) == wanted if isinstance(actual, bool | int) else False
    try:
        return float(actual) == float(wanted)
    except (TypeError, ValueError):
        return False


def select_features(gdf: Any, where: Mapping[str, Any] | None, source: str, field_name: str) -> Any:
    """Keep the features of ``gdf`` that match every property of ``where``.

    Parameters
    ----------
    gdf
        A GeoDataFrame read from the file.
    where
        ``{property: value | [values]}``, or ``None`` to keep every feature.
    source, field_name
        Scenario file and field, for the error line.

    Returns
    -------
    geopandas.GeoDataFrame
        The kept features, in file order.

    Raises
    ------
    ScenarioError
        If a property is not in the file, or nothing matches.
    """
    if not where:
        return gdf
    mask = [True] * len(gdf)
    for prop, wanted in where.items():
        if prop not in gdf.columns or prop == gdf.geometry.name:
            cols = ", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name)
            raise ScenarioError(
                source, f"{field_name}.where", f"no property {prop!r} in the file (it has: {cols})"
            )
        values = wanted if isinstance(wanted, list) else [wanted]
        for k, actual in enumerate(gdf[prop].tolist()):
            if mask[k] and not any(value_matches(actual, w) for w in values):
                mask[k] = False
    if not any(mask):
        raise ScenarioError(source, f"{field_name}.where", "selects no feature of the file")
    return gdf[mask]


def polygonal_part(
    geom: BaseGeometry | None, *, lines: bool = False
) -> tuple[list[BaseGeometry], Counter]:
    """The polygons (and, with ``lines``, the lines) of a geometry, and what was dropped.

    Parameters
    ----------
    geom
        Any shapely geometry (a GeometryCollection is opened, recursively).
    lines
        Keep LineStrings too (a frontline layer).

    Returns
    -------
    parts : list of BaseGeometry
        Polygons, MultiPolygons (and lines), 2-D, invalid polygons repaired.
    dropped : collections.Counter
        Dropped geometries by kind (``"point"``, ``"line"``).
    """
    parts: list[BaseGeometry] = []
    dropped: Counter = Counter()
    stack = [geom]
    while stack:
        g = stack.pop()
        if g is None or g.is_empty:
            continue
        t = g.geom_type
        if t == "GeometryCollection":
            stack.extend(reversed(list(g.geoms)))
        elif t in _POLY:
            g = shapely.force_2d(g)
            if not g.is_valid:
                g = shapely.make_valid(g)
                if g.geom_type not in _POLY:  # make_valid may give a collection
                    stack.append(g)
                    continue
            parts.append(g)
        elif t in _LINE:
            if lines:
                parts.append(shapely.force_2d(g))
            else:
                dropped["line"] += 1
        else:
            dropped["point"] += 1
    return parts, dropped


@dataclass
class Selected:
    """Polygonal (and linear) parts of the selected features of one file."""

    features: list[tuple[dict[str, Any], list[BaseGeometry]]] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)

    @classmethod
    def read(cls, gdf: Any, *, lines: bool = False) -> Selected:
        """Split every feature of ``gdf`` into its kept parts, counting what is dropped.

        Parameters
        ----------
        gdf
            Features already filtered by :func:`select_features`.
        lines
            Keep lines too (a frontline layer).

        Returns
        -------
        Selected
            One entry per feature that keeps at least one part: its properties and parts.
        """
        out = cls()
        geom_col = gdf.geometry.name
        for rec in gdf.to_dict("records"):
            parts, dropped = polygonal_part(rec.pop(geom_col, None), lines=lines)
            out.dropped.update(dropped)
            if parts:
                out.features.append((rec, parts))
        return out


def describe_dropped(field_name: str, file: str, dropped: Counter) -> str | None:
    """A warning line for the geometries a layer file had that were not used, or ``None``.

    Parameters
    ----------
    field_name
        The scenario field (``hazards.0`` or ``frontline``).
    file
        The file as the scenario names it.
    dropped
        Counts by kind from :meth:`Selected.read`.

    Returns
    -------
    str or None
    """
    items = [(k, n) for k, n in sorted(dropped.items()) if n]
    if not items:
        return None
    what = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in items)
    return f"{field_name}: {file}: {what} dropped (only areas{' and lines' if field_name == 'frontline' else ''} are used)"


def frontline_from_features(gdf: Any, *, dissolve: bool) -> tuple[BaseGeometry | None, Counter]:
    """The line of contact from a layer's features: its lines and the edges of its areas.

    Parameters
    ----------
    gdf
        The selected features of a frontline file.
    dissolve
        Merge the areas first, so that the line is the edge of their union (the shared edge
        of two neighbouring occupied areas is not a line of contact).

    Returns
    -------
    line : BaseGeometry or None
        A (Multi)LineString, or ``None`` when the features hold no line and no area.
    dropped : collections.Counter
        Points (and other geometries) not used, by kind.
    """
    sel = Selected.read(gdf, lines=True)
    parts = [p for _props, ps in sel.features for p in ps]
    lines = [p for p in parts if p.geom_type not in {"Polygon", "MultiPolygon"}]
    polys = [p for p in parts if p.geom_type in {"Polygon", "MultiPolygon"}]
    if dissolve and polys:
        polys = [union_parts(polys)]
    edges = lines + [p.boundary for p in polys]
    if not edges:
        return None, sel.dropped
    return shapely.force_2d(shapely.union_all(edges)), sel.dropped


def union_parts(parts: Iterable[BaseGeometry]) -> BaseGeometry:
    """The union of polygons (one dissolved area)."""
    return shapely.union_all(list(parts))
