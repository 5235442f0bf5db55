"""Independent checks of a plan's ``repatriation`` part against the scenario.

Each rule is one small function ``rule(ctx) -> list[(code, message)]`` registered in
:data:`RULES`; :func:`check_repatriation` runs them all on the plan as read from JSON (the
checker trusts nothing of the planner's own objects, only the scenario and the durations of
the legs: given ones, or the road network's time for road legs without one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.repatriation.journey import Durations, crossing_documents, points, resolve_durations
from planner.repatriation.model import REASONS
from planner.repatriation.spec import (
    DAYS,
    Child,
    Crossing,
    RepatriationSpec,
    Stop,
    parse_repatriation,
)

if TYPE_CHECKING:
    from planner.scenario import Scenario

Found = list[tuple[str, str]]
_EPS = timedelta(seconds=59)


@dataclass
class Ctx:
    """What every rule reads."""

    spec: RepatriationSpec
    dur: Durations
    part: dict[str, Any]
    children: dict[str, Child]
    groups: list[dict[str, Any]]
    folder: Path | None = None


def _t(s: str) -> datetime:
    return datetime.fromisoformat(str(s))


def rule_children(ctx: Ctx) -> Found:
    """Every child of the plan is on the scenario's list; each is in one group or waiting."""
    out: Found = []
    seen: dict[str, str] = {}
    for g in ctx.groups:
        for c in g.get("children") or []:
            if c not in ctx.children:
                out.append(
                    ("rep_unknown_child", f"group {g['id']}: {c} is not a child of the scenario")
                )
            if c in seen:
                out.append(("rep_child_twice", f"{c} is in group {seen[c]} and in group {g['id']}"))
            seen[c] = g["id"]
    for w in ctx.part.get("waiting") or []:
        c = w.get("child")
        if c in seen:
            out.append(("rep_child_twice", f"{c} is in group {seen[c]} and listed as waiting"))
        seen.setdefault(c, "waiting")
        if w.get("reason") not in REASONS:
            out.append(
                ("rep_waiting_reason", f"{c} waits with an unknown reason {w.get('reason')!r}")
            )
    for c in ctx.children:
        if c not in seen:
            out.append(("rep_child_missing", f"{c} is neither in a group nor listed as waiting"))
    return out


def rule_status(ctx: Ctx) -> Found:
    """Only children whose identity is verified and whose guardian is located go."""
    out: Found = []
    for g in ctx.groups:
        for cid in g.get("children") or []:
            c = ctx.children.get(cid)
            if c is None:
                continue
            if not c.identity_verified:
                out.append(("rep_status", f"group {g['id']}: {cid}'s identity is not verified"))
            if not c.guardian_located:
                out.append(("rep_status", f"group {g['id']}: {cid}'s guardian is not located"))
    return out


def rule_documents(ctx: Ctx) -> Found:
    """Each child holds every document the crossings of its group's route ask for."""
    out: Found = []
    routes = ctx.spec.route_map()
    for g in ctx.groups:
        r = routes.get(g.get("route", ""))
        if r is None:
            continue
        for cid in g.get("children") or []:
            c = ctx.children.get(cid)
            if c is None:
                continue
            for stop, doc in crossing_documents(r):
                if doc not in c.documents:
                    out.append(
                        (
                            "rep_documents",
                            f"group {g['id']}: {cid} has no {doc} for the crossing at {stop}",
                        )
                    )
    return out


def rule_siblings(ctx: Ctx) -> Found:
    """Siblings travel in the same group, or none of them goes."""
    where = {c: g["id"] for g in ctx.groups for c in g.get("children") or []}
    sib: dict[str, list[str]] = {}
    for c in ctx.children.values():
        if c.sibling_group:
            sib.setdefault(c.sibling_group, []).append(c.id)
    out: Found = []
    for s, members in sorted(sib.items()):
        placed = {where.get(m) for m in members}
        if len(placed) > 1:
            desc = ", ".join(f"{m} in {where.get(m) or 'none'}" for m in sorted(members))
            out.append(("rep_siblings", f"sibling group {s} is split: {desc}"))
    return out


