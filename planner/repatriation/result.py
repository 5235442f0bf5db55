"""The ``repatriation`` part of plan.json: groups, guardians' journeys, who waits and why.

Only pseudonymous ids appear here (children, guardians, escorts, sites, stops).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PlanStatus = Literal["complete", "partial", "empty"]
"""Every child returned, some, or none."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LegOut(_M):
    """One leg as the group (or guardian) travels it."""

    leg: int
    from_: str = Field(alias="from")
    to: str
    mode: str
    depart: str
    arrive: str
    leave: str  # after the crossing at ``to``, if any
    crossing: bool
    overnight: bool  # a night spent at ``to``


class GroupOut(_M):
    """A handover group: who goes, when, along which route, with which escorts."""

    id: str
    site: str
    handover_at: str
    route: str
    depart: str
    arrive: str
    max_travel_day_min: float
    nights: int
    children: list[str]
    escorts: list[str]
    guardians: list[str]
    legs: list[LegOut]


class GuardianTrip(_M):
    """A guardian's own journey to the handover site, to collect the child."""

    guardian: str
    children: list[str]
    group: str
    route: str
    depart: str
    arrive: str
    legs: list[LegOut]


class Waiting(_M):
    """A child who cannot go yet, and why (a code and the detail a caseworker acts on)."""

    child: str
    reason: str
    detail: str


class RepatriationSolver(_M):
    """How the schedule was searched (no wall-clock figure, so plans stay identical)."""

    status: str
    returned_bound: int
    earliness: int
    earliness_bound: int
    workers: int
    budget: float
    seed: int


class RepatriationPlan(_M):
    """The repatriation schedule."""

    status: PlanStatus
    children: int
    returned: int
    bound: int
    groups: list[GroupOut]
    guardian_journeys: list[GuardianTrip]
    waiting: list[Waiting]
    network_legs: list[str] = Field(default_factory=list)
    solver: RepatriationSolver
