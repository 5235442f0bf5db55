"""The exchange on a folium map: detention sites, exchange points, events and transfers."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from planner.exchange_result import ExchangeEvent, ExchangePlan, SiteInfo
from planner.exchange_spec import ExchangeSpec

if TYPE_CHECKING:
    import folium

_PARTY_COLOURS = ("#1f5fbf", "#c0392b")
esc = html.escape


def exchange_layers(fmap: folium.Map, plan: ExchangePlan, spec: ExchangeSpec | None = None) -> None:
    """Add the exchange to a folium map: detention sites, exchange points and transfers.

    Parameters
    ----------
    fmap
        The map.
    plan
        The ``exchange`` part of the plan.
    spec
        The parsed section, for site names (optional).

    Notes
    -----
    Adds the FeatureGroups "Detention sites", "Exchange points" and "Transfers"; every
    event has a popup (time, point, people per party and category).  All text is escaped;
    no person id or name is shown.
    """
    import folium

    colour = {p: _PARTY_COLOURS[i % 2] for i, p in enumerate(plan.parties)}
    names: dict[str, str] = {}
    if spec is not None:
        names.update({f.id: f.name for f in spec.facilities if f.name})
        names.update({p.id: p.name for p in spec.exchange_points if p.name})
    fac_g = folium.FeatureGroup(name="Detention sites", show=True)
    pt_g = folium.FeatureGroup(name="Exchange points", show=True)
    tr_g = folium.FeatureGroup(name="Transfers", show=True)
    for s in plan.sites:
        if s.kind == "facility":
            _facility_marker(s, plan, names, colour).add_to(fac_g)
        else:
            _point_marker(s, plan, names).add_to(pt_g)
    for e in plan.events:
        _event_marker(e, plan.parties, names).add_to(pt_g)
        for line in _transfer_lines(e, colour):
            line.add_to(tr_g)
    for g in (fac_g, pt_g, tr_g):
        g.add_to(fmap)


def _label(s: SiteInfo, names: dict[str, str]) -> str:
    return names.get(s.id) or s.name or s.id


def _facility_marker(
    s: SiteInfo, plan: ExchangePlan, names: dict[str, str], colour: dict[str, str]
) -> folium.CircleMarker:
    import folium

    lon, lat = s.location
    label = _label(s, names)
    sent = sum(t.people for e in plan.events for t in e.transports if t.facility == s.id)
    body = (
        f"<b>{esc(label)}</b><br>detention site held by {esc(str(s.party))}<br>"
        f"{esc(str(s.buses))} buses × {esc(str(s.seats))} seats<br>"
        f"people sent to exchanges: {sent}"
    )
    # a plain circle marker: the polygon-marker plugin would need a CDN, and maps work offline
    return folium.CircleMarker(
        [lat, lon],
        radius=8,
        color=colour.get(str(s.party), "#555"),
        weight=3,
        fill=True,
        fill_opacity=0.8,
        popup=folium.Popup(body, max_width=320),
        tooltip=esc(label),
    )


def _point_marker(s: SiteInfo, plan: ExchangePlan, names: dict[str, str]) -> folium.CircleMarker:
    import folium

    lon, lat = s.location
    label = _label(s, names)
    n = sum(1 for e in plan.events if e.point == s.id)
    body = f"<b>{esc(label)}</b><br>exchange point, {n} events"
    return _point_circle(lat, lon, 10, 0.6, folium.Popup(body, max_width=320), esc(label))


def _event_marker(
    e: ExchangeEvent, parties: list[str], names: dict[str, str]
) -> folium.CircleMarker:
    import folium

    lon, lat = e.location
    rows = []
    for p in parties:
        for fid, fc in e.counts.get(p, {}).items():
            cats = ", ".join(f"{esc(c)} {int(n)}" for c, n in fc.items())
            rows.append(f"{esc(p)} from {esc(names.get(fid, fid))}: {cats}")
    per = ", ".join(f"{esc(p)} {int(e.people.get(p, 0))}" for p in parties)
    body = (
        f"<b>event {esc(e.id)}</b> at {esc(names.get(e.point, e.point))}<br>"
        f"{esc(e.start)} – {esc(e.end)}<br>released: {per}<br>" + "<br>".join(rows)
    )
    tip = esc(f"event {e.id} {e.start}")
    return _point_circle(lat, lon, 5, 1.0, folium.Popup(body, max_width=420), tip)


def _point_circle(
    lat: float, lon: float, radius: int, opacity: float, popup: folium.Popup, tip: str
) -> folium.CircleMarker:
    """An exchange point or event: a filled circle in the exchange's colour."""
    import folium

    return folium.CircleMarker(
        [lat, lon],
        radius=radius,
        color="#4b0082",
        fill=True,
        fill_opacity=opacity,
        popup=popup,
        tooltip=tip,
    )


def _transfer_lines(e: ExchangeEvent, colour: dict[str, str]) -> list[folium.PolyLine]:
    import folium

    lines = []
    for t in e.transports:
        path = [[c[1], c[0]] for c in t.path]
        if len(path) < 2:
            continue
        tip = (
            f"{t.facility} → {e.point} for event {e.id}: {t.people} people, "
            f"{t.buses} buses, leave {t.depart}, arrive {t.arrive}, {t.length_m / 1000:.0f} km"
        )
        lines.append(
            folium.PolyLine(
                path, color=colour.get(t.party, "#555"), weight=3, opacity=0.7, tooltip=esc(tip)
            )
        )
    return lines


__all__ = ["exchange_layers"]
