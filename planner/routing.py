"""The routing core: a capacitated vehicle-routing model with time windows on OR-Tools.

One model serves the evacuation planner and the literature benchmarks (Solomon VRPTW):
integer time and cost matrices, service times, loads with *reload* nodes where a vehicle
empties (reception centres, so vehicles make many round trips), optional nodes with drop
penalties, allowed vehicles per node, allowed successors per node, and forbidden service-time
intervals per node, through which the evacuation model keeps every drive inside a ceasefire
window.

Model, solve and result are separate: :class:`RoutingProblem` is plain data,
:func:`solve_routing` runs OR-Tools (several differently seeded searches in parallel when
asked) and returns a :class:`RoutingResult` that knows nothing of OR-Tools.  On request
(:attr:`SolveParams.feasibility_first`) each search first looks for routes that perform every
optional node, then minimises the objective from them.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from planner.errors import PlannerError
from planner.processes import can_start_processes, process_pool
from planner.routing_pyvrp import (
    pyvrp_available,
    pyvrp_unsupported,
    route_objective,
    route_violations,
    solve_pyvrp,
)
from planner.settings import get_settings

log = logging.getLogger(__name__)

SOLVERS = ("ortools", "pyvrp", "best")
"""The search backends :attr:`SolveParams.solver` names."""

END = -1
"""Marker in :attr:`RoutingProblem.next_allowed` meaning "the vehicle may end its route"."""


@dataclass
class RoutingProblem:
    """A vehicle-routing problem in integer units.

    Node indices ``0..n-1`` cover every stop and every vehicle start and end.  All times
    share one unit (seconds for evacuations; tenths for Solomon instances).
    """

    time: np.ndarray
    """Travel time ``time[i, j]`` from node i to node j (n × n, int)."""
    cost: np.ndarray
    """Arc cost ``cost[i, j]`` (n × n, int); often equal to ``time``."""
    service: np.ndarray
    """Service time at each node (n, int), spent before leaving it."""
    demand: np.ndarray
    """Load picked up at each node (n, int)."""
    windows: list[tuple[int, int]]
    """Allowed service start ``[earliest, latest]`` per node."""
    penalty: np.ndarray
    """Drop penalty per node (n, int); ``-1`` = must be visited; ignored for depots and for
    the delivery of a pair (it is performed exactly when its pickup is)."""
    vehicle_capacity: list[int]
    vehicle_start: list[int]
    vehicle_end: list[int]
    horizon: int
    reload: np.ndarray | None = None
    """Nodes where the vehicle unloads everything on board (n, bool)."""
    allowed_vehicles: dict[int, list[int]] = field(default_factory=dict)
    next_allowed: dict[int, list[int]] = field(default_factory=dict)
    """Allowed successors of a node (node indices, or :data:`END`)."""
    vehicle_earliest: list[int] | None = None
    forbidden: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    """Closed intervals ``[a, b]`` of service start times a node may not take (for a start
    node: the vehicle's departure).  Ceasefire windows are enforced through these."""
    max_wait: dict[int, int] = field(default_factory=dict)
    """Longest wait allowed after leaving a node (e.g. with passengers on board)."""
    zero_wait_at_start: bool = False
    """Vehicles leave their start at the start time (no waiting there before the first leg)."""
    vehicle_fixed_cost: int = 0
    pairs: list[tuple[int, int]] = field(default_factory=list)
    """Pickup and delivery pairs: same vehicle, pickup first, both performed or neither."""
    pairs_in_one_trip: bool = False
    """No pickup between a pair's pickup and its delivery after a delivery (a trip ends at the
    first delivery after a pickup): whoever is on board when a vehicle delivers is delivered
    on that trip, nobody rides along to the next pickup."""
    initial_routes: list[list[int]] | None = None
    """A feasible starting solution (nodes per vehicle, without start and end), e.g. from a
    construction heuristic that knows the problem; the search improves on it."""
    preferred_vehicle: dict[int, int] = field(default_factory=dict)
    """Vehicle a node was given before (re-planning); serving it with another vehicle costs
    :attr:`change_cost`."""
    change_cost: int = 0
    arrival_forbidden: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    """Closed intervals of *arrival* times a node may not take (arrival at its site after the
    dwell, before any wait there).  With these, a second dimension tracks when the vehicle
    arrived: the drive leaves after the previous service, arrives, and the vehicle may stand
    at the site (overnight, say) before the service starts; consecutive nodes at the same site
    share their arrival.  Needs :attr:`node_site`."""
    node_site: list[int] | None = None
    """Site of each node (nodes at the same site are driven between in no time)."""

    @property
    def n(self) -> int:
        return int(self.time.shape[0])

    @property
    def n_vehicles(self) -> int:
        return len(self.vehicle_capacity)


@dataclass
class SolveParams:
    """How long and how to search.

    ``time_limit_s`` is a wall-clock cap; ``solution_limit`` is a deterministic work budget
    (number of solutions the local search accepts).  Plans are byte-identical across runs
    when the search stops on the budget; the result says which one stopped it.
    """

    time_limit_s: float = 30.0
    seed: int = 0
    workers: int = 1
    solution_limit: int | None = None
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION"
    """First-solution strategy of worker 0 (an OR-Tools ``FirstSolutionStrategy`` name)."""
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    progress: Callable[[str], None] | None = field(default=None, repr=False, compare=False)
    gls_lambda: float = 0.1
    """Guided local search penalty coefficient (OR-Tools' default 0.1)."""
    diversify: bool = True
    """With ``workers > 1``, workers after the first also start from other first-solution
    strategies (:data:`WORKER_FIRST_SOLUTIONS`), not only from another seeded relabelling."""
    feasibility_first: float = 0.0
    """Share (0 to 1) of each worker's time limit and solution budget that a feasibility
    phase may take: the worker first searches a model whose objective also charges
    ``feasibility_early_cost`` per time unit that a service starts after its window opens,
    and stops that phase as soon as every optional node is performed (or the share is
    spent); the rest of the time it minimises the normal objective from that solution.
    0 (default): one phase, as before."""
    feasibility_early_cost: int = 10
    """Cost per time unit of a service starting after its window opens, in the feasibility
    phase only.  Routes that serve early keep room before the due times, where the nodes
    still unperformed can be inserted."""
    feasibility_lambda: float | None = None
    """Guided local search coefficient of the feasibility phase (None: ``gls_lambda``)."""
    feasibility_rounds: int = 4
    """The feasibility phase is cut into this many searches, each from the best routes of
    the one before, alternately with and without the early-service charge (changing the
    objective moves a search that is stuck with a node it cannot insert)."""
    solver: str = "ortools"
    """Search backend: ``"ortools"``; ``"pyvrp"`` (PyVRP's iterated local search, for the
    problems it can express, see :mod:`planner.routing_pyvrp`); or ``"best"``: both, the
    better checked result kept (OR-Tools alone where PyVRP cannot express the problem)."""


@dataclass
class RoutingResult:
    """The routes found: per vehicle the visited nodes and their service start times."""

    routes: list[list[int]]
    """Visited nodes per vehicle, without start and end."""
    times: list[list[int]]
    """Service start times matching ``routes``."""
    start_times: list[int]
    end_times: list[int]
    objective: int
    dropped: list[int]
    stopped_by: str
    wall_s: float
    worker: int = 0
    solutions: int = 0

    def used_vehicles(self) -> int:
        return sum(1 for r in self.routes if r)


# --------------------------------------------------------------------------- building


def _permutation(n_nodes: int, fixed: set[int], seed: int) -> np.ndarray:
    """Relabel non-depot nodes by a seeded permutation: the seed's effect on the search."""
    perm = np.arange(n_nodes)
    if seed:
        movable = np.array([i for i in range(n_nodes) if i not in fixed], dtype=np.int64)
        rng = np.random.default_rng(seed)
        perm[movable] = movable[rng.permutation(len(movable))]
    return perm


@dataclass
class _Built:
    """The OR-Tools objects of one build and the node permutation they were built with."""

    manager: pywrapcp.RoutingIndexManager
    routing: pywrapcp.RoutingModel
    time_dim: pywrapcp.RoutingDimension
    perm: np.ndarray
    inv: np.ndarray
    fixed: set[int]


def _build(
    problem: RoutingProblem, seed: int
) -> tuple[
    pywrapcp.RoutingIndexManager, pywrapcp.RoutingModel, pywrapcp.RoutingDimension, np.ndarray
]:
    """Build the OR-Tools routing model of ``problem``, its nodes shuffled by ``seed``."""
    n = problem.n
    fixed = set(problem.vehicle_start) | set(problem.vehicle_end)
    perm = _permutation(n, fixed, seed)  # model node k stands for problem node perm[k]
    inv = np.empty(n, dtype=np.int64)
    inv[perm] = np.arange(n)
    manager = pywrapcp.RoutingIndexManager(
        n,
        problem.n_vehicles,
        [int(inv[s]) for s in problem.vehicle_start],
        [int(inv[e]) for e in problem.vehicle_end],
    )
    routing = pywrapcp.RoutingModel(manager)
    time_dim, transit = _add_cost_and_time(problem, routing, perm)
    built = _Built(manager, routing, time_dim, perm, inv, fixed)
    load_dim, reload = _add_load(problem, routing, perm)
    _constrain_nodes(problem, built, load_dim, reload)
    _constrain_vehicles(problem, built)
    _add_pairs(problem, built)
    if problem.pairs_in_one_trip and problem.pairs:
        _add_trips(problem, routing, manager, inv)
    if problem.next_allowed:
        _restrict_successors(problem, built)
    _restrict_times(problem, built)
    if problem.preferred_vehicle and problem.change_cost > 0:
        _add_change_cost(problem, routing, perm)
    if problem.arrival_forbidden:
        _add_arrivals(problem, routing, manager, time_dim, transit, perm, inv)
    return manager, routing, time_dim, perm


def _add_cost_and_time(
    problem: RoutingProblem, routing: pywrapcp.RoutingModel, perm: np.ndarray
) -> tuple[pywrapcp.RoutingDimension, np.ndarray]:
    """Register the arc costs and the ``time`` dimension; return it and its transit matrix."""
    T = np.asarray(problem.time, dtype=np.int64)[np.ix_(perm, perm)]
    C = np.asarray(problem.cost, dtype=np.int64)[np.ix_(perm, perm)]
    S = np.asarray(problem.service, dtype=np.int64)[perm]

    cost_cb = routing.RegisterTransitMatrix(C.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(cost_cb)
    if problem.vehicle_fixed_cost:
        routing.SetFixedCostOfAllVehicles(int(problem.vehicle_fixed_cost))

    transit = T + S[:, None]
    time_cb = routing.RegisterTransitMatrix(transit.tolist())
    routing.AddDimension(time_cb, int(problem.horizon), int(problem.horizon), False, "time")
    return routing.GetDimensionOrDie("time"), transit


def _add_load(
    problem: RoutingProblem, routing: pywrapcp.RoutingModel, perm: np.ndarray
) -> tuple[pywrapcp.RoutingDimension, np.ndarray]:
    """Register the ``load`` dimension (reload nodes empty the vehicle); return it and the
    reload flags in model order."""
    D = np.asarray(problem.demand, dtype=np.int64)[perm]
    reload = (
        np.zeros(problem.n, dtype=bool)
        if problem.reload is None
        else np.asarray(problem.reload, bool)[perm]
    )
    max_cap = int(max(problem.vehicle_capacity)) if problem.vehicle_capacity else 0
    demand = D.copy()
    demand[reload] = -max_cap
    demand_cb = routing.RegisterUnaryTransitVector(demand.tolist())
    routing.AddDimensionWithVehicleCapacity(
        demand_cb,
        max_cap if reload.any() else 0,
        [int(c) for c in problem.vehicle_capacity],
        True,
        "load",
    )
    return routing.GetDimensionOrDie("load"), reload


def _constrain_nodes(
    problem: RoutingProblem,
    built: _Built,
    load_dim: pywrapcp.RoutingDimension,
    reload: np.ndarray,
) -> None:
    """Time windows, load slack, drop penalties and allowed vehicles of the visit nodes."""
    routing, time_dim = built.routing, built.time_dim
    deliveries = {d for _p, d in problem.pairs}
    for k in range(problem.n):
        p = int(built.perm[k])
        if p in built.fixed:
            continue
        idx = built.manager.NodeToIndex(k)
        lo, hi = problem.windows[p]
        time_dim.CumulVar(idx).SetRange(int(lo), int(hi))
        if reload.any() and not reload[k]:
            load_dim.SlackVar(idx).SetValue(0)
        pen = 0 if p in deliveries else int(problem.penalty[p])
        if pen >= 0:
            routing.AddDisjunction([idx], pen)
        allowed = problem.allowed_vehicles.get(p)
        if allowed is not None:
            routing.VehicleVar(idx).SetValues([-1, *sorted(int(v) for v in allowed)])


def _constrain_vehicles(problem: RoutingProblem, built: _Built) -> None:
    """Each vehicle's earliest start and horizon; its start and end times kept early."""
    routing, time_dim = built.routing, built.time_dim
    for v in range(problem.n_vehicles):
        start = routing.Start(v)
        earliest = problem.vehicle_earliest[v] if problem.vehicle_earliest else 0
        time_dim.CumulVar(start).SetRange(int(earliest), int(problem.horizon))
        time_dim.CumulVar(routing.End(v)).SetRange(0, int(problem.horizon))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(start))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(v)))


