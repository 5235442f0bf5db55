"""Folium maps of plans, working offline, with a time slider that plays the plan.

``map.html`` holds hazards, the frontline, crossing points, corridors (width by people
carried), sites, one layer per vehicle, exchange events and a light road network for
context, with a legend, a scale bar and popups with per-stop tables.  A time bar plays the
plan: vehicles move along their legs, assembly points empty, ceasefire windows are shaded
on the bar and exchange events appear when they start.

**Offline.**  By default Leaflet's and jQuery's JavaScript and CSS are inlined in the file,
read from the ``xstatic-leaflet`` and ``xstatic-jquery`` packages (the same versions folium
links to; Leaflet is BSD-2-Clause, jQuery MIT, their notices kept at the top of the code),
so the map opens with no network.  Background tiles are a layer switched off by default
that the user turns on when online.  ``online=True`` keeps folium's plain CDN form.

**Untrusted text.**  Every string from a scenario or plan is HTML-escaped (and made safe
for folium's JavaScript template strings) before it reaches the page; the time slider
receives its data as JSON and writes text with ``textContent`` only.

:func:`render_png` takes a picture of ``map.html`` with headless Chromium.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import folium
import shapely
from branca.element import MacroElement
from jinja2 import Template
from shapely.geometry import LineString, MultiLineString, box, mapping

from planner.errors import PlannerError
from planner.exchange_result import ExchangePlan
from planner.export import exchange_events
from planner.files import publish, temporary_path
from planner.mapcontext import escape_text
from planner.mapcorridors import AGREED_COLOUR, AGREED_LAYER, draw_agreed_corridors
from planner.network import Layers
from planner.plan import Plan, write_atomic
from planner.scenario import GROUPS, Scenario

_COLOURS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]

TILES_LAYER = "Background tiles (OpenStreetMap, online)"
CONTEXT_LAYER = "Road network (context)"
BORDERS_LAYER = "State borders (Natural Earth)"
TOWNS_LAYER = "Town and road names"
UNSERVED_LAYER = "Not served"
VEHICLES_LAYER = "Vehicles"
"""Names of layers in the layer control besides the plan's own (see :func:`layer_names`)."""


_esc = escape_text


