"""Exchange manifests: one CSV per event and party, pseudonymous ids only, never a name."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from planner.exchange_result import ExchangePlan
from planner.exchange_spec import MANIFEST_COLUMNS, Person
from planner.files import write_atomic


def manifest_file(event: str, party: str) -> str:
    """The manifest's path relative to the plan's folder, safe as a file name on any system."""
    return f"manifests/{_safe(event)}_{_safe(party)}.csv"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "x"


def manifest_text(people: list[Person], event: str, party: str) -> str:
    """The CSV text of one manifest (pseudonymous ids, never a name)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(MANIFEST_COLUMNS)
    for p in people:
        w.writerow(
            [
                event,
                party,
                p.id,
                p.facility,
                p.category,
                p.medical,
                p.group or "",
                p.detained_since.isoformat() if p.detained_since else "",
                p.source,
            ]
        )
    return buf.getvalue()


def write_manifests(plan: ExchangePlan, folder: str | Path) -> list[Path]:
    """Write ``manifests/<event>_<party>.csv`` for every event and party, atomically.

    Parameters
    ----------
    plan
        An exchange plan from :func:`schedule_exchanges`.
    folder
        The output folder (the one that holds ``plan.json``).

    Returns
    -------
    list of Path
        The files written.
    """
    out = []
    folder = Path(folder)
    for info in plan.manifests:
        people = plan._assignment.get((info.event, info.party), [])
        path = folder / info.file
        write_atomic(path, manifest_text(people, info.event, info.party))
        out.append(path)
    return out


__all__ = ["manifest_file", "manifest_text", "write_manifests"]
