"""Exchanges of prisoners and detained civilians: terms → CP-SAT over counts → manifests.

A scenario's ``exchange`` section names two parties, the detention facilities with their
buses, the people each party holds (a pseudonymous roster CSV or aggregate counts), the
exchange points with their windows and handover rate, and the terms a mediator arranged:
ratios, parity per event, categories exchanged all for all, an order of precedence between
categories, limits per event and per day and the dates the mediator is available.

The model works on integer counts per (event slot, facility, category), not on persons, so
it scales to thousands of people.  Each exchange point's windows are cut into event slots of
``event_min`` minutes; a facility may send people to a slot only when its transfer can leave
after the window opens and arrive ``transfer_buffer_min`` before the slot starts, and its
buses (out and back) are never double-booked.  Every term is a CP-SAT enforcement literal;
the schedule maximises people exchanged weighted by category, then the earliest exchange,
then the fewest events (three lexicographic solves).  When the terms cannot all hold, a
feasibility model solved under assumptions gives a core of terms
(``sufficient_assumptions_for_infeasibility``), minimised by deletion, and the least
important of them is dropped to show the closest schedule.  Individuals are then assigned to
the events deterministically: by precedence, medical flag, longest detained first, id; the
members of a group always travel and are handed over together.

A roster's ``name`` column, or any column outside the schema, is never read into the plan.

The section is read in :mod:`planner.exchange_spec`, the model built in
:mod:`planner.exchange_model` and solved in :mod:`planner.exchange_flows` (with the constructive
schedule of :mod:`planner.exchange_greedy`); this module schedules and extracts the typed
result (:mod:`planner.exchange_result`), whose manifests :mod:`planner.exchange_manifests`
writes and :mod:`planner.exchange_map` draws.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from planner.errors import ScenarioError
from planner.exchange_flows import EXACT_MAX_VARIABLES, FlowModel, exact_size, optimise
from planner.exchange_manifests import manifest_file, manifest_text, write_manifests
from planner.exchange_map import exchange_layers
from planner.exchange_model import (
    ExactModel,
    ModelData,
    build_data,
    importance,
    minimal_conflict,
)
from planner.exchange_result import (
    DaySummary,
    ExchangeEvent,
    ExchangePlan,
    ManifestInfo,
    SiteInfo,
    Transport,
    summary_rows,
)
from planner.exchange_spec import (
    DEFAULT_RELAX_ORDER,
    MANIFEST_COLUMNS,
    ROSTER_COLUMNS,
    CountsSource,
    ExchangePointSpec,
    ExchangeSpec,
    FacilitySpec,
    ParitySpec,
    PartySpec,
    Person,
    RosterSource,
    TermsSpec,
    parse_exchange,
    parse_ratio,
)
from planner.scenario import Scenario, location_lonlat

if TYPE_CHECKING:
    from planner.network import PreparedNetwork


def site_travel(
    scenario: Scenario, spec: ExchangeSpec, network: PreparedNetwork
) -> tuple[dict, dict, dict]:
    """Travel seconds per (facility, point), the snapped nodes and the coordinates of the sites."""
    roads = network.roads
    facs = spec.facilities
    pts = spec.exchange_points
    f_ll = [location_lonlat(f.location) for f in facs]
    p_ll = [location_lonlat(p.location) for p in pts]
    snaps = roads.snap(f_ll + p_ll)
    fsn, psn = snaps[: len(facs)], snaps[len(facs) :]
    time_s, _ = roads.matrices([s.node for s in fsn], [s.node for s in psn])
    travel = {
        (f.id, p.id): float(time_s[i, j]) for i, f in enumerate(facs) for j, p in enumerate(pts)
    }
    nodes = {("f", f.id): fsn[i] for i, f in enumerate(facs)} | {
        ("p", p.id): psn[j] for j, p in enumerate(pts)
    }
    lls = {("f", f.id): f_ll[i] for i, f in enumerate(facs)} | {
        ("p", p.id): p_ll[j] for j, p in enumerate(pts)
    }
    return travel, nodes, lls


# --------------------------------------------------------------------------- scheduling


def schedule_exchanges(
    scenario: Scenario,
    spec: ExchangeSpec | None = None,
    *,
    network: PreparedNetwork | None = None,
    time_limit_s: float = 30.0,
    seed: int = 0,
    det_time: float = 20.0,
    method: str = "auto",
) -> ExchangePlan:
    """Schedule the exchange of a scenario.

    Parameters
    ----------
    scenario
        A validated scenario with an ``exchange`` section.
    spec
        The parsed section (parsed from the scenario when omitted).
    network
        A prepared road network (prepared from the scenario when omitted).
    time_limit_s
        Wall-clock cap of each solve (a safety net; the deterministic budget binds first).
    seed
        CP-SAT random seed; the same scenario and seed give the same plan, byte for byte.
    det_time
        Deterministic time budget (CP-SAT ``max_deterministic_time``) of each solve.
    method
        ``exact`` solves the exact model whole; ``flows`` the aggregate flows, then the exact
        model block by block (:mod:`planner.exchange_flows`); ``auto`` (default) picks the
        exact model when it is small.

    Returns
    -------
    ExchangePlan
        ``status`` ``infeasible`` with ``conflicts`` when the terms cannot all hold (the events
        are then the closest schedule without the ``relaxed`` terms).

    Raises
    ------
    ScenarioError
        If the scenario has no exchange section or it is invalid.
    """
    from planner.network import prepare_network

    if spec is None:
        spec = parse_exchange(scenario)
    if spec is None:
        raise ScenarioError(scenario.source_name(), "exchange", "is required here")
    net = network if network is not None else prepare_network(scenario)
    travel, nodes, lls = site_travel(scenario, spec, net)
    d = build_data(scenario, spec, travel)
    warnings = _input_warnings(spec, d, travel, nodes)
    small = method == "exact" or (method == "auto" and exact_size(d) <= EXACT_MAX_VARIABLES)
    built = ExactModel(d) if small else FlowModel(d)
    order = list(spec.terms.relax_order or DEFAULT_RELAX_ORDER)
    all_terms = [t.id for t in d.terms]
    text = {t.id: t.text for t in d.terms}
    active = list(all_terms)
    conflicts: list[str] = []
    conflict_terms: list[str] = []
    relaxed: list[str] = []
    status, sol, info = optimise(d, active, seed, time_limit_s, det_time, method)
    while status == "infeasible" and active:
        core = minimal_conflict(built, active, order, seed, time_limit_s)
        if not core and isinstance(
            built, ExactModel
        ):  # the aggregate model proves conflicts faster
            built = FlowModel(d)
            core = minimal_conflict(built, active, order, seed, time_limit_s)
        if not core:
            break
        if not conflict_terms:
            conflict_terms = list(core)
            conflicts = [f"{t}: {text[t]}" for t in core]
        drop = max(core, key=lambda t: (-importance(t, order), t))
        relaxed.append(drop)
        active = [t for t in active if t != drop]
        status, sol, info = optimise(d, active, seed, time_limit_s, det_time, method)
    if status == "infeasible" and not conflict_terms:
        warnings.append("no schedule found within the search budget (raise det_time)")
    if conflict_terms and status != "infeasible":
        for t in relaxed:
            warnings.append(f"closest schedule drops the term {t}: {text[t]}")
        status = "infeasible"
    plan = _build_plan(scenario, spec, d, net, nodes, lls, sol, status, warnings)
    plan.terms = [f"{t}: {text[t]}" for t in all_terms]
    plan.conflicts, plan.conflict_terms, plan.relaxed = conflicts, conflict_terms, relaxed
    stages = [dict(st) for st in info.get("stages", [])]
    plan._seconds = [float(st.pop("seconds", 0.0)) for st in stages]
    plan.solver = {"seed": seed, "det_time": det_time, **info, "stages": stages}
    return plan


def _input_warnings(
    spec: ExchangeSpec, d: ModelData, travel: dict[tuple[str, str], float], nodes: dict
) -> list[str]:
    """What the input leaves out: roads missing, sites far from a road, people no vehicle of
    their facility may carry."""
    warnings: list[str] = []
    for (fid, pid), tt in sorted(travel.items()):
        if not math.isfinite(tt):
            warnings.append(f"no road from facility {fid} to exchange point {pid}")
    for (kind, sid), sn in sorted(nodes.items()):
        if sn.distance_m > 5000:
            warnings.append(
                f"{'facility' if kind == 'f' else 'exchange point'} {sid} is {sn.distance_m / 1000:.1f} km from the nearest road"
            )
    for f in spec.facilities:
        for c in spec.category_ids:
            n = d.held(f.id, c)
            if n and not d.carriers[(f.id, c)]:
                cat = spec.category(c)
                need = " or ".join(cat.vehicles) + (
                    " with a medical escort" if cat.medical_escort else ""
                )
                warnings.append(f"facility {f.id} holds {n} {c} but has no {need} to carry them")
    return warnings


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def _sites(spec: ExchangeSpec, nodes: dict, lls: dict) -> list[SiteInfo]:
    """The facilities and exchange points of the plan, where they are and how far from a road."""
    return [
        SiteInfo(
            id=f.id,
            kind="facility",
            name=f.name,
            party=f.party,
            location=_r(lls[("f", f.id)]),
            snap_m=round(nodes[("f", f.id)].distance_m, 1),
            buses=f.buses,
            seats=f.seats,
            vehicles={t: v.count for t, v in f.fleet().items()},
        )
        for f in spec.facilities
    ] + [
        SiteInfo(
            id=p.id,
            kind="point",
            name=p.name,
            location=_r(lls[("p", p.id)]),
            snap_m=round(nodes[("p", p.id)].distance_m, 1),
        )
        for p in spec.exchange_points
    ]


def _queues(
    spec: ExchangeSpec,
) -> tuple[dict[tuple[str, str], list[Person]], dict[str, list[Person]]]:
    """Persons not in a group by (facility, category), in the order they go; group members by group."""
    queues: dict[tuple[str, str], list[Person]] = defaultdict(list)
    members: dict[str, list[Person]] = defaultdict(list)
    for p in spec.people:
        if p.group is None:
            queues[(p.facility, p.category)].append(p)
        else:
            members[p.group].append(p)
    for q in queues.values():
        q.sort(key=Person.order_key)
    return queues, members


def _transports(
    d: ModelData,
    sol: dict,
    si: int,
    nodes: dict,
    roads: Any,
    path_cache: dict[tuple[str, str], dict],
) -> list[Transport]:
    """The vehicles each facility sends to slot ``si``, with their road path and times."""
    s = d.slots[si]
    transports = []
    for f in d.facs:
        for vt, (_count, cap) in sorted(d.fleet[f.id].items()):
            load = sol["loads"].get((si, f.id, vt)) or {}
            n = sum(load.values())
            if not n:
                continue
            key = (f.id, s.point)
            if key not in path_cache:
                a, b = nodes[("f", f.id)].node, nodes[("p", s.point)].node
                path_cache[key] = roads.path_details(roads.path(a, b))
            det = path_cache[key]
            tt = d.travel_s[key]
            arrive = s.start - timedelta(seconds=d.buffer_s)
            vspec = f.fleet()[vt]
            transports.append(
                Transport(
                    facility=f.id,
                    party=f.party,
                    vehicle=vt,
                    medical_escort=vspec.medical_escort,
                    depart=_iso(arrive - timedelta(seconds=tt)),
                    arrive=_iso(arrive),
                    buses=math.ceil(n / cap),
                    people=n,
                    categories={c: load[c] for c in d.cats if load.get(c)},
                    path=[_r(c) for c in det["coords"]],
                    length_m=round(float(det["length_m"]), 1),
                    travel_s=float(tt),
                )
            )
    return transports


def _slot_event(
    spec: ExchangeSpec,
    d: ModelData,
    sol: dict,
    si: int,
    eid: str,
    nodes: dict,
    lls: dict,
    roads: Any,
    path_cache: dict[tuple[str, str], dict],
) -> ExchangeEvent:
    """The exchange event the solution holds at slot ``si``: counts by party, facility and
    category, its end (handovers at the point's rate) and its transports."""
    s = d.slots[si]
    pt = spec.point(s.point)
    counts: dict[str, dict[str, dict[str, int]]] = {p: {} for p in d.parties}
    for f in d.facs:
        fc = {c: sol["counts"][(si, f.id, c)] for c in d.cats if sol["counts"][(si, f.id, c)]}
        if fc:
            counts[f.party][f.id] = fc
    people = {p: sum(n for fc in counts[p].values() for n in fc.values()) for p in d.parties}
    total = sum(people.values())
    end = s.start + timedelta(minutes=math.ceil(total * 60.0 / pt.handovers_per_hour - 1e-9))
    return ExchangeEvent(
        id=eid,
        point=s.point,
        place=s.point,
        location=_r(lls[("p", s.point)]),
        start=_iso(s.start),
        end=_iso(end),
        day=s.day.isoformat(),
        counts=counts,
        people={**people, "total": total},
        transports=_transports(d, sol, si, nodes, roads, path_cache),
    )


def _assign_people(
    d: ModelData,
    sol: dict,
    si: int,
    eid: str,
    queues: dict[tuple[str, str], list[Person]],
    members: dict[str, list[Person]],
    pos: dict[tuple[str, str], int],
    assignment: dict[tuple[str, str], list[Person]],
) -> None:
    """The individuals of event ``eid``: groups where the model put them, then the free
    people in order (``pos`` is how far each queue has gone)."""
    cats = d.cats
    for p in d.parties:
        assignment[(eid, p)] = []
    for g, (_fid, _gc) in d.groups.items():
        if sol["z"].get((si, g)):
            for person in sorted(members[g], key=Person.order_key):
                assignment[(eid, person.party)].append(person)
    for f in d.facs:
        for c in cats:
            n = sol["x"].get((si, f.id, c), 0)
            q = queues[(f.id, c)]
            take = q[pos[(f.id, c)] : pos[(f.id, c)] + n]
            pos[(f.id, c)] += n
            assignment[(eid, f.party)].extend(take)
    for p in d.parties:
        assignment[(eid, p)].sort(key=lambda x: (x.facility, cats.index(x.category), x.order_key()))


def _events(
    spec: ExchangeSpec, d: ModelData, sol: dict | None, nodes: dict, lls: dict, roads: Any
) -> tuple[list[ExchangeEvent], dict[tuple[str, str], list[Person]]]:
    """The events of a solution (one per slot in use, numbered in slot order) and the
    persons of each event and party."""
    events: list[ExchangeEvent] = []
    assignment: dict[tuple[str, str], list[Person]] = {}
    if sol is None:
        return events, assignment
    queues, members = _queues(spec)
    pos: dict[tuple[str, str], int] = defaultdict(int)
    used = [
        si
        for si in range(len(d.slots))
        if any(sol["counts"][(si, f.id, c)] for f in d.facs for c in d.cats)
    ]
    path_cache: dict[tuple[str, str], dict] = {}
    for k, si in enumerate(used, start=1):
        eid = f"e{k:02d}"
        events.append(_slot_event(spec, d, sol, si, eid, nodes, lls, roads, path_cache))
        _assign_people(d, sol, si, eid, queues, members, pos, assignment)
    return events, assignment


def _totals(spec: ExchangeSpec, d: ModelData, events: list[ExchangeEvent]) -> dict[str, Any]:
    """People released and held, by party and category (with ``total``), and in all."""
    parties, cats = d.parties, d.cats
    held = spec.held()
    released = {p: {c: 0 for c in cats} for p in parties}
    for e in events:
        for p, facs in e.counts.items():
            for fc in facs.values():
                for c, n in fc.items():
                    released[p][c] += n
    held_tot = {p: {c: sum(fc.get(c, 0) for fc in held[p].values()) for c in cats} for p in parties}
    for block in (released, held_tot):
        for p in parties:
            block[p]["total"] = sum(block[p][c] for c in cats)
    return {
        "released": released,
        "held": held_tot,
        "people": sum(released[p]["total"] for p in parties),
    }


def _days(events: list[ExchangeEvent]) -> list[DaySummary]:
    """Events and people by day, in date order."""
    by_day: dict[str, list[ExchangeEvent]] = defaultdict(list)
    for e in events:
        by_day[e.day].append(e)
    return [
        DaySummary(date=k, events=len(v), people=sum(e.people["total"] for e in v))
        for k, v in sorted(by_day.items())
    ]


def _build_plan(
    scenario: Scenario,
    spec: ExchangeSpec,
    d: ModelData,
    net: PreparedNetwork,
    nodes: dict,
    lls: dict,
    sol: dict | None,
    status: str,
    warnings: list[str],
) -> ExchangePlan:
    """The :class:`ExchangePlan` of a solution (events, totals, manifests, sites)."""
    sites = _sites(spec, nodes, lls)
    events, assignment = _events(spec, d, sol, nodes, lls, net.roads)
    manifests = [
        ManifestInfo(file=manifest_file(eid, p), event=eid, party=p, people=len(lst))
        for (eid, p), lst in assignment.items()
    ]
    plan = ExchangePlan(
        status=status if status in ("optimal", "feasible", "infeasible") else "feasible",  # type: ignore[arg-type]
        parties=d.parties,
        categories=d.cats,
        terms=[],
        events=events,
        totals=_totals(spec, d, events),
        days=_days(events),
        manifests=manifests,
        sites=sites,
        warnings=warnings,
    )
    plan._assignment = assignment
    return plan


def _r(ll: Any) -> tuple[float, float]:
    return (round(float(ll[0]), 6), round(float(ll[1]), 6))


__all__ = [
    "DEFAULT_RELAX_ORDER",
    "MANIFEST_COLUMNS",
    "ROSTER_COLUMNS",
    "CountsSource",
    "DaySummary",
    "ExchangeEvent",
    "ExchangePlan",
    "ExchangePointSpec",
    "ExchangeSpec",
    "FacilitySpec",
    "ManifestInfo",
    "ParitySpec",
    "PartySpec",
    "Person",
    "RosterSource",
    "SiteInfo",
    "TermsSpec",
    "Transport",
    "exchange_layers",
    "manifest_text",
    "parse_exchange",
    "parse_ratio",
    "schedule_exchanges",
    "summary_rows",
    "write_manifests",
]