def _table(rows: Sequence[Sequence[object]], header: list[str]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table style='font-size:11px'><tr>{head}</tr>{body}</table>"


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{g} {n}" for g, n in d.items() if n) or "-"


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def layer_names(plan: Plan) -> list[str]:
    """Names shown in the map's layer control for a plan (unescaped), in order.

    Parameters
    ----------
    plan
        The plan.

    Returns
    -------
    list of str
    """
    names = [
        TILES_LAYER,
        CONTEXT_LAYER,
        BORDERS_LAYER,
        TOWNS_LAYER,
        "Hazards",
        "Frontline",
        "Crossing points",
        "Corridors",
        "Assembly points",
        "Reception centres",
    ]
    if plan.corridors:
        names.append(AGREED_LAYER)
    if plan.unserved:
        names.append(UNSERVED_LAYER)
    if any(v.legs for v in plan.vehicles):
        names.append(VEHICLES_LAYER)
    if plan.exchange is not None:
        names.append("Exchanges")
    return names


# ----------------------------------------------------------------------------- offline assets


def _inline_assets() -> dict[str, str]:
    """Inline HTML for folium's default JS/CSS links, by folium's resource name.

    Leaflet and jQuery come from the xstatic packages; the other folium defaults
    (Bootstrap, Awesome Markers, Font Awesome) are not used by these maps and map to ``""``.
    """
    try:
        from xstatic.pkg import jquery as xjquery
        from xstatic.pkg import leaflet as xleaflet
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise PlannerError(
            "an offline map.html needs the xstatic-leaflet and xstatic-jquery packages "
            "(pip install xstatic-leaflet xstatic-jquery), or use --online"
        ) from exc
    ldir, jdir = Path(xleaflet.BASE_DIR), Path(xjquery.BASE_DIR)
    css = (ldir / "leaflet.css").read_text(encoding="utf-8")

    def data_uri(match: re.Match[str]) -> str:
        img = ldir / match.group(1)
        if not img.is_file():
            return match.group(0)
        return (
            "url(data:image/png;base64," + base64.b64encode(img.read_bytes()).decode("ascii") + ")"
        )

    css = re.sub(r"url\((images/[A-Za-z0-9_.-]+\.png)\)", data_uri, css)

    def script(text: str) -> str:
        return "<script>" + re.sub(r"(?i)</(script)", r"<\\/\1", text) + "</script>"

    return {
        "leaflet": script((ldir / "leaflet.js").read_text(encoding="utf-8")),
        "jquery": script((jdir / "jquery.min.js").read_text(encoding="utf-8")),
        "leaflet_css": "<style>" + css.replace("</style", "<\\/style") + "</style>",
    }


def _offline_html(page: str) -> str:
    """Replace folium's CDN links in a rendered page by inline code, or drop unused ones."""
    inline = _inline_assets()
    links = [
        *((n, u, f'<script src="{u}"></script>') for n, u in folium.folium._default_js),
        *((n, u, f'<link rel="stylesheet" href="{u}"/>') for n, u in folium.folium._default_css),
    ]
    for name, _url, tag in links:
        # a function replacement, so backslashes in the code stay as they are
        page = page.replace(tag, inline.get(name, ""), 1) if tag in page else page
    left = re.findall(r'<(?:script[^>]*\ssrc|link[^>]*\shref)="(https?:[^"]+)"', page)
    if left:
        raise PlannerError(
            f"map.html would need the network for {', '.join(sorted(set(left)))}; use --online"
        )
    return page


# ----------------------------------------------------------------------------- context


def _context_lines(
    plan: Plan, bounds: tuple[float, float, float, float], source: str | None = "regional"
) -> Any:
    """A light road network for reading the map without tiles.

    The scenario's bundled network (``source``: the national one for ``ukraine`` /
    ``national``, else the regional one where the map overlaps it), clipped to the map and
    simplified; otherwise the roads the plan itself drives.
    """
    from planner.mapcontext import REGIONAL_EXTENT

    area = map_area(bounds)
    lines: list[LineString] = []
    try:
        if source in ("ukraine", "national"):
            from planner.national import load_national_network

            lines = _as_lines(load_national_network(), area)
        elif area.intersects(box(*REGIONAL_EXTENT)):
            from planner.regional import load_regional_network

            lines = _as_lines(load_regional_network(), area)
    except Exception:  # noqa: BLE001 - context is optional; fall back to the plan's own roads
        lines = []
    if not lines:
        seen: set[tuple[tuple[float, float], ...]] = set()
        for v in plan.vehicles:
            for leg in v.legs:
                key = tuple(leg.path)
                if len(key) >= 2 and key not in seen and key[::-1] not in seen:
                    seen.add(key)
                    lines.append(LineString(key))
    if not lines:
        return None
    return MultiLineString(lines)


def _as_lines(network: Any, area: Any) -> list[LineString]:
    """Lines of a road network given as a GeoDataFrame, a GeoSeries or a networkx graph."""
    geoms: list[Any] = []
    if hasattr(network, "geometry"):
        geoms = list(network.geometry)
    elif hasattr(network, "edges"):
        nodes = network.nodes
        for u, v, data in network.edges(data=True):
            if data.get("geometry") is not None:
                geoms.append(data["geometry"])
            elif "x" in nodes[u] and "x" in nodes[v]:
                geoms.append(
                    LineString([(nodes[u]["x"], nodes[u]["y"]), (nodes[v]["x"], nodes[v]["y"])])
                )
    out: list[LineString] = []
    tol = max(area.bounds[2] - area.bounds[0], area.bounds[3] - area.bounds[1]) / 2000
    for g in geoms:
        if g is None or g.is_empty or not g.intersects(area):
            continue
        g = shapely.simplify(shapely.force_2d(g.intersection(area)), tol)
        out.extend(
            x for x in getattr(g, "geoms", [g]) if isinstance(x, LineString) and not x.is_empty
        )
    return out


# ----------------------------------------------------------------------------- timeline

_TIMELINE_CSS = """
<style>
.pl-tl{background:#fff;padding:6px 8px;font:12px/1.3 sans-serif;width:min(560px,70vw);
  box-shadow:0 1px 4px rgba(0,0,0,.4);border-radius:4px}
.pl-tl button{font-size:13px;width:30px;height:24px;margin-right:6px;cursor:pointer}
.pl-tl .pl-time{font-weight:bold}
.pl-track{position:relative;height:22px;margin-top:4px;background:#ddd;border-radius:3px}
.pl-win{position:absolute;top:0;bottom:0;background:#9fd59f}
.pl-ev{position:absolute;top:0;bottom:0;width:3px;margin-left:-1px;background:#7b2fa8}
.pl-track input{position:absolute;left:0;top:0;width:100%;height:22px;margin:0;background:transparent}
.pl-status{margin-top:3px;color:#333}
.pl-cp{width:11px;height:11px;background:#ffd700;border:2px solid #000;transform:rotate(45deg)}
.pl-ck{width:12px;height:12px;background:#fff;border:3px solid #0a6e3a}
.pl-rc{width:12px;height:12px;background:#2e8b57;border:2px solid #fff;outline:1px solid #2e8b57}
.leaflet-container{background:#f3f1ea}
.pl-left{width:24px;height:24px}
</style>
"""

_TIMELINE_JS = r"""
(function () {
  var D = __DATA__, map = __MAP__, G = __GROUPS__;
  window.plannerMap = map;
  function txt(tag, s, cls) { var e = document.createElement(tag); e.textContent = s; if (cls) { e.className = cls; } return e; }
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function fmt(ms) {
    var d = new Date(ms + D.offset_min * 60000);
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
      pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ' ' + D.offset;
  }
  function along(path, cum, f) {
    for (var k = 1; k < cum.length; k++) {
      if (cum[k] >= f) {
        var span = cum[k] - cum[k - 1], g = span > 0 ? (f - cum[k - 1]) / span : 1;
        return [path[k - 1][0] + g * (path[k][0] - path[k - 1][0]), path[k - 1][1] + g * (path[k][1] - path[k - 1][1])];
      }
    }
    return path[path.length - 1];
  }
  function last(a) { return a[a.length - 1]; }
  function vehicleAt(v, t) {
    var legs = v.legs;
    if (t <= legs[0].t0) { return {ll: legs[0].path[0], moving: false}; }
    for (var i = 0; i < legs.length; i++) {
      var lg = legs[i];
      if (t < lg.t0) { return {ll: last(legs[i - 1].path), moving: false}; }
      if (t <= lg.t1) {
        var f = lg.t1 > lg.t0 ? (t - lg.t0) / (lg.t1 - lg.t0) : 1;
        return {ll: along(lg.path, lg.cum, f), moving: true, to: lg.to};
      }
    }
    return {ll: last(last(legs).path), moving: false};
  }
  function aboard(v, t) {
    var n = 0;
    v.stops.forEach(function (s) { if (s.td <= t) { n += s.board; } if (s.ta <= t) { n -= s.alight; } });
    return n;
  }
  var vehicles = D.vehicles.map(function (v, i) {
    var tip = txt('span', v.id);
    var mk = L.circleMarker(v.legs[0].path[0], {radius: 7, color: '#000', weight: 2, fillColor: v.colour, fillOpacity: 1});
    mk.bindTooltip(tip);
    G.vehicles[i].addLayer(mk);
    return {v: v, mk: mk, tip: tip};
  });
  var sites = D.sites.map(function (s) {
    var mk = L.circleMarker(s.ll, {radius: 5, color: '#8b0000', weight: 0, fillColor: '#8b0000', fillOpacity: 0.85, interactive: false});
    G.assembly.addLayer(mk);
    return {s: s, mk: mk};
  });
  var left = (D.unserved || []).map(function (u) {
    var mk = L.circleMarker(u.ll, {radius: Math.max(8, Math.min(34, 4 + 3 * Math.sqrt(u.people / 10 + 1))), color: '#000',
                                   weight: 2, dashArray: '4 3', fill: true, fillColor: '#000', fillOpacity: 0.05});
    var body = document.createElement('div');
    body.appendChild(txt('b', u.title));
    body.appendChild(txt('div', u.people + ' not served:'));
    var ul = document.createElement('ul');
    u.lines.forEach(function (l) { ul.appendChild(txt('li', l)); });
    body.appendChild(ul);
    mk.bindPopup(body, {maxWidth: 400});
    mk.bindTooltip(txt('span', u.title + ': ' + u.people + ' not served'));
    return {u: u, mk: mk};
  });
  var events = D.events.map(function (e) {
    var mk = null;
    if (e.ll && G.exchanges) {
      mk = L.circleMarker(e.ll, {radius: 9, color: '#4b0082', weight: 3, fillColor: '#c9a0dc', fillOpacity: 0.9});
      mk.bindTooltip(txt('span', e.label));
    }
    return {e: e, mk: mk};
  });
  var now = D.t0, box = null, range = null, label = null, status = null, playBtn = null, timer = null;
  function update(t) {
    now = Math.max(D.t0, Math.min(D.t1, t));
    var moving = 0, onboard = 0, waiting = 0, active = [];
    vehicles.forEach(function (o) {
      var at = vehicleAt(o.v, now), n = aboard(o.v, now);
      o.mk.setLatLng(at.ll);
      o.tip.textContent = o.v.id + ': ' + (at.moving ? 'driving' : 'stopped') + ', ' + n + ' aboard';
      if (at.moving) { moving += 1; }
      onboard += n;
    });
    sites.forEach(function (o) {
      var w = o.s.initial;
      o.s.boards.forEach(function (b) { if (b[0] <= now) { w -= b[1]; } });
      w = Math.max(0, w);
      waiting += w;
      o.mk.setRadius(w > 0 ? Math.max(3, Math.min(30, 3 * Math.sqrt(w / 10 + 1))) : 0);
      if (window.plannerLabels) { window.plannerLabels.note(o.s.id, w > 0 ? w.toLocaleString('en-US') + ' waiting' : 'nobody waiting'); }
    });
    var atEnd = now >= D.t1, notServed = 0;
    left.forEach(function (o) {
      notServed += o.u.people;
      if (atEnd && !G.unserved.hasLayer(o.mk)) { G.unserved.addLayer(o.mk); }
      if (!atEnd && G.unserved.hasLayer(o.mk)) { G.unserved.removeLayer(o.mk); }
    });
    events.forEach(function (o) {
      var on = now >= o.e.t0;
      if (o.e.t0 <= now && now <= o.e.t1) { active.push(o.e.label); }
      if (o.mk) {
        if (on && !G.exchanges.hasLayer(o.mk)) { G.exchanges.addLayer(o.mk); }
        if (!on && G.exchanges.hasLayer(o.mk)) { G.exchanges.removeLayer(o.mk); }
        o.mk.setStyle({fillOpacity: (now <= o.e.t1) ? 0.9 : 0.3});
      }
    });
    var inWindow = D.windows.some(function (w) { return w[0] <= now && now <= w[1]; });
    if (label) {
      label.textContent = fmt(now) + (inWindow ? ' (ceasefire window)' : ' (no ceasefire: no movement)');
      status.textContent = moving + ' vehicle(s) driving, ' + onboard + ' aboard, ' + waiting + ' waiting' +
        (atEnd && notServed ? ' (' + notServed + ' not served: dashed rings, click for the reason)' : '') +
        (active.length ? '; exchange: ' + active.join('; ') : '');
      range.value = Math.round((now - D.t0) / 60000);
    }
  }
  function pause() { if (timer) { clearInterval(timer); timer = null; } if (playBtn) { playBtn.textContent = '\u25B6'; } }
  function play() {
    if (timer) { return; }
    if (now >= D.t1) { update(D.t0); }
    playBtn.textContent = '\u23F8';
    var step = Math.max(60000, Math.round((D.t1 - D.t0) / 600));
    timer = setInterval(function () {
      var t = now + step;
      var next = D.windows.filter(function (w) { return w[0] > t; });
      var inside = D.windows.some(function (w) { return w[0] <= t && t <= w[1]; });
      if (!inside && next.length) { t = next[0][0]; }
      update(t);
      if (now >= D.t1) { pause(); }
    }, 50);
  }
  var Bar = L.Control.extend({
    options: {position: 'bottomleft'},
    onAdd: function () {
      box = L.DomUtil.create('div', 'pl-tl');
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      var head = L.DomUtil.create('div', '', box);
      playBtn = txt('button', '\u25B6', 'pl-play');
      playBtn.title = 'play / pause';
      playBtn.type = 'button';
      head.appendChild(playBtn);
      label = txt('span', '', 'pl-time');
      head.appendChild(label);
      var track = L.DomUtil.create('div', 'pl-track', box);
      var span = Math.max(1, D.t1 - D.t0);
      D.windows.forEach(function (w) {
        var d = L.DomUtil.create('div', 'pl-win', track);
        d.style.left = (100 * (w[0] - D.t0) / span) + '%';
        d.style.width = (100 * (w[1] - w[0]) / span) + '%';
        d.title = 'ceasefire window';
      });
      D.events.forEach(function (e) {
        var d = L.DomUtil.create('div', 'pl-ev', track);
        d.style.left = (100 * (e.t0 - D.t0) / span) + '%';
      });
      range = document.createElement('input');
      range.type = 'range'; range.min = 0; range.max = Math.ceil(span / 60000); range.step = 1; range.value = 0;
      range.className = 'pl-range';
      range.setAttribute('aria-label', 'time');
      track.appendChild(range);
      status = txt('div', '', 'pl-status');
      box.appendChild(status);
      range.addEventListener('input', function () { pause(); update(D.t0 + Number(range.value) * 60000); });
      playBtn.addEventListener('click', function () { if (timer) { pause(); } else { play(); } });
      return box;
    }
  });
  new Bar().addTo(map);
  update(D.t0);
  window.plannerTimeline = {
    start: D.t0, end: D.t1, windows: D.windows,
    time: function () { return now; }, setTime: function (t) { pause(); update(t); },
    play: play, pause: pause, playing: function () { return timer !== null; },
    positions: function () { return vehicles.map(function (o) { var p = o.mk.getLatLng(); return [p.lat, p.lng]; }); },
    unservedShown: function () { return left.filter(function (o) { return G.unserved.hasLayer(o.mk); }).length; }
  };
})();
"""


class _Timeline(MacroElement):
    """The time bar: our own JavaScript over Leaflet, fed with JSON."""

    _template = Template(
        "{% macro header(this, kwargs) %}{{ this.css }}{% endmacro %}"
        "{% macro script(this, kwargs) %}{{ this.code }}{% endmacro %}"
    )

    def __init__(self, data: dict[str, Any], map_name: str, groups: str) -> None:
        super().__init__()
        self._name = "PlannerTimeline"
        self.css = _TIMELINE_CSS
        payload = (
            json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
            .replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
        )
        self.code = (
            _TIMELINE_JS.replace("__DATA__", payload)
            .replace("__MAP__", map_name)
            .replace("__GROUPS__", groups)
        )


def _cumulative(path: list[tuple[float, float]]) -> list[float]:
    cum = [0.0]
    for a, b in zip(path, path[1:], strict=False):
        cum.append(cum[-1] + math.hypot((b[0] - a[0]) * math.cos(math.radians(a[1])), b[1] - a[1]))
    total = cum[-1]
    return [round(c / total, 6) if total > 0 else 1.0 for c in cum]


def _offset(plan: Plan) -> tuple[int, str]:
    for w in plan.windows:
        off = datetime.fromisoformat(w[0]).utcoffset()
        if off is not None:
            minutes = int(off.total_seconds() // 60)
            sign = "+" if minutes >= 0 else "-"
            return minutes, f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return 0, "+00:00"


# ----------------------------------------------------------------------------- the map


def map_area(bounds: tuple[float, float, float, float]) -> Any:
    """The map's extent with a margin (80 % each side, at least 0.6° by 0.4°), as a WGS84 box.

    Parameters
    ----------
    bounds
        West, south, east, north of what the map shows.

    Returns
    -------
    shapely.Polygon
    """
    w, s, e, n = bounds
    dx, dy = max(0.6, (e - w) * 0.8), max(0.4, (n - s) * 0.8)
    return box(w - dx, s - dy, e + dx, n + dy)


def _bounds(plan: Plan, layers: Layers) -> tuple[float, float, float, float]:
    lonlat = [s.location for s in plan.sites] + [(c.lon, c.lat) for c in layers.crossings]
    if plan.exchange is not None:  # an exchange's facilities and points frame its map
        lonlat += [site.location for site in plan.exchange.sites]
    if not lonlat:
        for df in (layers.closed, layers.risk):
            for g in df.geometry:
                lonlat += [(g.bounds[0], g.bounds[1]), (g.bounds[2], g.bounds[3])]
    if not lonlat and layers.frontline is not None:
        b = layers.frontline.bounds
        lonlat = [(b[0], b[1]), (b[2], b[3])]
    if not lonlat:
        lonlat = [(22.0, 44.0), (40.5, 52.5)]  # Ukraine
    lons, lats = [p[0] for p in lonlat], [p[1] for p in lonlat]
    w, s, e, n = min(lons), min(lats), max(lons), max(lats)
    # a single place (an exchange point alone) gets an area around it: Leaflet cannot fit a point
    dx, dy = max(0.0, 0.25 - (e - w) / 2), max(0.0, 0.15 - (n - s) / 2)
    return (w - dx, s - dy, e + dx, n + dy)


def add_context(m: folium.Map, area: Any, road_lines: Any, sites: list[dict[str, Any]]) -> None:
    """Draw what lets a reader find their way without tiles, and the names.

    Adds the layers :data:`CONTEXT_LAYER` (roads), :data:`BORDERS_LAYER` (Natural Earth
    country outlines) and :data:`TOWNS_LAYER` (town, country and road-number labels), and
    the site labels, which are always shown.

    Parameters
    ----------
    m
        The map.
    area
        WGS84 polygon the context is clipped to (see :func:`map_area`).
    road_lines
        A (multi)line geometry of roads, or ``None``.
    sites
        ``{"id", "n", "ll", "kind"}`` per site to label.
    """
    from planner.mapcontext import Labels, road_refs_in, state_borders, towns_in

    outlines, countries = state_borders(area)
    borders = folium.FeatureGroup(name=_esc(BORDERS_LAYER), show=True)
    for geom in outlines:
        folium.GeoJson(
            mapping(geom),
            style_function=lambda _f: {"color": "#6b6b6b", "weight": 1.5, "dashArray": "8 3 2 3"},
            interactive=False,
        ).add_to(borders)
    borders.add_to(m)
    ctx = folium.FeatureGroup(name=_esc(CONTEXT_LAYER), show=True)
    if road_lines is not None:
        folium.GeoJson(
            mapping(road_lines),
            style_function=lambda _f: {"color": "#9a9a9a", "weight": 1.5, "opacity": 0.8},
            interactive=False,
        ).add_to(ctx)
    ctx.add_to(m)
    towns = folium.FeatureGroup(name=_esc(TOWNS_LAYER), show=True)
    towns.add_to(m)
    # a country's name only where the map shows more than one
    Labels(
        m.get_name(),
        towns.get_name(),
        sites,
        towns_in(area),
        road_refs_in(area),
        countries if len(countries) > 1 else [],
    ).add_to(m)


def render_map(
    scenario: Scenario,
    plan: Plan,
    layers: Layers,
    path: str | Path | None = None,
    *,
    online: bool = False,
) -> folium.Map:
    """Draw a plan on a folium map with a time slider, and optionally write it as HTML.

    Parameters
    ----------
    scenario
        The scenario the plan was made for.
    plan
        The plan.
    layers
        Hazards, frontline and crossing points (from :func:`planner.network.load_layers`).
    path
        Where to write ``map.html`` (atomically); nothing is written when ``None``.
    online
        Link Leaflet and jQuery from their CDNs (folium's plain form, a small file) and
        show background tiles from the start, instead of inlining the code so the map
        works with no network.

    Returns
    -------
    folium.Map

    Raises
    ------
    PlannerError
        When an offline map is asked for and the packages holding Leaflet are missing.
    """
    bounds = _bounds(plan, layers)
    m = folium.Map(
        location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2],
        zoom_start=8,
        tiles=None,
        control_scale=True,
    )
    # room for the summary (top left), the time bar (bottom left) and the legend (bottom right)
    m.fit_bounds(
        [[bounds[1], bounds[0]], [bounds[3], bounds[2]]],
        padding_top_left=(60, 90),
        padding_bottom_right=(60, 150),
    )
    folium.TileLayer(
        "OpenStreetMap", name=_esc(TILES_LAYER), overlay=True, show=online, control=True
    ).add_to(m)
    people = _people_at(scenario, plan)
    site_labels = [
        {
            "id": s.id,
            "n": s.name or s.id,
            "ll": [s.location[1], s.location[0]],
            "kind": s.kind,
            "r": round(assembly_radius(people.get(s.id, 0)), 1) if s.kind == "assembly" else 8,
        }
        for s in plan.sites
        if s.kind in ("assembly", "reception")
    ]
    source = scenario.network.source
    add_context(m, map_area(bounds), _context_lines(plan, bounds, source), site_labels)
    _draw_layers(m, scenario, layers)
    names = {s.id: (s.name or s.id) for s in plan.sites}
    draw_agreed_corridors(m, plan)  # beneath the roads people are carried on
    _draw_corridors(m, plan, names)
    asm, site_data, unserved_name, unserved_data = _draw_sites(m, scenario, plan)
    veh_groups, veh_data = _draw_vehicles(m, plan, names)
    ex_name, ev_data = _draw_exchange(m, scenario, plan)
    folium.LayerControl(collapsed=True).add_to(m)

    windows = [[_ms(a), _ms(b)] for a, b in plan.windows]
    times = [t for w in windows for t in w] + [
        t for v in veh_data for lg in v["legs"] for t in (lg["t0"], lg["t1"])
    ]
    times += [t for e in ev_data for t in (e["t0"], e["t1"])]
    t0, t1 = (min(times), max(times)) if times else (0, 60000)
    off_min, off = _offset(plan)
    data = {
        "t0": t0,
        "t1": max(t1, t0 + 60000),
        "windows": windows,
        "offset_min": off_min,
        "offset": off,
        "vehicles": veh_data,
        "sites": site_data,
        "events": ev_data,
        "unserved": unserved_data,
    }
    groups = (
        "{vehicles: ["
        + ", ".join(g for g, _ in veh_groups)
        + f"], assembly: {asm}, exchanges: {ex_name}, "
        f"unserved: {unserved_name}}}"
    )
    _Timeline(data, m.get_name(), groups).add_to(m)

    from planner.mapcontrols import ControlBox

    ControlBox(m.get_name(), _summary_html(plan), "pl-summary", "topleft").add_to(m)
    ControlBox(
        m.get_name(), _legend_html(scenario, plan, bool(ev_data)), "pl-legend", "bottomright"
    ).add_to(m)
    if path is not None:
        write_atomic(path, map_html(m, online=online))
    return m


def _people_at(scenario: Scenario, plan: Plan) -> dict[str, int]:
    """People waiting at each assembly point at the start (scenario, else boarded + unserved)."""
    points = scenario.evacuation.assembly_points if scenario.evacuation is not None else []
    if isinstance(points, list) and points:
        return {a.id: a.require_people().total() for a in points}
    out: dict[str, int] = {}
    for v in plan.vehicles:
        for st in v.stops:
            out[st.site] = out.get(st.site, 0) + sum(st.board.values())
    for u in plan.unserved:
        out[u.site] = out.get(u.site, 0) + u.people
    return out


def assembly_radius(people: int) -> float:
    """Radius in pixels of an assembly point's circle for the people waiting there.

    Parameters
    ----------
    people
        People waiting at the start.

    Returns
    -------
    float
    """
    return max(5.0, min(30.0, 3 * math.sqrt(people / 10 + 1)))


def _draw_layers(m: folium.Map, scenario: Scenario, layers: Layers) -> None:
    """Hazards, the dated line of contact and crossing points."""
    from planner.mapcontext import frontline_date

    haz = folium.FeatureGroup(name="Hazards", show=True)
    for df, colour in ((layers.closed, "#b30000"), (layers.risk, "#ff9900")):
        for rec in df.itertuples(index=False):
            label = f"{rec.kind}: {rec.id}" + (
                f" (cost × {rec.factor:g})" if rec.kind == "risk" else ""
            )
            folium.GeoJson(
                mapping(rec.geometry),
                style_function=lambda _f, c=colour: {
                    "color": c,
                    "fillColor": c,
                    "fillOpacity": 0.3,
                    "weight": 1,
                },
                tooltip=_esc(label),
            ).add_to(haz)
    haz.add_to(m)

    front = folium.FeatureGroup(name="Frontline", show=True)
    if layers.frontline is not None:
        date = frontline_date(scenario)
        folium.GeoJson(
            mapping(shapely.force_2d(layers.frontline)),
            style_function=lambda _f: {"color": "#000000", "weight": 3, "dashArray": "6 4"},
            tooltip=_esc("line of contact" + (f" as of {date}" if date else "")),
        ).add_to(front)
    front.add_to(m)

    cross = folium.FeatureGroup(name="Crossing points", show=True)
    for c in layers.crossings:
        info = f"crossing point {c.id}: delay {c.delay_s / 60:.0f} min" + (
            f", {c.vehicles_per_hour:g} vehicles/h" if c.vehicles_per_hour else ""
        )
        folium.Marker(
            [c.lat, c.lon],
            icon=folium.DivIcon(
                html="<div class='pl-cp'></div>", icon_size=(15, 15), icon_anchor=(7, 7)
            ),
            tooltip=_esc(info),
        ).add_to(cross)
    cross.add_to(m)


def _draw_corridors(m: folium.Map, plan: Plan, names: dict[str, str]) -> None:
    """The roads people are carried on, width by people carried."""
    corr = folium.FeatureGroup(name="Corridors", show=True)
    carried: dict[tuple[str, str], list[Any]] = {}
    for v in plan.vehicles:
        for leg in v.legs:
            people = sum(leg.load.values())
            if people and len(leg.path) >= 2:
                entry = carried.setdefault((leg.from_, leg.to), [0, 0, leg.path])
                entry[0] += people
                entry[1] += 1
    most = max((e[0] for e in carried.values()), default=1)
    for (a, b), (people, trips, pth) in sorted(carried.items()):
        folium.PolyLine(
            [[p[1], p[0]] for p in pth],
            color="#5b2a86",
            weight=3 + 12 * math.sqrt(people / most),
            opacity=0.45,
            tooltip=_esc(
                f"corridor {names.get(a, a)} → {names.get(b, b)}: {people} people in {trips} trip(s)"
            ),
        ).add_to(corr)
    corr.add_to(m)


def _draw_sites(
    m: folium.Map, scenario: Scenario, plan: Plan
) -> tuple[str, list[dict[str, Any]], str, list[dict[str, Any]]]:
    """Assembly points (with their people), reception centres and the people not served.

    Returns the assembly layer's JavaScript name, the timeline's site data, the JavaScript
    name of the layer of people not served (``"null"`` when everyone is served) and its
    data (one entry per site, shown at the end of the plan).
    """
    from planner.plan import REASONS

    served_at: dict[str, dict[str, int]] = {}
    boards: dict[str, list[list[int]]] = {}
    for v in plan.vehicles:
        for st in v.stops:
            for g, n in st.board.items():
                served_at.setdefault(st.site, {}).setdefault(g, 0)
                served_at[st.site][g] += n
            if sum(st.board.values()):
                boards.setdefault(st.site, []).append([_ms(st.depart), sum(st.board.values())])
    points = scenario.evacuation.assembly_points if scenario.evacuation is not None else []
    waiting = (
        {a.id: a.require_people().as_dict() for a in points} if isinstance(points, list) else {}
    )
    unserved: dict[str, list[str]] = {}
    for u in plan.unserved:
        unserved.setdefault(u.site, []).append(
            f"{u.people} {u.group}: {REASONS.get(u.reason, u.reason)} ({u.detail})"
        )

    asm = folium.FeatureGroup(name="Assembly points", show=True)
    rec_fg = folium.FeatureGroup(name="Reception centres", show=True)
    received = {r.id: r for r in plan.receptions}
    site_data: list[dict[str, Any]] = []
    unserved_data: list[dict[str, Any]] = []
    for s in plan.sites:
        lon, lat = s.location
        title = f"{s.name} ({s.id})" if s.name else s.id
        if s.kind == "assembly":
            w = waiting.get(s.id) or {g: served_at.get(s.id, {}).get(g, 0) for g in GROUPS}
            if s.id not in waiting:
                for u in plan.unserved:
                    if u.site == s.id:
                        w[u.group] = w.get(u.group, 0) + u.people
            total = sum(w.values())
            rows = [[g, w.get(g, 0), served_at.get(s.id, {}).get(g, 0)] for g in GROUPS]
            body = f"<b>{_esc(title)}</b><br>snapped {s.snap_m:.0f} m<br>" + _table(
                rows, ["group", "waiting", "evacuated"]
            )
            if s.id in unserved:
                body += (
                    "<br><b>not served</b><ul>"
                    + "".join(f"<li>{_esc(t)}</li>" for t in unserved[s.id])
                    + "</ul>"
                )
                unserved_data.append(
                    {
                        "ll": [lat, lon],
                        "title": title,
                        "people": sum(u.people for u in plan.unserved if u.site == s.id),
                        "lines": unserved[s.id],
                    }
                )
            folium.CircleMarker(
                [lat, lon],
                radius=assembly_radius(total),
                color="#8b0000",
                fill=True,
                fill_opacity=0.1,
                weight=2,
                popup=folium.Popup(body, max_width=400),
                tooltip=_esc(f"{title}: {total} waiting at the start"),
            ).add_to(asm)
            site_data.append(
                {
                    "id": s.id,
                    "ll": [lat, lon],
                    "initial": total,
                    "boards": sorted(boards.get(s.id, [])),
                }
            )
        elif s.kind == "reception":
            r = received.get(s.id)
            txt = f"<b>{_esc(title)}</b><br>received {r.received if r else 0} of capacity {r.capacity if r else '?'}"
            folium.Marker(
                [lat, lon],
                icon=folium.DivIcon(
                    html="<div class='pl-rc'></div>", icon_size=(16, 16), icon_anchor=(8, 8)
                ),
                popup=folium.Popup(txt, max_width=300),
                tooltip=_esc(title),
            ).add_to(rec_fg)
    asm.add_to(m)
    rec_fg.add_to(m)
    unserved_name = "null"
    if unserved_data:
        fg = folium.FeatureGroup(name=_esc(UNSERVED_LAYER), show=True)
        fg.add_to(m)
        unserved_name = fg.get_name()
    return asm.get_name(), site_data, unserved_name, unserved_data


def _draw_vehicles(
    m: folium.Map, plan: Plan, names: dict[str, str]
) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
    """One "Vehicles" layer holding a group per vehicle, and the picker that chooses them.

    Returns ``(javascript name, vehicle)`` per drawn vehicle and the timeline's vehicle data.
    """
    from planner.mapcontrols import VehiclePicker, picker_options

    used = [(i, v) for i, v in enumerate(plan.vehicles) if v.legs]
    if not used:
        return [], []
    parent = folium.FeatureGroup(name=_esc(VEHICLES_LAYER), show=True)
    parent.add_to(m)
    veh_groups: list[tuple[str, Any]] = []
    veh_data: list[dict[str, Any]] = []
    for i, v in used:
        colour = _COLOURS[i % len(_COLOURS)]
        fg = folium.FeatureGroup(name=_esc(f"Vehicle {v.id}"), show=True, control=False)
        for leg in v.legs:
            people = sum(leg.load.values())
            tip = (
                f"{v.id}: {names.get(leg.from_, leg.from_)} → {names.get(leg.to, leg.to)}, "
                f"{leg.depart[11:16]}–{leg.arrive[11:16]}, {people} aboard"
            )
            folium.PolyLine(
                [[p[1], p[0]] for p in leg.path],
                color=colour,
                weight=2 + min(6, people / 15),
                opacity=0.8,
                tooltip=_esc(tip),
            ).add_to(fg)
        rows = [
            [
                names.get(st.site, st.site),
                st.arrive[5:16].replace("T", " "),
                st.depart[5:16].replace("T", " "),
                _counts(st.board),
                _counts(st.alight),
            ]
            for st in v.stops
        ]
        popup = f"<b>{_esc(v.id)}</b> ({_esc(v.type)}, {v.seats} seats)<br>" + _table(
            rows, ["stop", "arrive", "depart", "board", "alight"]
        )
        last = v.legs[-1].path[-1]
        folium.CircleMarker(
            [last[1], last[0]],
            radius=4,
            color=colour,
            fill=True,
            popup=folium.Popup(popup, max_width=500),
            tooltip=_esc(f"{v.id} schedule"),
        ).add_to(fg)
        fg.add_to(parent)
        veh_groups.append((fg.get_name(), v))
        veh_data.append(
            {
                "id": v.id,
                "colour": colour,
                "legs": [
                    {
                        "t0": _ms(leg.depart),
                        "t1": _ms(leg.arrive),
                        "to": names.get(leg.to, leg.to),
                        "path": [[p[1], p[0]] for p in leg.path] or [[0.0, 0.0]],
                        "cum": _cumulative(leg.path) or [1.0],
                    }
                    for leg in v.legs
                ],
                "stops": [
                    {
                        "ta": _ms(st.arrive),
                        "td": _ms(st.depart),
                        "board": sum(st.board.values()),
                        "alight": sum(st.alight.values()),
                    }
                    for st in v.stops
                ],
            }
        )
    VehiclePicker(
        m.get_name(),
        parent.get_name(),
        [g for g, _ in veh_groups],
        picker_options([v for _, v in veh_groups]),
    ).add_to(m)
    return veh_groups, veh_data


def _draw_exchange(
    m: folium.Map, scenario: Scenario, plan: Plan
) -> tuple[str, list[dict[str, Any]]]:
    """Exchange events (for the timeline) and the exchange's own layers."""
    ex_name = "null"
    ev_data: list[dict[str, Any]] = []
    if plan.exchange is not None:
        exg = folium.FeatureGroup(name="Exchanges", show=True)
        exg.add_to(m)
        ex_name = exg.get_name()
        for e in exchange_events(plan):
            loc = e["location"]
            parties = ", ".join(f"{p} {n}" for p, n in e["by_party"].items())
            label = f"exchange {e['index'] + 1}" + f" at {e['place']}" + f": {e['people']} people"
            ev_data.append(
                {
                    "t0": _ms(e["start"]),
                    "t1": _ms(e["end"]),
                    "ll": [loc[1], loc[0]],
                    "label": label + (f" ({parties})" if parties else ""),
                }
            )

    if plan.exchange is not None and scenario.exchange:
        from planner.errors import ScenarioError
        from planner.exchange_map import exchange_layers
        from planner.exchange_spec import parse_exchange

        try:
            spec = parse_exchange(scenario)
        except ScenarioError:  # validated when read; a hand-built scenario may not be
            spec = None
        if spec is not None:
            exchange_layers(m, plan.exchange, spec)
    if plan.repatriation is not None and scenario.repatriation is not None:
        from planner.repatriation.draw import repatriation_layers

        repatriation_layers(m, plan.repatriation, scenario, fit=not plan.sites)
    return ex_name, ev_data


def _summary_html(plan: Plan) -> str:
    """The summary box: one line per part of the plan (evacuation, exchange, repatriation).

    A plan with no assembly point has no evacuation line: an exchange or a return of children
    is summed up by its own figures, not as "evacuated 0 of 0".
    """
    lines = [f"<b>{_esc(plan.scenario)}</b>"]
    if plan.sites or (plan.exchange is None and plan.repatriation is None):
        left = sum(u.people for u in plan.unserved)
        lines[0] += f" ({_esc(plan.status)})"
        lines.append(
            f"evacuated {plan.evacuated_total():,} of {plan.totals.requested.get('total', 0):,} "
            f"(bound {plan.bound_total():,})"
        )
        lines.append(
            f"vehicles used {plan.vehicles_used} of {plan.vehicles_total} · "
            f"{plan.risk_km:,.1f} km under risk"
        )
        if left:
            lines.append(
                f"<span style='color:#8b0000'>not served: {left:,}</span>"
                " (see the map at the end of the time bar)"
            )
    if plan.exchange is not None:
        lines.append(_exchange_summary(plan.exchange))
    if plan.repatriation is not None:
        rp = plan.repatriation
        lines.append(
            f"repatriation ({_esc(rp.status)}): {rp.returned:,} of {rp.children:,} children home "
            f"(bound {rp.bound:,}) in {len(rp.groups)} group(s)"
        )
    return "<br>".join(lines)


def _exchange_summary(ex: ExchangePlan) -> str:
    """One line: the exchange's status, people released per side against those held, events."""
    released, held = ex.totals.get("released", {}), ex.totals.get("held", {})
    sides = ", ".join(
        f"{_esc(side)} {int(r.get('total', 0)):,} of {int(held.get(side, {}).get('total', 0)):,}"
        for side, r in released.items()
    )
    return f"exchange ({_esc(ex.status)}): released {sides}; {len(ex.events)} event(s)"


def _legend_html(scenario: Scenario, plan: Plan, events: bool) -> str:
    """The legend's content (our own text; the frontline date is escaped).

    Lines for assembly points, reception centres and vehicles appear only when the plan
    evacuates anyone from somewhere; an exchange or a return of children gets its own line.
    """
    from planner.mapcontext import frontline_date

    date = frontline_date(scenario)
    evacuation = bool(plan.sites)
    return (
        "<b>Legend</b><br>"
        "<span style='color:#b30000'>&#9632;</span> closed area &nbsp;"
        "<span style='color:#ff9900'>&#9632;</span> risk area<br>"
        "<span style='color:#000'>- - -</span> line of contact"
        + (f" as of {_esc(date)}" if date else "")
        + " &nbsp;<span style='color:#d4b000'>&#9670;</span> crossing point<br>"
        + (
            "<span style='color:#8b0000'>&#9675;</span> assembly point (size: people at the start;"
            " filled: still waiting at the slider's time) &nbsp;"
            "<span style='color:#2e8b57'>&#9632;</span> reception centre<br>"
            if evacuation
            else ""
        )
        + (
            "<span style='color:#000'>&#9711;</span> not served (at the end; click for the reason)<br>"
            if plan.unserved
            else ""
        )
        + (
            "<span style='color:#5b2a86'>&#9473;</span> corridor (width: people carried)<br>"
            if evacuation
            else ""
        )
        + (
            f"<span style='color:{AGREED_COLOUR};opacity:0.5'>&#9608;&#9608;</span> agreed corridor &nbsp;"
            f"<span style='color:{AGREED_COLOUR}'>&#9633;</span> its checkpoints<br>"
            if plan.corridors
            else ""
        )
        + (
            "coloured lines: vehicles (width: people aboard; choose with the Vehicles picker); "
            "&#9679; vehicle at the slider's time<br>"
            if evacuation
            else ""
        )
        + (
            "<span style='color:#4b0082'>&#9673;</span> exchange event; coloured lines: transfers"
            " from the places of detention<br>"
            if plan.exchange is not None
            else ""
        )
        + (
            "children (where they are now), handover sites and the routes home across the"
            " borders: see the layers<br>"
            if plan.repatriation is not None
            else ""
        )
        + "time bar: <span style='background:#9fd59f'>&nbsp;green&nbsp;</span> ceasefire windows"
        + (", purple ticks exchange events" if events else "")
        + "<br><span style='color:#9a9a9a'>&#9472;</span> roads &nbsp;"
        "<span style='color:#6b6b6b'>-&middot;-</span> state borders (Natural Earth) &nbsp;"
        "&bull; towns (names by population and zoom)"
    )


def map_html(m: folium.Map, *, online: bool = False) -> str:
    """The page of a map: folium's CDN form when ``online``, else with the code inlined.

    Parameters
    ----------
    m
        A map made by :func:`render_map`.
    online
        Keep folium's CDN links.

    Returns
    -------
    str
    """
    page = m.get_root().render()
    return page if online else _offline_html(page)


# ----------------------------------------------------------------------------- picture

_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_executable() -> str | None:
    """Path of a Chromium (or Chrome) to run headless: ``$PLANNER_CHROMIUM`` or one on ``PATH``."""
    env = os.environ.get("PLANNER_CHROMIUM")
    if env:
        return shutil.which(env) or (env if Path(env).is_file() else None)
    for name in _CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_base_args(user_data_dir: str | Path) -> list[str]:
    """Command-line switches for a quiet headless Chromium that goes to no network on its own."""
    args = [
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-sync",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-quic",
        "--mute-audio",
        "--disable-extensions",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={user_data_dir}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start as root otherwise
    return args


def render_png(
    html_path: str | Path,
    png_path: str | Path | None = None,
    *,
    width: int = 1400,
    height: int = 900,
    timeout_s: float = 120.0,
) -> Path:
    """Take a picture of ``map.html`` with headless Chromium.

    Parameters
    ----------
    html_path
        The map page.
    png_path
        Where to write the PNG (atomically); default ``map.png`` beside the page.
    width, height
        Size of the picture in pixels.
    timeout_s
        Longest time Chromium may take.

    Returns
    -------
    Path
        The PNG written.

    Raises
    ------
    PlannerError
        When no Chromium is installed or it fails; the HTML map is left as it is.
    """
    html_path = Path(html_path).resolve()
    png = Path(png_path) if png_path is not None else html_path.with_name("map.png")
    exe = chromium_executable()
    if exe is None:
        raise PlannerError(
            f"{png.name} needs Chromium (apt-get install chromium); {html_path.name} was written"
        )
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="planner-chromium-") as profile:
        tmp = str(temporary_path(png, suffix=".png"))
        try:
            cmd = [
                exe,
                *chromium_base_args(profile),
                f"--window-size={int(width)},{int(height)}",
                "--virtual-time-budget=3000",
                f"--screenshot={tmp}",
                html_path.as_uri(),
            ]
            try:
                res = subprocess.run(
                    cmd, capture_output=True, text=True, timeout=timeout_s, check=False
                )
            except subprocess.TimeoutExpired:
                raise PlannerError(
                    f"{png.name}: Chromium took longer than {timeout_s:g} s; {html_path.name} was written"
                ) from None
            if res.returncode != 0 or not Path(tmp).stat().st_size:
                tail = " ".join((res.stderr or "").strip().splitlines()[-1:])
                raise PlannerError(
                    f"{png.name}: Chromium failed (exit {res.returncode}) {tail}; {html_path.name} was written"
                )
            publish(tmp, png)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return png
