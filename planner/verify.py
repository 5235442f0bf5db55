"""An independent checker of ``plan.json`` against its scenario.

The checker shares no code with the solver: it reads the scenario's hazards, frontline and
crossing points itself, recomputes great-circle lengths, and replays every vehicle's stops
and legs.  It trusts nothing in the plan; a missing or mistyped field is reported as a
``format`` violation, never raised.

Each check is a small rule function in :mod:`planner.verify_rules`, registered with
:func:`planner.verify_registry.rule` for a scope (the plan, each vehicle, stop or leg, each
vehicle's itinerary); :func:`verify_plan` reads the plan into a
:class:`planner.verify_context.Context` and runs the rules in their fixed order.  Adding a
check is one decorated function there and one test that breaks a good plan.

Check codes
-----------
``format``
    A field of the plan is missing or has the wrong type.
``unknown_site``, ``unknown_vehicle_type``, ``site_location``
    A site, crossing point or vehicle type the scenario does not define, or a site the plan
    places elsewhere than the scenario.
``fleet_size``
    More vehicles of a type than its ``count``.
``start``
    A vehicle that does not start where its type starts, or moves before ``available_from``.
``closed_hazard``
    A leg's path intersects a closed hazard polygon (touching its boundary counts).
``frontline``
    A leg's path meets the frontline farther than the radius from every crossing point.
``crossing_unlisted``
    A leg passes a crossing point it does not list in ``crossings``, or lists one it does
    not pass.
``crossing_rate``
    More legs through a crossing point in a sliding hour than its ``vehicles_per_hour``.
``seats``
    A load over the vehicle's seats, or seats that differ from the fleet type.
``group_not_allowed``
    A group aboard a vehicle whose type may not carry it.
``load``
    A leg's ``load`` differs from what its vehicle's stops put on board.
``boarded_more_than_waiting``
    More people of a group boarded at an assembly point than wait there.
``board_not_at_assembly``, ``alight_not_at_reception``
    Boarding away from an assembly point, alighting away from a reception centre.
``not_delivered``
    People still on board at the end, or more alighting than are on board.
``reception_capacity``
    A reception centre receiving more people than its capacity.
``outside_window``
    A leg whose ``[depart, arrive]`` lies inside no ceasefire window.
``too_fast``
    A leg shorter in time than its path's great-circle length at the network's top speed
    (plus the delays of the crossing points it passes).
``length``
    A leg's ``length_m`` more than 1 % below its path's great-circle length.
``path_endpoints``
    A path that starts or ends more than 2 km plus the site's snap distance from the site.
``two_places``
    A vehicle whose legs overlap in time or do not chain, or whose stops and legs disagree.
``totals``
    Plan totals or reception figures that differ from what the legs and stops deliver.
``corridor_missing``, ``corridor_via``, ``corridor_route``, ``corridor_direction``, ``corridor_checkpoint``
    Agreed corridors (see :mod:`planner.verify_corridors`).
``convoy_*``
    Convoy rules (``ceasefire.convoys``), see :mod:`planner.verify_convoys`.
``household_split``, ``household_vehicle``, ``household_counts``, ``household_seats``, ``household_unknown``
    A household split across vehicles or reception centres, or on a vehicle that may not
    carry it (see :mod:`planner.verify_households`).
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx

from planner.errors import NetworkError, PlannerError
from planner.plan import Plan, plan_data
from planner.scenario import Scenario
from planner.verify_context import Context
from planner.verify_geometry import EARTH_RADIUS_M, read_geometry
from planner.verify_registry import Violation, rules_of
from planner.verify_rules import (
    ENDPOINT_SLACK_M,
    LENGTH_TOLERANCE,
    RATE_TOLERANCE_S,
    SITE_LOCATION_TOLERANCE_M,
    SPEED_TOLERANCE_REL,
    SPEED_TOLERANCE_S,
)

FALLBACK_TOP_SPEED_KPH = 130.0
"""Top speed assumed when the scenario's road network cannot be loaded."""

INTERNAL_ERROR = "cannot be checked further: a field has an unexpected shape"
"""Message of the ``format`` violation raised when a check meets a shape it did not foresee."""


