"""Scenario files: YAML read with ``yaml.safe_load`` and validated with pydantic.

A scenario says who must leave which frontline town, which vehicles exist, where the
reception centres are, when the ceasefire holds, which areas are shelled or mined and
where the line of contact may be crossed.  Times are timezone-aware ISO 8601 and
coordinates WGS84 ``[lon, lat]``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from planner.corridor_refs import check_corridor_refs
from planner.errors import ScenarioError, validation_error_line
from planner.exchange_spec import ExchangeSpec, parse_exchange
from planner.households import (
    Household,
    household_totals,
    households_from_means,
    households_from_sizes,
    read_household_file,
)
from planner.repatriation.spec import parse_repatriation
from planner.scenario_base import (
    Location,
    PlaceRef,
    Window,
    check_lonlat,
    location_lonlat,
)
from planner.scenario_base import (
    resolve_place as resolve_place,
)
from planner.validate import check_raw_scenario, check_scenario, load_yaml_text

GROUPS: tuple[str, ...] = ("wounded", "children", "reduced_mobility", "general")
"""People groups, in the default order of priority."""

Group = Literal["wounded", "children", "reduced_mobility", "general"]

DEFAULT_PRIORITIES: dict[str, float] = {
    "wounded": 10.0,
    "children": 5.0,
    "reduced_mobility": 4.0,
    "general": 1.0,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


# --------------------------------------------------------------------------- layers


#: A value of a layer file's ``where`` clause.
WhereValue = str | int | float | bool


class FileLayer(_Model):
    """A layer read from a GeoJSON or GeoPackage file with geopandas."""

    file: str
    layer: str | None = None


class HazardItem(_Model):
    """One hazard polygon.

    ``kind: closed`` means no vehicle may enter; ``kind: risk`` is allowed but its cost is
    multiplied by ``factor`` and its kilometres are reported as exposure.
    """

    id: str | None = None
    name: str | None = None
    kind: Literal["closed", "risk"] = "closed"
    factor: float | None = Field(default=None, gt=1.0)
    polygon: list[tuple[float, float]] | None = None
    geometry: dict[str, Any] | None = None
    file: str | None = None
    layer: str | None = None
    repair: bool = False
    """Repair an invalid polygon (shapely ``make_valid``) instead of refusing it."""
    where: dict[str, WhereValue | list[WhereValue]] | None = None
    """With ``file``: keep only the features whose properties match (see
    :mod:`planner.geofile`), e.g. ``{name: ["Окуповано*", "ОРДЛО*"]}``."""
    dissolve: bool = False
    """With ``file``: merge the kept features into one hazard area."""
    active_from: datetime | None = None
    """The hazard appears at this time (e.g. shelling reported at 11:40); legs that leave
    earlier are not bound by it.  Planning treats it as present throughout."""

    def inline_geometry(self) -> Any:
        """The shapely geometry of a hazard given inline (``polygon``, closed if open, or a
        GeoJSON ``geometry``).

        Raises
        ------
        ValueError
            When ``geometry`` is not a GeoJSON geometry, or the hazard is given as a file.
        """
        import shapely

        if self.polygon is not None:
            ring = list(self.polygon)
            if ring[0] != ring[-1]:
                ring.append(ring[0])
            return shapely.Polygon(ring)
        if self.geometry is None:
            raise ValueError("is given as a file, not inline")
        try:
            return shapely.geometry.shape(self.geometry)
        except Exception as exc:
            raise ValueError(f"not a GeoJSON geometry: {exc}") from None

    @model_validator(mode="after")
    def _check(self) -> HazardItem:
        if self.active_from is not None and self.active_from.tzinfo is None:
            raise ValueError("active_from needs a timezone offset")
        given = [x for x in (self.polygon, self.geometry, self.file) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'polygon', 'geometry' or 'file'")
        if self.file is None and (self.where is not None or self.dissolve):
            raise ValueError("'where' and 'dissolve' apply only to a 'file'")
        if self.kind == "risk" and self.factor is None and self.file is None:
            raise ValueError("a 'risk' hazard needs a 'factor' greater than 1")
        if self.kind == "closed" and self.factor is not None:
            raise ValueError("'factor' applies only to kind 'risk'")
        if self.polygon is not None:
            if len(self.polygon) < 3:
                raise ValueError("a polygon needs at least 3 [lon, lat] points")
            for p in self.polygon:
                check_lonlat(p)
        return self


class FrontlineSpec(_Model):
    """The line of contact: inline coordinates, a file, or the bundled simplified line."""

    coordinates: list[tuple[float, float]] | None = None
    file: str | None = None
    layer: str | None = None
    where: dict[str, WhereValue | list[WhereValue]] | None = None
    """With ``file``: keep only the features whose properties match (see
    :mod:`planner.geofile`)."""
    dissolve: bool = False
    """With ``file``: merge the kept areas first, so the line is the edge of their union
    (shared edges of neighbouring areas are not part of it)."""
    bundled: bool = False
    date: str | None = None
    """The date the line was drawn (shown on the maps), e.g. ``2024-12-01``."""

    @model_validator(mode="after")
    def _check(self) -> FrontlineSpec:
        given = sum(x for x in (self.coordinates is not None, self.file is not None, self.bundled))
        if given != 1:
            raise ValueError("give exactly one of 'coordinates', 'file' or 'bundled: true'")
        if self.file is None and (self.where is not None or self.dissolve):
            raise ValueError("'where' and 'dissolve' apply only to a 'file'")
        if self.coordinates is not None:
            if len(self.coordinates) < 2:
                raise ValueError("a line needs at least 2 [lon, lat] points")
            for p in self.coordinates:
                check_lonlat(p)
        return self


class NetworkSpec(_Model):
    """Where the roads come from.

    ``source: regional`` is the bundled regional network of eastern and southern Ukraine.
    ``source: ukraine`` (or ``national``) is the bundled national network: all of Ukraine,
    its border crossings and the roads beyond them to the first regional centres, Moscow and
    Minsk (see :mod:`planner.national`).
    A path ending in ``.osm``, ``.osm.gz``, ``.osm.bz2``, ``.osm.pbf`` or ``.graphml`` loads an
    OpenStreetMap graph; ``place`` or ``bbox`` downloads one through Overpass.
    """

    source: str | None = "regional"
    place: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    overpass_url: str | None = None
    speeds_kph: dict[str, float] = Field(default_factory=dict)
    max_snap_m: float | None = Field(default=None, gt=0)
    """Farthest a site may lie from a road (default 2,000 m on the bundled network, 500 m on OSM graphs)."""

    @model_validator(mode="after")
    def _check(self) -> NetworkSpec:
        if self.place is not None or self.bbox is not None:
            self.source = None
        if self.bbox is not None:
            w, s, e, n = self.bbox
            if not (w < e and s < n):
                raise ValueError(
                    "bbox is [west, south, east, north] with west < east, south < north"
                )
        for k, v in self.speeds_kph.items():
            if v <= 0:
                raise ValueError(f"speed for {k!r} must be positive")
        return self


class CrossingPoint(_Model):
    """A point where roads may cross the line of contact."""

    id: str
    name: str | None = None
    location: Location
    delay_min: float = Field(default=0.0, ge=0)
    vehicles_per_hour: float | None = Field(default=None, gt=0)
    radius_m: float | None = Field(default=None, gt=0)
    closed_from: datetime | None = None
    """The crossing closes at this time; legs leaving later may not use it.  Planning does
    not use a crossing that closes at all."""

    _check_location = field_validator("location")(
        lambda v: v if isinstance(v, PlaceRef) else check_lonlat(v)
    )


#: A via point of a corridor: a site id or a place name (a string: site ids are tried
#: first), a settlement reference ``{place: ...}`` / ``{geonameid: ...}``, or ``[lon, lat]``.
ViaPoint = tuple[float, float] | PlaceRef | str


class CorridorCheckpoint(_Model):
    """An agreed checkpoint on a corridor where every vehicle stops ``stop_min`` minutes."""

    id: str = Field(min_length=1)
    name: str | None = None
    location: Location
    stop_min: float = Field(default=0.0, ge=0)

    _check_location = field_validator("location")(
        lambda v: v if isinstance(v, PlaceRef) else check_lonlat(v)
    )


class Corridor(_Model):
    """An agreed humanitarian corridor: the road path through ``via`` in order, or a line file.

    ``direction`` is relative to the order of ``via`` (or of the line's vertices):
    ``outbound`` only from the first via point towards the last, ``inbound`` only back,
    ``both`` either way.  ``windows`` default to the ceasefire's.
    """

    id: str = Field(min_length=1)
    name: str | None = None
    via: list[ViaPoint] | None = None
    file: str | None = None
    """A LineString (GeoJSON or GeoPackage, WGS84) followed instead of ``via``."""
    layer: str | None = None
    width_m: float = Field(default=500.0, gt=0)
    windows: list[Window] | None = None
    direction: Literal["both", "outbound", "inbound"] = "both"
    checkpoints: list[CorridorCheckpoint] = Field(default_factory=list)

    @field_validator("via")
    @classmethod
    def _via(cls, v: list[Any] | None) -> list[Any] | None:
        for item in v or []:
            if isinstance(item, tuple):
                check_lonlat(item)
            elif isinstance(item, str) and not item.strip():
                raise ValueError("a via point may not be an empty string")
        return v

    @model_validator(mode="after")
    def _check(self) -> Corridor:
        if (self.via is None) == (self.file is None):
            raise ValueError("give exactly one of 'via' (two or more points) or 'file' (a line)")
        if self.via is not None and len(self.via) < 2:
            raise ValueError("via needs at least two points (where the corridor starts and ends)")
        if self.windows is not None:
            if not self.windows:
                raise ValueError(
                    "windows: give at least one window, or leave it out for the ceasefire's"
                )
            self.windows = sorted(self.windows, key=lambda w: w.start)
        return self


class Convoy(_Model):
    """Vehicles on ``corridor`` move together: they leave ``from`` at one of the ``depart`` times."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    corridor: str
    from_: str = Field(alias="from")
    depart: list[datetime] = Field(min_length=1)
    max_vehicles: int | None = Field(default=None, gt=0)
    lead: str | None = None
    """The lead vehicle: a fleet type without seats (one of its vehicles heads each departure
    used, see :mod:`planner.convoys`), or else a label (ICRC, UN) of a vehicle not planned."""
    max_speed_kph: float | None = Field(default=None, gt=0)
    gap_min: float = Field(default=0.0, ge=0)
    """Minutes between consecutive vehicles of the convoy."""

    @field_validator("depart")
    @classmethod
    def _depart(cls, v: list[datetime]) -> list[datetime]:
        for t in v:
            if t.tzinfo is None:
                raise ValueError(
                    "departure times need a timezone offset (e.g. 2022-03-16T08:00:00+02:00)"
                )
        return sorted(v)


class Ceasefire(_Model):
    """When and where movement is agreed."""

    windows: list[Window] = Field(min_length=1)
    crossing_points: list[CrossingPoint] = Field(default_factory=list)
    corridors: list[Corridor] = Field(default_factory=list)
    """Agreed corridors (see :mod:`planner.agreed_corridors`); when given, people are carried
    only along them."""
    convoys: list[Convoy] = Field(default_factory=list)
    approach_km: float = Field(default=5.0, ge=0)
    """Within this distance of a site, vehicles may leave the corridors (its own town)."""

    @model_validator(mode="after")
    def _check(self) -> Ceasefire:
        ordered = sorted(self.windows, key=lambda w: w.start)
        for a, b in zip(ordered, ordered[1:], strict=False):
            if b.start < a.end:
                raise ValueError(
                    f"windows overlap: {a.start.isoformat()} – {a.end.isoformat()} and {b.start.isoformat()}"
                )
        self.windows = ordered
        ids = [c.id for c in self.crossing_points]
        if len(set(ids)) != len(ids):
            raise ValueError("crossing point ids must be unique")
        _check_corridor_ids(self.corridors, self.convoys)
        return self


def _check_corridor_ids(corridors: list[Corridor], convoys: list[Convoy]) -> None:
    """Unique corridor and checkpoint ids; every convoy names a corridor."""
    seen: set[str] = set()
    for i, c in enumerate(corridors):
        if c.id in seen:
            raise ValueError(
                f"ceasefire.corridors.{i}.id: {c.id!r} is repeated (corridor ids must be unique)"
            )
        seen.add(c.id)
    points: set[str] = set()
    for i, c in enumerate(corridors):
        for j, cp in enumerate(c.checkpoints):
            if cp.id in points:
                raise ValueError(
                    f"ceasefire.corridors.{i}.checkpoints.{j}.id: {cp.id!r} is repeated (checkpoint ids must be unique)"
                )
            points.add(cp.id)
    for i, cv in enumerate(convoys):
        if cv.corridor not in seen:
            known = ", ".join(sorted(seen)) or "none"
            raise ValueError(
                f"ceasefire.convoys.{i}.corridor: {cv.corridor!r} is not a corridor id (known: {known})"
            )


class People(_Model):
    """People waiting, by group."""

    general: int = Field(default=0, ge=0)
    children: int = Field(default=0, ge=0)
    reduced_mobility: int = Field(default=0, ge=0)
    wounded: int = Field(default=0, ge=0)

    def as_dict(self) -> dict[str, int]:
        return {g: int(getattr(self, g)) for g in GROUPS}

    def total(self) -> int:
        return sum(self.as_dict().values())


class HouseholdSpec(_Model):
    """``households``: the people of an assembly point as households (see :mod:`planner.households`).

    One of: ``count`` with ``members`` (means per household), ``sizes`` (size -> households;
    ``members`` then gives the shares of the groups), or ``file`` (a registration file).
    """

    count: int | None = Field(default=None, ge=1)
    members: dict[Group, float] | None = None
    sizes: dict[int, int] | None = None
    file: str | None = None
    sheet: str | None = None
    companions: int = Field(default=0, ge=0)
    """Companions per wounded member; each takes a seat in the household's vehicle."""

    @model_validator(mode="after")
    def _one_form(self) -> HouseholdSpec:
        if self.file is not None:
            if self.count is not None or self.members is not None or self.sizes is not None:
                raise ValueError("give 'file' alone, or 'count' with 'members', or 'sizes'")
        elif self.sizes is not None:
            if any(s < 1 or n < 0 for s, n in self.sizes.items()) or not sum(self.sizes.values()):
                raise ValueError(
                    "sizes: give household size (1 or more) -> number of households (some above 0)"
                )
            if self.count is not None and self.count != sum(self.sizes.values()):
                raise ValueError(
                    f"count {self.count} disagrees with sizes ({sum(self.sizes.values())} households)"
                )
        elif self.count is None or not self.members:
            raise ValueError(
                "give 'count' with 'members' (means per household), or 'sizes', or 'file'"
            )
        if self.members is not None and (
            any(v < 0 for v in self.members.values()) or not sum(self.members.values())
        ):
            raise ValueError("members: means must not be negative, and not all 0")
        return self


class AssemblyPoint(_Model):
    """A place where people wait to be picked up.

    ``people`` by group, or ``households`` (then ``people`` is made from them, and refused
    if it is given too and disagrees).
    """

    id: str
    name: str | None = None
    location: Location
    people: People | None = None
    households: HouseholdSpec | None = None
    pcode: str | None = None
    """KATOTTG code of the settlement (``UA`` and 17 digits), kept by every export."""

    _household_list: list[Household] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _people_or_households(self) -> AssemblyPoint:
        h = self.households
        if h is None:
            if self.people is None:
                raise ValueError("people: is required (or give households)")
            return self
        if h.file is None:
            if h.sizes is not None:
                members = cast("dict[str, float] | None", h.members)
                made = households_from_sizes(self.id, h.sizes, members, GROUPS, h.companions)
            else:
                assert h.count is not None and h.members is not None
                made = households_from_means(
                    self.id, h.count, cast("dict[str, float]", h.members), GROUPS, h.companions
                )
            self.set_households(made)
        return self

    def require_people(self) -> People:
        """The people waiting here (given, or made from ``households`` by validation)."""
        if self.people is None:
            raise ScenarioError("<scenario>", f"assembly point {self.id}", "has no people")
        return self.people

    @property
    def household_list(self) -> list[Household] | None:
        """The site's households, once expanded (None for a site given by ``people``)."""
        return self._household_list

    def set_households(self, households: list[Household]) -> None:
        """Take these households as the site's people.

        Raises
        ------
        ValueError
            When ``people`` was given and disagrees with them.
        """
        totals = household_totals(households, GROUPS)
        if self.people is not None and self.people.as_dict() != totals:
            given = ", ".join(f"{g} {n}" for g, n in totals.items() if n)
            raise ValueError(
                f"people: disagrees with households (they give {given}); give one or the other"
            )
        self.people = People(**totals)
        self._household_list = households

    _check_location = field_validator("location")(
        lambda v: v if isinstance(v, PlaceRef) else check_lonlat(v)
    )


class FromOsm(_Model):
    """Assembly points made from OpenStreetMap features of the loaded data."""

    tags: dict[str, bool | str | list[str]] = Field(min_length=1)
    people: People
    share: Literal["even", "building_area"] = "even"
    file: str | None = None
    """OSM file with the features; defaults to the scenario's ``network.source``."""


class AssemblyFromOsm(_Model):
    """``assembly_points: {from_osm: {...}}``."""

    from_osm: FromOsm


class AssemblyFromFile(_Model):
    """``assembly_points: {file: registrations.csv}``: an HXL-tagged CSV or XLSX (see :mod:`planner.hxl`)."""

    file: str
    sheet: str | None = None


class ReceptionCentre(_Model):
    """A place where evacuees are received, up to ``capacity`` people."""

    id: str
    name: str | None = None
    location: Location
    capacity: int = Field(ge=0)
    pcode: str | None = None

    _check_location = field_validator("location")(
        lambda v: v if isinstance(v, PlaceRef) else check_lonlat(v)
    )


class VehicleType(_Model):
    """A type of vehicle: ``count`` identical vehicles with ``seats`` that may carry ``groups``."""

    type: str
    count: int = Field(ge=0)
    seats: int = Field(ge=0)
    """0 for a vehicle that carries nobody: a convoy's lead vehicle (``ceasefire.convoys.lead``)."""
    groups: list[Group] = Field(default_factory=list)
    start: str | Location
    available_from: datetime | None = None

    @field_validator("start")
    @classmethod
    def _start(cls, v: Any) -> Any:
        if isinstance(v, tuple):
            return check_lonlat(v)
        return v


class Evacuation(_Model):
    """The evacuation part of a scenario."""

    assembly_points: list[AssemblyPoint] | AssemblyFromOsm | AssemblyFromFile
    reception_centres: list[ReceptionCentre] = Field(min_length=1)
    fleet: list[VehicleType] = Field(min_length=1)
    priorities: dict[Group, float] = Field(
        default_factory=lambda: cast("dict[Group, float]", dict(DEFAULT_PRIORITIES))
    )
    boarding_s_per_person: float = Field(default=6.0, ge=0)
    stop_min: float = Field(default=10.0, ge=0)
    unload_min: float = Field(default=15.0, ge=0)
    max_wait_loaded_min: float = Field(default=60.0, ge=0)

    @field_validator("priorities")
    @classmethod
    def _prio(cls, v: dict[str, float]) -> dict[str, float]:
        for g, w in v.items():
            if w <= 0:
                raise ValueError(f"priority of {g!r} must be positive")
        return {**DEFAULT_PRIORITIES, **v}

    def point_list(self) -> list[AssemblyPoint]:
        """The assembly points as a list (``from_osm`` and ``file`` are expanded at load time)."""
        return self.assembly_points if isinstance(self.assembly_points, list) else []

    @model_validator(mode="after")
    def _check(self) -> Evacuation:
        if isinstance(self.assembly_points, list) and not self.assembly_points:
            raise ValueError("assembly_points: give at least one assembly point (or from_osm)")
        listed = self.assembly_points if isinstance(self.assembly_points, list) else []
        ids = [s.id for s in listed] + [s.id for s in self.reception_centres]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"site ids must be unique; repeated: {', '.join(dup)}")
        types = [v.type for v in self.fleet]
        if len(set(types)) != len(types):
            raise ValueError("vehicle types must be unique")
        for i, vt in enumerate(self.fleet):
            if vt.seats > 0 and not vt.groups:
                raise ValueError(
                    f"evacuation.fleet.{i}.groups: give at least one group this vehicle may carry"
                )
            if vt.seats == 0 and vt.groups:
                raise ValueError(
                    f"evacuation.fleet.{i}.seats: 0 seats, yet it carries {', '.join(vt.groups)}; only a "
                    "convoy's lead vehicle has no seats, and then give it groups: []"
                )
        return self


