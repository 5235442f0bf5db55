"""A second search backend for the routing core: PyVRP's iterated local search.

:func:`planner.routing.solve_routing` hands a :class:`~planner.routing.RoutingProblem` here
when :attr:`~planner.routing.SolveParams.solver` is ``"pyvrp"`` (or ``"best"``, which runs
both backends and keeps the better result).  PyVRP expresses capacitated routing with time
windows, optional nodes with prizes, fixed vehicle costs and vehicles starting and ending at
their own depots; :func:`pyvrp_unsupported` names what it cannot express of a problem
(forbidden service intervals, allowed successors, longest waits, pickup-delivery pairs,
reload nodes, per-node vehicle lists, change costs), and such problems stay with OR-Tools.

PyVRP is an optional dependency (``pip install -e ".[bench]"`` or ``pip install pyvrp``):
nothing here imports it until a problem is solved with it.
"""

from __future__ import annotations

import logging
import time as _time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from planner.errors import PlannerError

if TYPE_CHECKING:
    from planner.routing import RoutingProblem, SolveParams

log = logging.getLogger(__name__)

ITERATIONS_PER_SOLUTION = 20
"""PyVRP iterations per unit of :attr:`SolveParams.solution_limit`.

The budget counts solutions the OR-Tools search accepts; one PyVRP iteration (a perturbation
and a local search) is far cheaper than one accepted OR-Tools solution, so the same budget
number buys this many iterations.  Either way the budget makes the result deterministic."""


def pyvrp_available() -> bool:
    """Whether the ``pyvrp`` package can be imported."""
    try:
        import pyvrp  # noqa: F401
    except ImportError:
        return False
    return True


def pyvrp_unsupported(problem: RoutingProblem) -> str | None:
    """Why PyVRP cannot express ``problem``, or ``None`` when it can.

    Parameters
    ----------
    problem
        The routing problem.

    Returns
    -------
    str or None
        A short reason (the first feature PyVRP lacks), or ``None``.
    """
    checks = [
        (bool(problem.pairs), "pickup-delivery pairs"),
        (problem.reload is not None and bool(np.asarray(problem.reload).any()), "reload nodes"),
        (bool(problem.allowed_vehicles), "vehicles allowed per node"),
        (bool(problem.next_allowed), "allowed successors"),
        (any(problem.forbidden.values()), "forbidden service intervals"),
        (bool(problem.max_wait), "longest waits"),
        (problem.zero_wait_at_start, "no waiting at the start"),
        (bool(problem.preferred_vehicle) and problem.change_cost > 0, "change costs"),
    ]
    for applies, what in checks:
        if applies:
            return what
    return None


def _vehicle_groups(problem: RoutingProblem) -> dict[tuple[int, int, int, int], list[int]]:
    """Vehicles grouped by (capacity, start node, end node, earliest start), in order."""
    groups: dict[tuple[int, int, int, int], list[int]] = defaultdict(list)
    for v in range(problem.n_vehicles):
        earliest = problem.vehicle_earliest[v] if problem.vehicle_earliest else 0
        key = (
            int(problem.vehicle_capacity[v]),
            int(problem.vehicle_start[v]),
            int(problem.vehicle_end[v]),
            int(earliest),
        )
        groups[key].append(v)
    return groups


