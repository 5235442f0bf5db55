"""Exchanges of prisoners and detained civilians: terms → CP-SAT over counts → manifests.

A scenario's ``exchange`` section names two parties, the detention facilities with their
buses, the people each party holds (a pseudonymous roster CSV or aggregate counts), the
exchange points with their windows and handover rate, and the terms a mediator arranged:
ratios, parity per event, categories exchanged all for all, an order of precedence between
categories, limits per event and per day and the dates the mediator is available.

The model works on integer counts per (event slot, facility, category), not on persons, so
it scales to thousands of people.  Each exchange point's windows are cut into event slots of
``event_min`` minutes; a facility may send people to a slot only when its transfer can leave
after the window opens and arrive ``transfer_buffer_min`` before the slot starts, and its
buses (out and back) are never double-booked.  Every term is a CP-SAT enforcement literal;
the schedule maximises people exchanged weighted by category, then the earliest exchange,
then the fewest events (three lexicographic solves).  When the terms cannot all hold, a
feasibility model solved under assumptions gives a core of terms
(``sufficient_assumptions_for_infeasibility``), minimised by deletion, and the least
important of them is dropped to show the closest schedule.  Individuals are then assigned to
the events deterministically: by precedence, medical flag, longest detained first, id; the
members of a group always travel and are handed over together.

A roster's ``name`` column, or any column outside the schema, is never read into the plan.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from planner.errors import ScenarioError
from planner.scenario import (
    Location,
    PlaceRef,
    Scenario,
    Window,
    _check_lonlat,
    _error_line,
    location_lonlat,
)

if TYPE_CHECKING:
    import folium

    from planner.network import PreparedNetwork

ROSTER_COLUMNS: tuple[str, ...] = ("id", "held_by", "facility", "category", "detained_since", "medical", "group")
"""Columns read from a roster; every other column (``name`` in particular) is ignored."""
MANIFEST_COLUMNS: tuple[str, ...] = ("event", "party", "id", "facility", "category", "medical", "group", "detained_since", "source")
"""Columns of a manifest CSV: pseudonymous ids only, never a name."""
DEFAULT_RELAX_ORDER: tuple[str, ...] = (
    "max_per_day",
    "max_per_event",
    "ratio.",
    "precedence",
    "window.",
    "mediator_dates",
    "all_for_all.",
    "ratio",
    "parity_per_event",
)
"""Terms from least to most important (a trailing dot is a prefix): the least important term
of a conflict is the one dropped for the closest schedule."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _loc(v: Any) -> Any:
    return v if isinstance(v, PlaceRef) else _check_lonlat(v)


# --------------------------------------------------------------------------- the section


class PartySpec(_Model):
    """A party to the exchange."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str | None = None


class FacilitySpec(_Model):
    """A detention site: who holds it, where it is, and the buses it can send."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str | None = None
    party: str
    location: Location
    buses: int = Field(ge=0)
    seats: int = Field(gt=0)
    """Seats per bus."""

    _check_location = field_validator("location")(_loc)


class RosterSource(_Model):
    """People held by a party, one row per person in a CSV file."""

    roster: str