def _graph_top_speed_kph(graph: nx.MultiDiGraph) -> float | None:
    """The largest edge speed of a graph, km/h (``None`` when no edge gives one)."""
    best: float | None = None
    for _u, _v, d in graph.edges(data=True):
        cands = []
        sp = d.get("speed_kph")
        if isinstance(sp, int | float) and math.isfinite(sp) and sp > 0:
            cands.append(float(sp))
        length, tt = d.get("length"), d.get("travel_time")
        if (
            isinstance(length, int | float)
            and isinstance(tt, int | float)
            and tt > 0
            and length >= 0
        ):
            cands.append(float(length) / float(tt) * 3.6)
        for c in cands:
            best = c if best is None else max(best, c)
    return best


def top_speed_kph(scenario: Scenario, graph: nx.MultiDiGraph | None = None) -> float:
    """The fastest speed any road of the scenario's network allows.

    Parameters
    ----------
    scenario
        The scenario; its ``network`` section says where roads come from.
    graph
        A preloaded road graph; when absent, ``planner.network.build_network`` loads the
        scenario's (for ``source: regional`` that is the bundled regional network).

    Returns
    -------
    float
        km/h: the largest edge ``speed_kph`` (or ``length / travel_time``), never below a
        speed set in ``network.speeds_kph``; :data:`FALLBACK_TOP_SPEED_KPH` when the
        network cannot be loaded.
    """
    best: float | None = None
    if graph is None:
        try:
            from planner.network import build_network

            graph = build_network(scenario)
        except (ImportError, OSError, PlannerError, NetworkError):
            graph = None
    if graph is not None:
        best = _graph_top_speed_kph(graph)
    overrides = [float(v) for v in scenario.network.speeds_kph.values()]
    if best is None:
        best = max([FALLBACK_TOP_SPEED_KPH, *overrides])
    elif overrides:
        best = max(best, *overrides)
    return best


# --------------------------------------------------------------------------- public API


def verify_plan(
    scenario: Scenario, plan: Plan | Any, *, graph: nx.MultiDiGraph | None = None
) -> list[Violation]:
    """Check a plan against its scenario and return every violation found.

    The plan is read as it stands in ``plan.json`` and not trusted: missing or mistyped
    fields become ``format`` violations.  Hazards, the frontline and crossing points are read
    from the scenario independently of the solver.

    Parameters
    ----------
    scenario
        The validated scenario the plan claims to satisfy.
    plan
        A :class:`~planner.plan.Plan`, or the data of a ``plan.json`` as
        :func:`planner.plan.read_plan_json` reads it (any JSON value: what is not a plan
        is reported, not raised).
    graph
        The road graph the plan was made on, used only for the top speed of the network.
        When absent the scenario's network is loaded (see :func:`top_speed_kph`).

    Returns
    -------
    list of Violation
        Empty when the plan is clean.

    Raises
    ------
    ScenarioError
        If a layer file named by the scenario cannot be read.

    Notes
    -----
    The ``crossing_rate`` check takes a leg's departure as the moment it crosses (the
    plan gives no time along the path); it allows ``floor(vehicles_per_hour)`` legs in any
    hour, with one second of slack for rounded times, and for ``vehicles_per_hour`` below 1
    one leg in every ``1 / vehicles_per_hour`` hours.
    """
    if isinstance(plan, Plan):
        plan = plan_data(plan)
    ctx = Context(scenario, plan, top_speed_kph(scenario, graph), read_geometry(scenario))
    if not isinstance(plan, dict):
        ctx.add("format", "plan", "is not a JSON object")
        return ctx.out
    for r in rules_of("plan"):
        try:
            r.check(ctx)
        except Exception as exc:  # a plan shaped in a way no rule foresaw
            ctx.add("format", "plan", f"{INTERNAL_ERROR} ({type(exc).__name__}: {exc})")
    return ctx.out


def format_violations(violations: list[Violation]) -> str:
    """One line per violation, then a count (or a line saying the plan is clean).

    Parameters
    ----------
    violations
        As returned by :func:`verify_plan`.

    Returns
    -------
    str
    """
    if not violations:
        return "no violations: the plan satisfies its scenario"
    lines = [str(v) for v in violations]
    lines.append(f"{len(violations)} violation(s)")
    return "\n".join(lines)


__all__ = [
    "EARTH_RADIUS_M",
    "ENDPOINT_SLACK_M",
    "FALLBACK_TOP_SPEED_KPH",
    "INTERNAL_ERROR",
    "LENGTH_TOLERANCE",
    "RATE_TOLERANCE_S",
    "SITE_LOCATION_TOLERANCE_M",
    "SPEED_TOLERANCE_REL",
    "SPEED_TOLERANCE_S",
    "Violation",
    "format_violations",
    "top_speed_kph",
    "verify_plan",
]
