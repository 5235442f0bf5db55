"""Exchanges at negotiation scale: aggregate flows, then the exact model block by block.

The exact model (:class:`planner.exchange_model.ExactModel`) has a variable per (slot,
facility, category); with tens of thousands of people, dozens of facilities and weeks of
windows it grows past what CP-SAT proves in seconds.  The aggregate model here has, instead,

- a flow ``y`` per (exchange point window, facility, category): people handed over in the
  window, whatever the slot;
- a count ``n`` per (slot, party): people each side hands over in the slot, with parity,
  capacity and the per-day terms on ``n``;
- linking constraints that are exact for the travel times: within a window, a facility can
  reach every slot from its earliest one on, so the people of the facilities that can only
  reach slot ``j`` or later fit in the slots from ``j`` on (Hall's condition for nested sets);
- vehicles as trips per (window, facility, type), each vehicle making at most as many trips
  as there are disjoint round trips among the slots (windows whose trips overlap share them);
- precedence between windows that lie wholly before one another.

Every exact schedule is a solution of the aggregate model with the same three objectives, so
its optimum is a bound of the exact problem (reported as each stage's ``bound``).  The
aggregate solution is then made exact one block of windows at a time (a block holds the
windows that share a date or overlap; blocks follow one another): the exact model on the
block's slots must send exactly the aggregate flows, with vehicles still out from earlier
blocks.  When a block cannot (the vehicle trips were too optimistic), it sends what it can,
the aggregate model is solved again with the blocks done fixed, and the next block follows.
"""

from __future__ import annotations

import copy
import math
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

from planner.exchange_greedy import greedy_events, greedy_flows
from planner.exchange_model import (
    CpBase,
    ExactModel,
    HintValues,
    ModelData,
    extract,
    lexicographic,
    lp_bound,
    satisfies,
)
from planner.exchange_spec import ParitySpec, parse_ratio

FLOW_GAP = 0.01
"""Relative gap at which a stage of the aggregate model stops (the bound is reported)."""
EXACT_MAX_VARIABLES = 6000
"""The exact model is solved whole when it has at most this many (slot, facility, category) cells."""


def max_trips(intervals: list[tuple[datetime, datetime]]) -> int:
    """Most round trips one vehicle can make among ``intervals`` (earliest return first)."""
    n, free_at = 0, None
    for a, b in sorted(intervals, key=lambda ab: (ab[1], ab[0])):
        if free_at is None or a >= free_at:
            n, free_at = n + 1, b
    return n


