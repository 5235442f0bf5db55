"""The verifier's rules, each a small function registered for its scope.

The functions run in the order they appear here (see :mod:`planner.verify_registry`); that
order is the order of the violations in :func:`planner.verify.verify_plan`'s answer.  The
codes are described in :mod:`planner.verify`.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from planner.scenario import GROUPS, location_lonlat
from planner.verify_context import Context, LegRead, StopRead, VehicleRead, read_leg, read_stop
from planner.verify_convoys import check_convoys
from planner.verify_corridors import CorridorChecker
from planner.verify_geometry import Crossing, haversine_m
from planner.verify_households import household_findings
from planner.verify_registry import rule, run_rules

ENDPOINT_SLACK_M = 2000.0
"""How far a path may start or end from its site, on top of the site's snap distance."""

LENGTH_TOLERANCE = 0.01
"""A reported ``length_m`` may fall this share below the great-circle length of its path."""

SPEED_TOLERANCE_S = 2.0
"""Seconds of slack on the minimum leg duration (plan times are rounded to whole seconds)."""

SPEED_TOLERANCE_REL = 0.001
"""Relative slack on the minimum leg duration."""

RATE_TOLERANCE_S = 1.0
"""Departures this close to an hour apart count as in different hours (times are rounded)."""

SITE_LOCATION_TOLERANCE_M = 5.0
"""How far the plan may place a scenario site from the scenario's location (rounding)."""


# --------------------------------------------------------------------------- plan: sites


@rule("plan", codes=("corridor_missing", "corridor_via"))
def corridors_described(ctx: Context) -> None:
    """``corridor_*``: the plan describes each agreed corridor (its legs are checked later)."""
    if ctx.sc.ceasefire.corridors:
        ctx.corridors = CorridorChecker(
            ctx.sc, ctx.plan, lambda code, where, msg: ctx.add(code, where, msg)
        )


def _lonlat(loc: object) -> tuple[float, float] | None:
    """A ``[lon, lat]`` pair of numbers, else ``None``."""
    if (
        isinstance(loc, list | tuple)
        and len(loc) == 2
        and all(isinstance(c, int | float) and not isinstance(c, bool) for c in loc)
    ):
        return (float(loc[0]), float(loc[1]))
    return None


def _scenario_site(
    ctx: Context, sid: str, kind: str | None, lonlat: tuple[float, float] | None
) -> None:
    """A plan site the scenario defines: its kind and place agree."""
    where = f"site {sid}"
    want = "assembly" if sid in ctx.assembly else "reception"
    if kind is not None and kind not in {want, "start"}:
        ctx.add("unknown_site", where, f"is a {want} site in the scenario, not {kind!r}")
    if lonlat is not None:
        d = haversine_m(*lonlat, *ctx.site_loc[sid])
        if d > SITE_LOCATION_TOLERANCE_M:
            ctx.add(
                "site_location", where, f"the plan places it {d:.0f} m from the scenario's location"
            )


@rule("plan", codes=("format", "unknown_site", "site_location"))
def sites(ctx: Context) -> None:
    """``unknown_site``, ``site_location``: the plan's sites are the scenario's, where it puts them."""
    starts_by_loc = {
        vt.type: location_lonlat(vt.start)
        for vt in ctx.fleet.values()
        if not isinstance(vt.start, str)
    }
    for i, s in enumerate(ctx.field(ctx.plan, "sites", list, "plan") or []):
        where = f"sites[{i}]"
        sid = ctx.field(s, "id", str, where)
        kind = ctx.field(s, "kind", str, where)
        loc = s.get("location") if isinstance(s, dict) else None
        snap = ctx.field(s, "snap_m", (int, float), where)
        if sid is None:
            continue
        where = f"site {sid}"
        if snap is not None:
            if snap < 0:
                ctx.add("format", where, f"'snap_m' is negative ({snap})")
            else:
                ctx.snap_m[sid] = float(snap)
        lonlat = _lonlat(loc)
        if lonlat is None:
            ctx.add("format", where, f"'location' is not [lon, lat]: {loc!r}")
        if sid in ctx.site_loc:
            _scenario_site(ctx, sid, kind, lonlat)
        elif kind == "start" and lonlat is not None:
            if any(
                haversine_m(*lonlat, *ll) <= SITE_LOCATION_TOLERANCE_M
                for ll in starts_by_loc.values()
            ):
                ctx.site_loc[sid] = lonlat
                ctx.start_sites.add(sid)
            else:
                ctx.add(
                    "unknown_site",
                    where,
                    "is a start site no vehicle type of the scenario starts at",
                )
        else:
            ctx.add("unknown_site", where, "is not a site of the scenario")


