"""What the command line prints for scripts and narrow terminals.

* ``--json``: one JSON document on stdout per command (the figures its table shows), built
  here by ``*_json`` functions; nothing else goes to stdout then, progress and logs go to
  stderr;
* :func:`compare_lines`: the ``compare`` table readable at 80 columns (one variant per row,
  its route on the line below);
* :func:`search_progress`: a progress bar against the search's time limit (rich, on
  stderr, only on a terminal).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any

from planner.scenario import GROUPS

if TYPE_CHECKING:
    from planner.exchange_result import ExchangePlan


def emit_json(doc: Any) -> None:
    """Write one JSON document (and a newline) to stdout.

    Parameters
    ----------
    doc
        JSON-serialisable data (dataclasses and paths are converted).
    """
    sys.stdout.write(json.dumps(doc, indent=1, ensure_ascii=False, default=_default) + "\n")
    sys.stdout.flush()


def _default(x: Any) -> Any:
    if is_dataclass(x) and not isinstance(x, type):
        return asdict(x)
    if hasattr(x, "model_dump"):
        return x.model_dump(mode="json", by_alias=True)
    return str(x)


def plan_json(plan: Any, files: dict[str, Any] | None = None) -> dict[str, Any]:
    """``planner plan --json``: the summary table, the people not served, warnings, files.

    Parameters
    ----------
    plan
        A :class:`planner.plan.Plan`.
    files
        File kind → path written.

    Returns
    -------
    dict
    """
    return {
        "scenario": plan.scenario,
        "seed": plan.seed,
        "status": plan.status,
        "groups": [
            {
                "group": g,
                "requested": r,
                "evacuated": e,
                "bound": b,
                "evacuated_over_bound": round(e / b, 4) if b else None,
            }
            for g, r, e, b in plan.summary_rows()
        ],
        "vehicles_used": plan.vehicles_used,
        "vehicles_total": plan.vehicles_total,
        "distance_km": plan.distance_km,
        "risk_km": plan.risk_km,
        "stopped_by": plan.solver.stopped_by,
        "unserved": [
            {
                "site": u.site,
                "group": u.group,
                "people": u.people,
                "reason": u.reason,
                "detail": u.detail,
            }
            for u in plan.unserved
        ],
        "warnings": list(plan.warnings),
        "exchange": _exchange_summary(plan.exchange),
        "files": {k: str(v) for k, v in (files or {}).items()},
    }


def _exchange_summary(ex: ExchangePlan | None) -> dict[str, Any] | None:
    if ex is None:
        return None
    from planner.exchange_result import summary_rows

    rows = summary_rows(ex)
    return {
        "status": ex.status,
        "rows": [dict(zip(rows[0], r, strict=False)) for r in rows[1:]],
        "conflicts": list(ex.conflicts),
        "relaxed": list(ex.relaxed),
    }


def sweep_json(res: Any, name: str, seed: int, replan: bool) -> dict[str, Any]:
    """``planner sweep --json``: the table's rows, the probability and the worst disruptions."""
    groups = []
    for g in (*res.requested, "total"):
        lo, hi = res.ci95[g]
        groups.append(
            {
                "group": g,
                "requested": res.requested.get(g, sum(res.requested.values())),
                "planned": res.planned[g],
                "expected": round(res.mean[g], 3),
                "ci95": [round(lo, 3), round(hi, 3)],
            }
        )
    return {
        "scenario": name,
        "runs": res.runs,
        "seed": seed,
        "replan": replan,
        "groups": groups,
        "p_all_wounded_out": res.p_all_wounded_out,
        "damaging": [{"event": e, "share": s, "loss": loss} for e, s, loss in res.damaging[:5]],
    }


