"""The evacuation model: sites, chunks of people and the routing problem that moves them.

:func:`build_model` turns a scenario and its prepared road network into an
:class:`EvacuationModel`: the sites snapped to the roads and their drive times, who waits
where and who can be served at all (with a reason for the rest), a share of the people among
reception centres, the *chunks* (a group, a few tens of people, bound for one reception
centre) and a :class:`~planner.routing.RoutingProblem` with one pickup and one delivery node
per chunk.  Solving it is :mod:`planner.routing`'s business, turning routes into a plan
:mod:`planner.evacuation_extract`'s.

Ceasefire windows (see :func:`window_rules`): every service lies inside one window; a drive
into a stop served in the first window needs no rule of its own (it leaves after the
previous service, which is inside that window, and ends before this one); a stop served in
a later window may start only when the drive that can lead into it also fits in that window
(or, with ``PLANNER_WINDOW_RULE=arrival``, when the vehicle arrived the evening before).
With a single window the search's rules are exactly the verifier's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import lil_matrix

from planner.agreed_corridors import CorridorRoads, carries_on_corridor, corridor_roads
from planner.bound import Bound, BoundInputs, ConvoyLimits, compute_bound
from planner.chunks import Chunk, chunk_pieces, chunk_size
from planner.convoys import Convoys, convoy_delivery_rules, model_convoys, paced_drives
from planner.evacuation_households import (
    HouseholdInputs,
    bound_waiting,
    household_chunks,
    site_households,
)
from planner.network import Crossing, PreparedNetwork, RoadNetwork
from planner.routing import END, RoutingProblem
from planner.scenario import GROUPS, Evacuation, Scenario, location_lonlat
from planner.settings import get_settings
from planner.timeline import Timeline

CHANGE_COST = 3_600
"""Cost (seconds of driving) of giving a chunk to another vehicle than before, when re-planning;
far below the penalty of leaving one person behind, so serving people always comes first."""

PENALTY_PER_PERSON = 200_000
"""Drop penalty per person of priority weight 1 (in cost seconds)."""

MAX_CHUNK_NODES = 1500
"""Most chunks in a model; above it, chunks grow."""

TOP_UP_GROWTH = 1.10
"""The cuts of :func:`planner.chunks.chunk_pieces` that fill every vehicle exactly (the fill
pattern, and the top-up pieces of 1, 2, 4, ... people at the end of each stream) are used
when they add at most this share to the plain chunks: on `bench/evacuation.py` they add 7 %
of nodes and 30 people (4,416 -> 4,446 of 4,470); on the tests' 246-person grid the pieces
add 76 %, and the same search budget then served 177 people in 17 s instead of 226 in 1.7 s;
for 45-seat buses and chunks of 22 the pattern 22 + 22 + 1 adds 34 % of nodes, each of one
person, and doubled the search time of a Zaporizhzhia plan for one seat a bus."""

INBOUND_MARGIN_S = 900.0
"""Margin on a stop's longest inbound drive in windows after the first (see :func:`inbound_limits`)."""


@dataclass
class SiteRec:
    """A site of the model: an assembly point, a reception centre or a vehicle start."""

    id: str
    kind: str
    name: str | None
    lonlat: tuple[float, float]
    node: int
    snap_m: float


@dataclass
class EvacuationModel:
    """Everything the search needs and everything the plan extraction reads back."""

    scenario: Scenario
    net: PreparedNetwork
    tl: Timeline
    sites: list[SiteRec]
    in_closed: set[str]
    drive: np.ndarray
    """Drive time between sites (S × S, whole seconds, ``inf`` = no safe road)."""
    vehicles: list[tuple[str, int]]
    """(vehicle id, fleet type index) per vehicle."""
    vstart: list[int]
    earliest: list[int]
    A_idx: list[int]
    R_idx: list[int]
    W: np.ndarray
    """People waiting per (assembly point, group)."""
    x: np.ndarray
    """People given to each reception centre per (assembly point, group, reception)."""
    reason_of: dict[tuple[int, int], str]
    bound: Bound
    chunks: list[Chunk]
    node_site: list[int]
    chunk_node0: int
    deliv_node0: int
    problem: RoutingProblem
    dwell: np.ndarray
    """Dwell at each node's site on arriving from another site (per node)."""
    prio: np.ndarray
    blocked: dict[tuple[int, int], list[tuple[str, int]]] = field(default_factory=dict)
    """People of households no vehicle can take, per (assembly point, group): (reason, people)."""
    conservative: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    """Service rule under which arriving just in time is always allowed (see :class:`WindowRules`)."""
    warnings: list[str] = field(default_factory=list)
    corridors: CorridorRoads | None = None
    """The agreed corridors' roads, when the scenario has corridors."""
    convoys: Convoys | None = None
    """The convoys and the drives that join them (see :mod:`planner.convoys`)."""
    path_details: Callable[[int, int], dict] | None = None
    """The cached path details between sites that building the model already found (the
    convoys need them); the extraction reuses them instead of tracing the paths again."""

    @property
    def ev(self) -> Evacuation:
        assert self.scenario.evacuation is not None
        return self.scenario.evacuation

    @property
    def stop_s(self) -> float:
        return float(self.ev.stop_min * 60)

    @property
    def unload_s(self) -> float:
        return float(self.ev.unload_min * 60)

    @property
    def gi_of(self) -> dict[str, int]:
        return {g: i for i, g in enumerate(GROUPS)}

    def roads_between(self, sa: int, sb: int) -> RoadNetwork:
        """The roads a drive from site ``sa`` to site ``sb`` runs on (the corridor network
        when it must follow the agreed corridors)."""
        if self.corridors is not None and carries_on_corridor(
            self.sites[sa].kind, self.sites[sb].kind
        ):
            return self.corridors.roads
        return self.net.roads