def rule_handovers(ctx: Ctx) -> Found:
    """Groups leave from a handover the site has, within its most children and the group sizes."""
    sites = ctx.spec.sites()
    routes = ctx.spec.route_map()
    gs = ctx.spec.mediator.group_size
    out: Found = []
    load: dict[tuple[str, datetime], int] = {}
    for g in ctx.groups:
        site = sites.get(g.get("site", ""))
        r = routes.get(g.get("route", ""))
        if site is None or r is None or r.from_ != site.id:
            out.append(
                (
                    "rep_route",
                    f"group {g['id']}: route {g.get('route')!r} does not leave from site {g.get('site')!r}",
                )
            )
            continue
        at = _t(g["handover_at"])
        match = [h for h in site.handovers if h.at == at]
        if not match:
            out.append(
                (
                    "rep_handover_date",
                    f"group {g['id']}: {site.id} has no handover at {g['handover_at']}",
                )
            )
            continue
        load[(site.id, at)] = load.get((site.id, at), 0) + len(g.get("children") or [])
        n = len(g.get("children") or [])
        if not gs.min <= n <= gs.max:
            out.append(
                ("rep_group_size", f"group {g['id']}: {n} children, outside {gs.min}..{gs.max}")
            )
    for (sid, at), n in sorted(load.items()):
        h = next(h for h in sites[sid].handovers if h.at == at)
        most = h.max_children or sites[sid].max_children
        if n > most:
            out.append(
                (
                    "rep_handover_capacity",
                    f"{sid} at {at.isoformat(timespec='minutes')}: {n} children, more than {most}",
                )
            )
    return out


def rule_ready(ctx: Ctx) -> Found:
    """A child is at the handover site in time (ready, then transferred)."""
    out: Found = []
    for g in ctx.groups:
        at = _t(g["handover_at"])
        for cid in g.get("children") or []:
            c = ctx.children.get(cid)
            if c is None or c.ready_from is None:
                continue
            ready = c.ready_from + timedelta(minutes=ctx.dur.transfer.get(cid, 0.0))
            if ready > at + _EPS:
                out.append(
                    (
                        "rep_ready",
                        f"group {g['id']}: {cid} is at the site only at {ready.isoformat(timespec='minutes')}",
                    )
                )
            if c.site is not None and c.site != g.get("site"):
                out.append(
                    ("rep_ready", f"group {g['id']}: {cid} is to be handed over at {c.site}")
                )
    return out


def rule_escorts(ctx: Ctx) -> Found:
    """Enough escorts for the children's ages, on their dates, in one group at a time."""
    med = ctx.spec.mediator
    known = {e.id: e for e in med.escorts}
    rest = timedelta(hours=med.escort_rest_h)
    out: Found = []
    spans: dict[str, list[tuple[datetime, datetime, str]]] = {}
    for g in ctx.groups:
        at = _t(g["handover_at"])
        esc = list(g.get("escorts") or [])
        for k in esc:
            e = known.get(k)
            if e is None:
                out.append(
                    ("rep_escorts", f"group {g['id']}: {k} is not one of the mediator's escorts")
                )
                continue
            if e.dates is not None and at.date() not in set(e.dates):
                out.append(
                    (
                        "rep_escorts",
                        f"group {g['id']}: escort {k} is not available on {at.date().isoformat()}",
                    )
                )
            spans.setdefault(k, []).append((at, _t(g["arrive"]) + rest, g["id"]))
        need = 0.0
        for cid in g.get("children") or []:
            c = ctx.children.get(cid)
            if c is not None and c.handover_to != "guardian":
                need += 1.0 / ctx.spec.per_escort(c.age)
        need_n = max(med.min_escorts_per_group, math.ceil(need - 1e-9))
        if len(set(esc)) < need_n:
            out.append(
                (
                    "rep_escorts",
                    f"group {g['id']}: {len(set(esc))} escort(s) for children who need {need_n}",
                )
            )
    for k, ss in sorted(spans.items()):
        ss.sort()
        for (_a0, a1, ga), (b0, _b1, gb) in zip(ss, ss[1:], strict=False):
            if b0 < a1:
                out.append(
                    (
                        "rep_escorts",
                        f"escort {k} is in group {ga} until {a1.isoformat(timespec='minutes')} and in group {gb} from {b0.isoformat(timespec='minutes')}",
                    )
                )
    return out


def open_at(c: Crossing, start: datetime, end: datetime) -> bool:
    """Whether a passage from ``start`` to ``end`` lies within one open day of the crossing."""
    tz = c.tz()
    a, b = start.astimezone(tz), end.astimezone(tz)
    if a.date() != b.date() or DAYS[a.weekday()] not in c.open_days:
        return False
    return datetime.combine(a.date(), c.open, tz) <= a and b <= datetime.combine(
        a.date(), c.close, tz
    )