def _add_pairs(problem: RoutingProblem, built: _Built) -> None:
    """Each pickup and its delivery on the same vehicle, both or neither, pickup first."""
    routing, manager, time_dim, inv = built.routing, built.manager, built.time_dim, built.inv
    for pickup, delivery in problem.pairs:
        pi = manager.NodeToIndex(int(inv[pickup]))
        di = manager.NodeToIndex(int(inv[delivery]))
        routing.AddPickupAndDelivery(pi, di)
        solver = routing.solver()
        solver.Add(routing.VehicleVar(pi) == routing.VehicleVar(di))
        solver.Add(routing.ActiveVar(pi) == routing.ActiveVar(di))
        solver.Add(time_dim.CumulVar(pi) <= time_dim.CumulVar(di))


def _indices_of(problem: RoutingProblem, built: _Built, p: int) -> list[int]:
    """The model indices of problem node ``p``: the starts of its vehicles for a depot."""
    if p in built.fixed:
        return [
            built.routing.Start(v)
            for v in range(problem.n_vehicles)
            if problem.vehicle_start[v] == p
        ]
    return [built.manager.NodeToIndex(int(built.inv[p]))]


def _restrict_successors(problem: RoutingProblem, built: _Built) -> None:
    """Limit each node's next node to ``problem.next_allowed``."""
    routing = built.routing
    ends = [routing.End(v) for v in range(problem.n_vehicles)]
    for p, succ in problem.next_allowed.items():
        vals: list[int] = []
        for s in succ:
            if s == END:
                vals.extend(ends)
            else:
                vals.append(built.manager.NodeToIndex(int(built.inv[s])))
        for idx in _indices_of(problem, built, p):
            # an unperformed node points at itself, so keep that value
            own = [] if routing.IsStart(idx) else [idx]
            routing.NextVar(idx).SetValues(sorted(set(vals + own)))