def vehicle_list(scenario: Scenario) -> list[tuple[str, int]]:
    """Every vehicle of the fleet as ``(id, type index)``, ids ``<type>-<k>``."""
    assert scenario.evacuation is not None
    out = []
    for t, vt in enumerate(scenario.evacuation.fleet):
        for k in range(vt.count):
            out.append((f"{vt.type}-{k + 1}", t))
    return out


def _raw_sites(ev: Evacuation) -> list[tuple[str, str, str | None, tuple[float, float]]]:
    sites = [(a.id, "assembly", a.name, location_lonlat(a.location)) for a in ev.point_list()]
    sites += [
        (r.id, "reception", r.name, location_lonlat(r.location)) for r in ev.reception_centres
    ]
    for vt in ev.fleet:
        if not isinstance(vt.start, str):
            sites.append(
                (f"start-{vt.type}", "start", f"start of {vt.type}", location_lonlat(vt.start))
            )
    return sites


def model_sites(
    scenario: Scenario, net: PreparedNetwork
) -> tuple[list[SiteRec], list[str], set[str]]:
    """Sites snapped to the roads, the warnings about them, and the sites inside closed areas."""
    assert scenario.evacuation is not None
    settings = get_settings()
    raw = _raw_sites(scenario.evacuation)
    snaps = net.roads.snap([s[3] for s in raw])
    sites = [
        SiteRec(sid, kind, name, ll, sn.node, sn.distance_m)
        for (sid, kind, name, ll), sn in zip(raw, snaps, strict=True)
    ]
    warnings = list(net.layers.notes)  # what the layer files held and we dropped
    warnings += [
        f"site {s.id} is {s.snap_m:.0f} m from the nearest usable road"
        for s in sites
        if s.snap_m > settings.snap_warn_m
    ]
    if net.layers.frontline is not None:
        for c in net.layers.crossings:
            if not net.report.crossing_edges.get(c.id):
                warnings.append(
                    f"crossing point {c.id}: no open road crosses the line of contact within "
                    f"{c.radius_m:.0f} m of it (or each such road is nearer another crossing "
                    "point), so no vehicle can use it"
                )
    in_closed: set[str] = set()
    if len(net.layers.closed):
        import shapely

        closed_union = net.layers.closed.geometry.union_all()
        for s in sites:
            if closed_union.contains(shapely.Point(s.lonlat)):
                in_closed.add(s.id)
                warnings.append(f"site {s.id} lies inside a closed hazard area")
    return sites, warnings, in_closed


