"""The CP-SAT models of an exchange: event slots, terms, the exact model over counts per
(slot, facility, category), and the lexicographic solve with conflicts under assumptions.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from planner.exchange_spec import (
    ExchangePointSpec,
    ExchangeSpec,
    FacilitySpec,
    ParitySpec,
    Ratio,
    TermsSpec,
    parse_ratio,
)
from planner.scenario import Scenario, Window

# --------------------------------------------------------------------------- data


@dataclass
class Slot:
    """An event slot at an exchange point: ``event_min`` minutes of one of its windows."""

    point: str
    window: int
    start: datetime
    end: datetime
    cap: int
    rank: int = 0
    block: int = 0
    """Slots of one block share a date or a time span with each other, never with another block."""

    @property
    def day(self) -> date:
        """Local date of the slot's start."""
        return self.start.date()

    @property
    def key(self) -> tuple[str, int]:
        """The (point, window) the slot belongs to."""
        return (self.point, self.window)


@dataclass
class Term:
    """A term of the agreement, behind one enforcement literal."""

    id: str
    text: str


@dataclass
class ModelData:
    """Everything the CP-SAT models read: slots, travel, counts, vehicles and terms."""

    parties: list[str]
    cats: list[str]
    facs: list[FacilitySpec]
    slots: list[Slot]
    travel_s: dict[tuple[str, str], float]  # (facility, point) -> seconds (inf when no road)
    free: dict[tuple[str, str], int]  # (facility, category) -> people not in a group
    groups: dict[str, tuple[str, dict[str, int]]]  # group -> (facility, {category: n})
    terms: list[Term]
    buffer_s: float
    spec_terms: TermsSpec
    weights: dict[str, int] = field(default_factory=dict)  # objective weight per category (integer)
    carriers: dict[tuple[str, str], list[str]] = field(
        default_factory=dict
    )  # (facility, category) -> types
    fleet: dict[str, dict[str, tuple[int, int]]] = field(
        default_factory=dict
    )  # fid -> type -> (count, capacity)
    win_start: dict[tuple[str, int], datetime] = field(default_factory=dict)

    def held(self, fid: str, c: str) -> int:
        """People of category ``c`` held at ``fid`` (free and in groups)."""
        n = self.free.get((fid, c), 0)
        return n + sum(gc.get(c, 0) for gf, gc in self.groups.values() if gf == fid)

    def reach(self, si: int, fid: str) -> bool:
        """Whether a road leads from the facility to the slot's point."""
        return math.isfinite(self.travel_s[(fid, self.slots[si].point)])

    def in_window(self, si: int, fid: str) -> bool:
        """Whether a transfer to the slot can leave once the slot's window opens."""
        s = self.slots[si]
        dep, _ = self.trip(si, fid)
        return dep >= self.win_start[s.key]

    def trip(self, si: int, fid: str) -> tuple[datetime, datetime]:
        """When vehicles leave the facility for the slot and when they are back."""
        s = self.slots[si]
        tt = self.travel_s[(fid, s.point)]
        tt = tt if math.isfinite(tt) else 0.0
        return s.start - timedelta(seconds=self.buffer_s + tt), s.end + timedelta(seconds=tt)


def point_windows(scenario: Scenario, p: ExchangePointSpec) -> list[Window]:
    """The windows of an exchange point (the ceasefire's when it has none)."""
    return list(p.windows) if p.windows else list(scenario.ceasefire.windows)


def make_slots(scenario: Scenario, spec: ExchangeSpec) -> list[Slot]:
    """Cut every point's windows into slots, ranked by start and grouped into blocks."""
    slots: list[Slot] = []
    for p in spec.exchange_points:
        cap = min(
            p.max_per_event, int(math.floor(p.handovers_per_hour * p.event_min / 60.0 + 1e-9))
        )
        for wi, w in enumerate(point_windows(scenario, p)):
            t = w.start
            step = timedelta(minutes=p.event_min)
            while t + step <= w.end:
                slots.append(Slot(p.id, wi, t, t + step, cap))
                t += step
    slots.sort(key=lambda s: (s.start, s.point))
    starts = sorted({s.start for s in slots})
    rank = {t: i for i, t in enumerate(starts)}
    for s in slots:
        s.rank = rank[s.start]
    # blocks: windows merged while they share a date or overlap in time
    spans: dict[tuple[str, int], list[Slot]] = defaultdict(list)
    for s in slots:
        spans[s.key].append(s)
    order = sorted(spans.values(), key=lambda ss: (ss[0].start, ss[0].point))
    block, last_end, last_day = -1, None, None
    for ss in order:
        first, final = ss[0], ss[-1]
        if last_end is None or (first.start >= last_end and first.day != last_day):
            block += 1
        for s in ss:
            s.block = block
        last_end = final.end if last_end is None else max(last_end, final.end)
        last_day = final.day if last_day is None else max(last_day, final.day)
    return slots


