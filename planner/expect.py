"""Expectations: what must hold in a scenario's plan, written in its ``expect`` section.

Planners and negotiators keep a folder of scenarios with what must hold ("are all wounded
out by day two? does any bus pass within 3 km of the front?") and check them again when
the data or the terms change (``planner check``, ``pytest scenarios/``).

The ``expect`` section is a list; each item has an optional ``name`` (default: its kind)
and exactly one *kind* key, which says what is expected::

    expect:
      - {name: enough-out, min_evacuated: {total: 3000, wounded: 40}}   # or min_evacuated: 3000
      - {name: wounded_out_by, wounded_out_by: "2022-03-17T18:00:00+02:00"}
      - {out_by: {by: "2022-03-17T19:00:00+02:00", groups: [wounded, children]}}
      - {max_risk_km: {total: 500, per_vehicle: 30}}                    # or max_risk_km: 500
      - {min_front_distance_km: 3}
      - {max_vehicles: 40}
      - {exchange_completed_by: "2022-03-20T18:00:00+02:00"}
      - {parity_every_event: true}            # or {by_category: true, ratio: {ua: 1, ru: 1}}
      - {plan_exists: true}                   # false: expect that nothing can be planned
      - {terms_infeasible: true}
      # repatriation (see planner/repatriation/expectations.py):
      - {children_returned: {min: 10, by: "2023-12-10T00:00:00+03:00"}}
      - {children_waiting: {guardian_not_located: 1}}
      - {siblings_together: true}

``<group>_out_by`` (``wounded_out_by``, ``children_out_by``, ``reduced_mobility_out_by``,
``general_out_by``, ``all_out_by``) is short for ``out_by`` with that group.

How each kind is measured
-------------------------
``min_evacuated``
    ``plan.totals.evacuated`` per group and ``total`` against the minimum.
``out_by``
    A person is out when the stop where they alight at a reception centre *arrives* no
    later than the deadline.  People are followed from the assembly point where they
    boarded to the stop where they alight (first on, first off per group within a
    vehicle), so the message names the assembly points where people are still waiting.
``max_risk_km``
    ``total``: the plan's ``risk_km``; ``per_vehicle``: the largest sum of the legs'
    ``risk_km`` of one vehicle.
``min_front_distance_km``
    The shortest distance between any leg's road path and the frontline of the scenario,
    measured with shapely in a local azimuthal equidistant projection centred on each
    path (metres are true to well under 0.1 % at these distances).  A leg that crosses the
    line of contact at a crossing point must touch the line there, so the part of the
    leg within the ``radius_m`` of the crossing points the leg uses is left out.  Holds
    trivially when the scenario has no frontline or the plan no leg.
``max_vehicles``
    ``plan.vehicles_used``.
``exchange_completed_by`` and ``parity_every_event``
    Read ``plan.exchange`` (:class:`planner.exchange_result.ExchangePlan`): its ``status``,
    its ``events`` (each with ``start``, ``end`` and ``counts``: party, facility, category,
    people) and its ``conflicts``.  The exchange is completed by a time when its status is not
    ``infeasible``, it has events, and the last event ends by then.  Parity
    holds in an event when every party releases the same number of people (divided by its
    ``ratio`` weight when one is given; per category with ``by_category: true``).
``plan_exists`` / ``terms_infeasible``
    A plan exists when there is one, the evacuation (if any) moves somebody and the
    exchange (if any) is not ``infeasible``.  The terms are infeasible when the evidence
    gives reasons why no plan was made or the exchange status is ``infeasible``.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from planner.errors import ScenarioError, validation_error_line
from planner.scenario import GROUPS

if TYPE_CHECKING:
    from planner.exchange_result import ExchangePlan
    from planner.network import Layers
    from planner.plan import Plan
    from planner.scenario import Scenario

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
"""Expectation and variant names: used in test ids, so no spaces and no ``::``."""

GroupOrAll = Literal["wounded", "children", "reduced_mobility", "general", "all"]
GroupOrTotal = Literal["wounded", "children", "reduced_mobility", "general", "total"]


def _every_group() -> list[GroupOrAll]:
    return ["all"]


_INFEASIBLE_STATUSES = {"infeasible"}
_INCOMPLETE_STATUSES = {"infeasible", "partial", "incomplete", "failed"}


# --------------------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    """The result of checking one expectation against a plan.

    Attributes
    ----------
    name
        The expectation's name.
    kind
        Its kind (``out_by``, ``min_evacuated``, ...).
    passed
        Whether it holds.
    measured
        The measured value (a number, a mapping of numbers, or a word), for reports.
    message
        One line: what was expected, ``passed`` or ``failed``, and the measured value.
    """

    name: str
    kind: str
    passed: bool
    measured: Any
    message: str


@dataclass
class Evidence:
    """What expectations are checked against: a scenario and what planning gave.

    Attributes
    ----------
    scenario
        The (variant) scenario that was planned.
    plan
        The plan, or ``None`` when no plan was made.
    infeasible
        The reasons why no plan was made, when they are known.
    """

    scenario: Scenario
    plan: Plan | None
    infeasible: list[str] | None = None
    _layers: Layers | None = field(default=None, repr=False)

    def layers(self) -> Layers:
        """The scenario's geometric layers (loaded once)."""
        if self._layers is None:
            from planner.network import load_layers

            self._layers = load_layers(self.scenario)
        return self._layers


