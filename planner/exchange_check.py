"""Independent checks of an exchange plan (the ``exchange`` part of ``plan.json``).

Nothing here uses the CP-SAT model of :mod:`planner.exchange`: the checker reads the
scenario's terms and rosters (through :func:`planner.exchange.parse_exchange`), the plan's
events and, when given the plan's folder, its manifest CSVs, and recomputes every figure.
Terms the plan says it had to drop (``relaxed``) are not held against it.

Each rule is a small function registered (:mod:`planner.verify_registry`) for the scope
``exchange_event`` (run on each event as it is read) or ``exchange`` (run once, after every
event); they run in the order they appear here, which is the order of the violations.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.exchange import MANIFEST_COLUMNS, ExchangeSpec, ParitySpec, parse_ratio
from planner.scenario import Scenario, location_lonlat
from planner.verify_registry import rule, run_rules

if TYPE_CHECKING:
    from planner.network import PreparedNetwork

NAME_LIKE = ("name", "surname", "first", "last", "patronymic", "full", "birth", "passport")
"""Column name fragments that suggest personal data; never allowed in a manifest."""
_SLACK_S = 1.0


def _time(x: Any) -> datetime | None:
    """A timezone-aware time, else ``None``."""
    try:
        t = datetime.fromisoformat(str(x))
    except (TypeError, ValueError):
        return None
    return t if t.tzinfo is not None else None


def _ok_ratio(n0: int, n1: int, r: tuple[int, int], tol: int) -> bool:
    """Whether ``n0 : n1`` is ``r`` within ``tol`` people."""
    return 2 * abs(n1 * r[0] - n0 * r[1]) <= (2 * tol + 1) * r[0]


@dataclass
class EventRead:
    """One event of the plan, read and tallied.

    Parameters
    ----------
    id
        The event's id (its index when it has none).
    start, end
        Its times.
    point
        The exchange point's spec.
    cats
        People per category.
    win, wi
        The window it lies in and that window's index, if any.
    fac_people
        People per facility.
    transports
        The plan's transports (not trusted).
    per_party
        People released per party.
    fc
        People per ``(facility, category)``.
    """

    id: str
    start: datetime
    end: datetime
    point: Any
    cats: dict[str, int]
    win: Any
    wi: int | None
    fac_people: dict[str, int]
    transports: list[Any]
    per_party: dict[str, int]
    fc: dict[tuple[str, str], int]

    @property
    def total(self) -> int:
        """People handed over at the event."""
        return sum(self.per_party.values())


class ExchangeContext:
    """What the exchange rules read: the spec, the plan's exchange part and the events read.

    Parameters
    ----------
    scenario
        The scenario.
    spec
        Its parsed ``exchange`` section.
    exchange_dict
        The ``exchange`` part of ``plan.json`` (a mapping).
    folder
        The plan's folder (manifests are checked when given).
    network
        A prepared road network, or ``None`` to prepare it when a travel time is needed.
    """

    def __init__(
        self,
        scenario: Scenario,
        spec: ExchangeSpec,
        exchange_dict: dict[str, Any],
        folder: Path | None,
        network: PreparedNetwork | None,
    ) -> None:
        self.sc, self.spec, self.plan = scenario, spec, exchange_dict
        self.folder, self.network = folder, network
        self.out: list[tuple[str, str]] = []
        self.parties = spec.party_ids
        self.t = spec.terms
        self.relaxed = {str(x) for x in exchange_dict.get("relaxed") or []}
        self.facilities = {f.id: f for f in spec.facilities}
        self.points = {p.id: p for p in spec.exchange_points}
        self.cats = set(spec.category_ids)
        self.held: dict[tuple[str, str], int] = defaultdict(int)
        for person in spec.people:
            self.held[(person.facility, person.category)] += 1
        self.events: list[Any] = []
        self.parsed: list[EventRead] = []

    def bad(self, code: str, msg: str) -> None:
        """Record a violation."""
        self.out.append((code, msg))

    def on(self, term: str) -> bool:
        """Whether ``term`` still holds (the plan did not relax it)."""
        return term not in self.relaxed

    @cached_property
    def tol(self) -> int:
        """People of slack on the ratios."""
        return self.t.parity.tolerance if isinstance(self.t.parity, ParitySpec) else 0

    @cached_property
    def ratio(self) -> tuple[int, int]:
        """The agreed ratio of the two parties' releases."""
        return parse_ratio(self.t.ratio, self.parties)

    def released(self) -> dict[tuple[str, str], int]:
        """People released per ``(facility, category)`` over every event read."""
        out: dict[tuple[str, str], int] = defaultdict(int)
        for ev in self.parsed:
            for key, n in ev.fc.items():
                out[key] += n
        return out

    def released_by_party(self) -> dict[tuple[str, str], int]:
        """People released per ``(party, category)`` over every event read."""
        out: dict[tuple[str, str], int] = defaultdict(int)
        for (fid, c), n in self.released().items():
            out[(self.facilities[fid].party, c)] += n
        return out

    @cached_property
    def road(self) -> dict[tuple[str, str], float]:
        """Road travel time, seconds, from each facility to each point an event uses."""
        return _road_times(self)

    @cached_property
    def manifests(self) -> tuple[dict[str, str], dict[tuple[str, str], dict[tuple[str, str], int]]]:
        """``(file of each person, people per (facility, category) per (event, party))``."""
        return _read_manifests(self)