def make_terms(scenario: Scenario, spec: ExchangeSpec) -> list[Term]:
    t = spec.terms
    held = spec.held()
    parties = spec.party_ids
    out: list[Term] = []
    if t.parity != "none":
        tol = t.parity.tolerance if isinstance(t.parity, ParitySpec) else 0
        out.append(
            Term(
                "parity_per_event",
                f"parity in every event at {ratio_text(t.ratio, parties)}"
                + (f" within {tol}" if tol else ""),
            )
        )
    out.append(Term("ratio", f"overall ratio {ratio_text(t.ratio, parties)}"))
    for c, r in t.category_ratios.items():
        n = ", ".join(f"{p} holds {sum(f.get(c, 0) for f in held[p].values())}" for p in parties)
        out.append(Term(f"ratio.{c}", f"{c} exchanged at {ratio_text(r, parties)} ({n})"))
    for c in t.all_for_all:
        n = ", ".join(f"{p} holds {sum(f.get(c, 0) for f in held[p].values())}" for p in parties)
        out.append(Term(f"all_for_all.{c}", f"every {c} detainee of both sides is exchanged ({n})"))
    if t.precedence:
        out.append(Term("precedence", "precedence " + " before ".join(t.precedence)))
    for p in spec.exchange_points:
        for wi, w in enumerate(point_windows(scenario, p)):
            out.append(
                Term(
                    f"window.{p.id}.{wi}",
                    f"transfers to {p.id} leave once its window opens ({w.start.isoformat(timespec='minutes')} - {w.end.isoformat(timespec='minutes')})",
                )
            )
    if t.mediator_dates is not None:
        out.append(
            Term(
                "mediator_dates",
                "mediator available on " + ", ".join(d.isoformat() for d in t.mediator_dates),
            )
        )
    if t.max_per_event is not None:
        out.append(Term("max_per_event", f"at most {t.max_per_event} people per event"))
    if t.max_per_day is not None:
        out.append(
            Term("max_per_day", f"at most {t.max_per_day} people per day, both sides together")
        )
    if t.max_per_day_per_side is not None:
        out.append(
            Term(
                "max_per_day_per_side",
                f"at most {t.max_per_day_per_side} people per day from each side",
            )
        )
    for dt in t.daily:
        out.append(
            Term(
                f"daily.{dt.date.isoformat()}",
                f"each side releases {dt.per_side} people on {dt.date.isoformat()}",
            )
        )
    return out


def ratio_text(r: Ratio, parties: list[str]) -> str:
    r0, r1 = parse_ratio(r, parties)
    return f"{parties[0]}:{parties[1]} = {r0}:{r1}"


def build_data(
    scenario: Scenario, spec: ExchangeSpec, travel: dict[tuple[str, str], float]
) -> ModelData:
    free: dict[tuple[str, str], int] = defaultdict(int)
    groups: dict[str, tuple[str, dict[str, int]]] = {}
    for p in spec.people:
        if p.group is None:
            free[(p.facility, p.category)] += 1
        else:
            fac, cats = groups.setdefault(p.group, (p.facility, {}))
            cats[p.category] = cats.get(p.category, 0) + 1
    travel_s = {
        k: (math.ceil(v / 60.0) * 60.0 if math.isfinite(v) else math.inf) for k, v in travel.items()
    }
    carriers = {(f.id, c): spec.carriers(f, c) for f in spec.facilities for c in spec.category_ids}
    fleet = {
        f.id: {t: (v.count, v.capacity) for t, v in f.fleet().items()} for f in spec.facilities
    }
    slots = make_slots(scenario, spec)
    win_start: dict[tuple[str, int], datetime] = {}
    for s in slots:
        win_start[s.key] = min(win_start.get(s.key, s.start), s.start)
    return ModelData(
        spec_terms=spec.terms,
        weights={c: int(round(w * 100)) for c, w in spec.weights.items()},
        carriers=carriers,
        fleet=fleet,
        win_start=win_start,
        parties=spec.party_ids,
        cats=spec.category_ids,
        facs=list(spec.facilities),
        slots=slots,
        travel_s=travel_s,
        free=dict(free),
        groups=dict(sorted(groups.items())),
        terms=make_terms(scenario, spec),
        buffer_s=spec.transfer_buffer_min * 60.0,
    )


