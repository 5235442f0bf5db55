"""The result of an exchange schedule: the ``exchange`` part of ``plan.json``, typed.

:class:`ExchangePlan` is what :func:`planner.exchange.schedule_exchanges` returns and what
:attr:`planner.plan.Plan.exchange` holds; a plan read back from ``plan.json`` validates its
``exchange`` part into the same classes.  The people assigned to each event stay in a private
attribute and never reach the file: only the manifests written beside it carry their
pseudonymous ids.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal

from pydantic import Field, PrivateAttr

from planner.exchange_spec import Person, SpecModel


class Transport(SpecModel):
    """Vehicles of one type from a facility to an event (``buses`` counts them, whatever the type)."""

    facility: str
    party: str
    vehicle: str = "bus"
    medical_escort: bool = False
    categories: dict[str, int] = Field(default_factory=dict)
    depart: str
    arrive: str
    buses: int
    people: int
    path: list[tuple[float, float]]
    length_m: float
    travel_s: float


class ExchangeEvent(SpecModel):
    """One handover at an exchange point."""

    id: str
    point: str
    place: str
    location: tuple[float, float]
    start: str
    end: str
    day: str
    counts: dict[str, dict[str, dict[str, int]]]
    people: dict[str, int]
    transports: list[Transport]


class DaySummary(SpecModel):
    """People and events of one day."""

    date: str
    events: int
    people: int


class ManifestInfo(SpecModel):
    """A manifest file written for an event and a party."""

    file: str
    event: str
    party: str
    people: int


class SiteInfo(SpecModel):
    """A facility or exchange point, as drawn on the map."""

    id: str
    kind: Literal["facility", "point"]
    name: str | None = None
    party: str | None = None
    location: tuple[float, float]
    snap_m: float
    buses: int | None = None
    seats: int | None = None
    vehicles: dict[str, int] = Field(default_factory=dict)


class ExchangePlan(SpecModel):
    """The ``exchange`` part of ``plan.json``."""

    status: Literal["optimal", "feasible", "infeasible"]
    parties: list[str]
    categories: list[str]
    terms: list[str]
    events: list[ExchangeEvent]
    totals: dict[str, Any]
    days: list[DaySummary]
    conflicts: list[str] = Field(default_factory=list)
    conflict_terms: list[str] = Field(default_factory=list)
    relaxed: list[str] = Field(default_factory=list)
    manifests: list[ManifestInfo] = Field(default_factory=list)
    sites: list[SiteInfo] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    solver: dict[str, Any] = Field(default_factory=dict)

    _assignment: dict[tuple[str, str], list[Person]] = PrivateAttr(default_factory=dict)
    _seconds: list[float] = PrivateAttr(default_factory=list)

    @property
    def stage_seconds(self) -> list[float]:
        """Wall-clock seconds of each stage in ``solver.stages`` (not in plan.json: it varies)."""
        return list(self._seconds)

    def to_json(self) -> str:
        """Serialise deterministically."""
        import json

        return (
            json.dumps(self.model_dump(mode="json"), indent=1, sort_keys=True, ensure_ascii=False)
            + "\n"
        )


def summary_rows(plan: ExchangePlan) -> list[tuple[str, ...]]:
    """Rows for the CLI table: event, point, start, people per party, categories.

    Parameters
    ----------
    plan
        An exchange plan (the ``exchange`` part of a :class:`planner.plan.Plan`).

    Returns
    -------
    list of tuple of str
        A header row first, then one row per event, then a ``total`` row.
    """
    parties = list(plan.parties)
    rows: list[tuple[str, ...]] = [("event", "point", "start", *parties, "categories")]
    tot = dict.fromkeys(parties, 0)
    for e in plan.events:
        per = []
        cats: dict[str, int] = defaultdict(int)
        for p in parties:
            n = 0
            for fc in e.counts.get(p, {}).values():
                for c, k in fc.items():
                    n += int(k)
                    cats[c] += int(k)
            per.append(str(n))
            tot[p] += n
        rows.append(
            (
                e.id,
                e.point,
                e.start[:16].replace("T", " "),
                *per,
                ", ".join(f"{c} {n}" for c, n in cats.items()),
            )
        )
    rows.append(("total", "", "", *(str(tot[p]) for p in parties), plan.status))
    return rows


__all__ = [
    "DaySummary",
    "ExchangeEvent",
    "ExchangePlan",
    "ManifestInfo",
    "SiteInfo",
    "Transport",
    "summary_rows",
]
