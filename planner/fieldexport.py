"""Exports for field teams and GIS desks: ``schedule.xlsx``, ``plan.gpkg`` and ``sites.csv``.

* ``schedule.xlsx`` (openpyxl): a *Summary* sheet (the command line's table, the people not
  served and why, warnings), one sheet per vehicle with its stops and times, one sheet per
  reception centre with its arrivals;
* ``plan.gpkg`` (geopandas, GeoPackage): layers ``sites``, ``legs``, ``hazards`` and
  ``corridors`` (the roads people are carried on, aggregated by origin and destination);
* ``sites.csv``: one row per site with its people waiting, evacuated and not served, and an
  HXL hashtag row under the header (see :mod:`planner.hxl`).

Every site keeps its ``pcode`` (KATOTTG) when the scenario gives one.  Only counts, times,
places and ids are written: no roster, no name of a person.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from planner.plan import Plan, Vehicle
from planner.scenario import GROUPS, Scenario

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A CSV cell that a spreadsheet will not run as a formula (scenario text is untrusted).

    Parameters
    ----------
    value
        The cell's value.

    Returns
    -------
    object
        ``value``, with a ``'`` before text that starts like a formula.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


SITES_COLUMNS = [
    "id",
    "kind",
    "name",
    "pcode",
    "lat",
    "lon",
    *[f"waiting_{g}" for g in GROUPS],
    *[f"evacuated_{g}" for g in GROUPS],
    "unserved",
    "unserved_reasons",
    "capacity",
    "received",
    "snap_m",
]
"""Columns of ``sites.csv`` (and of the ``sites`` layer of ``plan.gpkg``)."""

VEHICLE_SHEET_COLUMNS = [
    "seq",
    "site",
    "name",
    "pcode",
    "arrive",
    "depart",
    *[f"board_{g}" for g in GROUPS],
    *[f"alight_{g}" for g in GROUPS],
    "convoy",
    "on_board_after",
]
"""Columns of a vehicle's sheet in ``schedule.xlsx`` (``convoy``: the convoy the vehicle
leaves the stop in)."""

RECEPTION_SHEET_COLUMNS = ["arrive", "vehicle", "from", *GROUPS, "people", "received_so_far"]
"""Columns of a reception centre's sheet in ``schedule.xlsx``."""


def attach_pcodes(plan: Plan, scenario: Scenario | None) -> Plan:
    """The plan with each site's ``pcode`` taken from the scenario (a copy when one changes).

    Parameters
    ----------
    plan
        The plan.
    scenario
        Its scenario, or ``None``.

    Returns
    -------
    Plan
    """
    codes = pcodes(scenario)
    if not codes or all(s.pcode == codes.get(s.id, s.pcode) for s in plan.sites):
        return plan
    out = plan.model_copy(deep=True)
    for s in out.sites:
        s.pcode = codes.get(s.id, s.pcode)
    return out


def pcodes(scenario: Scenario | None) -> dict[str, str]:
    """Site id → pcode, for the assembly points and reception centres that have one."""
    ev = scenario.evacuation if scenario is not None else None
    if ev is None:
        return {}
    points: list[Any] = ev.assembly_points if isinstance(ev.assembly_points, list) else []
    every: list[Any] = [*points, *ev.reception_centres]
    return {x.id: x.pcode for x in every if getattr(x, "pcode", None)}


# ----------------------------------------------------------------------------- per site