def _read_counts(ctx: ExchangeContext, eid: str, counts: Any, ev: EventRead) -> None:
    """Tally an event's ``counts`` into ``ev``; unknown parties, facilities, categories reported."""
    for party, facs in counts.items():
        if party not in ctx.parties:
            ctx.bad("exchange_unknown", f"event {eid}: {party!r} is not a party")
            continue
        for fid, fc in (facs or {}).items():
            fac = ctx.facilities.get(fid)
            if fac is None or fac.party != party:
                ctx.bad("exchange_unknown", f"event {eid}: {fid!r} is not a facility of {party}")
                continue
            for c, n in (fc or {}).items():
                if c not in ctx.cats or not isinstance(n, int) or isinstance(n, bool) or n < 0:
                    ctx.bad(
                        "exchange_unknown",
                        f"event {eid}: {fid}.{c} = {n!r} is not a count of a known category",
                    )
                    continue
                ev.per_party[party] += n
                ev.cats[c] += n
                ev.fac_people[fid] += n
                ev.fc[(fid, c)] += n


def read_event(ctx: ExchangeContext, k: int, e: Any, ids: set[str]) -> EventRead | None:
    """Read event ``k``: ``None`` (and a violation) when it has no valid times or point."""
    if not isinstance(e, dict):
        ctx.bad("exchange_format", f"event {k} is not a mapping")
        return None
    eid = str(e.get("id", k))
    if eid in ids:
        ctx.bad("exchange_format", f"event id {eid} is used twice")
    ids.add(eid)
    start, end = _time(e.get("start")), _time(e.get("end"))
    point = ctx.points.get(str(e.get("point")))
    if start is None or end is None or end <= start:
        ctx.bad(
            "exchange_format",
            f"event {eid}: start and end must be timezone-aware times, end after start",
        )
        return None
    if point is None:
        ctx.bad("exchange_unknown", f"event {eid}: {e.get('point')!r} is not an exchange point")
        return None
    wins = list(point.windows) if point.windows else list(ctx.sc.ceasefire.windows)
    win = next((w for w in wins if w.start <= start and end <= w.end), None)
    ev = EventRead(
        id=eid,
        start=start,
        end=end,
        point=point,
        cats=defaultdict(int),
        win=win,
        wi=wins.index(win) if win is not None else None,
        fac_people=defaultdict(int),
        transports=e.get("transports") or [],
        per_party=dict.fromkeys(ctx.parties, 0),
        fc=defaultdict(int),
    )
    _read_counts(ctx, eid, e.get("counts") or {}, ev)
    return ev


# --------------------------------------------------------------------------- each event