class FlowModel(CpBase):
    """The aggregate model: flows per (window, facility, category), counts per (slot, party)."""

    def __init__(self, d: ModelData, slots: list[int] | None = None) -> None:
        super().__init__(d)
        self.S = list(range(len(d.slots))) if slots is None else list(slots)
        self.keys: dict[tuple[str, int], list[int]] = defaultdict(list)
        for si in self.S:
            self.keys[d.slots[si].key].append(si)
        for ss in self.keys.values():
            ss.sort(key=lambda si: d.slots[si].start)
        self._flows()
        self._slots()
        self._link()
        self._trips()
        self.has: dict[tuple[tuple[str, int], str], Any] = {}
        self.started: dict[tuple[str, int], Any] = {}
        self._terms()
        S = self.S
        self.obj_value = sum(d.weights[c] * v for (_k, _f, c), v in self.y.items())
        self.obj_time = sum(d.slots[si].rank * self.n[(si, p)] for si in S for p in d.parties)
        self.obj_events = sum(self.used.values())

    def _flows(self) -> None:
        d, m = self.d, self.m
        self.y: dict[tuple[tuple[str, int], str, str], Any] = {}
        self.earliest: dict[tuple[tuple[str, int], str], int | None] = {}
        for key, ss in sorted(self.keys.items()):
            room = sum(d.slots[si].cap for si in ss)
            for f in d.facs:
                if not d.reach(ss[0], f.id):
                    continue
                self.earliest[(key, f.id)] = next(
                    (j for j, si in enumerate(ss) if d.in_window(si, f.id)), None
                )
                for c in d.cats:
                    held = d.held(f.id, c)
                    if held and d.carriers.get((f.id, c)):
                        self.y[(key, f.id, c)] = m.new_int_var(
                            0, min(held, room), f"y_{key[0]}_{key[1]}_{f.id}_{c}"
                        )
        by_fc: dict[tuple[str, str], list[Any]] = defaultdict(list)
        self.by_kf: dict[tuple[tuple[str, int], str], list[Any]] = defaultdict(list)
        self.by_kc: dict[tuple[tuple[str, int], str], list[Any]] = defaultdict(list)
        for (k, fid, c), v in self.y.items():
            by_fc[(fid, c)].append(v)
            self.by_kf[(k, fid)].append(v)
            self.by_kc[(k, c)].append(v)
        self.by_fc = by_fc
        for (fid, c), vs in sorted(by_fc.items()):
            m.add(sum(vs) <= d.held(fid, c))

    def _slots(self) -> None:
        d, m, t = self.d, self.m, self.d.spec_terms
        self.n: dict[tuple[int, str], Any] = {}
        self.used: dict[int, Any] = {}
        r = parse_ratio(t.ratio, d.parties)
        tol = t.parity.tolerance if isinstance(t.parity, ParitySpec) else 0
        p0, p1 = d.parties
        ok = set(t.mediator_dates) if t.mediator_dates is not None else None
        for si in self.S:
            s = d.slots[si]
            for p in d.parties:
                self.n[(si, p)] = m.new_int_var(0, s.cap, f"n_{si}_{p}")
            u = self.used[si] = m.new_bool_var(f"used_{si}")
            people = self.n[(si, p0)] + self.n[(si, p1)]
            m.add(people <= s.cap * u)
            m.add(people >= u)
            if "parity_per_event" in self.lit:
                self.within(
                    self.n[(si, p0)], self.n[(si, p1)], r, tol, self.lit["parity_per_event"]
                )
            if t.max_per_event is not None:
                m.add(people <= t.max_per_event).only_enforce_if(self.lit["max_per_event"])
            if ok is not None and s.day not in ok:
                m.add(people == 0).only_enforce_if(self.lit["mediator_dates"])
        self.day_terms(self.S, self.n)
        self._day_events()

    def _day_events(self) -> None:
        """Events a day needs: the convex hull of ``events >= ceil(people / cap)``.

        With at most ``M`` people a day and ``cap`` an event, ``K = M // cap``: events are at
        least ``people / cap`` up to ``K cap`` people, and ``K + (people - K cap) / (M - K cap)``
        beyond (the line to ``(M, K + 1)``).  The linear relaxation alone only sees the first.
        """
        d, m, t = self.d, self.m, self.d.spec_terms
        by_day: dict[Any, list[int]] = defaultdict(list)
        for si in self.S:
            by_day[d.slots[si].day].append(si)
        daily = {dt.date: dt.per_side for dt in t.daily}
        for day, ss in sorted(by_day.items()):
            events = sum(self.used[si] for si in ss)
            people = sum(self.n[(si, p)] for si in ss for p in d.parties)
            cap = max(d.slots[si].cap for si in ss)
            cuts: list[tuple[int, int, list[Any]]] = [(cap, sum(d.slots[si].cap for si in ss), [])]
            lits, most = [], cuts[0][1]
            if t.max_per_event is not None and t.max_per_event < cap:
                lits.append(self.lit["max_per_event"])
            for term, bound in (
                ("max_per_day", t.max_per_day),
                ("max_per_day_per_side", 2 * (t.max_per_day_per_side or 0) or None),
                (f"daily.{day.isoformat()}", 2 * daily[day] if day in daily else None),
            ):
                if bound is not None and bound < most:
                    most, lits = bound, [*lits, self.lit[term]]
            if lits:
                cuts.append((min(cap, t.max_per_event or cap), most, lits))
            for c, big, enforce in cuts:
                k = big // c
                if k < 1 or big <= k * c:
                    continue
                cut = m.add((big - k * c) * events >= k * (big - k * c) + people - k * c)
                if enforce:
                    cut.only_enforce_if(enforce)

    def _link(self) -> None:
        """Each side's slot counts carry its flows; late-reaching facilities fit the late slots."""
        d, m = self.d, self.m
        for key, ss in sorted(self.keys.items()):
            lit = self.lit[f"window.{key[0]}.{key[1]}"]
            for p in d.parties:
                facs = [f.id for f in d.facs if f.party == p and (key, f.id) in self.earliest]
                flow = {fid: sum(self.by_kf.get((key, fid), [])) for fid in facs}
                m.add(sum(self.n[(si, p)] for si in ss) == sum(flow.values()))
                for fid in facs:
                    if self.earliest[(key, fid)] is None and not isinstance(flow[fid], int):
                        m.add(flow[fid] == 0).only_enforce_if(lit)
                for j in range(1, len(ss)):
                    late = [flow[fid] for fid in facs if (self.earliest[(key, fid)] or 0) >= j]
                    late = [e for e in late if not isinstance(e, int)]
                    if late:
                        m.add(sum(self.n[(si, p)] for si in ss[j:]) >= sum(late)).only_enforce_if(
                            lit
                        )

    def _trips(self) -> None:
        """Vehicle trips per (window, facility, type): seats for the flows, trips a vehicle can make."""
        d, m = self.d, self.m
        self.trips: dict[tuple[tuple[str, int], str, str], Any] = {}
        self.trip_limit: dict[tuple[tuple[str, int], str], int] = {}
        """Trips one vehicle of the facility can make in the window."""
        self.shared: dict[tuple[tuple[str, int], str], tuple[int, int]] = {}
        """``(first window, trips)``: windows of a facility whose trips overlap share its vehicles."""
        for f in d.facs:
            fleet = d.fleet[f.id]
            spans = []
            for key, ss in sorted(self.keys.items()):
                cats = [c for c in d.cats if (key, f.id, c) in self.y]
                if not cats:
                    continue
                ivs = [d.trip(si, f.id) for si in ss]
                k = self.trip_limit[(key, f.id)] = max_trips(ivs)
                types = sorted({t for c in cats for t in d.carriers[(f.id, c)]})
                for t in types:
                    self.trips[(key, f.id, t)] = m.new_int_var(
                        0, fleet[t][0] * k, f"tr_{key[0]}_{key[1]}_{f.id}_{t}"
                    )
                for group in sorted({tuple(d.carriers[(f.id, c)]) for c in cats}):
                    inside = [
                        self.y[(key, f.id, c)]
                        for c in cats
                        if set(d.carriers[(f.id, c)]) <= set(group)
                    ]
                    m.add(
                        sum(inside) <= sum(fleet[t][1] * self.trips[(key, f.id, t)] for t in group)
                    )
                spans.append((min(a for a, _ in ivs), max(b for _, b in ivs), key, ivs, types))
            spans.sort(key=lambda sp: (sp[0], sp[2]))
            comp: list[Any] = []
            for sp in [*spans, None]:
                if sp is not None and comp and sp[0] < max(c[1] for c in comp):
                    comp.append(sp)
                    continue
                if len(comp) > 1:
                    k = max_trips([iv for c in comp for iv in c[3]])
                    for c in comp:
                        self.shared[(c[2], f.id)] = (comp[0][2], k)
                    for t in sorted({t for c in comp for t in c[4]}):
                        vs = [
                            self.trips[(c[2], f.id, t)]
                            for c in comp
                            if (c[2], f.id, t) in self.trips
                        ]
                        m.add(sum(vs) <= fleet[t][0] * k)
                comp = [sp] if sp is not None else []

    def _terms(self) -> None:
        d, m, t = self.d, self.m, self.d.spec_terms
        p0, p1 = d.parties
        party = {f.id: f.party for f in d.facs}
        tot = {
            p: sum(v for (_k, fid, _c), v in self.y.items() if party[fid] == p) for p in d.parties
        }
        r = parse_ratio(t.ratio, d.parties)
        tol = t.parity.tolerance if isinstance(t.parity, ParitySpec) else 0
        self.within(tot[p0], tot[p1], r, tol, self.lit["ratio"])
        for c, rc in t.category_ratios.items():
            tc = {
                p: sum(v for (_k, fid, c2), v in self.y.items() if c2 == c and party[fid] == p)
                for p in d.parties
            }
            self.within(tc[p0], tc[p1], parse_ratio(rc, d.parties), tol, self.lit[f"ratio.{c}"])
        for c in t.all_for_all:
            for f in d.facs:
                held = d.held(f.id, c)
                if held:
                    got = sum(self.by_fc.get((f.id, c), []))
                    m.add(got == held).only_enforce_if(self.lit[f"all_for_all.{c}"])
        if t.precedence:
            self._precedence()

    def _precedence(self) -> None:
        """A later category never in a window wholly before one holding an earlier category."""
        d, m, t = self.d, self.m, self.d.spec_terms
        lit = self.lit["precedence"]
        ranks = sorted({d.slots[si].rank for si in self.S})
        prev = {k: ranks[i - 1] for i, k in enumerate(ranks) if i > 0}
        has = self.has
        for key, ss in sorted(self.keys.items()):
            room = sum(d.slots[si].cap for si in ss)
            for c in t.precedence:
                vs = self.by_kc.get((key, c), [])
                if vs:
                    h = has[(key, c)] = m.new_bool_var(f"has_{key[0]}_{key[1]}_{c}")
                    m.add(sum(vs) <= room * h)
        started = self.started = {
            (c, k): m.new_bool_var(f"started_{c}_{k}") for c in t.precedence[1:] for k in ranks
        }
        for (c, k), v in started.items():
            if k in prev:
                m.add_implication(started[(c, prev[k])], v)
        for (key, c), h in has.items():
            if c in t.precedence[1:]:
                m.add_implication(h, started[(c, self.d.slots[self.keys[key][-1]].rank)])
        for i, ci in enumerate(t.precedence):
            for cj in t.precedence[i + 1 :]:
                for key in self.keys:
                    first = d.slots[self.keys[key][0]].rank
                    if (key, ci) in has and first in prev:
                        m.add_bool_or(
                            [has[(key, ci)].Not(), started[(cj, prev[first])].Not()]
                        ).only_enforce_if(lit)

    def fix(self, keys: list[tuple[str, int]], counts: dict[tuple[int, str, str], int]) -> None:
        """Fix the flows and slot counts of ``keys`` to what the exact blocks realised."""
        d, m = self.d, self.m
        party = {f.id: f.party for f in d.facs}
        got_y: dict[tuple, int] = defaultdict(int)
        got_n: dict[tuple[int, str], int] = defaultdict(int)
        for (si, fid, c), n in counts.items():
            got_y[(d.slots[si].key, fid, c)] += n
            got_n[(si, party[fid])] += n
        for (key, fid, c), v in self.y.items():
            if key in keys:
                m.add(v == got_y.get((key, fid, c), 0))
        for (si, p), v in self.n.items():
            if d.slots[si].key in keys:
                m.add(v == got_n.get((si, p), 0))

    def flows(self, solver: Any) -> dict[tuple[str, int, str, str], int]:
        """``{(point, window, facility, category): people}`` of a solution."""
        out = {}
        for (key, fid, c), v in self.y.items():
            n = int(solver.value(v))
            if n:
                out[(key[0], key[1], fid, c)] = n
        return out