def site_drives(
    net: PreparedNetwork,
    sites: list[SiteRec],
    in_closed: set[str],
    corridors: CorridorRoads | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Drive times (whole seconds) and costs between the sites; ``inf`` where no safe road.

    With agreed corridors, drives from or to an assembly point run on the corridor network
    (see :func:`planner.agreed_corridors.corridor_roads`), their checkpoint stops included.
    """
    nodes = [s.node for s in sites]
    time_s, cost_s = net.roads.matrices(nodes, nodes)
    if corridors is not None:
        on = np.array(
            [[carries_on_corridor(a.kind, b.kind) for b in sites] for a in sites], dtype=bool
        )
        ctime, ccost = corridors.roads.matrices(nodes, nodes)
        time_s, cost_s = np.where(on, ctime, time_s), np.where(on, ccost, cost_s)
    for i, s in enumerate(sites):
        if s.id in in_closed:
            for m in (time_s, cost_s):
                m[i, :] = np.inf
                m[:, i] = np.inf
                m[i, i] = 0
    drive = np.where(np.isfinite(time_s), np.ceil(time_s), np.inf)
    cost = np.where(np.isfinite(cost_s), np.ceil(cost_s), np.inf)
    return drive, cost


def site_path_details(
    net: PreparedNetwork, sites: list[SiteRec], corridors: CorridorRoads | None = None
) -> Callable[[int, int], dict]:
    """Path details (coordinates, length, risk, crossings and, on the agreed corridors, the
    checkpoint stops) of the drive between two sites, cached."""
    cache: dict[tuple[int, int], dict] = {}

    def details(sa: int, sb: int) -> dict:
        if (sa, sb) not in cache:
            on = (
                corridors
                if corridors is not None and carries_on_corridor(sites[sa].kind, sites[sb].kind)
                else None
            )
            roads = on.roads if on is not None else net.roads
            nodes = roads.path(sites[sa].node, sites[sb].node)
            cache[(sa, sb)] = roads.path_details(nodes)
            if on is not None:
                cache[(sa, sb)]["checkpoints"] = on.leg_checkpoints(nodes)
        return cache[(sa, sb)]

    return details


def kind_dwell_site(
    sites: list[SiteRec], frm: int, to: int, stop_s: float, unload_s: float
) -> float:
    """Dwell on arriving at a new site: boarding set-up at a pickup, unloading at a reception."""
    if frm == to:
        return 0.0
    kind = sites[to].kind
    return stop_s if kind == "assembly" else unload_s if kind == "reception" else 0.0


def one_trip_fits(
    tl: Timeline,
    drive: np.ndarray,
    a: int,
    receptions: list[int],
    starts: list[int],
    earliest: list[int],
    stop_s: float,
    unload_s: float,
) -> bool:
    """Whether some carrier can drive start → a → some reception inside the windows."""
    for s, e in zip(starts, earliest, strict=True):
        first = drive[s, a]
        if not np.isfinite(first):
            continue
        t = float(e)
        if first > 0:
            st = tl.earliest_fit(t, first)
            if st is None:
                continue
            t = st + first
        for r in receptions:
            d = drive[a, r]
            if not np.isfinite(d):
                continue
            st = tl.earliest_fit(t + stop_s, d)
            if st is not None and st + d + unload_s <= tl.horizon:
                return True
    return False


def servable(
    ev: Evacuation,
    tl: Timeline,
    sites: list[SiteRec],
    in_closed: set[str],
    drive: np.ndarray,
    waiting_ag: np.ndarray,
    a_idx: list[int],
    r_idx: list[int],
    vehicles: list[tuple[str, int]],
    vstart: list[int],
    earliest: list[int],
) -> tuple[np.ndarray, dict[tuple[int, int], str]]:
    """Which (assembly point, group) can be served at all, and the reason for the others."""
    carriers = {
        g: [v for v, (_vid, t) in enumerate(vehicles) if g in ev.fleet[t].groups] for g in GROUPS
    }
    stop_s, unload_s = float(ev.stop_min * 60), float(ev.unload_min * 60)
    reason_of: dict[tuple[int, int], str] = {}
    ok = np.zeros(waiting_ag.shape, dtype=bool)
    for ai, a in enumerate(a_idx):
        for gi, g in enumerate(GROUPS):
            if waiting_ag[ai, gi] == 0:
                continue
            if sites[a].id in in_closed:
                reason_of[(ai, gi)] = "site_in_closed_area"
            elif not carriers[g]:
                reason_of[(ai, gi)] = "no_vehicle_for_group"
            elif not np.isfinite(drive[a, r_idx]).any() or not any(
                np.isfinite(drive[vstart[v], a]) for v in carriers[g]
            ):
                reason_of[(ai, gi)] = "no_safe_road"
            elif not one_trip_fits(
                tl,
                drive,
                a,
                r_idx,
                [vstart[v] for v in carriers[g]],
                [earliest[v] for v in carriers[g]],
                stop_s,
                unload_s,
            ):
                reason_of[(ai, gi)] = "window_too_short"
            else:
                ok[ai, gi] = True
    return ok, reason_of


def assign_receptions(
    waiting: np.ndarray,
    prio: np.ndarray,
    time_ar: np.ndarray,
    capacity: np.ndarray,
    servable: np.ndarray,
) -> np.ndarray:
    """Share people out among reception centres (transport LP, integral by total unimodularity).

    ``waiting`` is (A, G), ``time_ar`` (A, R). Returns x of shape (A, G, R).
    """
    A, G = waiting.shape
    R = capacity.shape[0]
    finite = np.isfinite(time_ar)
    tmax = float(np.max(time_ar[finite])) if finite.any() else 1.0
    var = [
        (a, g, r)
        for a in range(A)
        for g in range(G)
        for r in range(R)
        if finite[a, r] and servable[a, g] and waiting[a, g] > 0
    ]
    x = np.zeros((A, G, R), dtype=np.int64)
    if not var:
        return x
    c = np.array(
        [-(prio[g] * (1.0 + 1e-3 * (1.0 - time_ar[a, r] / (tmax + 1.0)))) for a, g, r in var]
    )
    rows_ag: dict[tuple[int, int], int] = {}
    a_ub: list[dict[int, float]] = []
    b_ub: list[float] = []
    for k, (a, g, _r) in enumerate(var):
        if (a, g) not in rows_ag:
            rows_ag[(a, g)] = len(a_ub)
            a_ub.append({})
            b_ub.append(float(waiting[a, g]))
        a_ub[rows_ag[(a, g)]][k] = 1.0
    for r in range(R):
        row = {k: 1.0 for k, (_a, _g, rr) in enumerate(var) if rr == r}
        if row:
            a_ub.append(row)
            b_ub.append(float(capacity[r]))
    m = lil_matrix((len(a_ub), len(var)))
    for i, row in enumerate(a_ub):
        for k, val in row.items():
            m[i, k] = val
    res = linprog(c, A_ub=m.tocsr(), b_ub=b_ub, bounds=(0, None), method="highs-ds")
    if res.status != 0:
        return x
    for k, (a, g, r) in enumerate(var):
        x[a, g, r] = int(math.floor(res.x[k] + 1e-6))
    return x


def make_chunks(
    ev: Evacuation,
    vehicles: list[tuple[str, int]],
    x: np.ndarray,
    a_idx: list[int],
    r_idx: list[int],
) -> list[Chunk]:
    """Routing nodes of people: per (assembly point, group, reception), chunks that fill vehicles.

    Each stream is cut by :func:`planner.chunks.chunk_pieces` so that whole chunks fill
    every carrier to its last seat (with the top-up pieces, else without) when that adds at
    most :data:`TOP_UP_GROWTH` to the plain chunks of the chunk size, else into those; when
    they are more than :data:`MAX_CHUNK_NODES`, the chunks grow until they fit.
    """
    carriers = {
        g: [v for v, (_vid, t) in enumerate(vehicles) if g in ev.fleet[t].groups] for g in GROUPS
    }
    seats_of = {g: sorted({ev.fleet[vehicles[v][1]].seats for v in carriers[g]}) for g in GROUPS}
    min_seats = {g: min(seats_of[g], default=1) for g in GROUPS}
    total_people = int(x.sum())
    scale = 1
    streams = [
        (a, g, r, int(x[ai, gi, ri]))
        for ai, a in enumerate(a_idx)
        for gi, g in enumerate(GROUPS)
        for ri, r in enumerate(r_idx)
        if x[ai, gi, ri] > 0
    ]
    # chunks that fill every vehicle exactly with the top-up pieces, else without them, else
    # plain chunks of the chunk size (see chunk_pieces): the first that adds few nodes
    size = {g: min(chunk_size(seats_of[g]), min_seats[g]) for g in GROUPS}
    topped, filled, plain = [
        [
            Chunk(a, g, c, r)
            for a, g, r, n in streams
            for c in chunk_pieces(n, size[g], seats_of[g], top_up=top_up, fill=fill)
        ]
        for top_up, fill in ((True, True), (False, True), (False, False))
    ]
    for chunks in (topped, filled):
        if len(chunks) <= min(MAX_CHUNK_NODES, TOP_UP_GROWTH * len(plain)):
            return chunks
    if len(plain) <= MAX_CHUNK_NODES or total_people == 0:
        return plain
    while True:
        chunks = []
        for a, g, r, n in streams:
            size_g = chunk_size(seats_of[g]) * scale
            size_g = min(size_g, min_seats[g]) if scale == 1 else size_g
            while n > 0:
                c = min(size_g, n)
                chunks.append(Chunk(a, g, c, r))
                n -= c
        if len(chunks) <= MAX_CHUNK_NODES or total_people == 0:
            return chunks
        scale += 1


def inbound_limits(
    chunks: list[Chunk],
    chunk_node0: int,
    deliv_node0: int,
    drive: np.ndarray,
    sites: list[SiteRec],
    stop_s: float,
    unload_s: float,
) -> np.ndarray:
    """The longest drive (with the dwell on arrival) allowed into each stop node, in seconds.

    A pickup may be reached from every reception centre of the plan, and from other stops
    no farther away; a delivery from its chunk's assembly point and from stops no farther.
    Both get a margin of :data:`INBOUND_MARGIN_S`.  Where no reception centre reaches a
    pickup, the longest drive from any stop site is allowed.  Entries before ``chunk_node0``
    are 0 (starts and the end).
    """
    receptions = sorted({c.reception for c in chunks})
    stop_sites = sorted({c.site for c in chunks} | set(receptions))
    pick: dict[int, float] = {}
    for a in sorted({c.site for c in chunks}):
        back = [drive[r, a] for r in receptions if r != a and np.isfinite(drive[r, a])]
        if back:
            pick[a] = max(back) + stop_s + INBOUND_MARGIN_S
        else:
            ins = [
                drive[p, a] + kind_dwell_site(sites, p, a, stop_s, unload_s)
                for p in stop_sites
                if p != a and np.isfinite(drive[p, a])
            ]
            pick[a] = max(ins, default=0.0)
    pre = np.zeros(deliv_node0 + len(chunks))
    for k, c in enumerate(chunks):
        pre[chunk_node0 + k] = pick[c.site]
        to = drive[c.site, c.reception] + (unload_s if c.site != c.reception else 0.0)
        pre[deliv_node0 + k] = to + INBOUND_MARGIN_S if np.isfinite(to) else 0.0
    return pre


def _complement(tl: Timeline, allowed: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The times of ``[0, horizon]`` outside the given sorted spans."""
    out: list[tuple[int, int]] = []
    cursor = 0
    for a, b in allowed:
        if a > b:
            continue
        if a > cursor:
            out.append((cursor, a - 1))
        cursor = max(cursor, b + 1)
    if cursor <= tl.horizon:
        out.append((cursor, tl.horizon))
    return out


def service_forbidden(tl: Timeline, pre_later: float, post: float) -> list[tuple[int, int]]:
    """Service start times a stop may not take.

    Allowed: ``[start, end - post]`` of the first window and ``[start + pre_later, end -
    post]`` of every later one (``pre_later``: the longest drive and dwell that may lead into
    the stop from the window before).
    """
    spans = []
    for b, (a, e) in enumerate(tl.windows):
        lo = a if b == 0 else a + pre_later
        spans.append((int(math.ceil(lo)), int(math.floor(e - post))))
    return _complement(tl, spans)


def departure_forbidden(tl: Timeline, longest: float) -> list[tuple[int, int]]:
    """Departure times outside every ``[window start, window end - longest]``."""
    return _complement(
        tl, [(int(math.ceil(a)), int(math.floor(b - longest))) for a, b in tl.windows]
    )


@dataclass
class WindowRules:
    """The window rules of the routing problem (see :func:`window_rules`)."""

    service: dict[int, list[tuple[int, int]]]
    """Forbidden service starts per node (and departures per start node)."""
    arrival: dict[int, list[tuple[int, int]]]
    """Forbidden arrivals per node (empty with one window, or with the conservative rule)."""
    conservative: dict[int, list[tuple[int, int]]]
    """Forbidden service starts under which arriving just in time is always allowed: for the
    first solution and for moving stops later at the crossings."""
    next_allowed: dict[int, list[int]]


def arrival_forbidden(tl: Timeline, pre_later: float, dwell: float) -> list[tuple[int, int]]:
    """Arrival times (after the dwell) a stop may not take: allowed ``[start, end + dwell]`` of the
    first window and ``[start + pre_later, end + dwell]`` of every later one."""
    spans = []
    for b, (a, e) in enumerate(tl.windows):
        lo = a if b == 0 else a + pre_later
        spans.append((int(math.ceil(lo)), int(math.floor(e + dwell))))
    return _complement(tl, spans)


def window_rules(
    tl: Timeline,
    chunks: list[Chunk],
    chunk_node0: int,
    start_sites: list[int],
    sites: list[SiteRec],
    drive: np.ndarray,
    time_m: np.ndarray,
    cost_m: np.ndarray,
    same: np.ndarray,
    service: np.ndarray,
    dwell: np.ndarray,
    stop_s: float,
    unload_s: float,
    big: int,
    rule: str = "conservative",
) -> WindowRules:
    """Forbidden service and arrival times per node, and allowed first stops per start node.

    In the first window a stop needs only its service inside the window: the drive into it
    leaves after the previous service (or the vehicle's start), both inside the window, and
    arrives before this one.  With one window that is all, and exact.  With more windows, a
    drive that arrives in a later window must also have left after that window opened: every
    arc into a stop is at most its limit (:func:`inbound_limits`; longer arcs between stops
    are removed from ``time_m`` and ``cost_m`` in place), and the vehicle's *arrival* at the
    stop's site may fall in a later window only that limit after it opens.  The vehicle may
    arrive before a closed period and stand at the site until its service in the next
    window.  With ``rule="conservative"`` there is no arrival dimension: the service itself
    waits for the limit (a vehicle that arrived the evening before still waits).  A vehicle
    start whose drive to some first pickup is longer than that pickup's limit leaves only
    where that drive fits in the window it leaves in.
    """
    n_stop = 2 * len(chunks)
    stops = range(chunk_node0, chunk_node0 + n_stop)
    deliv_node0 = chunk_node0 + len(chunks)
    multi = len(tl.windows) > 1
    pre = np.zeros(chunk_node0 + n_stop)
    if multi and chunks:
        pre = inbound_limits(chunks, chunk_node0, deliv_node0, drive, sites, stop_s, unload_s)
        into = time_m[chunk_node0:, chunk_node0:]  # arcs between stop nodes (a view)
        too_long = (into > pre[chunk_node0:][None, :]) & ~same[chunk_node0:, chunk_node0:]
        into[too_long] = big
        cost_m[chunk_node0:, chunk_node0:][too_long] = big
    conservative = {n: service_forbidden(tl, float(pre[n]), float(service[n])) for n in stops}
    if multi and rule == "arrival":
        service_rule = {n: service_forbidden(tl, 0.0, float(service[n])) for n in stops}
        arrival = {n: arrival_forbidden(tl, float(pre[n]), float(dwell[n])) for n in stops}
    else:
        service_rule, arrival = dict(conservative), {}
    longest = max(b - a for a, b in tl.windows)
    next_allowed: dict[int, list[int]] = {}
    for s_node, site in enumerate(start_sites):
        first, long_first = [], 0.0
        for k, c in enumerate(chunks):
            d = drive[site, c.site] + kind_dwell_site(sites, site, c.site, stop_s, unload_s)
            if np.isfinite(d) and d <= longest:
                first.append(chunk_node0 + k)
                if multi and d > pre[chunk_node0 + k]:
                    long_first = max(long_first, float(d))
        next_allowed[s_node] = [*first, END]
        if long_first > 0:
            service_rule[s_node] = conservative[s_node] = departure_forbidden(tl, long_first)
    return WindowRules(
        service=service_rule, arrival=arrival, conservative=conservative, next_allowed=next_allowed
    )


def preferred_vehicles(
    previous: dict[str, list[tuple[str, str, int]]],
    vehicles: list[tuple[str, int]],
    chunks: list[Chunk],
    sites: list[SiteRec],
    chunk_node0: int,
) -> dict[int, int]:
    """Pickup node → the vehicle that was to carry its people before.

    Per (assembly point, group), each vehicle in turn takes the largest chunks that still fit
    in what it was to pick up (chunks come in several sizes, see
    :func:`planner.chunks.chunk_pieces`, so whole chunks make up its number exactly where
    they can); a chunk left over goes to the first vehicle with people still to take.
    """
    v_of = {vid: v for v, (vid, _t) in enumerate(vehicles)}
    left: dict[tuple[str, str], list[list[int]]] = {}
    for vid, items in sorted(previous.items()):
        if vid not in v_of:
            continue
        for site, group, people in items:
            if people > 0:
                left.setdefault((site, group), []).append([v_of[vid], int(people)])
    streams: dict[tuple[str, str], list[int]] = {}
    for k, c in enumerate(chunks):
        streams.setdefault((sites[c.site].id, c.group), []).append(k)
    out: dict[int, int] = {}
    for key, ks in streams.items():
        queue = left.get(key, [])
        free = sorted(ks, key=lambda k: (-chunks[k].people, k))
        for item in queue:
            for k in list(free):
                if chunks[k].people <= item[1]:
                    out[chunk_node0 + k] = item[0]
                    item[1] -= chunks[k].people
                    free.remove(k)
        for k in sorted(free):
            short = next((it for it in queue if it[1] > 0), None)
            if short is None:
                break
            out[chunk_node0 + k] = short[0]
            short[1] -= chunks[k].people
    return out


def chunk_nodes(
    ev: Evacuation,
    chunks: list[Chunk],
    vehicles: list[tuple[str, int]],
    prio: np.ndarray,
    n_nodes: int,
    chunk_node0: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, list[int]], list[tuple[int, int]]]:
    """Service, demand, drop penalty, allowed vehicles and pickup-delivery pairs of the chunk nodes."""
    deliv_node0 = chunk_node0 + len(chunks)
    service = np.zeros(n_nodes, dtype=np.int64)
    demand = np.zeros(n_nodes, dtype=np.int64)
    penalty = np.zeros(n_nodes, dtype=np.int64)
    allowed: dict[int, list[int]] = {}
    carriers = {
        g: [v for v, (_vid, t) in enumerate(vehicles) if g in ev.fleet[t].groups] for g in GROUPS
    }
    gi_of = {g: i for i, g in enumerate(GROUPS)}
    pairs: list[tuple[int, int]] = []
    for k, c in enumerate(chunks):
        pu, de = chunk_node0 + k, deliv_node0 + k
        service[pu] = service[de] = int(round(ev.boarding_s_per_person * c.seats))
        demand[pu], demand[de] = c.seats, -c.seats
        if c.members is None:
            penalty[pu] = int(round(PENALTY_PER_PERSON * prio[gi_of[c.group]] * c.people))
        else:
            weight = sum(prio[gi_of[g]] * n for g, n in c.members.items())
            penalty[pu] = int(round(PENALTY_PER_PERSON * weight))
        penalty[de] = -1  # tied to its pickup
        allowed[pu] = allowed[de] = (
            carriers[c.group]
            if c.types is None
            else [v for v, (_vid, t) in enumerate(vehicles) if t in c.types]
        )
        pairs.append((pu, de))
    return service, demand, penalty, allowed, pairs