def _restrict_times(problem: RoutingProblem, built: _Built) -> None:
    """Forbidden service intervals, maximum waits and no wait at the start."""
    time_dim = built.time_dim
    for p, intervals in problem.forbidden.items():
        for idx in _indices_of(problem, built, p):
            var = time_dim.CumulVar(idx)
            for a, b in intervals:
                if b >= a:
                    var.RemoveInterval(int(a), int(b))
    for p, wait in problem.max_wait.items():
        if p in built.fixed:
            continue
        time_dim.SlackVar(built.manager.NodeToIndex(int(built.inv[p]))).SetMax(int(wait))
    if problem.zero_wait_at_start:
        for v in range(problem.n_vehicles):
            time_dim.SlackVar(built.routing.Start(v)).SetValue(0)


def _add_arrivals(
    problem: RoutingProblem,
    routing: pywrapcp.RoutingModel,
    manager: pywrapcp.RoutingIndexManager,
    time_dim: pywrapcp.RoutingDimension,
    transit: np.ndarray,
    perm: np.ndarray,
    inv: np.ndarray,
) -> None:
    """An ``arrival`` dimension: when the vehicle got to each node's site.

    ``arrival(j) = arrival(i) + transit(i, j) + slack(i)`` with ``arrival(i) + slack(i) >=
    time(i)`` (the drive leaves after the service at ``i``) and ``arrival(j) <= time(j)``
    (the vehicle waits at the site until its service).  Between nodes at the same site the
    transit is ``-horizon``, so they may share one arrival.
    """
    assert problem.node_site is not None
    horizon = int(problem.horizon)
    site = np.asarray(
        [s if s >= 0 else -1 - k for k, s in enumerate(problem.node_site)], dtype=np.int64
    )[perm]
    same = site[:, None] == site[None, :]
    np.fill_diagonal(same, False)
    arr_transit = np.where(same, -horizon, transit)
    cb = routing.RegisterTransitMatrix(arr_transit.tolist())
    routing.AddDimension(cb, 2 * horizon, horizon, False, "arrival")
    arr = routing.GetDimensionOrDie("arrival")
    solver = routing.solver()
    fixed = set(problem.vehicle_start) | set(problem.vehicle_end)
    for k in range(problem.n):
        if int(perm[k]) in fixed:
            continue
        idx = manager.NodeToIndex(k)
        solver.Add(arr.CumulVar(idx) <= time_dim.CumulVar(idx))
        solver.Add(arr.CumulVar(idx) + arr.SlackVar(idx) >= time_dim.CumulVar(idx))
        for a, b in problem.arrival_forbidden.get(int(perm[k]), ()):
            if b >= a:
                arr.CumulVar(idx).RemoveInterval(int(a), int(b))
    for v in range(problem.n_vehicles):
        start = routing.Start(v)
        solver.Add(arr.CumulVar(start) + arr.SlackVar(start) >= time_dim.CumulVar(start))
        routing.AddVariableMinimizedByFinalizer(arr.CumulVar(start))