STAGES = (("value", True), ("earliest", False), ("events", False))
IMPROVE_BLOCKS = 3
"""Blocks a schedule is re-solved together for fewer events (:func:`fewer_events`)."""


def _stages(model: CpBase) -> list[tuple[str, Any, bool]]:
    exprs = {"value": model.obj_value, "earliest": model.obj_time, "events": model.obj_events}
    return [(name, exprs[name], maximise) for name, maximise in STAGES]


def switch_terms(model: CpBase, active: list[str]) -> None:
    """Fix the literals of the ``active`` terms on and of the others off."""
    for k, v in model.lit.items():
        model.m.add(v == (1 if k in active else 0))


def optimise_exact(
    d: ModelData, active: list[str], seed: int, time_limit_s: float, det_time: float
) -> tuple[str, dict | None, dict]:
    """Lexicographic solve of the whole exact model, active terms on and the others off."""
    built = ExactModel(d)
    switch_terms(built, active)
    word, solver, records = lexicographic(built, _stages(built), seed, time_limit_s, det_time)
    info: dict[str, Any] = {"stages": records, "method": "exact"}
    if solver is None:
        if word == "budget":
            info["stopped_by"] = "budget"
        return "infeasible", None, info
    return word, extract(built, solver), info


def _solve_block(
    d: ModelData,
    active: list[str],
    slots: list[int],
    targets: dict,
    state: dict,
    seed: int,
    time_limit_s: float,
    det_time: float,
) -> tuple[dict | None, bool]:
    """The exact model of one block: exactly the flows, else as many as it can (``(sol, exact?)``)."""
    for at_most in (False, True):
        model = ExactModel(
            d, slots, targets, state["free"], state["groups"], state["busy"], at_most=at_most
        )
        switch_terms(model, active)
        stages = _stages(model)[0 if at_most else 1 :]
        word, solver, _ = lexicographic(model, stages, seed, time_limit_s, det_time)
        if solver is not None:
            return extract(model, solver), not at_most
    return None, False