class CpBase:
    """What the exact and the aggregate models share: the CP-SAT model, term literals and solver."""

    def __init__(self, d: ModelData) -> None:
        from ortools.sat.python import cp_model

        self.cp = cp_model
        self.m = cp_model.CpModel()
        self.d = d
        self.lit = {term.id: self.m.new_bool_var(term.id) for term in d.terms}
        self.obj_value: Any = 0
        self.obj_time: Any = 0
        self.obj_events: Any = 0

    def within(
        self, n0: Any, n1: Any, rr: tuple[int, int], tl: int, lit: Any, events: Any = 1
    ) -> None:
        """``n1`` within ``tl`` people (after rounding, per event) of ``n0`` at ratio ``rr``."""
        diff = n1 * rr[0] - n0 * rr[1]
        self.m.add(2 * diff <= (2 * tl + 1) * rr[0] * events).only_enforce_if(lit)
        self.m.add(-2 * diff <= (2 * tl + 1) * rr[0] * events).only_enforce_if(lit)

    def day_terms(self, slots: list[int], rel: dict[tuple[int, str], Any]) -> None:
        """Per-day limits and agreed daily figures over ``rel[(slot, party)]``."""
        d, t, m = self.d, self.d.spec_terms, self.m
        by_day: dict[date, list[int]] = defaultdict(list)
        for si in slots:
            by_day[d.slots[si].day].append(si)
        daily = {dt.date: dt.per_side for dt in t.daily}
        for day, ss in sorted(by_day.items()):
            side = {p: sum(rel[(si, p)] for si in ss) for p in d.parties}
            if t.max_per_day is not None:
                m.add(sum(side.values()) <= t.max_per_day).only_enforce_if(self.lit["max_per_day"])
            if t.max_per_day_per_side is not None:
                for p in d.parties:
                    m.add(side[p] <= t.max_per_day_per_side).only_enforce_if(
                        self.lit["max_per_day_per_side"]
                    )
            if day in daily:
                for p in d.parties:
                    m.add(side[p] == daily[day]).only_enforce_if(
                        self.lit[f"daily.{day.isoformat()}"]
                    )

    def solver(self, seed: int, time_limit_s: float, det_time: float) -> Any:
        """A single-worker, seeded solver under a deterministic budget."""
        s = self.cp.CpSolver()
        s.parameters.num_workers = 1
        s.parameters.random_seed = int(seed)
        s.parameters.max_time_in_seconds = float(time_limit_s)
        s.parameters.max_deterministic_time = float(det_time)
        return s