# --------------------------------------------------------------------------- plan: vehicles


def check_vehicle(ctx: Context, veh: VehicleRead) -> None:
    """Run the vehicle rules, read and check each stop and leg, then the itinerary rules."""
    run_rules("vehicle", ctx, veh)
    veh.read_header()  # fields no vehicle rule read are still read (and reported)
    stops = veh.read("stops", list)
    if stops is None:
        ctx.incomplete = True
        stops = []
    legs = veh.read("legs", list) or []
    for j, s in enumerate(stops):
        st = read_stop(ctx, veh, j, s)
        if st.alight is None or st.board is None:
            ctx.incomplete = True
        veh.stops.append(st)
        run_rules("stop", ctx, veh, st)
    for j, raw in enumerate(legs):
        lg = read_leg(ctx, veh, j, raw)
        veh.legs.append(lg)
        run_rules("leg", ctx, veh, lg)
    run_rules("itinerary", ctx, veh)


@rule("plan", codes=("format", "unknown_site"))
def vehicles(ctx: Context) -> None:
    """``format``, ``unknown_site``: each vehicle reads well; its stops and legs name known sites.

    Each vehicle is then checked by the ``vehicle``, ``stop``, ``leg`` and ``itinerary`` rules.
    """
    raw = ctx.field(ctx.plan, "vehicles", list, "plan")
    seen: set[str] = set()
    for i, v in enumerate(raw or []):
        vid = ctx.field(v, "id", str, f"vehicles[{i}]")
        label = vid if vid is not None else f"vehicles[{i}]"
        if vid is not None:
            if vid in seen:
                ctx.add("format", f"vehicle {vid}", "the vehicle id is used more than once", vid)
            seen.add(vid)
        vtype = ctx.field(v, "type", str, f"vehicle {label}", vid)
        if vtype is not None:
            ctx.per_type[vtype] += 1
        veh = VehicleRead(ctx, v, label, vid, vtype)
        ctx.vehicles.append(veh)
        check_vehicle(ctx, veh)


@rule("plan", codes=("fleet_size",))
def fleet_size(ctx: Context) -> None:
    """``fleet_size``: no more vehicles of a type than the scenario's ``count``."""
    for t, n in ctx.per_type.items():
        vt = ctx.fleet.get(t)
        if vt is not None and n > vt.count:
            ctx.add(
                "fleet_size", f"fleet {t}", f"{n} vehicles in the plan, the scenario has {vt.count}"
            )


# --------------------------------------------------------------------------- vehicle


@rule("vehicle", codes=("unknown_vehicle_type",))
def vehicle_type(ctx: Context, veh: VehicleRead) -> None:
    """``unknown_vehicle_type``: the vehicle's type is in the scenario's fleet."""
    if veh.vtype is not None and veh.vt is None:
        ctx.add(
            "unknown_vehicle_type",
            veh.where,
            f"type {veh.vtype!r} is not in the scenario's fleet",
            veh.vid,
        )


@rule("vehicle", codes=("format", "seats"))
def vehicle_seats(ctx: Context, veh: VehicleRead) -> None:
    """``seats``: the vehicle has its type's seats."""
    seats, vt = veh.seats, veh.vt
    if vt is not None and seats is not None and seats != vt.seats:
        ctx.add("seats", veh.where, f"has {seats} seats, type {vt.type} has {vt.seats}", veh.vid)


