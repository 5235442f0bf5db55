"""Re-time vehicle routes so that crossing points' rates hold (CP-SAT).

The routing model decides which vehicle serves which stops and in what order, but it does not
see how many vehicles a crossing point lets through in an hour.  This module keeps each
route's order and re-times it: every leg's departure and every stop's service start become
CP-SAT variables under the plan's rules (each drive inside one ceasefire window, each
service inside one window, drive then dwell before a stop's service, the longest wait with
passengers on board, the vehicle's earliest start, the horizon).  These rules are exact
where the routing model's are conservative (it fits a stop's time to the longest drive that
could lead into it), so a vehicle may now leave early and wait at its destination.  Every
leg through a rate-limited crossing
occupies its crossing for one span (an hour, or ``1/vph`` hours below one vehicle an hour)
from its departure, at most ``limit`` legs at a time: exactly the sliding-hour rule the
verifier applies.  A route may lose trips from its end when its trips cannot all be fitted;
the model keeps the most valuable set of whole trips (a trip ends where the vehicle is empty
again) and, among those, the earliest schedule.

A feasible schedule given as a hint (the greedy queueing at the crossings) is always a
solution, so the result is never worse than the hint.  The search is single-threaded with
a deterministic work budget, so the same input gives the same schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.convoys import (
    ConvoyInput,
    ConvoyOutcome,
    ConvoyVars,
    RegisteredLeg,
    add_convoy_rules,
    convoy_outcome,
)


@dataclass
class RetimeInput:
    """Routes and the timing rules they must keep.

    Times are integer seconds from the start of the first window.  ``drive[a, b]`` is the
    drive between the sites of nodes ``a`` and ``b`` (0 at the same site) and ``dwell[b]`` the
    stop time spent at ``b``'s site after arriving from another site before service starts.
    A vehicle may wait anywhere (before leaving or after arriving), with passengers on board
    at most ``max_wait[p]`` after pickup ``p``.
    """

    routes: list[list[int]]
    starts: list[int]  # hinted start (leave) time of each vehicle
    times: list[list[int]]  # hinted service start of each stop (any value past ``kept``)
    kept: list[int]  # the hint keeps the first ``kept[v]`` stops of route v (whole trips)
    start_node: list[int]  # each vehicle's start node (row of ``drive``)
    earliest: list[int]
    site: list[int]  # site of each node: a leg is a change of site
    drive: np.ndarray
    dwell: np.ndarray
    service: np.ndarray
    windows: list[tuple[int, int]]
    max_wait: dict[int, int]
    value: list[list[int]]  # value of each stop (people x priority at pickups, 0 elsewhere)
    load: list[list[int]]  # load change at each stop
    # (vehicle, position) of each leg through a rate-limited crossing; position p is the
    # drive into stop p of the route (p = 0: from the vehicle's start)
    crossing_legs: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    span_s: dict[str, int] = field(default_factory=dict)
    limit: dict[str, int] = field(default_factory=dict)
    convoy: ConvoyInput | None = None
    """Convoys and the routes' drives that join them (see :mod:`planner.convoys`)."""


@dataclass
class RetimeResult:
    """Re-timed routes (possibly shortened): service starts, leg departures and start times.

    ``departs[v][p]`` is when the drive into stop ``p`` leaves (``None`` when stop ``p`` is at
    the same site as the one before it).
    """

    routes: list[list[int]]
    times: list[list[int]]
    departs: list[list[int | None]]
    starts: list[int]
    status: str
    convoy: ConvoyOutcome | None = None


def fit_domain(windows: list[tuple[int, int]], length: int, lo: int = 0):  # noqa: ANN202
    """Start times ``t >= lo`` with ``[t, t + length]`` inside one window (or ``None``)."""
    from ortools.sat.python import cp_model

    pieces = [[max(a, lo), b - length] for a, b in windows if b - length >= max(a, lo)]
    return cp_model.Domain.FromIntervals(pieces) if pieces else None