class ExactModel(CpBase):
    """The exact CP-SAT model over counts per (slot, facility, category), terms as literals.

    Parameters
    ----------
    d
        The model data.
    slots
        The slots to model (default: all); the decomposition models one block at a time.
    targets
        ``{(point, window, facility, category): n}``: exactly ``n`` people of the facility and
        category go to the window's slots (the aggregate model's flows), or
        ``{(facility, category): n}`` over all the slots modelled; ``None`` lets the model
        choose from everyone held.
    free_left, groups_left
        People not yet exchanged (earlier blocks), free per (facility, category) and groups.
    busy
        ``{(facility, vehicle type): [(leave, back, vehicles)]}`` of earlier blocks.
    """

    def __init__(
        self,
        d: ModelData,
        slots: list[int] | None = None,
        targets: dict[tuple, int] | None = None,
        free_left: dict[tuple[str, str], int] | None = None,
        groups_left: set[str] | None = None,
        busy: dict[tuple[str, str], list[tuple[datetime, datetime, int]]] | None = None,
        at_most: bool = False,
    ) -> None:
        super().__init__(d)
        self.S = list(range(len(d.slots))) if slots is None else list(slots)
        free = d.free if free_left is None else free_left
        self._people_vars(free, groups_left)
        self._targets(targets, at_most)
        self._events()
        self._vehicles(busy or {})
        self._terms(full=targets is None)
        S, cats = self.S, d.cats
        self.obj_value = sum(
            d.weights[c] * self.count[(si, f.id, c)] for si in S for f in d.facs for c in cats
        )
        self.obj_time = sum(d.slots[si].rank * self.people[si] for si in S)
        self.obj_events = sum(self.used[si] for si in S)

    def _people_vars(self, free: dict[tuple[str, str], int], groups_left: set[str] | None) -> None:
        d, m, S = self.d, self.m, self.S
        self.x: dict[tuple[int, str, str], Any] = {}
        for (fid, c), n in sorted(free.items()):
            if n <= 0 or not d.carriers.get((fid, c)):
                continue
            for si in S:
                if d.reach(si, fid):
                    self.x[(si, fid, c)] = m.new_int_var(
                        0, min(n, d.slots[si].cap), f"x_{si}_{fid}_{c}"
                    )
            m.add(sum(self.x[(si, fid, c)] for si in S if (si, fid, c) in self.x) <= n)
        self.z: dict[tuple[int, str], Any] = {}
        for g, (fid, gcats) in d.groups.items():
            if groups_left is not None and g not in groups_left:
                continue
            if any(not d.carriers.get((fid, c)) for c in gcats):
                continue
            size = sum(gcats.values())
            for si in S:
                if d.reach(si, fid) and size <= d.slots[si].cap:
                    self.z[(si, g)] = m.new_bool_var(f"z_{si}_{g}")
            m.add(sum(self.z[(si, g)] for si in S if (si, g) in self.z) <= 1)
        by_fc: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
        for g, (gf, gcats) in d.groups.items():
            for c, n in gcats.items():
                by_fc[(gf, c)].append((g, n))
        self.count: dict[tuple[int, str, str], Any] = {}
        for si in S:
            for f in d.facs:
                for c in d.cats:
                    parts = [self.x[(si, f.id, c)]] if (si, f.id, c) in self.x else []
                    parts += [
                        n * self.z[(si, g)]
                        for g, n in by_fc.get((f.id, c), [])
                        if (si, g) in self.z
                    ]
                    self.count[(si, f.id, c)] = sum(parts) if parts else 0
        self.rel = {
            (si, p): sum(self.count[(si, f.id, c)] for f in d.facs if f.party == p for c in d.cats)
            for si in S
            for p in d.parties
        }
        self.people = {si: sum(self.rel[(si, p)] for p in d.parties) for si in S}

    def _targets(self, targets: dict[tuple, int] | None, at_most: bool) -> None:
        if targets is None:
            return
        d = self.d
        by_key: dict[tuple, list[int]] = defaultdict(list)
        for si in self.S:
            by_key[d.slots[si].key].append(si)
        if all(len(k) == 2 for k in targets):  # (facility, category) over all the slots
            by_key = {(): list(self.S)}
            targets = {((), (), fid, c): n for (fid, c), n in targets.items()}
        for (pt, wi, fid, c), n in sorted(targets.items()):
            slots = by_key.get((pt, wi), []) if pt != () else by_key[()]
            got = sum(self.count[(si, fid, c)] for si in slots)
            if at_most:
                self.m.add(got <= n)
            else:
                self.m.add(got == n)
        keys = {(pt, wi, fid, c) if pt != () else (fid, c) for (pt, wi, fid, c) in targets}
        for key, ss in by_key.items():  # nothing outside the targets
            for f in d.facs:
                for c in d.cats:
                    if (*key, f.id, c) not in keys:
                        for si in ss:
                            if not isinstance(self.count[(si, f.id, c)], int):
                                self.m.add(self.count[(si, f.id, c)] == 0)

    def _events(self) -> None:
        d, m = self.d, self.m
        self.used: dict[int, Any] = {}
        for si in self.S:
            s = d.slots[si]
            u = self.used[si] = m.new_bool_var(f"used_{si}")
            m.add(self.people[si] <= s.cap * u)
            m.add(self.people[si] >= u)
            for f in d.facs:
                if d.reach(si, f.id) and not d.in_window(si, f.id):
                    fpeople = sum(self.count[(si, f.id, c)] for c in d.cats)
                    if not isinstance(fpeople, int):
                        m.add(fpeople == 0).only_enforce_if(
                            self.lit[f"window.{s.point}.{s.window}"]
                        )

    def _vehicles(self, busy: dict[tuple[str, str], list[tuple[datetime, datetime, int]]]) -> None:
        """Vehicles of each type per (slot, facility): seats for everyone, never double-booked."""
        d, m = self.d, self.m
        self.vehicles: dict[tuple[int, str, str], Any] = {}
        self.split: dict[tuple[int, str, str, str], Any] = {}
        for f in d.facs:
            fleet = d.fleet[f.id]
            ivs: dict[str, list[tuple[int, datetime, datetime]]] = defaultdict(list)
            for si in self.S:
                if not d.reach(si, f.id):
                    continue
                load: dict[str, list[Any]] = defaultdict(list)
                for c in d.cats:
                    n = self.count[(si, f.id, c)]
                    types = d.carriers.get((f.id, c), [])
                    if isinstance(n, int) or not types:
                        continue
                    if len(types) == 1:
                        load[types[0]].append(n)
                        continue
                    parts = []
                    for t in types:
                        u = self.split[(si, f.id, c, t)] = m.new_int_var(
                            0, d.slots[si].cap, f"u_{si}_{f.id}_{c}_{t}"
                        )
                        parts.append(u)
                        load[t].append(u)
                    m.add(sum(parts) == n)
                for t, parts in sorted(load.items()):
                    count, cap = fleet[t]
                    v = self.vehicles[(si, f.id, t)] = m.new_int_var(0, count, f"v_{si}_{f.id}_{t}")
                    m.add(sum(parts) <= cap * v)
                    dep, back = d.trip(si, f.id)
                    ivs[t].append((si, dep, back))
            for t, lst in sorted(ivs.items()):
                prior = busy.get((f.id, t), [])
                starts = sorted({a for _s, a, _b in lst} | {a for a, _b, _n in prior})
                for a in starts:
                    over = [self.vehicles[(sj, f.id, t)] for sj, b0, b1 in lst if b0 <= a < b1]
                    taken = sum(n for b0, b1, n in prior if b0 <= a < b1)
                    if over and (len(over) > 1 or taken):
                        m.add(sum(over) + taken <= fleet[t][0])

    def _terms(self, full: bool) -> None:
        d, m, t, S = self.d, self.m, self.d.spec_terms, self.S
        parties = d.parties
        r = parse_ratio(t.ratio, parties)
        tol = t.parity.tolerance if isinstance(t.parity, ParitySpec) else 0
        p0, p1 = parties
        if "parity_per_event" in self.lit:
            for si in S:
                self.within(
                    self.rel[(si, p0)], self.rel[(si, p1)], r, tol, self.lit["parity_per_event"]
                )
        if full:  # overall terms: the aggregate model holds them when blocks are solved apart
            tot = {p: sum(self.rel[(si, p)] for si in S) for p in parties}
            self.within(tot[p0], tot[p1], r, tol, self.lit["ratio"])
            for c, rc in t.category_ratios.items():
                tc = {
                    p: sum(self.count[(si, f.id, c)] for si in S for f in d.facs if f.party == p)
                    for p in parties
                }
                self.within(tc[p0], tc[p1], parse_ratio(rc, parties), tol, self.lit[f"ratio.{c}"])
            for c in t.all_for_all:
                for f in d.facs:
                    if d.held(f.id, c):
                        m.add(
                            sum(self.count[(si, f.id, c)] for si in S) == d.held(f.id, c)
                        ).only_enforce_if(self.lit[f"all_for_all.{c}"])
        if t.precedence:
            self._precedence()
        if t.mediator_dates is not None:
            ok = set(t.mediator_dates)
            for si in S:
                if d.slots[si].day not in ok:
                    m.add(self.people[si] == 0).only_enforce_if(self.lit["mediator_dates"])
        if t.max_per_event is not None:
            for si in S:
                m.add(self.people[si] <= t.max_per_event).only_enforce_if(self.lit["max_per_event"])
        self.day_terms(S, self.rel)

    def _precedence(self) -> None:
        d, m, t, S = self.d, self.m, self.d.spec_terms, self.S
        lit = self.lit["precedence"]
        ranks = sorted({d.slots[si].rank for si in S})
        prev = {k: ranks[i - 1] for i, k in enumerate(ranks) if i > 0}
        has = {}
        for si in S:
            for c in t.precedence:
                h = has[(si, c)] = m.new_bool_var(f"has_{si}_{c}")
                m.add(sum(self.count[(si, f.id, c)] for f in d.facs) <= d.slots[si].cap * h)
        started = {}
        for c in t.precedence[1:]:
            for k in ranks:
                started[(c, k)] = m.new_bool_var(f"started_{c}_{k}")
                if k in prev:
                    m.add_implication(started[(c, prev[k])], started[(c, k)])
            for si in S:
                m.add_implication(has[(si, c)], started[(c, d.slots[si].rank)])
        for i, ci in enumerate(t.precedence):
            for cj in t.precedence[i + 1 :]:
                for si in S:
                    k = d.slots[si].rank
                    if k in prev:
                        m.add_bool_or(
                            [has[(si, ci)].Not(), started[(cj, prev[k])].Not()]
                        ).only_enforce_if(lit)