def routing_problem(
    ev: Evacuation,
    tl: Timeline,
    sites: list[SiteRec],
    drive: np.ndarray,
    cost: np.ndarray,
    chunks: list[Chunk],
    vehicles: list[tuple[str, int]],
    vstart: list[int],
    earliest: list[int],
    prio: np.ndarray,
    preferred_of: dict[str, list[tuple[str, str, int]]] | None,
) -> tuple[RoutingProblem, list[int], int, np.ndarray, dict[int, list[tuple[int, int]]]]:
    """The routing problem: vehicle starts, one free end, a pickup and a delivery per chunk.

    Returns the problem (in seconds), each node's site (-1 for the end), the first chunk
    node, each node's dwell on arrival from another site and the conservative service rule
    (see :class:`WindowRules`).
    """
    n_vehicles = len(vehicles)
    stop_s, unload_s = float(ev.stop_min * 60), float(ev.unload_min * 60)
    start_sites = sorted(set(vstart))
    node_site: list[int] = list(start_sites)
    end_node = len(node_site)
    node_site.append(-1)
    chunk_node0 = len(node_site)
    node_site.extend(c.site for c in chunks)
    node_site.extend(c.reception for c in chunks)
    N = len(node_site)
    big = int(tl.horizon * 4 + 10**6)
    site_arr = np.array([s if s >= 0 else 0 for s in node_site])
    dT = drive[np.ix_(site_arr, site_arr)]
    dC = cost[np.ix_(site_arr, site_arr)]
    kind_dwell = np.array(
        [
            0.0
            if s < 0
            else (
                stop_s
                if sites[s].kind == "assembly"
                else unload_s
                if sites[s].kind == "reception"
                else 0.0
            )
            for s in node_site
        ]
    )
    same = site_arr[:, None] == site_arr[None, :]
    dwell = np.where(~same, kind_dwell[None, :], 0.0)
    T = np.where(np.isfinite(dT), dT + dwell, big)
    C = np.where(np.isfinite(dC), dC + dwell, big)
    for m in (T, C):
        m[:, end_node] = 0
        m[end_node, :] = 0
    T = T.astype(np.int64)
    C = C.astype(np.int64)
    service, demand, penalty, allowed, pairs = chunk_nodes(
        ev, chunks, vehicles, prio, N, chunk_node0
    )
    rules = window_rules(
        tl,
        chunks,
        chunk_node0,
        start_sites,
        sites,
        drive,
        T,
        C,
        same,
        service,
        kind_dwell,
        stop_s,
        unload_s,
        big,
        get_settings().window_rule,
    )
    preferred = (
        preferred_vehicles(preferred_of, vehicles, chunks, sites, chunk_node0)
        if preferred_of
        else {}
    )
    problem = RoutingProblem(
        time=T,
        cost=C,
        service=service,
        demand=demand,
        windows=[(0, tl.horizon)] * N,
        penalty=penalty,
        vehicle_capacity=[ev.fleet[t].seats for _v, t in vehicles],
        vehicle_start=[start_sites.index(vstart[v]) for v in range(n_vehicles)],
        vehicle_end=[end_node] * n_vehicles,
        horizon=tl.horizon,
        allowed_vehicles=allowed,
        pairs=pairs,
        pairs_in_one_trip=True,
        next_allowed=rules.next_allowed,
        vehicle_earliest=earliest,
        forbidden=rules.service,
        arrival_forbidden=rules.arrival,
        node_site=node_site,
        max_wait={chunk_node0 + k: int(ev.max_wait_loaded_min * 60) for k in range(len(chunks))},
        zero_wait_at_start=False,
        preferred_vehicle=preferred,
        change_cost=CHANGE_COST if preferred else 0,
    )
    return problem, node_site, chunk_node0, kind_dwell, rules.conservative


