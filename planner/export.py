"""Exports of a plan: ``plan.json`` and ``schedule.csv`` (one row per stop)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from planner.plan import Plan, write_atomic
from planner.scenario import GROUPS

SCHEDULE_COLUMNS = [
    "vehicle", "type", "seq", "site", "arrive", "depart",
    *[f"board_{g}" for g in GROUPS], *[f"alight_{g}" for g in GROUPS], "on_board_after",
]


def schedule_csv(plan: Plan) -> str:
    """The schedule as CSV text: one row per stop of every vehicle, in time order per vehicle."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(SCHEDULE_COLUMNS)
    for v in plan.vehicles:
        on_board = 0
        for seq, st in enumerate(v.stops, start=1):
            on_board += sum(st.board.values()) - sum(st.alight.values())
            w.writerow(
                [v.id, v.type, seq, st.site, st.arrive, st.depart,
                 *[st.board.get(g, 0) for g in GROUPS], *[st.alight.get(g, 0) for g in GROUPS], on_board]
            )
    return out.getvalue()


def write_plan_files(plan: Plan, folder: str | Path) -> dict[str, Path]:
    """Write ``plan.json`` and ``schedule.csv`` atomically into ``folder``.

    Returns
    -------
    dict
        File kind to path.
    """
    folder = Path(folder)
    paths = {"plan": folder / "plan.json", "schedule": folder / "schedule.csv"}
    write_atomic(paths["plan"], plan.to_json())
    write_atomic(paths["schedule"], schedule_csv(plan))
    return paths