def _problem_data(problem: RoutingProblem):  # noqa: ANN202 - pyvrp.ProblemData
    """The problem as PyVRP data; returns it with the node of every PyVRP location and the
    vehicles of every PyVRP vehicle type."""
    import pyvrp

    horizon = int(problem.horizon)
    depots = sorted(set(problem.vehicle_start) | set(problem.vehicle_end))
    clients = [i for i in range(problem.n) if i not in set(depots)]
    nodes = np.array(depots + clients, dtype=np.int64)  # PyVRP location k is node nodes[k]
    where = {int(node): k for k, node in enumerate(nodes)}
    groups = _vehicle_groups(problem)
    vehicle_types = [
        pyvrp.VehicleType(
            num_available=len(vs),
            capacity=[cap],
            start_depot=where[start],
            end_depot=where[end],
            fixed_cost=int(problem.vehicle_fixed_cost),
            tw_early=earliest,
            tw_late=horizon,
        )
        for (cap, start, end, earliest), vs in groups.items()
    ]
    pyvrp_clients = []
    for node in clients:
        lo, hi = problem.windows[node]
        pen = int(problem.penalty[node])
        pyvrp_clients.append(
            pyvrp.Client(
                location=where[node],
                delivery=[int(problem.demand[node])],
                service_duration=int(problem.service[node]),
                tw_early=int(lo),
                tw_late=int(hi),
                prize=max(pen, 0),
                required=pen < 0,
            )
        )
    locations = [pyvrp.Location(x=0.0, y=0.0) for _ in nodes]
    cost = np.asarray(problem.cost, dtype=np.int64)[np.ix_(nodes, nodes)]
    time = np.asarray(problem.time, dtype=np.int64)[np.ix_(nodes, nodes)]
    data = pyvrp.ProblemData(
        locations=locations,
        clients=pyvrp_clients,
        depots=[pyvrp.Depot(location=where[d], tw_early=0, tw_late=horizon) for d in depots],
        vehicle_types=vehicle_types,
        # pyvrp's stub spells the matrix type np.ndarray[int], which no real array matches
        distance_matrices=[np.ascontiguousarray(cost)],  # type: ignore[list-item]
        duration_matrices=[np.ascontiguousarray(time)],  # type: ignore[list-item]
    )
    return data, nodes, list(groups.values())


def route_objective(problem: RoutingProblem, routes: list[list[int]]) -> int:
    """The routing core's objective of ``routes``: arc costs, fixed costs of the vehicles
    used and the penalties of the optional nodes left out (the same for both backends)."""
    cost = np.asarray(problem.cost, dtype=np.int64)
    total = 0
    visited: set[int] = set()
    for v, route in enumerate(routes):
        if not route:
            continue
        path = [problem.vehicle_start[v], *route, problem.vehicle_end[v]]
        total += int(sum(cost[a, b] for a, b in zip(path[:-1], path[1:], strict=True)))
        total += int(problem.vehicle_fixed_cost)
        visited.update(route)
    fixed = set(problem.vehicle_start) | set(problem.vehicle_end)
    deliveries = {d for _p, d in problem.pairs}
    for node in range(problem.n):
        if node in fixed or node in visited or node in deliveries:
            continue
        total += max(int(problem.penalty[node]), 0)
    return total


class HasRoutes(Protocol):
    """Anything with ``routes``: the nodes each vehicle visits, in order."""

    @property
    def routes(self) -> list[list[int]]: ...


@dataclass
class PyvrpRoutes:
    """What PyVRP found, in the routing core's node numbers (see
    :class:`planner.routing.RoutingResult`, which :func:`planner.routing.solve_routing` makes
    of it)."""

    routes: list[list[int]]
    times: list[list[int]]
    start_times: list[int]
    end_times: list[int]
    objective: int
    dropped: list[int]
    stopped_by: str
    wall_s: float
    iterations: int


