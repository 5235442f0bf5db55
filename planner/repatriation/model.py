"""Candidates and the CP-SAT model of the journeys home.

A *candidate group* is one journey: a handover (site and time), a route and a timetable
along it (one per travel-day limit that gives a different timetable; a group of younger
children stops for the night earlier).  Each child may join the candidate groups it can take:
its identity is verified, its guardian located, it holds every document the route's
crossings ask for, the timetable's longest day is within its age's limit, it is at the
handover site in time (ready and transferred), and, when it waits for its guardian, the
guardian can travel, holds the guardian documents and arrives at the site by the handover.
Whoever can join no group gets the reason a caseworker acts on.

CP-SAT then chooses (booleans ``x[block, group]``, a block being a sibling group, or the
children one guardian collects, or a single child): each block in at most one group, so
siblings travel together or not at all; each
handover's most children; group sizes; escorts per group by the children's ages (an escort
in one group at a time, counting the rest after arrival; a guardian escorts their own
children) and the escorts' dates.  The objective is lexicographic: first the most children
home, then priority-weighted earliness (who goes first, by the terms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from planner.repatriation.journey import (
    Durations,
    Journey,
    backward,
    crossing_documents,
    forward,
    walk,
)
from planner.repatriation.spec import Child, RepatriationSpec

REASONS: dict[str, str] = {
    "identity_not_verified": "identity not verified",
    "guardian_not_located": "guardian not located",
    "guardian_cannot_travel": "guardian cannot travel",
    "document_missing": "document missing for the crossing",
    "guardian_document_missing": "guardian's document missing for the crossing",
    "travel_day_too_long": "travel day too long for the child's age",
    "guardian_cannot_arrive": "guardian cannot reach the handover in time",
    "no_handover_date_left": "no handover date left",
    "sibling_cannot_go": "a sibling cannot go yet",
}
"""Why a child cannot go yet: codes and the words for a caseworker."""


@dataclass(frozen=True)
class Group:
    """A candidate group: a handover, a route and a timetable."""

    id: str
    site: str
    handover: int
    at: datetime
    route: str
    journey: Journey
    rank: int  # order of the handover time over all sites, 0 first


@dataclass
class Candidates:
    """Who may join which candidate group, and why the others may not."""

    groups: list[Group]
    eligible: dict[str, list[int]]
    reasons: dict[str, tuple[str, str]]
    units: dict[str, int]
    unit_scale: int
    weight: dict[str, int]
    blocks: list[list[str]]  # children that go together (siblings, one guardian)
    guardian_trips: dict[tuple[str, int], Journey] = field(default_factory=dict)
    capacity: dict[tuple[str, int], int] = field(default_factory=dict)
    n_ranks: int = 0
    model_blocks: list[list[str]] = field(default_factory=list)


def priority_order(spec: RepatriationSpec, children: list[Child]) -> list[Child]:
    """Children in the order the terms put them (medical, youngest, longest separated), then id."""

    def key(c: Child) -> tuple:
        parts: list[Any] = []
        for t in spec.terms.first:
            if t == "medical":
                parts.append(0 if c.medical else 1)
            elif t == "youngest":
                parts.append(c.age)
            else:
                parts.append(c.separated_since.toordinal() if c.separated_since else math.inf)
        return (*parts, c.id)

    return sorted(children, key=key)


def _blocks(children: list[Child]) -> list[list[str]]:
    """Children that travel together: a sibling group, or those one guardian collects."""
    parent = {c.id: c.id for c in children}

    def find(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    by: dict[tuple[str, str], str] = {}
    for c in children:
        keys = [("s", c.sibling_group)] if c.sibling_group else []
        if c.handover_to == "guardian" and c.guardian:
            keys.append(("g", c.guardian))
        for k in keys:
            if k in by:
                parent[find(c.id)] = find(by[k])
            else:
                by[k] = c.id
    out: dict[str, list[str]] = {}
    for c in children:
        out.setdefault(find(c.id), []).append(c.id)
    return sorted((sorted(v) for v in out.values()), key=lambda b: b[0])


def candidate_groups(
    spec: RepatriationSpec, dur: Durations
) -> tuple[list[Group], dict[tuple[str, int], int], int]:
    """Every (handover, route, timetable) and each handover's most children."""
    limits = sorted({spec.day_limit_min(a) for a in range(18)})
    times = sorted({h.at for s in spec.mediator.handover_sites for h in s.handovers})
    rank = {t: i for i, t in enumerate(times)}
    groups: list[Group] = []
    cap: dict[tuple[str, int], int] = {}
    for site in spec.mediator.handover_sites:
        for hi, h in enumerate(site.handovers):
            cap[(site.id, hi)] = h.max_children or site.max_children
            start = h.at + timedelta(minutes=site.handover_min)
            for route in spec.routes:
                if route.from_ != site.id:
                    continue
                seen: set[tuple] = set()
                for lim in limits:
                    j = walk(spec, forward(spec, route, dur), start, lim, route.id)
                    if isinstance(j, str) or j.key() in seen:
                        continue
                    seen.add(j.key())
                    where = f"{site.id}." if len(spec.mediator.handover_sites) > 1 else ""
                    gid = f"{where}{h.at.strftime('%Y%m%d-%H%M')}.{route.id}" + (
                        f".{len(seen)}" if len(seen) > 1 else ""
                    )
                    groups.append(Group(gid, site.id, hi, h.at, route.id, j, rank[h.at]))
    return groups, cap, len(times)