def _fmt(x: float) -> str:
    if isinstance(x, int) or float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.1f}"


def _no_plan(ev: Evidence) -> str:
    why = "; ".join(ev.infeasible or []) or "planning found no plan"
    return f"no plan ({why})"


def validation_error(err: ValidationError) -> tuple[str, str]:
    """``(dotted field, problem)`` of the first error, as scenario errors give them."""
    sub, msg = validation_error_line(err)
    return sub.replace(".[key]", ""), msg


def _tz_aware(v: datetime) -> datetime:
    if v.tzinfo is None:
        raise ValueError("needs a timezone offset (e.g. 2022-03-17T18:00:00+02:00)")
    return v


# --------------------------------------------------------------------------- kinds


class Expectation(BaseModel):
    """Base of every expectation kind: a ``name`` and one kind key (see the module doc)."""

    model_config = ConfigDict(extra="forbid")

    kind: ClassVar[str] = ""
    name: str = Field(default="", pattern=r"^$|" + NAME_PATTERN)

    def label(self) -> str:
        """What is expected, in words (the start of the message)."""
        raise NotImplementedError

    def measure(self, ev: Evidence) -> tuple[bool, Any, str]:
        """Return ``(passed, measured value, detail)``."""
        raise NotImplementedError

    def evaluate(self, ev: Evidence) -> Outcome:
        """Check the expectation against a plan.

        Parameters
        ----------
        ev
            The scenario and what planning gave.

        Returns
        -------
        Outcome
            With the measured value and a one-line message.
        """
        ok, measured, detail = self.measure(ev)
        word = "passed" if ok else "failed"
        return Outcome(
            self.name, self.kind, bool(ok), measured, f"{self.label()}: {word}, {detail}"
        )


