"""The plan: a plain, serialisable result that knows nothing of OR-Tools.

``plan.json`` is :class:`Plan` dumped as JSON; its JSON Schema is committed in the
package as ``plan.schema.json`` (``planner schema --plan`` prints it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.errors import PlanFormatError, ScenarioError
from planner.exchange_result import ExchangePlan
from planner.repatriation.result import RepatriationPlan
from planner.scenario import GROUPS
from planner.validate import check_plan_scenario, check_raw

if TYPE_CHECKING:
    from planner.scenario import Scenario

PLAN_SCHEMA_VERSION = 1

REASONS: dict[str, str] = {
    "no_safe_road": "no safe road",
    "window_too_short": "window too short",
    "fleet_too_small": "fleet too small",
    "reception_full": "reception full",
    "no_vehicle_for_group": "no vehicle may carry this group",
    "site_in_closed_area": "site inside a closed area",
    "crossing_capacity": "crossing point at capacity",
    "household_too_large": "household larger than every vehicle",
}
"""Codes of reasons why people are not served, with their words for a coordinator."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


GroupCounts = dict[str, int]


class Totals(_M):
    """Requested, evacuated and upper bound, per group and in total."""

    requested: GroupCounts
    evacuated: GroupCounts
    bound: GroupCounts


class Site(_M):
    """A site and where it was snapped to the road network."""

    id: str
    kind: Literal["assembly", "reception", "start"]
    name: str | None = None
    location: tuple[float, float]
    node: str
    snap_m: float
    pcode: str | None = None
    """KATOTTG code of the settlement, when the scenario gives one."""


class CheckpointStop(_M):
    """A stop at an agreed corridor checkpoint during a leg."""

    id: str
    arrive: str
    depart: str


class Leg(_M):
    """A vehicle driving from one site to another."""

    from_: str = Field(alias="from")
    to: str
    depart: str
    arrive: str
    path: list[tuple[float, float]]
    length_m: float
    risk_km: float
    crossings: list[str] = Field(default_factory=list)
    load: GroupCounts
    checkpoints: list[CheckpointStop] | None = None
    """Checkpoint stops along an agreed corridor (absent when the scenario has no corridors)."""
    convoy: str | None = None
    """The convoy departure this leg drives in (``<corridor>@<depart time>``); absent otherwise."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Stop(_M):
    """A vehicle at a site: people boarding or alighting."""

    site: str
    arrive: str
    depart: str
    board: GroupCounts
    alight: GroupCounts
    board_households: list[str] | None = Field(default=None, exclude_if=lambda v: v is None)
    """Pseudonymous ids of the households boarding here (sites given by households only)."""
    alight_households: list[str] | None = Field(default=None, exclude_if=lambda v: v is None)
    """Pseudonymous ids of the households alighting here (sites given by households only)."""


class Vehicle(_M):
    """One vehicle's schedule."""

    id: str
    type: str
    seats: int
    groups: list[str]
    start: str
    stops: list[Stop]
    legs: list[Leg]

    def stop_convoys(self) -> list[str]:
        """The convoy the vehicle leaves each of its stops in (``""`` where it drives alone)."""
        leaving = {(leg.from_, leg.depart): leg.convoy for leg in self.legs if leg.convoy}
        return [leaving.get((st.site, st.depart), "") for st in self.stops]


class Unserved(_M):
    """People left waiting, and why."""

    site: str
    group: str
    people: int
    reason: str
    detail: str


class Reception(_M):
    """How full a reception centre is."""

    id: str
    capacity: int
    received: int


class SolverInfo(_M):
    """How the plan was searched; no wall-clock figure, so plans stay byte-identical."""

    time_limit_s: float
    budget: int | None
    workers: int
    stopped_by: str
    objective: int


class CorridorVia(_M):
    """A via point of a corridor and the road node it attaches to."""

    point: str
    node: str
    snap_m: float


class CorridorCheckpointPart(_M):
    """A checkpoint of a corridor and the node of the corridor's road it attaches to."""

    id: str
    name: str | None = None
    location: tuple[float, float]
    node: str
    snap_m: float
    position_m: float
    stop_min: float


class CorridorPart(_M):
    """An agreed corridor as planned: its road path, via points and checkpoints."""

    id: str
    name: str | None = None
    direction: Literal["both", "outbound", "inbound"]
    width_m: float
    windows: list[tuple[str, str]] | None = None
    length_m: float
    travel_time_s: float
    path: list[tuple[float, float]]
    via: list[CorridorVia]
    checkpoints: list[CorridorCheckpointPart]