def convoy_limits(
    convoys: Convoys | None,
    ev: Evacuation,
    details: Callable[[int, int], dict],
    crossings: list[Crossing],
) -> list[ConvoyLimits] | None:
    """The convoys as the bound sees them (``None`` without convoys).

    Parameters
    ----------
    convoys
        The model's convoys.
    ev
        The evacuation (the fleet's lead vehicles).
    details
        ``(site a, site b) -> dict`` of a drive's path (its ``crossings``).
    crossings
        The network's crossing points (``id``, ``vehicles_per_hour``).
    """
    if convoys is None:
        return None
    vph = {c.id: float(c.vehicles_per_hour) for c in crossings if c.vehicles_per_hour}
    out = []
    for r, run in enumerate(convoys.runs):
        arcs = {ab for ab, arc in convoys.arcs.items() if arc.run == r}
        dest_s = {b: convoys.pace(r, b).convoy_s for _a, b in sorted(arcs)}
        passed = [set(details(run.site, b)["crossings"]) & set(vph) for b in sorted(dest_s)]
        common = set.intersection(*passed) if passed else set()
        out.append(
            ConvoyLimits(
                site=run.site,
                departs=list(run.departs),
                window_end=list(run.window_end),
                arcs=arcs,
                dest_s=dest_s,
                max_vehicles=run.max_vehicles,
                lead_vehicles=None if run.lead_type is None else ev.fleet[run.lead_type].count,
                crossings=[
                    (int(math.ceil(3600.0 * max(1.0, 1.0 / vph[c]))), max(1, int(vph[c])))
                    for c in sorted(common)
                ],
            )
        )
    return out