def _trips(load: list[int]) -> list[int]:
    """Trip index of each stop: a trip ends where the vehicle is empty again."""
    out, trip, on = [], 0, 0
    for d in load:
        out.append(trip)
        on += d
        if on == 0:
            trip += 1
    return out


@dataclass
class _Vars:
    """The CP-SAT variables of the re-timing model, per vehicle and stop."""

    start_var: list[Any] = field(default_factory=list)
    t_var: list[list[Any]] = field(default_factory=list)
    dep_var: list[list[Any]] = field(default_factory=list)
    keep: list[list[Any]] = field(default_factory=list)
    trip_of: list[list[int]] = field(default_factory=list)
    value_terms: list[Any] = field(default_factory=list)
    convoy_regs: dict[tuple[int, int], RegisteredLeg] = field(default_factory=dict)


@dataclass
class _Stop:
    """One stop of a route as the model sees it: its literal and service-start variable."""

    v: int
    pos: int
    prev_node: int
    node: int
    lit: Any
    tv: Any
    prev_t: Any  # the previous stop's service start (None at the first stop)


def retime(
    inp: RetimeInput, *, seed: int = 0, time_limit_s: float = 10.0, det_time: float = 20.0
) -> RetimeResult:
    """Re-time routes under the crossing rates.

    Parameters
    ----------
    inp
        Routes, a feasible hinted schedule of a prefix of each (whole trips) and the rules.
    seed
        CP-SAT seed.
    time_limit_s
        Wall-clock cap (a safety net; the deterministic budget normally binds first).
    det_time
        CP-SAT deterministic time budget.

    Returns
    -------
    RetimeResult
        The hint itself when CP-SAT finds nothing (``status`` says which).
    """
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    horizon = max(b for _a, b in inp.windows)
    mv = _Vars()
    for v in range(len(inp.routes)):
        _add_route(m, inp, mv, v, horizon)
    cv = (
        add_convoy_rules(m, inp.convoy, mv.convoy_regs, fit_domain)
        if inp.convoy is not None
        else None
    )
    _add_crossing_limits(m, inp, mv, cv.intervals if cv is not None else {})

    value = sum(mv.value_terms) if mv.value_terms else 0
    m.maximize(value)
    s1 = _solver(seed, time_limit_s, det_time * 0.7)
    st = s1.solve(m)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return _hint_kept(inp)
    status = "optimal" if st == cp_model.OPTIMAL else "feasible"
    if st != cp_model.OPTIMAL and s1.wall_time >= 0.95 * time_limit_s:
        status = "feasible, stopped by its time cap"
    sol = s1
    if mv.value_terms:
        # second: the same value, the earliest schedule
        m.clear_hints()
        for v in range(len(inp.routes)):
            for var in [
                mv.start_var[v],
                *mv.keep[v],
                *mv.t_var[v],
                *(d for d in mv.dep_var[v] if d is not None),
            ]:
                m.add_hint(var, s1.value(var))
        for var in cv.all_vars() if cv is not None else []:
            m.add_hint(var, s1.value(var))
        m.add(value >= int(round(s1.objective_value)))
        m.minimize(
            sum(tv for ts in mv.t_var for tv in ts)
            + sum(d for ds in mv.dep_var for d in ds if d is not None)
        )
        s2 = _solver(seed, time_limit_s, det_time * 0.3)
        if s2.solve(m) in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            sol = s2
    return _read_result(inp, mv, sol, cv, status)