@rule("exchange_event", codes=("exchange_parity",))
def event_parity(ctx: ExchangeContext, ev: EventRead) -> None:
    """``exchange_parity``: each event releases the two sides at the agreed ratio."""
    p0, p1 = ctx.parties
    if (
        ctx.t.parity != "none"
        and ctx.on("parity_per_event")
        and not _ok_ratio(ev.per_party[p0], ev.per_party[p1], ctx.ratio, ctx.tol)
    ):
        ctx.bad(
            "exchange_parity",
            f"event {ev.id}: {p0} releases {ev.per_party[p0]}, {p1} {ev.per_party[p1]}, off the agreed ratio",
        )


@rule("exchange_event", codes=("exchange_capacity",))
def event_capacity(ctx: ExchangeContext, ev: EventRead) -> None:
    """``exchange_capacity``: no more people at an event than its point takes."""
    if ev.total > ev.point.max_per_event:
        ctx.bad(
            "exchange_capacity",
            f"event {ev.id}: {ev.total} people, more than {ev.point.max_per_event} at {ev.point.id}",
        )


@rule("exchange_event", codes=("exchange_rate",))
def event_rate(ctx: ExchangeContext, ev: EventRead) -> None:
    """``exchange_rate``: the point can hand everyone over within the event's time."""
    point = ev.point
    if ev.total > point.handovers_per_hour * (ev.end - ev.start).total_seconds() / 3600.0 + 1e-6:
        ctx.bad(
            "exchange_rate",
            f"event {ev.id}: {ev.total} people cannot be handed over at {point.handovers_per_hour:g}/h "
            f"between {ev.start:%H:%M} and {ev.end:%H:%M}",
        )


@rule("exchange_event", codes=("exchange_per_event",))
def event_size(ctx: ExchangeContext, ev: EventRead) -> None:
    """``exchange_per_event``: no more people at an event than the agreed ``max_per_event``."""
    most = ctx.t.max_per_event
    if most is not None and ctx.on("max_per_event") and ev.total > most:
        ctx.bad(
            "exchange_per_event",
            f"event {ev.id}: {ev.total} people, more than the agreed {most} per event",
        )


@rule("exchange_event", codes=("exchange_window",))
def event_window(ctx: ExchangeContext, ev: EventRead) -> None:
    """``exchange_window``: an event lies inside a window of its point."""
    if ev.win is None:
        ctx.bad(
            "exchange_window",
            f"event {ev.id}: {ev.start.isoformat()} - {ev.end.isoformat()} is outside every window of {ev.point.id}",
        )


@rule("exchange_event", codes=("exchange_mediator",))
def event_mediator(ctx: ExchangeContext, ev: EventRead) -> None:
    """``exchange_mediator``: an event falls on a date the mediator is available."""
    dates = ctx.t.mediator_dates
    if dates is not None and ctx.on("mediator_dates") and ev.start.date() not in set(dates):
        ctx.bad(
            "exchange_mediator",
            f"event {ev.id}: the mediator is not available on {ev.start.date().isoformat()}",
        )


# --------------------------------------------------------------------------- the whole exchange


@rule("exchange", codes=("exchange_overlap",))
def events_overlap(ctx: ExchangeContext) -> None:
    """``exchange_overlap``: events at one point do not overlap."""
    by_point: dict[str, list[EventRead]] = defaultdict(list)
    for ev in ctx.parsed:
        by_point[ev.point.id].append(ev)
    for pid, evs in by_point.items():
        evs.sort(key=lambda ev: ev.start)
        for a, b in zip(evs, evs[1:], strict=False):
            if b.start < a.end:
                ctx.bad("exchange_overlap", f"events {a.id} and {b.id} overlap at {pid}")


@rule("exchange", codes=("exchange_per_day",))
def per_day(ctx: ExchangeContext) -> None:
    """``exchange_per_day``: no more people a day than the agreed ``max_per_day``."""
    most = ctx.t.max_per_day
    if most is None or not ctx.on("max_per_day"):
        return
    days: dict[date, int] = defaultdict(int)
    for ev in ctx.parsed:
        days[ev.start.date()] += ev.total
    for dday, n in sorted(days.items()):
        if n > most:
            ctx.bad(
                "exchange_per_day",
                f"{dday.isoformat()}: {n} people, more than the agreed {most} per day",
            )


