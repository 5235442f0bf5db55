"""Draw a time-distance chart of the vehicles of one convoy (the README's convoy figure).

    python docs/convoy_chart.py SCENARIO PLAN.json CONVOY_ID OUT.png

Every vehicle that drives in the convoy is drawn over the day it does: kilometres along the
convoy's corridor (its via points in order) against time.  A vehicle is taken to drive each
leg at an even pace, and its position is where its path lies along the corridor; stops are
flat.  Members of one convoy leave, pass the checkpoints and arrive together, so their lines
merge into one from the marshalling site on.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from planner.convoys import corridor_lines  # noqa: E402
from planner.scenario import load_scenario  # noqa: E402


def _km_along(line: list[tuple[float, float]], p: tuple[float, float]) -> float:
    """Kilometres along ``line`` to the point of it nearest ``p`` (local flat metres)."""
    k = math.cos(math.radians(p[1]))

    def xy(q: tuple[float, float]) -> tuple[float, float]:
        return q[0] * 111.32 * k, q[1] * 110.54

    px, py = xy(p)
    best, at, walked = math.inf, 0.0, 0.0
    for a, b in zip(line, line[1:], strict=False):
        (ax, ay), (bx, by) = xy(a), xy(b)
        dx, dy = bx - ax, by - ay
        seg = math.hypot(dx, dy)
        t = 0.0 if seg == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / seg**2))
        d = math.hypot(ax + t * dx - px, ay + t * dy - py)
        if d < best:
            best, at = d, walked + t * seg
        walked += seg
    return at


def _trace(vehicle: dict, line: list[tuple[float, float]]) -> tuple[list[datetime], list[float]]:
    times: list[datetime] = []
    kms: list[float] = []
    for leg in vehicle["legs"]:
        t0, t1 = datetime.fromisoformat(leg["depart"]), datetime.fromisoformat(leg["arrive"])
        path = leg["path"]
        steps = [0.0]
        for a, b in zip(path, path[1:], strict=False):
            steps.append(steps[-1] + math.hypot(b[0] - a[0], (b[1] - a[1])))
        total = steps[-1] or 1.0
        for p, s in zip(
            path[:: max(1, len(path) // 200)], steps[:: max(1, len(path) // 200)], strict=False
        ):
            times.append(t0 + (t1 - t0) * (s / total))
            kms.append(_km_along(line, (p[0], p[1])))
        times.append(t1)
        kms.append(_km_along(line, (path[-1][0], path[-1][1])))
    return times, kms


def draw(scenario_path: str, plan_path: str, convoy: str, out: str) -> None:
    """Draw the chart of ``convoy`` into ``out``."""
    sc = load_scenario(scenario_path)
    plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    corridor = convoy.split("@")[0]
    line = corridor_lines(sc)[corridor]
    members = [v for v in plan["vehicles"] if any(leg.get("convoy") == convoy for leg in v["legs"])]
    fig, ax = plt.subplots(figsize=(9, 4.8), dpi=110)
    for v in members:
        times, kms = _trace(v, line)
        lead = v["seats"] == 0
        ax.plot(
            times,
            kms,
            lw=2.5 if lead else 1.0,
            color="crimson" if lead else "steelblue",
            alpha=1 if lead else 0.6,
            label=v["id"] if lead else None,
        )
    for cp in next((c.checkpoints for c in sc.ceasefire.corridors if c.id == corridor), []):
        from planner.scenario import location_lonlat

        km = _km_along(line, location_lonlat(cp.location))
        ax.axhline(km, color="grey", ls=":", lw=0.8)
        ax.annotate(cp.name or cp.id, (ax.get_xlim()[0], km), fontsize=8, va="bottom", color="grey")
    when = datetime.fromisoformat(convoy.split("@")[1])
    for a, b in plan["windows"]:  # the day of the convoy
        if datetime.fromisoformat(a) <= when < datetime.fromisoformat(b):
            ax.set_xlim(datetime.fromisoformat(a), datetime.fromisoformat(b))
    ax.axvline(when, color="crimson", ls="--", lw=0.8)
    ax.set_ylabel(f"km along corridor {corridor}")
    ax.xaxis.set_major_formatter(
        mdates.DateFormatter("%d %H:%M", tz=datetime.fromisoformat(plan["windows"][0][0]).tzinfo)
    )
    n = len(members)
    ax.set_title(
        f"convoy {convoy}: {n} vehicles (blue: buses and ambulances, red: lead)", fontsize=10
    )
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    draw(*sys.argv[1:5])
