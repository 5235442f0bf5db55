"""HXL (Humanitarian Exchange Language) hashtags: written under the header of every CSV
export, and read from registration lists exported by KoboToolbox or ODK.

**Writing.**  :data:`SCHEDULE_TAGS`, :data:`DRIVER_TAGS` and :data:`SITES_TAGS` give each
column of ``schedule.csv``, the driver sheets and ``sites.csv`` its hashtag (HXL 1.1
core hashtags and attributes where they exist: ``#loc+name``, ``#geo+lat``, ``#geo+lon``,
``#adm4+code`` for a KATOTTG settlement code, ``#affected+children``, ``#reached+...``);
:func:`hxl_row` turns a list of columns into the row written below the header.

**Reading.**  :func:`read_assembly_points` reads a CSV or XLSX file whose hashtag row lies
anywhere in its first 25 rows (the header above it is ignored, so any language works) and
sums its rows by site: one row per household or per registration is the usual export.

=====================================  ===========================================
hashtag (attributes in any order)      meaning
=====================================  ===========================================
``#loc+id`` / ``#loc+code``            site id (default: made from the name)
``#loc+name``                          site name
``#geo+lat``, ``#geo+lon``             coordinates (WGS84); without them the name is
                                       looked up as a settlement (``{place: name}``)
``#adm4+code``, ``#loc+pcode``         KATOTTG code of the settlement (``pcode``)
``#affected+children``                 children
``#affected+disabled`` / ``+elderly``  people with reduced mobility
``+reduced_mobility``
``#affected+injured`` / ``+wounded``   wounded
``#affected+general`` / ``+adults``    everyone else
``#affected+total`` (or ``#affected``) the total, when ``general`` is not given:
                                       ``general`` = total minus the other groups
=====================================  ===========================================
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from planner.errors import ScenarioError

GROUP_ATTRIBUTES = {
    "general": "general",
    "children": "children",
    "reduced_mobility": "disabled",
    "wounded": "injured",
}
"""The HXL attribute of each group of people."""

_GROUPS = tuple(GROUP_ATTRIBUTES)


def _groups(prefix: str) -> dict[str, str]:
    return {g: f"{prefix}+{a}" for g, a in GROUP_ATTRIBUTES.items()}


SCHEDULE_TAGS: dict[str, str] = {
    "vehicle": "#item+transport+id",
    "type": "#item+transport+type",
    "seq": "#meta+seq",
    "site": "#loc+id",
    "arrive": "#date+arrive",
    "depart": "#date+depart",
    **{f"board_{g}": t for g, t in _groups("#reached+boarded").items()},
    **{f"alight_{g}": t for g, t in _groups("#reached+alighted").items()},
    "on_board_after": "#reached+onboard",
    "site_name": "#loc+name",
    "site_pcode": "#adm4+code",
    "convoy": "#item+transport+convoy",
}
"""Hashtags of ``schedule.csv``'s columns."""

DRIVER_TAGS: dict[str, str] = {
    "time": "#date",
    "stop": "#loc+name",
    "site": "#loc+id",
    "action": "#activity+type",
    "people": "#reached",
    "groups": "#description+groups",
    "on_board": "#reached+onboard",
    "convoy": "#item+transport+convoy",
}
"""Hashtags of a driver sheet's columns."""

SITES_TAGS: dict[str, str] = {
    "id": "#loc+id",
    "kind": "#loc+type",
    "name": "#loc+name",
    "pcode": "#adm4+code",
    "lat": "#geo+lat",
    "lon": "#geo+lon",
    **{f"waiting_{g}": t for g, t in _groups("#affected").items()},
    **{f"evacuated_{g}": t for g, t in _groups("#reached").items()},
    "unserved": "#inneed+unserved",
    "unserved_reasons": "#description+reason",
    "capacity": "#capacity",
    "received": "#reached+received",
    "snap_m": "#meta+snap_m",
}
"""Hashtags of ``sites.csv``'s columns."""


def hxl_row(columns: list[str], tags: dict[str, str]) -> list[str]:
    """The hashtag row for ``columns`` (empty where a column has no hashtag).

    Parameters
    ----------
    columns
        Column names of the header row.
    tags
        Hashtag per column name.

    Returns
    -------
    list of str
    """
    return [tags.get(c, "") for c in columns]


# ----------------------------------------------------------------------------- reading

_TAG = re.compile(r"^\s*#([a-z][a-z0-9_]*)((?:\s*\+\s*[a-z][a-z0-9_]*)*)\s*$", re.IGNORECASE)
_HEAD_ROWS = 25


