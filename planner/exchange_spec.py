"""The ``exchange`` section of a scenario: parties, facilities and their vehicles, detainees,
exchange points and terms, validated with pydantic, and the rosters read into :class:`Person`.

A roster's ``name`` column, or any column outside the schema, is never read into the plan.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
)

from planner.errors import ScenarioError
from planner.scenario_base import (
    Location,
    PlaceRef,
    Window,
    check_lonlat,
    location_lonlat,
)

if TYPE_CHECKING:
    from planner.scenario import Scenario

ROSTER_COLUMNS: tuple[str, ...] = (
    "id",
    "held_by",
    "facility",
    "category",
    "detained_since",
    "medical",
    "group",
)
"""Columns read from a roster; every other column (``name`` in particular) is ignored."""
MANIFEST_COLUMNS: tuple[str, ...] = (
    "event",
    "party",
    "id",
    "facility",
    "category",
    "medical",
    "group",
    "detained_since",
    "source",
)
"""Columns of a manifest CSV: pseudonymous ids only, never a name."""
DEFAULT_RELAX_ORDER: tuple[str, ...] = (
    "max_per_day",
    "max_per_day_per_side",
    "max_per_event",
    "daily.",
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


class SpecModel(BaseModel):
    """Base of the section's models: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


def _loc(v: Any) -> Any:
    return v if isinstance(v, PlaceRef) else check_lonlat(v)


# --------------------------------------------------------------------------- the section


