"""Re-planning when the ceasefire moves: a hazard appears, a window is shortened or cancelled,
a crossing point closes, a vehicle is lost.

At the time of the (earliest) event every vehicle keeps what it has done.  A vehicle on a
leg that is still safe completes it; one whose leg enters the new hazard, uses the closed
crossing, or was lost, turns back to the site it came from.  People whose ride did not end
at a reception centre step off where the vehicle is and wait again (the plan records their
trip as driven empty, so no one is counted twice).  The rest is planned again from where
each vehicle is, with what is left of the windows, the waiting people and the reception
space, and merged after the kept part.  ``planner verify SCENARIO PLAN --events EVENTS``
checks the result against the scenario plus the events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from shapely.geometry import LineString

from planner.errors import ScenarioError, validation_error_line
from planner.network import PreparedNetwork, line_length_m, load_layers, prepare_network
from planner.plan import Leg, Plan, Reception, Stop, Totals, Unserved, Vehicle, plan_data
from planner.scenario import GROUPS, HazardItem, Scenario, location_lonlat, read_yaml
from planner.validate import check_events


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WindowChange(_M):
    """Shorten window ``index`` (0-based) to ``end``, or cancel it from the event on."""

    index: int = Field(ge=0)
    end: datetime | None = None
    cancel: bool = False

    @model_validator(mode="after")
    def _one(self) -> WindowChange:
        if (self.end is None) == (not self.cancel):
            raise ValueError("give either 'end' or 'cancel: true'")
        return self


class Event(_M):
    """One event: exactly one of ``hazard``, ``window``, ``close_crossing``, ``vehicle_lost``."""

    at: datetime
    hazard: HazardItem | None = None
    window: WindowChange | None = None
    close_crossing: str | None = None
    vehicle_lost: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Event:
        if self.at.tzinfo is None:
            raise ValueError("'at' needs a timezone offset")
        given = [
            x
            for x in (self.hazard, self.window, self.close_crossing, self.vehicle_lost)
            if x is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of hazard, window, close_crossing, vehicle_lost")
        return self


class Events(_M):
    events: list[Event] = Field(min_length=1)


def load_events(path: str | Path, scenario: Scenario) -> list[Event]:
    """Read and validate an events file against its scenario.

    Raises
    ------
    ScenarioError
        Naming the events file, the field and the problem.
    """
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ScenarioError(
            str(path), "events", "the file must hold a mapping with an 'events' list"
        )
    check_events(data, path)
    try:
        evs = Events.model_validate(data).events
    except ValidationError as err:
        field, msg = validation_error_line(err)
        raise ScenarioError(str(path), field, msg) from None
    crossings = {c.id for c in scenario.ceasefire.crossing_points}
    for i, e in enumerate(evs):
        if e.close_crossing is not None and e.close_crossing not in crossings:
            raise ScenarioError(
                str(path),
                f"events.{i}.close_crossing",
                f"{e.close_crossing!r} is not a crossing point of the scenario",
            )
        if e.window is not None and e.window.index >= len(scenario.ceasefire.windows):
            raise ScenarioError(
                str(path),
                f"events.{i}.window.index",
                f"the scenario has {len(scenario.ceasefire.windows)} windows",
            )
        if e.hazard is not None and e.hazard.file is not None:
            p = path.parent / e.hazard.file
            e.hazard.file = str(p.resolve())
    return evs


def apply_events(scenario: Scenario, events: list[Event]) -> Scenario:
    """The scenario as the events leave it (hazards and closures carry their times).

    Parameters
    ----------
    scenario
        The base scenario.
    events
        Validated events.

    Returns
    -------
    Scenario
        A changed copy.
    """
    sc = scenario.model_copy(deep=True)
    for e in events:
        if e.hazard is not None:
            h = e.hazard.model_copy(update={"active_from": e.at})
            sc.hazards.append(h)
        elif e.close_crossing is not None:
            for c in sc.ceasefire.crossing_points:
                if c.id == e.close_crossing:
                    c.closed_from = e.at if c.closed_from is None else min(c.closed_from, e.at)
        elif e.window is not None:
            w = sc.ceasefire.windows[e.window.index]
            end = e.at if e.window.cancel else e.window.end
            assert end is not None
            w.end = max(w.start, min(w.end, end))
    sc.ceasefire.windows = [w for w in sc.ceasefire.windows if w.end > w.start]
    return sc


# --------------------------------------------------------------------------- replan


def _t(s: str) -> datetime:
    return datetime.fromisoformat(s)


def _partial_path(path: list[list[float]], share: float) -> list[list[float]]:
    """The first ``share`` of a path by length."""
    line = LineString(path) if len(path) >= 2 else None
    if line is None or line.length == 0:
        return [list(path[0])] * 2
    cut = shapely.ops.substring(line, 0, max(0.0, min(1.0, share)), normalized=True)
    coords = [list(c) for c in getattr(cut, "coords", [])] or [list(path[0])]
    return coords if len(coords) > 1 else [coords[0], coords[0]]


@dataclass
class _Situation:
    """What the events change, as seen at the time of the earliest one."""

    now: datetime
    changed: Scenario
    lost: set[str]
    closed_now: set[str]
    hazard_union: Any
    crossing_loc: dict[str, tuple[float, float]]
    rec_ids: set[str]
    unload_min: float
    stop_min: float

    def dwell(self, site: str) -> timedelta:
        """Time a vehicle stays at ``site`` after arriving (unloading at a reception centre)."""
        return timedelta(minutes=self.unload_min if site in self.rec_ids else self.stop_min)


def _situation(scenario: Scenario, events: list[Event]) -> _Situation:
    """The scenario as the events leave it, with what the kept part of each vehicle must avoid."""
    ev = scenario.require_evacuation()
    changed = apply_events(scenario, events)
    new_hazards = load_layers(
        changed.model_copy(
            update={"hazards": [e.hazard for e in events if e.hazard], "frontline": None}
        )
    )
    return _Situation(
        now=min(e.at for e in events),
        changed=changed,
        lost={e.vehicle_lost for e in events if e.vehicle_lost},
        closed_now={e.close_crossing for e in events if e.close_crossing},
        hazard_union=new_hazards.closed.geometry.union_all() if len(new_hazards.closed) else None,
        crossing_loc={
            c.id: location_lonlat(c.location) for c in scenario.ceasefire.crossing_points
        },
        rec_ids={r.id for r in ev.reception_centres},
        unload_min=ev.unload_min,
        stop_min=ev.stop_min,
    )


def _leg_stays_safe(
    vid: str, leg: dict, dep: datetime, arr: datetime, share: float, sit: _Situation
) -> bool:
    """Whether a leg in progress at the event may be completed: its vehicle is not lost, it has
    passed every crossing that closed, what lies ahead avoids the new hazards, and it still ends
    inside a window."""
    line = LineString(leg["path"]) if len(leg["path"]) >= 2 else None
    safe = vid not in sit.lost
    for c in set(leg.get("crossings", [])) & sit.closed_now:
        loc = sit.crossing_loc.get(c)
        passed = (
            line is not None
            and loc is not None
            and line.length > 0
            and share >= line.project(shapely.Point(loc), normalized=True)
        )
        safe = safe and passed
    if safe and sit.hazard_union is not None and line is not None and line.length > 0:
        ahead = shapely.ops.substring(line, min(1.0, max(0.0, share)), 1.0, normalized=True)
        safe = not ahead.intersects(sit.hazard_union)
    return safe and any(w.start <= dep and arr <= w.end for w in sit.changed.ceasefire.windows)


def _turn_back(
    leg: dict, dep: datetime, share: float, now: datetime, k_legs: list[dict], k_stops: list[dict]
) -> datetime:
    """Record a vehicle turning back at ``now`` to the site its leg left; the time it is back."""
    part = _partial_path(leg["path"], share)
    ret = now + (now - dep)
    k_legs.append(
        {
            **leg,
            "to": leg["from"],
            "arrive": ret.isoformat(),
            "path": part + part[::-1][1:],
            "length_m": round(2 * line_length_m(part), 1),
            "risk_km": round(leg["risk_km"] * share * 2, 3),
            "crossings": [],
        }
    )
    k_stops.append(
        {
            "site": leg["from"],
            "arrive": ret.isoformat(),
            "depart": ret.isoformat(),
            "board": {},
            "alight": {},
        }
    )
    return ret


def _keep_vehicle(
    v: dict, sit: _Situation, notes: list[str]
) -> tuple[list[dict], list[dict], str, datetime]:
    """The legs and stops vehicle ``v`` keeps, and the site and time it is free again."""
    vid, now = v["id"], sit.now
    legs, stops = v["legs"], v["stops"]
    k_legs: list[dict] = []
    first_dep = _t(legs[0]["depart"]) if legs else None
    k_stops: list[dict] = [
        dict(s)
        for s in stops
        if (first_dep is None or _t(s["arrive"]) < first_dep) and _t(s["arrive"]) <= now
    ]
    site, avail = v["start"], now
    for leg in legs:
        dep, arr = _t(leg["depart"]), _t(leg["arrive"])
        stop = next((s for s in stops if s["site"] == leg["to"] and _t(s["arrive"]) == arr), None)
        if dep >= now:
            break
        if arr <= now:
            k_legs.append(dict(leg))
            if stop is not None:
                k_stops.append(dict(stop))
            site, avail = leg["to"], max(now, arr + sit.dwell(leg["to"]))
            continue
        # in progress at the event: only what lies ahead of the vehicle matters (its place
        # on the path is taken in proportion to the time elapsed)
        share = (now - dep).total_seconds() / max(1.0, (arr - dep).total_seconds())
        if _leg_stays_safe(vid, leg, dep, arr, share, sit):
            k_legs.append(dict(leg))
            if stop is not None:
                k_stops.append(dict(stop))
            site, avail = leg["to"], arr + sit.dwell(leg["to"])
        else:
            site, avail = leg["from"], _turn_back(leg, dep, share, now, k_legs, k_stops)
            notes.append(f"{vid} turned back to {leg['from']} at {now.isoformat()}")
        break
    if k_stops:
        k_stops[-1]["depart"] = max(_t(k_stops[-1]["arrive"]), avail).isoformat()
    _unwind_open_trip(k_legs, k_stops)
    return k_legs, k_stops, site, avail


def _delivered(
    scenario: Scenario, kept: dict[str, tuple[list[dict], list[dict]]]
) -> dict[str, dict[str, int]]:
    """People delivered by the kept part, by assembly point and group (boards and alights
    replayed per vehicle trip)."""
    delivered = {a.id: dict.fromkeys(GROUPS, 0) for a in scenario.require_evacuation().point_list()}
    for _k_legs, k_stops in kept.values():
        aboard: list[tuple[str, str, int]] = []
        for s in k_stops:
            for g, n in s["board"].items():
                aboard.append((s["site"], g, n))
            for g, n in s["alight"].items():
                left = n
                for i, (site, gg, m) in enumerate(aboard):
                    if gg == g and left and m:
                        take = min(m, left)
                        delivered[site][g] += take
                        aboard[i] = (site, gg, m - take)
                        left -= take
    return delivered


def _rest(
    scenario: Scenario,
    plan: dict[str, Any],
    sit: _Situation,
    kept: dict[str, tuple[list[dict], list[dict]]],
    delivered: dict[str, dict[str, int]],
    received: dict[str, int],
    state: dict[str, tuple[str, datetime]],
) -> Scenario:
    """What is left to plan: the people still waiting, the reception space still free, and
    each remaining vehicle as a type of its own, starting where and when it is free."""
    rest = sit.changed.model_copy(deep=True)
    rest_ev = rest.require_evacuation()
    for a in rest_ev.point_list():
        for g in GROUPS:
            setattr(a.people, g, max(0, getattr(a.people, g) - delivered[a.id][g]))
    gone = {h for _l, ks in kept.values() for s in ks for h in s.get("alight_households") or []}
    for a in rest_ev.point_list():
        if a.household_list is not None:  # the households still waiting are the site's people
            a.people = None
            a.set_households([h for h in a.household_list if h.id not in gone])
    for r in rest_ev.reception_centres:
        r.capacity = max(0, r.capacity - received.get(r.id, 0))
    ev = scenario.require_evacuation()
    site_loc = {s["id"]: tuple(s["location"]) for s in plan["sites"]}
    types = {vt.type: vt for vt in ev.fleet}
    site_ids = {a.id for a in ev.point_list()} | {r.id for r in ev.reception_centres}
    fleet = []
    for v in plan["vehicles"]:
        if v["id"] not in state:
            continue
        site, avail = state[v["id"]]
        vt = types[v["type"]]
        start: Any = (
            site
            if site in site_ids
            else (vt.start if isinstance(vt.start, str) else list(site_loc[site]))
        )
        fleet.append(
            vt.model_copy(
                update={"type": v["id"], "count": 1, "start": start, "available_from": avail}
            )
        )
    rest_ev.fleet = fleet or [types[plan["vehicles"][0]["type"]].model_copy(update={"count": 0})]
    return rest


def _previous(
    plan: dict[str, Any],
    kept: dict[str, tuple[list[dict], list[dict]]],
    state: dict[str, tuple[str, datetime]],
) -> dict[str, list[tuple[str, str, int]]]:
    """What each remaining vehicle was still to pick up: the re-plan changes it only where that
    serves more people or saves real driving (each vehicle is its own type, so its id in the
    new plan is ``<id>-1``)."""
    previous: dict[str, list[tuple[str, str, int]]] = {}
    for v in plan["vehicles"]:
        if v["id"] not in state:
            continue
        todo = _boards(v["stops"])
        for key, n in _boards(kept[v["id"]][1]).items():
            todo[key] = todo.get(key, 0) - n
        previous[f"{v['id']}-1"] = [(site, g, n) for (site, g), n in sorted(todo.items()) if n > 0]
    return previous


def _kept_note(new: Plan, previous: dict[str, list[tuple[str, str, int]]]) -> str:
    """How many of the people still to be picked up keep the vehicle they had."""
    same = 0
    for nv in new.vehicles:
        now_boards = _boards([s.model_dump() for s in nv.stops])
        same += sum(min(n, now_boards.get((site, g), 0)) for site, g, n in previous.get(nv.id, []))
    before = sum(n for items in previous.values() for _s, _g, n in items)
    return f"re-plan: {same} of the {before} people still to be picked up keep the vehicle planned before the events"


def _merge_vehicles(
    plan: dict[str, Any], kept: dict[str, tuple[list[dict], list[dict]]], new: Plan
) -> list[Vehicle]:
    """Each vehicle's kept part followed by its new plan (joined at the stop they share)."""
    new_by_vid = {nv.type: nv for nv in new.vehicles}
    vehicles: list[Vehicle] = []
    for v in plan["vehicles"]:
        k_legs, k_stops = kept[v["id"]]
        stops = [Stop(**s) for s in k_stops]
        legs = [Leg(**lg) for lg in k_legs]
        nv = new_by_vid.get(v["id"])
        if nv is not None:
            n_stops = list(nv.stops)
            if (
                n_stops
                and stops
                and (not nv.legs or _t(n_stops[0].arrive) <= _t(nv.legs[0].depart))
                and n_stops[0].site == stops[-1].site
                and nv.start == stops[-1].site
            ):
                first = n_stops.pop(0)
                last = stops[-1]
                stops[-1] = Stop(
                    site=last.site,
                    arrive=last.arrive,
                    depart=first.depart,
                    board=_add(last.board, first.board),
                    alight=_add(last.alight, first.alight),
                )
            stops += n_stops
            legs += list(nv.legs)
        vehicles.append(
            Vehicle(
                id=v["id"],
                type=v["type"],
                seats=v["seats"],
                groups=v["groups"],
                start=v["start"],
                stops=stops,
                legs=legs,
            )
        )
    return vehicles