def feasible_with(
    built: CpBase, active: list[str], seed: int, time_limit_s: float
) -> tuple[bool | None, list[str]]:
    """Solve for feasibility assuming ``active`` terms; returns (feasible?, core of term ids)."""
    m = built.m
    m.clear_objective()
    m.clear_hints()
    m.clear_assumptions()
    m.add_assumptions([built.lit[t] for t in active])
    solver = built.solver(seed, time_limit_s, det_time=max(1.0, time_limit_s))
    solver.parameters.cp_model_presolve = False  # cores under presolve may name foreign literals
    status = solver.solve(m)
    m.clear_assumptions()
    if status in (built.cp.OPTIMAL, built.cp.FEASIBLE):
        return True, []
    if status != built.cp.INFEASIBLE:
        return None, []
    by_index = {built.lit[t].index: t for t in active}
    core = [by_index[i] for i in solver.sufficient_assumptions_for_infeasibility() if i in by_index]
    return False, sorted(set(core), key=active.index) or list(active)


def importance(term: str, order: list[str]) -> int:
    """Position of a term in the relax order (a trailing dot matches a prefix)."""
    for i, key in enumerate(order):
        if term == key or (key.endswith(".") and term.startswith(key)):
            return i
    return len(order)


def minimal_conflict(
    built: CpBase, active: list[str], order: list[str], seed: int, time_limit_s: float
) -> list[str]:
    """A minimal set of active terms that cannot hold together (empty when they can)."""
    ok, core = feasible_with(built, active, seed, time_limit_s)
    if ok is not False:
        return []
    # deletion filter, least important first, so the most important terms stay named
    core = sorted(core, key=lambda t: (importance(t, order), t))
    for term in list(core):
        trial = [x for x in core if x != term]
        ok2, _ = feasible_with(built, trial, seed, time_limit_s)
        if ok2 is False:
            core = trial
    return sorted(core, key=lambda t: (importance(t, order), t))