def site_rows(plan: Plan, scenario: Scenario | None = None) -> list[dict[str, Any]]:
    """One row per site (columns :data:`SITES_COLUMNS`).

    Parameters
    ----------
    plan
        The plan.
    scenario
        Its scenario, for the people waiting at the start; without it, waiting is what was
        evacuated plus what was not served.

    Returns
    -------
    list of dict
    """
    from planner.plan import REASONS

    codes = pcodes(scenario)
    start: dict[str, dict[str, int]] = {}
    ev = scenario.evacuation if scenario is not None else None
    if ev is not None and isinstance(ev.assembly_points, list):
        start = {a.id: a.require_people().as_dict() for a in ev.assembly_points}
    boarded: dict[str, dict[str, int]] = {}
    for v in plan.vehicles:
        for st in v.stops:
            b = boarded.setdefault(st.site, dict.fromkeys(GROUPS, 0))
            for g, n in st.board.items():
                b[g] = b.get(g, 0) + n
    left: dict[str, dict[str, int]] = {}
    reasons: dict[str, list[str]] = {}
    for u in plan.unserved:
        left.setdefault(u.site, dict.fromkeys(GROUPS, 0))[u.group] += u.people
        reasons.setdefault(u.site, []).append(
            f"{u.people} {u.group}: {REASONS.get(u.reason, u.reason)}"
        )
    receptions = {r.id: r for r in plan.receptions}
    rows = []
    for s in plan.sites:
        asm = s.kind == "assembly"
        got = boarded.get(s.id, dict.fromkeys(GROUPS, 0))
        miss = left.get(s.id, dict.fromkeys(GROUPS, 0))
        wait = start.get(s.id) or {g: got.get(g, 0) + miss.get(g, 0) for g in GROUPS}
        r = receptions.get(s.id)
        rows.append(
            {
                "id": s.id,
                "kind": s.kind,
                "name": s.name or s.id,
                "pcode": s.pcode or codes.get(s.id) or "",
                "lat": s.location[1],
                "lon": s.location[0],
                **{f"waiting_{g}": wait.get(g, 0) if asm else "" for g in GROUPS},
                **{f"evacuated_{g}": got.get(g, 0) if asm else "" for g in GROUPS},
                "unserved": sum(miss.values()) if asm else "",
                "unserved_reasons": "; ".join(reasons.get(s.id, [])),
                "capacity": r.capacity if r else "",
                "received": r.received if r else "",
                "snap_m": s.snap_m,
            }
        )
    return rows


def sites_csv(plan: Plan, scenario: Scenario | None = None) -> str:
    """``sites.csv``: :func:`site_rows` with an HXL hashtag row under the header."""
    from planner.hxl import SITES_TAGS, hxl_row

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(SITES_COLUMNS)
    w.writerow(hxl_row(SITES_COLUMNS, SITES_TAGS))
    for r in site_rows(plan, scenario):
        w.writerow([safe_cell(r[c]) for c in SITES_COLUMNS])
    return out.getvalue()


# ----------------------------------------------------------------------------- schedule.xlsx

_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def _sheet_name(text: str, taken: set[str]) -> str:
    """A sheet name Excel accepts (31 characters, no ``[]:*?/\\``), unique in the workbook."""
    base = _SHEET_BAD.sub("_", text).strip("'") or "sheet"
    name, n = base[:31], 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(name.lower())
    return name


def _put(ws: Any, row: list[Any]) -> None:
    """Append a row; text is always text (a scenario's ``=...`` never becomes a formula)."""
    ws.append([None if v is None else v for v in row])
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"


def _when(iso: str) -> Any:
    """An ISO time as a spreadsheet date-time in the plan's local time (no zone: Excel has none)."""
    return datetime.fromisoformat(iso).replace(tzinfo=None)


def _vehicle_rows(
    plan: Plan, v: Vehicle, names: dict[str, str], codes: dict[str, str]
) -> list[list[Any]]:
    rows, on_board = [], 0
    convoys = v.stop_convoys()
    for seq, st in enumerate(v.stops, start=1):
        on_board += sum(st.board.values()) - sum(st.alight.values())
        rows.append(
            [
                seq,
                st.site,
                names.get(st.site, st.site),
                codes.get(st.site, ""),
                _when(st.arrive),
                _when(st.depart),
                *[st.board.get(g, 0) for g in GROUPS],
                *[st.alight.get(g, 0) for g in GROUPS],
                convoys[seq - 1],
                on_board,
            ]
        )
    return rows