@rule("vehicle", codes=("format", "group_not_allowed"))
def vehicle_groups(ctx: Context, veh: VehicleRead) -> None:
    """``group_not_allowed``: the vehicle lists only groups its type may carry."""
    groups, allowed, vt = veh.groups, veh.allowed, veh.vt
    if vt is None or allowed is None or groups is None:
        return
    extra = sorted(str(g) for g in groups if not isinstance(g, str) or g not in allowed)
    if extra:
        ctx.add(
            "group_not_allowed",
            veh.where,
            f"lists {', '.join(extra)}, which type {vt.type} may not carry",
            veh.vid,
        )


@rule("vehicle", codes=("format", "start"))
def vehicle_start(ctx: Context, veh: VehicleRead) -> None:
    """``start``: the vehicle starts where its type starts."""
    start, vt = veh.start, veh.vt
    if start is None or vt is None:
        return
    if isinstance(vt.start, str):
        if start != vt.start:
            ctx.add(
                "start",
                veh.where,
                f"starts at {start}, type {vt.type} starts at {vt.start}",
                veh.vid,
            )
        return
    want = location_lonlat(vt.start)
    loc = ctx.site_loc.get(start)
    if loc is None or haversine_m(*loc, *want) > SITE_LOCATION_TOLERANCE_M:
        ctx.add(
            "start", veh.where, f"starts at {start}, type {vt.type} starts at {list(want)}", veh.vid
        )


# --------------------------------------------------------------------------- stop


@rule("stop", codes=("two_places",))
def stop_times(ctx: Context, veh: VehicleRead, st: StopRead) -> None:
    """``two_places``: a stop does not end before it begins."""
    if st.arrive is not None and st.depart is not None and st.depart < st.arrive:
        ctx.add("two_places", st.where, "departs before it arrives", veh.vid)


# --------------------------------------------------------------------------- leg


@rule("leg", codes=("seats",))
def leg_seats(ctx: Context, veh: VehicleRead, lg: LegRead) -> None:
    """``seats``: a leg's load fits the vehicle's seats."""
    cap = veh.cap
    if lg.load is not None and cap is not None and (total := sum(lg.load.values())) > cap:
        ctx.add("seats", lg.where, f"carries {total} people, the vehicle has {cap} seats", veh.vid)


@rule("leg", codes=("group_not_allowed",))
def leg_groups(ctx: Context, veh: VehicleRead, lg: LegRead) -> None:
    """``group_not_allowed``: a leg carries only groups its vehicle's type may carry."""
    allowed = veh.allowed
    if lg.load is None or allowed is None:
        return
    for g, n in lg.load.items():
        if n and g not in allowed:
            ctx.add(
                "group_not_allowed",
                lg.where,
                f"carries {n} {g}, which this vehicle type may not carry",
                veh.vid,
            )


@rule("leg", codes=("outside_window",))
def leg_window(ctx: Context, veh: VehicleRead, lg: LegRead) -> None:
    """``outside_window``: a leg drives inside one ceasefire window."""
    depart, arrive = lg.depart, lg.arrive
    if depart is None or arrive is None:
        return
    if not any(a <= depart and arrive <= b for a, b in ctx.windows):
        ctx.add(
            "outside_window",
            lg.where,
            f"drives {depart.isoformat()} – {arrive.isoformat()}, inside no ceasefire window",
            veh.vid,
        )


@rule("leg", codes=("closed_hazard",))
def closed_hazard(ctx: Context, veh: VehicleRead, lg: LegRead) -> None:
    """``closed_hazard``: a leg's path stays out of closed areas open when it sets off."""
    if lg.info is None:
        return
    for hid in lg.info.closed:
        appears = ctx.geo.closed_from[ctx.geo.closed_ids.index(hid)]
        if appears is not None and lg.depart is not None and lg.depart < appears:
            continue  # the hazard appeared after this leg set off
        ctx.add("closed_hazard", lg.where, f"the path enters closed area {hid}", veh.vid)


