"""The CP-SAT models of an exchange: event slots, terms, the exact model over counts per
(slot, facility, category), and the lexicographic solve with conflicts under assumptions.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from planner.exchange_spec import (
    ExchangePointSpec,
    ExchangeSpec,
    FacilitySpec,
    ParitySpec,
    Ratio,
    parse_ratio,
)
from planner.scenario import Scenario, Window

# --------------------------------------------------------------------------- the model


@dataclass
class Slot:
    point: str
    window: int
    start: datetime
    end: datetime
    cap: int
    rank: int = 0

    @property
    def day(self) -> date:
        return self.start.date()


@dataclass
class Term:
    id: str
    text: str


@dataclass
class ModelData:
    parties: list[str]
    cats: list[str]
    facs: list[FacilitySpec]
    slots: list[Slot]
    travel_s: dict[tuple[str, str], float]  # (facility, point) -> seconds (inf when no road)
    free: dict[tuple[str, str], int]  # (facility, category) -> people not in a group
    groups: dict[str, tuple[str, dict[str, int]]]  # group -> (facility, {category: n})
    terms: list[Term]
    buffer_s: float


def point_windows(scenario: Scenario, p: ExchangePointSpec) -> list[Window]:
    return list(p.windows) if p.windows else list(scenario.ceasefire.windows)


def make_slots(scenario: Scenario, spec: ExchangeSpec) -> list[Slot]:
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
        out.append(Term("max_per_day", f"at most {t.max_per_day} people per day"))
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
    return ModelData(
        parties=spec.party_ids,
        cats=spec.category_ids,
        facs=list(spec.facilities),
        slots=make_slots(scenario, spec),
        travel_s=travel_s,
        free=dict(free),
        groups=dict(sorted(groups.items())),
        terms=make_terms(scenario, spec),
        buffer_s=spec.transfer_buffer_min * 60.0,
    )


class ExactModel:
    """A CP-SAT model of the exchange, every term behind an enforcement literal."""

    def __init__(self, spec: ExchangeSpec, d: ModelData) -> None:
        from ortools.sat.python import cp_model

        self.cp = cp_model
        self.m = m = cp_model.CpModel()
        self.d = d
        t = spec.terms
        parties, cats, slots = d.parties, d.cats, d.slots
        self.lit = {term.id: m.new_bool_var(term.id) for term in d.terms}
        S = range(len(slots))
        win_start = {}
        for s in slots:
            win_start[(s.point, s.window)] = min(
                win_start.get((s.point, s.window), s.start), s.start
            )
        # reachability of slot s from facility f: hard (road) and under the window term
        self.reach: dict[tuple[int, str], bool] = {}
        self.in_window: dict[tuple[int, str], bool] = {}
        for si, s in enumerate(slots):
            for f in d.facs:
                tt = d.travel_s[(f.id, s.point)]
                self.reach[(si, f.id)] = math.isfinite(tt)
                depart = s.start - timedelta(seconds=d.buffer_s + (tt if math.isfinite(tt) else 0))
                self.in_window[(si, f.id)] = depart >= win_start[(s.point, s.window)]
        # free people
        self.x: dict[tuple[int, str, str], Any] = {}
        for (fid, c), n in sorted(d.free.items()):
            for si in S:
                if self.reach[(si, fid)] and n > 0:
                    self.x[(si, fid, c)] = m.new_int_var(
                        0, min(n, slots[si].cap), f"x_{si}_{fid}_{c}"
                    )
            m.add(sum(self.x[(si, fid, c)] for si in S if (si, fid, c) in self.x) <= n)
        # groups
        self.z: dict[tuple[int, str], Any] = {}
        for g, (fid, gcats) in d.groups.items():
            size = sum(gcats.values())
            for si in S:
                if self.reach[(si, fid)] and size <= slots[si].cap:
                    self.z[(si, g)] = m.new_bool_var(f"z_{si}_{g}")
            m.add(sum(self.z[(si, g)] for si in S if (si, g) in self.z) <= 1)

        def count(si: int, fid: str, c: str) -> Any:
            terms = [self.x[(si, fid, c)]] if (si, fid, c) in self.x else []
            for g, (gf, gcats) in d.groups.items():
                if gf == fid and gcats.get(c) and (si, g) in self.z:
                    terms.append(gcats[c] * self.z[(si, g)])
            return sum(terms) if terms else 0

        self.count = {(si, f.id, c): count(si, f.id, c) for si in S for f in d.facs for c in cats}
        held = defaultdict(int)
        for (fid, c), n in d.free.items():
            held[(fid, c)] += n
        for fid, gcats in d.groups.values():
            for c, n in gcats.items():
                held[(fid, c)] += n
        self.rel = {
            (si, p): sum(self.count[(si, f.id, c)] for f in d.facs if f.party == p for c in cats)
            for si in S
            for p in parties
        }
        self.people = {si: sum(self.rel[(si, p)] for p in parties) for si in S}
        tot = {p: sum(self.rel[(si, p)] for si in S) for p in parties}
        tot_c = {
            (p, c): sum(self.count[(si, f.id, c)] for si in S for f in d.facs if f.party == p)
            for p in parties
            for c in cats
        }

        # event used, capacity, window term
        self.used = {}
        for si, s in enumerate(slots):
            u = self.used[si] = m.new_bool_var(f"used_{si}")
            m.add(self.people[si] <= s.cap * u)
            m.add(self.people[si] >= u)
            for f in d.facs:
                if self.reach[(si, f.id)] and not self.in_window[(si, f.id)]:
                    fpeople = sum(self.count[(si, f.id, c)] for c in cats)
                    m.add(fpeople == 0).only_enforce_if(self.lit[f"window.{s.point}.{s.window}"])
        # buses: out and back, never double-booked
        self.buses = {}
        for f in d.facs:
            ivs = []
            for si, s in enumerate(slots):
                if not self.reach[(si, f.id)]:
                    continue
                tt = d.travel_s[(f.id, s.point)]
                fpeople = sum(self.count[(si, f.id, c)] for c in cats)
                b = self.buses[(si, f.id)] = m.new_int_var(0, f.buses, f"b_{si}_{f.id}")
                m.add(fpeople <= f.seats * b)
                ivs.append(
                    (
                        si,
                        s.start - timedelta(seconds=d.buffer_s + tt),
                        s.end + timedelta(seconds=tt),
                    )
                )
            for _si, a, _e in ivs:
                over = [self.buses[(sj, f.id)] for sj, b0, b1 in ivs if b0 <= a < b1]
                if len(over) > 1:
                    m.add(sum(over) <= f.buses)
        # terms
        r = parse_ratio(t.ratio, parties)
        tol = t.parity.tolerance if isinstance(t.parity, ParitySpec) else 0

        def within(n0: Any, n1: Any, rr: tuple[int, int], tl: int, lit: Any) -> None:
            diff = n1 * rr[0] - n0 * rr[1]
            m.add(2 * diff <= (2 * tl + 1) * rr[0]).only_enforce_if(lit)
            m.add(-2 * diff <= (2 * tl + 1) * rr[0]).only_enforce_if(lit)

        p0, p1 = parties
        if "parity_per_event" in self.lit:
            for si in S:
                within(self.rel[(si, p0)], self.rel[(si, p1)], r, tol, self.lit["parity_per_event"])
        within(tot[p0], tot[p1], r, tol, self.lit["ratio"])
        for c, rc in t.category_ratios.items():
            within(
                tot_c[(p0, c)],
                tot_c[(p1, c)],
                parse_ratio(rc, parties),
                tol,
                self.lit[f"ratio.{c}"],
            )
        for c in t.all_for_all:
            for f in d.facs:
                if held.get((f.id, c)):
                    m.add(
                        sum(self.count[(si, f.id, c)] for si in S) == held[(f.id, c)]
                    ).only_enforce_if(self.lit[f"all_for_all.{c}"])
        if t.precedence:
            lit = self.lit["precedence"]
            ranks = sorted({s.rank for s in slots})
            has = {}
            for si in S:
                for c in t.precedence:
                    h = has[(si, c)] = m.new_bool_var(f"has_{si}_{c}")
                    n = sum(self.count[(si, f.id, c)] for f in d.facs)
                    m.add(n <= slots[si].cap * h)
            started = {}
            for c in t.precedence[1:]:
                for k in ranks:
                    started[(c, k)] = m.new_bool_var(f"started_{c}_{k}")
                    if k > 0:
                        m.add_implication(started[(c, k - 1)], started[(c, k)])
                for si in S:
                    m.add_implication(has[(si, c)], started[(c, slots[si].rank)])
            for i, ci in enumerate(t.precedence):
                for cj in t.precedence[i + 1 :]:
                    for si in S:
                        k = slots[si].rank
                        if k > 0:
                            m.add_bool_or(
                                [has[(si, ci)].Not(), started[(cj, k - 1)].Not()]
                            ).only_enforce_if(lit)
        if t.mediator_dates is not None:
            ok = set(t.mediator_dates)
            for si, s in enumerate(slots):
                if s.day not in ok:
                    m.add(self.people[si] == 0).only_enforce_if(self.lit["mediator_dates"])
        if t.max_per_event is not None:
            for si in S:
                m.add(self.people[si] <= t.max_per_event).only_enforce_if(self.lit["max_per_event"])
        if t.max_per_day is not None:
            days = sorted({s.day for s in slots})
            for dday in days:
                m.add(
                    sum(self.people[si] for si in S if slots[si].day == dday) <= t.max_per_day
                ).only_enforce_if(self.lit["max_per_day"])
        w = spec.weights
        wint = {c: int(round(w[c] * 100)) for c in cats}
        self.obj_value = sum(
            wint[c] * self.count[(si, f.id, c)] for si in S for f in d.facs for c in cats
        )
        self.obj_time = sum(slots[si].rank * self.people[si] for si in S)
        self.obj_events = sum(self.used[si] for si in S)

    def solver(self, seed: int, time_limit_s: float, det_time: float) -> Any:
        s = self.cp.CpSolver()
        s.parameters.num_workers = 1
        s.parameters.random_seed = int(seed)
        s.parameters.max_time_in_seconds = float(time_limit_s)
        s.parameters.max_deterministic_time = float(det_time)
        return s


def feasible_with(
    built: ExactModel, active: list[str], seed: int, time_limit_s: float
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
    for i, key in enumerate(order):
        if term == key or (key.endswith(".") and term.startswith(key)):
            return i
    return len(order)


def minimal_conflict(
    built: ExactModel, active: list[str], order: list[str], seed: int, time_limit_s: float
) -> list[str]:
    """A minimal set of active terms that cannot hold together (None when they can)."""
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


def optimise(
    spec: ExchangeSpec,
    d: ModelData,
    active: list[str],
    seed: int,
    time_limit_s: float,
    det_time: float,
) -> tuple[str, dict | None, dict]:
    """Lexicographic solve with the active terms on and the others off (a fresh model)."""
    built = ExactModel(spec, d)
    cp, m = built.cp, built.m
    for k, v in built.lit.items():
        m.add(v == (1 if k in active else 0))
    stages = [
        ("value", built.obj_value, True),
        ("earliest", built.obj_time, False),
        ("events", built.obj_events, False),
    ]
    statuses: list[dict[str, Any]] = []
    sol = None
    status_word = "optimal"
    for name, expr, maximise in stages:
        if maximise:
            m.maximize(expr)
        else:
            m.minimize(expr)
        solver = built.solver(seed, time_limit_s, det_time)
        status = solver.solve(m)
        if status == cp.INFEASIBLE:
            return "infeasible", None, {"stages": statuses}
        if status not in (cp.OPTIMAL, cp.FEASIBLE):
            if sol is None:
                return "infeasible", None, {"stages": statuses, "stopped_by": "budget"}
            status_word = "feasible"
            break
        if status != cp.OPTIMAL:
            status_word = "feasible"
        v = int(round(solver.objective_value))
        bound = int(round(solver.best_objective_bound))
        gap = abs(bound - v) / max(1, abs(bound))
        statuses.append(
            {
                "stage": name,
                "status": solver.status_name(status).lower(),
                "objective": v,
                "bound": bound,
                "gap": round(gap, 6),
                "seconds": round(solver.wall_time, 2),
            }
        )
        sol = extract(built, solver)
        m.clear_hints()
        for var, val in sol["_hint"]:
            m.add_hint(var, val)
        if status == cp.OPTIMAL:
            m.add(expr == v)
        elif maximise:
            m.add(expr >= v)
        else:
            m.add(expr <= v)
    assert sol is not None
    return status_word, sol, {"stages": statuses}


def extract(built: ExactModel, solver: Any) -> dict:
    x = {k: int(solver.value(v)) for k, v in built.x.items()}
    z = {k: int(solver.value(v)) for k, v in built.z.items()}
    counts = {
        k: (int(solver.value(e)) if not isinstance(e, int) else e) for k, e in built.count.items()
    }
    hint = [
        (var, int(solver.value(var)))
        for var in [
            *built.x.values(),
            *built.z.values(),
            *built.buses.values(),
            *built.used.values(),
        ]
    ]
    return {"x": x, "z": z, "counts": counts, "_hint": hint}