class Plan(_M):
    """An evacuation plan."""

    schema_version: int = PLAN_SCHEMA_VERSION
    kind: Literal["evacuation"] = "evacuation"
    scenario: str
    seed: int
    status: Literal["complete", "partial", "empty"]
    timezone: str
    windows: list[tuple[str, str]]
    totals: Totals
    vehicles_used: int
    vehicles_total: int
    risk_km: float
    distance_km: float
    sites: list[Site]
    receptions: list[Reception]
    vehicles: list[Vehicle]
    unserved: list[Unserved]
    warnings: list[str] = Field(default_factory=list)
    solver: SolverInfo
    exchange: ExchangePlan | None = None
    """The exchange schedule (absent when the scenario has no exchange section)."""
    repatriation: RepatriationPlan | None = None
    corridors: list[CorridorPart] | None = None
    """The agreed corridors (absent when the scenario has none)."""

    # ---------------------------------------------------------------- helpers

    def evacuated_total(self) -> int:
        return int(self.totals.evacuated.get("total", 0))

    def bound_total(self) -> int:
        return int(self.totals.bound.get("total", 0))

    def summary_rows(self) -> list[tuple[str, int, int, int]]:
        """``(group, requested, evacuated, bound)`` rows, then ``total``."""
        t = self.totals
        return [
            (g, t.requested.get(g, 0), t.evacuated.get(g, 0), t.bound.get(g, 0))
            for g in (*GROUPS, "total")
        ]

    def to_json(self) -> str:
        """Serialise deterministically (sorted keys, fixed float rounding done upstream)."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=False)
        _drop_absent_parts(data)
        return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"

    def __str__(self) -> str:
        lines = [f"plan {self.scenario} (seed {self.seed}): {self.status}"]
        for g, r, e, b in self.summary_rows():
            lines.append(f"  {g:<17} requested {r:>7}  evacuated {e:>7}  bound {b:>7}")
        lines.append(
            f"  vehicles used {self.vehicles_used}/{self.vehicles_total}, {self.risk_km:.1f} km under risk"
        )
        return "\n".join(lines)


def _drop_absent_parts(data: dict[str, Any]) -> None:
    """Leave out the corridor and convoy parts of a plan without them, so plans of scenarios
    without them stay as they were."""
    if data.get("corridors") is None:
        data.pop("corridors", None)
    for v in data.get("vehicles") or []:
        for leg in v.get("legs") or []:
            if leg.get("checkpoints") is None:
                leg.pop("checkpoints", None)
            if leg.get("convoy") is None:
                leg.pop("convoy", None)


def plan_json_schema() -> dict[str, Any]:
    """JSON Schema of ``plan.json``."""
    return Plan.model_json_schema(by_alias=True)


SCHEMA_PATH = Path(__file__).with_name("plan.schema.json")


def read_plan_json(path: str | Path) -> dict[str, Any]:
    """Read a plan file as plain JSON data, not trusted to be a plan.

    The verifier reads plans this way: it reports what is missing or mistyped in a plan as
    ``format`` violations, field by field, where :func:`read_plan` refuses the file at its
    first fault.

    Raises
    ------
    PlanFormatError
        The file is missing, unreadable or not JSON.
    """
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFormatError(f"{p}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanFormatError(f"{p}: not a JSON plan: {exc}") from None


def read_plan(path: str | Path, scenario: Scenario | None = None) -> Plan:
    """Read a plan file as a :class:`Plan`, validated against the plan schema.

    Parameters
    ----------
    path
        The ``plan.json`` file.
    scenario
        The scenario the plan must belong to (its name, timezone and sites), if known.

    Raises
    ------
    PlanFormatError
        One line naming the file and the field: not JSON, another scenario's plan, a field
        of the wrong type or missing, a number that is not finite, a time without its
        timezone.
    """
    return strict_plan(read_plan_json(path), path, scenario)


def plan_data(plan: Plan) -> dict[str, Any]:
    """The JSON data of ``plan.json`` for a plan: what the re-planner and the sweep work on
    (plain mappings they may copy and cut, and ship to other processes)."""
    return json.loads(plan.to_json())


def write_atomic(path: str | Path, text: str | bytes, mode: int | None = None) -> None:
    """Write a file whole or not at all (see :func:`planner.files.write_atomic`)."""
    from planner.files import write_atomic as write_whole

    write_whole(path, text, mode)


def strict_plan(data: Any, path: str | Path, scenario: Scenario | None = None) -> Plan:
    """Plan data that the re-planner, the sweep and the renderer may trust, as a :class:`Plan`.

    Raises
    ------
    PlanFormatError
        Another scenario's plan, a field of the wrong type or missing, a number that is not
        finite, a time without its timezone.
    """
    if scenario is not None:
        check_plan_scenario(data, path, scenario)
    elif not isinstance(data, dict):
        raise PlanFormatError(
            f"{path}: not a plan (the file holds a {type(data).__name__}, not a JSON object)"
        )
    try:
        check_raw(data, path)
    except ScenarioError as exc:
        raise PlanFormatError(str(exc)) from None
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        raise PlanFormatError(
            f"{path}: {loc}: {first.get('msg', 'invalid')}; not a plan written by planner plan"
        ) from None