def _advance(d: ModelData, sol: dict, state: dict, merged: dict) -> None:
    """Take a block's solution: people and groups gone, vehicles out, counts merged."""
    for (_si, fid, c), n in sol["x"].items():
        state["free"][(fid, c)] -= n
    for (_si, g), on in sol["z"].items():
        if on:
            state["groups"].discard(g)
    for (si, fid, t), k in sol["vehicles"].items():
        dep, back = d.trip(si, fid)
        state["busy"][(fid, t)].append((dep, back, k))
    for part in ("x", "z", "counts", "vehicles", "loads"):
        merged[part].update(sol[part])


def optimise_flows(
    d: ModelData, active: list[str], seed: int, time_limit_s: float, det_time: float
) -> tuple[str, dict | None, dict] | None:
    """The aggregate model, then the exact model block by block; ``None`` when it cannot
    realise a schedule (the caller then solves the exact model whole)."""
    blocks = sorted({s.block for s in d.slots})
    ceiling = sum(d.weights[c] * d.held(f.id, c) for f in d.facs for c in d.cats)
    k = horizon(d, blocks)
    while True:  # the first k blocks, more when they cannot hold the best value
        mine = [si for si, s in enumerate(d.slots) if s.block in set(blocks[:k])]
        flow = FlowModel(d, mine)
        switch_terms(flow, active)
        hint, greedy = pick_schedule(flow, active, greedy_flows(flow, active))
        value = sum(d.weights[c] * hint[v] for (_k, _f, c), v in flow.y.items())
        if not satisfies(flow, {v.index: x for v, x in hint.items()}):
            greedy, value = None, -1  # a hint only (e.g. an agreed daily figure not reached)
        word, solver, records = lexicographic(
            flow,
            _stages(flow),
            seed,
            time_limit_s,
            det_time,
            hint=list(hint.items()),
            gap=FLOW_GAP,
            proven={"value": value} if value >= ceiling else None,
            trusted=value >= 0,
        )
        if k >= len(blocks) or (
            solver is not None and records and records[0]["objective"] >= ceiling
        ):
            break
        k = min(len(blocks), 2 * k)
    blocks = blocks[:k]
    if solver is None:
        info: dict[str, Any] = {"stages": records, "method": "flows"}
        if word == "budget":
            info["stopped_by"] = "budget"
        return "infeasible", None, info
    bounds = [dict(r) for r in records]
    t_blocks = time.perf_counter()
    budget = (seed, time_limit_s, det_time)
    method = "flows"
    if isinstance(solver, HintValues) and greedy is not None:  # no stage moved the schedule
        done: tuple[dict, int, str | None] | None = (greedy, 0, None)
    else:
        done = _realise(d, active, flow.flows(solver), blocks, budget, None if greedy else flow)
    if done is not None:  # fewer events, the realised flows' earliest sum kept
        at_bound = records[-1]["objective"] == records[-1]["bound"]  # then the earliest sum
        done = (fewer_events(d, active, done[0], blocks, budget, at_bound)[0], *done[1:])
    if done is None and greedy is not None:  # the constructive schedule, improved per block
        method = "flows+greedy"
        done = fewer_events(d, active, greedy, blocks, budget)
    if done is None:
        return None
    merged, repairs, word_blocks = done
    word = word if word_blocks is None else word_blocks
    if word == "feasible":
        bounds = [{**r, "status": "feasible"} for r in bounds]
    for f in d.facs:  # counts of every cell, zero where nothing goes
        for si in range(len(d.slots)):
            for c in d.cats:
                merged["counts"].setdefault((si, f.id, c), 0)
    bounds = rebound(d, active, mine, merged["counts"], bounds)
    stages = _compose(d, merged["counts"], bounds)
    block_s = time.perf_counter() - t_blocks
    stages.append(
        {
            "stage": "blocks",
            "status": "optimal" if not repairs else "feasible",
            "objective": len(blocks),
            "bound": len(blocks),
            "gap": 0.0,
            "seconds": round(block_s, 2),
        }
    )
    status = (
        "optimal"
        if all(st["status"] == "optimal" for st in stages[:3]) and word == "optimal"
        else "feasible"
    )
    info = {"stages": stages, "method": method, "blocks": len(blocks), "repairs": repairs}
    return status, merged, info