def _add_trips(
    problem: RoutingProblem,
    routing: pywrapcp.RoutingModel,
    manager: pywrapcp.RoutingIndexManager,
    inv: np.ndarray,
) -> None:
    """Count trips (a pickup right after a delivery starts one); each pair stays in one."""
    pickups = np.zeros(problem.n, dtype=np.int64)
    deliveries = np.zeros(problem.n, dtype=np.int64)
    for p, d in problem.pairs:
        pickups[inv[p]], deliveries[inv[d]] = 1, 1
    step = (deliveries[:, None] * pickups[None, :]).tolist()  # delivery -> pickup: a new trip
    cb = routing.RegisterTransitMatrix(step)
    routing.AddDimension(cb, 0, len(problem.pairs), True, "trip")
    trip = routing.GetDimensionOrDie("trip")
    solver = routing.solver()
    for p, d in problem.pairs:
        pi = manager.NodeToIndex(int(inv[p]))
        di = manager.NodeToIndex(int(inv[d]))
        solver.Add(trip.CumulVar(pi) == trip.CumulVar(di))


def _add_change_cost(
    problem: RoutingProblem, routing: pywrapcp.RoutingModel, perm: np.ndarray
) -> None:
    """Charge ``change_cost`` for every node a vehicle serves that another vehicle had.

    A dimension counts, per vehicle, the nodes it visits whose preferred vehicle is another
    one (a unary transit vector per vehicle; vehicles with the same vector share it), and its
    span is costed.
    """
    pref = np.full(problem.n, -1, dtype=np.int64)
    for node, v in problem.preferred_vehicle.items():
        pref[node] = v
    pref_model = pref[perm]  # per model node
    cbs: dict[bytes, int] = {}
    evaluators = []
    for v in range(problem.n_vehicles):
        vec = ((pref_model >= 0) & (pref_model != v)).astype(np.int64)
        key = vec.tobytes()
        if key not in cbs:
            cbs[key] = routing.RegisterUnaryTransitVector(vec.tolist())
        evaluators.append(cbs[key])
    routing.AddDimensionWithVehicleTransits(evaluators, 0, int(problem.n), True, "change")
    routing.GetDimensionOrDie("change").SetSpanCostCoefficientForAllVehicles(
        int(problem.change_cost)
    )