@rule("leg", codes=("frontline",))
def frontline(ctx: Context, veh: VehicleRead, lg: LegRead) -> None:
    """``frontline``: a leg's path meets the frontline only at crossing points."""
    for p in lg.info.frontline_bad if lg.info is not None else []:
        ctx.add(
            "frontline",
            lg.where,
            f"the path crosses the frontline at {list(p)}, away from every crossing point",
            veh.vid,
        )


@rule("leg", codes=("crossing_unlisted",))
def crossings_listed(ctx: Context, veh: VehicleRead, lg: LegRead) -> None:
    """``crossing_unlisted``: a leg lists exactly the crossing points its path passes."""
    if lg.info is None or lg.listed is None:
        return
    passed = lg.info.passed
    for c in passed:
        if c not in lg.listed:
            ctx.add(
                "crossing_unlisted",
                lg.where,
                f"the path passes crossing point {c} but does not list it",
                veh.vid,
            )
    for c in dict.fromkeys(lg.listed):
        if c not in passed:
            ctx.add(
                "crossing_unlisted",
                lg.where,
                f"lists crossing point {c} but its path does not pass it",
                veh.vid,
            )


def crossings_used(lg: LegRead) -> list[str]:
    """The crossing points a leg passes or lists, each once (``[]`` without path or departure)."""
    if lg.info is None or lg.depart is None:
        return []
    return list(dict.fromkeys([*lg.info.passed, *(lg.listed or [])]))


@rule("leg", codes=("frontline",))
def crossing_closed(ctx: Context, veh: VehicleRead, lg: LegRead) -> None:
    """``frontline``: a leg uses no crossing point after it closes."""
    for c in crossings_used(lg):
        cp = ctx.geo.crossings.get(c)
        if (
            cp is not None
            and cp.closed_from is not None
            and lg.depart is not None
            and lg.depart >= cp.closed_from
        ):
            ctx.add(
                "frontline",
                lg.where,
                f"uses crossing point {c}, closed since {cp.closed_from.isoformat()}",
                veh.vid,
            )


@rule("leg", codes=("format", "length"))
def leg_length(ctx: Context, veh: VehicleRead, lg: LegRead) -> None:
    """``length``: a leg's ``length_m`` is not below its path's great-circle length."""
    length = lg.length
    if lg.info is None or length is None:
        return
    gc = lg.info.gc_m
    if length < 0:
        ctx.add("format", lg.where, f"'length_m' is negative ({length})", veh.vid)
    elif length < gc * (1.0 - LENGTH_TOLERANCE):
        ctx.add(
            "length",
            lg.where,
            f"reports {length:.0f} m, its path is at least {gc:.0f} m long",
            veh.vid,
        )


@rule("leg", codes=("too_fast",))
def too_fast(ctx: Context, veh: VehicleRead, lg: LegRead) -> None:
    """``too_fast``: a leg takes at least its path's length at the network's top speed."""
    depart, arrive = lg.depart, lg.arrive
    if depart is None or arrive is None:
        return
    if lg.info is None:
        if arrive < depart:
            ctx.add("too_fast", lg.where, "arrives before it departs", veh.vid)
        return
    gc = lg.info.gc_m
    delay = sum(ctx.geo.crossings[c].delay_s for c in lg.info.passed)
    need = gc / ctx.top_mps + delay
    took = (arrive - depart).total_seconds()
    if took < need * (1.0 - SPEED_TOLERANCE_REL) - SPEED_TOLERANCE_S:
        ctx.add(
            "too_fast",
            lg.where,
            f"takes {took / 60:.1f} min for {gc / 1000:.1f} km"
            + (f" and {delay / 60:.0f} min at crossings" if delay else "")
            + f"; at {ctx.top_mps * 3.6:.0f} km/h it needs at least {need / 60:.1f} min",
            veh.vid,
        )