def _bound(
    ev: Evacuation,
    tl: Timeline,
    sd: _SiteDrives,
    waiting: dict[str, dict[str, int]],
    vehicles: list[tuple[str, int]],
    vstart: list[int],
    earliest: list[int],
    convoys: list[ConvoyLimits] | None = None,
) -> Bound:
    """The upper bound, from the same (least) drive times but none of the search's rules
    (save the convoys' departures)."""
    sites, drive, a_idx, r_idx, in_closed = sd.sites, sd.least, sd.A_idx, sd.R_idx, sd.in_closed
    return compute_bound(
        BoundInputs(
            timeline=tl,
            waiting=waiting,
            assembly_ids=[sites[a].id for a in a_idx],
            reception_ids=[sites[r].id for r in r_idx],
            reception_capacity=[
                next(r for r in ev.reception_centres if r.id == sites[i].id).capacity for i in r_idx
            ],
            a_to_r=drive[np.ix_(a_idx, r_idx)],
            r_to_a=drive[np.ix_(r_idx, a_idx)],
            start_to_a=drive[np.ix_(vstart, a_idx)] if vstart else np.zeros((0, len(a_idx))),
            vehicle_seats=[ev.fleet[t].seats for _v, t in vehicles],
            vehicle_groups=[list(ev.fleet[t].groups) for _v, t in vehicles],
            vehicle_earliest=earliest,
            stop_s=float(ev.stop_min * 60),
            unload_s=float(ev.unload_min * 60),
            excluded_sites=in_closed,
            site_drive=drive,
            assembly_sites=a_idx,
            reception_sites=r_idx,
            vehicle_sites=vstart,
            vehicle_types=[t for _v, t in vehicles],
            convoys=convoys,
        )
    )