WORKER_FIRST_SOLUTIONS = (
    "PARALLEL_CHEAPEST_INSERTION",
    "LOCAL_CHEAPEST_INSERTION",
    "PATH_CHEAPEST_ARC",
)
"""First-solution strategies of workers 1, 2, ... when :attr:`SolveParams.diversify` is set
(worker 0 uses :attr:`SolveParams.first_solution`; worker k takes entry k, cycling, and
skips the entry equal to worker 0's)."""


def _worker_first_solution(params: SolveParams, worker: int) -> str:
    if worker == 0 or not params.diversify:
        return params.first_solution
    others = [s for s in WORKER_FIRST_SOLUTIONS if s != params.first_solution]
    return others[(worker - 1) % len(others)]


def _search_parameters(
    params: SolveParams,
    time_limit_s: float,
    worker: int = 0,
    first_solution: str | None = None,
    *,
    gls_lambda: float | None = None,
    solution_limit: int | None = None,
) -> pywrapcp.RoutingSearchParameters:
    sp = pywrapcp.DefaultRoutingSearchParameters()
    fs = first_solution or _worker_first_solution(params, worker)
    sp.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, fs)
    sp.local_search_metaheuristic = getattr(
        routing_enums_pb2.LocalSearchMetaheuristic, params.metaheuristic
    )
    sp.guided_local_search_lambda_coefficient = float(
        params.gls_lambda if gls_lambda is None else gls_lambda
    )
    sp.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    limit = params.solution_limit if solution_limit is None else solution_limit
    if limit:
        sp.solution_limit = int(limit)
    return sp


def _unperformed(routing: pywrapcp.RoutingModel) -> int:
    """Unperformed nodes of the solution being reported (an unperformed node is its own next)."""
    return sum(
        1
        for i in range(routing.Size())
        if not routing.IsStart(i) and routing.NextVar(i).Value() == i
    )


def _charge_late_service(
    problem: RoutingProblem, manager, time_dim, perm: np.ndarray, cost: int
) -> None:  # noqa: ANN001
    """Charge ``cost`` per time unit that a node's service starts after its window opens."""
    if cost <= 0:
        return
    fixed = set(problem.vehicle_start) | set(problem.vehicle_end)
    for k in range(problem.n):
        p = int(perm[k])
        if p not in fixed:
            time_dim.SetCumulVarSoftUpperBound(
                manager.NodeToIndex(k), int(problem.windows[p][0]), int(cost)
            )


def _unperformed_in(routing: pywrapcp.RoutingModel, solution: pywrapcp.Assignment) -> int:
    """Unperformed nodes of a stored solution."""
    return sum(
        1
        for i in range(routing.Size())
        if not routing.IsStart(i) and solution.Value(routing.NextVar(i)) == i
    )