class Scenario(_Model):
    """A whole scenario file.

    Attributes are the file's sections; ``path`` is where it was read from (relative layer
    paths are resolved against its folder).
    """

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str | None = None
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    ceasefire: Ceasefire
    frontline: FrontlineSpec | None = None
    hazards: list[HazardItem] = Field(default_factory=list)
    evacuation: Evacuation | None = None
    exchange: ExchangeSpec | None = None
    """The prisoner exchange (see :mod:`planner.exchange_spec`; its rosters are read by
    :func:`planner.exchange_spec.parse_exchange`)."""
    # Read by its own package (planner.repatriation.spec), which checks it at load time.
    repatriation: dict[str, Any] | None = None
    expect: Any = None
    variants: Any = None
    disruptions: Any = None
    solver: Literal["ortools", "pyvrp", "best"] = "ortools"
    """Routing search backend (see :mod:`planner.routing_pyvrp`): OR-Tools (default); PyVRP,
    for routing problems it can express; or both, keeping the better result."""

    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _starts(self) -> Scenario:
        if self.evacuation is None:
            if self.exchange is None and self.repatriation is None:
                raise ValueError(
                    "evacuation: give an 'evacuation', 'exchange' or 'repatriation' section (or several)"
                )
            return self
        points = (
            self.evacuation.assembly_points
            if isinstance(self.evacuation.assembly_points, list)
            else []
        )
        site_ids = {s.id for s in points} | {s.id for s in self.evacuation.reception_centres}
        for i, vt in enumerate(self.evacuation.fleet):
            if isinstance(vt.start, str) and vt.start not in site_ids:
                raise ValueError(
                    f"evacuation.fleet.{i}.start: {vt.start!r} is not a site id "
                    f"(use a reception centre or assembly point id, or [lon, lat])"
                )
        return self

    # ------------------------------------------------------------------ helpers

    def base_dir(self) -> Path:
        """Folder that relative file paths in the scenario are resolved against."""
        return self.path.parent if self.path is not None else Path.cwd()

    def resolve_path(self, name: str) -> Path:
        """Resolve a file named in the scenario relative to the scenario's folder."""
        p = Path(name).expanduser()
        return p if p.is_absolute() else self.base_dir() / p

    def source_name(self) -> str:
        return str(self.path) if self.path is not None else "<scenario>"

    def require_evacuation(self) -> Evacuation:
        """The evacuation section, or a ScenarioError naming it when the file has none."""
        if self.evacuation is None:
            raise ScenarioError(
                self.source_name(),
                "evacuation",
                "is required here (the file has only an exchange section)",
            )
        return self.evacuation


