"""Folium maps of plans: hazards, frontline, crossing points, sites and one layer per vehicle.

All text taken from a scenario or plan is HTML-escaped before it reaches the page.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import folium
import shapely
from shapely.geometry import mapping

from planner.network import Layers
from planner.plan import Plan, write_atomic
from planner.scenario import GROUPS, Scenario

_COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(rows: list[list[object]], header: list[str]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table style='font-size:11px'><tr>{head}</tr>{body}</table>"


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{g} {n}" for g, n in d.items() if n) or "-"


def render_map(scenario: Scenario, plan: Plan, layers: Layers, path: str | Path | None = None) -> folium.Map:
    """Draw a plan on a folium map and optionally write it as HTML.

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

    Returns
    -------
    folium.Map
    """
    lons = [s.location[0] for s in plan.sites]
    lats = [s.location[1] for s in plan.sites]
    m = folium.Map(location=[sum(lats) / len(lats), sum(lons) / len(lons)], zoom_start=8, tiles="OpenStreetMap", control_scale=True)
    m.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]], padding=(30, 30))

    haz = folium.FeatureGroup(name="Hazards", show=True)
    for df, colour in ((layers.closed, "#b30000"), (layers.risk, "#ff9900")):
        for rec in df.itertuples(index=False):
            label = f"{rec.kind}: {rec.id}" + (f" (cost × {rec.factor:g})" if rec.kind == "risk" else "")
            folium.GeoJson(
                mapping(rec.geometry),
                style_function=lambda _f, c=colour: {"color": c, "fillColor": c, "fillOpacity": 0.3, "weight": 1},
                tooltip=_esc(label),
            ).add_to(haz)
    haz.add_to(m)

    front = folium.FeatureGroup(name="Frontline", show=True)
    if layers.frontline is not None:
        folium.GeoJson(
            mapping(shapely.force_2d(layers.frontline)),
            style_function=lambda _f: {"color": "#000000", "weight": 3, "dashArray": "6 4"},
            tooltip="line of contact",
        ).add_to(front)
    front.add_to(m)

    cross = folium.FeatureGroup(name="Crossing points", show=True)
    for c in layers.crossings:
        info = f"crossing point {c.id}: delay {c.delay_s / 60:.0f} min" + (
            f", {c.vehicles_per_hour:g} vehicles/h" if c.vehicles_per_hour else ""
        )
        folium.RegularPolygonMarker([c.lat, c.lon], number_of_sides=4, radius=9, color="#000", fill_color="#ffd700",
                                    fill_opacity=1, tooltip=_esc(info)).add_to(cross)
    cross.add_to(m)

    served_at: dict[str, dict[str, int]] = {}
    for v in plan.vehicles:
        for st in v.stops:
            for g, n in st.board.items():
                served_at.setdefault(st.site, {}).setdefault(g, 0)
                served_at[st.site][g] += n
    waiting = {a.id: a.people.as_dict() for a in scenario.evacuation.assembly_points}
    unserved: dict[str, list[str]] = {}
    for u in plan.unserved:
        unserved.setdefault(u.site, []).append(f"{u.people} {u.group}: {u.detail}")

    asm = folium.FeatureGroup(name="Assembly points", show=True)
    rec = folium.FeatureGroup(name="Reception centres", show=True)
    received = {r.id: r for r in plan.receptions}
    for s in plan.sites:
        lon, lat = s.location
        title = f"{s.name} ({s.id})" if s.name else s.id
        if s.kind == "assembly":
            w = waiting.get(s.id, {})
            total = sum(w.values())
            rows = [[g, w.get(g, 0), served_at.get(s.id, {}).get(g, 0)] for g in GROUPS]
            body = f"<b>{_esc(title)}</b><br>snapped {s.snap_m:.0f} m<br>" + _table(rows, ["group", "waiting", "evacuated"])
            if s.id in unserved:
                body += "<br><b>left behind</b><ul>" + "".join(f"<li>{_esc(t)}</li>" for t in unserved[s.id]) + "</ul>"
            folium.CircleMarker(
                [lat, lon], radius=max(5.0, min(30.0, 3 * math.sqrt(total / 10 + 1))), color="#8b0000", fill=True,
                fill_opacity=0.6, popup=folium.Popup(body, max_width=400), tooltip=_esc(f"{title}: {total} waiting"),
            ).add_to(asm)
        elif s.kind == "reception":
            r = received.get(s.id)
            txt = f"<b>{_esc(title)}</b><br>received {r.received if r else 0} of capacity {r.capacity if r else '?'}"
            folium.Marker([lat, lon], icon=folium.Icon(color="green", icon="home"), popup=folium.Popup(txt, max_width=300),
                          tooltip=_esc(title)).add_to(rec)
    asm.add_to(m)
    rec.add_to(m)

    for i, v in enumerate(plan.vehicles):
        if not v.legs:
            continue
        colour = _COLOURS[i % len(_COLOURS)]
        fg = folium.FeatureGroup(name=f"Vehicle {v.id}", show=True)
        for leg in v.legs:
            people = sum(leg.load.values())
            tip = f"{v.id}: {leg.from_} → {leg.to}, {leg.depart[11:16]}–{leg.arrive[11:16]}, {people} aboard"
            folium.PolyLine(
                [[p[1], p[0]] for p in leg.path], color=colour, weight=2 + min(6, people / 15), opacity=0.8,
                tooltip=_esc(tip),
            ).add_to(fg)
        rows = [[st.site, st.arrive[5:16].replace("T", " "), st.depart[5:16].replace("T", " "), _counts(st.board), _counts(st.alight)] for st in v.stops]
        popup = f"<b>{_esc(v.id)}</b> ({_esc(v.type)}, {v.seats} seats)<br>" + _table(rows, ["stop", "arrive", "depart", "board", "alight"])
        last = v.legs[-1].path[-1]
        folium.CircleMarker([last[1], last[0]], radius=4, color=colour, fill=True, popup=folium.Popup(popup, max_width=500),
                            tooltip=_esc(f"{v.id} schedule")).add_to(fg)
        fg.add_to(m)

    folium.LayerControl(collapsed=False).add_to(m)
    legend = (
        "<div style='position: fixed; bottom: 20px; left: 20px; z-index: 9999; background: white; padding: 8px;"
        " border: 1px solid #888; font-size: 12px'>"
        f"<b>{_esc(plan.scenario)}</b><br>"
        f"evacuated {plan.evacuated_total()} of {plan.totals.requested.get('total', 0)} (bound {plan.bound_total()})<br>"
        "<span style='color:#b30000'>&#9632;</span> closed area &nbsp;"
        "<span style='color:#ff9900'>&#9632;</span> risk area<br>"
        "<span style='color:#000'>- - -</span> line of contact &nbsp;"
        "<span style='color:#ffd700'>&#9670;</span> crossing point<br>"
        "<span style='color:#8b0000'>&#9679;</span> assembly point (size: people waiting) &nbsp;"
        "<span style='color:green'>&#9679;</span> reception centre<br>"
        "coloured lines: vehicles (width: people aboard)</div>"
    )
    m.get_root().html.add_child(folium.Element(legend))
    if path is not None:
        write_atomic(path, m.get_root().render())
    return m