def _routes_of(
    routing: pywrapcp.RoutingModel, solution: pywrapcp.Assignment, n_vehicles: int
) -> list[list[int]]:
    """Model indices visited per vehicle, without start and end."""
    out: list[list[int]] = []
    for v in range(n_vehicles):
        r: list[int] = []
        idx = solution.Value(routing.NextVar(routing.Start(v)))
        while not routing.IsEnd(idx):
            r.append(int(idx))
            idx = solution.Value(routing.NextVar(idx))
        out.append(r)
    return out


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def hold_freed_memory() -> bool:
    """Let glibc keep freed memory in the process instead of handing it back at once.

    OR-Tools' local search frees and allocates large blocks at every move; by default glibc
    returns the top of the heap to the kernel whenever 128 kB lie free there, and the next
    allocation faults the pages in again.  On the 300-site city plan that cost more system
    time than the search itself (see README, City scale).  This raises the trim threshold to
    1 GiB and fixes the mmap threshold at 32 MiB for this process (and the processes it forks
    later); peak memory is unchanged, the resident size simply stays near its peak.

    Returns
    -------
    bool
        Whether the setting was applied (``False`` where the C library has no ``mallopt``,
        as on macOS or Windows).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    trim = mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    mmap = mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    return trim == 1 and mmap == 1


# one search: the model objects of its build and the solution it found (None if none)
_Run = tuple[
    pywrapcp.RoutingIndexManager,
    pywrapcp.RoutingModel,
    pywrapcp.RoutingDimension,
    np.ndarray,
    "pywrapcp.Assignment | None",
]


class _Search:
    """One worker's searches of one problem: the solutions counted across them, the best
    cost reported, and the model currently searched."""

    def __init__(
        self, problem: RoutingProblem, params: SolveParams, worker: int, queue: Any = None
    ) -> None:
        self.problem = problem
        self.params = params
        self.worker = worker
        self.queue = queue
        self.t0 = _time.perf_counter()
        self.seed = params.seed * 7919 + worker
        self.count = 0
        self.best: int | None = None
        self.routing: pywrapcp.RoutingModel | None = None
        self.stop_when_complete = False
        self.cap: int | None = None

    def elapsed(self) -> float:
        """Seconds since the worker started."""
        return _time.perf_counter() - self.t0

    def on_solution(self) -> None:
        """Count a solution, report a better cost, and end the search when it is done."""
        routing = self.routing
        assert routing is not None
        self.count += 1
        obj = routing.CostVar().Max()
        if self.best is None or obj < self.best:
            self.best = obj
            msg = f"worker {self.worker}: solution {self.count}, cost {obj}, {self.elapsed():.1f} s"
            if self.queue is not None:
                self.queue.put(msg)
            elif self.params.progress is not None:
                self.params.progress(msg)
        if self.stop_when_complete and _unperformed(routing) == 0:
            # every node performed: the feasibility phase is over
            self.stop_when_complete = False
            routing.solver().FinishCurrentSearch()
        elif self.cap and self.count >= self.cap:
            # the budget spans several searches (a search from given routes reports them
            # as a solution too), so it is counted here
            routing.solver().FinishCurrentSearch()

    def budget_left(self) -> int | None:
        """Solutions left in the budget, or None without a budget."""
        limit = self.params.solution_limit
        return limit - self.count if limit else None

    def run(
        self,
        sp: Any,
        *,
        early_cost: int = 0,
        start_routes: list[list[int]] | None = None,
        use_initial: bool = True,
        stop_when_complete: bool = False,
    ) -> _Run:
        """Build the model afresh (same seed, so the same node indices) and search it, from
        ``start_routes`` (model indices) or the problem's initial routes or from scratch."""
        problem = self.problem
        manager, routing, time_dim, perm = _build(problem, self.seed)
        if early_cost:
            _charge_late_service(problem, manager, time_dim, perm, early_cost)
        self.routing = routing
        self.stop_when_complete = stop_when_complete
        routing.AddAtSolutionCallback(self.on_solution)
        solution = None
        if start_routes is not None:
            start = routing.ReadAssignmentFromRoutes(start_routes, True)
            if start is not None:
                solution = routing.SolveFromAssignmentWithParameters(start, sp)
            return manager, routing, time_dim, perm, solution
        if use_initial and problem.initial_routes is not None:
            inv = np.empty(len(perm), dtype=np.int64)
            inv[perm] = np.arange(len(perm))
            start = routing.ReadAssignmentFromRoutes(
                [[manager.NodeToIndex(int(inv[n])) for n in r] for r in problem.initial_routes],
                True,
            )
            if start is None:
                log.warning(
                    "the initial routes are not feasible for the model; searching from scratch"
                )
            else:
                solution = routing.SolveFromAssignmentWithParameters(start, sp)
        if solution is None:
            solution = routing.SolveWithParameters(sp)
        return manager, routing, time_dim, perm, solution


@dataclass
class _Phase:
    """The feasibility phase's settings: its rounds and each round's time and budget."""

    feasibility: bool
    rounds: int
    time_s: float
    gls_lambda: float | None
    budget: int | None
    early_cost: int


def _phase_of(params: SolveParams) -> _Phase:
    """The feasibility phase of ``params`` (a single plain search when it has none)."""
    share = min(max(float(params.feasibility_first), 0.0), 1.0)
    feasibility = share > 0
    rounds = max(1, int(params.feasibility_rounds)) if feasibility else 1
    # the feasibility phase has its own share of the time and of the solution budget, cut
    # into rounds; the first search (first solution included) is its first round
    phase_budget = None
    if feasibility and params.solution_limit:
        phase_budget = max(1, int(params.solution_limit * share / rounds))
    return _Phase(
        feasibility=feasibility,
        rounds=rounds,
        time_s=params.time_limit_s * share / rounds if feasibility else params.time_limit_s,
        gls_lambda=params.feasibility_lambda if feasibility else None,
        budget=phase_budget,
        early_cost=params.feasibility_early_cost if feasibility else 0,
    )


def _first_search(search: _Search, phase: _Phase) -> _Run:
    """The first search, retried with worker 0's first-solution strategy if it found none."""
    params, worker = search.params, search.worker
    if phase.feasibility:
        search.cap = params.solution_limit
    sp = _search_parameters(
        params, phase.time_s, worker, gls_lambda=phase.gls_lambda, solution_limit=phase.budget
    )
    out = search.run(sp, stop_when_complete=phase.feasibility)
    fs = _worker_first_solution(params, worker)
    if out[4] is None and fs != params.first_solution:
        # a diversified worker whose first-solution strategy found nothing falls back to
        # worker 0's strategy for the rest of its time
        left = phase.time_s - search.elapsed()
        if left > 0.05:
            out = search.run(
                _search_parameters(
                    params,
                    left,
                    worker,
                    first_solution=params.first_solution,
                    gls_lambda=phase.gls_lambda,
                    solution_limit=phase.budget,
                ),
                use_initial=False,
                stop_when_complete=phase.feasibility,
            )
    return out


