"""The ``repatriation`` section of a scenario: children, guardians, mediator, routes, terms.

Keys (every time is timezone-aware ISO 8601; locations are ``[lon, lat]``, ``{place: ...}``
or ``{geonameid: ...}``)::

    repatriation:
      children:                       # a list, or {file: children.csv} with the same columns
        - id: c-101                   # pseudonymous id; no name is ever read
          age: 9
          location: {place: Moscow}   # where the child is now
          facility: boarding-school-3 # or the family it lives with (a pseudonymous label)
          living_with: facility       # facility | family | foster
          sibling_group: s-1          # siblings travel together or not at all
          medical: false              # medical needs: goes first
          separated_since: 2022-10-01
          identity_verified: true     # by the mediator's diplomats
          guardian_located: true
          guardian: g-7
          documents: [birth_certificate, travel_document]
          handover_to: mediator       # or guardian: the child waits for the guardian to come
          ready_from: "2023-10-10T00:00:00+03:00"   # when the holding side can bring the child
          transfer_min: 90            # from where the child is to the handover site
      guardians:
        - {id: g-7, location: {place: Kherson}, can_travel: true, documents: [passport],
           ready_from: "2023-10-01T08:00:00+03:00", route: via-belarus, to_route_min: 600}
      mediator:
        name: Qatar
        handover_sites:
          - id: moscow-embassy
            location: [37.62, 55.74]
            handover_min: 60
            max_children: 10          # default for each handover
            handovers: [{at: "2023-10-16T10:00:00+03:00", max_children: 6}]
        escorts: [{id: e-1}, {id: e-2, dates: [2023-12-05]}]
        children_per_escort: [{max_age: 5, children: 2}, {max_age: 17, children: 4}]
        escort_rest_h: 24             # an escort is free again this long after arriving
        group_size: {min: 1, max: 10}
      routes:
        - id: via-belarus
          from: moscow-embassy
          legs:
            - {mode: rail, duration_min: 540, to: {id: minsk, location: {place: Minsk}, overnight: true}}
            - mode: road
              duration_min: 330
              to:
                id: domanove
                location: [24.0, 51.9]
                crossing: {open_days: [mon, tue, wed, thu, fri], open: "08:00", close: "20:00",
                           utc_offset: "+02:00", delay_min: 90,
                           documents: [birth_certificate], guardian_documents: [passport]}
            - {mode: road, to: {id: kyiv, location: {place: Kyiv}}}   # no duration: bundled network
      travel_day: [{max_age: 6, hours: 10}, {max_age: 17, hours: 14}]
      guardian_travel_day_h: 16
      day_starts: "07:00"             # when a group sets off again after a night
      terms:
        first: [medical, youngest, longest_separated]

A road leg without ``duration_min`` takes the bundled (or the scenario's) road network's
travel time when both its ends lie within ``network_snap_km`` (default 5) of a road node;
otherwise it needs a duration.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from planner.errors import ScenarioError
from planner.scenario_base import PlaceRef, location_lonlat

if TYPE_CHECKING:
    from planner.scenario import Scenario

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Loc = tuple[float, float] | dict[str, Any]
Term = Literal["medical", "youngest", "longest_separated"]
TERMS: tuple[Term, ...] = ("medical", "youngest", "longest_separated")


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _aware(v: datetime | None) -> datetime | None:
    if v is not None and v.tzinfo is None:
        raise ValueError("needs a timezone offset (e.g. 2023-10-16T10:00:00+03:00)")
    return v


def _offset(text: str) -> timezone:
    sign = -1 if text.startswith("-") else 1
    hh, mm = text.lstrip("+-").split(":")
    return timezone(sign * timedelta(hours=int(hh), minutes=int(mm)))


class Child(_M):
    """A child on the agreed list (pseudonymous)."""

    id: str = Field(min_length=1)
    age: int = Field(ge=0, le=17)
    location: Loc | None = None
    facility: str | None = None
    living_with: Literal["facility", "family", "foster"] = "facility"
    sibling_group: str | None = None
    medical: bool = False
    separated_since: date | None = None
    identity_verified: bool = False
    guardian_located: bool = False
    guardian: str | None = None
    documents: list[str] = Field(default_factory=list)
    handover_to: Literal["mediator", "guardian"] = "mediator"
    ready_from: datetime | None = None
    transfer_min: float | None = Field(default=None, ge=0)
    site: str | None = None

    _a = field_validator("ready_from")(_aware)


class Guardian(_M):
    """A parent or guardian on the Ukrainian side."""

    id: str = Field(min_length=1)
    location: Loc | None = None
    can_travel: bool = False
    documents: list[str] = Field(default_factory=list)
    ready_from: datetime | None = None
    route: str | None = None
    to_route_min: float | None = Field(default=None, ge=0)

    _a = field_validator("ready_from")(_aware)


class Handover(_M):
    """One handover date at a site."""

    at: datetime
    max_children: int | None = Field(default=None, ge=1)

    _a = field_validator("at")(_aware)


class HandoverSite(_M):
    """Where the mediator receives children (an embassy)."""

    id: str
    name: str | None = None
    location: Loc
    handover_min: float = Field(default=60, ge=0)
    max_children: int = Field(default=10, ge=1)
    overnight: bool = False
    handovers: list[Handover] = Field(min_length=1)


class Escort(_M):
    """A mediator's escort; ``dates`` limits the handover dates they can take (default all)."""

    id: str
    dates: list[date] | None = None


