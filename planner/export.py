"""Exports of a plan for the people who carry it out.

``plan.json`` (the plan itself), ``schedule.csv`` (one row per stop, with an HXL hashtag
row under its header), ``schedule.xlsx``, ``sites.csv`` and ``plan.gpkg`` (see
:mod:`planner.fieldexport`), ``routes.gpx`` (one
track per vehicle with named waypoints for its stops, for OsmAnd or Organic Maps, written
with gpxpy), ``plan.geojson`` (legs, sites and exchange events with their properties),
``drivers/<vehicle>.csv`` (one sheet per vehicle: time, stop, action, people) and
``summary.md`` (the command line's summary table as Markdown, for a report).

Only counts, times, places and ids leave the plan: no file carries a roster.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import gpxpy
import gpxpy.gpx

from planner.fieldexport import leg_records, safe_cell
from planner.plan import Plan, Vehicle, write_atomic
from planner.scenario import GROUPS, Scenario

SCHEDULE_COLUMNS = [
    "vehicle",
    "type",
    "seq",
    "site",
    "arrive",
    "depart",
    *[f"board_{g}" for g in GROUPS],
    *[f"alight_{g}" for g in GROUPS],
    "on_board_after",
    "site_name",
    "site_pcode",
    "convoy",
]
"""Columns of ``schedule.csv``; the row under the header holds their HXL hashtags
(:data:`planner.hxl.SCHEDULE_TAGS`); ``convoy`` is the convoy the vehicle leaves the stop in
(``<corridor>@<depart time>``, empty when it drives on its own)."""

DRIVER_COLUMNS = ["time", "stop", "site", "action", "people", "groups", "on_board", "convoy"]
"""Columns of a driver sheet: ``people`` is the number boarding or alighting (for
``depart``/``arrive`` rows, the number on board); ``convoy`` names the convoy a
``depart``, ``arrive`` or checkpoint row drives in."""

_cell = safe_cell


def schedule_csv(plan: Plan) -> str:
    """The schedule as CSV text: one row per stop of every vehicle, in time order per vehicle.

    The header is followed by a row of HXL hashtags (:data:`planner.hxl.SCHEDULE_TAGS`).
    """
    from planner.hxl import SCHEDULE_TAGS, hxl_row

    names = _site_names(plan)
    codes = {s.id: s.pcode or "" for s in plan.sites}
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(SCHEDULE_COLUMNS)
    w.writerow(hxl_row(SCHEDULE_COLUMNS, SCHEDULE_TAGS))
    for v in plan.vehicles:
        on_board = 0
        convoys = v.stop_convoys()
        for seq, st in enumerate(v.stops, start=1):
            on_board += sum(st.board.values()) - sum(st.alight.values())
            w.writerow(
                [
                    _cell(v.id),
                    _cell(v.type),
                    seq,
                    _cell(st.site),
                    st.arrive,
                    st.depart,
                    *[st.board.get(g, 0) for g in GROUPS],
                    *[st.alight.get(g, 0) for g in GROUPS],
                    on_board,
                    _cell(names.get(st.site, st.site)),
                    _cell(codes.get(st.site, "")),
                    _cell(convoys[seq - 1]),
                ]
            )
    return out.getvalue()


# ----------------------------------------------------------------------------- helpers


def _site_names(plan: Plan) -> dict[str, str]:
    return {s.id: (s.name or s.id) for s in plan.sites}


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{g} {n}" for g, n in d.items() if n) or ""


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between two ``(lon, lat)`` points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))


def _path_times(
    path: list[tuple[float, float]], depart: datetime, arrive: datetime
) -> list[datetime]:
    """A time for every vertex of a path, spread by distance between ``depart`` and ``arrive``."""
    cum = [0.0]
    for a, b in zip(path, path[1:], strict=False):
        cum.append(cum[-1] + _metres(a, b))
    total = cum[-1]
    span = (arrive - depart).total_seconds()
    if total <= 0:
        return [
            depart + timedelta(seconds=span * i / max(1, len(path) - 1)) for i in range(len(path))
        ]
    return [depart + timedelta(seconds=round(span * c / total)) for c in cum]


def _safe_filename(name: str) -> str:
    """A file name made of ``[A-Za-z0-9_.-]`` only, never hidden nor empty."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "vehicle"
    return safe