def parse_scenario(data: Any, source: str | Path = "<scenario>") -> Scenario:
    """Validate an already-parsed scenario mapping.

    Parameters
    ----------
    data
        The mapping, as ``yaml.safe_load`` returns it.
    source
        File name used in error messages and to resolve relative paths.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        With file, field and problem for the first thing that is wrong.
    """
    if not isinstance(data, dict):
        raise ScenarioError(
            str(source),
            "",
            "the file must hold a mapping of sections (name, ceasefire, evacuation, ...)",
        )
    check_raw_scenario(data, source)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        field, msg = validation_error_line(err)
        raise ScenarioError(str(source), field, msg) from None
    if str(source) != "<scenario>":
        scenario.path = Path(source)
    if scenario.evacuation is not None and isinstance(
        scenario.evacuation.assembly_points, AssemblyFromOsm
    ):
        _expand_from_osm(scenario)
    if scenario.evacuation is not None and isinstance(
        scenario.evacuation.assembly_points, AssemblyFromFile
    ):
        _expand_from_file(scenario)
    _resolve_locations(scenario)
    _read_household_files(scenario)
    check_scenario(scenario)
    if scenario.ceasefire.corridors or scenario.ceasefire.convoys:
        check_corridor_refs(scenario)
    if scenario.exchange is not None:
        parse_exchange(scenario)  # section and roster errors surface at load time
    if scenario.repatriation is not None:
        parse_repatriation(scenario)
    return scenario