def _trip_fits(
    ev: Evacuation,
    tl: Timeline,
    drive: np.ndarray,
    a_idx: list[int],
    r_idx: list[int],
    vehicles: list[tuple[str, int]],
    vstart: list[int],
    earliest: list[int],
) -> Callable[[int, tuple[int, ...]], bool]:
    """Whether a vehicle of some fleet types can make one trip from an assembly point position."""

    def fits(ai: int, types: tuple[int, ...]) -> bool:
        carriers = [v for v, (_vid, t) in enumerate(vehicles) if t in types]
        return one_trip_fits(
            tl,
            drive,
            a_idx[ai],
            r_idx,
            [vstart[v] for v in carriers],
            [earliest[v] for v in carriers],
            float(ev.stop_min * 60),
            float(ev.unload_min * 60),
        )

    return fits


@dataclass
class _SiteDrives:
    """The model's sites and the drives between them (paced by the convoys, if any)."""

    sites: list[SiteRec]
    warnings: list[str]
    in_closed: set[str]
    corridors: CorridorRoads | None
    drive: np.ndarray
    least: np.ndarray
    cost: np.ndarray
    details: Callable[[int, int], dict]
    convoys: Convoys | None
    A_idx: list[int]
    R_idx: list[int]


def _site_drives_of(scenario: Scenario, net: PreparedNetwork, tl: Timeline) -> _SiteDrives:
    """Snap the sites, find the agreed corridors and the drives, and pace them by convoy."""
    sites, warnings, in_closed = model_sites(scenario, net)
    corridors = corridor_roads(scenario, net.roads, [s.lonlat for s in sites])
    if corridors is not None:
        warnings += corridors.warnings
    drive, cost = site_drives(net, sites, in_closed, corridors)
    least = drive
    details = site_path_details(net, sites, corridors)
    convoys = model_convoys(scenario, sites, drive, tl, details)
    if convoys is not None:
        drive, least, cost = paced_drives(convoys, drive, cost)
    return _SiteDrives(
        sites=sites,
        warnings=warnings,
        in_closed=in_closed,
        corridors=corridors,
        drive=drive,
        least=least,
        cost=cost,
        details=details,
        convoys=convoys,
        A_idx=[i for i, s in enumerate(sites) if s.kind == "assembly"],
        R_idx=[i for i, s in enumerate(sites) if s.kind == "reception"],
    )