class PartySpec(SpecModel):
    """A party to the exchange."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str | None = None


class VehicleSpec(SpecModel):
    """Vehicles of one type at a facility (``bus``, ``ambulance``, ``refrigerated_truck``...)."""

    type: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    count: int = Field(ge=0)
    capacity: int = Field(gt=0)
    """People (or remains) one vehicle carries."""
    medical_escort: bool = False
    """The vehicle travels with a medical escort (needed by categories with ``medical_escort``)."""


class FacilitySpec(SpecModel):
    """A detention site: who holds it, where it is, and the vehicles it can send.

    ``buses`` and ``seats`` give its buses (vehicle type ``bus``); ``vehicles`` lists the
    vehicles by type (ambulances, refrigerated trucks, more buses).
    """

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str | None = None
    party: str
    location: Location
    buses: int = Field(default=0, ge=0)
    seats: int | None = Field(default=None, gt=0)
    """Seats per bus (required when ``buses`` > 0)."""
    vehicles: list[VehicleSpec] = Field(default_factory=list)

    _check_location = field_validator("location")(_loc)

    def fleet(self) -> dict[str, VehicleSpec]:
        """Vehicles by type, the ``buses`` included as type ``bus``."""
        out: dict[str, VehicleSpec] = {}
        if self.buses:
            out["bus"] = VehicleSpec(type="bus", count=self.buses, capacity=self.seats or 1)
        for v in self.vehicles:
            if v.type in out:
                raise ValueError(f"vehicle type {v.type!r} is listed twice")
            out[v.type] = v
        return out


class CategorySpec(SpecModel):
    """A category of detainees (or of the remains of the fallen) and its transport."""

    weight: float = Field(default=1.0, gt=0)
    """Weight in the objective."""
    vehicles: list[str] = Field(default_factory=lambda: ["bus"], min_length=1)
    """Vehicle types that may carry this category (default: buses)."""
    medical_escort: bool = False
    """Only vehicles with a medical escort may carry this category."""


class DailyTerm(SpecModel):
    """An agreed figure for one day: each side releases exactly ``per_side`` people."""

    date: date
    per_side: int = Field(ge=0)


class RosterSource(SpecModel):
    """People held by a party, one row per person in a CSV file."""

    roster: str


class CountsSource(SpecModel):
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


class ExchangePointSpec(SpecModel):
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


class ParitySpec(SpecModel):
    """Parity per event within ``tolerance`` people (counted on the second party's side)."""

    tolerance: int = Field(default=0, ge=0)


Ratio = str | dict[str, float]


class TermsSpec(SpecModel):
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
    """Most people per day, both sides together."""
    max_per_day_per_side: int | None = Field(default=None, gt=0)
    """Most people each side releases per day."""
    daily: list[DailyTerm] = Field(default_factory=list)
    """Agreed day-by-day figures (local dates of the event starts)."""
    mediator_dates: list[date] | None = None
    """Dates the mediator is available (local dates of the event starts)."""
    relax_order: list[str] | None = None
    """Term ids from least to most important (a trailing dot is a prefix)."""


class ExchangeSpec(SpecModel):
    """The ``exchange`` section of a scenario, with its rosters read.

    ``people`` (after :func:`parse_exchange`) lists every detainee as a :class:`Person`.
    """

    parties: list[PartySpec | str] = Field(min_length=2, max_length=2)
    categories: dict[str, float | CategorySpec] | list[str] | None = None
    """Categories, in order, with their weight in the objective (default: by precedence)."""
    facilities: list[FacilitySpec] = Field(min_length=1)
    detainees: dict[str, RosterSource | CountsSource]
    exchange_points: list[ExchangePointSpec] = Field(min_length=1)
    terms: TermsSpec = Field(default_factory=TermsSpec)
    transfer_buffer_min: float = Field(default=30.0, ge=0)
    """Transfers arrive this long before their event starts."""

    _people: list[Person] = PrivateAttr(default_factory=list)
    _weights: dict[str, float] = PrivateAttr(default_factory=dict)

    def category(self, c: str) -> CategorySpec:
        """The declared transport of a category (buses, no escort, when not declared)."""
        raw = self.categories.get(c) if isinstance(self.categories, dict) else None
        if isinstance(raw, CategorySpec):
            return raw
        return CategorySpec(weight=float(raw) if raw is not None else 1.0)

    def carriers(self, fac: FacilitySpec, c: str) -> list[str]:
        """Vehicle types of ``fac`` that may carry category ``c`` (escort rules applied)."""
        cat = self.category(c)
        fleet = fac.fleet()
        return [
            t
            for t in cat.vehicles
            if t in fleet
            and fleet[t].count > 0
            and (fleet[t].medical_escort or not cat.medical_escort)
        ]

    @field_validator("parties")
    @classmethod
    def _parties(cls, v: list[PartySpec | str]) -> list[PartySpec | str]:
        specs = [p if isinstance(p, PartySpec) else PartySpec(id=p) for p in v]
        if specs[0].id == specs[1].id:
            raise ValueError("the two parties need different ids")
        out: list[PartySpec | str] = list(specs)
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


def _read_roster(
    path: Path, party: str, spec: ExchangeSpec, facilities: dict[str, FacilitySpec]
) -> list[Person]:
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
            raise ScenarioError(
                src, f"column {col}", "is required in a roster (id, held_by, facility, category)"
            )
    reader.fieldnames = header
    people: list[Person] = []
    for row_no, raw in enumerate(reader, start=2):  # row 1 is the header
        row = {k: (raw.get(k) or "").strip() for k in ROSTER_COLUMNS}
        people.append(_roster_person(row, row_no, src, party, spec, facilities))
    return people


def _roster_person(
    row: dict[str, str],
    row_no: int,
    src: str,
    party: str,
    spec: ExchangeSpec,
    facilities: dict[str, FacilitySpec],
) -> Person:
    """The person on one roster row, checked against the exchange."""

    def bad(col: str, problem: str) -> ScenarioError:
        return ScenarioError(src, f"row {row_no}, column {col}", problem)

    if not row["id"]:
        raise bad("id", "is empty")
    if row["held_by"] != party:
        raise bad(
            "held_by",
            f"{row['held_by']!r} is not {party!r}, the party this roster is given for",
        )
    fac = facilities.get(row["facility"])
    if fac is None:
        raise bad("facility", f"{row['facility']!r} is not a facility of the exchange")
    if fac.party != party:
        raise bad("facility", f"{fac.id!r} is held by {fac.party!r}, not {party!r}")
    if not row["category"]:
        raise bad("category", "is empty")
    if spec.categories is not None and row["category"] not in _declared(spec):
        raise bad(
            "category",
            f"{row['category']!r} is not a declared category ({', '.join(_declared(spec))})",
        )
    try:
        medical = _truthy_int(row["medical"])
    except ValueError:
        raise bad(
            "medical", f"{row['medical']!r} is not a flag (yes/no or a priority 0-9)"
        ) from None
    since = None
    if row["detained_since"]:
        try:
            since = date.fromisoformat(row["detained_since"][:10])
        except ValueError:
            raise bad(
                "detained_since", f"{row['detained_since']!r} is not a date (YYYY-MM-DD)"
            ) from None
    return Person(
        row["id"],
        party,
        fac.id,
        row["category"],
        medical,
        row["group"] or None,
        since,
        "roster",
    )


def _declared(spec: ExchangeSpec) -> list[str]:
    if spec.categories is None:
        return []
    return list(spec.categories) if isinstance(spec.categories, dict) else list(spec.categories)


def _section_error(src: str, field: str, problem: str) -> ScenarioError:
    """A :class:`ScenarioError` on ``exchange.<field>`` of scenario ``src``."""
    return ScenarioError(src, f"exchange.{field}", problem)


def _check_sites(spec: ExchangeSpec, src: str) -> None:
    """Facilities and exchange points: unique ids, a known party, seats for buses, a valid
    fleet and location; an exchange point's windows sorted and not overlapping."""
    parties = spec.party_ids
    fac_ids = [f.id for f in spec.facilities]
    pt_ids = [p.id for p in spec.exchange_points]
    for label, ids in (("facilities", fac_ids), ("exchange_points", pt_ids)):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise _section_error(src, label, f"ids must be unique; repeated: {', '.join(dup)}")
    for i, f in enumerate(spec.facilities):
        if f.party not in parties:
            raise _section_error(
                src,
                f"facilities.{i}.party",
                f"{f.party!r} is not one of the parties ({', '.join(parties)})",
            )
        if f.buses and f.seats is None:
            raise _section_error(
                src, f"facilities.{i}.seats", "is required when the facility has buses"
            )
        try:
            f.fleet()
        except ValueError as exc:
            raise _section_error(src, f"facilities.{i}.vehicles", str(exc)) from None
        try:
            location_lonlat(f.location)
        except ValueError as exc:
            raise _section_error(src, f"facilities.{i}.location", str(exc)) from None
    for i, p in enumerate(spec.exchange_points):
        try:
            location_lonlat(p.location)
        except ValueError as exc:
            raise _section_error(src, f"exchange_points.{i}.location", str(exc)) from None
        wins = sorted(p.windows or [], key=lambda w: w.start)
        for a, b in zip(wins, wins[1:], strict=False):
            if b.start < a.end:
                raise _section_error(
                    src, f"exchange_points.{i}.windows", f"windows overlap at {b.start.isoformat()}"
                )
        if p.windows is not None:
            p.windows = wins


def _counted_people(spec: ExchangeSpec, party: str, source: CountsSource, src: str) -> list[Person]:
    """Pseudonymous persons for a party's ``counts`` (``<facility>-<category>-0001``, ...)."""
    facilities = {f.id: f for f in spec.facilities}
    people: list[Person] = []
    for fac_id, cats in source.counts.items():
        fac = facilities.get(fac_id)
        if fac is None:
            raise _section_error(
                src, f"detainees.{party}.counts.{fac_id}", "is not a facility of the exchange"
            )
        if fac.party != party:
            raise _section_error(
                src,
                f"detainees.{party}.counts.{fac_id}",
                f"is held by {fac.party!r}, not {party!r}",
            )
        for cat, n in cats.items():
            if spec.categories is not None and cat not in _declared(spec):
                raise _section_error(
                    src, f"detainees.{party}.counts.{fac_id}.{cat}", "is not a declared category"
                )
            people += [
                Person(f"{fac_id}-{cat}-{k:04d}", party, fac_id, cat, source="aggregate")
                for k in range(1, n + 1)
            ]
    return people


def _read_people(scenario: Scenario, spec: ExchangeSpec, src: str) -> list[Person]:
    """Every detainee of both parties, from their rosters or counts, checked: unique ids and
    each group in one facility."""
    parties = spec.party_ids
    for party in spec.detainees:
        if party not in parties:
            raise _section_error(
                src, f"detainees.{party}", f"is not one of the parties ({', '.join(parties)})"
            )
    facilities = {f.id: f for f in spec.facilities}
    people: list[Person] = []
    for party in parties:
        source = spec.detainees.get(party)
        if source is None:
            continue
        if isinstance(source, RosterSource):
            path = scenario.resolve_path(source.roster)
            if not path.exists():
                raise _section_error(src, f"detainees.{party}.roster", f"file not found: {path}")
            people += _read_roster(path, party, spec, facilities)
        else:
            people += _counted_people(spec, party, source, src)
    ids = [p.id for p in people]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise _section_error(
            src,
            "detainees",
            f"person id {dup!r} appears twice (ids must be unique across both rosters)",
        )
    groups: dict[str, set[str]] = defaultdict(set)
    for p in people:
        if p.group is not None:
            groups[p.group].add(p.facility)
    for g, facs in sorted(groups.items()):
        if len(facs) > 1:
            raise _section_error(
                src,
                "detainees",
                f"group {g!r} is split between facilities {', '.join(sorted(facs))}; a group travels together",
            )
    return people


def _check_terms(spec: ExchangeSpec, people: list[Person], src: str) -> dict[str, float]:
    """Check the terms (dates, categories, precedence, ratios); the weight of each category."""
    parties = spec.party_ids
    days = [dt.date for dt in spec.terms.daily]
    if len(set(days)) != len(days):
        raise _section_error(src, "terms.daily", "names a date twice")
    # categories and weights
    terms = spec.terms
    declared = _declared(spec)
    found = sorted({p.category for p in people})
    mentioned = list(terms.precedence) + list(terms.all_for_all) + list(terms.category_ratios)
    if declared:
        cats = declared
        for c in mentioned:
            if c not in cats:
                raise _section_error(
                    src, "terms", f"category {c!r} is not declared in exchange.categories"
                )
    else:
        cats = list(dict.fromkeys(list(terms.precedence) + found + sorted(set(mentioned))))
    n_prec = len(terms.precedence)
    weights: dict[str, float] = {}
    for c in cats:
        if isinstance(spec.categories, dict):
            w = spec.category(c).weight
            if w <= 0:
                raise _section_error(src, f"categories.{c}", "a weight must be positive")
        else:
            w = float(n_prec - terms.precedence.index(c)) + 1.0 if c in terms.precedence else 1.0
        weights[c] = w
    if len(set(terms.precedence)) != len(terms.precedence):
        raise _section_error(src, "terms.precedence", "names a category twice")
    try:
        parse_ratio(terms.ratio, parties)
    except ValueError as exc:
        raise _section_error(src, "terms.ratio", str(exc)) from None
    for c, r in terms.category_ratios.items():
        try:
            parse_ratio(r, parties)
        except ValueError as exc:
            raise _section_error(src, f"terms.category_ratios.{c}", str(exc)) from None
    return weights


def parse_exchange(scenario: Scenario) -> ExchangeSpec | None:
    """Check the scenario's ``exchange`` section as a whole and read its rosters.

    Parameters
    ----------
    scenario
        A validated scenario (its ``exchange`` section already validated as a
        :class:`ExchangeSpec`, or ``None``).

    Returns
    -------
    ExchangeSpec or None
        A copy of the section with its people and category weights, ``None`` when the
        scenario has no exchange section.

    Raises
    ------
    ScenarioError
        Naming ``exchange.<field>`` and the problem; a roster error names the roster file,
        the row and the column.
    """
    if scenario.exchange is None:
        return None
    src = scenario.source_name()
    spec = scenario.exchange.model_copy(deep=True)
    parties = spec.party_ids
    spec.parties = [p if isinstance(p, PartySpec) else PartySpec(id=p) for p in spec.parties]
    _check_sites(spec, src)
    people = _read_people(scenario, spec, src)
    weights = _check_terms(spec, people, src)
    spec._people = sorted(people, key=lambda p: (parties.index(p.party), p.facility, p.id))
    spec._weights = weights
    return spec
