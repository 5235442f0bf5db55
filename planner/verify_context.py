"""What the verifier's rules read: the scenario, the plan's fields read defensively, and records.

:class:`Context` holds the scenario's sites and fleet, the geometry, the violations found so
far and the plan's vehicles as they are read; its ``field``, ``time``, ``counts`` and
``coords`` read one field of the untrusted plan and report a ``format`` violation (never
raise) when it is missing or mistyped.  :func:`read_stop` and :func:`read_leg` turn one stop
or leg into a record the rules share.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from planner.scenario import GROUPS, AssemblyPoint, Scenario, location_lonlat
from planner.verify_geometry import Geo, PathInfo, analyse_path
from planner.verify_registry import Violation

if TYPE_CHECKING:
    from planner.verify_corridors import CorridorChecker


@dataclass
class StopRead:
    """One stop of a vehicle, as read (``None`` where a field could not be read)."""

    site: str | None
    arrive: datetime | None
    depart: datetime | None
    board: dict[str, int] | None
    alight: dict[str, int] | None
    where: str


@dataclass
class LegRead:
    """One leg of a vehicle, as read (``None`` where a field could not be read)."""

    raw: Any
    where: str
    frm: str | None
    to: str | None
    depart: datetime | None
    arrive: datetime | None
    load: dict[str, int] | None
    pts: list[tuple[float, float]] | None
    length: float | None
    listed: list[str] | None
    """Known crossing points the leg lists (``None`` when ``crossings`` is unreadable)."""
    info: PathInfo | None = None
    """The path measured against the scenario's geometry (when the path could be read)."""


class VehicleRead:
    """One vehicle of the plan: its header fields read on first use, then its stops and legs.

    Parameters
    ----------
    ctx
        The context (its ``field`` reports format violations).
    raw
        The vehicle's JSON object (not trusted).
    label
        Its id, or ``vehicles[i]`` when it has none.
    vid
        Its id, if it could be read.
    vtype
        Its type, if it could be read.
    """

    def __init__(
        self, ctx: Context, raw: Any, label: str, vid: str | None, vtype: str | None
    ) -> None:
        self.ctx, self.raw, self.label, self.vid, self.vtype = ctx, raw, label, vid, vtype
        self.where = f"vehicle {label}"
        self.vt = ctx.fleet.get(vtype) if vtype is not None else None
        self.stops: list[StopRead] = []
        self.legs: list[LegRead] = []

    def read(self, key: str, types: type | tuple[type, ...]) -> Any:
        """One field of the vehicle (a ``format`` violation when unreadable)."""
        return self.ctx.field(self.raw, key, types, self.where, self.vid)

    @cached_property
    def seats(self) -> int | None:
        """The plan's ``seats`` (read once)."""
        return self.read("seats", int)

    @cached_property
    def groups(self) -> list[Any] | None:
        """The plan's ``groups`` (read once)."""
        return self.read("groups", list)

    @cached_property
    def start(self) -> str | None:
        """The plan's ``start`` site (read once)."""
        return self.read("start", str)

    def read_header(self) -> None:
        """Read ``seats``, ``groups`` and ``start`` if no rule has yet."""
        _ = (self.seats, self.groups, self.start)

    @property
    def cap(self) -> int | None:
        """Seats that count: the fleet type's, else the plan's."""
        return self.vt.seats if self.vt is not None else self.seats

    @property
    def allowed(self) -> set[str] | None:
        """Groups the fleet type may carry (``None`` for an unknown type)."""
        return set(self.vt.groups) if self.vt is not None else None

    @property
    def pairing(self) -> tuple[int, bool]:
        """``(offset, paired)``: stop ``j + offset`` ends leg ``j`` when ``paired``."""
        if len(self.stops) == len(self.legs) + 1:
            return 1, True
        return 0, len(self.stops) == len(self.legs)


