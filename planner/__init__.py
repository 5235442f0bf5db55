"""Corridor planner: evacuation corridors and exchanges under ceasefire terms.

The public API is re-exported here lazily (so ``planner.verify`` does not load the solver);
everything else is reachable but not promised.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from planner.errors import (
    NetworkError,
    PlanFormatError,
    PlannerError,
    ScenarioError,
)

try:
    from importlib.metadata import PackageNotFoundError as _NotInstalled
    from importlib.metadata import version as _version

    __version__ = _version("corridor-planner")
except _NotInstalled:  # pragma: no cover - running from a source tree that was never installed
    __version__ = "0+unknown"

_LAZY = {
    "plan_evacuation": "planner.evacuation",
    "apply_frontline": "planner.network",
    "apply_hazards": "planner.network",
    "build_network": "planner.network",
    "load_layers": "planner.network",
    "prepare_network": "planner.network",
    "Plan": "planner.plan",
    "read_plan": "planner.plan",
    "render_map": "planner.render",
    "Scenario": "planner.scenario",
    "load_scenario": "planner.scenario",
    "parse_scenario": "planner.scenario",
    "verify_plan": "planner.verify",
}

__all__ = [
    "NetworkError",
    "PlanFormatError",
    "PlannerError",
    "ScenarioError",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'planner' has no attribute {name!r}")