def exchange_events(plan: Plan) -> list[dict[str, Any]]:
    """The plan's exchange events reduced to what may be shown: times, place, counts.

    Parameters
    ----------
    plan
        A plan; ``plan.exchange`` may be ``None``.

    Returns
    -------
    list of dict
        ``{index, start, end, place, location, people, by_party}`` per event, where
        ``place`` is the exchange point's id, ``location`` its ``(lon, lat)``, ``people`` the
        number of people released in the event and ``by_party`` that number per party.
        Nothing else of an event (in particular no list of persons) is kept.
    """
    if plan.exchange is None:
        return []
    out: list[dict[str, Any]] = []
    for i, e in enumerate(plan.exchange.events):
        by_party = {
            party: sum(n for cats in facilities.values() for n in cats.values())
            for party, facilities in e.counts.items()
        }
        out.append(
            {
                "index": i,
                "start": e.start,
                "end": e.end,
                "place": e.place,
                "location": (float(e.location[0]), float(e.location[1])),
                "people": sum(by_party.values()),
                "by_party": by_party,
            }
        )
    return out


# ----------------------------------------------------------------------------- GPX


def routes_gpx(plan: Plan) -> str:
    """One GPX track per vehicle that drives, with a named waypoint for each of its stops.

    Parameters
    ----------
    plan
        The plan.

    Returns
    -------
    str
        GPX 1.1 text (written with gpxpy). Each track is named after its vehicle and has one
        segment per leg, with times spread along the road by distance; each waypoint is
        named ``<vehicle> <n>: <site>`` and has the vehicle id as its ``type`` so apps can
        group them, the arrival time, and what happens there as its description.
    """
    names = _site_names(plan)
    locations = {s.id: s.location for s in plan.sites}
    gpx = gpxpy.gpx.GPX()
    gpx.creator = "corridor-planner"
    gpx.name = f"{plan.scenario} (seed {plan.seed})"
    gpx.description = f"evacuation plan {plan.scenario}: {plan.evacuated_total()} people, {plan.vehicles_used} vehicles"
    for v in plan.vehicles:
        if not v.legs:
            continue
        track = gpxpy.gpx.GPXTrack(name=v.id, description=f"{v.type}, {v.seats} seats")
        # gpxpy leaves GPXTrack.type unannotated, so its stub infers None for it
        track.type = v.type  # type: ignore[assignment]
        for leg in v.legs:
            seg = gpxpy.gpx.GPXTrackSegment()
            times = _path_times(
                leg.path, datetime.fromisoformat(leg.depart), datetime.fromisoformat(leg.arrive)
            )
            for (lon, lat), t in zip(leg.path, times, strict=True):
                seg.points.append(gpxpy.gpx.GPXTrackPoint(latitude=lat, longitude=lon, time=t))
            track.segments.append(seg)
        gpx.tracks.append(track)
        for seq, st in enumerate(v.stops, start=1):
            lon, lat = _stop_location(v, st.site, seq - 1, locations)
            what = (
                "; ".join(
                    x
                    for x in (
                        f"alight {_counts(st.alight)}" if sum(st.alight.values()) else "",
                        f"board {_counts(st.board)}" if sum(st.board.values()) else "",
                    )
                    if x
                )
                or "stop"
            )
            gpx.waypoints.append(
                gpxpy.gpx.GPXWaypoint(
                    latitude=lat,
                    longitude=lon,
                    time=datetime.fromisoformat(st.arrive),
                    name=f"{v.id} {seq}: {names.get(st.site, st.site)}",
                    description=f"{st.arrive[11:16]}–{st.depart[11:16] if st.depart[:10] == st.arrive[:10] else st.depart[5:16].replace('T', ' ')} {what}",
                    type=v.id,
                )
            )
    return gpx.to_xml(version="1.1")