def _add_route(m: Any, inp: RetimeInput, mv: _Vars, v: int, horizon: int) -> None:
    """The variables and rules of vehicle ``v``'s route: whole trips kept or not, then each
    stop."""
    route = inp.routes[v]
    trips = _trips(inp.load[v])
    mv.trip_of.append(trips)
    n_trips = (max(trips) + 1) if trips else 0
    ks = [m.new_bool_var(f"k{v}_{j}") for j in range(n_trips)]
    for j in range(1, n_trips):
        m.add_implication(ks[j], ks[j - 1])
    kept_trips = len({trips[p] for p in range(min(inp.kept[v], len(route)))})
    for j, kv in enumerate(ks):
        m.add_hint(kv, 1 if j < kept_trips else 0)
    mv.keep.append(ks)
    ts: list[Any] = []
    ds: list[Any] = []
    prev_node = inp.start_node[v]
    sv = None
    for pos, node in enumerate(route):
        lit = ks[trips[pos]]
        dom_t = fit_domain(inp.windows, int(inp.service[node]))
        tv = (
            m.new_int_var_from_domain(dom_t, f"t{v}_{pos}")
            if dom_t is not None
            else m.new_int_var(0, horizon, f"t{v}_{pos}")
        )
        if dom_t is None:
            m.add(lit == 0)
        ts.append(tv)
        m.add_hint(tv, int(inp.times[v][pos]))
        if inp.value[v][pos]:
            mv.value_terms.append(int(inp.value[v][pos]) * lit)
        stop = _Stop(v, pos, prev_node, node, lit, tv, ts[pos - 1] if pos > 0 else None)
        stop_sv, dv = _add_arrival(m, inp, mv, stop, horizon)
        if pos == 0:
            sv = stop_sv
        ds.append(dv)
        prev_node = node
    mv.start_var.append(sv if sv is not None else m.new_constant(int(inp.starts[v])))
    mv.t_var.append(ts)
    mv.dep_var.append(ds)


def _add_arrival(m: Any, inp: RetimeInput, mv: _Vars, stop: _Stop, horizon: int) -> tuple[Any, Any]:
    """How ``stop`` is reached: a leg from another site (its departure variable) or a wait
    at the same site; then the longest wait with passengers on board.  Return the vehicle's
    start variable if this is its first stop (else None) and the leg's departure (or None)."""
    prev_node, node = stop.prev_node, stop.node
    drive = int(inp.drive[prev_node, node])
    moved = inp.site[prev_node] != inp.site[node]
    conv_leg = inp.convoy.legs.get((stop.v, stop.pos)) if inp.convoy is not None and moved else None
    if conv_leg is not None:
        drive = conv_leg.to_marshal_s  # the drive to the convoy; the convoy does the rest
    sv = dv = None
    if moved:
        dv = _add_leg(m, inp, mv, stop, drive, convoy=conv_leg is not None, horizon=horizon)
        if stop.pos == 0:
            sv = dv
    elif stop.pos == 0:
        sv = m.new_int_var(int(inp.earliest[stop.v]), horizon, f"s{stop.v}")
        m.add_hint(sv, int(inp.starts[stop.v]))
        m.add(stop.tv >= sv).only_enforce_if(stop.lit)
    else:
        m.add(stop.tv >= stop.prev_t + int(inp.service[prev_node])).only_enforce_if(stop.lit)
    if stop.pos > 0 and conv_leg is None:  # waiting for a convoy is its own rule
        w = inp.max_wait.get(prev_node)
        if w is not None:
            gap = int(inp.service[prev_node]) + drive + (int(inp.dwell[node]) if moved else 0)
            m.add(stop.tv <= stop.prev_t + gap + int(w)).only_enforce_if(stop.lit)
    return sv, dv


def _add_leg(
    m: Any, inp: RetimeInput, mv: _Vars, stop: _Stop, drive: int, *, convoy: bool, horizon: int
) -> Any:
    """The departure variable of the drive into ``stop`` and its rules (a convoy's leg is
    registered for the convoy rules instead of the drive rule)."""
    v, pos, node, lit = stop.v, stop.pos, stop.node, stop.lit
    dom_d = fit_domain(inp.windows, drive, lo=int(inp.earliest[v]) if pos == 0 else 0)
    dv = (
        m.new_int_var_from_domain(dom_d, f"d{v}_{pos}")
        if dom_d is not None
        else m.new_int_var(0, horizon, f"d{v}_{pos}")
    )
    if dom_d is None:
        m.add(lit == 0)
    hint_d = (
        int(inp.starts[v]) if pos == 0 else int(inp.times[v][pos]) - drive - int(inp.dwell[node])
    )
    m.add_hint(dv, hint_d)
    if pos > 0:
        m.add(dv >= stop.prev_t + int(inp.service[stop.prev_node])).only_enforce_if(lit)
    if not convoy:
        m.add(stop.tv >= dv + drive + int(inp.dwell[node])).only_enforce_if(lit)
    else:
        mv.convoy_regs[(v, pos)] = RegisteredLeg(dv, stop.tv, lit, int(inp.dwell[node]))
    return dv