@rule("leg", codes=("path_endpoints",))
def path_endpoints(ctx: Context, veh: VehicleRead, lg: LegRead) -> None:
    """``path_endpoints``: a path starts and ends near its sites."""
    if lg.pts is None:
        return
    for s, p, end in ((lg.frm, lg.pts[0], "starts"), (lg.to, lg.pts[-1], "ends")):
        if s is None or s not in ctx.site_loc:
            continue
        d = haversine_m(*p, *ctx.site_loc[s])
        slack = ENDPOINT_SLACK_M + ctx.snap_m.get(s, 0.0)
        if d > slack:
            ctx.add(
                "path_endpoints",
                lg.where,
                f"the path {end} {d:.0f} m from {s} (allowed {slack:.0f} m)",
                veh.vid,
            )


@rule("leg", codes=("corridor_route", "corridor_direction", "corridor_checkpoint", "format"))
def corridor_leg(ctx: Context, veh: VehicleRead, lg: LegRead) -> None:
    """``corridor_*``: a leg keeps to the agreed corridors (see :mod:`planner.verify_corridors`)."""
    if ctx.corridors is None or lg.pts is None or not isinstance(lg.raw, dict):
        return
    people = sum(lg.load.values()) if lg.load else 0
    ctx.corridors.check_leg(lg.raw, lg.where, lg.frm, lg.to, (lg.depart, lg.arrive), people, lg.pts)


# --------------------------------------------------------------------------- itinerary


def _first_leg(ctx: Context, veh: VehicleRead, lg: LegRead) -> None:
    """The first leg leaves the vehicle's start, once its type is available."""
    vt, start = veh.vt, veh.start
    if start is not None and lg.frm is not None and lg.frm != start:
        ctx.add(
            "start",
            lg.where,
            f"the first leg leaves {lg.frm}, the vehicle starts at {start}",
            veh.vid,
        )
    if (
        vt is not None
        and vt.available_from is not None
        and lg.depart is not None
        and lg.depart < vt.available_from
    ):
        ctx.add(
            "start",
            lg.where,
            f"departs {lg.depart.isoformat()}, before type {vt.type} is available "
            f"({vt.available_from.isoformat()})",
            veh.vid,
        )


@rule("itinerary", codes=("start", "two_places"))
def legs_chain(ctx: Context, veh: VehicleRead) -> None:
    """``start``, ``two_places``: legs leave the start, then each leaves where and after the last ended."""
    for k, lg in enumerate(veh.legs):
        if k == 0:
            _first_leg(ctx, veh, lg)
            continue
        prev = veh.legs[k - 1]
        if prev.to is not None and lg.frm is not None and lg.frm != prev.to:
            ctx.add(
                "two_places",
                lg.where,
                f"leaves {lg.frm} but the previous leg ended at {prev.to}",
                veh.vid,
            )
        if prev.arrive is not None and lg.depart is not None and lg.depart < prev.arrive:
            ctx.add(
                "two_places",
                lg.where,
                f"departs {lg.depart.isoformat()}, before the previous leg arrives "
                f"({prev.arrive.isoformat()})",
                veh.vid,
            )


def _first_stop(ctx: Context, veh: VehicleRead) -> None:
    """A stop before the first leg is at the start, and ends before that leg departs."""
    first, legs, start = veh.stops[0], veh.legs, veh.start
    if first.site is not None and start is not None and first.site != start:
        ctx.add("two_places", first.where, f"a stop at {first.site} that no leg leads to", veh.vid)
    elif (
        legs
        and first.depart is not None
        and legs[0].depart is not None
        and legs[0].depart < first.depart
    ):
        ctx.add(
            "two_places", legs[0].where, "departs before the vehicle's first stop ends", veh.vid
        )