def schedule_figures(d: ModelData, counts: dict[tuple[int, str, str], int]) -> tuple[int, int, int]:
    """``(value, earliest-exchange sum, events)`` of a schedule's counts."""
    people: dict[int, int] = defaultdict(int)
    value = 0
    for (si, _f, c), n in counts.items():
        people[si] += n
        value += d.weights[c] * n
    earliest = sum(d.slots[si].rank * n for si, n in people.items())
    return value, earliest, sum(1 for n in people.values() if n)


def pick_schedule(
    flow: FlowModel, active: list[str], first: tuple[dict[Any, int], dict | None]
) -> tuple[dict[Any, int], dict | None]:
    """The constructive schedule to start from: ``first`` (:func:`greedy_flows`), or the one
    with fewer events (:func:`greedy_events`) when it holds every term, exchanges as much and
    its earliest-exchange sum is within ``FLOW_GAP`` of the LP bound of that stage.

    The earliest stage accepts any schedule within the gap of its bound, so among those the
    one with fewer events is the better start for the third stage.
    """
    other = greedy_events(flow, active)
    if other is None or first[1] is None or other[1] is None:
        return first
    if not satisfies(flow, {v.index: x for v, x in other[0].items()}):
        return first
    d = flow.d
    value0, _earliest0, events0 = schedule_figures(d, first[1]["counts"])
    value1, earliest1, events1 = schedule_figures(d, other[1]["counts"])
    if value1 < value0 or events1 >= events0:
        return first
    view = copy.copy(flow)
    view.m = flow.m.clone()
    view.m.add(flow.obj_value >= value1)
    view.m.minimize(flow.obj_time)
    lits = {v.index: int(k in active) for k, v in flow.lit.items()}
    bound = lp_bound(view, lits)
    if bound is None or earliest1 > (1 + FLOW_GAP) * math.ceil(bound - 1e-6):
        return first
    return other