def _per_side_day(ctx: ExchangeContext) -> dict[tuple[date, str], int]:
    """People each side releases per day."""
    side: dict[tuple[date, str], int] = defaultdict(int)
    for ev in ctx.parsed:
        for p, n in ev.per_party.items():
            side[(ev.start.date(), p)] += n
    return side


@rule("exchange", codes=("exchange_per_day_per_side",))
def per_day_per_side(ctx: ExchangeContext) -> None:
    """``exchange_per_day_per_side``: no side releases more a day than agreed."""
    most = ctx.t.max_per_day_per_side
    if most is None or "max_per_day_per_side" in ctx.relaxed:
        return
    for (dday, p), n in sorted(_per_side_day(ctx).items()):
        if n > most:
            ctx.bad(
                "exchange_per_day_per_side",
                f"{dday.isoformat()}: {p} releases {n}, more than the agreed {most} per day",
            )


@rule("exchange", codes=("exchange_daily",))
def daily_figures(ctx: ExchangeContext) -> None:
    """``exchange_daily``: each side releases the agreed figure on each agreed day."""
    side = _per_side_day(ctx)
    for dt in ctx.t.daily:
        if f"daily.{dt.date.isoformat()}" in ctx.relaxed:
            continue
        for p in ctx.spec.party_ids:
            n = side.get((dt.date, p), 0)
            if n != dt.per_side:
                ctx.bad(
                    "exchange_daily",
                    f"{dt.date.isoformat()}: {p} releases {n}; the agreed figure is {dt.per_side}",
                )


@rule("exchange", codes=("exchange_ratio",))
def overall_ratio(ctx: ExchangeContext) -> None:
    """``exchange_ratio``: the two sides' releases overall are at the agreed ratio."""
    p0, p1 = ctx.parties
    by_party = ctx.released_by_party()
    tot = {p: sum(n for (pp, _c), n in by_party.items() if pp == p) for p in ctx.parties}
    if ctx.on("ratio") and not _ok_ratio(tot[p0], tot[p1], ctx.ratio, ctx.tol):
        ctx.bad(
            "exchange_ratio",
            f"overall {p0} releases {tot[p0]}, {p1} {tot[p1]}, off the agreed ratio",
        )


@rule("exchange", codes=("exchange_category_ratio",))
def category_ratio(ctx: ExchangeContext) -> None:
    """``exchange_category_ratio``: each category with an agreed ratio is released at it."""
    p0, p1 = ctx.parties
    by_party = ctx.released_by_party()
    for c, rc in ctx.t.category_ratios.items():
        n0, n1 = by_party[(p0, c)], by_party[(p1, c)]
        if ctx.on(f"ratio.{c}") and not _ok_ratio(n0, n1, parse_ratio(rc, ctx.parties), ctx.tol):
            ctx.bad(
                "exchange_category_ratio",
                f"{c}: {p0} releases {n0}, {p1} {n1}, off the agreed ratio",
            )


@rule("exchange", codes=("exchange_all_for_all",))
def all_for_all(ctx: ExchangeContext) -> None:
    """``exchange_all_for_all``: every person of an all-for-all category is exchanged."""
    released = ctx.released()
    for c in ctx.t.all_for_all:
        if not ctx.on(f"all_for_all.{c}"):
            continue
        for fid in ctx.facilities:
            if released[(fid, c)] != ctx.held[(fid, c)]:
                ctx.bad(
                    "exchange_all_for_all",
                    f"{c}: {released[(fid, c)]} of {ctx.held[(fid, c)]} held at {fid} are exchanged (all for all)",
                )


@rule("exchange", codes=("exchange_held",))
def held(ctx: ExchangeContext) -> None:
    """``exchange_held``: no facility releases more of a category than it holds."""
    for (fid, c), n in sorted(ctx.released().items()):
        if n > ctx.held[(fid, c)]:
            ctx.bad("exchange_held", f"{fid} releases {n} {c}, but holds {ctx.held[(fid, c)]}")