def lexicographic(
    built: CpBase,
    stages: list[tuple[str, Any, bool]],
    seed: int,
    time_limit_s: float,
    det_time: float,
    hint: list[tuple[Any, int]] | None = None,
    gap: float = 0.0,
    proven: dict[str, int] | None = None,
    trusted: bool = False,
) -> tuple[str, Any, list[dict]]:
    """Solve ``stages`` (name, expression, maximise) in turn, each fixed before the next.

    ``proven`` names stages whose optimum is already known (the hint reaches a bound that
    holds for every solution): they are fixed at that value without a solve.  With a
    ``gap``, a stage whose solution (the hint when ``trusted``, a feasible one checked by
    the caller) is within the gap of the LP bound is not solved either.  Returns
    ``(status, solver of the last stage solved, stage records)``; the status is
    ``optimal``, ``feasible``, ``infeasible`` or ``budget`` (no solution found in time).
    """
    cp, m = built.cp, built.m
    records: list[dict[str, Any]] = []
    word, last = "optimal", None
    for var, val in hint or []:
        m.add_hint(var, val)
    current = {var.index: val for var, val in hint or []}
    for name, expr, maximise in stages:
        if proven and name in proven:
            records.append(_record(name, "optimal", proven[name], proven[name], 0.0))
            m.add(expr == proven[name])
            continue
        if isinstance(expr, int):
            records.append(_record(name, "optimal", expr, expr, 0.0))
            continue
        m.maximize(expr) if maximise else m.minimize(expr)
        known = _lp_stage(built, expr, maximise, current, gap) if gap and trusted else None
        if known is not None and known[2]:  # the hint is within the gap of the LP bound
            v, bound, _ = known
            word = word if v == bound else "feasible"
            records.append(_record(name, "optimal" if v == bound else "feasible", v, bound, 0.0))
            last = HintValues(current)
            m.add(expr == v) if v == bound else m.add(expr >= v if maximise else expr <= v)
            continue
        solver = built.solver(seed, time_limit_s, det_time)
        if gap:
            solver.parameters.relative_gap_limit = gap
        status = solver.solve(m)
        if status == cp.INFEASIBLE:
            return "infeasible", None, records
        if status not in (cp.OPTIMAL, cp.FEASIBLE):
            if last is None:
                return "budget", None, records
            word = "feasible"
            break
        v = int(round(solver.objective_value))
        bound = int(round(solver.best_objective_bound))
        if known is not None:  # the tighter of CP-SAT's bound and the LP's
            bound = min(bound, known[1]) if maximise else max(bound, known[1])
        if status != cp.OPTIMAL or v != bound:
            word = "feasible"
        ok = status == cp.OPTIMAL or v == bound
        records.append(
            _record(
                name, "optimal" if ok and v == bound else "feasible", v, bound, solver.wall_time
            )
        )
        last = solver
        values = [(var, int(solver.value(var))) for var in _variables(built)]
        m.clear_hints()
        for var, val in values:
            m.add_hint(var, val)
        current, trusted = {var.index: val for var, val in values}, True
        if status == cp.OPTIMAL:
            m.add(expr == v)
        elif maximise:
            m.add(expr >= v)
        else:
            m.add(expr <= v)
    return word, last, records