def corridors_json(choice: Any, name: str, ranked: list[Any], files: list[str]) -> dict[str, Any]:
    """``planner corridors --json``: every candidate as the table ranks it, and the totals."""
    return {
        "scenario": name,
        "max": choice.max_corridors,
        "people": choice.people,
        "status": choice.status,
        "people_all": choice.people_all,
        "extra_hour": choice.extra_hour,
        "corridors": [
            {
                "id": c.id,
                "selected": c.selected,
                "people": c.people,
                "marginal": c.marginal if c.selected else None,
                "out_min": round(c.out_s / 60, 1),
                "back_min": round(c.back_s / 60, 1),
                "km": round(c.length_m / 1000, 1),
                "risk_km": round(c.risk_km, 1),
                "assembly": c.assembly,
                "crossing": c.crossing,
                "reception": c.reception,
            }
            for c in ranked
        ],
        "files": files,
    }


# ----------------------------------------------------------------------------- compare at 80 columns

_FIGURES = (
    ("total", "evacuated", 9),
    ("delta", "Δ base", 7),
    ("bound", "bound", 7),
    ("risk_km", "risk km", 7),
    ("unserved", "unserved", 8),
    ("vehicles_used", "veh", 4),
)


def _fig(key: str, v: Any) -> str:
    if v is None:
        return ""
    if key == "delta":
        return f"{v:+,}"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def compare_lines(rows: list[dict[str, Any]], width: int = 80) -> list[str]:
    """The comparison as text lines no wider than ``width``: one line of figures per variant,
    then its route and its expectations, indented, wrapped.

    Parameters
    ----------
    rows
        From :func:`planner.check.compare_rows` (with ``route``).
    width
        Longest line.

    Returns
    -------
    list of str
    """
    import textwrap

    name_w = max(8, width - sum(w + 1 for _k, _h, w in _FIGURES))
    head = f"{'variant':<{name_w}}" + "".join(f" {h:>{w}}" for _k, h, w in _FIGURES)
    lines = [head[:width], "-" * min(width, len(head))]
    for row in rows:
        name = str(row.get("variant") or "")
        if len(name) > name_w:
            name = name[: name_w - 1] + "…"
        lines.append(
            f"{name:<{name_w}}" + "".join(f" {_fig(k, row.get(k)):>{w}}" for k, _h, w in _FIGURES)
        )
        groups = ", ".join(
            f"{g.replace('_', ' ')} {row[g]:,}" for g in GROUPS if isinstance(row.get(g), int)
        )
        for label, text in (
            ("groups", groups),
            ("route", row.get("route") or "-"),
            ("expect", row.get("expectations") or ""),
            ("exchange days", row.get("exchange_days")),
        ):
            if text in (None, ""):
                continue
            lines += textwrap.wrap(
                f"{label}: {text}", width=width, initial_indent="  ", subsequent_indent="    "
            )
    return lines


# ----------------------------------------------------------------------------- progress


@contextmanager
def search_progress(
    time_limit_s: float | None, enabled: bool, label: str = "search"
) -> Iterator[Callable[[str], None]]:
    """A rich progress bar on stderr against the search's time limit.

    Parameters
    ----------
    time_limit_s
        The limit the bar fills against (default: the settings' limit).
    enabled
        Off with ``-q``, ``--json`` or when stderr is not a terminal: then nothing is drawn.
    label
        Text before the bar.

    Yields
    ------
    callable
        Takes the search's progress lines (shown as the bar's description).
    """
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield lambda _line: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if time_limit_s is None:
        from planner.settings import get_settings

        time_limit_s = float(get_settings().time_limit_s)
    total = max(1.0, float(time_limit_s))
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn(f"of {total:.0f} s"),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        start, done = time.monotonic(), threading.Event()

        def tick() -> None:
            while not done.wait(0.25):
                bar.update(task, completed=min(total, time.monotonic() - start))

        t = threading.Thread(target=tick, daemon=True)
        t.start()
        try:
            yield lambda line: bar.update(task, description=f"{label}: {line}"[:60])
        finally:
            done.set()
            t.join(timeout=1)