@rule("exchange", codes=("exchange_precedence",))
def precedence(ctx: ExchangeContext) -> None:
    """``exchange_precedence``: categories are handed over in the agreed order."""
    order = ctx.t.precedence
    if not order or not ctx.on("precedence"):
        return
    for i, ci in enumerate(order):
        for cj in order[i + 1 :]:
            last_i = [ev for ev in ctx.parsed if ev.cats.get(ci)]
            first_j = [ev for ev in ctx.parsed if ev.cats.get(cj)]
            if last_i and first_j:
                a = max(last_i, key=lambda ev: ev.start)
                b = min(first_j, key=lambda ev: ev.start)
                if b.start < a.start:
                    ctx.bad(
                        "exchange_precedence",
                        f"{cj} handed over in {b.id} before {ci} in {a.id}",
                    )


# --------------------------------------------------------------------------- transports


def _road_times(ctx: ExchangeContext) -> dict[tuple[str, str], float]:
    """Road travel times, seconds, from the facilities to the points the events use."""
    facilities = ctx.facilities
    pairs = sorted(
        {(fid, ev.point.id) for ev in ctx.parsed for fid in ev.fac_people}
        | {
            (str(tr.get("facility")), ev.point.id)
            for ev in ctx.parsed
            for tr in ev.transports
            if isinstance(tr, dict)
        }
    )
    pairs = [pp for pp in pairs if pp[0] in facilities]
    if not pairs:
        return {}
    if ctx.network is None:
        from planner.network import prepare_network

        ctx.network = prepare_network(ctx.sc)
    roads = ctx.network.roads
    fids = sorted({a for a, _ in pairs})
    pids = sorted({b for _, b in pairs})
    sn = roads.snap(
        [location_lonlat(facilities[f].location) for f in fids]
        + [location_lonlat(ctx.spec.point(p).location) for p in pids]
    )
    tm, _ = roads.matrices([s.node for s in sn[: len(fids)]], [s.node for s in sn[len(fids) :]])
    return {(f, p): float(tm[i, j]) for i, f in enumerate(fids) for j, p in enumerate(pids)}


def _check_vehicle(ctx: ExchangeContext, fac: Any, tr: dict[str, Any], eid: str) -> None:
    """A transport's vehicle type, seats, fleet and the categories it may carry."""
    spec = ctx.spec
    vt = str(tr.get("vehicle", "bus"))
    fleet = fac.fleet()
    count = int(tr.get("buses", 0))
    if vt not in fleet:
        ctx.bad("exchange_vehicle", f"event {eid}: {fac.id} has no vehicles of type {vt}")
        return
    people = int(tr.get("people", 0))
    if people > count * fleet[vt].capacity:
        ctx.bad(
            "exchange_seats",
            f"event {eid}: {people} people in {count} {vt} of {fleet[vt].capacity} places from {fac.id}",
        )
    if count > fleet[vt].count:
        ctx.bad(
            "exchange_buses",
            f"event {eid}: {count} {vt} from {fac.id}, which has {fleet[vt].count}",
        )
    cats = tr.get("categories")
    if not isinstance(cats, dict):
        return
    if sum(int(n) for n in cats.values()) != people:
        ctx.bad(
            "exchange_transport",
            f"event {eid}: the {vt} transport from {fac.id} carries {people} but lists "
            f"{sum(int(n) for n in cats.values())} by category",
        )
    for c, n in cats.items():
        if int(n) and c in spec.category_ids and vt not in spec.carriers(fac, c):
            cat = spec.category(c)
            need = " or ".join(cat.vehicles) + (
                " with a medical escort" if cat.medical_escort else ""
            )
            ctx.bad(
                "exchange_vehicle",
                f"event {eid}: {n} {c} from {fac.id} in a {vt}; they travel only by {need}",
            )


