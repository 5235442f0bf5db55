"""The verifier's household rules: no household split, and only on a vehicle that may carry it.

Like :mod:`planner.verify`, this shares no code with the planner: it reads the households
the scenario gives (``AssemblyPoint.household_list``) and the plan's ``board_households`` /
``alight_households`` as plain JSON.  Rules, each with its code:

- ``household_unknown``: a household id the scenario does not give, or boarding at another
  site than its own;
- ``household_split``: a household boards more than once, alights from another vehicle than
  it boarded, alights twice, never alights, or alights without having boarded;
- ``household_vehicle``: the vehicle's type may not carry one of its members' groups, or has
  fewer seats than its members and companions;
- ``household_counts``: at a site given by households, the people boarding per group are not
  exactly the members of the households listed as boarding;
- ``household_seats``: people on board plus the companions of the households on board
  exceed the vehicle's seats.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from planner.households import Household
from planner.scenario import Scenario

Finding = tuple[str, str, str, str | None]
"""(code, where, message, vehicle id)."""


def _ids(stop: dict[str, Any], key: str) -> list[str]:
    v = stop.get(key)
    return [str(x) for x in v] if isinstance(v, list) else []


def _counts(stop: dict[str, Any], key: str) -> dict[str, int]:
    v = stop.get(key)
    return (
        {str(g): int(n) for g, n in v.items() if isinstance(n, int)} if isinstance(v, dict) else {}
    )


class _HouseholdCheck:
    def __init__(self, scenario: Scenario) -> None:
        ev = scenario.evacuation
        assert ev is not None
        self.home: dict[str, tuple[str, Household]] = {}
        points = ev.assembly_points if isinstance(ev.assembly_points, list) else []
        for a in points:
            for h in a.household_list or []:
                self.home[h.id] = (a.id, h)
        self.sites = {a.id for a in points if a.household_list is not None}
        self.fleet = {vt.type: vt for vt in ev.fleet}
        self.boarded: dict[str, str] = {}
        self.alighted: set[str] = set()
        self.out: list[Finding] = []

    def add(self, code: str, where: str, message: str, vid: str | None) -> None:
        self.out.append((code, where, message, vid))

    def vehicle(self, v: dict[str, Any], label: str) -> None:
        vid = str(v.get("id", label))
        vt = self.fleet.get(str(v.get("type")))
        on: dict[str, Household] = {}
        people = 0
        for j, stop in enumerate(v.get("stops") or []):
            if not isinstance(stop, dict):
                continue
            where = f"{label}.stops[{j}]"
            for hid in _ids(stop, "alight_households"):
                self.alight(hid, vid, where, on)
            for hid in _ids(stop, "board_households"):
                self.board(hid, vid, vt, str(stop.get("site")), where, on)
            self.counts(stop, where, vid)
            people += sum(_counts(stop, "board").values()) - sum(_counts(stop, "alight").values())
            companions = sum(h.companions for h in on.values())
            if vt is not None and companions and people + companions > vt.seats:
                self.add(
                    "household_seats",
                    where,
                    f"{people} people and {companions} companions on board, {vt.seats} seats",
                    vid,
                )
        for hid in sorted(on):
            self.add("household_split", label, f"household {hid} boards and never alights", vid)

    def board(
        self, hid: str, vid: str, vt: Any, site: str, where: str, on: dict[str, Household]
    ) -> None:
        if hid not in self.home:
            self.add("household_unknown", where, f"household {hid} is not in the scenario", vid)
            return
        home, h = self.home[hid]
        if site != home:
            self.add(
                "household_unknown", where, f"household {hid} waits at {home}, not {site}", vid
            )
        if hid in self.boarded:
            self.add(
                "household_split",
                where,
                f"household {hid} boards again (first on {self.boarded[hid]})",
                vid,
            )
            return
        self.boarded[hid] = vid
        on[hid] = h
        if vt is None:
            return
        other = sorted(set(h.groups) - set(vt.groups))
        if other:
            self.add(
                "household_vehicle",
                where,
                f"household {hid} has {', '.join(other)}, which a {vt.type} may not carry",
                vid,
            )
        if h.seats > vt.seats:
            self.add(
                "household_vehicle",
                where,
                f"household {hid} needs {h.seats} seats, a {vt.type} has {vt.seats}",
                vid,
            )

    def alight(self, hid: str, vid: str, where: str, on: dict[str, Household]) -> None:
        if hid in on:
            del on[hid]
            self.alighted.add(hid)
        elif hid in self.alighted:
            self.add("household_split", where, f"household {hid} alights twice", vid)
        elif hid in self.boarded:
            self.add(
                "household_split",
                where,
                f"household {hid} alights from {vid}, it boarded {self.boarded[hid]}",
                vid,
            )
        else:
            self.add("household_split", where, f"household {hid} alights, never boarded", vid)

    def counts(self, stop: dict[str, Any], where: str, vid: str) -> None:
        site = str(stop.get("site"))
        if site not in self.sites:
            return
        listed: dict[str, int] = {}
        for hid in _ids(stop, "board_households"):
            if hid in self.home:
                for g, n in self.home[hid][1].members.items():
                    listed[g] = listed.get(g, 0) + n
        board = {g: n for g, n in _counts(stop, "board").items() if n}
        if board != listed:
            self.add(
                "household_counts",
                where,
                f"boards {board or 'nobody'}, the households listed hold {listed or 'nobody'}",
                vid,
            )


def household_findings(scenario: Scenario, plan: dict[str, Any]) -> Iterator[Finding]:
    """Every household rule broken by the plan (nothing when no site gives households)."""
    check = _HouseholdCheck(scenario)
    if not check.sites:
        return
    for i, v in enumerate(plan.get("vehicles") or []):
        if isinstance(v, dict):
            check.vehicle(v, f"vehicles[{i}]")
    yield from check.out