def _legs_check(
    ctx: Ctx,
    label: str,
    legs: list[dict[str, Any]],
    seq: list[tuple[Stop, Stop, float]],
    start: datetime,
    limit_min: float,
) -> Found:
    """Legs follow the stops with their durations, crossings open, days within the limit."""
    out: Found = []
    if [(lg.get("from"), lg.get("to")) for lg in legs] != [(a.id, b.id) for a, b, _m in seq]:
        return [("rep_route", f"{label}: the legs do not follow the route's stops")]
    t = start
    day_start = _t(legs[0]["depart"]) if legs else start
    limit = timedelta(minutes=limit_min)
    for i, (lg, (_a, b, minutes)) in enumerate(zip(legs, seq, strict=True)):
        dep, arr, leave = _t(lg["depart"]), _t(lg["arrive"]), _t(lg["leave"])
        if i > 0 and legs[i - 1].get("overnight"):
            day_start = dep
        if dep + _EPS < t:
            out.append(
                ("rep_timetable", f"{label}: leg to {b.id} departs {lg['depart']}, before it can")
            )
        if arr - dep + _EPS < timedelta(minutes=minutes):
            out.append(
                (
                    "rep_timetable",
                    f"{label}: leg to {b.id} takes {(arr - dep).total_seconds() / 60:.0f} min, less than {minutes:.0f}",
                )
            )
        if b.crossing is not None:
            passage_start = leave - timedelta(minutes=b.crossing.delay_min)
            if passage_start + _EPS < arr or not open_at(b.crossing, passage_start, leave):
                out.append(
                    (
                        "rep_crossing_hours",
                        f"{label}: the crossing at {b.id} is passed {passage_start.isoformat(timespec='minutes')}–{lg['leave']}, outside its open hours or before arriving",
                    )
                )
        elif leave < arr:
            out.append(("rep_timetable", f"{label}: leaves {b.id} before arriving"))
        if leave - day_start > limit + _EPS:
            out.append(
                (
                    "rep_travel_day",
                    f"{label}: a travel day of {(leave - day_start).total_seconds() / 3600:.1f} h reaching {b.id}, more than {limit_min / 60:g} h",
                )
            )
        if lg.get("overnight") and not b.overnight:
            out.append(
                ("rep_overnight", f"{label}: a night at {b.id}, where no night may be spent")
            )
        t = leave
    return out


def _seq(ctx: Ctx, route_id: str, reverse: bool = False) -> list[tuple[Stop, Stop, float]]:
    r = ctx.spec.route_map()[route_id]
    pts = points(ctx.spec, r)
    fwd = [(pts[j], pts[j + 1], ctx.dur.legs[(r.id, j)]) for j in range(len(r.legs))]
    return [(b, a, m) for a, b, m in reversed(fwd)] if reverse else fwd


def rule_journeys(ctx: Ctx) -> Found:
    """Each group's legs: the route's stops, durations, crossings' hours, travel days by age, nights."""
    out: Found = []
    sites = ctx.spec.sites()
    for g in ctx.groups:
        if g.get("route") not in ctx.spec.route_map() or g.get("site") not in sites:
            continue
        start = _t(g["handover_at"]) + timedelta(minutes=sites[g["site"]].handover_min)
        ages = [ctx.children[c].age for c in g.get("children") or [] if c in ctx.children]
        limit = min((ctx.spec.day_limit_min(a) for a in ages), default=24 * 60.0)
        out += _legs_check(
            ctx, f"group {g['id']}", list(g.get("legs") or []), _seq(ctx, g["route"]), start, limit
        )
    return out