def _transport(ctx: ExchangeContext, ev: EventRead, tr: dict[str, Any]) -> bool:
    """One transport of an event: facility, times, road time, window, vehicle; ``False`` if unreadable."""
    eid, fid = ev.id, str(tr.get("facility"))
    fac = ctx.facilities.get(fid)
    dep, arr = _time(tr.get("depart")), _time(tr.get("arrive"))
    if fac is None or dep is None or arr is None:
        ctx.bad(
            "exchange_transport",
            f"event {eid}: transport from {fid!r} names no facility or no times",
        )
        return False
    int(tr.get("people", 0))  # a count that is no number stops the check, as it always did
    if arr > ev.start:
        ctx.bad(
            "exchange_travel",
            f"event {eid}: transport from {fid} arrives {arr.isoformat()}, after the event starts",
        )
    need = ctx.road.get((fid, ev.point.id), math.inf)
    if not math.isfinite(need):
        ctx.bad("exchange_travel", f"event {eid}: no road from {fid} to {ev.point.id}")
    elif (arr - dep).total_seconds() + _SLACK_S < need:
        ctx.bad(
            "exchange_travel",
            f"event {eid}: transport from {fid} takes {(arr - dep).total_seconds() / 60:.0f} min; "
            f"the road needs {need / 60:.0f} min",
        )
    if (
        ev.win is not None
        and f"window.{ev.point.id}.{ev.wi}" not in ctx.relaxed
        and dep < ev.win.start
    ):
        ctx.bad(
            "exchange_window",
            f"event {eid}: transport from {fid} leaves {dep.isoformat()}, before the window opens",
        )
    _check_vehicle(ctx, fac, tr, eid)
    return True


class _Carried:
    """What an event's readable transports carry, tallied transport by transport."""

    def __init__(self) -> None:
        self.sent: dict[str, int] = defaultdict(int)
        self.carried: dict[tuple[str, str], int] = defaultdict(int)
        self.types: dict[str, set[str]] = defaultdict(set)

    def add(self, tr: dict[str, Any]) -> None:
        """Count one transport."""
        fid = str(tr.get("facility"))
        self.sent[fid] += int(tr.get("people", 0))
        self.types[fid].add(str(tr.get("vehicle", "bus")))
        for c, n in (tr.get("categories") or {}).items():
            self.carried[(fid, str(c))] += int(n)


def _event_carried(ctx: ExchangeContext, ev: EventRead, got: _Carried) -> None:
    """What an event's transports carry matches what its facilities release."""
    eid = ev.id
    listed = any(isinstance(tr, dict) and "categories" in tr for tr in ev.transports)
    for (fid, c), n in sorted(ev.fc.items()):
        if listed and got.carried.get((fid, c), 0) != n:
            ctx.bad(
                "exchange_transport",
                f"event {eid}: {fid} releases {n} {c} but its transports carry {got.carried.get((fid, c), 0)}",
            )
        elif (
            not listed
            and fid in ctx.facilities
            and not got.types[fid] & set(ctx.spec.carriers(ctx.facilities[fid], c))
        ):
            ctx.bad("exchange_vehicle", f"event {eid}: no vehicle from {fid} that may carry {c}")
    for fid in sorted(set(got.sent) | set(ev.fac_people)):
        if got.sent.get(fid, 0) != ev.fac_people.get(fid, 0):
            ctx.bad(
                "exchange_transport",
                f"event {eid}: {fid} releases {ev.fac_people.get(fid, 0)} but its transports carry {got.sent.get(fid, 0)}",
            )


@rule(
    "exchange",
    codes=(
        "exchange_format",
        "exchange_transport",
        "exchange_travel",
        "exchange_window",
        "exchange_vehicle",
        "exchange_seats",
        "exchange_buses",
    ),
)
def transports(ctx: ExchangeContext) -> None:
    """``exchange_transport``, ``exchange_travel``...: each event's transports bring its people in time."""
    _ = ctx.road  # the road times, prepared once for every facility and point in use
    for ev in ctx.parsed:
        got = _Carried()
        for tr in ev.transports:
            if not isinstance(tr, dict):
                ctx.bad("exchange_format", f"event {ev.id}: a transport is not a mapping")
            elif _transport(ctx, ev, tr):
                got.add(tr)
        _event_carried(ctx, ev, got)


