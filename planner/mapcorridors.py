"""The agreed corridors of a plan on the folium map: each corridor's road and its checkpoints."""

from __future__ import annotations

import folium

from planner.mapcontext import escape_text
from planner.plan import Plan

AGREED_LAYER = "Agreed corridors"
"""Name of the map layer that draws the agreed corridors."""

AGREED_COLOUR = "#0a6e3a"
"""Colour of the agreed corridors and their checkpoints."""

_DIRECTION = {"both": "both ways", "outbound": "outbound only", "inbound": "inbound only"}


def draw_agreed_corridors(m: folium.Map, plan: Plan) -> None:
    """Draw each agreed corridor (a wide green band) and its checkpoints (green squares).

    Parameters
    ----------
    m
        The map.
    plan
        The plan; nothing is drawn when it has no ``corridors`` part.
    """
    if not plan.corridors:
        return
    layer = folium.FeatureGroup(name=escape_text(AGREED_LAYER), show=True)
    for c in plan.corridors:
        label = (
            f"agreed corridor {c.name or c.id}: {c.length_m / 1000:.0f} km, "
            f"{c.travel_time_s / 3600:.1f} h driving, {_DIRECTION[c.direction]}, "
            f"width {c.width_m:.0f} m; via {' - '.join(v.point for v in c.via)}"
        )
        folium.PolyLine(
            [[p[1], p[0]] for p in c.path],
            color=AGREED_COLOUR,
            weight=30,
            opacity=0.4,
            tooltip=escape_text(label),
        ).add_to(layer)
        for k in c.checkpoints:
            info = f"checkpoint {k.name or k.id} on {c.name or c.id}: stop {k.stop_min:g} min" + (
                f" (attached to the road {k.snap_m:.0f} m away)" if k.snap_m >= 1 else ""
            )
            folium.Marker(
                [k.location[1], k.location[0]],
                icon=folium.DivIcon(
                    html="<div class='pl-ck'></div>", icon_size=(18, 18), icon_anchor=(9, 9)
                ),
                tooltip=escape_text(info),
            ).add_to(layer)
    layer.add_to(m)