def _stop_after(ctx: Context, veh: VehicleRead, j: int, st: StopRead) -> None:
    """Stop ``st`` ends leg ``j``: same site, not before the leg arrives, before the next departs."""
    lg, vid = veh.legs[j], veh.vid
    if st.site is not None and lg.to is not None and st.site != lg.to:
        ctx.add("two_places", st.where, f"is at {st.site} but leg {j} drives to {lg.to}", vid)
    if st.arrive is not None and lg.arrive is not None and st.arrive < lg.arrive:
        ctx.add(
            "two_places",
            st.where,
            f"starts {st.arrive.isoformat()}, before leg {j} arrives ({lg.arrive.isoformat()})",
            vid,
        )
    if j + 1 >= len(veh.legs) or (nxt := veh.legs[j + 1]).depart is None:
        return
    if st.arrive is not None and nxt.depart < st.arrive:
        ctx.add("two_places", nxt.where, "departs before the vehicle arrived at that stop", vid)
    elif st.depart is not None and nxt.depart < st.depart:
        ctx.add("two_places", nxt.where, "departs before the vehicle's stop there ends", vid)


@rule("itinerary", codes=("two_places",))
def stops_match_legs(ctx: Context, veh: VehicleRead) -> None:
    """``two_places``: each leg ends at a stop at its destination, in time."""
    offset, paired = veh.pairing
    if offset == 1:
        _first_stop(ctx, veh)
    elif not paired:
        ctx.add(
            "two_places", veh.where, f"has {len(veh.legs)} legs but {len(veh.stops)} stops", veh.vid
        )
        return
    for j in range(len(veh.legs)):
        _stop_after(ctx, veh, j, veh.stops[j + offset])


def _alight(ctx: Context, veh: VehicleRead, st: StopRead, onboard: dict[str, int]) -> None:
    """People leave at a reception centre, no more than are on board."""
    for g, n in (st.alight or {}).items():
        if n == 0:
            continue
        if st.site is not None and st.site not in ctx.reception:
            ctx.add(
                "alight_not_at_reception",
                st.where,
                f"{n} {g} alight at {st.site}, not a reception centre",
                veh.vid,
            )
        if n > onboard[g]:
            ctx.add(
                "not_delivered",
                st.where,
                f"{n} {g} alight but only {onboard[g]} are on board",
                veh.vid,
            )
        onboard[g] = max(0, onboard[g] - n)


def _board(ctx: Context, veh: VehicleRead, st: StopRead, onboard: dict[str, int]) -> None:
    """People board at an assembly point a vehicle that may carry them, within its seats."""
    allowed, vt = veh.allowed, veh.vt
    for g, n in (st.board or {}).items():
        if n == 0:
            continue
        if allowed is not None and g not in allowed:
            ctx.add(
                "group_not_allowed",
                st.where,
                f"{n} {g} board a {vt.type if vt else ''} that may not carry them",
                veh.vid,
            )
        if st.site is not None and st.site not in ctx.assembly:
            ctx.add(
                "board_not_at_assembly",
                st.where,
                f"{n} {g} board at {st.site}, not an assembly point",
                veh.vid,
            )
        onboard[g] += n
    total, cap = sum(onboard.values()), veh.cap
    if cap is not None and total > cap:
        ctx.add("seats", st.where, f"{total} people on board, the vehicle has {cap} seats", veh.vid)


@rule(
    "itinerary",
    codes=(
        "load",
        "alight_not_at_reception",
        "not_delivered",
        "group_not_allowed",
        "board_not_at_assembly",
        "seats",
    ),
)
def people_on_board(ctx: Context, veh: VehicleRead) -> None:
    """``load``, ``seats``, ``not_delivered``...: replay who boards and alights, stop by stop."""
    onboard = dict.fromkeys(GROUPS, 0)
    on_known = True
    offset, paired = veh.pairing

    def expect_load(j: int) -> None:
        """Leg ``j``'s ``load`` is who is on board when it sets off."""
        lg = veh.legs[j]
        want = {g: n for g, n in onboard.items() if n}
        if lg.load is not None and on_known and want != lg.load:
            ctx.add(
                "load", lg.where, f"carries {lg.load} but its stops put {want} on board", veh.vid
            )

    if paired and offset == 0 and veh.legs:
        expect_load(0)
    for k, st in enumerate(veh.stops):
        if st.alight is None or st.board is None:
            on_known = False
        _alight(ctx, veh, st, onboard)
        _board(ctx, veh, st, onboard)
        if paired and 0 <= k - offset + 1 < len(veh.legs):
            expect_load(k - offset + 1)
    left = {g: n for g, n in onboard.items() if n}
    if left:
        ctx.add("not_delivered", veh.where, f"still has {left} on board at the end", veh.vid)