def satisfies(built: CpBase, values: dict[int, int]) -> bool:
    """Whether ``values`` (variable index -> value, every variable) satisfy every constraint
    of the model (linear constraints and clauses; any other kind counts as not satisfied)."""
    proto = built.m.proto

    def lit(ref: int) -> int:
        return values[ref] if ref >= 0 else 1 - values[-ref - 1]

    if len(values) < len(proto.variables):
        return False
    for i, v in enumerate(proto.variables):
        dom = list(v.domain)
        if not any(
            dom[k] <= values.get(i, dom[0] - 1) <= dom[k + 1] for k in range(0, len(dom), 2)
        ):
            return False
    for c in proto.constraints:
        if not all(lit(x) for x in c.enforcement_literal):
            continue
        if c.has_linear():
            total = sum(
                a * lit(x) if x < 0 else a * values[x]
                for x, a in zip(c.linear.vars, c.linear.coeffs, strict=True)
            )
            dom = list(c.linear.domain)
            if not any(dom[k] <= total <= dom[k + 1] for k in range(0, len(dom), 2)):
                return False
        elif c.has_bool_or():
            if not any(lit(x) for x in c.bool_or.literals):
                return False
        elif c.has_bool_and():
            if not all(lit(x) for x in c.bool_and.literals):
                return False
        else:
            return False
    return True


class HintValues:
    """A complete hint read as a solver's solution (``value(var)``), for stages not solved."""

    def __init__(self, values: dict[int, int]) -> None:
        self.values = values

    def value(self, var: Any) -> int:
        """The hinted value of ``var``."""
        return self.values[var.index]


def _record(name: str, status: str, v: int, bound: int, seconds: float) -> dict[str, Any]:
    return {
        "stage": name,
        "status": status,
        "objective": v,
        "bound": bound,
        "gap": round(abs(bound - v) / max(1, abs(bound)), 6),
        "seconds": round(seconds, 2),
    }