class MinEvacuated(Expectation):
    """At least this many people evacuated, in total (a number) or per group (a mapping)."""

    kind: ClassVar[str] = "min_evacuated"
    min_evacuated: dict[GroupOrTotal, int]

    @field_validator("min_evacuated", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        return {"total": v} if isinstance(v, int | float) and not isinstance(v, bool) else v

    @field_validator("min_evacuated")
    @classmethod
    def _nonneg(cls, v: dict[str, int]) -> dict[str, int]:
        if any(x < 0 for x in v.values()):
            raise ValueError("minimums must be 0 or more")
        if not v:
            raise ValueError("give at least one group or 'total'")
        return v

    def _mins(self) -> dict[str, int]:
        return {g: n for g, n in self.min_evacuated.items()}

    def label(self) -> str:
        return (
            "at least "
            + ", ".join(f"{_fmt(n)} {g}" for g, n in self._mins().items())
            + " evacuated"
        )

    def measure(self, ev: Evidence) -> tuple[bool, Any, str]:
        if ev.plan is None:
            return False, None, _no_plan(ev)
        got = {g: int(ev.plan.totals.evacuated.get(g, 0)) for g in self._mins()}
        short = [f"{g} {_fmt(got[g])} < {_fmt(n)}" for g, n in self._mins().items() if got[g] < n]
        if short:
            return False, got, "; ".join(short)
        return True, got, ", ".join(f"{g} {_fmt(got[g])}" for g in got)


class OutBySpec(BaseModel):
    """``out_by``: every person of ``groups`` (default all) delivered ``by`` a time."""

    model_config = ConfigDict(extra="forbid")

    by: datetime
    groups: list[GroupOrAll] = Field(default_factory=_every_group, min_length=1)

    _aware = field_validator("by")(_tz_aware)


class OutBy(Expectation):
    """Everyone of some groups out (alighted at a reception centre) by a time."""

    kind: ClassVar[str] = "out_by"
    out_by: OutBySpec

    def _groups(self) -> list[str]:
        gs = self.out_by.groups
        return list(GROUPS) if "all" in gs else [g for g in GROUPS if g in gs]

    def label(self) -> str:
        gs = self.out_by.groups
        who = "everyone" if "all" in gs else " and ".join(gs)
        return f"{who} out by {self.out_by.by.isoformat(timespec='minutes')}"

    def measure(self, ev: Evidence) -> tuple[bool, Any, str]:
        sc_ev = ev.scenario.evacuation
        groups = self._groups()
        if sc_ev is None:
            return True, 0, "the scenario evacuates nobody"
        points = sc_ev.assembly_points if isinstance(sc_ev.assembly_points, list) else []
        waiting = {a.id: sum(a.require_people().as_dict()[g] for g in groups) for a in points}
        total = sum(waiting.values())
        if ev.plan is None:
            return (
                (total == 0),
                total,
                f"{_fmt(total)} of {_fmt(total)} still waiting; {_no_plan(ev)}",
            )
        out = delivered_by_site(ev.plan, self.out_by.by)
        left = {
            s: max(0, n - sum(out.get(s, {}).get(g, 0) for g in groups)) for s, n in waiting.items()
        }
        still = sum(left.values())
        if still == 0:
            return True, 0, f"all {_fmt(total)} out"
        parts = [
            f"{_fmt(left[s])} of {_fmt(waiting[s])}"
            + (" still waiting" if i == 0 else "")
            + f" at {s}"
            for i, s in enumerate(s for s in waiting if left[s] > 0)
        ]
        return False, still, ", ".join(parts)


def delivered_by_site(plan: Plan, deadline: datetime | None = None) -> dict[str, dict[str, int]]:
    """People delivered to reception centres, by the assembly point they boarded at.

    Parameters
    ----------
    plan
        An evacuation plan.
    deadline
        Count only people whose reception stop arrives by this time (all when ``None``).

    Returns
    -------
    dict
        ``{assembly point: {group: people}}``.

    Notes
    -----
    Stops record how many of each group board and alight, not where those alighting came
    from; within a vehicle, people of a group alight in the order they boarded.
    """
    assembly = {s.id for s in plan.sites if s.kind == "assembly"}
    reception = {s.id for s in plan.sites if s.kind == "reception"}
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for v in plan.vehicles:
        onboard: dict[str, deque[list[Any]]] = defaultdict(deque)
        for st in v.stops:
            for g, n in st.alight.items():
                left = int(n)
                q = onboard[g]
                while left > 0 and q:
                    site, k = q[0]
                    take = min(k, left)
                    if st.site in reception and (
                        deadline is None or datetime.fromisoformat(st.arrive) <= deadline
                    ):
                        out[site][g] += take
                    left -= take
                    q[0][1] -= take
                    if q[0][1] == 0:
                        q.popleft()
            for g, n in st.board.items():
                if n and st.site in assembly:
                    onboard[g].append([st.site, int(n)])
    return {s: dict(gs) for s, gs in out.items()}


class RiskCap(BaseModel):
    """``max_risk_km`` as a mapping: a cap on the total and/or on each vehicle."""

    model_config = ConfigDict(extra="forbid")

    total: float | None = Field(default=None, ge=0)
    per_vehicle: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some(self) -> RiskCap:
        if self.total is None and self.per_vehicle is None:
            raise ValueError("give 'total', 'per_vehicle' or both")
        return self


class MaxRiskKm(Expectation):
    """At most this many km driven under risk, in total (a number) or per vehicle."""

    kind: ClassVar[str] = "max_risk_km"
    max_risk_km: RiskCap

    @field_validator("max_risk_km", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        return {"total": v} if isinstance(v, int | float) and not isinstance(v, bool) else v

    def _cap(self) -> RiskCap:
        return self.max_risk_km

    def label(self) -> str:
        c = self._cap()
        parts = ([f"{_fmt(c.total)} km in total"] if c.total is not None else []) + (
            [f"{_fmt(c.per_vehicle)} km per vehicle"] if c.per_vehicle is not None else []
        )
        return "at most " + " and ".join(parts) + " under risk"

    def measure(self, ev: Evidence) -> tuple[bool, Any, str]:
        if ev.plan is None:
            return False, None, _no_plan(ev)
        c = self._cap()
        per = {v.id: sum(leg.risk_km for leg in v.legs) for v in ev.plan.vehicles}
        worst = max(per, key=lambda k: (per[k], k), default=None)
        worst_km = per[worst] if worst is not None else 0.0
        measured = {"total": round(ev.plan.risk_km, 3), "per_vehicle": round(worst_km, 3)}
        bad = []
        if c.total is not None and ev.plan.risk_km > c.total + 1e-9:
            bad.append(f"{ev.plan.risk_km:,.1f} km in total")
        if c.per_vehicle is not None and worst_km > c.per_vehicle + 1e-9:
            bad.append(f"{worst} drove {worst_km:,.1f} km under risk")
        if bad:
            return False, measured, "; ".join(bad)
        detail = f"{ev.plan.risk_km:,.1f} km in total"
        if worst is not None:
            detail += f", at most {worst_km:,.1f} km by one vehicle ({worst})"
        return True, measured, detail


class MinFrontDistance(Expectation):
    """No leg closer than this many km to the frontline (outside its crossing points)."""

    kind: ClassVar[str] = "min_front_distance_km"
    min_front_distance_km: float = Field(ge=0)

    def label(self) -> str:
        return f"every leg at least {_fmt(self.min_front_distance_km)} km from the front"

    def measure(self, ev: Evidence) -> tuple[bool, Any, str]:
        if ev.plan is None:
            return False, None, _no_plan(ev)
        layers = ev.layers()
        if layers.frontline is None:
            return True, None, "the scenario has no frontline"
        found = closest_to_front(ev.plan, layers)
        if found is None:
            return True, None, "no leg driven away from the crossing points"
        km, vid, frm, to = found
        where = f"{vid} {frm} → {to}"
        if km < self.min_front_distance_km:
            return False, round(km, 3), f"{where} passes {km:,.2f} km from the front"
        return True, round(km, 3), f"closest {km:,.2f} km ({where})"


def _local_projection(lon0: float, lat0: float) -> Callable[[Any], Any]:
    """Geometries from WGS84 to metres of an azimuthal equidistant projection at a point."""
    import shapely
    from pyproj import CRS, Transformer

    crs = CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m +no_defs")
    proj = Transformer.from_crs("EPSG:4326", crs, always_xy=True)

    def _xy(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(proj.transform(xy[:, 0], xy[:, 1]))

    return lambda geom: shapely.transform(geom, _xy)


def closest_to_front(plan: Plan, layers: Layers) -> tuple[float, str, str, str] | None:
    """The leg that comes closest to the frontline, outside the crossing points it uses.

    Parameters
    ----------
    plan
        An evacuation plan.
    layers
        The scenario's layers (frontline and crossing points).

    Returns
    -------
    tuple or None
        ``(km, vehicle id, from, to)``, or ``None`` when there is no frontline, no leg, or
        every leg lies wholly within the radius of the crossing points it uses.
    """
    import shapely
    from shapely.geometry import LineString, Point

    if layers.frontline is None:
        return None
    crossing = {c.id: c for c in layers.crossings}
    cache: dict[tuple[tuple[tuple[float, ...], ...], tuple[str, ...]], float | None] = {}
    best: tuple[float, str, str, str] | None = None
    for v in plan.vehicles:
        for leg in v.legs:
            key = (tuple(tuple(p) for p in leg.path), tuple(leg.crossings))
            if key not in cache:
                pts = list(key[0])
                if len(pts) < 2:
                    pts = pts * 2
                lon0 = sum(p[0] for p in pts) / len(pts)
                lat0 = sum(p[1] for p in pts) / len(pts)
                fwd = _local_projection(lon0, lat0)
                line = fwd(LineString(pts))
                discs = [
                    fwd(Point(crossing[c].lon, crossing[c].lat)).buffer(crossing[c].radius_m, 64)
                    for c in leg.crossings
                    if c in crossing
                ]
                if discs:
                    line = line.difference(shapely.union_all(discs))
                if line.is_empty:
                    cache[key] = None
                else:
                    front = fwd(layers.frontline)
                    cache[key] = float(line.distance(front)) / 1000.0
            km = cache[key]
            if km is not None and (best is None or km < best[0]):
                best = (km, v.id, leg.from_, leg.to)
    return best


class MaxVehicles(Expectation):
    """At most this many vehicles used."""

    kind: ClassVar[str] = "max_vehicles"
    max_vehicles: int = Field(ge=0)

    def label(self) -> str:
        return f"at most {_fmt(self.max_vehicles)} vehicles used"

    def measure(self, ev: Evidence) -> tuple[bool, Any, str]:
        if ev.plan is None:
            return False, None, _no_plan(ev)
        n = ev.plan.vehicles_used
        return n <= self.max_vehicles, n, f"{n} of {ev.plan.vehicles_total} used"


def _exchange(ev: Evidence) -> ExchangePlan | None:
    return ev.plan.exchange if ev.plan is not None else None


class ExchangeCompletedBy(Expectation):
    """The exchange completed, its last event ending by a time."""

    kind: ClassVar[str] = "exchange_completed_by"
    exchange_completed_by: datetime

    _aware = field_validator("exchange_completed_by")(_tz_aware)

    def label(self) -> str:
        return f"exchange completed by {self.exchange_completed_by.isoformat(timespec='minutes')}"

    def measure(self, ev: Evidence) -> tuple[bool, Any, str]:
        ex = _exchange(ev)
        if ex is None:
            return (
                False,
                None,
                _no_plan(ev) if ev.plan is None else "the plan has no exchange schedule",
            )
        ends = [datetime.fromisoformat(e.end) for e in ex.events]
        last = max(ends) if ends else None
        last_s = last.isoformat(timespec="minutes") if last is not None else None
        if ex.status in _INCOMPLETE_STATUSES:
            why = f" ({'; '.join(ex.conflicts[:3])})" if ex.conflicts else ""
            return False, last_s, f"exchange {ex.status}{why}"
        if last is None:
            return False, None, "no exchange event scheduled"
        if last > self.exchange_completed_by:
            return False, last_s, f"last event ends {last_s}"
        return True, last_s, f"last event ends {last_s}"


class ParitySpec(BaseModel):
    """``parity_every_event`` as a mapping: ``held`` (default true; false expects parity to
    break somewhere), per category, and/or with a ratio weight per party."""

    model_config = ConfigDict(extra="forbid")

    held: bool = True
    by_category: bool = False
    ratio: dict[str, float] | None = None

    @field_validator("ratio")
    @classmethod
    def _pos(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None and any(w <= 0 for w in v.values()):
            raise ValueError("ratio weights must be positive")
        return v


class ParityEveryEvent(Expectation):
    """In every exchange event each party releases the same number (or per its ratio)."""

    kind: ClassVar[str] = "parity_every_event"
    parity_every_event: ParitySpec

    @field_validator("parity_every_event", mode="before")
    @classmethod
    def _flag(cls, v: Any) -> Any:
        return {"held": v} if isinstance(v, bool) else v

    def _spec(self) -> ParitySpec:
        return self.parity_every_event

    def _wanted(self) -> bool:
        return self.parity_every_event.held

    def label(self) -> str:
        return (
            "parity held in every exchange event"
            if self._wanted()
            else "parity broken in some exchange event"
        )

    def measure(self, ev: Evidence) -> tuple[bool, Any, str]:
        ex = _exchange(ev)
        if ex is None:
            return (
                False,
                None,
                _no_plan(ev) if ev.plan is None else "the plan has no exchange schedule",
            )
        spec = self._spec()
        broken = []
        events = ex.events
        for i, e in enumerate(events):
            per: dict[str, dict[str, float]] = {}
            for party, facilities in e.counts.items():
                w = (spec.ratio or {}).get(party, 1.0)
                tally: dict[str, float] = defaultdict(float)
                for cats in facilities.values():
                    for cat, n in cats.items():
                        tally[cat if spec.by_category else "all"] += float(n) / w
                per[party] = tally
            keys = {k for t in per.values() for k in t}
            for k in sorted(keys):
                vals = {p: per[p].get(k, 0.0) for p in per}
                if len(vals) >= 2 and max(vals.values()) - min(vals.values()) > 1e-9:
                    when = e.start
                    what = ", ".join(f"{p} {_fmt(n)}" for p, n in sorted(vals.items()))
                    broken.append(f"event {i} ({when}){'' if k == 'all' else ' ' + k}: {what}")
                    break
        held = not broken
        if not events:
            detail = "no exchange event scheduled"
        elif held:
            detail = f"held in all {len(events)} events"
        else:
            detail = f"broken in {len(broken)} of {len(events)} events, first {broken[0]}"
        return held == self._wanted(), len(broken), detail


def _infeasible(ev: Evidence) -> tuple[bool, str]:
    if ev.plan is None:
        return True, _no_plan(ev)
    ex = ev.plan.exchange
    if ex is not None and ex.status in _INFEASIBLE_STATUSES:
        why = f" ({'; '.join(ex.conflicts[:3])})" if ex.conflicts else ""
        return True, f"exchange infeasible{why}"
    return False, ""


class PlanExists(Expectation):
    """A plan exists (true) or none can be made (false)."""

    kind: ClassVar[str] = "plan_exists"
    plan_exists: bool

    def label(self) -> str:
        return "a plan exists" if self.plan_exists else "no plan can be made"

    def measure(self, ev: Evidence) -> tuple[bool, Any, str]:
        infeasible, why = _infeasible(ev)
        if infeasible:
            return (not self.plan_exists), False, why
        assert ev.plan is not None
        p = ev.plan
        moves = ev.scenario.evacuation is None or p.evacuated_total() > 0
        if not moves:
            return (not self.plan_exists), False, "the plan evacuates nobody"
        bits = []
        if ev.scenario.evacuation is not None:
            bits.append(f"{_fmt(p.evacuated_total())} evacuated ({p.status})")
        if p.exchange is not None:
            bits.append(f"exchange {p.exchange.status}")
        return self.plan_exists, True, ", ".join(bits) or "plan made"


class TermsInfeasible(Expectation):
    """The terms are infeasible (true) or feasible (false)."""

    kind: ClassVar[str] = "terms_infeasible"
    terms_infeasible: bool

    def label(self) -> str:
        return "the terms are infeasible" if self.terms_infeasible else "the terms are feasible"

    def measure(self, ev: Evidence) -> tuple[bool, Any, str]:
        infeasible, why = _infeasible(ev)
        if not infeasible:
            status = (
                ev.plan.exchange.status
                if ev.plan and ev.plan.exchange
                else ev.plan.status
                if ev.plan
                else "?"
            )
            why = f"a plan was made ({status})"
        return infeasible == self.terms_infeasible, infeasible, why


KINDS: dict[str, type[Expectation]] = {
    k.kind: k
    for k in (
        MinEvacuated,
        OutBy,
        MaxRiskKm,
        MinFrontDistance,
        MaxVehicles,
        ExchangeCompletedBy,
        ParityEveryEvent,
        PlanExists,
        TermsInfeasible,
    )
}
"""Expectation kinds by their key."""

SHORTHANDS: dict[str, str] = {f"{g}_out_by": g for g in (*GROUPS, "all")}
"""``<group>_out_by: TIME`` keys, short for ``out_by: {by: TIME, groups: [<group>]}``."""


def known_kinds() -> list[str]:
    """Every key that may name an expectation kind."""
    return [*KINDS, *SHORTHANDS]


# --------------------------------------------------------------------------- parsing


def parse_expectation(item: Any, source: str, field: str) -> Expectation:
    """Validate one item of an ``expect`` list.

    Parameters
    ----------
    item
        The item as YAML gives it: a mapping with an optional ``name`` and one kind key.
    source
        File name for error messages.
    field
        Dotted path of the item (``expect.3``), for error messages.

    Returns
    -------
    Expectation

    Raises
    ------
    ScenarioError
        When the kind is unknown, missing or repeated, or its value is invalid.
    """
    known = ", ".join(known_kinds())
    if not isinstance(item, dict):
        raise ScenarioError(source, field, f"an expectation is a mapping with one of: {known}")
    keys = [k for k in item if k != "name"]
    if not keys:
        raise ScenarioError(source, field, f"give one expectation (known: {known})")
    unknown = [k for k in keys if k not in KINDS and k not in SHORTHANDS]
    if unknown:
        raise ScenarioError(
            source, field, f"unknown expectation {str(unknown[0])!r} (known: {known})"
        )
    if len(keys) > 1:
        raise ScenarioError(
            source,
            field,
            f"give one expectation per item, not {len(keys)} ({', '.join(map(str, keys))})",
        )
    key = str(keys[0])
    data = dict(item)
    if key in SHORTHANDS:
        data = {
            "name": item.get("name") or key,
            "out_by": {"by": item[key], "groups": [SHORTHANDS[key]]},
        }
        kind = "out_by"
    else:
        kind = key
        data.setdefault("name", key)
    try:
        exp = KINDS[kind].model_validate(data)
    except ValidationError as err:
        sub, msg = validation_error(err)
        if key in SHORTHANDS and sub.startswith("out_by.by"):
            sub = key + sub.removeprefix("out_by.by")
        raise ScenarioError(source, f"{field}.{sub}" if sub else field, msg) from None
    return exp


def parse_expectations(raw: Any, source: str, field: str = "expect") -> list[Expectation]:
    """Validate an ``expect`` section.

    Parameters
    ----------
    raw
        The section as YAML gives it (a list, or ``None`` for none).
    source
        File name for error messages.
    field
        Dotted path of the section (``expect`` or ``variants.2.expect``).

    Returns
    -------
    list of Expectation

    Raises
    ------
    ScenarioError
        Naming the file, the item (``expect.3``) and the problem; also when two items
        share a name.

    Examples
    --------
    >>> [e.name for e in parse_expectations([{"max_vehicles": 3}, {"name": "w", "wounded_out_by": "2022-03-17T18:00:00+02:00"}], "s.yaml")]
    ['max_vehicles', 'w']
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ScenarioError(source, field, "must be a list of expectations")
    out = [parse_expectation(item, source, f"{field}.{i}") for i, item in enumerate(raw)]
    seen: set[str] = set()
    for i, e in enumerate(out):
        if e.name in seen:
            raise ScenarioError(
                source,
                f"{field}.{i}.name",
                f"{e.name!r} is used twice; give each expectation its own name",
            )
        seen.add(e.name)
    return out


def evaluate(expectations: list[Expectation], ev: Evidence) -> list[Outcome]:
    """Check every expectation against one plan.

    Parameters
    ----------
    expectations
        Validated expectations.
    ev
        The scenario and what planning gave.

    Returns
    -------
    list of Outcome
        In the order of ``expectations``.
    """
    return [e.evaluate(ev) for e in expectations]


__all__ = [
    "KINDS",
    "NAME_PATTERN",
    "SHORTHANDS",
    "Evidence",
    "Expectation",
    "Outcome",
    "closest_to_front",
    "delivered_by_site",
    "evaluate",
    "known_kinds",
    "parse_expectation",
    "parse_expectations",
]