# --------------------------------------------------------------------------- plan: aggregates


@rule("plan", codes=("boarded_more_than_waiting",))
def boarded_waiting(ctx: Context) -> None:
    """``boarded_more_than_waiting``: no more people of a group board at a site than wait there."""
    for (site, g), n in sorted(ctx.boarded().items()):
        waiting = ctx.waiting(site)[g]
        if n > waiting:
            ctx.add(
                "boarded_more_than_waiting",
                f"site {site}",
                f"{n} {g} board, only {waiting} wait there",
            )


@rule("plan", codes=("reception_capacity",))
def reception_capacity(ctx: Context) -> None:
    """``reception_capacity``: no reception centre receives more than its capacity."""
    received = ctx.received()
    for rid, rc in ctx.reception.items():
        got = received.get(rid, 0)
        if got > rc.capacity:
            ctx.add(
                "reception_capacity",
                f"site {rid}",
                f"receives {got} people, capacity {rc.capacity}",
            )


@rule("plan", codes=("format", "unknown_site", "totals"))
def receptions_totals(ctx: Context) -> None:
    """``totals``: the plan's reception figures are what its stops deliver."""
    received = ctx.received()
    for i, r in enumerate(ctx.field(ctx.plan, "receptions", list, "plan") or []):
        rid = ctx.field(r, "id", str, f"receptions[{i}]")
        got = ctx.field(r, "received", int, f"receptions[{i}]")
        if rid is None or got is None:
            continue
        if rid not in ctx.reception:
            ctx.add(
                "unknown_site",
                f"receptions[{i}]",
                f"{rid!r} is not a reception centre of the scenario",
            )
        elif got != received.get(rid, 0) and not ctx.incomplete:
            ctx.add(
                "totals",
                f"site {rid}",
                f"the plan says {got} received, its stops deliver {received.get(rid, 0)}",
            )


def _check_rate(ctx: Context, cp: Crossing, events: list[datetime]) -> None:
    """At most ``vehicles_per_hour`` departures through ``cp`` in any sliding hour."""
    vph = float(cp.vehicles_per_hour or 0.0)
    if vph >= 1.0:
        span, limit = timedelta(hours=1), math.floor(vph)
    else:  # fewer than one an hour: at most one in every 1/vph hours
        span, limit = timedelta(hours=1.0 / vph), 1
    worst, worst_at = 0, None
    hi = 0
    for lo, t in enumerate(events):
        hi = max(hi, lo)
        while hi < len(events) and events[hi] < t + span - timedelta(seconds=RATE_TOLERANCE_S):
            hi += 1
        if hi - lo > worst:
            worst, worst_at = hi - lo, t
    if worst > limit and worst_at is not None:
        mins = span.total_seconds() / 60
        ctx.add(
            "crossing_rate",
            f"crossing point {cp.id}",
            f"{worst} legs cross within {mins:.0f} min from {worst_at.isoformat()} "
            f"(limit {vph:g} vehicles/h; crossing time taken as the leg's departure)",
        )


@rule("plan", codes=("crossing_rate",))
def crossing_rate(ctx: Context) -> None:
    """``crossing_rate``: no more legs through a crossing point in a sliding hour than agreed."""
    times: dict[str, list[datetime]] = {}
    for veh in ctx.vehicles:
        for lg in veh.legs:
            for c in crossings_used(lg):
                if lg.depart is not None:
                    times.setdefault(c, []).append(lg.depart)
    for c, events in sorted(times.items()):
        cp = ctx.geo.crossings.get(c)
        if cp is not None and cp.vehicles_per_hour is not None:
            _check_rate(ctx, cp, sorted(events))