def _merged_plan(
    scenario: Scenario,
    plan: dict[str, Any],
    sit: _Situation,
    new: Plan,
    vehicles: list[Vehicle],
    delivered: dict[str, dict[str, int]],
    received: dict[str, int],
    notes: list[str],
) -> Plan:
    """The re-planned :class:`Plan`: kept history plus the new plan, with their totals."""
    kept_ev = {g: sum(delivered[a][g] for a in delivered) for g in GROUPS}
    evac = {g: kept_ev[g] + new.totals.evacuated.get(g, 0) for g in GROUPS}
    evac["total"] = sum(evac.values())
    bound = {g: kept_ev[g] + new.totals.bound.get(g, 0) for g in GROUPS}
    bound["total"] = sum(kept_ev.values()) + new.totals.bound.get("total", 0)
    requested = dict(plan["totals"]["requested"])
    recs = [
        Reception(
            id=r.id,
            capacity=r.capacity,
            received=received.get(r.id, 0)
            + next((x.received for x in new.receptions if x.id == r.id), 0),
        )
        for r in scenario.require_evacuation().reception_centres
    ]
    risk = sum(lg.risk_km for v in vehicles for lg in v.legs)
    dist = sum(lg.length_m for v in vehicles for lg in v.legs) / 1000
    status: Literal["complete", "partial", "empty"] = (
        "complete"
        if evac["total"] == requested.get("total")
        else ("empty" if evac["total"] == 0 else "partial")
    )
    return Plan(
        scenario=plan["scenario"],
        seed=new.seed,
        status=status,
        timezone=plan["timezone"],
        windows=[(w.start.isoformat(), w.end.isoformat()) for w in sit.changed.ceasefire.windows],
        totals=Totals(requested=requested, evacuated=evac, bound=bound),
        vehicles_used=sum(1 for v in vehicles if v.legs),
        vehicles_total=len(vehicles),
        risk_km=round(risk, 3),
        distance_km=round(dist, 3),
        sites=plan["sites"],
        receptions=recs,
        vehicles=vehicles,
        unserved=[Unserved(**u.model_dump()) for u in new.unserved],
        warnings=[*plan.get("warnings", []), *notes, *new.warnings],
        solver=new.solver,
        corridors=new.corridors,
    )


