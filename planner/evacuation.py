"""Evacuation planning: scenario → model → OR-Tools routing → timing → :class:`~planner.plan.Plan`.

People waiting at an assembly point are split into *chunks* (a group, a few tens of people);
each chunk is an optional routing node whose drop penalty is its people times the group's
priority, so the wounded and children are served first when not everyone can be.  Each
chunk is a pickup and a delivery at the reception centre its people were given (a small
transport LP shares them out within the centres' capacity, highest priority first, nearest
centre preferred), so vehicles make as many round trips as the ceasefire windows allow.

The stages are separate: :func:`planner.evacuation_model.build_model` (sites, chunks, the
routing problem and its window rules), :func:`solve_model` (the search, in whole minutes),
:func:`planner.evacuation_timing.retime_routes` (crossing rates and the exact timing after
a closed period) and :mod:`planner.evacuation_extract` (the plan).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from planner.evacuation_extract import (
    add_lead_vehicles,
    assemble_plan,
    convoy_stops,
    extract_vehicle,
    leg_finder,
    prefetch_legs,
)
from planner.evacuation_greedy import greedy_routes
from planner.evacuation_model import EvacuationModel, build_model
from planner.evacuation_timing import retime_routes
from planner.network import PreparedNetwork, prepare_network
from planner.plan import Plan, SolverInfo, Totals
from planner.routing import SolveParams, coarsen_time, solve_routing
from planner.scenario import GROUPS, Scenario
from planner.settings import get_settings
from planner.timeline import Timeline

log = logging.getLogger(__name__)

TIME_UNIT_S = 60
"""The routing search counts time in minutes (drives rounded up); plans are in seconds."""


@dataclass
class Routes:
    """What the search found, in seconds: visited nodes, service starts, start times."""

    routes: list[list[int]]
    times: list[list[int]]
    starts: list[int]
    objective: int
    stopped_by: str


def default_workers() -> int:
    """Parallel searches by default: one per core, at most two."""
    return max(1, min(2, os.cpu_count() or 1))


def solve_model(model: EvacuationModel, params: SolveParams) -> Routes:
    """Search the model's routing problem in whole minutes (see :func:`~planner.routing.coarsen_time`)."""
    n_vehicles = len(model.vehicles)
    if not model.chunks or not n_vehicles:
        return Routes(
            [[] for _ in model.vehicles],
            [[] for _ in model.vehicles],
            [0] * n_vehicles,
            0,
            "nothing to plan",
        )
    coarse = coarsen_time(model.problem, TIME_UNIT_S)
    # the first solution arrives just in time, under the conservative rule (also valid here)
    for_greedy = coarsen_time(
        replace(model.problem, forbidden=model.conservative, arrival_forbidden={}), TIME_UNIT_S
    )
    coarse.initial_routes = greedy_routes(
        for_greedy,
        model.chunks,
        model.chunk_node0,
        model.deliv_node0,
        model.prio,
        model.gi_of,
        coarse.max_wait,
    )
    result = solve_routing(coarse, params)
    return Routes(
        routes=result.routes,
        times=[[t * TIME_UNIT_S for t in ts] for ts in result.times],
        starts=[t * TIME_UNIT_S for t in result.start_times],
        objective=result.objective,
        stopped_by=result.stopped_by,
    )


def plan_evacuation(
    scenario: Scenario,
    *,
    time_limit_s: float | None = None,
    seed: int | None = None,
    workers: int | None = None,
    budget: int | None = None,
    progress: Callable[[str], None] | None = None,
    network: PreparedNetwork | None = None,
    previous: dict[str, list[tuple[str, str, int]]] | None = None,
    solver: str | None = None,
) -> Plan:
    """Plan an evacuation.

    Parameters
    ----------
    scenario
        A validated scenario.
    time_limit_s
        Wall-clock cap of the search (default from settings).
    seed
        Seed of the search; the same scenario, seed and budget give the same plan.
    workers
        Parallel searches (default: one per core, at most two); the best is kept.
    budget
        Deterministic work budget (solutions accepted by the local search).
    progress
        Called with a line of text whenever the search improves.
    network
        A prepared network to reuse.
    previous
        What each vehicle (by the id this plan gives it) was planned to pick up before, as
        ``(assembly id, group, people)``: when re-planning, the search charges
        :data:`planner.evacuation_model.CHANGE_COST` for every chunk a vehicle takes over from
        another, so the new plan changes the old one only where that serves more people or
        saves real driving.
    solver
        Routing search backend (``ortools``, ``pyvrp`` or ``best``; default: the scenario's
        ``solver``).

    Returns
    -------
    Plan
    """
    settings = get_settings()
    time_limit_s = settings.time_limit_s if time_limit_s is None else time_limit_s
    seed = settings.seed if seed is None else seed
    workers = default_workers() if workers is None else workers
    budget = settings.solution_budget if budget is None else budget
    if scenario.evacuation is None:
        return _empty_plan(scenario, seed, time_limit_s, budget, workers)
    net = network if network is not None else prepare_network(scenario)
    model = build_model(scenario, net, previous)
    params = SolveParams(
        time_limit_s=time_limit_s,
        seed=seed,
        workers=workers,
        solution_limit=budget,
        progress=progress,
        solver=solver or scenario.solver,
    )
    found = solve_model(model, params)
    leg_details = leg_finder(model)
    prefetch_legs(model, found.routes)
    routes, times, starts, departs, rate_limited, warnings, convoys = retime_routes(
        model,
        found.routes,
        found.times,
        found.starts,
        leg_details,
        seed=seed,
        time_limit_s=time_limit_s,
    )
    model.warnings.extend(warnings)
    served = np.zeros((len(model.A_idx), len(GROUPS)), dtype=np.int64)
    received = dict.fromkeys(model.R_idx, 0)
    acc: dict[str, float] = {}
    vehicles = [
        extract_vehicle(
            model,
            v,
            routes[v],
            times[v],
            starts[v],
            departs[v] if departs is not None else None,
            leg_details,
            served,
            received,
            acc,
            convoy_stops(convoys, v),
        )
        for v in range(len(model.vehicles))
    ]
    add_lead_vehicles(model, vehicles, convoys, leg_details, acc)
    info = SolverInfo(
        time_limit_s=float(time_limit_s),
        budget=budget,
        workers=workers,
        stopped_by=found.stopped_by,
        objective=int(found.objective),
    )
    return assemble_plan(model, vehicles, served, received, rate_limited, acc, info, seed)


def _empty_plan(
    scenario: Scenario, seed: int, time_limit_s: float, budget: int | None, workers: int
) -> Plan:
    """The evacuation part of a scenario that has none (an exchange-only scenario)."""
    zero = {g: 0 for g in (*GROUPS, "total")}
    tl = Timeline.from_scenario(scenario)
    tz = tl.origin.strftime("%z")
    return Plan(
        scenario=scenario.name,
        seed=seed,
        status="empty",
        timezone=f"{tz[:3]}:{tz[3:]}",
        windows=[(w.start.isoformat(), w.end.isoformat()) for w in scenario.ceasefire.windows],
        totals=Totals(requested=dict(zero), evacuated=dict(zero), bound=dict(zero)),
        vehicles_used=0,
        vehicles_total=0,
        risk_km=0.0,
        distance_km=0.0,
        sites=[],
        receptions=[],
        vehicles=[],
        unserved=[],
        warnings=["the scenario has no evacuation section"],
        solver=SolverInfo(
            time_limit_s=float(time_limit_s),
            budget=budget,
            workers=workers,
            stopped_by="nothing to plan",
            objective=0,
        ),
    )
