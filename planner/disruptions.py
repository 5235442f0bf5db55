"""The ``disruptions`` section of a scenario: the truce violations a sweep samples.

Checked when the scenario is loaded (a misspelt disruption is an error then, not at sweep
time); :mod:`planner.sweep` samples and simulates them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.errors import ScenarioError

if TYPE_CHECKING:
    from planner.scenario import Scenario


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WindowCut(_M):
    """Each window is cut short with ``probability``, by up to ``max_hours`` (uniform)."""

    probability: float = Field(ge=0, le=1)
    max_hours: float = Field(gt=0)


class CrossingClosure(_M):
    """Each crossing point closes with ``probability`` at a uniform time inside the windows."""

    probability: float = Field(ge=0, le=1)


class CrossingDelay(_M):
    """Extra delay per passage of a crossing point, exponential with this mean."""

    mean_min: float = Field(gt=0)


class RoadClosure(_M):
    """Each road segment a plan uses closes with ``probability`` at a uniform time."""

    probability: float = Field(ge=0, le=1)
    segment_km: float = Field(default=10.0, gt=0)


class Breakdown(_M):
    """Each vehicle breaks down with ``probability`` at a uniform time inside the windows."""

    probability: float = Field(ge=0, le=1)


class Disruptions(_M):
    """The ``disruptions`` section of a scenario."""

    window_cut: WindowCut | None = None
    crossing_closure: CrossingClosure | None = None
    crossing_delay: CrossingDelay | None = None
    road_closure: RoadClosure | None = None
    breakdown: Breakdown | None = None


def parse_disruptions(scenario: Scenario) -> Disruptions:
    """Validate the scenario's ``disruptions`` section (empty when absent).

    Raises
    ------
    ScenarioError
        Naming the field that is wrong.
    """
    raw = scenario.disruptions or {}
    try:
        return Disruptions.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        msg = (
            "is not a known disruption"
            if first.get("type") == "extra_forbidden"
            else first.get("msg", "invalid")
        )
        raise ScenarioError(
            scenario.source_name(), f"disruptions.{loc}" if loc else "disruptions", msg
        ) from None