def _stop_location(
    v: Vehicle, site: str, index: int, locations: dict[str, tuple[float, float]]
) -> tuple[float, float]:
    """Where a stop is on the road: the end of the leg arriving there, else the site."""
    if index < len(v.legs) and v.legs[index].to == site and v.legs[index].path:
        return v.legs[index].path[-1]
    return locations.get(site, (0.0, 0.0))


# ----------------------------------------------------------------------------- GeoJSON


def plan_geojson(plan: Plan, scenario: Scenario | None = None) -> dict[str, Any]:
    """The plan as a GeoJSON FeatureCollection (RFC 7946, WGS84 ``[lon, lat]``).

    Parameters
    ----------
    plan
        The plan.
    scenario
        Its scenario, for the people waiting at each assembly point and the place of
        exchange events; optional.

    Returns
    -------
    dict
        Features with ``feature`` = ``site`` (Point), ``leg`` (LineString) or ``exchange``
        (Point, only for events whose place is known). Every feature of one kind has the
        same property names.
    """
    names = _site_names(plan)
    waiting: dict[str, int] = {}
    if (
        scenario is not None
        and scenario.evacuation is not None
        and isinstance(scenario.evacuation.assembly_points, list)
    ):
        waiting = {
            a.id: sum(a.require_people().as_dict().values())
            for a in scenario.evacuation.assembly_points
        }
    boarded: dict[str, int] = {}
    for v in plan.vehicles:
        for st in v.stops:
            boarded[st.site] = boarded.get(st.site, 0) + sum(st.board.values())
    unserved: dict[str, int] = {}
    for u in plan.unserved:
        unserved[u.site] = unserved.get(u.site, 0) + u.people
    receptions = {r.id: r for r in plan.receptions}
    features: list[dict[str, Any]] = []
    for s in plan.sites:
        r = receptions.get(s.id)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [s.location[0], s.location[1]]},
                "properties": {
                    "feature": "site",
                    "id": s.id,
                    "kind": s.kind,
                    "name": s.name or s.id,
                    "pcode": s.pcode,
                    "snap_m": round(s.snap_m, 1),
                    "waiting": waiting.get(s.id, boarded.get(s.id, 0) + unserved.get(s.id, 0))
                    if s.kind == "assembly"
                    else None,
                    "evacuated": boarded.get(s.id, 0) if s.kind == "assembly" else None,
                    "unserved": unserved.get(s.id, 0) if s.kind == "assembly" else None,
                    "capacity": r.capacity if r else None,
                    "received": r.received if r else None,
                },
            }
        )
    for _vid, path, row in leg_records(plan, names):
        properties = {"feature": "leg", **row}
        properties["length_m"] = round(row["length_m"], 1)
        properties["risk_km"] = round(row["risk_km"], 3)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[p[0], p[1]] for p in path]},
                "properties": properties,
            }
        )
    for e in exchange_events(plan):
        loc = e["location"]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [loc[0], loc[1]]},
                "properties": {
                    "feature": "exchange",
                    "index": e["index"],
                    "start": e["start"],
                    "end": e["end"],
                    "place": e["place"],
                    "people": e["people"],
                    "by_party": ", ".join(f"{p} {n}" for p, n in e["by_party"].items()),
                },
            }
        )
    return {"type": "FeatureCollection", "name": plan.scenario, "features": features}


# ----------------------------------------------------------------------------- driver sheets


def driver_sheet_rows(plan: Plan, vehicle: Vehicle) -> list[dict[str, object]]:
    """The rows of one vehicle's driver sheet, in time order.

    Parameters
    ----------
    plan
        The plan (for site names).
    vehicle
        One of its vehicles.

    Returns
    -------
    list of dict
        Keys :data:`DRIVER_COLUMNS`. ``action`` is ``depart``, ``arrive``, ``alight``,
        ``board``, or ``checkpoint`` / ``leave_checkpoint`` (a stop at an agreed corridor's
        checkpoint, named in ``site``); for ``alight`` and ``board`` ``people`` is how many get
        off or on, for the others how many are on board.
    """
    names = _site_names(plan)
    names |= {k.id: k.name or k.id for c in plan.corridors or [] for k in c.checkpoints}
    rows: list[dict[str, object]] = []
    on_board = 0
    for when, _order, _i, action, site, people, groups, convoy in _driver_events(vehicle):
        if action == "board":
            on_board += people
        elif action == "alight":
            on_board -= people
        rows.append(
            {
                "time": when.isoformat(),
                "stop": names.get(site, site),
                "site": site,
                "action": action,
                "people": people,
                "groups": groups,
                "on_board": on_board,
                "convoy": convoy,
            }
        )
    return rows