def fewer_events(
    d: ModelData,
    active: list[str],
    schedule: dict,
    blocks: list[int],
    budget: tuple,
    then_earliest: bool = False,
) -> tuple[dict, int, None]:
    """A schedule (constructive or realised), re-solved exactly ``IMPROVE_BLOCKS`` blocks at a time:
    fewest events with the same people per (facility, category) in those blocks and their
    earliest-exchange sum no greater than the schedule's there (so the earliest stage keeps
    the value it was fixed at); the schedule itself when a window is not solved.

    People may move between the days of a window: the schedule's second start time of a day
    (its buses could not all reach the first) often joins an event of the next day.

    Parameters
    ----------
    d
        The model data.
    active
        Ids of the terms switched on.
    schedule
        ``{"counts": {(slot, facility, category): n}, "x": ..., "vehicles": ...}``: the
        schedule to improve (its ``x`` and ``vehicles`` are the hint).
    blocks
        The blocks planned, in order.
    budget
        ``(seed, time limit s, deterministic time)`` of each window's solve.
    then_earliest
        Keep the schedule's events in each window (fewest already) and make the
        earliest-exchange sum least instead.

    Returns
    -------
    tuple
        ``(schedule, 0, None)``: the improved schedule, no repairs, no repair status.
    """
    seed, time_limit_s, det_time = budget
    state: dict[str, Any] = {
        "free": dict(d.free),
        "groups": set(d.groups),
        "busy": defaultdict(list),
    }
    merged: dict[str, dict] = {"x": {}, "z": {}, "counts": {}, "vehicles": {}, "loads": {}}
    for j in range(0, len(blocks), IMPROVE_BLOCKS):
        window = set(blocks[j : j + IMPROVE_BLOCKS])
        slots = [si for si, s in enumerate(d.slots) if s.block in window]
        inside = set(slots)
        targets: dict[tuple, int] = defaultdict(int)
        earliest = 0
        for (si, fid, c), n in schedule["counts"].items():
            if si in inside and n:
                targets[(fid, c)] += n
                earliest += d.slots[si].rank * n
        if not targets:
            continue
        model = ExactModel(d, slots, dict(targets), state["free"], state["groups"], state["busy"])
        switch_terms(model, active)
        model.m.add(model.obj_time <= earliest)
        stages = _stages(model)[2:]
        if then_earliest:  # the events kept, the earliest sum made least
            used = {si for (si, _f, _c), n in schedule["counts"].items() if si in inside and n}
            model.m.add(model.obj_events <= len(used))
            stages = _stages(model)[1:2]
        hint = [(v, schedule["x"].get(k, 0)) for k, v in model.x.items()]
        hint += [(v, schedule["vehicles"].get(k, 0)) for k, v in model.vehicles.items()]
        word, solver, _ = lexicographic(model, stages, seed, time_limit_s, det_time, hint=hint)
        if solver is None:
            return schedule, 0, None
        _advance(d, extract(model, solver), state, merged)
    return merged, 0, None


