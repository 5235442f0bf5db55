"""Journeys along a route: leg durations (given, or from the road network) and timetables.

A group leaves the handover site after the handover, travels leg after leg, passes each
border crossing only on its open days and within its hours (waiting at the crossing if it
arrives early, the wait counting as travel), and stops for the night only at stops where a
night may be spent; it stops there when going on to the next such stop would make the day
longer than the group's limit.  The same walk, with the legs reversed, is a guardian's
journey to the handover site.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from planner.errors import ScenarioError
from planner.repatriation.spec import Crossing, RepatriationSpec, Route, Stop, lonlat

if TYPE_CHECKING:
    from planner.network import PreparedNetwork
    from planner.scenario import Scenario

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Durations:
    """Minutes of every leg, guardian approach and child transfer, resolved once.

    Attributes
    ----------
    legs
        ``(route id, leg index) -> minutes``.
    network_legs
        The ``(route id, leg index)`` whose minutes came from the road network.
    to_route
        ``guardian id -> minutes`` from where the guardian is to the home end of a route.
    transfer
        ``child id -> minutes`` from where the child is to the handover site.
    """

    legs: dict[tuple[str, int], float]
    network_legs: frozenset[tuple[str, int]] = frozenset()
    to_route: dict[str, float] = field(default_factory=dict)
    transfer: dict[str, float] = field(default_factory=dict)


def site_stop(spec: RepatriationSpec, site_id: str) -> Stop:
    """A handover site as the first stop of its routes."""
    s = spec.sites()[site_id]
    return Stop(id=s.id, name=s.name, location=s.location, overnight=s.overnight)


def points(spec: RepatriationSpec, route: Route) -> list[Stop]:
    """The route's stops from the handover site to the home end."""
    return [site_stop(spec, route.from_), *(leg.to for leg in route.legs)]


def resolve_durations(
    scenario: Scenario, spec: RepatriationSpec, network: PreparedNetwork | None = None
) -> Durations:
    """Leg minutes: given ones, and road legs without one from the road network.

    Raises
    ------
    ScenarioError
        When a road leg has no duration and an end lies outside the network, or a non-road
        leg has no duration.
    """
    src = scenario.source_name()
    legs: dict[tuple[str, int], float] = {}
    ask: list[tuple[str, tuple[float, float], tuple[float, float], str]] = []
    for i, r in enumerate(spec.routes):
        pts = points(spec, r)
        for j, leg in enumerate(r.legs):
            if leg.duration_min is not None:
                legs[(r.id, j)] = float(leg.duration_min)
            elif leg.mode != "road":
                raise ScenarioError(
                    src,
                    f"repatriation.routes.{i}.legs.{j}.duration_min",
                    f"is required for a {leg.mode} leg",
                )
            else:
                ask.append(
                    (
                        f"{r.id}#{j}",
                        lonlat(pts[j].location),
                        lonlat(leg.to.location),
                        f"repatriation.routes.{i}.legs.{j}.duration_min",
                    )
                )
    children = spec.child_list()
    sites = spec.sites()
    transfer: dict[str, float] = {}
    for i, c in enumerate(children):
        if c.transfer_min is not None:
            transfer[c.id] = float(c.transfer_min)
        elif c.location is not None and c.site is not None:
            ask.append(
                (
                    f"child:{c.id}",
                    lonlat(c.location),
                    lonlat(sites[c.site].location),
                    f"repatriation.children.{i}.transfer_min",
                )
            )
        else:
            transfer[c.id] = 0.0
    to_route: dict[str, float] = {}
    routes = spec.route_map()
    for i, g in enumerate(spec.guardian_list()):
        if g.to_route_min is not None or g.location is None or g.route is None:
            to_route[g.id] = float(g.to_route_min or 0.0)
        else:
            end = routes[g.route].legs[-1].to.location
            ask.append(
                (
                    f"guardian:{g.id}",
                    lonlat(g.location),
                    lonlat(end),
                    f"repatriation.guardians.{i}.to_route_min",
                )
            )
    found = _network_minutes(scenario, spec, ask, network) if ask else {}
    net_legs = set()
    for key, minutes in found.items():
        if key.startswith("child:"):
            transfer[key[6:]] = minutes
        elif key.startswith("guardian:"):
            to_route[key[9:]] = minutes
        else:
            rid, leg_no = key.rsplit("#", 1)
            legs[(rid, int(leg_no))] = minutes
            net_legs.add((rid, int(leg_no)))
    return Durations(
        legs=legs, network_legs=frozenset(net_legs), to_route=to_route, transfer=transfer
    )


def _network_minutes(
    scenario: Scenario,
    spec: RepatriationSpec,
    ask: list[tuple[str, tuple[float, float], tuple[float, float], str]],
    network: PreparedNetwork | None,
) -> dict[str, float]:
    from planner.network import prepare_network

    net = network if network is not None else prepare_network(scenario)
    roads = net.roads
    ends = [p for _k, a, b, _f in ask for p in (a, b)]
    snaps = roads.snap(ends)
    limit = spec.network_snap_km * 1000.0
    out: dict[str, float] = {}
    for n, (key, _a, _b, fld) in enumerate(ask):
        sa, sb = snaps[2 * n], snaps[2 * n + 1]
        if max(sa.distance_m, sb.distance_m) > limit:
            far = max(sa.distance_m, sb.distance_m) / 1000.0
            raise ScenarioError(
                scenario.source_name(),
                fld,
                f"is required: an end lies {far:,.0f} km from the road network (more than {spec.network_snap_km:g} km)",
            )
        t, _ = roads.matrices([sa.node], [sb.node], contract=False)
        if not math.isfinite(float(t[0, 0])):
            raise ScenarioError(
                scenario.source_name(),
                fld,
                "is required: the road network has no open road between its ends",
            )
        out[key] = float(math.ceil(float(t[0, 0]) / 60.0))
    return out