_DriverEvent = tuple[datetime, int, int, str, str, int, str, str]
"""(time, order at one time, index, action, site, people, groups, convoy)."""


def _driver_events(vehicle: Vehicle) -> list[_DriverEvent]:
    """A vehicle's departures, arrivals, checkpoint stops, alightings and boardings, in time
    order (at one time: arrive, alight, board, depart, checkpoint, leave_checkpoint)."""
    events: list[_DriverEvent] = []
    for i, leg in enumerate(vehicle.legs):
        n, convoy, load = sum(leg.load.values()), leg.convoy or "", _counts(leg.load)
        events.append(
            (datetime.fromisoformat(leg.depart), 3, i, "depart", leg.from_, n, load, convoy)
        )
        events.append((datetime.fromisoformat(leg.arrive), 0, i, "arrive", leg.to, n, load, convoy))
        for cp in leg.checkpoints or []:  # agreed corridor checkpoints on the way
            events.append(
                (datetime.fromisoformat(cp.arrive), 4, i, "checkpoint", cp.id, n, load, convoy)
            )
            events.append(
                (
                    datetime.fromisoformat(cp.depart),
                    5,
                    i,
                    "leave_checkpoint",
                    cp.id,
                    n,
                    load,
                    convoy,
                )
            )
    for j, st in enumerate(vehicle.stops):
        if sum(st.alight.values()):
            alight = sum(st.alight.values())
            events.append(
                (
                    datetime.fromisoformat(st.arrive),
                    1,
                    j,
                    "alight",
                    st.site,
                    alight,
                    _counts(st.alight),
                    "",
                )
            )
        if sum(st.board.values()):
            board = sum(st.board.values())
            events.append(
                (
                    datetime.fromisoformat(st.depart),
                    2,
                    j,
                    "board",
                    st.site,
                    board,
                    _counts(st.board),
                    "",
                )
            )
    events.sort(key=lambda e: e[:3])
    return events


def driver_sheet_csv(plan: Plan, vehicle: Vehicle) -> str:
    """One vehicle's driver sheet as CSV text (columns :data:`DRIVER_COLUMNS`, then HXL hashtags)."""
    from planner.hxl import DRIVER_TAGS, hxl_row

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(DRIVER_COLUMNS)
    w.writerow(hxl_row(DRIVER_COLUMNS, DRIVER_TAGS))
    for r in driver_sheet_rows(plan, vehicle):
        w.writerow([_cell(r[c]) for c in DRIVER_COLUMNS])
    return out.getvalue()


def driver_sheets(plan: Plan) -> dict[str, str]:
    """Driver sheets of every vehicle that drives, by file name (``<vehicle>.csv``)."""
    sheets: dict[str, str] = {}
    for v in plan.vehicles:
        if not v.legs and not v.stops:
            continue
        name = _safe_filename(v.id)
        stem, n = name, 2
        while f"{name}.csv" in sheets:
            name, n = f"{stem}_{n}", n + 1
        sheets[f"{name}.csv"] = driver_sheet_csv(plan, v)
    return sheets


# ----------------------------------------------------------------------------- summary