def solve_pyvrp(problem: RoutingProblem, params: SolveParams) -> PyvrpRoutes:
    """Solve ``problem`` with PyVRP under the same time limit, budget and seed.

    Parameters
    ----------
    problem
        A problem PyVRP can express (see :func:`pyvrp_unsupported`).
    params
        ``time_limit_s`` caps the wall clock; ``solution_limit`` (times
        :data:`ITERATIONS_PER_SOLUTION`) caps the iterations, which makes the result
        deterministic; ``seed`` seeds PyVRP's random numbers.

    Returns
    -------
    PyvrpRoutes
        Routes and service start times per vehicle, as from OR-Tools.

    Raises
    ------
    PlannerError
        When PyVRP is not installed, cannot express the problem, or finds no feasible
        solution.
    """
    reason = pyvrp_unsupported(problem)
    if reason is not None:
        raise PlannerError(f"the PyVRP backend cannot express this problem ({reason})")
    if not pyvrp_available():
        raise PlannerError("the PyVRP backend needs the pyvrp package (pip install pyvrp)")
    import pyvrp
    from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, StoppingCriterion

    t0 = _time.perf_counter()
    data, nodes, vehicles_of_type = _problem_data(problem)
    criteria: list[StoppingCriterion] = [MaxRuntime(max(0.01, float(params.time_limit_s)))]
    iterations = None
    if params.solution_limit:
        iterations = int(params.solution_limit) * ITERATIONS_PER_SOLUTION
        criteria.append(MaxIterations(iterations))
    result = pyvrp.solve(
        data, MultipleCriteria(criteria), seed=int(params.seed), collect_stats=False, display=False
    )
    wall = _time.perf_counter() - t0
    best = result.best
    if not best.is_feasible():
        raise PlannerError("PyVRP found no feasible solution")
    n = problem.n_vehicles
    routes: list[list[int]] = [[] for _ in range(n)]
    times: list[list[int]] = [[] for _ in range(n)]
    earliest = problem.vehicle_earliest or [0] * n
    starts = [int(e) for e in earliest]
    ends = [int(e) for e in earliest]
    free = [list(vs) for vs in vehicles_of_type]
    for route in best.routes():
        v = free[route.vehicle_type()].pop(0)
        for act in route.schedule():
            if act.is_client():
                routes[v].append(int(nodes[_location_of(data, act)]))
                times[v].append(int(act.start_time))
        starts[v], ends[v] = int(route.start_time()), int(route.end_time())
    visited = {node for r in routes for node in r}
    fixed = set(problem.vehicle_start) | set(problem.vehicle_end)
    stopped = "budget" if iterations and result.num_iterations >= iterations else "time limit"
    return PyvrpRoutes(
        routes=routes,
        times=times,
        start_times=starts,
        end_times=ends,
        objective=route_objective(problem, routes),
        dropped=[i for i in range(problem.n) if i not in fixed and i not in visited],
        stopped_by=stopped,
        wall_s=wall,
        iterations=int(result.num_iterations),
    )


def _location_of(data, activity) -> int:  # noqa: ANN001 - pyvrp objects
    """PyVRP location of a client activity."""
    return int(data.client(activity.idx).location)


def route_violations(problem: RoutingProblem, result: HasRoutes) -> list[str]:
    """Rules of ``problem`` that the routes of ``result`` break, checked from scratch.

    Each route is driven again from its vehicle's earliest start: service starts at the
    arrival or when the node's window opens, whichever is later, and must not be after the
    window closes; the load (demands summed, no reloads) must fit the vehicle; the route must
    end by the horizon; no node may be served twice; every node without a drop penalty
    (``-1``) must be served.  Only what a problem PyVRP can express may hold is checked (no
    pairs, reloads, forbidden intervals, successor lists).

    Parameters
    ----------
    problem
        The routing problem.
    result
        Anything with ``routes`` (nodes per vehicle): a :class:`planner.routing.RoutingResult`
        or a :class:`PyvrpRoutes`.

    Returns
    -------
    list of str
        One line per broken rule; empty when the routes are feasible.
    """
    routes = result.routes
    time = np.asarray(problem.time, dtype=np.int64)
    out: list[str] = []
    seen: set[int] = set()
    earliest = problem.vehicle_earliest or [0] * problem.n_vehicles
    for v, route in enumerate(routes):
        if not route:
            continue
        t, here, load = int(earliest[v]), problem.vehicle_start[v], 0
        for node in route:
            if node in seen:
                out.append(f"node {node} served twice")
            seen.add(node)
            lo, hi = problem.windows[node]
            t = max(t + int(time[here, node]), int(lo))
            if t > hi:
                out.append(
                    f"vehicle {v}: node {node} served at {t}, after its window closes ({hi})"
                )
            load += int(problem.demand[node])
            t += int(problem.service[node])
            here = node
        if load > problem.vehicle_capacity[v]:
            out.append(f"vehicle {v}: load {load} over its capacity {problem.vehicle_capacity[v]}")
        end = t + int(time[here, problem.vehicle_end[v]])
        if end > problem.horizon:
            out.append(f"vehicle {v}: back at {end}, after the horizon {problem.horizon}")
    fixed = set(problem.vehicle_start) | set(problem.vehicle_end)
    for node in range(problem.n):
        if node not in fixed and node not in seen and int(problem.penalty[node]) < 0:
            out.append(f"required node {node} not served")
    return out