def rule_guardians(ctx: Ctx) -> Found:
    """A child handed to its guardian: the guardian can travel, holds the documents, and their
    own journey reaches the site by the handover."""
    out: Found = []
    guardians = ctx.spec.guardian_map()
    routes = ctx.spec.route_map()
    trips = {
        (t.get("guardian"), t.get("group")): t for t in ctx.part.get("guardian_journeys") or []
    }
    for g in ctx.groups:
        for cid in g.get("children") or []:
            c = ctx.children.get(cid)
            if c is None or c.handover_to != "guardian":
                continue
            gd = guardians[str(c.guardian)]
            label = f"group {g['id']}: {cid}'s guardian {gd.id}"
            if not gd.can_travel:
                out.append(("rep_guardian", f"{label} cannot travel"))
            trip = trips.get((gd.id, g["id"]))
            if trip is None:
                out.append(("rep_guardian", f"{label} has no journey to the handover"))
                continue
            tr = routes.get(trip.get("route", ""))
            if tr is None or tr.from_ != g.get("site"):
                out.append(
                    (
                        "rep_guardian",
                        f"{label} travels along {trip.get('route')!r}, which does not reach {g.get('site')}",
                    )
                )
                continue
            for route in {tr.id: tr, g["route"]: routes[g["route"]]}.values():
                for stop, doc in crossing_documents(route, guardian=True):
                    if doc not in gd.documents:
                        out.append(
                            ("rep_guardian", f"{label} has no {doc} for the crossing at {stop}")
                        )
            if _t(trip["arrive"]) > _t(g["handover_at"]) + _EPS:
                out.append(
                    (
                        "rep_guardian",
                        f"{label} arrives {trip['arrive']}, after the handover {g['handover_at']}",
                    )
                )
            earliest = (gd.ready_from or _t(trip["depart"])) + timedelta(
                minutes=ctx.dur.to_route.get(gd.id, 0.0)
            )
            if _t(trip["depart"]) + _EPS < earliest:
                out.append(
                    (
                        "rep_guardian",
                        f"{label} sets off {trip['depart']}, before {earliest.isoformat(timespec='minutes')}",
                    )
                )
            out += _legs_check(
                ctx,
                label,
                list(trip.get("legs") or []),
                _seq(ctx, tr.id, reverse=True),
                _t(trip["depart"]),
                ctx.spec.guardian_travel_day_h * 60.0,
            )
    return out


def rule_manifests(ctx: Ctx) -> Found:
    """Each group's manifest lists exactly its children (when the plan's folder is given)."""
    if ctx.folder is None:
        return []
    import csv

    out: Found = []
    for g in ctx.groups:
        p = ctx.folder / "manifests" / f"repatriation_{g['id']}.csv"
        if not p.exists():
            out.append(("rep_manifest", f"group {g['id']}: no manifest {p.name}"))
            continue
        with p.open(encoding="utf-8", newline="") as fh:
            listed = sorted(r.get("child", "") for r in csv.DictReader(fh))
        if listed != sorted(g.get("children") or []):
            out.append(
                (
                    "rep_manifest",
                    f"group {g['id']}: the manifest lists {len(listed)} children, the plan {len(g.get('children') or [])}",
                )
            )
    return out


RULES: list[Callable[[Ctx], Found]] = [
    rule_children, rule_status, rule_documents, rule_siblings, rule_handovers, rule_ready,
    rule_escorts, rule_journeys, rule_guardians, rule_manifests,
]  # fmt: skip
"""Every rule, in the order their findings are reported."""


def check_repatriation(
    scenario: Scenario,
    plan: dict[str, Any],
    folder: str | Path | None = None,
    durations: Durations | None = None,
) -> Found:
    """Check a plan's ``repatriation`` part; returns ``(code, message)`` per violation.

    Parameters
    ----------
    scenario
        The scenario with a ``repatriation`` section.
    plan
        The whole plan as read from ``plan.json``.
    folder
        The plan's folder, to check the manifests (optional).
    durations
        The legs' durations, if already resolved (else from the scenario and its network).
    """
    spec = parse_repatriation(scenario)
    if spec is None:
        return []
    part = plan.get("repatriation")
    if not isinstance(part, dict):
        return [
            (
                "rep_missing",
                "the scenario has a repatriation section but the plan has no repatriation part",
            )
        ]
    dur = durations if durations is not None else resolve_durations(scenario, spec)
    groups = [g for g in part.get("groups") or [] if isinstance(g, dict)]
    ctx = Ctx(
        spec,
        dur,
        part,
        {c.id: c for c in spec.child_list()},
        groups,
        Path(folder) if folder is not None else None,
    )
    found: Found = []
    for rule in RULES:
        try:
            found += rule(ctx)
        except (KeyError, TypeError, ValueError) as exc:
            found.append(
                (
                    "rep_malformed",
                    f"{rule.__name__}: the plan's repatriation part is malformed ({type(exc).__name__}: {exc})",
                )
            )
    return found
