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
from planner.scenario import load_scenario, location_lonlat  # noqa: E402


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


def _trace(
    vehicle: dict, line: list[tuple[float, float]], cp_at: dict[str, tuple[float, float]]
) -> tuple[list[datetime], list[float]]:
    """Times and corridor kilometres of a vehicle: even pace between its stops, flat at them
    (checkpoint stops included)."""
    times: list[datetime] = []
    kms: list[float] = []
    for leg in vehicle["legs"]:
        # fixed points of the leg: (time, km), the checkpoints' stops in between
        marks = [(datetime.fromisoformat(leg["depart"]), _km_along(line, tuple(leg["path"][0])))]
        for cp in leg.get("checkpoints") or []:
            km = _km_along(line, cp_at[cp["id"]])
            marks.append((datetime.fromisoformat(cp["arrive"]), km))
            marks.append((datetime.fromisoformat(cp["depart"]), km))
        marks.append(
            (datetime.fromisoformat(leg["arrive"]), _km_along(line, tuple(leg["path"][-1])))
        )
        for t, km in marks:
            times.append(t)
            kms.append(km)
    return times, kms


def via_labels(sc: object, corridor: str) -> list[tuple[str, tuple[float, float]]]:
    """The corridor's via points as ``(label, (lon, lat))``."""
    from planner.agreed_corridors import site_locations, via_points

    c = next(c for c in sc.ceasefire.corridors if c.id == corridor)
    return via_points(c, site_locations(sc)) if c.via is not None else []


def draw(scenario_path: str, plan_path: str, convoy: str, out: str) -> None:
    """Draw the chart of ``convoy`` into ``out``."""
    sc = load_scenario(scenario_path)
    plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    corridor = convoy.split("@")[0]
    line = corridor_lines(sc)[corridor]
    members = [v for v in plan["vehicles"] if any(leg.get("convoy") == convoy for leg in v["legs"])]
    checkpoints = next((c.checkpoints for c in sc.ceasefire.corridors if c.id == corridor), [])
    cp_at = {cp.id: location_lonlat(cp.location) for cp in checkpoints}
    fig, ax = plt.subplots(figsize=(9, 4.8), dpi=110)
    colours = {"bus": "steelblue", "ambulance": "darkorange"}
    seen: set[str] = set()
    for v in sorted(members, key=lambda v: v["seats"] == 0):
        times, kms = _trace(v, line, cp_at)
        lead = v["seats"] == 0
        kind = "lead" if lead else v["type"]
        ax.plot(
            times,
            kms,
            lw=1.2 if lead else 2.5,
            color="crimson" if lead else colours.get(v["type"], "grey"),
            ls="--" if lead else "-",
            alpha=1.0 if lead else 0.5,
            label=None
            if kind in seen
            else f"{kind} ({sum(1 for m in members if (m['seats'] == 0) == lead and (lead or m['type'] == v['type']))})",
        )
        seen.add(kind)
    for cp in checkpoints:
        km = _km_along(line, cp_at[cp.id])
        ax.axhline(km, color="grey", ls=":", lw=0.8)
        ax.text(
            0.01,
            km,
            f" {cp.name or cp.id}",
            transform=ax.get_yaxis_transform(),
            fontsize=8,
            va="bottom",
            color="grey",
        )
    for label, ll in via_labels(sc, corridor):
        ax.text(
            1.0,
            _km_along(line, ll),
            f" {label}",
            transform=ax.get_yaxis_transform(),
            fontsize=8,
            va="center",
        )
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
        f"convoy {convoy}: {n} vehicles, all on one line from the marshalling site", fontsize=10
    )
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    draw(*sys.argv[1:5])
