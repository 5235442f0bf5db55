"""What-if variants: named changes applied over a base scenario, each planned on its own.

A scenario's ``variants`` section is a list; each variant has a ``name``, a list of
``changes`` applied in order to the file's data, and its own ``expect`` list or
``expect: inherit`` (the default: the base scenario's expectations)::

    variants:
      - name: six-hour-truce
        description: the first day's truce ends at 13:00
        changes:
          - shorten_window: {index: 0, end: "2022-03-16T13:00:00+02:00"}   # and/or start
          - remove_window: 1                      # index in the file's order
          - close_crossing: vasylivka             # the crossing point is gone
          - add_hazard: {file: shelling.geojson, kind: closed}   # any hazards item
          - fleet: {type: bus, count: 20}         # count, seats and/or available_from
          - people: {site: drama-theatre, add: {general: 500}}   # or set: {...}
          - set: {path: exchange.terms.ratio, value: 2}           # any field, dotted path
        expect: inherit

Each variant becomes a scenario of its own named ``<base>.<variant>`` (scenario names may
not hold ``::``); reports and test ids show it as ``<base>::<variant>``.  Relative file
paths in changes are resolved against the scenario's folder, like the rest of the file.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from planner.errors import ScenarioError
from planner.expect import NAME_PATTERN, Expectation, parse_expectations, validation_error
from planner.repatriation import expectations as _repatriation_kinds  # noqa: F401  registers its kinds
from planner.scenario import GROUPS, HazardItem, Scenario, parse_scenario, read_yaml


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _aware(v: datetime | None) -> datetime | None:
    if v is not None and v.tzinfo is None:
        raise ValueError("needs a timezone offset (e.g. 2022-03-16T13:00:00+02:00)")
    return v


# --------------------------------------------------------------------------- changes


class Change(_M):
    """Base of the changes a variant makes; one key per change (see the module doc)."""

    key: ClassVar[str] = ""

    def apply(self, data: dict[str, Any], source: str, field: str) -> None:
        """Change the scenario mapping ``data`` in place.

        Parameters
        ----------
        data
            The scenario as YAML gives it (already a copy).
        source
            File name for error messages.
        field
            Dotted path of this change (``variants.0.changes.1``).

        Raises
        ------
        ScenarioError
            When the change names something the scenario does not have.
        """
        raise NotImplementedError


def _windows(data: dict[str, Any], source: str, field: str) -> list[Any]:
    ws = (data.get("ceasefire") or {}).get("windows")
    if not isinstance(ws, list):
        raise ScenarioError(source, field, "the scenario has no ceasefire.windows list")
    return ws


def _index(items: list[Any], index: int, source: str, field: str, what: str) -> None:
    if index >= len(items):
        raise ScenarioError(source, field, f"the scenario has {len(items)} {what} (indices from 0)")


class WindowEdit(_M):
    """``shorten_window``: new ``end`` and/or ``start`` of window ``index``."""

    index: int = Field(ge=0)
    end: datetime | None = None
    start: datetime | None = None

    _tz = field_validator("end", "start")(_aware)

    @model_validator(mode="after")
    def _some(self) -> WindowEdit:
        if self.end is None and self.start is None:
            raise ValueError("give 'end', 'start' or both")
        return self


class ShortenWindow(Change):
    """Move a window's end (or start); index in the file's order."""

    key: ClassVar[str] = "shorten_window"
    shorten_window: WindowEdit

    def apply(self, data: dict[str, Any], source: str, field: str) -> None:
        ws = _windows(data, source, field)
        w = self.shorten_window
        _index(ws, w.index, source, f"{field}.shorten_window.index", "windows")
        if not isinstance(ws[w.index], dict):
            raise ScenarioError(
                source, f"{field}.shorten_window.index", "that window is not a {start, end} mapping"
            )
        if w.end is not None:
            ws[w.index]["end"] = w.end.isoformat()
        if w.start is not None:
            ws[w.index]["start"] = w.start.isoformat()


class RemoveWindow(Change):
    """Remove a window (index in the file's order)."""

    key: ClassVar[str] = "remove_window"
    remove_window: int = Field(ge=0)

    def apply(self, data: dict[str, Any], source: str, field: str) -> None:
        ws = _windows(data, source, field)
        _index(ws, self.remove_window, source, f"{field}.remove_window", "windows")
        del ws[self.remove_window]


class CloseCrossing(Change):
    """Close a crossing point: it is removed from the scenario."""

    key: ClassVar[str] = "close_crossing"
    close_crossing: str

    def apply(self, data: dict[str, Any], source: str, field: str) -> None:
        cps = (data.get("ceasefire") or {}).get("crossing_points") or []
        ids = [c.get("id") for c in cps if isinstance(c, dict)]
        if self.close_crossing not in ids:
            raise ScenarioError(
                source,
                f"{field}.close_crossing",
                f"{self.close_crossing!r} is not a crossing point (known: {', '.join(map(str, ids)) or 'none'})",
            )
        data["ceasefire"]["crossing_points"] = [
            c for c in cps if not (isinstance(c, dict) and c.get("id") == self.close_crossing)
        ]


class AddHazard(Change):
    """Add a hazard (any ``hazards`` item: ``polygon``, ``geometry`` or ``file``)."""

    key: ClassVar[str] = "add_hazard"
    add_hazard: HazardItem

    def apply(self, data: dict[str, Any], source: str, field: str) -> None:
        item = self.add_hazard.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
        hazards = data.get("hazards")
        data["hazards"] = [*(hazards if isinstance(hazards, list) else []), item]


class FleetEdit(_M):
    """``fleet``: new ``count``, ``seats`` or ``available_from`` of a vehicle type."""

    type: str
    count: int | None = Field(default=None, ge=0)
    seats: int | None = Field(default=None, gt=0)
    available_from: datetime | None = None

    _tz = field_validator("available_from")(_aware)

    @model_validator(mode="after")
    def _some(self) -> FleetEdit:
        if self.count is None and self.seats is None and self.available_from is None:
            raise ValueError("give 'count', 'seats' or 'available_from'")
        return self


class Fleet(Change):
    """Change a vehicle type of the fleet (e.g. fewer buses)."""

    key: ClassVar[str] = "fleet"
    fleet: FleetEdit

    def apply(self, data: dict[str, Any], source: str, field: str) -> None:
        fleet = (data.get("evacuation") or {}).get("fleet") or []
        types = [vt.get("type") for vt in fleet if isinstance(vt, dict)]
        edit = self.fleet
        if edit.type not in types:
            raise ScenarioError(
                source,
                f"{field}.fleet.type",
                f"{edit.type!r} is not a vehicle type (known: {', '.join(map(str, types)) or 'none'})",
            )
        vt = next(vt for vt in fleet if isinstance(vt, dict) and vt.get("type") == edit.type)
        if edit.count is not None:
            vt["count"] = edit.count
        if edit.seats is not None:
            vt["seats"] = edit.seats
        if edit.available_from is not None:
            vt["available_from"] = edit.available_from.isoformat()


class PeopleEdit(_M):
    """``people``: ``add`` to (or ``set``) the people waiting at an assembly point."""

    site: str
    add: dict[str, int] | None = None
    set: dict[str, int] | None = None

    @model_validator(mode="after")
    def _check(self) -> PeopleEdit:
        if (self.add is None) == (self.set is None):
            raise ValueError("give exactly one of 'add' or 'set'")
        for g in self.add or self.set or {}:
            if g not in GROUPS:
                raise ValueError(f"unknown group {g!r} (known: {', '.join(GROUPS)})")
        return self


class People(Change):
    """More (or fewer, or exactly so many) people at an assembly point."""

    key: ClassVar[str] = "people"
    people: PeopleEdit

    def apply(self, data: dict[str, Any], source: str, field: str) -> None:
        points = (data.get("evacuation") or {}).get("assembly_points")
        if not isinstance(points, list):
            raise ScenarioError(
                source,
                f"{field}.people.site",
                "people changes need assembly points listed in the file",
            )
        ids = [p.get("id") for p in points if isinstance(p, dict)]
        edit = self.people
        if edit.site not in ids:
            raise ScenarioError(
                source,
                f"{field}.people.site",
                f"{edit.site!r} is not an assembly point (known: {', '.join(map(str, ids))})",
            )
        point = next(p for p in points if isinstance(p, dict) and p.get("id") == edit.site)
        people = point.setdefault("people", {})
        for g, n in (edit.add or {}).items():
            people[g] = int(people.get(g, 0) or 0) + n
        for g, n in (edit.set or {}).items():
            people[g] = n


class SetSpec(_M):
    """``set``: any field by dotted ``path`` (list items by index) to ``value``."""

    path: str = Field(min_length=1)
    value: Any


class SetValue(Change):
    """Set any field of the scenario, e.g. a term of the exchange."""

    key: ClassVar[str] = "set"
    set: SetSpec

    def apply(self, data: dict[str, Any], source: str, field: str) -> None:
        parts = self.set.path.split(".")
        node: Any = data
        where = f"{field}.set.path"
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ScenarioError(
                        source,
                        where,
                        f"{'.'.join(parts[: depth + 1])!r}: list index out of range or not a number",
                    )
                if last:
                    node[int(part)] = copy.deepcopy(self.set.value)
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = copy.deepcopy(self.set.value)
                elif part not in node or node[part] is None:
                    node[part] = {}
                    node = node[part]
                else:
                    node = node[part]
            else:
                raise ScenarioError(
                    source, where, f"{'.'.join(parts[:depth])!r} holds a value, not fields"
                )


CHANGES: dict[str, type[Change]] = {
    c.key: c
    for c in (ShortenWindow, RemoveWindow, CloseCrossing, AddHazard, Fleet, People, SetValue)
}
"""Change kinds by their key."""


def parse_change(item: Any, source: str, field: str) -> Change:
    """Validate one change of a variant.

    Parameters
    ----------
    item
        A mapping with one change key.
    source
        File name for error messages.
    field
        Dotted path of the change (``variants.0.changes.1``).

    Returns
    -------
    Change

    Raises
    ------
    ScenarioError
        When the change is unknown or its value invalid.
    """
    known = ", ".join(CHANGES)
    if not isinstance(item, dict) or len(item) != 1:
        raise ScenarioError(source, field, f"a change is a mapping with one key (known: {known})")
    key = str(next(iter(item)))
    if key not in CHANGES:
        raise ScenarioError(source, field, f"unknown change {key!r} (known: {known})")
    try:
        return CHANGES[key].model_validate(item)
    except ValidationError as err:
        sub, msg = validation_error(err)
        raise ScenarioError(source, f"{field}.{sub}" if sub else field, msg) from None


# --------------------------------------------------------------------------- variants


class Variant(_M):
    """One what-if variant of a scenario."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    changes: list[Any] = Field(default_factory=list)
    expect: list[Any] | str = "inherit"

    @field_validator("expect")
    @classmethod
    def _inherit(cls, v: list[Any] | str) -> list[Any] | str:
        if isinstance(v, str) and v != "inherit":
            raise ValueError("give a list of expectations or 'inherit'")
        return v

    @field_validator("name")
    @classmethod
    def _not_base(cls, v: str) -> str:
        if v == "base":
            raise ValueError("'base' names the scenario itself; choose another name")
        return v


@dataclass
class Case:
    """A scenario, or one of its variants, with what must hold in its plan.

    Attributes
    ----------
    file
        The scenario file.
    base
        Name of the base scenario.
    variant
        Name of the variant, ``None`` for the base scenario.
    scenario
        The validated scenario to plan (for a variant, named ``<base>.<variant>``).
    expectations
        What must hold.
    description
        The variant's (or the scenario's) description.
    """

    file: Path
    base: str
    variant: str | None
    scenario: Scenario
    expectations: list[Expectation] = field(default_factory=list)
    description: str | None = None

    @property
    def id(self) -> str:
        """``<base>`` or ``<base>::<variant>``, as shown in reports and test ids."""
        return self.base if self.variant is None else f"{self.base}::{self.variant}"


def parse_variants(raw: Any, source: str) -> list[tuple[Variant, list[Change]]]:
    """Validate a ``variants`` section.

    Parameters
    ----------
    raw
        The section as YAML gives it (``None`` for none).
    source
        File name for error messages.

    Returns
    -------
    list of (Variant, list of Change)

    Raises
    ------
    ScenarioError
        Naming the file, the field (``variants.1.changes.0.close_crossing``) and the problem.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ScenarioError(source, "variants", "must be a list of {name, changes, expect}")
    out: list[tuple[Variant, list[Change]]] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        try:
            v = Variant.model_validate(item)
        except ValidationError as err:
            sub, msg = validation_error(err)
            raise ScenarioError(
                source, f"variants.{i}.{sub}" if sub else f"variants.{i}", msg
            ) from None
        if v.name in seen:
            raise ScenarioError(source, f"variants.{i}.name", f"{v.name!r} is used twice")
        seen.add(v.name)
        out.append(
            (
                v,
                [
                    parse_change(c, source, f"variants.{i}.changes.{j}")
                    for j, c in enumerate(v.changes)
                ],
            )
        )
    return out