class PerEscort(_M):
    """Children one escort may accompany, up to an age."""

    max_age: int = Field(ge=0, le=17)
    children: int = Field(ge=1)


class GroupSize(_M):
    """Children per group."""

    min: int = Field(default=1, ge=1)
    max: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _order(self) -> GroupSize:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class Mediator(_M):
    """The mediator's sites, dates, escorts and group rules."""

    name: str | None = None
    handover_sites: list[HandoverSite] = Field(min_length=1)
    escorts: list[Escort] = Field(default_factory=list)
    children_per_escort: list[PerEscort] = Field(
        default_factory=lambda: [PerEscort(max_age=17, children=4)]
    )
    escort_rest_h: float = Field(default=24, ge=0)
    min_escorts_per_group: int = Field(default=1, ge=0)
    group_size: GroupSize = Field(default_factory=GroupSize)

    @field_validator("children_per_escort")
    @classmethod
    def _cover(cls, v: list[PerEscort]) -> list[PerEscort]:
        if not v or max(p.max_age for p in v) < 17:
            raise ValueError("must cover every age up to 17 (give an entry with max_age: 17)")
        return sorted(v, key=lambda p: p.max_age)


class Crossing(_M):
    """A border crossing: open days and hours (local to ``utc_offset``) and documents."""

    id: str | None = None
    open_days: list[Day] = Field(default_factory=lambda: list(DAYS))
    open: time = time(0, 0)
    close: time = time(23, 59)
    utc_offset: str = Field(default="+00:00", pattern=r"^[+-]\d{2}:\d{2}$")
    delay_min: float = Field(default=0, ge=0)
    documents: list[str] = Field(default_factory=list)
    guardian_documents: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _hours(self) -> Crossing:
        if self.close <= self.open:
            raise ValueError("close must be after open")
        return self

    def tz(self) -> timezone:
        """The crossing's UTC offset."""
        return _offset(self.utc_offset)


class Stop(_M):
    """Where a leg ends: a place, possibly a border crossing, where a night may be spent."""

    id: str
    name: str | None = None
    location: Loc
    overnight: bool = False
    crossing: Crossing | None = None


class Leg(_M):
    """One leg of a route."""

    mode: Literal["road", "rail", "air"]
    duration_min: float | None = Field(default=None, gt=0)
    to: Stop


class Route(_M):
    """A way home from a handover site, leg by leg."""

    id: str
    name: str | None = None
    from_: str = Field(alias="from")
    legs: list[Leg] = Field(min_length=1)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TravelDay(_M):
    """The longest travel day for children up to an age."""

    max_age: int = Field(ge=0, le=17)
    hours: float = Field(gt=0, le=24)


class Terms(_M):
    """Who goes first."""

    first: list[Term] = Field(default_factory=lambda: list(TERMS))


class FileRef(_M):
    """A CSV file of records."""

    file: str