def _vehicle_starts(
    ev: Evacuation, tl: Timeline, vehicles: list[tuple[str, int]], sites: list[SiteRec]
) -> tuple[list[int], list[int]]:
    """Each vehicle's start site and earliest start (seconds)."""
    site_index = {s.id: i for i, s in enumerate(sites)}
    vstart = [
        site_index[st if isinstance(st := ev.fleet[t].start, str) else f"start-{ev.fleet[t].type}"]
        for _vid, t in vehicles
    ]
    earliest = [
        max(0, tl.seconds(af)) if (af := ev.fleet[t].available_from) is not None else 0
        for _vid, t in vehicles
    ]
    return vstart, earliest


def _add_convoy_deliveries(
    ev: Evacuation,
    tl: Timeline,
    sd: _SiteDrives,
    chunks: list[Chunk],
    chunk_node0: int,
    forbidden: list[dict[int, list[tuple[int, int]]]],
) -> None:
    """Forbid the deliveries' times that no convoy departure can reach."""
    assert sd.convoys is not None
    deliveries = {chunk_node0 + len(chunks) + k: c.reception for k, c in enumerate(chunks)}
    extra = convoy_delivery_rules(
        sd.convoys, tl.horizon, deliveries, sd.A_idx, sd.drive, ev.unload_min * 60
    )
    for rules in forbidden:
        for node, spans in extra.items():
            rules[node] = sorted([*rules.get(node, []), *spans])


def build_model(
    scenario: Scenario,
    net: PreparedNetwork,
    previous: dict[str, list[tuple[str, str, int]]] | None = None,
) -> EvacuationModel:
    """Build the evacuation model of a scenario on its prepared network.

    Parameters
    ----------
    scenario
        A validated scenario with an ``evacuation`` section.
    net
        Its prepared road network.
    previous
        When re-planning: what each vehicle was to pick up before (see
        :func:`planner.evacuation.plan_evacuation`).

    Returns
    -------
    EvacuationModel
    """
    ev = scenario.evacuation
    assert ev is not None
    tl = Timeline.from_scenario(scenario)
    sd = _site_drives_of(scenario, net, tl)
    sites, drive, A_idx, R_idx = sd.sites, sd.drive, sd.A_idx, sd.R_idx
    vehicles = vehicle_list(scenario)
    vstart, earliest = _vehicle_starts(ev, tl, vehicles, sites)
    waiting = {p.id: p.require_people().as_dict() for p in ev.point_list()}
    households = site_households(ev, [sites[a].id for a in A_idx])
    limits = convoy_limits(sd.convoys, ev, sd.details, net.layers.crossings)
    bound_in = bound_waiting(ev, waiting) if households else waiting
    bound = _bound(ev, tl, sd, bound_in, vehicles, vstart, earliest, limits)
    weights: dict[str, float] = {g: w for g, w in ev.priorities.items()}
    prio = np.array([weights[g] for g in GROUPS], dtype=float)
    W = np.array(
        [[waiting[sites[a].id][g] for g in GROUPS] for a in A_idx], dtype=np.int64
    ).reshape(len(A_idx), len(GROUPS))
    ok, reason_of = servable(
        ev, tl, sites, sd.in_closed, sd.least, W, A_idx, R_idx, vehicles, vstart, earliest
    )
    cap = np.array(
        [next(r for r in ev.reception_centres if r.id == sites[i].id).capacity for i in R_idx],
        dtype=np.int64,
    )
    x = assign_receptions(W, prio, drive[np.ix_(A_idx, R_idx)], cap, ok)
    if households:
        trip_fits = _trip_fits(ev, tl, drive, A_idx, R_idx, vehicles, vstart, earliest)
        inputs = HouseholdInputs(ev, drive, A_idx, R_idx, cap, ok, reason_of, trip_fits)
        share = household_chunks(inputs, households, x)
        x, blocked = share.x, share.blocked
        plain = x.copy()
        plain[sorted(households)] = 0
        chunks = make_chunks(ev, vehicles, plain, A_idx, R_idx) + share.chunks
    else:
        blocked, chunks = {}, make_chunks(ev, vehicles, x, A_idx, R_idx)
    problem, node_site, chunk_node0, dwell, conservative = routing_problem(
        ev, tl, sites, drive, sd.cost, chunks, vehicles, vstart, earliest, prio, previous
    )
    if sd.convoys is not None:
        _add_convoy_deliveries(ev, tl, sd, chunks, chunk_node0, [problem.forbidden, conservative])
    return EvacuationModel(
        scenario=scenario,
        net=net,
        tl=tl,
        sites=sites,
        in_closed=sd.in_closed,
        drive=drive,
        vehicles=vehicles,
        vstart=vstart,
        earliest=earliest,
        A_idx=A_idx,
        R_idx=R_idx,
        W=W,
        x=x,
        reason_of=reason_of,
        blocked=blocked,
        bound=bound,
        chunks=chunks,
        node_site=node_site,
        chunk_node0=chunk_node0,
        deliv_node0=chunk_node0 + len(chunks),
        problem=problem,
        dwell=dwell,
        conservative=conservative,
        prio=prio,
        warnings=sd.warnings,
        corridors=sd.corridors,
        convoys=sd.convoys,
        path_details=sd.details,
    )