@rule("exchange", codes=("exchange_buses",))
def buses_on_road(ctx: ExchangeContext) -> None:
    """``exchange_buses``: a facility never has more vehicles of a type on the road than it owns."""
    usage: dict[tuple[str, str], list[tuple[datetime, datetime, int, str]]] = defaultdict(list)
    for ev in ctx.parsed:
        for tr in ev.transports:
            if not isinstance(tr, dict):
                continue
            fac = ctx.facilities.get(str(tr.get("facility")))
            dep, arr = _time(tr.get("depart")), _time(tr.get("arrive"))
            if fac is None or dep is None or arr is None:
                continue
            vt = str(tr.get("vehicle", "bus"))
            usage[(fac.id, vt)].append((dep, ev.end + (arr - dep), int(tr.get("buses", 0)), ev.id))
    for (fid, vt), ivs in sorted(usage.items()):
        have = ctx.facilities[fid].fleet().get(vt)
        for dep, _back, _b, eid in ivs:
            busy = sum(b for d0, d1, b, _e in ivs if d0 <= dep < d1)
            if have is not None and busy > have.count:
                ctx.bad(
                    "exchange_buses",
                    f"{fid}: {busy} {vt} on the road when the transport for {eid} leaves; it has {have.count}",
                )


# --------------------------------------------------------------------------- manifests


def _manifest_rows(
    ctx: ExchangeContext, info: dict[str, Any], reader: csv.DictReader[str], seen: dict[str, str]
) -> dict[tuple[str, str], int]:
    """The rows of one manifest: each a person of the roster, held by the party, listed once."""
    roster = {p.id: p for p in ctx.spec.people}
    party = str(info.get("party"))
    got: dict[tuple[str, str], int] = defaultdict(int)
    for row_no, row in enumerate(reader, start=2):
        pid = (row.get("id") or "").strip()
        person = roster.get(pid)
        if person is None:
            ctx.bad(
                "exchange_unknown_person",
                f"manifest {info['file']} row {row_no}: {pid!r} is not on any roster",
            )
            continue
        if person.party != party:
            ctx.bad(
                "exchange_unknown_person",
                f"manifest {info['file']} row {row_no}: {pid!r} is not held by {party}",
            )
        if pid in seen:
            ctx.bad("exchange_duplicate_person", f"{pid!r} is in {seen[pid]} and in {info['file']}")
        seen[pid] = str(info["file"])
        if (row.get("facility") or "") != person.facility or (
            row.get("category") or ""
        ) != person.category:
            ctx.bad(
                "exchange_manifest",
                f"manifest {info['file']} row {row_no}: {pid!r} is at {person.facility} as {person.category} on the roster",
            )
        got[(person.facility, person.category)] += 1
    return dict(got)


def _read_manifests(
    ctx: ExchangeContext,
) -> tuple[dict[str, str], dict[tuple[str, str], dict[tuple[str, str], int]]]:
    """Read every manifest the plan lists; missing files and bad columns and rows reported."""
    assert ctx.folder is not None
    folder = ctx.folder
    seen: dict[str, str] = {}
    listed: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
    for info in ctx.plan.get("manifests") or []:
        if not isinstance(info, dict) or "file" not in info:
            ctx.bad("exchange_manifest", "a manifest entry names no file")
            continue
        path = (folder / str(info["file"])).resolve()
        if folder.resolve() not in path.parents:
            ctx.bad("exchange_manifest", f"manifest {info['file']} lies outside the plan's folder")
            continue
        if not path.exists():
            ctx.bad("exchange_manifest", f"manifest {info['file']} is missing")
            continue
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            for c in [c.strip() for c in reader.fieldnames or []]:
                if any(frag in c.casefold() for frag in NAME_LIKE):
                    ctx.bad(
                        "exchange_name_column",
                        f"manifest {info['file']} has a column {c!r}; names are never written",
                    )
                elif c not in MANIFEST_COLUMNS:
                    ctx.bad(
                        "exchange_manifest",
                        f"manifest {info['file']} has an unexpected column {c!r}",
                    )
            listed[(str(info.get("event")), str(info.get("party")))] = _manifest_rows(
                ctx, info, reader, seen
            )
    return seen, listed