def _expand_from_osm(scenario: Scenario) -> None:
    """Replace ``assembly_points: {from_osm: ...}`` by the points made from the OSM data."""
    from planner.errors import NetworkError
    from planner.osm import assembly_points_from_osm

    ev = scenario.require_evacuation()
    spec = ev.assembly_points
    assert isinstance(spec, AssemblyFromOsm)
    src = scenario.source_name()
    fo = spec.from_osm
    name = fo.file or scenario.network.source
    if not name or name in ("regional", "ukraine", "national"):
        raise ScenarioError(
            src,
            "evacuation.assembly_points.from_osm.file",
            "needs an OSM file (set 'file', or a network source that is one)",
        )
    try:
        points = assembly_points_from_osm(
            scenario.resolve_path(name), fo.tags, fo.people.as_dict(), fo.share
        )
    except NetworkError as exc:
        raise ScenarioError(src, "evacuation.assembly_points.from_osm", str(exc)) from None
    ev.assembly_points = [AssemblyPoint.model_validate(p) for p in points]
    ids = [p.id for p in ev.assembly_points]
    clash = sorted(set(ids) & {r.id for r in ev.reception_centres})
    if clash:
        raise ScenarioError(
            src,
            "evacuation.assembly_points.from_osm",
            f"made ids that clash with reception centres: {', '.join(clash)}",
        )


