"""Households: the people of an assembly point given as families that travel together.

An assembly point's ``households`` key gives its people as households, in one of three forms
(see the README, "Households"):

- ``{count, members: {general: 2, children: 1.5}}``: ``count`` households with these mean
  members per group.  Each group's total is its mean times ``count``, rounded; the members
  of every group are spread evenly (each household gets the floor of the share, the
  remainders go round the households in turn, continuing from group to group).
- ``{sizes: {2: 120, 3: 80}}``: so many households of each size.  Without ``members`` the
  first two members of a household are ``general`` (one in a household of one) and the rest
  ``children``; with ``members`` the means are read as shares of the groups, and the members
  are dealt out in proportion, household after household (smallest first).
- ``{file: households.csv}``: a CSV or XLSX sheet, one row per member, with the columns
  ``household`` (a pseudonymous id: letters, digits, ``_.:-`` and at least one digit, never
  a name), ``group`` and optionally ``needs`` (free text; ``companion`` in it gives that
  member a companion).

``companions: 1`` gives every wounded member a companion who takes a seat in the same
vehicle; companions are escorts, not people of the list, so they count in seats only.
Household ids are ``<site>-h<k>`` for the first two forms, the file's ids for the third.
This module knows nothing of the planner; :mod:`planner.scenario` calls it at load time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.errors import ScenarioError

HOUSEHOLD_ID = re.compile(r"^(?=.*[0-9])[A-Za-z0-9_.:-]{1,40}$")
"""Pseudonymous household ids: short, with a digit (a guard against names)."""


@dataclass
class Household:
    """One household: pseudonymous id, members per group, companions (seats only)."""

    id: str
    members: dict[str, int]
    companions: int = 0

    @property
    def people(self) -> int:
        """Members, companions not included."""
        return sum(self.members.values())

    @property
    def seats(self) -> int:
        """Seats the household takes: its members and their companions."""
        return self.people + self.companions

    @property
    def groups(self) -> list[str]:
        """The groups of its members."""
        return sorted(g for g, n in self.members.items() if n > 0)


def _round(x: float) -> int:
    return int(math.floor(x + 0.5))


def household_totals(households: Sequence[Household], groups: Sequence[str]) -> dict[str, int]:
    """Members per group over all the households."""
    return {g: sum(h.members.get(g, 0) for h in households) for g in groups}


def _ids(site: str, n: int) -> list[str]:
    width = max(3, len(str(n)))
    return [f"{site}-h{k + 1:0{width}d}" for k in range(n)]


def households_from_means(
    site: str,
    count: int,
    means: dict[str, float],
    groups: Sequence[str],
    companions: int = 0,
) -> list[Household]:
    """``count`` households whose group totals are the rounded means times ``count``.

    Raises
    ------
    ValueError
        When some household would have no member.
    """
    totals = {g: _round(means.get(g, 0.0) * count) for g in groups}
    if sum(totals.values()) < count:
        raise ValueError(
            f"the members ({sum(totals.values())} in all) do not give each of the {count} "
            "households one member; mean household size must be at least 1"
        )
    members = [dict.fromkeys(groups, 0) for _ in range(count)]
    pointer = 0
    for g in groups:
        base, rest = divmod(totals[g], count)
        for m in members:
            m[g] = base
        for k in range(rest):
            members[(pointer + k) % count][g] += 1
        pointer = (pointer + rest) % count
    return _made(site, members, companions)


def _made(site: str, members: list[dict[str, int]], companions: int) -> list[Household]:
    return [
        Household(i, {g: n for g, n in m.items() if n}, companions * m.get("wounded", 0))
        for i, m in zip(_ids(site, len(members)), members, strict=True)
    ]


def households_from_sizes(
    site: str,
    sizes: dict[int, int],
    shares: dict[str, float] | None,
    groups: Sequence[str],
    companions: int = 0,
) -> list[Household]:
    """Households of the given sizes (size -> how many), smallest first.

    Without ``shares``: two ``general`` members (one in a household of one), the rest
    ``children``.  With ``shares``: members dealt out so that each group's running total
    keeps closest to its share (largest deficit first, ties in the order of ``groups``).
    """
    list_sizes = [s for s, n in sorted(sizes.items()) for _ in range(n)]
    members: list[dict[str, int]] = []
    if not shares:
        for s in list_sizes:
            m = dict.fromkeys(groups, 0)
            m["general"] = min(s, 2)
            m["children"] = s - m["general"]
            members.append(m)
        return _made(site, members, companions)
    total_share = sum(shares.values())
    weight = {g: shares.get(g, 0.0) / total_share for g in groups}
    dealt = dict.fromkeys(groups, 0)
    k = 0
    for s in list_sizes:
        m = dict.fromkeys(groups, 0)
        for _ in range(s):
            k += 1
            g = max(groups, key=lambda g: weight[g] * k - dealt[g])
            dealt[g] += 1
            m[g] += 1
        members.append(m)
    return _made(site, members, companions)


def read_household_file(
    path: Path, sheet: str | None, groups: Sequence[str], companions: int = 0
) -> list[Household]:
    """Households from a registration file: one row per member (see the module notes).

    Raises
    ------
    ScenarioError
        Naming the file, the row and the column, for the first thing that is wrong.
    """
    from planner.hxl import table_rows

    rows = [r for r in table_rows(path, sheet) if any(c not in (None, "") for c in r)]
    if not rows:
        raise ScenarioError(str(path), "", "is empty; give a header row: household, group[, needs]")
    header = [str(c or "").strip().lower() for c in rows[0]]
    missing = [c for c in ("household", "group") if c not in header]
    if missing:
        raise ScenarioError(
            str(path),
            "header",
            f"needs the columns household and group (missing: {', '.join(missing)})",
        )
    col: dict[str, int] = {
        c: header.index(c) for c in ("household", "group", "needs") if c in header
    }
    found: dict[str, Household] = {}
    for i, r in enumerate(rows[1:], start=2):
        hid, group, needs = _member(r, col, path, i, groups)
        h = found.setdefault(hid, Household(hid, {}, 0))
        h.members[group] = h.members.get(group, 0) + 1
        h.companions += companions * (group == "wounded") + ("companion" in needs)
    if not found:
        raise ScenarioError(str(path), "", "lists no household member")
    return [found[k] for k in sorted(found)]


def _member(
    r: list[Any], col: dict[str, int], path: Path, row: int, groups: Sequence[str]
) -> tuple[str, str, str]:
    def cell(name: str) -> str:
        i = col.get(name)
        return "" if i is None or i >= len(r) or r[i] is None else str(r[i]).strip()

    hid, group = cell("household"), cell("group").lower()
    if not HOUSEHOLD_ID.match(hid):
        raise ScenarioError(
            str(path),
            f"row {row}: household",
            f"{hid!r} is not a pseudonymous id (letters, digits, _.:- with at least one digit; never a name)",
        )
    if group not in groups:
        raise ScenarioError(
            str(path), f"row {row}: group", f"{group!r} is not one of {', '.join(groups)}"
        )
    return hid, group, cell("needs").lower()