def _requested(ctx: Context) -> dict[str, int]:
    """People waiting per group over every assembly point."""
    requested = dict.fromkeys(GROUPS, 0)
    for site in ctx.assembly:
        for g, n in ctx.waiting(site).items():
            requested[g] += n
    return requested


def _counts_with_total(ctx: Context, totals: dict[str, object], key: str) -> dict[str, int] | None:
    """``totals[key]``: counts per group and ``total``; others reported as ``format``."""
    raw = ctx.field(totals, key, dict, "totals")
    if raw is None:
        return None
    out: dict[str, int] = {}
    for g, n in raw.items():
        if g not in (*GROUPS, "total") or isinstance(n, bool) or not isinstance(n, int):
            ctx.add("format", f"totals.{key}", f"{g!r}: {n!r} is not a group count")
            continue
        out[g] = n
    return out


def _evacuated_totals(ctx: Context, evac: dict[str, int], requested: dict[str, int]) -> None:
    """``totals.evacuated`` agrees with the stops and the scenario."""
    delivered = ctx.delivered()
    for g in GROUPS:
        got = evac.get(g, 0)
        if got != delivered.get(g, 0) and not ctx.incomplete:
            ctx.add(
                "totals",
                f"totals.evacuated.{g}",
                f"says {got}, the stops deliver {delivered.get(g, 0)}",
            )
        if got > requested[g]:
            ctx.add(
                "totals",
                f"totals.evacuated.{g}",
                f"says {got}, more than the {requested[g]} requested",
            )
    groups_sum = sum(evac.get(g, 0) for g in GROUPS)
    if "total" in evac and evac["total"] != groups_sum:
        ctx.add(
            "totals",
            "totals.evacuated.total",
            f"says {evac['total']}, its groups sum to {groups_sum}",
        )


@rule("plan", codes=("format", "totals"))
def totals(ctx: Context) -> None:
    """``totals``: no group delivered beyond demand; the plan's totals match its stops."""
    requested = _requested(ctx)
    delivered = ctx.delivered()
    for g in GROUPS:
        if delivered.get(g, 0) > requested[g]:
            ctx.add(
                "totals", f"group {g}", f"{delivered[g]} delivered, only {requested[g]} requested"
            )
    raw = ctx.field(ctx.plan, "totals", dict, "plan")
    if raw is None:
        return
    evac = _counts_with_total(ctx, raw, "evacuated")
    if evac is not None:
        _evacuated_totals(ctx, evac, requested)
    req = _counts_with_total(ctx, raw, "requested")
    if req is None:
        return
    for g in GROUPS:
        if req.get(g, 0) != requested[g]:
            ctx.add(
                "totals",
                f"totals.requested.{g}",
                f"says {req.get(g, 0)}, the scenario has {requested[g]}",
            )


# --------------------------------------------------------------------------- plan: others


@rule(
    "plan",
    codes=(
        "convoy_unknown",
        "convoy_departure",
        "convoy_together",
        "convoy_size",
        "convoy_lead",
        "convoy_outside",
    ),
)
def convoys(ctx: Context) -> None:
    """``convoy_*``: the convoy rules (see :mod:`planner.verify_convoys`)."""
    check_convoys(ctx.sc, ctx.plan, ctx.snap_m, ctx.add)


@rule(
    "plan",
    codes=(
        "household_split",
        "household_vehicle",
        "household_counts",
        "household_seats",
        "household_unknown",
    ),
)
def households(ctx: Context) -> None:
    """``household_*``: the household rules (see :mod:`planner.verify_households`)."""
    for code, where, message, vid in household_findings(ctx.sc, ctx.plan):
        ctx.add(code, where, message, vid)