def _child_routes(spec: RepatriationSpec, c: Child) -> tuple[list[str], list[str]]:
    """Routes whose crossing documents the child holds, and what is missing on the others."""
    ok, missing = [], []
    held = set(c.documents)
    for r in spec.routes:
        if c.site is not None and r.from_ != c.site:
            continue
        lack = [f"{d} at {stop}" for stop, d in crossing_documents(r) if d not in held]
        if lack:
            missing.append(f"{r.id} needs {', '.join(lack)}")
        else:
            ok.append(r.id)
    return ok, missing


def _guardian_trip(
    spec: RepatriationSpec, dur: Durations, gid: str, g_route: str, cache: dict
) -> Journey | str:
    key = (gid, g_route)
    if key not in cache:
        g = spec.guardian_map()[gid]
        route = spec.route_map()[g_route]
        start = g.ready_from
        if start is None:
            cache[key] = "the guardian's ready_from date is not known"
        else:
            start = start + timedelta(minutes=dur.to_route.get(gid, 0.0))
            cache[key] = walk(
                spec, backward(spec, route, dur), start, spec.guardian_travel_day_h * 60.0, route.id
            )
    return cache[key]


def _status_reason(spec: RepatriationSpec, c: Child) -> tuple[str, str] | None:
    if not c.identity_verified:
        return "identity_not_verified", "the mediator has not verified the child's identity"
    if not c.guardian_located:
        return "guardian_not_located", "no parent or guardian located yet"
    if c.handover_to == "guardian":
        g = spec.guardian_map()[str(c.guardian)]
        if not g.can_travel:
            return (
                "guardian_cannot_travel",
                f"guardian {g.id} is to collect the child but cannot travel",
            )
    return None


def _eligible_for(
    spec: RepatriationSpec, dur: Durations, c: Child, groups: list[Group], trips: dict, cache: dict
) -> tuple[list[int], tuple[str, str] | None]:
    """Candidate groups a child may join, or the reason it may join none."""
    why = _status_reason(spec, c)
    if why is not None:
        return [], why
    ok_routes, missing = _child_routes(spec, c)
    if not ok_routes:
        return [], ("document_missing", "; ".join(missing) or "no route from its handover site")
    limit = spec.day_limit_min(c.age)
    routes = [
        r
        for r in ok_routes
        if any(g.route == r and g.journey.max_day_min <= limit + 1e-9 for g in groups)
    ]
    if not routes:
        longest = spec.day_limit_min(c.age) / 60.0
        return [], (
            "travel_day_too_long",
            f"every timetable of {', '.join(ok_routes)} has a day longer than {longest:g} h (age {c.age})",
        )
    # looked up once a child: the map is built anew on each call
    gr = spec.guardian_map()[str(c.guardian)] if c.handover_to == "guardian" else None
    route_map = spec.route_map()
    if gr is not None:
        held = set(gr.documents)
        lack = {
            r: [
                f"{d} at {s}"
                for s, d in crossing_documents(route_map[r], guardian=True)
                if d not in held
            ]
            for r in routes
        }
        with_docs = [r for r in routes if not lack[r]]
        if not with_docs:
            return [], (
                "guardian_document_missing",
                "; ".join(f"{r} needs {', '.join(v)}" for r, v in lack.items()),
            )
        routes = with_docs
    ready = (
        (c.ready_from + timedelta(minutes=dur.transfer.get(c.id, 0.0))) if c.ready_from else None
    )
    out: list[int] = []
    guardian_late: list[str] = []
    for gi, g in enumerate(groups):
        if (
            g.route not in routes
            or g.journey.max_day_min > limit + 1e-9
            or (c.site is not None and g.site != c.site)
        ):
            continue
        if ready is not None and ready > g.at:
            continue
        if gr is not None:
            trip = _guardian_trip(spec, dur, gr.id, gr.route or g.route, cache)
            site_of = route_map[gr.route or g.route].from_
            if isinstance(trip, str) or site_of != g.site or trip.arrive > g.at:
                guardian_late.append(g.id)
                continue
            trips[(gr.id, gi)] = trip
        out.append(gi)
    if out:
        return out, None
    if guardian_late:
        return [], (
            "guardian_cannot_arrive",
            f"guardian {c.guardian} cannot reach the handover site by any handover the child can join",
        )
    when = f" after {ready.isoformat(timespec='minutes')}" if ready is not None else ""
    return [], ("no_handover_date_left", f"no handover on routes {', '.join(routes)}{when}")