class RepatriationSpec(_M):
    """The whole ``repatriation`` section (see the module doc)."""

    children: list[Child] | FileRef
    guardians: list[Guardian] | FileRef = Field(default_factory=list)
    mediator: Mediator
    routes: list[Route] = Field(min_length=1)
    travel_day: list[TravelDay] = Field(default_factory=lambda: [TravelDay(max_age=17, hours=12)])
    guardian_travel_day_h: float = Field(default=16, gt=0, le=24)
    day_starts: time = time(7, 0)
    network_snap_km: float = Field(default=5.0, gt=0)
    terms: Terms = Field(default_factory=Terms)

    @field_validator("travel_day")
    @classmethod
    def _cover(cls, v: list[TravelDay]) -> list[TravelDay]:
        if not v or max(t.max_age for t in v) < 17:
            raise ValueError("must cover every age up to 17 (give an entry with max_age: 17)")
        return sorted(v, key=lambda t: t.max_age)

    # ------------------------------------------------------------- lookups

    def child_list(self) -> list[Child]:
        """The children (files are read by :func:`parse_repatriation`)."""
        assert isinstance(self.children, list)
        return self.children

    def guardian_list(self) -> list[Guardian]:
        """The guardians (files are read by :func:`parse_repatriation`)."""
        assert isinstance(self.guardians, list)
        return self.guardians

    def guardian_map(self) -> dict[str, Guardian]:
        """Guardians by id."""
        return {g.id: g for g in self.guardian_list()}

    def sites(self) -> dict[str, HandoverSite]:
        """Handover sites by id."""
        return {s.id: s for s in self.mediator.handover_sites}

    def route_map(self) -> dict[str, Route]:
        """Routes by id."""
        return {r.id: r for r in self.routes}

    def day_limit_min(self, age: int) -> float:
        """The longest travel day of a child of this age, in minutes."""
        return next(t.hours for t in self.travel_day if age <= t.max_age) * 60.0

    def per_escort(self, age: int) -> int:
        """Children of this age one escort may accompany."""
        return next(p.children for p in self.mediator.children_per_escort if age <= p.max_age)

    def escort_dates(self, escort: Escort) -> set[date] | None:
        """The dates an escort can take, or ``None`` for all."""
        return set(escort.dates) if escort.dates is not None else None


def _first_error(err: ValidationError) -> tuple[str, str]:
    first = err.errors()[0]
    parts = [
        str(p)
        for p in first.get("loc", ())
        if not (isinstance(p, str) and (p[:1].isupper() or "[" in p))
    ]
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    if first.get("type") == "missing":
        msg = "is required"
    elif first.get("type") == "extra_forbidden":
        msg = "is not a known field"
    return ".".join(parts), msg


_LIST_FIELDS = {"documents"}
_BOOL = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False, "": False}


