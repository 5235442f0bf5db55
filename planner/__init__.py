"""Corridor planner: evacuation corridors and exchanges under ceasefire terms.

The public API; everything else is reachable but not promised.
"""

from planner.errors import (
    InfeasibleError,
    NetworkError,
    PlanFormatError,
    PlannerError,
    ScenarioError,
)
from planner.evacuation import plan_evacuation
from planner.network import (
    apply_frontline,
    apply_hazards,
    build_network,
    load_layers,
    prepare_network,
)
from planner.plan import Plan, read_plan
from planner.render import render_map
from planner.scenario import Scenario, load_scenario, parse_scenario

__version__ = "0.1.0"

__all__ = [
    "InfeasibleError",
    "NetworkError",
    "Plan",
    "PlanFormatError",
    "PlannerError",
    "Scenario",
    "ScenarioError",
    "apply_frontline",
    "apply_hazards",
    "build_network",
    "load_layers",
    "load_scenario",
    "parse_scenario",
    "plan_evacuation",
    "prepare_network",
    "read_plan",
    "render_map",
    "verify_plan",
]


def verify_plan(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201
    """Check a plan against its scenario; see :func:`planner.verify.verify_plan`."""
    from planner.verify import verify_plan as _verify

    return _verify(*args, **kwargs)