def apply_changes(
    data: dict[str, Any], changes: list[Change], source: str, field: str
) -> dict[str, Any]:
    """Apply changes, in order, to a copy of a scenario mapping.

    Parameters
    ----------
    data
        The base scenario as YAML gives it (left untouched).
    changes
        Validated changes.
    source
        File name for error messages.
    field
        Dotted path of the variant (``variants.0``).

    Returns
    -------
    dict
        The changed copy.
    """
    out = copy.deepcopy(data)
    for j, c in enumerate(changes):
        c.apply(out, source, f"{field}.changes.{j}")
    return out


def load_cases(path: str | Path, data: Any = None) -> list[Case]:
    """The base scenario of a file and each of its variants, validated, with expectations.

    Parameters
    ----------
    path
        The scenario file.
    data
        Its content when already read (``yaml.safe_load`` output).

    Returns
    -------
    list of Case
        The base scenario first, then the variants in file order.

    Raises
    ------
    ScenarioError
        For the first problem in the file, its expectations or its variants (a variant
        whose changes leave an invalid scenario names the variant and the field).
    """
    path = Path(path)
    source = str(path)
    raw = read_yaml(path) if data is None else data
    base = parse_scenario(raw, path)
    base_exp = parse_expectations(base.expect, source, "expect")
    cases = [Case(path, base.name, None, base, base_exp, base.description)]
    for i, (variant, changes) in enumerate(parse_variants(base.variants, source)):
        field = f"variants.{i}"
        changed = apply_changes(raw, changes, source, field)
        changed["name"] = f"{base.name}.{variant.name}"
        changed.pop("variants", None)
        if isinstance(variant.expect, list):
            changed["expect"] = variant.expect
        if variant.description:
            changed["description"] = variant.description
        try:
            sc = parse_scenario(changed, path)
        except ScenarioError as exc:
            inner = f"{exc.field}: {exc.problem}" if exc.field else exc.problem
            raise ScenarioError(
                source, field, f"variant {variant.name!r} leaves an invalid scenario: {inner}"
            ) from None
        exps = (
            base_exp
            if variant.expect == "inherit"
            else parse_expectations(variant.expect, source, f"{field}.expect")
        )
        cases.append(Case(path, base.name, variant.name, sc, exps, variant.description))
    return cases