def _feasibility_rounds(search: _Search, phase: _Phase, first: _Run) -> _Run:
    """The feasibility rounds after the first search, then the normal objective from the
    routes with the fewest unperformed nodes."""
    params, worker, n_vehicles = search.params, search.worker, search.problem.n_vehicles
    assert first[4] is not None
    kept = first
    routes = _routes_of(first[1], first[4], n_vehicles)
    dropped = _unperformed_in(first[1], first[4])
    for k in range(1, phase.rounds):
        if dropped == 0:
            break
        # the next round alternates the objective (with and without the early-service
        # charge) and continues from the routes with the fewest unperformed nodes
        budget_left = search.budget_left()
        if budget_left is not None and budget_left <= 0:
            break
        sp = _search_parameters(
            params,
            phase.time_s,
            worker,
            gls_lambda=phase.gls_lambda,
            solution_limit=min(phase.budget, budget_left)
            if phase.budget and budget_left is not None
            else None,
        )
        out = search.run(
            sp,
            early_cost=phase.early_cost if k % 2 == 1 else 0,
            start_routes=routes,
            stop_when_complete=True,
        )
        if out[4] is not None and _unperformed_in(out[1], out[4]) <= dropped:
            kept = out
            routes = _routes_of(out[1], out[4], n_vehicles)
            dropped = _unperformed_in(out[1], out[4])
    # then the normal objective, from the feasibility phase's best routes
    left = params.time_limit_s - search.elapsed()
    budget_left = search.budget_left()
    if left > 0.05 and (budget_left is None or budget_left > 0):
        out = search.run(
            _search_parameters(params, left, worker, solution_limit=budget_left),
            start_routes=routes,
        )
        if out[4] is None:
            log.warning(
                "the search after the feasibility phase found nothing; keeping its solution"
            )
        else:
            return out
    return kept


def _result_of(search: _Search, found: _Run) -> RoutingResult:
    """Read the routes, times and unperformed nodes of the found solution."""
    problem, params = search.problem, search.params
    manager, routing, time_dim, perm, solution = found
    wall = search.elapsed()
    if solution is None:
        raise RuntimeError(f"OR-Tools found no solution (status {routing.status()})")
    if params.solution_limit and search.count >= params.solution_limit:
        stopped = "budget"
    elif wall >= params.time_limit_s * 0.98:
        stopped = "time limit"
    else:
        stopped = "search finished"
    routes: list[list[int]] = []
    times: list[list[int]] = []
    starts: list[int] = []
    ends: list[int] = []
    visited: set[int] = set()
    for v in range(problem.n_vehicles):
        idx = routing.Start(v)
        starts.append(int(solution.Value(time_dim.CumulVar(idx))))
        r: list[int] = []
        t: list[int] = []
        idx = solution.Value(routing.NextVar(idx))
        while not routing.IsEnd(idx):
            node = int(perm[manager.IndexToNode(idx)])
            r.append(node)
            t.append(int(solution.Value(time_dim.CumulVar(idx))))
            visited.add(node)
            idx = solution.Value(routing.NextVar(idx))
        ends.append(int(solution.Value(time_dim.CumulVar(idx))))
        routes.append(r)
        times.append(t)
    fixed = set(problem.vehicle_start) | set(problem.vehicle_end)
    return RoutingResult(
        routes=routes,
        times=times,
        start_times=starts,
        end_times=ends,
        objective=int(solution.ObjectiveValue()),
        dropped=[i for i in range(problem.n) if i not in fixed and i not in visited],
        stopped_by=stopped,
        wall_s=wall,
        worker=search.worker,
        solutions=search.count,
    )


def _solve_one(
    problem: RoutingProblem, params: SolveParams, worker: int, queue: Any = None
) -> RoutingResult:
    """One worker's search: the feasibility rounds if any, then the normal objective."""
    search = _Search(problem, params, worker, queue)
    if get_settings().hold_freed_memory:
        hold_freed_memory()
    phase = _phase_of(params)
    found = _first_search(search, phase)
    if phase.feasibility and found[4] is not None:
        found = _feasibility_rounds(search, phase, found)
    return _result_of(search, found)


def _worker_entry(args):  # noqa: ANN001, ANN202
    problem, params, worker, queue = args
    params = SolveParams(**{**params.__dict__, "progress": None})
    return _solve_one(problem, params, worker, queue)


def solve_routing(problem: RoutingProblem, params: SolveParams | None = None) -> RoutingResult:
    """Solve a routing problem; with ``workers > 1`` run differently seeded searches in parallel.

    Parameters
    ----------
    problem
        The model data.
    params
        Time limit, seed, work budget and number of parallel searches.

    Returns
    -------
    RoutingResult
        The best result (lowest objective; ties go to the lowest worker number, so the
        choice does not depend on which search finished first).
    """
    params = params or SolveParams()
    if params.solver not in SOLVERS:
        raise PlannerError(f"unknown solver {params.solver!r} (one of {', '.join(SOLVERS)})")
    if params.solver == "pyvrp":
        return _solve_with_pyvrp(problem, params)
    if params.solver == "best":
        return _solve_best(problem, params)
    return _solve_ortools(problem, params)