@rule(
    "exchange",
    codes=(
        "exchange_manifest",
        "exchange_name_column",
        "exchange_unknown_person",
        "exchange_duplicate_person",
    ),
)
def manifests_match_events(ctx: ExchangeContext) -> None:
    """``exchange_manifest``...: each party's manifest of an event lists exactly its counts."""
    if ctx.folder is None:
        return
    _seen, listed = ctx.manifests
    for k, e in enumerate(ctx.events):
        if not isinstance(e, dict):
            continue
        eid = str(e.get("id", k))
        for party, facs in (e.get("counts") or {}).items():
            want = {
                (fid, c): int(n)
                for fid, fc in (facs or {}).items()
                for c, n in (fc or {}).items()
                if isinstance(n, int) and n
            }
            if not want:
                continue
            got = listed.get((eid, str(party)))
            if got is None:
                ctx.bad("exchange_manifest", f"event {eid}: no manifest for {party}")
            elif {k2: v for k2, v in got.items() if v} != want:
                ctx.bad(
                    "exchange_manifest",
                    f"event {eid}: the manifest of {party} does not match the event's counts",
                )


@rule("exchange", codes=("exchange_group",))
def groups_together(ctx: ExchangeContext) -> None:
    """``exchange_group``: the members of a group are handed over together, in one manifest."""
    if ctx.folder is None:
        return
    seen, _listed = ctx.manifests
    roster = {p.id: p for p in ctx.spec.people}
    where: dict[str, set[str]] = defaultdict(set)
    for pid, file in seen.items():
        g = roster[pid].group
        if g is not None:
            where[g].add(file)
    members: dict[str, int] = defaultdict(int)
    for p in ctx.spec.people:
        if p.group is not None:
            members[p.group] += 1
    for g, files in sorted(where.items()):
        n = sum(1 for pid in seen if roster[pid].group == g)
        if len(files) > 1 or n != members[g]:
            ctx.bad(
                "exchange_group",
                f"group {g!r} is not handed over together ({n} of {members[g]} in {len(files)} manifests)",
            )


# --------------------------------------------------------------------------- driver


def check_exchange(
    scenario: Scenario,
    spec: ExchangeSpec,
    exchange_dict: dict[str, Any],
    *,
    folder: str | Path | None = None,
    network: PreparedNetwork | None = None,
) -> list[tuple[str, str]]:
    """Check an exchange plan against the scenario's terms, facilities, roads and rosters.

    Parameters
    ----------
    scenario
        The scenario.
    spec
        Its parsed ``exchange`` section (rosters read).
    exchange_dict
        The ``exchange`` part of ``plan.json``.
    folder
        The folder holding ``plan.json`` and ``manifests/``; manifests are checked when given.
    network
        A prepared road network for the travel times (prepared from the scenario when omitted).

    Returns
    -------
    list of tuple of str
        ``(code, message)`` per violation; empty when the plan holds.
    """
    if not isinstance(exchange_dict, dict):
        return [("exchange_format", "the exchange part is not a mapping")]
    ctx = ExchangeContext(
        scenario, spec, exchange_dict, Path(folder) if folder is not None else None, network
    )
    events = exchange_dict.get("events")
    if not isinstance(events, list):
        return [("exchange_format", "the exchange has no list of events")]
    ctx.events = events
    _ = ctx.ratio  # an agreed ratio that cannot be read fails here, before any event
    ids: set[str] = set()
    for k, e in enumerate(events):
        ev = read_event(ctx, k, e, ids)
        if ev is not None:
            run_rules("exchange_event", ctx, ev)
            ctx.parsed.append(ev)
    run_rules("exchange", ctx)
    return ctx.out


__all__ = ["check_exchange", "NAME_LIKE"]