def _md(text: object) -> str:
    """Text safe inside a Markdown table cell or line: no HTML, no pipes, one line."""
    s = " ".join(str(text).split())
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\|*_`\[\]#])", r"\\\1", s)


def summary_markdown(plan: Plan) -> str:
    """The command line's summary table as Markdown, for pasting into a report.

    Parameters
    ----------
    plan
        The plan.

    Returns
    -------
    str
        A heading, the table (group, requested, evacuated, bound, evacuated / bound), the
        caption line, then the people not served, warnings and exchange events, if any.
    """
    lines = [
        f"# {_md(plan.scenario)} (seed {plan.seed}): {_md(plan.status)}",
        "",
        "| group | requested | evacuated | bound | evacuated / bound |",
        "|---|---:|---:|---:|---:|",
    ]
    for g, r, e, b in plan.summary_rows():
        ratio = f"{e / b:.0%}" if b else "-"
        cells = [g, f"{r:,}", f"{e:,}", f"{b:,}", ratio]
        if g == "total":
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        (
            f"vehicles used {plan.vehicles_used}/{plan.vehicles_total} · {plan.distance_km:,.0f} km driven · "
            f"{plan.risk_km:,.1f} km under risk · search stopped by {_md(plan.solver.stopped_by)}"
        ),
    ]
    if plan.unserved:
        lines += ["", "## Not served", ""]
        lines += [
            f"- {u.people:,} {_md(u.group)} at {_md(u.site)}: {_md(u.detail)}"
            for u in plan.unserved
        ]
    if plan.warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- {_md(w)}" for w in plan.warnings]
    events = exchange_events(plan)
    if plan.exchange is not None:
        lines += ["", f"## Exchange: {_md(plan.exchange.status)}", ""]
        if events:
            lines += [
                "| event | start | end | place | people | by party |",
                "|---:|---|---|---|---:|---|",
            ]
            for event in events:
                parties = ", ".join(f"{_md(p)} {n:,}" for p, n in event["by_party"].items())
                lines.append(
                    f"| {event['index'] + 1} | {_md(event['start'] or '')} | {_md(event['end'] or '')} | "
                    f"{_md(event['place'] or '')} | {event['people']:,} | {parties} |"
                )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- all files


def write_plan_files(
    plan: Plan, folder: str | Path, *, scenario: Scenario | None = None
) -> dict[str, Path]:
    """Write every export of a plan atomically into ``folder``.

    Parameters
    ----------
    plan
        The plan.
    folder
        Output folder (created when missing).
    scenario
        The plan's scenario, for people waiting and exchange places in ``plan.geojson``;
        optional.

    Returns
    -------
    dict
        File kind to path: ``plan`` (plan.json), ``schedule`` (schedule.csv), ``xlsx``
        (schedule.xlsx), ``sites`` (sites.csv), ``gpx`` (routes.gpx), ``geojson``
        (plan.geojson), ``gpkg`` (plan.gpkg), ``summary`` (summary.md) and ``drivers`` (the
        folder of driver sheets; sheets of vehicles no longer in the plan are removed).
        Sites keep the ``pcode`` the scenario gives them, in every file.
    """
    from planner.fieldexport import attach_pcodes, gpkg_frames, schedule_xlsx, sites_csv, write_gpkg

    folder = Path(folder)
    plan = attach_pcodes(plan, scenario)
    paths = {
        "plan": folder / "plan.json",
        "schedule": folder / "schedule.csv",
        "xlsx": folder / "schedule.xlsx",
        "sites": folder / "sites.csv",
        "gpx": folder / "routes.gpx",
        "geojson": folder / "plan.geojson",
        "gpkg": folder / "plan.gpkg",
        "summary": folder / "summary.md",
        "drivers": folder / "drivers",
    }
    write_atomic(paths["plan"], plan.to_json())
    write_atomic(paths["xlsx"], schedule_xlsx(plan, scenario))
    write_atomic(paths["sites"], sites_csv(plan, scenario))
    write_gpkg(paths["gpkg"], gpkg_frames(plan, scenario))
    write_atomic(paths["schedule"], schedule_csv(plan))
    write_atomic(paths["gpx"], routes_gpx(plan))
    write_atomic(
        paths["geojson"],
        json.dumps(plan_geojson(plan, scenario), ensure_ascii=False, indent=1) + "\n",
    )
    write_atomic(paths["summary"], summary_markdown(plan))
    sheets = driver_sheets(plan)
    paths["drivers"].mkdir(parents=True, exist_ok=True)
    for name, text in sheets.items():
        write_atomic(paths["drivers"] / name, text)
    for old in paths["drivers"].glob("*.csv"):
        if old.name not in sheets:
            old.unlink(missing_ok=True)
    return paths