def reception_arrivals(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """Arrivals at each reception centre, in time order (people who alight there).

    Parameters
    ----------
    plan
        The plan.

    Returns
    -------
    dict
        Reception id → rows ``{arrive, vehicle, from, <group>..., people}`` where ``from``
        is where the vehicle's trip picked people up.
    """
    kinds = {s.id: s.kind for s in plan.sites}
    out: dict[str, list[dict[str, Any]]] = {s.id: [] for s in plan.sites if s.kind == "reception"}
    for v in plan.vehicles:
        picked: list[str] = []
        for st in v.stops:
            if sum(st.board.values()) and st.site not in picked:
                picked.append(st.site)
            n = sum(st.alight.values())
            if n and kinds.get(st.site) == "reception":
                out.setdefault(st.site, []).append(
                    {
                        "arrive": st.arrive,
                        "vehicle": v.id,
                        "from": ", ".join(picked),
                        **{g: st.alight.get(g, 0) for g in GROUPS},
                        "people": n,
                    }
                )
                picked = []
    for rows in out.values():
        rows.sort(key=lambda r: (r["arrive"], r["vehicle"]))
    return out


def schedule_xlsx(plan: Plan, scenario: Scenario | None = None) -> bytes:
    """``schedule.xlsx``: summary, one sheet per vehicle, one per reception centre.

    Parameters
    ----------
    plan
        The plan.
    scenario
        Its scenario, for the sites' pcodes; optional.

    Returns
    -------
    bytes
        The workbook.  Times are the plan's local times (the zone is in the summary).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    names = {s.id: s.name or s.id for s in plan.sites}
    codes = {**pcodes(scenario), **{s.id: s.pcode for s in plan.sites if s.pcode}}
    wb = Workbook()
    ws = wb.active
    taken: set[str] = set()
    ws.title = _sheet_name("Summary", taken)
    _put(ws, [plan.scenario, f"seed {plan.seed}", plan.status, f"times in UTC{plan.timezone}"])
    _put(ws, [])
    _put(ws, ["group", "requested", "evacuated", "bound", "evacuated / bound"])
    for g, r, e, b in plan.summary_rows():
        _put(ws, [g, r, e, b, round(e / b, 4) if b else None])
    _put(ws, [])
    _put(ws, ["vehicles used", plan.vehicles_used, "of", plan.vehicles_total])
    _put(ws, ["km driven", plan.distance_km])
    _put(ws, ["km under risk", plan.risk_km])
    _put(ws, ["search stopped by", plan.solver.stopped_by])
    if plan.unserved:
        _put(ws, [])
        _put(ws, ["not served: site", "name", "pcode", "group", "people", "reason", "detail"])
        for u in plan.unserved:
            _put(
                ws,
                [
                    u.site,
                    names.get(u.site, u.site),
                    codes.get(u.site, ""),
                    u.group,
                    u.people,
                    u.reason,
                    u.detail,
                ],
            )
    for w in plan.warnings:
        _put(ws, ["warning", w])
    for row_no in (3, 4 + len(GROUPS) + 1):
        for cell in ws[row_no]:
            cell.font = Font(bold=True)
    for v in plan.vehicles:
        if not v.stops:
            continue
        sh = wb.create_sheet(_sheet_name(v.id, taken))
        _put(
            sh, [f"{v.id} ({v.type}, {v.seats} seats)", f"starts at {names.get(v.start, v.start)}"]
        )
        _put(sh, VEHICLE_SHEET_COLUMNS)
        for row in _vehicle_rows(plan, v, names, codes):
            _put(sh, row)
        _format(sh, Font, header_row=2)
    received = {r.id: r for r in plan.receptions}
    for rid, rows in reception_arrivals(plan).items():
        sh = wb.create_sheet(_sheet_name(f"rc {names.get(rid, rid)}", taken))
        rec = received.get(rid)
        _put(
            sh,
            [
                f"{names.get(rid, rid)} ({rid})",
                f"pcode {codes.get(rid, '')}".strip(),
                f"capacity {rec.capacity if rec else '?'}",
                f"received {rec.received if rec else 0}",
            ],
        )
        _put(sh, RECEPTION_SHEET_COLUMNS)
        total = 0
        for a in rows:
            total += a["people"]
            _put(
                sh,
                [
                    _when(a["arrive"]),
                    a["vehicle"],
                    a["from"],
                    *[a[g] for g in GROUPS],
                    a["people"],
                    total,
                ],
            )
        _format(sh, Font, header_row=2)
    fixed = (
        datetime.fromisoformat(plan.windows[0][0]).replace(tzinfo=None)
        if plan.windows
        else datetime(2000, 1, 1)
    )
    wb.properties.created = wb.properties.modified = fixed
    wb.properties.creator = "corridor-planner"
    buf = io.BytesIO()
    wb.save(buf)
    return _reproducible_zip(buf.getvalue(), fixed)


def _reproducible_zip(data: bytes, when: datetime) -> bytes:
    """The workbook with fixed member times and a fixed "modified" date.

    openpyxl stamps the zip members and ``docProps/core.xml`` with the time of saving; the
    same plan must give the same bytes, so both are set to ``when`` (the plan's first window).
    """
    import zipfile

    stamp = f"{when:%Y-%m-%dT%H:%M:%S}Z".encode()
    date_time = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "docProps/core.xml":
                body = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    lambda m: m.group(1) + stamp + m.group(2),
                    body,
                )
            info = zipfile.ZipInfo(item.filename, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = item.external_attr
            dst.writestr(info, body)
    return out.getvalue()


def _format(sh: Any, font: Any, header_row: int) -> None:
    for cell in sh[header_row]:
        cell.font = font(bold=True)
    for row in sh.iter_rows(min_row=header_row + 1):
        for cell in row:
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
    sh.freeze_panes = sh.cell(row=header_row + 1, column=1)
    for col in sh.columns:
        width = (
            max(len(str(c.value)) if c.value is not None else 0 for c in col[1:])
            if len(col) > 1
            else 8
        )
        sh.column_dimensions[col[0].column_letter].width = min(40, max(8, width + 2))


# ----------------------------------------------------------------------------- plan.gpkg

GPKG_LAYERS = ("sites", "legs", "hazards", "corridors")
"""Layers of ``plan.gpkg``."""


def leg_records(
    plan: Plan, names: dict[str, str]
) -> list[tuple[str, list[tuple[float, float]], dict[str, Any]]]:
    """Every leg that can be drawn, as ``(vehicle id, path, properties)``.

    The properties are those the GeoPackage's ``legs`` layer and ``plan.geojson`` share
    (vehicle, type, seq, from and to with their names, times, people and load per group,
    length, risk, crossings), unrounded; a path of one point is doubled so that it makes a
    line, and a leg without a path is left out.
    """
    out = []
    for v in plan.vehicles:
        for seq, leg in enumerate(v.legs, start=1):
            path = list(leg.path) if len(leg.path) >= 2 else list(leg.path) * 2
            if not path:
                continue
            row = {
                "vehicle": v.id,
                "type": v.type,
                "seq": seq,
                "from": leg.from_,
                "to": leg.to,
                "from_name": names.get(leg.from_, leg.from_),
                "to_name": names.get(leg.to, leg.to),
                "depart": leg.depart,
                "arrive": leg.arrive,
                "people": sum(leg.load.values()),
                **{f"load_{g}": leg.load.get(g, 0) for g in GROUPS},
                "length_m": leg.length_m,
                "risk_km": leg.risk_km,
                "crossings": ",".join(leg.crossings),
            }
            out.append((v.id, path, row))
    return out


def gpkg_frames(plan: Plan, scenario: Scenario | None = None, layers: Any = None) -> dict[str, Any]:
    """The GeoDataFrames of ``plan.gpkg`` by layer name (WGS84).

    Parameters
    ----------
    plan
        The plan.
    scenario
        Its scenario (people waiting, pcodes, hazards); optional.
    layers
        :class:`planner.network.Layers` for the hazards (default: loaded from the
        scenario; without either, the hazards layer is empty).

    Returns
    -------
    dict
        ``sites`` (points, :data:`SITES_COLUMNS`), ``legs`` (lines: vehicle, type, seq,
        from, to, depart, arrive, people and load per group, length_m, risk_km,
        crossings), ``hazards`` (polygons: id, kind, factor) and ``corridors`` (lines:
        from, to, names, people, trips, vehicles).
    """
    import geopandas as gpd
    from shapely.geometry import LineString, Point

    names = {s.id: s.name or s.id for s in plan.sites}
    srows = site_rows(plan, scenario)
    sites = gpd.GeoDataFrame(
        srows,
        columns=SITES_COLUMNS,
        geometry=[Point(r["lon"], r["lat"]) for r in srows],
        crs="EPSG:4326",
    )
    import pandas as pd

    for c in SITES_COLUMNS[6:]:
        if c not in ("unserved_reasons", "snap_m"):
            sites[c] = pd.to_numeric(sites[c].replace("", None)).astype("Int64")
    legs_rows: list[dict[str, Any]] = []
    geoms: list[Any] = []
    carried: dict[tuple[str, str], dict[str, Any]] = {}
    for vid, path, row in leg_records(plan, names):
        legs_rows.append(row)
        geoms.append(LineString(path))
        if row["people"]:
            entry = carried.setdefault(
                (row["from"], row["to"]), {"path": path, "people": 0, "trips": 0, "vehicles": set()}
            )
            entry["people"] += row["people"]
            entry["trips"] += 1
            entry["vehicles"].add(vid)
    legs = gpd.GeoDataFrame(legs_rows, geometry=geoms, crs="EPSG:4326")
    corr_rows = [
        {
            "from": a,
            "to": b,
            "from_name": names.get(a, a),
            "to_name": names.get(b, b),
            "people": c["people"],
            "trips": c["trips"],
            "vehicles": ",".join(sorted(c["vehicles"])),
        }
        for (a, b), c in sorted(carried.items())
    ]
    corridors = gpd.GeoDataFrame(
        corr_rows,
        geometry=[LineString(carried[(r["from"], r["to"])]["path"]) for r in corr_rows],
        crs="EPSG:4326",
    )
    if layers is None and scenario is not None:
        from planner.network import load_layers

        layers = load_layers(scenario)
    hz_rows: list[dict[str, Any]] = []
    hz_geoms: list[Any] = []
    if layers is not None:
        for df in (layers.closed, layers.risk):
            for rec in df.itertuples(index=False):
                hz_rows.append(
                    {
                        "id": str(rec.id),
                        "kind": str(rec.kind),
                        "factor": float(rec.factor) if rec.kind == "risk" else None,
                    }
                )
                hz_geoms.append(rec.geometry)
    hazards = gpd.GeoDataFrame(
        hz_rows, columns=["id", "kind", "factor"], geometry=hz_geoms, crs="EPSG:4326"
    )
    return {"sites": sites, "legs": legs, "hazards": hazards, "corridors": corridors}


_GEOMETRY = {
    "sites": "Point",
    "legs": "LineString",
    "hazards": "Unknown",
    "corridors": "LineString",
}


_GPKG_DATE = "2000-01-01T00:00:00Z"
"""The date GDAL writes into ``gpkg_contents`` (fixed, so that plan.gpkg is reproducible)."""


def write_gpkg(path: str | Path, frames: dict[str, Any]) -> Path:
    """Write GeoDataFrames as the layers of one GeoPackage, atomically (temporary file, rename).

    Parameters
    ----------
    path
        The ``.gpkg`` to write.
    frames
        Layer name → GeoDataFrame (an empty frame still makes its layer).

    Returns
    -------
    Path
    """
    import pyogrio

    from planner.files import publish, temporary_path

    p = Path(path)
    tmp = temporary_path(p, suffix=".gpkg")
    tmp.unlink()  # GDAL creates the file itself
    # A fixed date in gpkg_contents and the journal in memory: the same plan gives the same
    # bytes, and a kill leaves no "-journal" file beside the temporary one.
    options = {"OGR_CURRENT_DATE": _GPKG_DATE, "OGR_SQLITE_JOURNAL": "MEMORY"}
    saved = pyogrio.get_gdal_config_option  # read back to restore after
    before = {k: saved(k) for k in options}
    pyogrio.set_gdal_config_options(options)
    try:
        for name, gdf in frames.items():
            pyogrio.write_dataframe(
                gdf,
                tmp,
                layer=name,
                driver="GPKG",
                append=tmp.exists(),
                geometry_type=_GEOMETRY.get(name, "Unknown") if gdf.empty else None,
            )
        publish(tmp, p)
    finally:
        pyogrio.set_gdal_config_options(before)
        tmp.unlink(missing_ok=True)
    return p