# --------------------------------------------------------------------------- timetables


@dataclass(frozen=True)
class Passage:
    """One leg as travelled."""

    leg: int
    frm: str
    to: str
    mode: str
    depart: datetime
    arrive: datetime
    leave: datetime  # after the crossing, if any
    crossing: bool
    overnight: bool  # a night spent at ``to`` after this leg


@dataclass(frozen=True)
class Journey:
    """A timetable along a route."""

    route: str
    depart: datetime
    arrive: datetime
    passages: tuple[Passage, ...]
    max_day_min: float
    nights: int

    def key(self) -> tuple:
        """What makes two timetables the same."""
        return (
            self.route,
            self.depart,
            tuple((p.depart, p.leave, p.overnight) for p in self.passages),
        )


def crossing_time(c: Crossing, t: datetime) -> datetime | None:
    """When a group arriving at ``t`` has passed the crossing (open days and hours, processing).

    Returns ``None`` when it does not open within a week.
    """
    tz = c.tz()
    local = t.astimezone(tz)
    delay = timedelta(minutes=c.delay_min)
    for d in range(8):
        day = (local + timedelta(days=d)).date()
        if _DAYS[day.weekday()] not in c.open_days:
            continue
        opens = datetime.combine(day, c.open, tz)
        closes = datetime.combine(day, c.close, tz)
        start = max(local, opens)
        if start + delay <= closes:
            return (start + delay).astimezone(t.tzinfo)
    return None


def _morning(t: datetime, spec: RepatriationSpec) -> datetime:
    m = datetime.combine(t.date(), spec.day_starts, t.tzinfo)
    return m if m > t else m + timedelta(days=1)


def walk(
    spec: RepatriationSpec,
    seq: list[tuple[Stop, Stop, float, str, int]],
    start: datetime,
    limit_min: float,
    route_id: str,
) -> Journey | str:
    """Travel ``seq`` (from stop, to stop, minutes, mode, leg index) from ``start``.

    Returns
    -------
    Journey or str
        The timetable, or why it cannot be travelled within ``limit_min`` a day.
    """
    limit = timedelta(minutes=limit_min)
    t = day_start = start
    max_day = timedelta(0)
    out: list[Passage] = []
    nights = 0
    for i, (frm, to, minutes, mode, leg) in enumerate(seq):
        if i > 0 and frm.overnight:
            reach = _reach(seq, i, t)
            if reach is None or reach - day_start > limit:
                max_day = max(max_day, t - day_start)
                day_start = t = _morning(t, spec)
                out[-1] = _night(out[-1])
                nights += 1
        arrive = t + timedelta(minutes=minutes)
        leave = arrive
        if to.crossing is not None:
            passed = crossing_time(to.crossing, arrive)
            if passed is None:
                return f"the crossing at {to.id} does not open within a week of {arrive.isoformat(timespec='minutes')}"
            leave = passed
        if leave - day_start > limit:
            where = f"reaching {to.id}" + (" and crossing there" if to.crossing is not None else "")
            return f"{where} makes a travel day of {_h(leave - day_start)} h, more than {_h(limit)} h, with no stop for the night allowed before"
        out.append(
            Passage(leg, frm.id, to.id, mode, t, arrive, leave, to.crossing is not None, False)
        )
        t = leave
    max_day = max(max_day, t - day_start)
    return Journey(route_id, start, t, tuple(out), max_day.total_seconds() / 60.0, nights)


def _night(p: Passage) -> Passage:
    return Passage(p.leg, p.frm, p.to, p.mode, p.depart, p.arrive, p.leave, p.crossing, True)


def _reach(seq: list[tuple[Stop, Stop, float, str, int]], i: int, t: datetime) -> datetime | None:
    """When the next stop with a night allowed (or the end) is reached without a night."""
    for _frm, to, minutes, _mode, _leg in seq[i:]:
        t = t + timedelta(minutes=minutes)
        if to.crossing is not None:
            passed = crossing_time(to.crossing, t)
            if passed is None:
                return None
            t = passed
        if to.overnight:
            return t
    return t


def _h(d: timedelta) -> str:
    return f"{d.total_seconds() / 3600.0:.1f}"


def forward(
    spec: RepatriationSpec, route: Route, dur: Durations
) -> list[tuple[Stop, Stop, float, str, int]]:
    """The route's legs from the handover site home."""
    pts = points(spec, route)
    return [
        (pts[j], pts[j + 1], dur.legs[(route.id, j)], leg.mode, j)
        for j, leg in enumerate(route.legs)
    ]


def backward(
    spec: RepatriationSpec, route: Route, dur: Durations
) -> list[tuple[Stop, Stop, float, str, int]]:
    """The route's legs from the home end to the handover site (a guardian's way there)."""
    pts = points(spec, route)
    return [
        (pts[j + 1], pts[j], dur.legs[(route.id, j)], leg.mode, j)
        for j, leg in reversed(list(enumerate(route.legs)))
    ]


def crossing_documents(route: Route, guardian: bool = False) -> list[tuple[str, str]]:
    """``(stop id, document)`` a child (or a guardian) must hold for the route's crossings."""
    out = []
    for leg in route.legs:
        c = leg.to.crossing
        if c is not None:
            out += [(leg.to.id, d) for d in (c.guardian_documents if guardian else c.documents)]
    return out