class CountsSource(_Model):
    """People held by a party as counts: ``{facility: {category: n}}``."""

    counts: dict[str, dict[str, int]]

    @field_validator("counts")
    @classmethod
    def _nonneg(cls, v: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        for fac, cats in v.items():
            for cat, n in cats.items():
                if n < 0:
                    raise ValueError(f"{fac}.{cat}: a count cannot be negative (got {n})")
        return v


class ExchangePointSpec(_Model):
    """A place where the parties hand people over."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str | None = None
    location: Location
    windows: list[Window] | None = None
    """When handovers may take place here (default: the scenario's ceasefire windows)."""
    handovers_per_hour: float = Field(gt=0)
    """People (both parties together) handed over per hour."""
    max_per_event: int = Field(gt=0)
    """Most people (both parties together) in one event."""
    event_min: int = Field(default=60, gt=0)
    """Length of an event slot in minutes."""

    _check_location = field_validator("location")(_loc)


class ParitySpec(_Model):
    """Parity per event within ``tolerance`` people (counted on the second party's side)."""

    tolerance: int = Field(default=0, ge=0)


Ratio = str | dict[str, float]


class TermsSpec(_Model):
    """What the mediator arranged."""

    ratio: Ratio = "1:1"
    """Overall ratio of people released, first party : second party (``"1:1.2"``) or per party."""
    category_ratios: dict[str, Ratio] = Field(default_factory=dict)
    """Ratio per category, over the whole exchange."""
    all_for_all: list[str] = Field(default_factory=list)
    """Categories every detainee of which, on both sides, is exchanged."""
    parity: Literal["exact", "none"] | ParitySpec = "exact"
    """Parity per event at the overall ratio: exact (to the nearest person), a tolerance, or none."""
    precedence: list[str] = Field(default_factory=list)
    """Categories in order: nobody of a later category is handed over in an event that
    starts before an event holding someone of an earlier category."""
    max_per_event: int | None = Field(default=None, gt=0)
    max_per_day: int | None = Field(default=None, gt=0)
    mediator_dates: list[date] | None = None
    """Dates the mediator is available (local dates of the event starts)."""
    relax_order: list[str] | None = None
    """Term ids from least to most important (a trailing dot is a prefix)."""


class ExchangeSpec(_Model):
    """The ``exchange`` section of a scenario, with its rosters read.

    ``people`` (after :func:`parse_exchange`) lists every detainee as a :class:`Person`.
    """

    parties: list[PartySpec | str] = Field(min_length=2, max_length=2)
    categories: dict[str, float] | list[str] | None = None
    """Categories, in order, with their weight in the objective (default: by precedence)."""
    facilities: list[FacilitySpec] = Field(min_length=1)
    detainees: dict[str, RosterSource | CountsSource]
    exchange_points: list[ExchangePointSpec] = Field(min_length=1)
    terms: TermsSpec = Field(default_factory=TermsSpec)
    transfer_buffer_min: float = Field(default=30.0, ge=0)
    """Transfers arrive this long before their event starts."""

    _people: list[Person] = PrivateAttr(default_factory=list)
    _weights: dict[str, float] = PrivateAttr(default_factory=dict)

    @field_validator("parties")
    @classmethod
    def _parties(cls, v: list[PartySpec | str]) -> list[PartySpec | str]:
        out = [p if isinstance(p, PartySpec) else PartySpec(id=p) for p in v]
        if out[0].id == out[1].id:
            raise ValueError("the two parties need different ids")
        return out

    @property
    def party_ids(self) -> list[str]:
        """The two party ids, in order."""
        return [p.id if isinstance(p, PartySpec) else p for p in self.parties]

    @property
    def people(self) -> list[Person]:
        """Every detainee (read from the rosters, or made from the counts)."""
        return self._people

    @property
    def category_ids(self) -> list[str]:
        """Categories in order (declared, else precedence then the rest by name)."""
        return list(self._weights)

    @property
    def weights(self) -> dict[str, float]:
        """Weight of each category in the objective."""
        return dict(self._weights)

    def facility(self, fid: str) -> FacilitySpec:
        """The facility with this id."""
        return next(f for f in self.facilities if f.id == fid)

    def point(self, pid: str) -> ExchangePointSpec:
        """The exchange point with this id."""
        return next(p for p in self.exchange_points if p.id == pid)

    def held(self) -> dict[str, dict[str, dict[str, int]]]:
        """People held, ``{party: {facility: {category: n}}}``."""
        out: dict[str, dict[str, dict[str, int]]] = {p: {} for p in self.party_ids}
        for person in self._people:
            cats = out[person.party].setdefault(person.facility, {})
            cats[person.category] = cats.get(person.category, 0) + 1
        return out


@dataclass(frozen=True)
class Person:
    """One detainee, pseudonymous."""

    id: str
    party: str
    facility: str
    category: str
    medical: int = 0
    group: str | None = None
    detained_since: date | None = None
    source: Literal["roster", "aggregate"] = "roster"

    def order_key(self) -> tuple[int, date, str]:
        """Who goes first within a facility and category: medical flag, longest detained, id."""
        return (-self.medical, self.detained_since or date.max, self.id)


def parse_ratio(value: Ratio, parties: list[str]) -> tuple[int, int]:
    """Turn a ratio into integer weights ``(r0, r1)`` of the first and second party.

    Parameters
    ----------
    value
        ``"1:1.2"`` (first party : second party) or ``{party: weight}``.
    parties
        The two party ids, in order.

    Returns
    -------
    tuple of int
        ``n1 * r0 == n0 * r1`` when ``n0`` and ``n1`` people are released at the ratio.

    Raises
    ------
    ValueError
        If the ratio is malformed.
    """
    if isinstance(value, str):
        parts = value.split(":")
        if len(parts) != 2:
            raise ValueError(f"a ratio is written 'a:b' (got {value!r})")
        try:
            w = [Fraction(p.strip()) for p in parts]
        except ValueError:
            raise ValueError(f"a ratio is written 'a:b' with numbers (got {value!r})") from None
    else:
        missing = [p for p in parties if p not in value]
        extra = [k for k in value if k not in parties]
        if missing or extra:
            raise ValueError(f"a ratio names both parties ({', '.join(parties)}) and nothing else")
        w = [Fraction(str(value[p])) for p in parties]
    if any(x <= 0 for x in w):
        raise ValueError("ratio weights must be positive")
    frac = (w[1] / w[0]).limit_denominator(1000)
    return frac.denominator, frac.numerator


def _within(n0: int, n1: int, r: tuple[int, int], tol: int) -> bool:
    """Whether ``n1`` is within ``tol`` people (after rounding) of ``n0`` at ratio ``r``."""
    return 2 * abs(n1 * r[0] - n0 * r[1]) <= (2 * tol + 1) * r[0]


# --------------------------------------------------------------------------- parsing


def _truthy_int(text: str) -> int:
    t = text.strip().casefold()
    if t in {"", "0", "no", "false", "n", "none"}:
        return 0
    if t in {"yes", "true", "y", "x"}:
        return 1
    n = int(t)
    if n < 0:
        raise ValueError("a medical flag is 0 or a positive priority")
    return n


def _read_roster(path: Path, party: str, spec: ExchangeSpec, facilities: dict[str, FacilitySpec]) -> list[Person]:
    src = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ScenarioError(src, "", "roster file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(src, "", f"cannot read the roster: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    for col in ("id", "held_by", "facility", "category"):
        if col not in header:
            raise ScenarioError(src, f"column {col}", "is required in a roster (id, held_by, facility, category)")
    reader.fieldnames = header
    people: list[Person] = []
    for row_no, raw in enumerate(reader, start=2):  # row 1 is the header
        row = {k: (raw.get(k) or "").strip() for k in ROSTER_COLUMNS}

        def bad(col: str, problem: str, row_no: int = row_no) -> ScenarioError:
            return ScenarioError(src, f"row {row_no}, column {col}", problem)

        if not row["id"]:
            raise bad("id", "is empty")
        if row["held_by"] != party:
            raise bad("held_by", f"{row['held_by']!r} is not {party!r}, the party this roster is given for")
        fac = facilities.get(row["facility"])
        if fac is None:
            raise bad("facility", f"{row['facility']!r} is not a facility of the exchange")
        if fac.party != party:
            raise bad("facility", f"{fac.id!r} is held by {fac.party!r}, not {party!r}")
        if not row["category"]:
            raise bad("category", "is empty")
        if spec.categories is not None and row["category"] not in _declared(spec):
            raise bad("category", f"{row['category']!r} is not a declared category ({', '.join(_declared(spec))})")
        try:
            medical = _truthy_int(row["medical"])
        except ValueError:
            raise bad("medical", f"{row['medical']!r} is not a flag (yes/no or a priority 0-9)") from None
        since = None
        if row["detained_since"]:
            try:
                since = date.fromisoformat(row["detained_since"][:10])
            except ValueError:
                raise bad("detained_since", f"{row['detained_since']!r} is not a date (YYYY-MM-DD)") from None
        people.append(Person(row["id"], party, fac.id, row["category"], medical, row["group"] or None, since, "roster"))
    return people


def _declared(spec: ExchangeSpec) -> list[str]:
    if spec.categories is None:
        return []
    return list(spec.categories) if isinstance(spec.categories, dict) else list(spec.categories)


def parse_exchange(scenario: Scenario) -> ExchangeSpec | None:
    """Validate the scenario's ``exchange`` section and read its rosters.

    Parameters
    ----------
    scenario
        A validated scenario; ``scenario.exchange`` is the raw section (or ``None``).

    Returns
    -------
    ExchangeSpec or None
        ``None`` when the scenario has no exchange section.

    Raises
    ------
    ScenarioError
        Naming ``exchange.<field>`` and the problem; a roster error names the roster file,
        the row and the column.
    """
    raw = scenario.exchange
    if raw is None:
        return None
    src = scenario.source_name()
    try:
        spec = ExchangeSpec.model_validate(raw)
    except ValidationError as err:
        field, msg = _error_line(err)
        raise ScenarioError(src, f"exchange.{field}" if field else "exchange", msg) from None
    parties = spec.party_ids
    spec.parties = [p if isinstance(p, PartySpec) else PartySpec(id=p) for p in spec.parties]

    def err(field: str, problem: str) -> ScenarioError:
        return ScenarioError(src, f"exchange.{field}", problem)

    fac_ids = [f.id for f in spec.facilities]
    pt_ids = [p.id for p in spec.exchange_points]
    for label, ids in (("facilities", fac_ids), ("exchange_points", pt_ids)):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise err(label, f"ids must be unique; repeated: {', '.join(dup)}")
    facilities = {f.id: f for f in spec.facilities}
    for i, f in enumerate(spec.facilities):
        if f.party not in parties:
            raise err(f"facilities.{i}.party", f"{f.party!r} is not one of the parties ({', '.join(parties)})")
        try:
            location_lonlat(f.location)
        except ValueError as exc:
            raise err(f"facilities.{i}.location", str(exc)) from None
    for i, p in enumerate(spec.exchange_points):
        try:
            location_lonlat(p.location)
        except ValueError as exc:
            raise err(f"exchange_points.{i}.location", str(exc)) from None
        wins = sorted(p.windows or [], key=lambda w: w.start)
        for a, b in zip(wins, wins[1:], strict=False):
            if b.start < a.end:
                raise err(f"exchange_points.{i}.windows", f"windows overlap at {b.start.isoformat()}")
        if p.windows is not None:
            p.windows = wins
    for party in spec.detainees:
        if party not in parties:
            raise err(f"detainees.{party}", f"is not one of the parties ({', '.join(parties)})")
    people: list[Person] = []
    for party in parties:
        source = spec.detainees.get(party)
        if source is None:
            continue
        if isinstance(source, RosterSource):
            path = scenario.resolve_path(source.roster)
            if not path.exists():
                raise err(f"detainees.{party}.roster", f"file not found: {path}")
            people += _read_roster(path, party, spec, facilities)
        else:
            for fac_id, cats in source.counts.items():
                fac = facilities.get(fac_id)
                if fac is None:
                    raise err(f"detainees.{party}.counts.{fac_id}", "is not a facility of the exchange")
                if fac.party != party:
                    raise err(f"detainees.{party}.counts.{fac_id}", f"is held by {fac.party!r}, not {party!r}")
                for cat, n in cats.items():
                    if spec.categories is not None and cat not in _declared(spec):
                        raise err(f"detainees.{party}.counts.{fac_id}.{cat}", "is not a declared category")
                    people += [Person(f"{fac_id}-{cat}-{k:04d}", party, fac_id, cat, source="aggregate") for k in range(1, n + 1)]
    ids = [p.id for p in people]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise err("detainees", f"person id {dup!r} appears twice (ids must be unique across both rosters)")
    groups: dict[str, set[str]] = defaultdict(set)
    for p in people:
        if p.group is not None:
            groups[p.group].add(p.facility)
    for g, facs in sorted(groups.items()):
        if len(facs) > 1:
            raise err("detainees", f"group {g!r} is split between facilities {', '.join(sorted(facs))}; a group travels together")

    # categories and weights
    terms = spec.terms
    declared = _declared(spec)
    found = sorted({p.category for p in people})
    mentioned = list(terms.precedence) + list(terms.all_for_all) + list(terms.category_ratios)
    if declared:
        cats = declared
        for c in mentioned:
            if c not in cats:
                raise err("terms", f"category {c!r} is not declared in exchange.categories")
    else:
        cats = list(dict.fromkeys(list(terms.precedence) + found + sorted(set(mentioned))))
    n_prec = len(terms.precedence)
    weights: dict[str, float] = {}
    for c in cats:
        if isinstance(spec.categories, dict):
            w = float(spec.categories[c])
            if w <= 0:
                raise err(f"categories.{c}", "a weight must be positive")
        else:
            w = float(n_prec - terms.precedence.index(c)) + 1.0 if c in terms.precedence else 1.0
        weights[c] = w
    if len(set(terms.precedence)) != len(terms.precedence):
        raise err("terms.precedence", "names a category twice")
    try:
        parse_ratio(terms.ratio, parties)
    except ValueError as exc:
        raise err("terms.ratio", str(exc)) from None
    for c, r in terms.category_ratios.items():
        try:
            parse_ratio(r, parties)
        except ValueError as exc:
            raise err(f"terms.category_ratios.{c}", str(exc)) from None
    spec._people = sorted(people, key=lambda p: (parties.index(p.party), p.facility, p.id))
    spec._weights = weights
    return spec


# --------------------------------------------------------------------------- the plan


class Transport(_Model):
    """Buses from a facility to an event."""

    facility: str
    party: str
    depart: str
    arrive: str
    buses: int
    people: int
    path: list[tuple[float, float]]
    length_m: float
    travel_s: float


class ExchangeEvent(_Model):
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


class DaySummary(_Model):
    """People and events of one day."""

    date: str
    events: int
    people: int


class ManifestInfo(_Model):
    """A manifest file written for an event and a party."""

    file: str
    event: str
    party: str
    people: int


class SiteInfo(_Model):
    """A facility or exchange point, as drawn on the map."""

    id: str
    kind: Literal["facility", "point"]
    name: str | None = None
    party: str | None = None
    location: tuple[float, float]
    snap_m: float
    buses: int | None = None
    seats: int | None = None


class ExchangePlan(_Model):
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

    def to_json(self) -> str:
        """Serialise deterministically."""
        import json

        return json.dumps(self.model_dump(mode="json"), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- the model


@dataclass
class _Slot:
    point: str
    window: int
    start: datetime
    end: datetime
    cap: int
    rank: int = 0

    @property
    def day(self) -> date:
        return self.start.date()


@dataclass
class _Term:
    id: str
    text: str


@dataclass
class _Data:
    parties: list[str]
    cats: list[str]
    facs: list[FacilitySpec]
    slots: list[_Slot]
    travel_s: dict[tuple[str, str], float]  # (facility, point) -> seconds (inf when no road)
    free: dict[tuple[str, str], int]  # (facility, category) -> people not in a group
    groups: dict[str, tuple[str, dict[str, int]]]  # group -> (facility, {category: n})
    terms: list[_Term]
    buffer_s: float


def _windows(scenario: Scenario, p: ExchangePointSpec) -> list[Window]:
    return list(p.windows) if p.windows else list(scenario.ceasefire.windows)


def _make_slots(scenario: Scenario, spec: ExchangeSpec) -> list[_Slot]:
    slots: list[_Slot] = []
    for p in spec.exchange_points:
        cap = min(p.max_per_event, int(math.floor(p.handovers_per_hour * p.event_min / 60.0 + 1e-9)))
        for wi, w in enumerate(_windows(scenario, p)):
            t = w.start
            step = timedelta(minutes=p.event_min)
            while t + step <= w.end:
                slots.append(_Slot(p.id, wi, t, t + step, cap))
                t += step
    slots.sort(key=lambda s: (s.start, s.point))
    starts = sorted({s.start for s in slots})
    rank = {t: i for i, t in enumerate(starts)}
    for s in slots:
        s.rank = rank[s.start]
    return slots


def _terms(scenario: Scenario, spec: ExchangeSpec) -> list[_Term]:
    t = spec.terms
    held = spec.held()
    parties = spec.party_ids
    out: list[_Term] = []
    if t.parity != "none":
        tol = t.parity.tolerance if isinstance(t.parity, ParitySpec) else 0
        out.append(_Term("parity_per_event", f"parity in every event at {_ratio_text(t.ratio, parties)}" + (f" within {tol}" if tol else "")))
    out.append(_Term("ratio", f"overall ratio {_ratio_text(t.ratio, parties)}"))
    for c, r in t.category_ratios.items():
        n = ", ".join(f"{p} holds {sum(f.get(c, 0) for f in held[p].values())}" for p in parties)
        out.append(_Term(f"ratio.{c}", f"{c} exchanged at {_ratio_text(r, parties)} ({n})"))
    for c in t.all_for_all:
        n = ", ".join(f"{p} holds {sum(f.get(c, 0) for f in held[p].values())}" for p in parties)
        out.append(_Term(f"all_for_all.{c}", f"every {c} detainee of both sides is exchanged ({n})"))
    if t.precedence:
        out.append(_Term("precedence", "precedence " + " before ".join(t.precedence)))
    for p in spec.exchange_points:
        for wi, w in enumerate(_windows(scenario, p)):
            out.append(_Term(f"window.{p.id}.{wi}", f"transfers to {p.id} leave once its window opens ({w.start.isoformat(timespec='minutes')} - {w.end.isoformat(timespec='minutes')})"))
    if t.mediator_dates is not None:
        out.append(_Term("mediator_dates", "mediator available on " + ", ".join(d.isoformat() for d in t.mediator_dates)))
    if t.max_per_event is not None:
        out.append(_Term("max_per_event", f"at most {t.max_per_event} people per event"))
    if t.max_per_day is not None:
        out.append(_Term("max_per_day", f"at most {t.max_per_day} people per day"))
    return out


def _ratio_text(r: Ratio, parties: list[str]) -> str:
    r0, r1 = parse_ratio(r, parties)
    return f"{parties[0]}:{parties[1]} = {r0}:{r1}"


def _travel(scenario: Scenario, spec: ExchangeSpec, network: PreparedNetwork) -> tuple[dict, dict, dict]:
    roads = network.roads
    facs = spec.facilities
    pts = spec.exchange_points
    f_ll = [location_lonlat(f.location) for f in facs]
    p_ll = [location_lonlat(p.location) for p in pts]
    snaps = roads.snap(f_ll + p_ll)
    fsn, psn = snaps[: len(facs)], snaps[len(facs) :]
    time_s, _ = roads.matrices([s.node for s in fsn], [s.node for s in psn])
    travel = {(f.id, p.id): float(time_s[i, j]) for i, f in enumerate(facs) for j, p in enumerate(pts)}
    nodes = {("f", f.id): fsn[i] for i, f in enumerate(facs)} | {("p", p.id): psn[j] for j, p in enumerate(pts)}
    lls = {("f", f.id): f_ll[i] for i, f in enumerate(facs)} | {("p", p.id): p_ll[j] for j, p in enumerate(pts)}
    return travel, nodes, lls


def _data(scenario: Scenario, spec: ExchangeSpec, travel: dict[tuple[str, str], float]) -> _Data:
    free: dict[tuple[str, str], int] = defaultdict(int)
    groups: dict[str, tuple[str, dict[str, int]]] = {}
    for p in spec.people:
        if p.group is None:
            free[(p.facility, p.category)] += 1
        else:
            fac, cats = groups.setdefault(p.group, (p.facility, {}))
            cats[p.category] = cats.get(p.category, 0) + 1
    travel_s = {k: (math.ceil(v / 60.0) * 60.0 if math.isfinite(v) else math.inf) for k, v in travel.items()}
    return _Data(
        parties=spec.party_ids,
        cats=spec.category_ids,
        facs=list(spec.facilities),
        slots=_make_slots(scenario, spec),
        travel_s=travel_s,
        free=dict(free),
        groups=dict(sorted(groups.items())),
        terms=_terms(scenario, spec),
        buffer_s=spec.transfer_buffer_min * 60.0,
    )


class _Built:
    """A CP-SAT model of the exchange, every term behind an enforcement literal."""

    def __init__(self, spec: ExchangeSpec, d: _Data) -> None:
        from ortools.sat.python import cp_model

        self.cp = cp_model
        self.m = m = cp_model.CpModel()
        self.d = d
        t = spec.terms
        parties, cats, slots = d.parties, d.cats, d.slots
        self.lit = {term.id: m.new_bool_var(term.id) for term in d.terms}
        S = range(len(slots))
        win_start = {}
        for s in slots:
            win_start[(s.point, s.window)] = min(win_start.get((s.point, s.window), s.start), s.start)
        # reachability of slot s from facility f: hard (road) and under the window term
        self.reach: dict[tuple[int, str], bool] = {}
        self.in_window: dict[tuple[int, str], bool] = {}
        for si, s in enumerate(slots):
            for f in d.facs:
                tt = d.travel_s[(f.id, s.point)]
                self.reach[(si, f.id)] = math.isfinite(tt)
                depart = s.start - timedelta(seconds=d.buffer_s + (tt if math.isfinite(tt) else 0))
                self.in_window[(si, f.id)] = depart >= win_start[(s.point, s.window)]
        # free people
        self.x: dict[tuple[int, str, str], Any] = {}
        for (fid, c), n in sorted(d.free.items()):
            for si in S:
                if self.reach[(si, fid)] and n > 0:
                    self.x[(si, fid, c)] = m.new_int_var(0, min(n, slots[si].cap), f"x_{si}_{fid}_{c}")
            m.add(sum(self.x[(si, fid, c)] for si in S if (si, fid, c) in self.x) <= n)
        # groups
        self.z: dict[tuple[int, str], Any] = {}
        for g, (fid, gcats) in d.groups.items():
            size = sum(gcats.values())
            for si in S:
                if self.reach[(si, fid)] and size <= slots[si].cap:
                    self.z[(si, g)] = m.new_bool_var(f"z_{si}_{g}")
            m.add(sum(self.z[(si, g)] for si in S if (si, g) in self.z) <= 1)

        def count(si: int, fid: str, c: str) -> Any:
            terms = [self.x[(si, fid, c)]] if (si, fid, c) in self.x else []
            for g, (gf, gcats) in d.groups.items():
                if gf == fid and gcats.get(c) and (si, g) in self.z:
                    terms.append(gcats[c] * self.z[(si, g)])
            return sum(terms) if terms else 0

        self.count = {(si, f.id, c): count(si, f.id, c) for si in S for f in d.facs for c in cats}
        held = defaultdict(int)
        for (fid, c), n in d.free.items():
            held[(fid, c)] += n
        for fid, gcats in d.groups.values():
            for c, n in gcats.items():
                held[(fid, c)] += n
        self.rel = {(si, p): sum(self.count[(si, f.id, c)] for f in d.facs if f.party == p for c in cats) for si in S for p in parties}
        self.people = {si: sum(self.rel[(si, p)] for p in parties) for si in S}
        tot = {p: sum(self.rel[(si, p)] for si in S) for p in parties}
        tot_c = {(p, c): sum(self.count[(si, f.id, c)] for si in S for f in d.facs if f.party == p) for p in parties for c in cats}

        # event used, capacity, window term
        self.used = {}
        for si, s in enumerate(slots):
            u = self.used[si] = m.new_bool_var(f"used_{si}")
            m.add(self.people[si] <= s.cap * u)
            m.add(self.people[si] >= u)
            for f in d.facs:
                if self.reach[(si, f.id)] and not self.in_window[(si, f.id)]:
                    fpeople = sum(self.count[(si, f.id, c)] for c in cats)
                    m.add(fpeople == 0).only_enforce_if(self.lit[f"window.{s.point}.{s.window}"])
        # buses: out and back, never double-booked
        self.buses = {}
        for f in d.facs:
            ivs = []
            for si, s in enumerate(slots):
                if not self.reach[(si, f.id)]:
                    continue
                tt = d.travel_s[(f.id, s.point)]
                fpeople = sum(self.count[(si, f.id, c)] for c in cats)
                b = self.buses[(si, f.id)] = m.new_int_var(0, f.buses, f"b_{si}_{f.id}")
                m.add(fpeople <= f.seats * b)
                ivs.append((si, s.start - timedelta(seconds=d.buffer_s + tt), s.end + timedelta(seconds=tt)))
            for _si, a, _e in ivs:
                over = [self.buses[(sj, f.id)] for sj, b0, b1 in ivs if b0 <= a < b1]
                if len(over) > 1:
                    m.add(sum(over) <= f.buses)
        # terms
        r = parse_ratio(t.ratio, parties)
        tol = t.parity.tolerance if isinstance(t.parity, ParitySpec) else 0

        def within(n0: Any, n1: Any, rr: tuple[int, int], tl: int, lit: Any) -> None:
            diff = n1 * rr[0] - n0 * rr[1]
            m.add(2 * diff <= (2 * tl + 1) * rr[0]).only_enforce_if(lit)
            m.add(-2 * diff <= (2 * tl + 1) * rr[0]).only_enforce_if(lit)

        p0, p1 = parties
        if "parity_per_event" in self.lit:
            for si in S:
                within(self.rel[(si, p0)], self.rel[(si, p1)], r, tol, self.lit["parity_per_event"])
        within(tot[p0], tot[p1], r, tol, self.lit["ratio"])
        for c, rc in t.category_ratios.items():
            within(tot_c[(p0, c)], tot_c[(p1, c)], parse_ratio(rc, parties), tol, self.lit[f"ratio.{c}"])
        for c in t.all_for_all:
            for f in d.facs:
                if held.get((f.id, c)):
                    m.add(sum(self.count[(si, f.id, c)] for si in S) == held[(f.id, c)]).only_enforce_if(self.lit[f"all_for_all.{c}"])
        if t.precedence:
            lit = self.lit["precedence"]
            ranks = sorted({s.rank for s in slots})
            has = {}
            for si in S:
                for c in t.precedence:
                    h = has[(si, c)] = m.new_bool_var(f"has_{si}_{c}")
                    n = sum(self.count[(si, f.id, c)] for f in d.facs)
                    m.add(n <= slots[si].cap * h)
            started = {}
            for c in t.precedence[1:]:
                for k in ranks:
                    started[(c, k)] = m.new_bool_var(f"started_{c}_{k}")
                    if k > 0:
                        m.add_implication(started[(c, k - 1)], started[(c, k)])
                for si in S:
                    m.add_implication(has[(si, c)], started[(c, slots[si].rank)])
            for i, ci in enumerate(t.precedence):
                for cj in t.precedence[i + 1 :]:
                    for si in S:
                        k = slots[si].rank
                        if k > 0:
                            m.add_bool_or([has[(si, ci)].Not(), started[(cj, k - 1)].Not()]).only_enforce_if(lit)
        if t.mediator_dates is not None:
            ok = set(t.mediator_dates)
            for si, s in enumerate(slots):
                if s.day not in ok:
                    m.add(self.people[si] == 0).only_enforce_if(self.lit["mediator_dates"])
        if t.max_per_event is not None:
            for si in S:
                m.add(self.people[si] <= t.max_per_event).only_enforce_if(self.lit["max_per_event"])
        if t.max_per_day is not None:
            days = sorted({s.day for s in slots})
            for dday in days:
                m.add(sum(self.people[si] for si in S if slots[si].day == dday) <= t.max_per_day).only_enforce_if(self.lit["max_per_day"])
        w = spec.weights
        wint = {c: int(round(w[c] * 100)) for c in cats}
        self.obj_value = sum(wint[c] * self.count[(si, f.id, c)] for si in S for f in d.facs for c in cats)
        self.obj_time = sum(slots[si].rank * self.people[si] for si in S)
        self.obj_events = sum(self.used[si] for si in S)

    def solver(self, seed: int, time_limit_s: float, det_time: float) -> Any:
        s = self.cp.CpSolver()
        s.parameters.num_workers = 1
        s.parameters.random_seed = int(seed)
        s.parameters.max_time_in_seconds = float(time_limit_s)
        s.parameters.max_deterministic_time = float(det_time)
        return s


def _feasible_with(built: _Built, active: list[str], seed: int, time_limit_s: float) -> tuple[bool | None, list[str]]:
    """Solve for feasibility assuming ``active`` terms; returns (feasible?, core of term ids)."""
    m = built.m
    m.clear_objective()
    m.clear_hints()
    m.clear_assumptions()
    m.add_assumptions([built.lit[t] for t in active])
    solver = built.solver(seed, time_limit_s, det_time=max(1.0, time_limit_s))
    solver.parameters.cp_model_presolve = False  # cores under presolve may name foreign literals
    status = solver.solve(m)
    m.clear_assumptions()
    if status in (built.cp.OPTIMAL, built.cp.FEASIBLE):
        return True, []
    if status != built.cp.INFEASIBLE:
        return None, []
    by_index = {built.lit[t].index: t for t in active}
    core = [by_index[i] for i in solver.sufficient_assumptions_for_infeasibility() if i in by_index]
    return False, sorted(set(core), key=active.index) or list(active)


def _importance(term: str, order: list[str]) -> int:
    for i, key in enumerate(order):
        if term == key or (key.endswith(".") and term.startswith(key)):
            return i
    return len(order)


def _minimal_conflict(built: _Built, active: list[str], order: list[str], seed: int, time_limit_s: float) -> list[str]:
    """A minimal set of active terms that cannot hold together (None when they can)."""
    ok, core = _feasible_with(built, active, seed, time_limit_s)
    if ok is not False:
        return []
    # deletion filter, least important first, so the most important terms stay named
    core = sorted(core, key=lambda t: (_importance(t, order), t))
    for term in list(core):
        trial = [x for x in core if x != term]
        ok2, _ = _feasible_with(built, trial, seed, time_limit_s)
        if ok2 is False:
            core = trial
    return sorted(core, key=lambda t: (_importance(t, order), t))


def _optimise(spec: ExchangeSpec, d: _Data, active: list[str], seed: int, time_limit_s: float, det_time: float) -> tuple[str, dict | None, dict]:
    """Lexicographic solve with the active terms on and the others off (a fresh model)."""
    built = _Built(spec, d)
    cp, m = built.cp, built.m
    for k, v in built.lit.items():
        m.add(v == (1 if k in active else 0))
    stages = [("value", built.obj_value, True), ("earliest", built.obj_time, False), ("events", built.obj_events, False)]
    statuses: list[dict[str, Any]] = []
    sol = None
    status_word = "optimal"
    for name, expr, maximise in stages:
        if maximise:
            m.maximize(expr)
        else:
            m.minimize(expr)
        solver = built.solver(seed, time_limit_s, det_time)
        status = solver.solve(m)
        if status == cp.INFEASIBLE:
            return "infeasible", None, {"stages": statuses}
        if status not in (cp.OPTIMAL, cp.FEASIBLE):
            if sol is None:
                return "infeasible", None, {"stages": statuses, "stopped_by": "budget"}
            status_word = "feasible"
            break
        if status != cp.OPTIMAL:
            status_word = "feasible"
        v = int(round(solver.objective_value))
        statuses.append({"stage": name, "status": solver.status_name(status).lower(), "objective": v})
        sol = _extract(built, solver)
        m.clear_hints()
        for var, val in sol["_hint"]:
            m.add_hint(var, val)
        if status == cp.OPTIMAL:
            m.add(expr == v)
        elif maximise:
            m.add(expr >= v)
        else:
            m.add(expr <= v)
    assert sol is not None
    return status_word, sol, {"stages": statuses}


def _extract(built: _Built, solver: Any) -> dict:
    x = {k: int(solver.value(v)) for k, v in built.x.items()}
    z = {k: int(solver.value(v)) for k, v in built.z.items()}
    counts = {k: (int(solver.value(e)) if not isinstance(e, int) else e) for k, e in built.count.items()}
    hint = [(var, int(solver.value(var))) for var in
            [*built.x.values(), *built.z.values(), *built.buses.values(), *built.used.values()]]
    return {"x": x, "z": z, "counts": counts, "_hint": hint}


# --------------------------------------------------------------------------- scheduling


def schedule_exchanges(
    scenario: Scenario,
    spec: ExchangeSpec | None = None,
    *,
    network: PreparedNetwork | None = None,
    time_limit_s: float = 30.0,
    seed: int = 0,
    det_time: float = 20.0,
) -> ExchangePlan:
    """Schedule the exchange of a scenario.

    Parameters
    ----------
    scenario
        A validated scenario with an ``exchange`` section.
    spec
        The parsed section (parsed from the scenario when omitted).
    network
        A prepared road network (prepared from the scenario when omitted).
    time_limit_s
        Wall-clock cap of each solve (a safety net; the deterministic budget binds first).
    seed
        CP-SAT random seed; the same scenario and seed give the same plan, byte for byte.
    det_time
        Deterministic time budget (CP-SAT ``max_deterministic_time``) of each solve.

    Returns
    -------
    ExchangePlan
        ``status`` ``infeasible`` with ``conflicts`` when the terms cannot all hold (the events
        are then the closest schedule without the ``relaxed`` terms).

    Raises
    ------
    ScenarioError
        If the scenario has no exchange section or it is invalid.
    """
    from planner.network import prepare_network

    if spec is None:
        spec = parse_exchange(scenario)
    if spec is None:
        raise ScenarioError(scenario.source_name(), "exchange", "is required here")
    net = network if network is not None else prepare_network(scenario)
    travel, nodes, lls = _travel(scenario, spec, net)
    d = _data(scenario, spec, travel)
    warnings: list[str] = []
    for (fid, pid), tt in sorted(travel.items()):
        if not math.isfinite(tt):
            warnings.append(f"no road from facility {fid} to exchange point {pid}")
    for (kind, sid), sn in sorted(nodes.items()):
        if sn.distance_m > 5000:
            warnings.append(f"{'facility' if kind == 'f' else 'exchange point'} {sid} is {sn.distance_m / 1000:.1f} km from the nearest road")
    built = _Built(spec, d)
    order = list(spec.terms.relax_order or DEFAULT_RELAX_ORDER)
    all_terms = [t.id for t in d.terms]
    text = {t.id: t.text for t in d.terms}
    active = list(all_terms)
    conflicts: list[str] = []
    conflict_terms: list[str] = []
    relaxed: list[str] = []
    status, sol, info = _optimise(spec, d, active, seed, time_limit_s, det_time)
    while status == "infeasible" and active:
        core = _minimal_conflict(built, active, order, seed, time_limit_s)
        if not core:
            break
        if not conflict_terms:
            conflict_terms = list(core)
            conflicts = [f"{t}: {text[t]}" for t in core]
        drop = max(core, key=lambda t: (-_importance(t, order), t))
        relaxed.append(drop)
        active = [t for t in active if t != drop]
        status, sol, info = _optimise(spec, d, active, seed, time_limit_s, det_time)
    if status == "infeasible" and not conflict_terms:
        warnings.append("no schedule found within the search budget (raise det_time)")
    if conflict_terms and status != "infeasible":
        for t in relaxed:
            warnings.append(f"closest schedule drops the term {t}: {text[t]}")
        status = "infeasible"
    plan = _build_plan(scenario, spec, d, net, nodes, lls, sol, status, warnings)
    plan.terms = [f"{t}: {text[t]}" for t in all_terms]
    plan.conflicts, plan.conflict_terms, plan.relaxed = conflicts, conflict_terms, relaxed
    plan.solver = {"seed": seed, "det_time": det_time, **info}
    return plan


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def _build_plan(scenario: Scenario, spec: ExchangeSpec, d: _Data, net: PreparedNetwork, nodes: dict, lls: dict,
                sol: dict | None, status: str, warnings: list[str]) -> ExchangePlan:
    parties, cats = d.parties, d.cats
    roads = net.roads
    sites = [
        SiteInfo(id=f.id, kind="facility", name=f.name, party=f.party, location=_r(lls[("f", f.id)]),
                 snap_m=round(nodes[("f", f.id)].distance_m, 1), buses=f.buses, seats=f.seats)
        for f in spec.facilities
    ] + [
        SiteInfo(id=p.id, kind="point", name=p.name, location=_r(lls[("p", p.id)]), snap_m=round(nodes[("p", p.id)].distance_m, 1))
        for p in spec.exchange_points
    ]
    held = spec.held()
    events: list[ExchangeEvent] = []
    assignment: dict[tuple[str, str], list[Person]] = {}
    if sol is not None:
        # persons, in the order they go
        queues: dict[tuple[str, str], list[Person]] = defaultdict(list)
        members: dict[str, list[Person]] = defaultdict(list)
        for p in spec.people:
            if p.group is None:
                queues[(p.facility, p.category)].append(p)
            else:
                members[p.group].append(p)
        for q in queues.values():
            q.sort(key=Person.order_key)
        pos: dict[tuple[str, str], int] = defaultdict(int)
        used = [si for si in range(len(d.slots)) if any(sol["counts"][(si, f.id, c)] for f in d.facs for c in cats)]
        path_cache: dict[tuple[str, str], dict] = {}
        for k, si in enumerate(used, start=1):
            s = d.slots[si]
            eid = f"e{k:02d}"
            pt = spec.point(s.point)
            counts: dict[str, dict[str, dict[str, int]]] = {p: {} for p in parties}
            for f in d.facs:
                fc = {c: sol["counts"][(si, f.id, c)] for c in cats if sol["counts"][(si, f.id, c)]}
                if fc:
                    counts[f.party][f.id] = fc
            people = {p: sum(n for fc in counts[p].values() for n in fc.values()) for p in parties}
            total = sum(people.values())
            end = s.start + timedelta(minutes=math.ceil(total * 60.0 / pt.handovers_per_hour - 1e-9))
            transports = []
            for f in d.facs:
                n = sum(counts[f.party].get(f.id, {}).values())
                if not n:
                    continue
                key = (f.id, s.point)
                if key not in path_cache:
                    a, b = nodes[("f", f.id)].node, nodes[("p", s.point)].node
                    det = roads.path_details(roads.path(a, b))
                    path_cache[key] = det
                det = path_cache[key]
                tt = d.travel_s[key]
                arrive = s.start - timedelta(seconds=d.buffer_s)
                transports.append(Transport(
                    facility=f.id, party=f.party, depart=_iso(arrive - timedelta(seconds=tt)), arrive=_iso(arrive),
                    buses=math.ceil(n / f.seats), people=n, path=[_r(c) for c in det["coords"]],
                    length_m=round(float(det["length_m"]), 1), travel_s=float(tt),
                ))
            events.append(ExchangeEvent(
                id=eid, point=s.point, place=s.point, location=_r(lls[("p", s.point)]), start=_iso(s.start), end=_iso(end),
                day=s.day.isoformat(), counts=counts, people={**people, "total": total}, transports=transports,
            ))
            # individuals: groups where the model put them, then the free people in order
            for p in parties:
                assignment[(eid, p)] = []
            for g, (_fid, _gc) in d.groups.items():
                if sol["z"].get((si, g)):
                    for person in sorted(members[g], key=Person.order_key):
                        assignment[(eid, person.party)].append(person)
            for f in d.facs:
                for c in cats:
                    n = sol["x"].get((si, f.id, c), 0)
                    q = queues[(f.id, c)]
                    take = q[pos[(f.id, c)] : pos[(f.id, c)] + n]
                    pos[(f.id, c)] += n
                    assignment[(eid, f.party)].extend(take)
            for p in parties:
                assignment[(eid, p)].sort(key=lambda x: (x.facility, cats.index(x.category), x.order_key()))
    released = {p: {c: 0 for c in cats} for p in parties}
    for e in events:
        for p, facs in e.counts.items():
            for fc in facs.values():
                for c, n in fc.items():
                    released[p][c] += n
    held_tot = {p: {c: sum(fc.get(c, 0) for fc in held[p].values()) for c in cats} for p in parties}
    for block in (released, held_tot):
        for p in parties:
            block[p]["total"] = sum(block[p][c] for c in cats)
    totals = {"released": released, "held": held_tot, "people": sum(released[p]["total"] for p in parties)}
    by_day: dict[str, list[ExchangeEvent]] = defaultdict(list)
    for e in events:
        by_day[e.day].append(e)
    days = [DaySummary(date=k, events=len(v), people=sum(e.people["total"] for e in v)) for k, v in sorted(by_day.items())]
    manifests = [
        ManifestInfo(file=f"manifests/{_safe(eid)}_{_safe(p)}.csv", event=eid, party=p, people=len(lst))
        for (eid, p), lst in assignment.items()
    ]
    plan = ExchangePlan(
        status=status if status in ("optimal", "feasible", "infeasible") else "feasible",  # type: ignore[arg-type]
        parties=parties, categories=cats, terms=[], events=events, totals=totals, days=days,
        manifests=manifests, sites=sites, warnings=warnings,
    )
    plan._assignment = assignment
    return plan


def _r(ll: Any) -> tuple[float, float]:
    return (round(float(ll[0]), 6), round(float(ll[1]), 6))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "x"


# --------------------------------------------------------------------------- outputs


def manifest_text(people: list[Person], event: str, party: str) -> str:
    """The CSV text of one manifest (pseudonymous ids, never a name)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(MANIFEST_COLUMNS)
    for p in people:
        w.writerow([event, party, p.id, p.facility, p.category, p.medical, p.group or "",
                    p.detained_since.isoformat() if p.detained_since else "", p.source])
    return buf.getvalue()


def write_manifests(plan: ExchangePlan, folder: str | Path) -> list[Path]:
    """Write ``manifests/<event>_<party>.csv`` for every event and party, atomically.

    Parameters
    ----------
    plan
        An exchange plan from :func:`schedule_exchanges`.
    folder
        The output folder (the one that holds ``plan.json``).

    Returns
    -------
    list of Path
        The files written.
    """
    from planner.plan import write_atomic

    out = []
    folder = Path(folder)
    for info in plan.manifests:
        people = plan._assignment.get((info.event, info.party), [])
        path = folder / info.file
        write_atomic(path, manifest_text(people, info.event, info.party))
        out.append(path)
    return out


def summary_rows(exchange_dict: dict[str, Any]) -> list[tuple[str, ...]]:
    """Rows for the CLI table: event, point, start, people per party, categories.

    Parameters
    ----------
    exchange_dict
        The ``exchange`` part of ``plan.json``.

    Returns
    -------
    list of tuple of str
        A header row first, then one row per event, then a ``total`` row.
    """
    parties = [str(p) for p in exchange_dict.get("parties") or []]
    rows: list[tuple[str, ...]] = [("event", "point", "start", *parties, "categories")]
    tot = dict.fromkeys(parties, 0)
    for e in exchange_dict.get("events") or []:
        counts = e.get("counts") or {}
        per = []
        cats: dict[str, int] = defaultdict(int)
        for p in parties:
            n = 0
            for fc in (counts.get(p) or {}).values():
                for c, k in fc.items():
                    n += int(k)
                    cats[c] += int(k)
            per.append(str(n))
            tot[p] += n
        rows.append((str(e.get("id", "")), str(e.get("point", "")), str(e.get("start", ""))[:16].replace("T", " "), *per,
                     ", ".join(f"{c} {n}" for c, n in cats.items())))
    rows.append(("total", "", "", *(str(tot[p]) for p in parties), str(exchange_dict.get("status", ""))))
    return rows


_PARTY_COLOURS = ("#1f5fbf", "#c0392b")


def exchange_layers(fmap: folium.Map, exchange_dict: dict[str, Any], spec: ExchangeSpec | None = None) -> None:
    """Add the exchange to a folium map: detention sites, exchange points and transfers.

    Parameters
    ----------
    fmap
        The map.
    exchange_dict
        The ``exchange`` part of ``plan.json``.
    spec
        The parsed section, for site names (optional).

    Notes
    -----
    Adds the FeatureGroups "Detention sites", "Exchange points" and "Transfers"; every
    event has a popup (time, point, people per party and category).  All text is escaped;
    no person id or name is shown.
    """
    import folium

    esc = html.escape
    parties = [str(p) for p in exchange_dict.get("parties") or []]
    colour = {p: _PARTY_COLOURS[i % 2] for i, p in enumerate(parties)}
    names: dict[str, str] = {}
    if spec is not None:
        names.update({f.id: f.name for f in spec.facilities if f.name})
        names.update({p.id: p.name for p in spec.exchange_points if p.name})
    sites = exchange_dict.get("sites") or []
    events = exchange_dict.get("events") or []
    fac_g = folium.FeatureGroup(name="Detention sites", show=True)
    pt_g = folium.FeatureGroup(name="Exchange points", show=True)
    tr_g = folium.FeatureGroup(name="Transfers", show=True)
    for s in sites:
        lon, lat = s["location"]
        label = names.get(s["id"]) or s.get("name") or s["id"]
        if s.get("kind") == "facility":
            sent = sum(int(t.get("people", 0)) for e in events for t in e.get("transports", []) if t.get("facility") == s["id"])
            body = (f"<b>{esc(str(label))}</b><br>detention site held by {esc(str(s.get('party')))}<br>"
                    f"{esc(str(s.get('buses')))} buses × {esc(str(s.get('seats')))} seats<br>"
                    f"people sent to exchanges: {sent}")
            # a plain circle marker: the polygon-marker plugin would need a CDN, and maps work offline
            folium.CircleMarker([lat, lon], radius=8, color=colour.get(str(s.get("party")), "#555"), weight=3,
                                fill=True, fill_opacity=0.8, popup=folium.Popup(body, max_width=320),
                                tooltip=esc(str(label))).add_to(fac_g)
        else:
            evs = [e for e in events if e.get("point") == s["id"]]
            body = f"<b>{esc(str(label))}</b><br>exchange point, {len(evs)} events"
            folium.CircleMarker([lat, lon], radius=10, color="#4b0082", fill=True, fill_opacity=0.6,
                                popup=folium.Popup(body, max_width=320), tooltip=esc(str(label))).add_to(pt_g)
    for e in events:
        lon, lat = e.get("location") or (0.0, 0.0)
        rows = []
        for p in parties:
            for fid, fc in ((e.get("counts") or {}).get(p) or {}).items():
                cats = ", ".join(f"{esc(str(c))} {int(n)}" for c, n in fc.items())
                rows.append(f"{esc(p)} from {esc(str(names.get(fid, fid)))}: {cats}")
        per = ", ".join(f"{esc(p)} {int((e.get('people') or {}).get(p, 0))}" for p in parties)
        body = (f"<b>event {esc(str(e.get('id')))}</b> at {esc(str(names.get(e.get('point'), e.get('point'))))}<br>"
                f"{esc(str(e.get('start')))} – {esc(str(e.get('end')))}<br>released: {per}<br>" + "<br>".join(rows))
        folium.CircleMarker([lat, lon], radius=5, color="#4b0082", fill=True, fill_opacity=1.0,
                            popup=folium.Popup(body, max_width=420), tooltip=esc(f"event {e.get('id')} {e.get('start')}")).add_to(pt_g)
        for t in e.get("transports") or []:
            path = [[c[1], c[0]] for c in t.get("path") or []]
            if len(path) < 2:
                continue
            tip = (f"{t.get('facility')} → {e.get('point')} for event {e.get('id')}: {t.get('people')} people, "
                   f"{t.get('buses')} buses, leave {t.get('depart')}, arrive {t.get('arrive')}, {float(t.get('length_m', 0)) / 1000:.0f} km")
            folium.PolyLine(path, color=colour.get(str(t.get("party")), "#555"), weight=3, opacity=0.7,
                            tooltip=esc(tip)).add_to(tr_g)
    for g in (fac_g, pt_g, tr_g):
        g.add_to(fmap)