def _lp_stage(
    built: CpBase, expr: Any, maximise: bool, current: dict[int, int], gap: float
) -> tuple[int, int, bool] | None:
    """``(hint's objective, LP bound, within gap?)`` of the stage, or ``None``."""
    proto = built.m.proto
    if any(v.index not in current for v in _variables(built)):
        return None
    obj = proto.objective
    raw = sum(a * current.get(i, 0) for i, a in zip(obj.vars, obj.coeffs, strict=True))
    value = int(round((raw + obj.offset) * (obj.scaling_factor or 1.0)))
    lits = {v.index: current[v.index] for v in built.lit.values() if v.index in current}
    lpb = lp_bound(built, lits)
    if lpb is None:
        return None
    bound = math.floor(lpb + 1e-6) if maximise else math.ceil(lpb - 1e-6)
    return value, bound, abs(value - bound) <= gap * max(1, abs(bound))


def lp_bound(built: CpBase, fixed: dict[int, int]) -> float | None:
    """Bound of the model's objective from its linear relaxation (GLOP).

    Keeps the linear constraints whose enforcement literals are fixed on (``fixed`` maps
    variable indices to values: the term literals) and drops every other constraint, so the
    optimum of what is left bounds the model's.  Returns ``None`` when GLOP does not solve it.
    """
    from ortools.linear_solver import pywraplp

    proto = built.m.proto
    lp = pywraplp.Solver.CreateSolver("GLOP")
    inf = lp.infinity()

    def edge(x: int) -> float:
        return -inf if x <= -(2**62) else inf if x >= 2**62 else float(x)

    # (the proto's repeated fields do not take negative indices)
    doms = [list(v.domain) for v in proto.variables]
    xs = [lp.NumVar(edge(dom[0]), edge(dom[-1]), "") for dom in doms]
    for i, val in fixed.items():
        xs[i].SetBounds(float(val), float(val))
    for c in proto.constraints:
        if not c.has_linear():
            continue
        on = [fixed.get(lit if lit >= 0 else -lit - 1) for lit in c.enforcement_literal]
        if any(v is None for v in on):
            continue
        if any((v == 1) != (lit >= 0) for v, lit in zip(on, c.enforcement_literal, strict=True)):
            continue
        shift = sum(a for v, a in zip(c.linear.vars, c.linear.coeffs, strict=True) if v < 0)
        dom = list(c.linear.domain)
        row = lp.Constraint(edge(dom[0]) - shift, edge(dom[-1]) - shift)  # a negative ref is 1 - x
        for v, a in zip(c.linear.vars, c.linear.coeffs, strict=True):
            row.SetCoefficient(xs[v if v >= 0 else -v - 1], float(a if v >= 0 else -a))
    obj = proto.objective
    goal = lp.Objective()
    for v, a in zip(obj.vars, obj.coeffs, strict=True):
        goal.SetCoefficient(xs[v], float(a))
    goal.SetMinimization()
    if lp.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    scale = obj.scaling_factor or 1.0
    return (goal.Value() + obj.offset) * scale


def _variables(built: CpBase) -> list[Any]:
    names = ("x", "z", "vehicles", "split", "used", "y", "n", "trips", "has", "started")
    return [v for name in names for v in getattr(built, name, {}).values()]


def extract(built: ExactModel, solver: Any) -> dict:
    """Counts, free people, groups and vehicles of a solved exact model."""

    def val(e: Any) -> int:
        return e if isinstance(e, int) else int(solver.value(e))

    d = built.d
    counts = {k: val(e) for k, e in built.count.items()}
    loads: dict[tuple[int, str, str], dict[str, int]] = defaultdict(dict)
    for (si, fid, c), n in counts.items():
        types = d.carriers.get((fid, c), [])
        if not n or not types:
            continue
        if len(types) == 1:
            loads[(si, fid, types[0])][c] = n
        else:
            for t in types:
                k = val(built.split[(si, fid, c, t)])
                if k:
                    loads[(si, fid, t)][c] = k
    return {
        "x": {k: val(v) for k, v in built.x.items()},
        "z": {k: val(v) for k, v in built.z.items()},
        "counts": counts,
        "vehicles": {k: val(v) for k, v in built.vehicles.items() if val(v)},
        "loads": dict(loads),
    }
