"""Expectation kinds of repatriation scenarios (registered in :data:`planner.expect.KINDS`).

::

    expect:
      - {children_returned: {min: 10, by: "2023-12-10T00:00:00+03:00"}}   # or children_returned: 10
      - {children_waiting: {guardian_not_located: 1, document_missing: 1}}
      - {siblings_together: true}

``children_returned``
    Children in a group whose journey ends (arrives home) by ``by`` (any time when absent),
    at least ``min``.
``children_waiting``
    For each reason named, exactly that many children wait with it (codes as in the plan's
    ``repatriation.waiting``); reasons not named are not checked.
``siblings_together``
    No sibling group is split between groups or between going and waiting (``false``
    expects a split).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from planner.expect import KINDS, Evidence, Expectation
from planner.repatriation.model import REASONS


def _part(ev: Evidence) -> dict[str, Any] | None:
    if ev.plan is None or ev.plan.repatriation is None:
        return None
    return ev.plan.repatriation.model_dump(mode="json", by_alias=True)


class ReturnedSpec(BaseModel):
    """``children_returned``: at least ``min`` children home, by ``by`` when given."""

    model_config = ConfigDict(extra="forbid")

    min: int = Field(ge=0)
    by: datetime | None = None

    @field_validator("by")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("needs a timezone offset (e.g. 2023-12-10T00:00:00+03:00)")
        return v


class ChildrenReturned(Expectation):
    """At least this many children home (by a time)."""

    kind: ClassVar[str] = "children_returned"
    children_returned: ReturnedSpec

    @field_validator("children_returned", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        return {"min": v} if isinstance(v, int) and not isinstance(v, bool) else v

    def label(self) -> str:
        s = self.children_returned
        by = f" by {s.by.isoformat(timespec='minutes')}" if s.by else ""
        return f"at least {s.min} children home{by}"

    def measure(self, ev: Evidence) -> tuple[bool, Any, str]:
        part = _part(ev)
        if part is None:
            return False, None, "the plan has no repatriation schedule"
        s = self.children_returned
        home = sum(
            len(g["children"])
            for g in part["groups"]
            if s.by is None or datetime.fromisoformat(g["arrive"]) <= s.by
        )
        return home >= s.min, home, f"{home} of {part['children']} home (bound {part['bound']})"


class ChildrenWaiting(Expectation):
    """Exactly this many children wait for each reason named."""

    kind: ClassVar[str] = "children_waiting"
    children_waiting: dict[str, int]

    @field_validator("children_waiting")
    @classmethod
    def _codes(cls, v: dict[str, int]) -> dict[str, int]:
        bad = [k for k in v if k not in REASONS]
        if bad:
            raise ValueError(f"unknown reason {bad[0]!r} (known: {', '.join(REASONS)})")
        return v

    def label(self) -> str:
        return "children waiting: " + ", ".join(
            f"{n} {k}" for k, n in self.children_waiting.items()
        )

    def measure(self, ev: Evidence) -> tuple[bool, Any, str]:
        part = _part(ev)
        if part is None:
            return False, None, "the plan has no repatriation schedule"
        got: dict[str, int] = {}
        for w in part["waiting"]:
            got[w["reason"]] = got.get(w["reason"], 0) + 1
        seen = {k: got.get(k, 0) for k in self.children_waiting}
        off = [
            f"{k} {seen[k]} (expected {n})"
            for k, n in self.children_waiting.items()
            if seen[k] != n
        ]
        return (
            not off,
            seen,
            "; ".join(off) if off else ", ".join(f"{k} {n}" for k, n in seen.items()),
        )


class SiblingsTogether(Expectation):
    """No sibling group split (true), or some split (false)."""

    kind: ClassVar[str] = "siblings_together"
    siblings_together: bool

    def label(self) -> str:
        return "siblings kept together" if self.siblings_together else "some siblings split"

    def measure(self, ev: Evidence) -> tuple[bool, Any, str]:
        from planner.repatriation.spec import parse_repatriation

        part = _part(ev)
        spec = parse_repatriation(ev.scenario)
        if part is None or spec is None:
            return False, None, "the plan has no repatriation schedule"
        where = {c: g["id"] for g in part["groups"] for c in g["children"]}
        sib: dict[str, set[str | None]] = {}
        for c in spec.child_list():
            if c.sibling_group:
                sib.setdefault(c.sibling_group, set()).add(where.get(c.id))
        split = sorted(s for s, places in sib.items() if len(places) > 1)
        detail = (
            f"split: {', '.join(split)}" if split else f"all {len(sib)} sibling groups together"
        )
        return (not split) == self.siblings_together, len(split), detail


for _kind in (ChildrenReturned, ChildrenWaiting, SiblingsTogether):
    KINDS.setdefault(_kind.kind, _kind)