def _add_crossing_limits(
    m: Any, inp: RetimeInput, mv: _Vars, extra: dict[str, list[tuple[Any, Any]]]
) -> None:
    """At most ``limit`` legs (and convoys) in each rate-limited crossing's span."""
    for c in sorted(set(inp.crossing_legs) | (set(extra) & set(inp.span_s))):
        span, limit = int(inp.span_s[c]), int(inp.limit[c])
        intervals = []
        for v, pos in inp.crossing_legs.get(c, []):
            if (
                pos >= len(inp.routes[v])
                or mv.dep_var[v][pos] is None
                or (v, pos) in mv.convoy_regs
            ):
                continue
            lit = mv.keep[v][mv.trip_of[v][pos]]
            intervals.append(
                m.new_optional_fixed_size_interval_var(
                    mv.dep_var[v][pos], span, lit, f"x{c}_{v}_{pos}"
                )
            )
        for i, (start, lit) in enumerate(extra.get(c, [])):
            intervals.append(m.new_optional_fixed_size_interval_var(start, span, lit, f"xc{c}_{i}"))
        if not intervals:
            continue
        if limit == 1:
            m.add_no_overlap(intervals)
        else:
            m.add_cumulative(intervals, [1] * len(intervals), limit)


def _solver(seed: int, time_limit_s: float, budget: float) -> Any:
    """A single-threaded CP-SAT solver with a deterministic budget."""
    from ortools.sat.python import cp_model

    s = cp_model.CpSolver()
    s.parameters.num_workers = 1
    s.parameters.random_seed = int(seed)
    s.parameters.max_time_in_seconds = float(time_limit_s)
    s.parameters.max_deterministic_time = float(budget)
    return s


def _hint_kept(inp: RetimeInput) -> RetimeResult:
    """The hinted schedule itself, when CP-SAT found none."""
    return RetimeResult(
        routes=[list(r[:k]) for r, k in zip(inp.routes, inp.kept, strict=True)],
        times=[list(t[:k]) for t, k in zip(inp.times, inp.kept, strict=True)],
        departs=[[None] * k for k in inp.kept],
        starts=list(inp.starts),
        status="hint kept (CP-SAT found no schedule)",
    )


def _read_result(
    inp: RetimeInput, mv: _Vars, sol: Any, cv: ConvoyVars | None, status: str
) -> RetimeResult:
    """The kept stops of each route with their times, departures and start."""
    routes: list[list[int]] = []
    times: list[list[int]] = []
    departs: list[list[int | None]] = []
    starts: list[int] = []
    for v in range(len(inp.routes)):
        kept = [
            pos for pos in range(len(inp.routes[v])) if sol.value(mv.keep[v][mv.trip_of[v][pos]])
        ]
        routes.append([inp.routes[v][p] for p in kept])
        times.append([int(sol.value(mv.t_var[v][p])) for p in kept])
        departs.append(
            [None if mv.dep_var[v][p] is None else int(sol.value(mv.dep_var[v][p])) for p in kept]
        )
        starts.append(int(sol.value(mv.start_var[v])) if inp.routes[v] else int(inp.starts[v]))
    outcome = (
        convoy_outcome(sol, inp.convoy, cv, inp.routes, routes)
        if cv is not None and inp.convoy is not None
        else None
    )
    return RetimeResult(
        routes=routes, times=times, departs=departs, starts=starts, status=status, convoy=outcome
    )