def _read_csv(path: Path, src: str, field: str) -> list[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise ScenarioError(src, field, f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ScenarioError(src, field, f"cannot read {path}: {type(exc).__name__}") from None
    out = []
    for r in rows:
        d: dict[str, Any] = {}
        for k, v in r.items():
            if k is None or v is None or v.strip() == "":
                continue
            k = k.strip()
            v = v.strip()
            if k in _LIST_FIELDS:
                d[k] = [x.strip() for x in v.replace("+", ";").split(";") if x.strip()]
            elif k in {"lon", "lat"}:
                d[k] = float(v)
            else:
                d[k] = (
                    _BOOL.get(v.lower(), v) if v.lower() in _BOOL and k not in {"id", "age"} else v
                )
        if "lon" in d and "lat" in d:
            d["location"] = (d.pop("lon"), d.pop("lat"))
        out.append(d)
    return out


def parse_repatriation(scenario: Scenario) -> RepatriationSpec | None:
    """Validate the scenario's ``repatriation`` section (and read its CSV files).

    Returns
    -------
    RepatriationSpec or None
        ``None`` when the scenario has no such section.

    Raises
    ------
    ScenarioError
        Naming ``repatriation.<field>`` (or the CSV file and row) and the problem.
    """
    raw = getattr(scenario, "repatriation", None)
    if raw is None:
        return None
    src = scenario.source_name()
    if not isinstance(raw, dict):
        raise ScenarioError(
            src, "repatriation", "must be a mapping (children, guardians, mediator, routes, terms)"
        )
    data = dict(raw)
    for key, model in (("children", Child), ("guardians", Guardian)):
        ref = data.get(key)
        if isinstance(ref, dict) and set(ref) == {"file"}:
            path = scenario.resolve_path(str(ref["file"]))
            rows = _read_csv(path, src, f"repatriation.{key}.file")
            items = []
            for i, row in enumerate(rows):
                try:
                    items.append(model.model_validate(row))
                except ValidationError as err:
                    f, msg = _first_error(err)
                    raise ScenarioError(str(path), f"row {i + 2}.{f}", msg) from None
            data[key] = items
    try:
        spec = RepatriationSpec.model_validate(data)
    except ValidationError as err:
        f, msg = _first_error(err)
        raise ScenarioError(src, f"repatriation.{f}" if f else "repatriation", msg) from None
    _cross_check(spec, src)
    return spec


def _dup(ids: list[str]) -> list[str]:
    return sorted({i for i in ids if ids.count(i) > 1})


def _cross_check(spec: RepatriationSpec, src: str) -> None:
    """Raise on the first problem across the section's parts, in the order of the checks.

    Unique ids first, then references between children, guardians, sites and routes,
    then group sizes against the sites, then every location.
    """
    _check_unique_ids(spec, src)
    _check_references(spec, src)
    _check_locations(spec, src)


def _field_error(src: str, field: str, problem: str) -> ScenarioError:
    """A ScenarioError naming ``repatriation.<field>`` of the scenario ``src``."""
    return ScenarioError(src, f"repatriation.{field}", problem)


def _check_unique_ids(spec: RepatriationSpec, src: str) -> None:
    """Raise when a child, guardian, handover site, escort or route id repeats."""
    guardians = spec.guardian_map()
    guardian_list = spec.guardian_list()
    for label, ids in (
        ("children", [c.id for c in spec.child_list()]),
        (
            "guardians",
            list(guardians)
            if len(guardians) == len(guardian_list)
            else [g.id for g in guardian_list],
        ),
        ("mediator.handover_sites", [s.id for s in spec.mediator.handover_sites]),
        ("mediator.escorts", [e.id for e in spec.mediator.escorts]),
        ("routes", [r.id for r in spec.routes]),
    ):
        if _dup(ids):
            raise _field_error(src, label, f"ids must be unique; repeated: {', '.join(_dup(ids))}")


def _check_references(spec: RepatriationSpec, src: str) -> None:
    """Raise on an unknown guardian, site or route id, or a site below the smallest group."""
    guardians = spec.guardian_map()
    sites = spec.sites()
    routes = spec.route_map()
    for i, c in enumerate(spec.child_list()):
        if c.guardian is not None and c.guardian not in guardians:
            raise _field_error(
                src, f"children.{i}.guardian", f"{c.guardian!r} is not a guardian id"
            )
        if c.handover_to == "guardian" and c.guardian is None:
            raise _field_error(
                src, f"children.{i}.guardian", "is required when handover_to is guardian"
            )
        if c.site is not None and c.site not in sites:
            raise _field_error(src, f"children.{i}.site", f"{c.site!r} is not a handover site id")
    for i, g in enumerate(spec.guardian_list()):
        if g.route is not None and g.route not in routes:
            raise _field_error(src, f"guardians.{i}.route", f"{g.route!r} is not a route id")
    for i, r in enumerate(spec.routes):
        if r.from_ not in sites:
            raise _field_error(src, f"routes.{i}.from", f"{r.from_!r} is not a handover site id")
    for i, s in enumerate(spec.mediator.handover_sites):
        if spec.mediator.group_size.min > s.max_children:
            raise _field_error(
                src,
                f"mediator.handover_sites.{i}.max_children",
                "is below the smallest group size",
            )


def _check_locations(spec: RepatriationSpec, src: str) -> None:
    """Raise on the first location of sites, route legs, children or guardians not found."""
    locs: list[tuple[str, Any]] = [
        (f"mediator.handover_sites.{i}.location", s.location)
        for i, s in enumerate(spec.mediator.handover_sites)
    ]
    locs += [
        (f"routes.{i}.legs.{j}.to.location", leg.to.location)
        for i, r in enumerate(spec.routes)
        for j, leg in enumerate(r.legs)
    ]
    locs += [
        (f"children.{i}.location", c.location)
        for i, c in enumerate(spec.child_list())
        if c.location is not None
    ]
    locs += [
        (f"guardians.{i}.location", g.location)
        for i, g in enumerate(spec.guardian_list())
        if g.location is not None
    ]
    for field, loc in locs:
        try:
            location_lonlat(PlaceRef.model_validate(loc) if isinstance(loc, dict) else loc)
        except (ValueError, ValidationError) as exc:
            raise _field_error(src, field, str(exc).splitlines()[0]) from None


def lonlat(loc: Loc) -> tuple[float, float]:
    """``(lon, lat)`` of a location of this section."""
    return location_lonlat(
        PlaceRef.model_validate(loc) if isinstance(loc, dict) else (float(loc[0]), float(loc[1]))
    )