def replan(
    scenario: Scenario,
    plan: Plan,
    events: list[Event],
    *,
    network: PreparedNetwork | None = None,
    **plan_kwargs: Any,
) -> Plan:
    """Re-plan after events.

    Parameters
    ----------
    scenario
        The base scenario.
    plan
        The plan being carried out (as :func:`planner.plan.read_plan` reads it).
    events
        What happened.
    network
        The prepared network of ``scenario``, if the caller has it: the roads are then not
        loaded again (see :func:`planner.network.prepare_network`'s ``reuse``).
    **plan_kwargs
        Passed to :func:`planner.evacuation.plan_evacuation` (time limit, seed, budget, workers).

    Returns
    -------
    Plan
        Kept history plus the new plan, for the scenario as the events leave it.
    """
    from planner.evacuation import plan_evacuation

    data = plan_data(plan)
    sit = _situation(scenario, events)
    received = {r.id: 0 for r in scenario.require_evacuation().reception_centres}
    kept: dict[str, tuple[list[dict], list[dict]]] = {}
    state: dict[str, tuple[str, datetime]] = {}
    notes: list[str] = []
    for v in data["vehicles"]:
        vid = v["id"]
        k_legs, k_stops, site, avail = _keep_vehicle(v, sit, notes)
        for s in k_stops:
            for _g, n in s["alight"].items():
                received[s["site"]] = received.get(s["site"], 0) + n
        kept[vid] = (k_legs, k_stops)
        if vid in sit.lost:
            notes.append(f"{vid} lost at {sit.now.isoformat()}")
        else:
            state[vid] = (site, avail)
    delivered = _delivered(scenario, kept)
    rest = _rest(scenario, data, sit, kept, delivered, received, state)
    previous = _previous(data, kept, state)
    if network is not None:
        plan_kwargs = {**plan_kwargs, "network": prepare_network(rest, reuse=network)}
    new = plan_evacuation(rest, previous=previous, **plan_kwargs)
    notes.append(_kept_note(new, previous))
    vehicles = _merge_vehicles(data, kept, new)
    return _merged_plan(scenario, data, sit, new, vehicles, delivered, received, notes)