def build_candidates(spec: RepatriationSpec, dur: Durations) -> Candidates:
    """Candidate groups, each child's eligible groups, reasons, escort units and weights."""
    groups, cap, n_ranks = candidate_groups(spec, dur)
    children = spec.child_list()
    byid = {c.id: c for c in children}
    trips: dict[tuple[str, int], Journey] = {}
    cache: dict = {}
    eligible: dict[str, list[int]] = {}
    reasons: dict[str, tuple[str, str]] = {}
    for c in children:
        el, why = _eligible_for(spec, dur, c, groups, trips, cache)
        eligible[c.id] = el
        if why is not None:
            reasons[c.id] = why
    blocks = _blocks(children)
    for b in blocks:
        if len(b) < 2:
            continue
        common = set.intersection(*(set(eligible[m]) for m in b))
        blocked = [m for m in b if m in reasons]
        for m in b:
            eligible[m] = sorted(common)
            if not common and m not in reasons:
                if blocked:
                    other = blocked[0]
                    reasons[m] = (
                        "sibling_cannot_go",
                        f"{other} travels with this child and cannot go yet ({REASONS[reasons[other][0]]})",
                    )
                else:
                    reasons[m] = (
                        "sibling_cannot_go",
                        f"no group that all of {', '.join(b)} can join together",
                    )
    per = {p.children for p in spec.mediator.children_per_escort}
    scale = math.lcm(*per)
    units = {
        c.id: (0 if c.handover_to == "guardian" else scale // spec.per_escort(c.age))
        for c in children
    }
    order = priority_order(spec, children)
    n = max(1, len(order))
    weight = {c.id: 1 + (10 * (n - i)) // n for i, c in enumerate(order)}
    del byid
    return Candidates(groups, eligible, reasons, units, scale, weight, blocks, trips, cap, n_ranks)


# --------------------------------------------------------------------------- CP-SAT


@dataclass
class Model:
    """The CP-SAT model and its variables.

    ``x[(block index, group index)]`` is a block (siblings, or the children one guardian
    collects; a single child otherwise) in a group; ``esc[(class, group index)]`` the number
    of escorts of an availability class (escorts with the same dates) in a group.
    """

    cp: Any
    x: dict[tuple[int, int], Any]
    used: dict[int, Any]
    esc: dict[tuple[int, int], Any]
    classes: list[list[str]]
    count: Any
    earliness: Any


def escort_classes(spec: RepatriationSpec) -> list[list[str]]:
    """Escorts grouped by the dates they can take (identical within a class), ids sorted."""
    by: dict[tuple, list[str]] = {}
    for e in spec.mediator.escorts:
        key = ("all",) if e.dates is None else tuple(sorted(set(e.dates)))
        by.setdefault(key, []).append(e.id)
    return [sorted(v) for _k, v in sorted(by.items(), key=lambda kv: (min(kv[1]), kv[0]))]


def class_available(spec: RepatriationSpec, cls: list[str], g: Group) -> bool:
    """Whether the escorts of a class can take a group (its handover date)."""
    e = next(x for x in spec.mediator.escorts if x.id == cls[0])
    return e.dates is None or g.at.date() in set(e.dates)


def escort_span(spec: RepatriationSpec, g: Group) -> tuple[datetime, datetime]:
    """When a group's escorts are busy: from the handover to arrival plus their rest."""
    return g.at, g.journey.arrive + timedelta(hours=spec.mediator.escort_rest_h)


def build_model(spec: RepatriationSpec, cand: Candidates) -> Model:
    """The CP-SAT model of the candidates (see the module doc)."""
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    groups = cand.groups
    blocks = [b for b in cand.blocks if not any(c in cand.reasons for c in b)]
    x = {
        (bi, gi): m.new_bool_var(f"x[{bi},{gi}]")
        for bi, b in enumerate(blocks)
        for gi in cand.eligible[b[0]]
    }
    members: dict[int, list[int]] = {gi: [] for gi in range(len(groups))}
    for bi, gi in x:
        members[gi].append(bi)
    size = [len(b) for b in blocks]
    units = [sum(cand.units[c] for c in b) for b in blocks]
    used = {gi: m.new_bool_var(f"y[{gi}]") for gi in range(len(groups)) if members[gi]}
    for bi, b in enumerate(blocks):
        gs = cand.eligible[b[0]]
        if len(gs) > 1:
            m.add_at_most_one(x[(bi, gi)] for gi in gs)
    by_handover: dict[tuple[str, int], list[int]] = {}
    for gi, g in enumerate(groups):
        by_handover.setdefault((g.site, g.handover), []).append(gi)
    for key, gis in by_handover.items():
        terms = [(size[bi], x[(bi, gi)]) for gi in gis for bi in members[gi]]
        if sum(n for n, _v in terms) > cand.capacity[key]:
            m.add(sum(n * v for n, v in terms) <= cand.capacity[key])
    gs_min, gs_max = spec.mediator.group_size.min, spec.mediator.group_size.max
    classes = escort_classes(spec)
    esc: dict[tuple[int, int], Any] = {}
    for gi, y in used.items():
        n = sum(size[bi] * x[(bi, gi)] for bi in members[gi])
        m.add(n <= gs_max * y)
        if gs_min > 1:
            m.add(n >= gs_min * y)
        for bi in members[gi]:
            m.add_implication(x[(bi, gi)], y)
        most = max(spec.mediator.min_escorts_per_group, gs_max)
        for ci, cls in enumerate(classes):
            if class_available(spec, cls, groups[gi]):
                esc[(ci, gi)] = m.new_int_var(0, min(len(cls), most), f"e[{ci},{gi}]")
                m.add(esc[(ci, gi)] <= min(len(cls), most) * y)
        n_esc = sum(v for (ci, g2), v in esc.items() if g2 == gi)
        need = [(units[bi], x[(bi, gi)]) for bi in members[gi] if units[bi]]
        if need:
            m.add(sum(u * v for u, v in need) <= cand.unit_scale * n_esc)
        if spec.mediator.min_escorts_per_group:
            m.add(n_esc >= spec.mediator.min_escorts_per_group * y)
    _escort_cliques(m, spec, groups, classes, esc, used)
    count = sum(size[bi] * v for (bi, _gi), v in x.items())
    wsum = [sum(cand.weight[c] for c in b) for b in blocks]
    earliness = sum(wsum[bi] * (cand.n_ranks - groups[gi].rank) * v for (bi, gi), v in x.items())
    cand.model_blocks = blocks
    return Model(m, x, used, esc, classes, count, earliness)


def _escort_cliques(
    m: Any,
    spec: RepatriationSpec,
    groups: list[Group],
    classes: list[list[str]],
    esc: dict,
    used: dict,
) -> None:
    """A class's escorts are in one group at a time each: at every handover time, the groups
    then under way take at most the class's escorts (exact for intervals)."""
    span = {gi: escort_span(spec, groups[gi]) for gi in used}
    starts = sorted({a for a, _b in span.values()})
    for ci, cls in enumerate(classes):
        gis = [gi for gi in used if (ci, gi) in esc]
        for t in starts:
            live = [gi for gi in gis if span[gi][0] <= t < span[gi][1]]
            if len(live) > 1:
                m.add(sum(esc[(ci, gi)] for gi in live) <= len(cls))


@dataclass
class CountModel:
    """The first phase's model over classes of interchangeable blocks (same eligible groups,
    size and escort units): ``n[(class, group)]`` blocks of a class in a group."""

    cp: Any
    n: dict[tuple[int, int], Any]
    used: dict[int, Any]
    esc: dict[tuple[int, int], Any]
    classes: list[list[int]]  # block indices (into ``Candidates.model_blocks``) per class
    escort_classes: list[list[str]]
    count: Any
    earliness: Any = 0


def build_count_model(
    spec: RepatriationSpec, cand: Candidates, by_weight: bool = False
) -> CountModel:
    """The model of :func:`build_model` with interchangeable blocks counted, not named: the
    same constraints on every handover, group and escort class, and the same optimum of
    children home, on far fewer variables (its LP bound comes much sooner).

    With ``by_weight``, blocks of a class also have the same priority weight, so the
    priority objective (``earliness``, that of :func:`build_model`) is linear in the counts
    and the model has the same optimum of it too: blocks of a class are interchangeable for
    both objectives."""
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    groups = cand.groups
    blocks = cand.model_blocks or [b for b in cand.blocks if not any(c in cand.reasons for c in b)]
    cand.model_blocks = blocks
    by: dict[tuple, list[int]] = {}
    for bi, b in enumerate(blocks):
        key: tuple = (tuple(cand.eligible[b[0]]), len(b), sum(cand.units[c] for c in b))
        if by_weight:
            key = (*key, sum(cand.weight[c] for c in b))
        by.setdefault(key, []).append(bi)
    keys = sorted(by, key=lambda k: by[k][0])
    classes = [by[k] for k in keys]
    n = {
        (k, gi): m.new_int_var(0, len(classes[k]), f"n[{k},{gi}]")
        for k, key in enumerate(keys)
        for gi in key[0]
    }
    members: dict[int, list[int]] = {gi: [] for gi in range(len(groups))}
    for k, gi in n:
        members[gi].append(k)
    for k, key in enumerate(keys):
        if len(key[0]) > 1:
            m.add(sum(n[(k, gi)] for gi in key[0]) <= len(classes[k]))
    size = [key[1] for key in keys]
    units = [key[2] for key in keys]
    by_handover: dict[tuple[str, int], list[int]] = {}
    for gi, g in enumerate(groups):
        by_handover.setdefault((g.site, g.handover), []).append(gi)
    for key, gis in by_handover.items():
        m.add(sum(size[k] * n[(k, gi)] for gi in gis for k in members[gi]) <= cand.capacity[key])
    gs_min, gs_max = spec.mediator.group_size.min, spec.mediator.group_size.max
    eclasses = escort_classes(spec)
    esc: dict[tuple[int, int], Any] = {}
    used: dict[int, Any] = {}
    most = max(spec.mediator.min_escorts_per_group, gs_max)
    for gi in range(len(groups)):
        if not members[gi]:
            continue
        y = used[gi] = m.new_bool_var(f"y[{gi}]")
        total = sum(size[k] * n[(k, gi)] for k in members[gi])
        m.add(total <= gs_max * y)
        if gs_min > 1:
            m.add(total >= gs_min * y)
        for ci, cls in enumerate(eclasses):
            if class_available(spec, cls, groups[gi]):
                esc[(ci, gi)] = m.new_int_var(0, min(len(cls), most), f"e[{ci},{gi}]")
                m.add(esc[(ci, gi)] <= min(len(cls), most) * y)
        n_esc = sum(v for (ci, g2), v in esc.items() if g2 == gi)
        need = [(units[k], n[(k, gi)]) for k in members[gi] if units[k]]
        if need:
            m.add(sum(u * v for u, v in need) <= cand.unit_scale * n_esc)
        if spec.mediator.min_escorts_per_group:
            m.add(n_esc >= spec.mediator.min_escorts_per_group * y)
    _escort_cliques(m, spec, groups, eclasses, esc, used)
    count = sum(size[k] * v for (k, _gi), v in n.items())
    earliness = (
        sum(keys[k][3] * (cand.n_ranks - groups[gi].rank) * v for (k, gi), v in n.items())
        if by_weight
        else 0
    )
    return CountModel(m, n, used, esc, classes, eclasses, count, earliness)


def disaggregate(
    cand: Candidates, cm: CountModel, counts: dict[tuple[int, int], int]
) -> dict[str, int]:
    """Children per group from class counts: in each class the first blocks by priority take
    the earliest groups (which is best for who goes first within the class)."""
    out: dict[str, int] = {}
    slots_of: dict[int, list[int]] = {}
    for (k, gi), v in sorted(counts.items(), key=lambda kv: (cand.groups[kv[0][1]].rank, kv[0][1])):
        slots_of.setdefault(k, []).extend([gi] * v)
    for k, bis in enumerate(cm.classes):
        ranked = sorted(
            bis,
            key=lambda bi: (
                -sum(cand.weight[c] for c in cand.model_blocks[bi]),
                cand.model_blocks[bi][0],
            ),
        )
        slots = slots_of.get(k, [])
        for bi, gi in zip(ranked, slots, strict=False):
            for c in cand.model_blocks[bi]:
                out[c] = gi
    return out