class Context:
    """The scenario, the plan and what the rules have read of it.

    Parameters
    ----------
    scenario
        The scenario (it has an ``evacuation`` section).
    plan
        ``plan.json`` as parsed JSON (not trusted).
    top_kph
        The network's top speed, km/h.
    geo
        The scenario's geometry.
    """

    def __init__(self, scenario: Scenario, plan: Any, top_kph: float, geo: Geo) -> None:
        self.sc = scenario
        self.plan = plan
        self.top_mps = top_kph / 3.6
        self.geo = geo
        self.out: list[Violation] = []
        ev = scenario.evacuation
        assert ev is not None
        # a loaded scenario's assembly points are a list (files and OSM queries are read)
        points = ev.assembly_points if isinstance(ev.assembly_points, list) else []
        self.assembly: dict[str, AssemblyPoint] = {a.id: a for a in points}
        self.reception = {r.id: r for r in ev.reception_centres}
        self.fleet = {vt.type: vt for vt in ev.fleet}
        self.site_loc: dict[str, tuple[float, float]] = {}
        for a in points:
            self.site_loc[a.id] = location_lonlat(a.location)
        for r in ev.reception_centres:
            self.site_loc[r.id] = location_lonlat(r.location)
        self.windows = [(w.start, w.end) for w in scenario.ceasefire.windows]
        self.snap_m: dict[str, float] = {}
        self.start_sites: set[str] = set()
        self.vehicles: list[VehicleRead] = []
        self.per_type: dict[str, int] = defaultdict(int)
        self.incomplete = False
        """Some stop could not be read: the plan's own totals are then not compared."""
        self.corridors: CorridorChecker | None = None
        self._paths: dict[tuple[tuple[float, float], ...], PathInfo] = {}

    # ----------------------------------------------------------------- reading

    def add(self, code: str, where: str, message: str, vehicle: str | None = None) -> None:
        """Record a violation."""
        self.out.append(Violation(code=code, vehicle=vehicle, where=where, message=message))

    def field(
        self,
        obj: Any,
        key: str,
        types: type | tuple[type, ...],
        where: str,
        vehicle: str | None = None,
    ) -> Any:
        """``obj[key]`` if present and of ``types``, else ``None`` and a ``format`` violation."""
        if not isinstance(obj, dict):
            self.add("format", where, "is not an object", vehicle)
            return None
        if key not in obj:
            self.add("format", where, f"'{key}' is missing", vehicle)
            return None
        val = obj[key]
        ok = isinstance(val, types)
        if (
            ok
            and isinstance(val, bool)
            and bool not in (types if isinstance(types, tuple) else (types,))
        ):
            ok = False
        if ok and isinstance(val, float) and not math.isfinite(val):
            ok = False
        if not ok:
            self.add("format", where, f"'{key}' has the wrong type ({type(val).__name__})", vehicle)
            return None
        return val

    def time(self, obj: Any, key: str, where: str, vehicle: str | None) -> datetime | None:
        """A timezone-aware ISO 8601 time, else ``None`` and a ``format`` violation."""
        text = self.field(obj, key, str, where, vehicle)
        if text is None:
            return None
        try:
            t = datetime.fromisoformat(text)
        except ValueError:
            self.add("format", where, f"'{key}' is not an ISO 8601 time: {text!r}", vehicle)
            return None
        if t.tzinfo is None or t.utcoffset() is None:
            self.add("format", where, f"'{key}' has no timezone offset: {text!r}", vehicle)
            return None
        return t

    def counts(self, obj: Any, key: str, where: str, vehicle: str | None) -> dict[str, int] | None:
        """People per group; unknown groups and bad counts are reported and left out."""
        raw = self.field(obj, key, dict, where, vehicle)
        if raw is None:
            return None
        out: dict[str, int] = {}
        for g, n in raw.items():
            if g not in GROUPS:
                self.add("format", where, f"'{key}' names an unknown group {g!r}", vehicle)
                continue
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                self.add("format", where, f"'{key}.{g}' is not a count of people ({n!r})", vehicle)
                continue
            out[g] = n
        return out

    def coords(self, obj: Any, where: str, vehicle: str | None) -> list[tuple[float, float]] | None:
        """A leg's ``path`` as ``(lon, lat)`` points, else ``None`` and a ``format`` violation."""
        raw = self.field(obj, "path", list, where, vehicle)
        if raw is None:
            return None
        pts: list[tuple[float, float]] = []
        for p in raw:
            if (
                not isinstance(p, list | tuple)
                or len(p) != 2
                or not all(
                    isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c)
                    for c in p
                )
                or not (-180 <= p[0] <= 180 and -90 <= p[1] <= 90)
            ):
                self.add(
                    "format", where, f"'path' holds a point that is not [lon, lat]: {p!r}", vehicle
                )
                return None
            pts.append((float(p[0]), float(p[1])))
        if not pts:
            self.add("format", where, "'path' is empty", vehicle)
            return None
        return pts

    def waiting(self, site: str) -> dict[str, int]:
        """People waiting per group at assembly point ``site``."""
        people = self.assembly[site].people
        return people.as_dict() if people is not None else dict.fromkeys(GROUPS, 0)

    def known_site(self, site: str) -> bool:
        """Whether ``site`` is a site of the scenario (or a start site the plan placed)."""
        return site in self.site_loc

    def path(self, pts: list[tuple[float, float]]) -> PathInfo:
        """The path measured against the geometry (each distinct path once)."""
        key = tuple(pts)
        hit = self._paths.get(key)
        if hit is None:
            hit = self._paths[key] = analyse_path(self.geo, pts)
        return hit

    # ----------------------------------------------------------------- tallies

    def stops(self) -> list[StopRead]:
        """Every stop read so far, vehicle by vehicle."""
        return [st for veh in self.vehicles for st in veh.stops]

    def delivered(self) -> dict[str, int]:
        """People alighting per group, over every stop read."""
        out: dict[str, int] = defaultdict(int)
        for st in self.stops():
            for g, n in (st.alight or {}).items():
                out[g] += n
        return out

    def received(self) -> dict[str, int]:
        """People alighting per reception centre."""
        out: dict[str, int] = defaultdict(int)
        for st in self.stops():
            if st.site is not None and st.site in self.reception:
                out[st.site] += sum((st.alight or {}).values())
        return out

    def boarded(self) -> dict[tuple[str, str], int]:
        """People boarding per ``(assembly point, group)``."""
        out: dict[tuple[str, str], int] = defaultdict(int)
        for st in self.stops():
            if st.site is not None and st.site in self.assembly:
                for g, n in (st.board or {}).items():
                    out[(st.site, g)] += n
        return out