def _boards(stops: list[dict]) -> dict[tuple[str, str], int]:
    """People boarding, by (site, group), over a list of plan stops."""
    out: dict[tuple[str, str], int] = {}
    for s in stops:
        for g, n in s["board"].items():
            out[(s["site"], g)] = out.get((s["site"], g), 0) + int(n)
    return out


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for g, n in b.items():
        out[g] = out.get(g, 0) + n
    return {g: n for g, n in out.items() if n}


def _unwind_open_trip(legs: list[dict], stops: list[dict]) -> None:
    """People still on board at the end of the kept part step off and wait again: their
    trip (since the vehicle last was empty) is recorded as driven empty."""
    aboard = 0
    last_empty_stop = -1
    for i, s in enumerate(stops):
        aboard += sum(s["board"].values()) - sum(s["alight"].values())
        if aboard == 0:
            last_empty_stop = i
    if aboard == 0:
        return
    first_open = last_empty_stop + 1
    open_from = _t(stops[first_open]["arrive"]) if first_open < len(stops) else None
    for s in stops[first_open:]:
        s["board"] = {}
        s["alight"] = {}
        s.pop("board_households", None)
        s.pop("alight_households", None)
    if open_from is not None:
        for lg in legs:
            if _t(lg["depart"]) >= open_from:
                lg["load"] = {}
