"""Map layers of a repatriation plan: where the children are, the handover sites, the routes
home across the borders (with their crossings and the stops where a night may be spent).

Only pseudonymous ids and counts are drawn; every text from the scenario is HTML-escaped.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from planner.repatriation.journey import points
from planner.repatriation.model import REASONS
from planner.repatriation.spec import lonlat, parse_repatriation

if TYPE_CHECKING:
    import folium

    from planner.repatriation.result import RepatriationPlan
    from planner.scenario import Scenario

_ROUTE_COLOURS = ("#1f5fa8", "#b5004f", "#127a3f", "#8a5a00", "#5b2a86", "#00777a")
_DASH = {"road": None, "rail": "8 4", "air": "2 6"}


def _e(x: Any) -> str:
    return html.escape(str(x))


def _children_layer(spec: Any, part: dict[str, Any]) -> Any:
    import folium

    going = {c: g["id"] for g in part.get("groups") or [] for c in g.get("children") or []}
    waiting = {w["child"]: w["reason"] for w in part.get("waiting") or []}
    at: dict[tuple[float, float], list[str]] = {}
    for c in spec.child_list():
        if c.location is not None:
            lon, lat = lonlat(c.location)
            at.setdefault((round(lon, 4), round(lat, 4)), []).append(c.id)
    fg = folium.FeatureGroup(name="Children (where they are now)", show=True)
    for (lon, lat), kids in sorted(at.items()):
        n_go = sum(1 for k in kids if k in going)
        rows = "".join(
            f"<tr><td>{_e(k)}</td><td>{_e(going[k]) if k in going else _e(REASONS.get(waiting.get(k, ''), 'waiting'))}</td></tr>"
            for k in sorted(kids)
        )
        body = f"<b>{len(kids)} child(ren)</b>: {n_go} going home, {len(kids) - n_go} waiting<table>{rows}</table>"
        folium.CircleMarker(
            [lat, lon],
            radius=4 + min(10, 2 * len(kids)),
            color="#2b6cb0" if n_go == len(kids) else "#c05621",
            fill=True,
            fill_opacity=0.5,
            popup=folium.Popup(body, max_width=420),
            tooltip=_e(f"{len(kids)} child(ren): {n_go} going, {len(kids) - n_go} waiting"),
        ).add_to(fg)
    return fg


def _sites_layer(spec: Any, part: dict[str, Any]) -> Any:
    import folium

    fg = folium.FeatureGroup(name="Handover sites", show=True)
    for s in spec.mediator.handover_sites:
        lon, lat = lonlat(s.location)
        rows = []
        for h in s.handovers:
            at = h.at.isoformat(timespec="minutes")
            gs = [
                g
                for g in part.get("groups") or []
                if g.get("site") == s.id and g.get("handover_at") == at
            ]
            rows.append(
                f"<tr><td>{_e(at)}</td><td>{sum(len(g['children']) for g in gs)} / {h.max_children or s.max_children}</td><td>{len(gs)}</td></tr>"
            )
        body = f"<b>{_e(s.name or s.id)}</b><table><tr><th>handover</th><th>children</th><th>groups</th></tr>{''.join(rows)}</table>"
        folium.Marker(
            [lat, lon],
            icon=folium.DivIcon(
                html="<div style='width:14px;height:14px;background:#6b21a8;border:2px solid #fff;transform:rotate(45deg)'></div>"
            ),
            popup=folium.Popup(body, max_width=420),
            tooltip=_e(f"handover site {s.name or s.id}"),
        ).add_to(fg)
    return fg


def _routes_layer(spec: Any, part: dict[str, Any]) -> tuple[Any, list[tuple[float, float]]]:
    import folium

    fg = folium.FeatureGroup(name="Routes home (across the borders)", show=True)
    seen: list[tuple[float, float]] = []
    for i, r in enumerate(spec.routes):
        colour = _ROUTE_COLOURS[i % len(_ROUTE_COLOURS)]
        pts = points(spec, r)
        lls = [lonlat(p.location) for p in pts]
        seen += lls
        gs = [g for g in part.get("groups") or [] if g.get("route") == r.id]
        kids = sum(len(g["children"]) for g in gs)
        for j, leg in enumerate(r.legs):
            (x0, y0), (x1, y1) = lls[j], lls[j + 1]
            folium.PolyLine(
                [[y0, x0], [y1, x1]],
                color=colour,
                weight=3 + min(6, kids / 3),
                opacity=0.85,
                dash_array=_DASH.get(leg.mode),
                tooltip=_e(
                    f"{r.name or r.id}: {pts[j].id} → {leg.to.id} ({leg.mode}); {len(gs)} group(s), {kids} children"
                ),
            ).add_to(fg)
        for p, (x, y) in zip(pts[1:], lls[1:], strict=True):
            if p.crossing is not None:
                c = p.crossing
                body = (
                    f"<b>{_e(p.name or p.id)}</b><br>open {_e(', '.join(c.open_days))} {c.open.strftime('%H:%M')}–{c.close.strftime('%H:%M')} "
                    f"(UTC{_e(c.utc_offset)}), {c.delay_min:g} min to pass<br>children need: {_e(', '.join(c.documents) or '-')}<br>"
                    f"guardians need: {_e(', '.join(c.guardian_documents) or '-')}"
                )
                folium.Marker(
                    [y, x],
                    icon=folium.DivIcon(
                        html="<div style='width:12px;height:12px;background:#d4b000;border:1px solid #000;transform:rotate(45deg)'></div>"
                    ),
                    popup=folium.Popup(body, max_width=360),
                    tooltip=_e(f"border crossing {p.name or p.id}"),
                ).add_to(fg)
            elif p.overnight:
                folium.CircleMarker(
                    [y, x],
                    radius=3,
                    color=colour,
                    fill=True,
                    tooltip=_e(f"{p.name or p.id}: a night may be spent here"),
                ).add_to(fg)
    return fg, seen


def repatriation_layers(
    fmap: folium.Map, part: RepatriationPlan, scenario: Scenario, *, fit: bool = False
) -> None:
    """Add the repatriation layers to a folium map.

    Parameters
    ----------
    fmap
        The map.
    part
        The plan's ``repatriation`` part (model or mapping).
    scenario
        The scenario (for locations, routes and crossings).
    fit
        Fit the map to the layers (when the plan has no evacuation sites to fit to).
    """
    spec = parse_repatriation(scenario)
    if spec is None:
        return
    data = part.model_dump(mode="json", by_alias=True)
    routes, lls = _routes_layer(spec, data)
    for layer in (_children_layer(spec, data), _sites_layer(spec, data), routes):
        layer.add_to(fmap)
    lls += [lonlat(c.location) for c in spec.child_list() if c.location is not None]
    if fit and lls:
        lons, lats = [p[0] for p in lls], [p[1] for p in lls]
        fmap.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]], padding=(30, 30))
