"""Corridor selection: which safe routes are worth negotiating.

A *corridor* is a safe route from a town (assembly point) through a crossing point of the
line of contact (when the scenario has one) to a reception centre; without crossing points,
distinct alternative routes stand in.  A CP-SAT model chooses at most N corridors and
shares the fleet's time among them to maximise the people moved inside the ceasefire
windows (an aggregate, fluid model: round trips per vehicle type and corridor, each
vehicle's time shared across corridors, seats, people waiting, reception capacity and
crossing throughput).  Re-solving without each chosen corridor gives its marginal value;
re-solving with the last window an hour longer gives the value of one more hour of truce.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx
import numpy as np
from ortools.sat.python import cp_model

from planner.bound import max_trips
from planner.network import PreparedNetwork
from planner.scenario import GROUPS, Evacuation, Group, Scenario, location_lonlat
from planner.timeline import Timeline

_SCALE = 1000


@dataclass
class Corridor:
    """One candidate corridor."""

    id: str
    assembly: str
    reception: str
    crossing: str | None
    out_s: float  # town -> reception, loaded
    back_s: float  # reception -> town, empty
    length_m: float
    risk_km: float
    path: list[list[float]]
    selected: bool = False
    people: int = 0
    marginal: int = 0


@dataclass
class CorridorChoice:
    """The chosen corridors and what they are worth."""

    corridors: list[Corridor]
    max_corridors: int
    people: int
    people_all: int
    """People movable if every candidate corridor were open."""
    extra_hour: int
    """People gained by one more hour of truce (last window an hour longer)."""
    status: str
    by_group: dict[str, int] = field(default_factory=dict)


def candidate_corridors(
    scenario: Scenario, net: PreparedNetwork, alternatives: int = 2
) -> list[Corridor]:
    """Enumerate candidate corridors from each assembly point to each reception centre.

    Parameters
    ----------
    scenario
        The scenario (its evacuation section names towns and reception centres).
    net
        The prepared (cut) network.
    alternatives
        Distinct routes per town and centre when there is no crossing point.

    Returns
    -------
    list of Corridor
    """
    ev = scenario.require_evacuation()
    roads = net.roads
    points = ev.assembly_points if isinstance(ev.assembly_points, list) else []
    asm = [(a.id, location_lonlat(a.location)) for a in points]
    rec = [(r.id, location_lonlat(r.location)) for r in ev.reception_centres]
    snaps = roads.snap([ll for _i, ll in asm + rec])
    a_nodes = [s.node for s in snaps[: len(asm)]]
    r_nodes = [s.node for s in snaps[len(asm) :]]
    out: list[Corridor] = []
    tab = roads.table
    live_cross = [i for i in np.flatnonzero(tab.alive) if tab.crossing[i] is not None]
    crossings = sorted({str(tab.crossing[i]) for i in live_cross})
    if crossings:
        cross_edges: dict[str, list[tuple[int, int]]] = {c: [] for c in crossings}
        for i in live_cross:
            cross_edges[str(tab.crossing[i])].append((int(tab.u[i]), int(tab.v[i])))
        ends = sorted({n for es in cross_edges.values() for e in es for n in e})
        src = sorted(set(a_nodes) | set(r_nodes) | set(ends))
        t, _c = roads.matrices(src, src)
        pos = {n: i for i, n in enumerate(src)}
        for ai, (aid, _ll) in enumerate(asm):
            for ri, (rid, _ll2) in enumerate(rec):
                for c in crossings:
                    best = _through(t, pos, a_nodes[ai], r_nodes[ri], cross_edges[c], roads)
                    back = _through(t, pos, r_nodes[ri], a_nodes[ai], cross_edges[c], roads)
                    if best is None or back is None:
                        continue
                    nodes = best[1]
                    det = roads.path_details(nodes)
                    out.append(
                        Corridor(
                            id=f"{aid}~{c}~{rid}",
                            assembly=aid,
                            reception=rid,
                            crossing=c,
                            out_s=det["travel_time_s"],
                            back_s=back[0],
                            length_m=det["length_m"],
                            risk_km=det["risk_m"] / 1000.0,
                            path=det["coords"],
                        )
                    )
        return out
    g = roads.table.to_graph()  # the cut graph: alternatives must avoid closed roads too
    for ai, (aid, _ll) in enumerate(asm):
        for ri, (rid, _ll2) in enumerate(rec):
            for k, nodes in enumerate(
                _alternatives(
                    g,
                    roads.node_ids[a_nodes[ai]].item(),
                    roads.node_ids[r_nodes[ri]].item(),
                    alternatives,
                )
            ):
                idx = [roads.index[n] for n in nodes]
                det = roads.path_details(idx)
                back_t, _ = roads.matrices([idx[-1]], [idx[0]])
                if not np.isfinite(back_t[0, 0]):
                    continue
                out.append(
                    Corridor(
                        id=f"{aid}~route{k + 1}~{rid}",
                        assembly=aid,
                        reception=rid,
                        crossing=None,
                        out_s=det["travel_time_s"],
                        back_s=float(back_t[0, 0]),
                        length_m=det["length_m"],
                        risk_km=det["risk_m"] / 1000.0,
                        path=det["coords"],
                    )
                )
    return out


def _through(
    t: np.ndarray, pos: dict[int, int], a: int, b: int, edges: list[tuple[int, int]], roads: Any
) -> tuple[float, list[int]] | None:
    best: tuple[float, list[int]] | None = None
    for u, v in edges:
        w = float(roads.table.time[roads.edge(u, v)]) if (u, v) in roads._edge_of else np.inf
        total = t[pos[a], pos[u]] + w + t[pos[v], pos[b]]
        if np.isfinite(total) and (best is None or total < best[0]):
            best = (float(total), [*roads.path(a, u), *roads.path(v, b)])
    return best


def _alternatives(g: nx.MultiDiGraph, a: int, b: int, k: int) -> list[list[int]]:
    """Up to ``k`` distinct routes: each next route after tripling the cost of roads used."""
    penalty: dict[tuple[int, int], float] = {}
    routes: list[list[int]] = []

    def weight(u: int, v: int, data: dict) -> float:
        return min(d.get("cost", d["travel_time"]) for d in data.values()) * penalty.get(
            (u, v), 1.0
        )

    for _ in range(k):
        try:
            nodes = nx.shortest_path(g, a, b, weight=weight)
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            break
        if nodes in routes:
            break
        routes.append(nodes)
        for u, v in zip(nodes, nodes[1:], strict=False):
            penalty[(u, v)] = penalty.get((u, v), 1.0) * 3.0
            penalty[(v, u)] = penalty.get((v, u), 1.0) * 3.0
    return routes


_PeopleVars = dict[tuple[int, Group, int], cp_model.IntVar]
"""People moved on corridor ``k`` of group ``g`` by vehicle type ``t``, keyed ``(k, g, t)``."""


def _solve(
    scenario: Scenario, tl: Timeline, cands: list[Corridor], max_n: int, banned: set[int], seed: int
) -> tuple[int, list[int], dict[int, int], dict[str, int], str]:
    """Most people at most ``max_n`` corridors move, none of ``banned`` (CP-SAT, one worker).

    Returns
    -------
    tuple
        People moved, the chosen corridors' indices, people per chosen index, people per
        group, and the solver's status name.
    """
    ev = scenario.require_evacuation()
    m = cp_model.CpModel()
    x = [m.new_bool_var(f"x{k}") for k in range(len(cands))]
    for k in banned:
        m.add(x[k] == 0)
    m.add(sum(x) <= max_n)
    people_vars, trips_of = _add_trips(m, ev, tl, cands, x)
    _add_site_limits(m, ev, cands, people_vars)
    _add_crossing_limits(m, scenario, tl, cands, trips_of)
    total = sum(people_vars.values()) if people_vars else 0
    weighted = (
        sum(int(ev.priorities[g] * 10) * p for (k, g, _t), p in people_vars.items())
        if people_vars
        else 0
    )
    m.maximize(total * 10_000 + weighted - sum(x))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_time_in_seconds = 30.0
    st = solver.Solve(m)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return 0, [], {}, dict.fromkeys(GROUPS, 0), solver.StatusName(st)
    chosen = [k for k in range(len(cands)) if solver.Value(x[k])]
    per_k: dict[int, int] = {}
    by_group = dict.fromkeys(GROUPS, 0)
    for (k, g, _t), p in people_vars.items():
        v = solver.Value(p)
        per_k[k] = per_k.get(k, 0) + v
        by_group[g] += v
    return int(sum(per_k.values())), chosen, per_k, by_group, solver.StatusName(st)


def _add_trips(
    m: cp_model.CpModel,
    ev: Evacuation,
    tl: Timeline,
    cands: list[Corridor],
    x: list[cp_model.IntVar],
) -> tuple[_PeopleVars, list[tuple[int, Any]]]:
    """Trips and people per corridor and vehicle type, within seats and vehicles' time.

    Returns
    -------
    tuple
        The people variables and ``(corridor index, trips variable)`` pairs.
    """
    stop_s, unload_s = ev.stop_min * 60, ev.unload_min * 60
    people_vars: _PeopleVars = {}
    share_terms: dict[int, list[Any]] = {}
    trips_of: list[tuple[int, Any]] = []
    for ti, vt in enumerate(ev.fleet):
        if vt.count == 0:
            continue
        for k, c in enumerate(cands):
            mt = max_trips(tl, 0, c.back_s + 0.0, c.out_s, c.back_s, stop_s, unload_s)
            # vehicles start at their base; starting at the reception is the common case
            if mt <= 0:
                continue
            trips = m.new_int_var(0, mt * vt.count, f"trips{k}_{ti}")
            m.add(trips <= mt * vt.count * x[k])
            # each trip takes 1/mt of a vehicle's time in the windows (rounded up)
            share_terms.setdefault(ti, []).append((trips, -(-_SCALE // mt)))
            trips_of.append((k, trips))
            seats_used = []
            for g in vt.groups:
                p = m.new_int_var(0, vt.seats * mt * vt.count, f"p{k}_{g}_{ti}")
                people_vars[(k, g, ti)] = p
                seats_used.append(p)
            m.add(sum(seats_used) <= vt.seats * trips)
    for ti, terms in share_terms.items():
        m.add(sum(trips * w for trips, w in terms) <= ev.fleet[ti].count * _SCALE)
    return people_vars, trips_of


def _add_site_limits(
    m: cp_model.CpModel, ev: Evacuation, cands: list[Corridor], people_vars: _PeopleVars
) -> None:
    """No more people than wait at each assembly point, or fit in each reception centre."""
    points = ev.assembly_points if isinstance(ev.assembly_points, list) else []
    waiting = {a.id: a.require_people().as_dict() for a in points}
    cap = {r.id: r.capacity for r in ev.reception_centres}
    for a, groups in waiting.items():
        for group in GROUPS:
            vs = [
                p
                for (k, gg, _t), p in people_vars.items()
                if gg == group and cands[k].assembly == a
            ]
            if vs:
                m.add(sum(vs) <= groups[group])
    for r, seats_r in cap.items():
        vs = [p for (k, _g, _t), p in people_vars.items() if cands[k].reception == r]
        if vs:
            m.add(sum(vs) <= seats_r)


def _add_crossing_limits(
    m: cp_model.CpModel,
    scenario: Scenario,
    tl: Timeline,
    cands: list[Corridor],
    trips_of: list[tuple[int, Any]],
) -> None:
    """No more passages (out and back) of a crossing point than its vehicles per hour allow."""
    vph = {
        c.id: c.vehicles_per_hour for c in scenario.ceasefire.crossing_points if c.vehicles_per_hour
    }
    hours = sum(b - a for a, b in tl.windows) / 3600.0
    for cid, rate in vph.items():
        ts = [trips for k, trips in trips_of if cands[k].crossing == cid]
        if ts:
            m.add(2 * sum(ts) <= int(rate * hours))


def choose_corridors(
    scenario: Scenario, net: PreparedNetwork, max_corridors: int, *, seed: int = 0
) -> CorridorChoice:
    """Choose at most ``max_corridors`` corridors to negotiate.

    Parameters
    ----------
    scenario
        The scenario.
    net
        Its prepared network.
    max_corridors
        How many corridors may be asked for.
    seed
        CP-SAT seed (single worker: deterministic).

    Returns
    -------
    CorridorChoice
    """
    tl = Timeline.from_scenario(scenario)
    cands = candidate_corridors(scenario, net)
    best, chosen, per_k, by_group, status = _solve(scenario, tl, cands, max_corridors, set(), seed)
    for k in chosen:
        cands[k].selected = True
        cands[k].people = per_k.get(k, 0)
        without, *_ = _solve(scenario, tl, cands, max_corridors, {k}, seed)
        cands[k].marginal = best - without
    people_all, *_ = _solve(scenario, tl, cands, len(cands), set(), seed)
    longer = replace(tl, windows=(*tl.windows[:-1], (tl.windows[-1][0], tl.windows[-1][1] + 3600)))
    extra, *_ = _solve(scenario, longer, cands, max_corridors, set(), seed)
    return CorridorChoice(cands, max_corridors, best, people_all, extra - best, status, by_group)


def corridors_geojson(choice: CorridorChoice) -> str:
    """Candidate corridors as a GeoJSON FeatureCollection (chosen ones flagged)."""
    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": c.path},
            "properties": {
                "id": c.id,
                "assembly": c.assembly,
                "crossing": c.crossing,
                "reception": c.reception,
                "selected": c.selected,
                "people": c.people,
                "marginal_people": c.marginal,
                "out_min": round(c.out_s / 60, 1),
                "back_min": round(c.back_s / 60, 1),
                "length_km": round(c.length_m / 1000, 1),
                "risk_km": round(c.risk_km, 2),
            },
        }
        for c in choice.corridors
    ]
    return (
        json.dumps({"type": "FeatureCollection", "features": feats}, indent=1, sort_keys=True)
        + "\n"
    )


def corridors_map(
    choice: CorridorChoice,
    scenario: Scenario,
    net: PreparedNetwork,
    path: Any,
    *,
    online: bool = False,
) -> None:
    """Write an HTML map with the candidate and chosen corridors (atomically).

    Like ``map.html`` it works offline (Leaflet inlined, nothing loaded from the network)
    unless ``online``, with the same context: roads, state borders, town and site names,
    the dated line of contact, a collapsed layer control and a legend clear of it.
    """
    import html

    import folium
    from shapely.geometry import mapping

    from planner.mapcontext import frontline_date
    from planner.mapcontrols import ControlBox
    from planner.plan import write_atomic
    from planner.render import TILES_LAYER, add_context, map_area, map_html

    sites = _corridor_sites(scenario)
    coords = [p for c in choice.corridors for p in c.path] or [
        [lon, lat] for _i, _n, lon, lat, _k in sites
    ]
    lons, lats = [p[0] for p in coords] or [35.0], [p[1] for p in coords] or [48.0]
    bounds = (min(lons), min(lats), max(lons), max(lats))
    m = folium.Map(
        location=[float(np.mean(lats)), float(np.mean(lons))],
        zoom_start=8,
        tiles=None,
        control_scale=True,
    )
    m.fit_bounds(
        [[bounds[1], bounds[0]], [bounds[3], bounds[2]]],
        padding_top_left=(40, 40),
        padding_bottom_right=(40, 120),
    )
    folium.TileLayer(
        "OpenStreetMap", name=html.escape(TILES_LAYER), overlay=True, show=online, control=True
    ).add_to(m)
    labels = [{"id": i, "n": n, "ll": [lat, lon], "kind": k, "r": 6} for i, n, lon, lat, k in sites]
    add_context(m, map_area(bounds), None, labels)
    date = frontline_date(scenario)
    if net.layers.frontline is not None:
        fg = folium.FeatureGroup(name="Frontline")
        folium.GeoJson(
            mapping(net.layers.frontline),
            style_function=lambda _f: {"color": "#000", "weight": 3, "dashArray": "6 4"},
            tooltip=html.escape("line of contact" + (f" as of {date}" if date else "")),
        ).add_to(fg)
        fg.add_to(m)
    for flag, name, colour in (
        (False, "Candidate corridors", "#999999"),
        (True, "Chosen corridors", "#0066cc"),
    ):
        fg = folium.FeatureGroup(name=name)
        for c in choice.corridors:
            if c.selected != flag:
                continue
            tip = (
                f"{c.id}: {c.people:,} people, marginal {c.marginal:,}, {c.out_s / 60:.0f} min out"
            )
            folium.PolyLine(
                [[p[1], p[0]] for p in c.path],
                color=colour,
                weight=5 if flag else 2,
                tooltip=html.escape(tip),
            ).add_to(fg)
        fg.add_to(m)
    fg = folium.FeatureGroup(name="Sites")
    for _i, n, lon, lat, kind in sites:
        colour = "#8b0000" if kind == "assembly" else "#2e8b57"
        folium.CircleMarker(
            [lat, lon], radius=6, color=colour, fill=True, fill_opacity=0.8, tooltip=html.escape(n)
        ).add_to(fg)
    fg.add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    summary = (
        f"<b>{html.escape(scenario.name)}</b>: best {choice.max_corridors} corridor(s) move "
        f"{choice.people:,} people<br>all {len(choice.corridors)} candidates: {choice.people_all:,} · "
        f"one more hour of truce: +{choice.extra_hour:,}"
    )
    ControlBox(m.get_name(), summary, "pl-summary", "topleft").add_to(m)
    legend = (
        "<b>Legend</b><br><span style='color:#0066cc'>&#9473;</span> chosen corridor &nbsp;"
        "<span style='color:#999'>&#9472;</span> candidate<br>"
        "<span style='color:#8b0000'>&#9679;</span> town (assembly point) &nbsp;"
        "<span style='color:#2e8b57'>&#9679;</span> reception centre<br>"
        "<span style='color:#000'>- - -</span> line of contact"
        + (f" as of {html.escape(date)}" if date else "")
        + "<br><span style='color:#6b6b6b'>-&middot;-</span> state borders (Natural Earth)"
    )
    ControlBox(m.get_name(), legend, "pl-legend", "bottomright").add_to(m)
    write_atomic(path, map_html(m, online=online))


def _corridor_sites(scenario: Scenario) -> list[tuple[str, str, float, float, str]]:
    """``(id, name, lon, lat, kind)`` of the assembly points and reception centres."""
    ev = scenario.evacuation
    if ev is None:
        return []
    out: list[tuple[str, str, float, float, str]] = []
    points = ev.assembly_points if isinstance(ev.assembly_points, list) else []
    for kind, items in (("assembly", points), ("reception", ev.reception_centres)):
        for a in items:
            lon, lat = location_lonlat(a.location)
            out.append((a.id, a.name or a.id, float(lon), float(lat), kind))
    return out