def _realise(
    d: ModelData,
    active: list[str],
    targets: dict[tuple, int],
    blocks: list[int],
    budget: tuple[int, float, float],
    flow: FlowModel | None = None,
) -> tuple[dict, int, str | None] | None:
    """Flows made exact block by block: ``(schedule, repairs, status of the last repair or
    None)``, or ``None`` when a block cannot be realised.  A block that can only send part of
    its flows is repaired by solving ``flow`` again with the blocks done fixed; without
    ``flow``, it is not realised."""
    seed, time_limit_s, det_time = budget
    state: dict[str, Any] = {
        "free": dict(d.free),
        "groups": set(d.groups),
        "busy": defaultdict(list),
    }
    merged: dict[str, dict] = {"x": {}, "z": {}, "counts": {}, "vehicles": {}, "loads": {}}
    repairs, done_keys, word = 0, [], None
    for b in blocks:
        slots = [si for si, s in enumerate(d.slots) if s.block == b]
        keys = sorted({d.slots[si].key for si in slots})
        block_targets = {k: n for k, n in targets.items() if (k[0], k[1]) in keys}
        done_keys += keys
        if not block_targets:
            continue
        sol, exact = _solve_block(
            d, active, slots, block_targets, state, seed, time_limit_s, det_time
        )
        if sol is None or (not exact and flow is None):
            return None
        _advance(d, sol, state, merged)
        if not exact and flow is not None:
            repairs += 1
            flow.fix(done_keys, merged["counts"])
            flow.m.clear_hints()
            word, solver, _ = lexicographic(
                flow, _stages(flow), seed, time_limit_s, det_time, gap=FLOW_GAP
            )
            if solver is None:
                return None
            targets = flow.flows(solver)
    return merged, repairs, word


def horizon(d: ModelData, blocks: list[int]) -> int:
    """Blocks to model first: enough capacity for everyone held, a quarter more, and every
    block with an agreed daily figure."""
    need = sum(d.held(f.id, c) for f in d.facs for c in d.cats)
    cap: dict[int, int] = defaultdict(int)
    days: dict[int, set] = defaultdict(set)
    for s in d.slots:
        cap[s.block] += s.cap
        days[s.block].add(s.day)
    t = d.spec_terms
    per_day = t.max_per_day or (2 * t.max_per_day_per_side if t.max_per_day_per_side else None)
    k, acc = 0, 0.0
    for b in blocks:
        room = cap[b] if per_day is None else min(cap[b], per_day * len(days[b]))
        acc += room
        k += 1
        if acc >= 1.25 * need:
            break
    k = min(len(blocks), k + 1)
    dated = {dt.date for dt in t.daily}
    for i, b in enumerate(blocks):
        if days[b] & dated:
            k = max(k, i + 1)
    return max(1, k)


