"""Convoys (``ceasefire.convoys``): vehicles that move along a corridor only together.

A convoy runs on an agreed corridor from its marshalling site (``from``) towards the corridor's
far end (the end farther from the marshalling site along the corridor).  A drive *joins the
convoy* when its road path leaves or passes the marshalling site (comes within
:data:`MARSHAL_RADIUS_M` of it, plus the site's snap distance) and then heads along the
corridor away from it; such a drive is split in the plan into the drive to the marshalling
site and the convoy leg from there.

The convoy leg of one departure (id ``<corridor>@<depart time>``):

- leaves the marshalling site at the agreed time, all members together, behind a lead
  vehicle when the convoy names a ``lead`` type (one vehicle of that type per departure
  used, taken from the fleet; a lead vehicle leads one departure);
- drives at the convoy's pace: the longer of the road's drive and the corridor's length at
  ``max_speed_kph`` (every vehicle of the fleet drives the road network at the same speeds,
  so the slowest member's pace is the road's);
- has at most ``max_vehicles`` vehicles (the lead counted), all bound for one site;
- arrives when its last vehicle is in: the column is ``gap_min`` minutes long per vehicle
  behind the head, so it arrives ``(n - 1) * gap_min`` after the head, ``n`` the vehicles of
  the departure.  All members record the same departure and arrival, and the same times at
  the corridor's checkpoints;
- lies wholly inside one ceasefire window, and every vehicle counts against a crossing
  point's vehicles per hour.

The routing search sees convoy drives at convoy pace (plus the column of ``max_vehicles``
when given); the CP-SAT re-timing (:mod:`planner.retime`) puts every convoy drive on one
departure (:func:`add_convoy_rules`) or drops its trip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

MARSHAL_RADIUS_M = 2000.0
"""A drive passes the marshalling site when its path comes this close to it (plus the
site's snap distance); the verifier uses the same radius."""

AHEAD_M = 1000.0
"""How far past the marshalling site the path is looked at to tell which way it heads."""


@dataclass
class ConvoyRun:
    """One convoy of the scenario, in model terms (times in seconds from the first window)."""

    corridor: str
    site: int
    """Marshalling site (index into the model's sites)."""
    departs: list[int]
    """Agreed departures that lie inside a ceasefire window."""
    window_end: list[int]
    """End of the window each departure lies in."""
    labels: list[str]
    """Convoy id of each departure: ``<corridor>@<depart time>``."""
    max_vehicles: int | None
    lead_type: int | None
    """Fleet index of the lead vehicle type."""
    speed_mps: float | None
    gap_s: int


@dataclass
class ConvoyArc:
    """A drive between two sites that joins a convoy."""

    run: int
    to_marshal_s: int
    """Drive to the marshalling site (0 when the drive leaves from it)."""
    convoy_s: int
    """The convoy's drive from the marshalling site to the destination (the head's)."""
    checkpoints: list[tuple[str, float, float]] = field(default_factory=list)
    """The convoy's checkpoint stops on that drive, ``(id, arrive, depart)`` seconds after
    it leaves the marshalling site."""


@dataclass
class Convoys:
    """The convoys of a model and the drives that join them."""

    runs: list[ConvoyRun]
    arcs: dict[tuple[int, int], ConvoyArc] = field(default_factory=dict)

    def pace(self, run: int, dest: int) -> ConvoyArc:
        """The convoy's drive from a run's marshalling site to ``dest`` (any arc that has it)."""
        return next(a for (_f, b), a in self.arcs.items() if a.run == run and b == dest)

    def search_drive(self, arc: ConvoyArc) -> int:
        """The drive the routing search sees: to the marshalling site, then the convoy with
        the longest column (``max_vehicles``; the re-timing knows each departure's own).

        Measured on mariupol-2022: without the column the search plans more trips than the
        departures can take before the window closes and the re-timing, which can only drop
        trips from the ends of routes, keeps 1,988 of the 3,158 people it planned; with it
        the search plans 2,904 and the re-timing keeps 2,898."""
        run = self.runs[arc.run]
        return arc.to_marshal_s + arc.convoy_s + run.gap_s * ((run.max_vehicles or 1) - 1)


# --------------------------------------------------------------------------- geometry


def _metres(pts: np.ndarray, lat0: float) -> np.ndarray:
    """``(lon, lat)`` rows as local metres (equirectangular at ``lat0``)."""
    k = math.cos(math.radians(lat0))
    return np.column_stack([pts[:, 0] * 111_320.0 * k, pts[:, 1] * 110_540.0])


def convoy_direction(
    line: list[tuple[float, float]], marshal: tuple[float, float]
) -> tuple[float, int]:
    """Position of the marshalling site along a corridor line and the way the convoy runs.

    Returns
    -------
    tuple
        The site's distance along the line (metres) and ``+1`` when the convoy runs towards
        the line's last point, ``-1`` towards its first (the end farther from the site).
    """
    import shapely

    pts = _metres(np.array([*line, marshal], dtype=float), marshal[1])
    ls = shapely.LineString(pts[:-1])
    s = float(ls.project(shapely.Point(pts[-1])))
    return s, (1 if s <= ls.length / 2 else -1)


def joins_convoy(
    path: list[tuple[float, float]],
    line: list[tuple[float, float]],
    marshal: tuple[float, float],
    radius_m: float,
) -> bool:
    """Whether a path leaves or passes the marshalling site and then heads the convoy's way.

    The path passes the site when one of its points lies within ``radius_m`` of it; the point
    :data:`AHEAD_M` past the last such point (along the path) must lie farther along the
    corridor line, in the convoy's direction, than the site.
    """
    import shapely

    if len(path) < 2 or len(line) < 2:
        return False
    lat0 = marshal[1]
    p = _metres(np.array(path, dtype=float), lat0)
    m = _metres(np.array([marshal], dtype=float), lat0)[0]
    near = np.flatnonzero(np.hypot(p[:, 0] - m[0], p[:, 1] - m[1]) <= radius_m)
    if not len(near) or near[-1] == len(p) - 1:
        return False
    tail = shapely.LineString(p[near[-1] :])
    ahead = tail.interpolate(min(AHEAD_M, tail.length))
    s_site, way = convoy_direction(line, marshal)
    ls = shapely.LineString(_metres(np.array(line, dtype=float), lat0))
    return (float(ls.project(ahead)) - s_site) * way > 0


# --------------------------------------------------------------------------- model


def window_of(windows: list[tuple[int, int]] | tuple[tuple[int, int], ...], t: int) -> int | None:
    """Index of the window ``[a, b)`` holding ``t``, or ``None``."""
    for i, (a, b) in enumerate(windows):
        if a <= t < b:
            return i
    return None


def convoy_runs(
    scenario: Any, site_index: dict[str, int], windows: Any, seconds: Any
) -> list[ConvoyRun]:
    """The scenario's convoys with their departures inside the windows.

    Parameters
    ----------
    scenario
        The scenario.
    site_index
        Model site index by site id.
    windows
        The ceasefire windows in seconds.
    seconds
        ``datetime -> seconds`` on the plan's time axis.
    """
    ev = scenario.evacuation
    types = {vt.type: t for t, vt in enumerate(ev.fleet)}
    runs = []
    for cv in scenario.ceasefire.convoys:
        departs, ends, labels = [], [], []
        for when in cv.depart:
            t = int(seconds(when))
            w = window_of(windows, t)
            if w is not None:
                departs.append(t)
                ends.append(int(windows[w][1]))
                labels.append(convoy_label(cv.corridor, when))
        runs.append(
            ConvoyRun(
                corridor=cv.corridor,
                site=site_index[cv.from_],
                departs=departs,
                window_end=ends,
                labels=labels,
                max_vehicles=cv.max_vehicles,
                lead_type=types.get(cv.lead) if cv.lead is not None else None,
                speed_mps=cv.max_speed_kph / 3.6 if cv.max_speed_kph else None,
                gap_s=int(round(cv.gap_min * 60)),
            )
        )
    return runs


def convoy_label(corridor: str, when: datetime) -> str:
    """The id of one departure of a convoy: ``<corridor>@<depart time, ISO 8601>``."""
    return f"{corridor}@{when.isoformat()}"


def convoy_pace(
    drive_s: float, details: dict, speed_mps: float | None
) -> tuple[int, list[tuple[str, float, float]]]:
    """The convoy's drive and its checkpoint stops (seconds after it leaves).

    The driving (the drive less its checkpoint stops) takes the road's time, or the length at
    the speed cap when that is slower; checkpoints are reached at the same share of it.

    Parameters
    ----------
    drive_s
        The drive's time on the roads, checkpoint stops included.
    details
        The drive's path details: ``length_m`` and, on a corridor, ``checkpoints`` as
        ``(id, arrive, depart)`` seconds after leaving.
    speed_mps
        The convoy's speed cap.

    Returns
    -------
    tuple
        The convoy's drive (whole seconds) and its checkpoint stops.
    """
    stops = [(cid, a, b) for cid, a, b in details.get("checkpoints") or []]
    stopped = sum(b - a for _cid, a, b in stops)
    driving = max(0.0, float(drive_s) - stopped)
    capped = details["length_m"] / speed_mps if speed_mps else 0.0
    ratio = max(driving, capped) / driving if driving > 0 else 1.0
    out, before = [], 0.0
    for cid, a, b in stops:
        at = (a - before) * ratio + before
        out.append((cid, at, at + (b - a)))
        before += b - a
    return int(math.ceil(max(driving, capped) + stopped)), out


def find_convoy_arcs(
    runs: list[ConvoyRun],
    lines: dict[str, list[tuple[float, float]]],
    site_lonlat: list[tuple[float, float]],
    snap_m: list[float],
    drive: np.ndarray,
    details: Any,
) -> dict[tuple[int, int], ConvoyArc]:
    """Every drive between two sites that joins a convoy (the first convoy it joins).

    Parameters
    ----------
    runs
        The convoys.
    lines
        Each corridor's line (``[lon, lat]`` points in via order), by corridor id.
    site_lonlat, snap_m
        Each site's location and snap distance.
    drive
        Drive times between sites (``inf`` where there is no road).
    details
        ``(site a, site b) -> dict`` with the drive's ``coords`` and ``length_m``.
    """
    arcs: dict[tuple[int, int], ConvoyArc] = {}
    n = len(site_lonlat)
    for a in range(n):
        for b in range(n):
            if a == b or not np.isfinite(drive[a, b]):
                continue
            for r, run in enumerate(runs):
                f = run.site
                if b == f or not np.isfinite(drive[f, b]) or not np.isfinite(drive[a, f]):
                    continue
                path = details(a, b)["coords"]
                radius = MARSHAL_RADIUS_M + snap_m[f]
                if not joins_convoy(path, lines[run.corridor], site_lonlat[f], radius):
                    continue
                convoy_s, stops = convoy_pace(drive[f, b], details(f, b), run.speed_mps)
                arcs[(a, b)] = ConvoyArc(
                    run=r,
                    to_marshal_s=0 if a == f else int(drive[a, f]),
                    convoy_s=convoy_s,
                    checkpoints=stops,
                )
                break
    return arcs


def corridor_lines(scenario: Any) -> dict[str, list[tuple[float, float]]]:
    """Each corridor's line as its via points in order (or the vertices of its line file)."""
    from planner.agreed_corridors import site_locations, via_points

    sites = site_locations(scenario)
    out: dict[str, list[tuple[float, float]]] = {}
    for c in scenario.ceasefire.corridors:
        if c.via is not None:
            out[c.id] = [ll for _label, ll in via_points(c, sites)]
        else:
            import geopandas as gpd

            geom = gpd.read_file(scenario.resolve_path(c.file), layer=c.layer).geometry.iloc[0]
            out[c.id] = [(float(x), float(y)) for x, y, *_ in geom.coords]
    return out


def model_convoys(
    scenario: Any, sites: list[Any], drive: np.ndarray, tl: Any, details: Any
) -> Convoys | None:
    """The scenario's convoys on the model's sites (``None`` without convoys).

    Parameters
    ----------
    scenario
        The scenario.
    sites
        The model's sites (``id``, ``lonlat``, ``snap_m``).
    drive
        Drive times between the sites.
    tl
        The timeline.
    details
        ``(site a, site b) -> dict`` of the drive's path (``coords``, ``length_m``).

    Raises
    ------
    ScenarioError
        When a convoy's ``lead`` names a fleet type that has seats.
    """
    from planner.errors import ScenarioError

    if not scenario.ceasefire.convoys:
        return None
    fleet = scenario.evacuation.fleet
    for i, cv in enumerate(scenario.ceasefire.convoys):
        vt = next((f for f in fleet if f.type == cv.lead), None)
        if vt is not None and vt.seats > 0:
            raise ScenarioError(
                scenario.source_name(),
                f"ceasefire.convoys.{i}.lead",
                f"type {cv.lead!r} has seats; a lead vehicle type has none (seats: 0)",
            )
    runs = convoy_runs(scenario, {s.id: i for i, s in enumerate(sites)}, tl.windows, tl.seconds)
    lines = corridor_lines(scenario)
    arcs = find_convoy_arcs(
        runs, lines, [s.lonlat for s in sites], [s.snap_m for s in sites], drive, details
    )
    return Convoys(runs=runs, arcs=arcs)


def paced_drives(
    convoys: Convoys, drive: np.ndarray, cost: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drives that join a convoy at the convoy's pace.

    Returns
    -------
    tuple of numpy.ndarray
        The routing search's drives, the least drives (a convoy of one, for the bound and what
        can be served at all) and the costs.
    """
    search, least, cost = drive.copy(), drive.copy(), cost.copy()
    for (a, b), arc in convoys.arcs.items():
        least[a, b] = arc.to_marshal_s + arc.convoy_s
        search[a, b] = convoys.search_drive(arc)
        cost[a, b] = cost[a, b] + (search[a, b] - drive[a, b])
    return search, least, cost


CONVOY_SLACK_S = 2700
"""How long after a convoy's arrival (plus its longest column) the search lets deliveries start."""


def convoy_delivery_rules(
    convoys: Convoys,
    horizon: int,
    delivery_sites: dict[int, int],
    assembly_sites: list[int],
    drive: np.ndarray,
    unload_s: float,
) -> dict[int, list[tuple[int, int]]]:
    """Forbidden service starts of deliveries that can only be reached in a convoy.

    A reception centre that every loaded drive reaches in one convoy (every drive to it from
    an assembly point joins that convoy) receives people only after one of its departures
    arrives: from the convoy's arrival (with the unloading set-up) to
    :data:`CONVOY_SLACK_S` plus the column of ``max_vehicles`` later.  This guides the routing
    search towards the agreed departures; the re-timing then keeps them exactly.

    Parameters
    ----------
    convoys
        The convoys.
    horizon
        The end of the last window.
    delivery_sites
        Site of each delivery node, by node.
    assembly_sites
        The assembly points' sites.
    drive
        Drive times between sites (``inf``: no road).
    unload_s
        The set-up on arriving at a reception centre.

    Returns
    -------
    dict
        Forbidden ``[a, b]`` spans per delivery node.
    """
    only: dict[int, ConvoyArc] = {}
    for r in sorted(set(delivery_sites.values())):
        into = [convoys.arcs.get((a, r)) for a in assembly_sites if np.isfinite(drive[a, r])]
        arcs = [arc for arc in into if arc is not None]
        if into and len(arcs) == len(into) and len({arc.run for arc in arcs}) == 1:
            only[r] = arcs[0]
    out: dict[int, list[tuple[int, int]]] = {}
    for node, r in delivery_sites.items():
        arc = only.get(r)
        if arc is None:
            continue
        run = convoys.runs[arc.run]
        late = CONVOY_SLACK_S + run.gap_s * ((run.max_vehicles or 1) - 1)
        spans = sorted(
            (int(d + arc.convoy_s + unload_s), int(d + arc.convoy_s + unload_s + late))
            for d in run.departs
        )
        forbidden, cursor = [], 0
        for a, b in spans:
            if a > cursor:
                forbidden.append((cursor, a - 1))
            cursor = max(cursor, b + 1)
        if cursor <= horizon:
            forbidden.append((cursor, horizon))
        out[node] = forbidden
    return out


# --------------------------------------------------------------------------- re-timing


@dataclass
class ConvoyLeg:
    """A drive of a route that joins a convoy (re-timing input)."""

    run: int
    to_marshal_s: int
    convoy_s: int
    dest: int
    """Destination site."""
    to_marshal_crossings: list[str]
    convoy_crossings: list[str]


@dataclass
class LeadVehicle:
    """A vehicle that may lead one departure of the convoys of its type."""

    vehicle: int
    runs: list[int]
    approach_s: dict[int, int]
    """Drive from its start to each run's marshalling site (0 when it starts there)."""
    approach_crossings: dict[int, list[str]]
    earliest: int


@dataclass
class ConvoyInput:
    """The convoys as the re-timing sees them."""

    runs: list[ConvoyRun]
    legs: dict[tuple[int, int], ConvoyLeg]
    """By (vehicle, position of the stop the drive leads into), vehicles numbered as in
    the re-timing's routes."""
    dest_s: dict[tuple[int, int], int]
    """Convoy drive by (run, destination site)."""
    dest_crossings: dict[tuple[int, int], list[str]]
    leads: list[LeadVehicle]
    windows: list[tuple[int, int]]


@dataclass
class ConvoyVars:
    """The CP-SAT variables of the convoys (see :func:`add_convoy_rules`)."""

    x: dict[tuple[int, int], dict[int, Any]] = field(default_factory=dict)
    """Per convoy leg, its departure literal by departure index."""
    used: dict[tuple[int, int], Any] = field(default_factory=dict)
    dest: dict[tuple[int, int], dict[int, Any]] = field(default_factory=dict)
    arrive: dict[tuple[int, int], Any] = field(default_factory=dict)
    lead: dict[tuple[int, int, int], Any] = field(default_factory=dict)
    """By (lead vehicle index in :attr:`ConvoyInput.leads`, run, departure)."""
    approach: dict[int, Any] = field(default_factory=dict)
    intervals: dict[str, list[tuple[Any, Any]]] = field(default_factory=dict)
    """Crossing id -> (start, presence) of every convoy vehicle's drive through it."""

    def all_vars(self) -> list[Any]:
        out = [*self.used.values(), *self.lead.values(), *self.approach.values()]
        for d in (*self.x.values(), *self.dest.values()):
            out.extend(d.values())
        return out


@dataclass
class RegisteredLeg:
    """A convoy leg's variables in the re-timing model."""

    depart: Any
    """When the vehicle leaves its previous site."""
    service: Any
    """Service start at the destination."""
    keep: Any
    """The trip's literal."""
    dwell: int


def _departure_literals(
    m: Any,
    conv: ConvoyInput,
    key: tuple[int, int],
    leg: ConvoyLeg,
    reg: RegisteredLeg,
    out: ConvoyVars,
) -> None:
    """One literal per departure the leg may join; exactly one when its trip is kept."""
    run = conv.runs[leg.run]
    xs: dict[int, Any] = {}
    for k, t in enumerate(run.departs):
        x = m.new_bool_var(f"cx{key[0]}_{key[1]}_{k}")
        xs[k] = x
        w = window_of(conv.windows, t)
        assert w is not None  # a convoy departs inside a window (see convoy_runs)
        m.add(reg.depart + leg.to_marshal_s <= t).only_enforce_if(x)
        m.add(reg.depart >= conv.windows[w][0]).only_enforce_if(x)  # no wait across a closed period
        if leg.to_marshal_s == 0:
            m.add(reg.depart == t).only_enforce_if(x)
        out.dest.setdefault((leg.run, k), {})
        if leg.dest not in out.dest[(leg.run, k)]:
            out.dest[(leg.run, k)][leg.dest] = m.new_bool_var(f"cy{leg.run}_{k}_{leg.dest}")
        m.add_implication(x, out.dest[(leg.run, k)][leg.dest])
        for c in leg.convoy_crossings:
            out.intervals.setdefault(c, []).append((t, x))
    for c in leg.to_marshal_crossings:
        out.intervals.setdefault(c, []).append((reg.depart, reg.keep))
    m.add(sum(xs.values()) == reg.keep)
    out.x[key] = xs


def _departures(
    m: Any, conv: ConvoyInput, regs: dict[tuple[int, int], RegisteredLeg], out: ConvoyVars
) -> None:
    """Per departure: used, one destination, size, arrival; members arrive with it."""
    members: dict[tuple[int, int], list[tuple[tuple[int, int], Any]]] = {}
    for key, xs in out.x.items():
        for k, x in xs.items():
            members.setdefault((conv.legs[key].run, k), []).append((key, x))
    for (r, k), mem in sorted(members.items()):
        run = conv.runs[r]
        used = m.new_bool_var(f"cu{r}_{k}")
        out.used[(r, k)] = used
        for _key, x in mem:
            m.add_implication(x, used)
        n = sum(x for _key, x in mem)
        m.add(n >= used)
        ys = out.dest[(r, k)]
        m.add(sum(ys.values()) == used)
        lead = 1 if run.lead_type is not None else 0
        if run.max_vehicles is not None:
            m.add(n + lead * used <= run.max_vehicles)
        spread = run.gap_s * (n - (1 - lead) * used)
        arrive = run.departs[k] + sum(conv.dest_s[(r, b)] * y for b, y in ys.items()) + spread
        out.arrive[(r, k)] = arrive
        m.add(arrive <= run.window_end[k])
        for key, x in mem:
            m.add(regs[key].service >= arrive + regs[key].dwell).only_enforce_if(x)
        if lead:
            for b, y in ys.items():
                for c in conv.dest_crossings.get((r, b), []):
                    out.intervals.setdefault(c, []).append((run.departs[k], y))


def _leads(m: Any, conv: ConvoyInput, out: ConvoyVars, fit_domain: Any) -> None:
    """One lead vehicle per departure used; a lead vehicle leads at most one."""
    by_dep: dict[tuple[int, int], list[Any]] = {}
    for i, lv in enumerate(conv.leads):
        zs = []
        approach = None
        for r in lv.runs:
            drive = lv.approach_s[r]
            if drive > 0 and approach is None:
                dom = fit_domain(conv.windows, drive, lo=lv.earliest)
                if dom is None:
                    break
                approach = m.new_int_var_from_domain(dom, f"la{i}")
                out.approach[i] = approach
            for k, t in enumerate(conv.runs[r].departs):
                if (r, k) not in out.used or t < lv.earliest + drive:
                    continue
                z = m.new_bool_var(f"lz{i}_{r}_{k}")
                out.lead[(i, r, k)] = z
                zs.append(z)
                by_dep.setdefault((r, k), []).append(z)
                if drive > 0:
                    assert approach is not None  # made at the first run it drives to
                    m.add(approach + drive <= t).only_enforce_if(z)
        if zs:
            leads = m.new_bool_var(f"lu{i}")
            m.add(sum(zs) == leads)
            if approach is not None:
                crossings = {c for r in lv.runs for c in lv.approach_crossings.get(r, [])}
                for c in sorted(crossings):
                    out.intervals.setdefault(c, []).append((approach, leads))
    for (r, k), used in out.used.items():
        if conv.runs[r].lead_type is not None:
            m.add(sum(by_dep.get((r, k), [])) == used)


def add_convoy_rules(
    m: Any, conv: ConvoyInput, regs: dict[tuple[int, int], RegisteredLeg], fit_domain: Any
) -> ConvoyVars:
    """Put every convoy leg on one agreed departure of its convoy (CP-SAT).

    Parameters
    ----------
    m
        The re-timing's ``CpModel``.
    conv
        The convoys and the routes' convoy legs.
    regs
        Each convoy leg's variables, by (vehicle, position).
    fit_domain
        ``(windows, length, lo) -> Domain`` of the starts of a drive inside one window
        (:func:`planner.retime.fit_domain`).

    Returns
    -------
    ConvoyVars
        The literals, arrivals and the intervals each crossing point must add.
    """
    out = ConvoyVars()
    for key in sorted(regs):
        _departure_literals(m, conv, key, conv.legs[key], regs[key], out)
    _departures(m, conv, regs, out)
    _leads(m, conv, out, fit_domain)
    return out


@dataclass
class Departure:
    """One departure of a convoy as planned."""

    run: int
    index: int
    label: str
    depart: int
    arrive: int
    dest: int
    members: list[tuple[int, int]]
    """(vehicle, position) of the member drives."""
    lead: int | None = None
    """The lead vehicle (as numbered in the re-timing's routes)."""
    lead_approach: int | None = None
    """When the lead vehicle leaves its start for the marshalling site (None: it starts there)."""


@dataclass
class ConvoyOutcome:
    """The departures the re-timing used and which drive joined which."""

    departures: dict[tuple[int, int], Departure] = field(default_factory=dict)
    leg_departure: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    """(vehicle, position) -> (run, departure index)."""


def convoy_outcome(
    sol: Any,
    conv: ConvoyInput,
    cv: ConvoyVars,
    old_routes: list[list[int]],
    new_routes: list[list[int]],
) -> ConvoyOutcome:
    """Read the departures used from a CP-SAT solution (kept trips are a prefix of each route)."""
    out = ConvoyOutcome()
    for (v, pos), xs in sorted(cv.x.items()):
        if pos >= len(new_routes[v]):
            continue
        for k, x in xs.items():
            if sol.value(x):
                out.leg_departure[(v, pos)] = (conv.legs[(v, pos)].run, k)
    for (r, k), used in sorted(cv.used.items()):
        if not sol.value(used):
            continue
        run = conv.runs[r]
        dest = next(b for b, y in cv.dest[(r, k)].items() if sol.value(y))
        members = sorted(key for key, rk in out.leg_departure.items() if rk == (r, k))
        out.departures[(r, k)] = Departure(
            run=r,
            index=k,
            label=run.labels[k],
            depart=run.departs[k],
            arrive=int(sol.value(cv.arrive[(r, k)])),
            dest=dest,
            members=members,
        )
    for (i, r, k), z in sorted(cv.lead.items()):
        if sol.value(z) and (r, k) in out.departures:
            dep = out.departures[(r, k)]
            dep.lead = conv.leads[i].vehicle
            dep.lead_approach = int(sol.value(cv.approach[i])) if i in cv.approach else None
    return out