def parse_tag(text: object) -> tuple[str, frozenset[str]] | None:
    """``#affected +children +f`` → ``("affected", {"children", "f"})``; ``None`` if not a hashtag.

    Parameters
    ----------
    text
        A cell of the hashtag row.

    Returns
    -------
    tuple or None
    """
    if not isinstance(text, str):
        return None
    m = _TAG.match(text)
    if m is None:
        return None
    attrs = frozenset(a.strip().lower() for a in m.group(2).split("+") if a.strip())
    return m.group(1).lower(), attrs


def table_rows(path: Path, sheet: str | None) -> list[list[Any]]:
    """The rows of a CSV (sniffed delimiter) or an XLSX sheet, as lists of cells."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            from openpyxl import load_workbook
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ScenarioError(str(path), "", f"reading XLSX needs openpyxl: {exc}") from None
        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable workbook is one line
            raise ScenarioError(str(path), "", f"not a readable XLSX workbook: {exc}") from None
        if sheet is not None and sheet not in wb.sheetnames:
            raise ScenarioError(
                str(path), "sheet", f"no sheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})"
            )
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        wb.close()
        return rows
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), "", f"cannot read it as UTF-8 CSV: {exc}") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [list(r) for r in csv.reader(io.StringIO(text), dialect)]


def _columns(tags: list[tuple[str, frozenset[str]] | None]) -> dict[str, int]:
    """Which column holds what, from the parsed hashtag row."""
    cols: dict[str, int] = {}

    def put(key: str, i: int) -> None:
        cols.setdefault(key, i)

    for i, t in enumerate(tags):
        if t is None:
            continue
        tag, attrs = t
        if tag == "loc" and ("id" in attrs or ("code" in attrs and "pcode" not in attrs)):
            put("id", i)
        elif tag == "loc" and "pcode" in attrs or tag in ("adm4", "adm3") and "code" in attrs:
            put("pcode", i)
        elif tag == "loc" and "name" in attrs:
            put("name", i)
        elif tag == "geo" and "lat" in attrs:
            put("lat", i)
        elif tag == "geo" and ("lon" in attrs or "long" in attrs):
            put("lon", i)
        elif tag in ("affected", "population", "inneed"):
            if "children" in attrs:
                put("children", i)
            elif attrs & {"disabled", "elderly", "reduced_mobility", "pwd"}:
                put("reduced_mobility", i)
            elif attrs & {"injured", "wounded"}:
                put("wounded", i)
            elif attrs & {"general", "adults"}:
                put("general", i)
            elif not attrs or attrs & {"total", "num", "ind"}:
                put("total", i)
    return cols


def _number(value: Any, path: Path, row: int, what: str) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    try:
        f = float(str(value).replace(",", "").strip()) if isinstance(value, str) else float(value)
    except ValueError:
        raise ScenarioError(str(path), f"row {row}: {what}", f"{value!r} is not a number") from None
    if f < 0 or f != int(f):
        raise ScenarioError(str(path), f"row {row}: {what}", f"{value!r} is not a count of people")
    return int(f)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "site"


def read_assembly_points(path: str | Path, *, sheet: str | None = None) -> list[dict[str, Any]]:
    """Assembly points from an HXL-tagged CSV or XLSX file, summed by site.

    Parameters
    ----------
    path
        The file (``.csv`` or ``.xlsx``).
    sheet
        Sheet of a workbook (default: the first).

    Returns
    -------
    list of dict
        Mappings ready for :class:`planner.scenario.AssemblyPoint`: ``id``, ``name``,
        ``location`` (``[lon, lat]``, the mean over the site's rows, or ``{place: name}``),
        ``people`` by group and ``pcode`` when given.  In the order sites first appear.

    Raises
    ------
    ScenarioError
        The file cannot be read, has no hashtag row, no site name or id column, no people
        column, a count that is not a whole number, coordinates out of range, or a site
        with two different pcodes.
    """
    p = Path(path)
    rows = table_rows(p, sheet)
    at = _hashtag_row(rows, p)
    cols = _columns([parse_tag(c) for c in rows[at]])
    _check_columns(cols, p)
    sites: dict[str, dict[str, Any]] = {}
    for n, r in enumerate(rows[at + 1 :], start=at + 2):
        _add_row(sites, r, n, cols, p)
    if not sites:
        raise ScenarioError(str(p), "", "no site rows below the hashtag row")
    return [_assembly_point(s, p) for s in sites.values()]


def _hashtag_row(rows: list[list[Any]], path: Path) -> int:
    """Index of the HXL hashtag row (the first of the first rows with two hashtags)."""
    at = next(
        (
            i
            for i, r in enumerate(rows[:_HEAD_ROWS])
            if sum(parse_tag(c) is not None for c in r) >= 2
        ),
        None,
    )
    if at is None:
        raise ScenarioError(
            str(path),
            "",
            "no HXL hashtag row (e.g. #loc+name, #geo+lat, #affected+children) in the first rows",
        )
    return at


def _check_columns(cols: dict[str, int], path: Path) -> None:
    """Raise unless the columns name a site, count people and give both coordinates or none."""
    if "id" not in cols and "name" not in cols:
        raise ScenarioError(str(path), "hashtags", "needs a site column: #loc+name or #loc+id")
    if not set(cols) & {*_GROUPS, "total"}:
        raise ScenarioError(
            str(path),
            "hashtags",
            "needs a people column: #affected+children, #affected+general, #affected+total, ...",
        )
    if ("lat" in cols) != ("lon" in cols):
        raise ScenarioError(str(path), "hashtags", "give both #geo+lat and #geo+lon, or neither")


def _cell(r: list[Any], cols: dict[str, int], key: str) -> Any:
    """The value of column ``key`` in row ``r`` (``None`` when absent or past the row's end)."""
    i = cols.get(key)
    return r[i] if i is not None and i < len(r) else None


def _row_people(r: list[Any], n: int, cols: dict[str, int], path: Path) -> dict[str, int]:
    """People by group on row ``n``; a total without ``general`` fills ``general`` up."""
    people = {g: _number(_cell(r, cols, g), path, n, f"#{'affected'} {g}") for g in _GROUPS}
    total = _number(_cell(r, cols, "total"), path, n, "#affected+total")
    if "general" not in cols and total:
        rest = sum(people.values())
        if total < rest:
            raise ScenarioError(
                str(path),
                f"row {n}: #affected+total",
                f"{total} is less than the groups given ({rest})",
            )
        people["general"] = total - rest
    return people


def _add_row(
    sites: dict[str, dict[str, Any]], r: list[Any], n: int, cols: dict[str, int], path: Path
) -> None:
    """Add row ``n`` (1-based) to its site in ``sites``: people, coordinates and pcode."""
    name = str(_cell(r, cols, "name") or "").strip()
    sid = str(_cell(r, cols, "id") or "").strip() or (_slug(name) if name else "")
    if not sid:
        return  # a blank row
    people = _row_people(r, n, cols, path)
    s = sites.setdefault(
        sid,
        {
            "id": sid,
            "name": name or None,
            "people": dict.fromkeys(_GROUPS, 0),
            "ll": [],
            "pcode": None,
        },
    )
    for g in _GROUPS:
        s["people"][g] += people[g]
    if "lat" in cols and _cell(r, cols, "lat") not in (None, ""):
        lat, lon = (
            _coord(_cell(r, cols, "lat"), path, n, "#geo+lat", 90),
            _coord(_cell(r, cols, "lon"), path, n, "#geo+lon", 180),
        )
        s["ll"].append((lon, lat))
    code = str(_cell(r, cols, "pcode") or "").strip()
    if code:
        if s["pcode"] not in (None, code):
            raise ScenarioError(
                str(path), f"row {n}: pcode", f"site {sid} has two pcodes: {s['pcode']} and {code}"
            )
        s["pcode"] = code


def _assembly_point(s: dict[str, Any], path: Path) -> dict[str, Any]:
    """A summed site as an assembly point mapping (mean coordinates, or its name to look up)."""
    if s["ll"]:
        loc: Any = [
            round(sum(x for x, _ in s["ll"]) / len(s["ll"]), 6),
            round(sum(y for _, y in s["ll"]) / len(s["ll"]), 6),
        ]
    elif s["name"]:
        loc = {"place": s["name"]}
    else:
        raise ScenarioError(
            str(path),
            f"site {s['id']}",
            "has neither coordinates (#geo+lat, #geo+lon) nor a name to look up",
        )
    point = {"id": s["id"], "name": s["name"], "location": loc, "people": s["people"]}
    if s["pcode"]:
        point["pcode"] = s["pcode"]
    return point


def _coord(value: Any, path: Path, row: int, what: str, limit: float) -> float:
    try:
        f = float(str(value).replace(",", ".")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ScenarioError(str(path), f"row {row}: {what}", f"{value!r} is not a number") from None
    if not -limit <= f <= limit:
        raise ScenarioError(str(path), f"row {row}: {what}", f"{f} is out of range")
    return f