def rebound(
    d: ModelData,
    active: list[str],
    slots: list[int],
    counts: dict[tuple[int, str, str], int],
    bounds: list[dict],
) -> list[dict]:
    """Stage bounds that hold for the composed schedule's values of the earlier stages.

    A stage's bound was found with the earlier stages kept at the values the aggregate model
    reached; when the composed schedule is worse on an earlier stage (a block realised the
    constructive schedule instead), fewer events may take a later sum, so the later bounds
    are found again: the LP bound of the aggregate model with the earlier stages at least as
    good as the composed schedule's (never above the bound found first).
    """
    value, earliest, events = schedule_figures(d, counts)
    got = {"value": value, "earliest": earliest, "events": events}
    out, kept, flow = [], True, None
    for rec in bounds:
        name = rec["stage"]
        if not kept and name != "value":
            if flow is None:
                flow = FlowModel(d, slots)
                switch_terms(flow, active)
                flow.m.add(flow.obj_value >= got["value"])
            if name == "events":
                flow.m.add(flow.obj_time <= got["earliest"])
            flow.m.minimize(flow.obj_events if name == "events" else flow.obj_time)
            lits = {v.index: int(k in active) for k, v in flow.lit.items()}
            lp = lp_bound(flow, lits)
            low = math.ceil(lp - 1e-6) if lp is not None else 0
            rec = {**rec, "bound": min(rec["bound"], low)}
        out.append(rec)
        worse = got[name] < rec["objective"] if name == "value" else got[name] > rec["objective"]
        kept = kept and not worse
    return out


def _compose(
    d: ModelData, counts: dict[tuple[int, str, str], int], bounds: list[dict]
) -> list[dict]:
    """Each stage's objective in the composed schedule against the aggregate model's bound.

    A stage whose objective meets its bound is optimal: the bound holds for every schedule
    that keeps the earlier stages' values (:func:`rebound`; the aggregate model is a
    relaxation of the exact one).
    """
    people: dict[int, int] = defaultdict(int)
    value = 0
    for (si, _f, c), n in counts.items():
        people[si] += n
        value += d.weights[c] * n
    got = {
        "value": value,
        "earliest": sum(d.slots[si].rank * n for si, n in people.items()),
        "events": sum(1 for n in people.values() if n),
    }
    out = []
    for rec in bounds:
        name = rec["stage"]
        bound = rec["bound"]
        v = got[name]
        gap = abs(bound - v) / max(1, abs(bound))
        out.append(
            {
                "stage": name,
                "status": "optimal" if v == bound else "feasible",
                "objective": v,
                "bound": bound,
                "gap": round(gap, 6),
                "seconds": rec.get("seconds", 0.0),
            }
        )
    return out


def exact_size(d: ModelData) -> int:
    """Cells of the exact model: (slot, facility, category) with people and a road."""
    cells = 0
    for f in d.facs:
        k = sum(1 for c in d.cats if d.held(f.id, c))
        cells += k * sum(1 for si in range(len(d.slots)) if d.reach(si, f.id))
    return cells


def optimise(
    d: ModelData,
    active: list[str],
    seed: int,
    time_limit_s: float,
    det_time: float,
    method: str = "auto",
) -> tuple[str, dict | None, dict]:
    """Lexicographic solve: the exact model when small (or ``method="exact"``), the aggregate
    flows block by block otherwise (or ``method="flows"``), the exact model when that fails."""
    if method == "exact" or (method == "auto" and exact_size(d) <= EXACT_MAX_VARIABLES):
        out = optimise_exact(d, active, seed, time_limit_s, det_time)
        if method == "exact" or out[1] is not None or out[2].get("stopped_by") != "budget":
            return out
        flows = optimise_flows(d, active, seed, time_limit_s, det_time)  # no proof either way yet
        return flows if flows is not None else out
    via_flows = optimise_flows(d, active, seed, time_limit_s, det_time)
    if via_flows is not None:
        return via_flows
    return optimise_exact(d, active, seed, time_limit_s, det_time)