def _solve_ortools(problem: RoutingProblem, params: SolveParams) -> RoutingResult:
    """OR-Tools: one search, or ``params.workers`` differently seeded searches in parallel."""
    if params.workers <= 1:
        return _solve_one(problem, params, 0)
    with mp.get_context("fork").Manager() as manager:
        queue = manager.Queue()
        with process_pool(params.workers) as pool:
            bare = SolveParams(**{**params.__dict__, "progress": None})  # callbacks do not pickle
            futures = [
                pool.submit(_worker_entry, (problem, bare, w, queue)) for w in range(params.workers)
            ]
            while not all(f.done() for f in futures):
                _drain(queue, params)
                _time.sleep(0.2)
            _drain(queue, params)
            results = [f.result() for f in futures]
    return min(results, key=lambda r: (r.objective, r.worker))


def _pyvrp_entry(args):  # noqa: ANN001, ANN202
    problem, params = args
    return _solve_with_pyvrp(problem, params)


def _solve_with_pyvrp(problem: RoutingProblem, params: SolveParams) -> RoutingResult:
    """PyVRP's routes as a :class:`RoutingResult`."""
    found = solve_pyvrp(problem, params)
    return RoutingResult(
        routes=found.routes,
        times=found.times,
        start_times=found.start_times,
        end_times=found.end_times,
        objective=found.objective,
        dropped=found.dropped,
        stopped_by=found.stopped_by,
        wall_s=found.wall_s,
        worker=0,
        solutions=found.iterations,
    )


def _solve_best(problem: RoutingProblem, params: SolveParams) -> RoutingResult:
    """Both backends; the result with the lower objective among those that pass
    :func:`~planner.routing_pyvrp.route_violations` (OR-Tools on a tie).

    With two or more workers PyVRP runs in a process of its own beside OR-Tools (which keeps
    the other workers); with one, the two run one after the other, each with half the time
    limit (and the whole solution budget, so the outcome stays deterministic).
    """
    reason = pyvrp_unsupported(problem)
    if reason is not None or not pyvrp_available():
        log.info("solver 'best': OR-Tools alone (%s)", reason or "pyvrp is not installed")
        return _solve_ortools(problem, params)
    bare = replace(params, progress=None)
    if params.workers >= 2 and can_start_processes():
        with process_pool(1) as pool:
            future = pool.submit(_pyvrp_entry, (problem, bare))
            ortools = _solve_ortools(problem, replace(params, workers=params.workers - 1))
            candidates = [ortools, _or_none(future.result)]
    else:
        half = replace(params, time_limit_s=params.time_limit_s / 2, workers=1)
        candidates = [
            _solve_ortools(problem, half),
            _or_none(lambda: _solve_with_pyvrp(problem, half)),
        ]
    checked = [
        (route_objective(problem, r.routes), k, r)
        for k, r in enumerate(candidates)
        if r is not None and not route_violations(problem, r)
    ]
    if not checked:
        return candidates[0]  # type: ignore[return-value]  # OR-Tools raises rather than fail
    return min(checked, key=lambda c: (c[0], c[1]))[2]


def _or_none(call: Callable[[], RoutingResult]) -> RoutingResult | None:
    """The result of ``call``, or ``None`` when that backend found nothing."""
    try:
        return call()
    except PlannerError as exc:
        log.info("solver 'best': %s", exc)
        return None


def _drain(queue, params: SolveParams) -> None:  # noqa: ANN001
    while True:
        try:
            msg = queue.get_nowait()
        except Exception:
            return
        if params.progress is not None:
            params.progress(msg)


def coarsen_time(problem: RoutingProblem, unit: int) -> RoutingProblem:
    """The same problem counted in time units of ``unit`` seconds, never looser than the original.

    Drives, service times and earliest starts round up, latest times and longest waits round
    down, and a forbidden interval keeps exactly the unit times that fall inside it, so a
    solution of the coarse problem, its times multiplied by ``unit``, is a solution of the
    original.  Coarse units keep the search's time domains small: removing a forbidden
    interval from a time variable costs in proportion to its length in units.

    Parameters
    ----------
    problem
        The problem in seconds (or whatever unit it uses).
    unit
        How many of the problem's time units make one coarse unit (1: unchanged).

    Returns
    -------
    RoutingProblem
        A new problem; the cost matrix, penalties and routes are shared unchanged.
    """
    if unit <= 1:
        return problem
    u = int(unit)

    def up(x: int | float) -> int:
        return -(-int(x) // u)

    time = -(-np.asarray(problem.time, dtype=np.int64) // u)
    return replace(
        problem,
        time=time,
        service=-(-np.asarray(problem.service, dtype=np.int64) // u),
        windows=[(up(lo), int(hi) // u) for lo, hi in problem.windows],
        horizon=int(problem.horizon) // u,
        vehicle_earliest=[up(e) for e in problem.vehicle_earliest]
        if problem.vehicle_earliest
        else None,
        forbidden={
            node: [(up(a), int(b) // u) for a, b in ivs if up(a) <= int(b) // u]
            for node, ivs in problem.forbidden.items()
        },
        arrival_forbidden={
            node: [(up(a), int(b) // u) for a, b in ivs if up(a) <= int(b) // u]
            for node, ivs in problem.arrival_forbidden.items()
        },
        # the rounded-up service and drive after a node can hide up to 2 (u - 1) of real waiting
        max_wait={
            node: max(0, (int(w) - 2 * (u - 1)) // u) for node, w in problem.max_wait.items()
        },
    )