def _expand_from_file(scenario: Scenario) -> None:
    """Replace ``assembly_points: {file: ...}`` by the points read from the HXL-tagged file."""
    from planner.hxl import read_assembly_points

    ev = scenario.require_evacuation()
    spec = ev.assembly_points
    assert isinstance(spec, AssemblyFromFile)
    src = scenario.source_name()
    path = scenario.resolve_path(spec.file)
    if not Path(path).is_file():
        raise ScenarioError(src, "evacuation.assembly_points.file", f"file not found: {path}")
    points = []
    for i, p in enumerate(read_assembly_points(path, sheet=spec.sheet)):
        try:
            points.append(AssemblyPoint.model_validate(p))
        except ValidationError as err:
            field, msg = validation_error_line(err)
            raise ScenarioError(str(path), f"site {p.get('id')} ({i + 1}): {field}", msg) from None
    ev.assembly_points = points
    ids = [p.id for p in points]
    clash = sorted(set(ids) & {r.id for r in ev.reception_centres})
    if clash:
        raise ScenarioError(
            src,
            "evacuation.assembly_points.file",
            f"site ids clash with reception centres: {', '.join(clash)}",
        )


def _read_household_files(scenario: Scenario) -> None:
    """Read the registration files of ``households: {file: ...}``."""
    ev = scenario.evacuation
    if ev is None or not isinstance(ev.assembly_points, list):
        return
    src = scenario.source_name()
    for i, a in enumerate(ev.assembly_points):
        h = a.households
        if h is None or h.file is None:
            continue
        path = scenario.resolve_path(h.file)
        field = f"evacuation.assembly_points.{i}.households.file"
        if not path.is_file():
            raise ScenarioError(src, field, f"file not found: {path}")
        made = read_household_file(path, h.sheet, GROUPS, h.companions)
        try:
            a.set_households(made)
        except ValueError as exc:
            raise ScenarioError(
                src, f"evacuation.assembly_points.{i}.people", str(exc).removeprefix("people: ")
            ) from None