def read_stop(ctx: Context, veh: VehicleRead, j: int, s: Any) -> StopRead:
    """Read stop ``j`` of a vehicle; format violations and unknown sites are reported."""
    w = f"{veh.where} stop {j}"
    site = ctx.field(s, "site", str, w, veh.vid)
    if site is not None:
        w = f"{veh.where} stop {j} ({site})"
        if not ctx.known_site(site):
            ctx.add("unknown_site", w, f"site {site!r} is not in the scenario", veh.vid)
    return StopRead(
        site=site,
        arrive=ctx.time(s, "arrive", w, veh.vid),
        depart=ctx.time(s, "depart", w, veh.vid),
        board=ctx.counts(s, "board", w, veh.vid),
        alight=ctx.counts(s, "alight", w, veh.vid),
        where=w,
    )


def _read_crossings(ctx: Context, leg: Any, w: str, vid: str | None) -> list[str] | None:
    """The known crossing points a leg lists; others are reported."""
    raw = ctx.field(leg, "crossings", list, w, vid)
    if raw is None:
        return None
    listed: list[str] = []
    for c in raw:
        if not isinstance(c, str):
            ctx.add("format", w, f"'crossings' holds a non-id {c!r}", vid)
        elif c not in ctx.geo.crossings:
            ctx.add(
                "unknown_site",
                w,
                f"lists crossing point {c!r}, which the scenario does not define",
                vid,
            )
        else:
            listed.append(c)
    return listed


def read_leg(ctx: Context, veh: VehicleRead, j: int, leg: Any) -> LegRead:
    """Read leg ``j`` of a vehicle; format violations and unknown sites are reported."""
    vid = veh.vid
    w = f"{veh.where} leg {j}"
    frm = ctx.field(leg, "from", str, w, vid)
    to = ctx.field(leg, "to", str, w, vid)
    if frm is not None and to is not None:
        w = f"{veh.where} leg {j} ({frm}→{to})"
    for s in (frm, to):
        if s is not None and not ctx.known_site(s):
            ctx.add("unknown_site", w, f"site {s!r} is not in the scenario", vid)
    depart = ctx.time(leg, "depart", w, vid)
    arrive = ctx.time(leg, "arrive", w, vid)
    load = ctx.counts(leg, "load", w, vid)
    pts = ctx.coords(leg, w, vid)
    length = ctx.field(leg, "length_m", (int, float), w, vid)
    listed = _read_crossings(ctx, leg, w, vid)
    return LegRead(
        raw=leg,
        where=w,
        frm=frm,
        to=to,
        depart=depart,
        arrive=arrive,
        load=load,
        pts=pts,
        length=length,
        listed=listed,
        info=ctx.path(pts) if pts is not None else None,
    )


__all__ = ["Context", "LegRead", "StopRead", "VehicleRead", "read_leg", "read_stop"]