def _resolve_locations(scenario: Scenario) -> None:
    """Check every settlement reference resolves, so errors surface at load time."""
    src = scenario.source_name()
    ev = scenario.evacuation
    groups: list[tuple[str, list[Any]]] = [
        ("ceasefire.crossing_points", scenario.ceasefire.crossing_points)
    ]
    if ev is not None:
        groups += [
            ("evacuation.assembly_points", ev.point_list()),
            ("evacuation.reception_centres", ev.reception_centres),
        ]
    for prefix, items in groups:
        for i, item in enumerate(items):
            try:
                location_lonlat(item.location)
            except ValueError as exc:
                raise ScenarioError(src, f"{prefix}.{i}.location", str(exc)) from None
    for i, vt in enumerate(ev.fleet if ev is not None else []):
        if not isinstance(vt.start, str):
            try:
                location_lonlat(vt.start)
            except ValueError as exc:
                raise ScenarioError(src, f"evacuation.fleet.{i}.start", str(exc)) from None
    for i, h in enumerate(scenario.hazards):
        if h.file is not None and not scenario.resolve_path(h.file).exists():
            raise ScenarioError(
                src, f"hazards.{i}.file", f"file not found: {scenario.resolve_path(h.file)}"
            )
    fl = scenario.frontline
    if fl is not None and fl.file is not None and not scenario.resolve_path(fl.file).exists():
        raise ScenarioError(
            src, "frontline.file", f"file not found: {scenario.resolve_path(fl.file)}"
        )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path
        A YAML (or JSON) scenario file.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        When the file is missing, is not valid YAML, or a field is invalid; the message
        names the file, the field and the problem on one line.
    """
    return parse_scenario(read_yaml(path), Path(path))


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file with ``yaml.safe_load``.

    Raises
    ------
    ScenarioError
        When the file is missing, unreadable or not valid YAML (with line and column).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(str(path), "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), "", f"cannot read: {exc}") from None
    return load_yaml_text(text, str(path))


def scenario_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of scenario files."""
    return Scenario.model_json_schema()


def dump_schema() -> str:
    """The JSON Schema as indented text."""
    return json.dumps(scenario_json_schema(), indent=2, sort_keys=True)
