"""``planner check`` and ``planner compare``: plan scenarios and their variants, check what
must hold, and set the variants side by side.

``check_paths`` finds every scenario file with an ``expect`` or ``variants`` section under
the given paths, plans each scenario and each variant on its own (in parallel, one process
per core, each planning with one search worker) and checks every expectation against the
plan, keeping the measured value.  ``compare_scenario`` plans the base scenario and its
variants and gives one row each (evacuated per group, bound, km under risk, unserved,
exchange days), which ``write_compare`` writes as Markdown and CSV.

Planning settings come from :func:`planner.settings.get_settings` (``PLANNER_SOLUTION_BUDGET``,
``PLANNER_TIME_LIMIT_S``, ``PLANNER_SEED``) unless given.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from planner.errors import PlannerError, ScenarioError
from planner.expect import Evidence, Outcome, evaluate
from planner.processes import process_pool
from planner.scenario import GROUPS, read_yaml
from planner.variants import Case, load_cases

if TYPE_CHECKING:
    from planner.plan import Plan
    from planner.scenario import Scenario

log = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml")
_SECTION = re.compile(r"^(expect|variants)\s*:", re.MULTILINE)


# --------------------------------------------------------------------------- results


@dataclass
class CaseResult:
    """What planning one scenario (or variant) gave and how its expectations fared.

    Attributes
    ----------
    file
        The scenario file.
    id
        ``<base>`` or ``<base>::<variant>``.
    variant
        The variant's name, ``None`` for the base scenario.
    outcomes
        One per expectation, in file order.
    summary
        Figures of the plan for comparison tables (see :func:`plan_summary`).
    error
        One line when planning failed on bad input (a missing network file, ...).
    seconds
        Wall-clock time spent.
    """

    file: str
    id: str
    variant: str | None
    outcomes: list[Outcome] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Whether planning worked and every expectation holds."""
        return self.error is None and all(o.passed for o in self.outcomes)


@dataclass
class CheckReport:
    """The results of ``planner check``.

    Attributes
    ----------
    results
        One per scenario and variant, in file order.
    """

    results: list[CaseResult]

    @property
    def outcomes(self) -> list[tuple[CaseResult, Outcome]]:
        """Every checked expectation with the case it belongs to."""
        return [(r, o) for r in self.results for o in r.outcomes]

    @property
    def n_passed(self) -> int:
        """Expectations that hold."""
        return sum(o.passed for _r, o in self.outcomes)

    @property
    def n_failed(self) -> int:
        """Expectations that fail."""
        return sum(not o.passed for _r, o in self.outcomes)

    @property
    def errors(self) -> list[str]:
        """One line per scenario whose planning met bad input."""
        return [f"{r.id}: {r.error}" for r in self.results if r.error is not None]

    @property
    def exit_code(self) -> int:
        """0 when everything holds, 1 when an expectation fails, 2 when input was bad."""
        if self.errors:
            return 2
        return 0 if self.n_failed == 0 else 1


# --------------------------------------------------------------------------- planning


def attach_exchange(scenario: Scenario, plan: Plan) -> None:
    """Give the plan its exchange schedule when the scenario has an exchange section.

    The schedule of :func:`planner.exchange.schedule_exchanges` is stored as
    ``plan.exchange`` unless the plan carries one already; terms that cannot all hold give
    a schedule whose ``status`` is ``infeasible``, with its ``conflicts``.
    """
    if scenario.exchange is None or plan.exchange is not None:
        return
    from planner.exchange import schedule_exchanges

    plan.exchange = schedule_exchanges(scenario)


def plan_case(
    case: Case,
    *,
    time_limit_s: float | None = None,
    budget: int | None = None,
    seed: int | None = None,
    workers: int = 1,
) -> Plan:
    """Plan one scenario or variant.

    Returns
    -------
    Plan
        The plan, with its exchange and repatriation schedules when the scenario has them
        (a scenario whose terms cannot hold gives a plan that says so, not an error).

    Raises
    ------
    PlannerError
        On bad input (network, layers).
    """
    from planner.evacuation import plan_evacuation

    plan = plan_evacuation(
        case.scenario, time_limit_s=time_limit_s, seed=seed, workers=workers, budget=budget
    )
    attach_exchange(case.scenario, plan)
    if case.scenario.repatriation is not None:
        from planner.repatriation.schedule import attach_repatriation

        attach_repatriation(case.scenario, plan)
    return plan


def plan_summary(plan: Plan | None) -> dict[str, Any]:
    """Figures of a plan for comparison: evacuated per group and in total, bound, km under
    risk, people unserved, vehicles used, exchange days and status."""
    if plan is None:
        return {"status": "infeasible"}
    ex = plan.exchange
    events = ex.events if ex is not None else []
    days = sorted({datetime.fromisoformat(t).date() for e in events for t in (e.start, e.end)})
    return {
        "status": plan.status,
        **{g: int(plan.totals.evacuated.get(g, 0)) for g in GROUPS},
        "total": plan.evacuated_total(),
        "requested": int(plan.totals.requested.get("total", 0)),
        "bound": plan.bound_total(),
        "risk_km": round(plan.risk_km, 1),
        "unserved": sum(u.people for u in plan.unserved),
        "vehicles_used": plan.vehicles_used,
        "exchange_days": ((days[-1] - days[0]).days + 1) if days else None,
        "exchange_status": ex.status if ex is not None else None,
        "route": _route(plan),
    }


def _route(plan: Plan) -> str:
    """The towns the plan's main road passes through (see :func:`planner.mapcontext.main_route`)."""
    from planner.mapcontext import main_route

    try:
        return main_route(plan)
    except Exception:  # noqa: BLE001 - a route in words is a convenience; figures stand without it
        return ""


def run_case(
    case: Case,
    *,
    time_limit_s: float | None = None,
    budget: int | None = None,
    seed: int | None = None,
    workers: int = 1,
) -> CaseResult:
    """Plan one scenario or variant and check its expectations.

    Parameters
    ----------
    case
        The scenario (or variant) with its expectations.
    time_limit_s, budget, seed
        Search settings (default: :func:`planner.settings.get_settings`).
    workers
        Parallel searches inside the planner.

    Returns
    -------
    CaseResult
        Bad input met while planning (a missing network file) is kept as ``error``.
    """
    t0 = time.perf_counter()
    res = CaseResult(str(case.file), case.id, case.variant)
    try:
        plan = plan_case(case, time_limit_s=time_limit_s, budget=budget, seed=seed, workers=workers)
        res.summary = plan_summary(plan)
        res.outcomes = evaluate(case.expectations, Evidence(case.scenario, plan))
    except PlannerError as exc:
        res.error = " ".join(str(exc).split())
    res.seconds = time.perf_counter() - t0
    return res


def _run_task(task: tuple[str, str | None, float | None, int | None, int | None]) -> CaseResult:
    """Pool task: re-read the file (cheap) so only names and numbers cross processes."""
    path, variant, time_limit_s, budget, seed = task
    try:
        case = next(c for c in load_cases(path) if c.variant == variant)
    except PlannerError as exc:
        return CaseResult(path, variant or path, variant, error=" ".join(str(exc).split()))
    return run_case(case, time_limit_s=time_limit_s, budget=budget, seed=seed, workers=1)


def run_cases(
    cases: list[Case],
    *,
    workers: int | None = None,
    time_limit_s: float | None = None,
    budget: int | None = None,
    seed: int | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Plan and check cases, in parallel across cores.

    Parameters
    ----------
    cases
        Scenarios and variants.
    workers
        Processes (default: one per core); each plans with one search worker.  With one
        worker or one case everything runs in this process.
    time_limit_s, budget, seed
        Search settings (default from the settings).
    on_result
        Called with each result as it comes.

    Returns
    -------
    list of CaseResult
        In the order of ``cases``.
    """
    workers = (os.cpu_count() or 1) if workers is None else max(1, workers)
    results: list[CaseResult | None] = [None] * len(cases)
    if workers == 1 or len(cases) <= 1:
        for i, c in enumerate(cases):
            results[i] = run_case(c, time_limit_s=time_limit_s, budget=budget, seed=seed, workers=1)
            if on_result is not None:
                on_result(results[i])  # type: ignore[arg-type]
    else:
        tasks = [(str(c.file), c.variant, time_limit_s, budget, seed) for c in cases]
        # spawn: the planner runs OR-Tools threads; forking a process that has threads is unsafe
        with process_pool(min(workers, len(cases)), start="spawn") as pool:
            futures = {pool.submit(_run_task, t): i for i, t in enumerate(tasks)}
            from concurrent.futures import as_completed

            for fut in as_completed(futures):
                i = futures[fut]
                results[i] = fut.result()
                if on_result is not None:
                    on_result(results[i])  # type: ignore[arg-type]
    return [r for r in results if r is not None]


# --------------------------------------------------------------------------- check


def is_checked_scenario(path: Path, data: Any = None) -> bool:
    """Whether a YAML file is a scenario with an ``expect`` or ``variants`` section."""
    if data is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False
        if not _SECTION.search(text):
            return False
        try:
            data = read_yaml(path)
        except ScenarioError:
            return True  # it says it has expectations: report the YAML error
    return (
        isinstance(data, dict) and "ceasefire" in data and ("expect" in data or "variants" in data)
    )


def collect_files(paths: Iterable[str | Path]) -> list[Path]:
    """Scenario files to check: files given by name, and under folders every ``*.yaml`` /
    ``*.yml`` with an ``expect`` or ``variants`` section (hidden folders skipped).

    Raises
    ------
    ScenarioError
        When a path does not exist or nothing is found.
    """
    found: list[Path] = []
    given = list(paths)
    for p in map(Path, given):
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.suffix in SUFFIXES and x.is_file()):
                rel = f.relative_to(p).parts
                if any(part.startswith(".") for part in rel[:-1]):
                    continue
                if is_checked_scenario(f):
                    found.append(f)
        else:
            raise ScenarioError(str(p), "", "file not found")
    if not found:
        where = ", ".join(map(str, given)) or "."
        raise ScenarioError(where, "", "no scenario file with an 'expect' or 'variants' section")
    seen: set[Path] = set()
    return [f for f in found if not (f.resolve() in seen or seen.add(f.resolve()))]  # type: ignore[func-returns-value]


def collect_cases(paths: Iterable[str | Path]) -> list[Case]:
    """Every scenario and variant under the paths, validated with their expectations.

    Raises
    ------
    ScenarioError
        For the first bad file (nothing is planned then).
    """
    return [c for f in collect_files(paths) for c in load_cases(f)]


def check_paths(
    paths: Iterable[str | Path],
    *,
    workers: int | None = None,
    time_limit_s: float | None = None,
    budget: int | None = None,
    seed: int | None = 0,
    on_result: Callable[[CaseResult], None] | None = None,
) -> CheckReport:
    """Plan every scenario (and variant) under the paths and check its expectations.

    Parameters
    ----------
    paths
        Scenario files and folders.
    workers
        Processes (default: one per core).
    time_limit_s, budget
        Search settings (default: ``PLANNER_TIME_LIMIT_S`` / ``PLANNER_SOLUTION_BUDGET``).
    seed
        Search seed (``None``: ``PLANNER_SEED``).
    on_result
        Called with each result as it comes.

    Returns
    -------
    CheckReport
        ``exit_code`` 0 when all hold, 1 otherwise, 2 when planning met bad input.

    Raises
    ------
    ScenarioError
        When a file, its expectations or its variants are invalid (before any planning).
    """
    cases = collect_cases(paths)
    return CheckReport(
        run_cases(
            cases,
            workers=workers,
            time_limit_s=time_limit_s,
            budget=budget,
            seed=seed,
            on_result=on_result,
        )
    )


# --------------------------------------------------------------------------- compare

COMPARE_COLUMNS: list[tuple[str, str]] = [
    ("variant", "variant"),
    ("wounded", "wounded"),
    ("children", "children"),
    ("reduced_mobility", "reduced mobility"),
    ("general", "general"),
    ("total", "evacuated"),
    ("delta", "Δ vs base"),
    ("bound", "bound"),
    ("risk_km", "km under risk"),
    ("unserved", "unserved"),
    ("vehicles_used", "vehicles"),
    ("exchange_days", "exchange days"),
    ("route", "route"),
    ("expectations", "expectations"),
]
"""``(key, heading)`` of the comparison table's columns."""


def compare_rows(results: list[CaseResult]) -> list[dict[str, Any]]:
    """One comparison row per result; ``delta`` is evacuated minus the base's."""
    base_total = next((r.summary.get("total") for r in results if r.variant is None), None)
    rows = []
    for r in results:
        s = r.summary
        row: dict[str, Any] = {
            "variant": r.variant or "base",
            **{k: s.get(k) for k, _h in COMPARE_COLUMNS[1:] if k in s},
        }
        total = s.get("total")
        row["delta"] = (
            (total - base_total)
            if total is not None and base_total is not None and r.variant
            else None
        )
        if r.error is not None:
            row["expectations"] = f"error: {r.error}"
        elif r.outcomes:
            row["expectations"] = f"{sum(o.passed for o in r.outcomes)}/{len(r.outcomes)} hold"
        else:
            row["expectations"] = ""
        rows.append({k: row.get(k) for k, _h in COMPARE_COLUMNS})
    return rows


def compare_scenario(
    path: str | Path,
    *,
    workers: int | None = None,
    time_limit_s: float | None = None,
    budget: int | None = None,
    seed: int | None = 0,
) -> list[dict[str, Any]]:
    """Plan a scenario and each of its variants; one row each, side by side.

    Parameters
    ----------
    path
        The scenario file.
    workers, time_limit_s, budget, seed
        As for :func:`check_paths`.

    Returns
    -------
    list of dict
        Keys as in :data:`COMPARE_COLUMNS`; the base scenario first.

    Raises
    ------
    ScenarioError
        When the file or a variant is invalid.
    PlannerError
        When planning meets bad input (the first such error).
    """
    cases = load_cases(path)
    results = run_cases(cases, workers=workers, time_limit_s=time_limit_s, budget=budget, seed=seed)
    for r in results:
        if r.error is not None:
            raise PlannerError(f"{r.id}: {r.error}")
    return compare_rows(results)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.1f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def compare_markdown(rows: list[dict[str, Any]], title: str | None = None) -> str:
    """The comparison as a Markdown table."""
    buf = [f"# {title}\n"] if title else []
    buf.append("| " + " | ".join(h for _k, h in COMPARE_COLUMNS) + " |")
    buf.append(
        "|"
        + "|".join(
            "---" if k in ("variant", "expectations", "route") else "---:"
            for k, _h in COMPARE_COLUMNS
        )
        + "|"
    )
    for row in rows:
        cells = []
        for k, _h in COMPARE_COLUMNS:
            v = row.get(k)
            cells.append(
                (f"{v:+,}" if isinstance(v, int) else "")
                if k == "delta"
                else _cell(v).replace("|", "\\|")
            )
        buf.append("| " + " | ".join(cells) + " |")
    return "\n".join(buf) + "\n"


def compare_csv(rows: list[dict[str, Any]]) -> str:
    """The comparison as CSV (plain numbers, empty cells for missing figures)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([k for k, _h in COMPARE_COLUMNS])
    for row in rows:
        w.writerow(["" if row.get(k) is None else row.get(k) for k, _h in COMPARE_COLUMNS])
    return buf.getvalue()


def write_compare(
    rows: list[dict[str, Any]], md_path: str | Path, csv_path: str | Path, title: str | None = None
) -> None:
    """Write the comparison as Markdown and CSV, each atomically.

    Parameters
    ----------
    rows
        From :func:`compare_scenario`.
    md_path, csv_path
        Where to write.
    title
        Heading of the Markdown file.
    """
    from planner.plan import write_atomic

    write_atomic(md_path, compare_markdown(rows, title))
    write_atomic(csv_path, compare_csv(rows))


# --------------------------------------------------------------------------- CLI


def register_cli(app: typer.Typer) -> None:
    """Add the ``check`` and ``compare`` commands to the ``planner`` command line.

    Parameters
    ----------
    app
        The typer application (``planner.cli.app``).
    """
    _register_check(app)
    _register_compare(app)


def _register_check(app: typer.Typer) -> None:
    """Add ``planner check``."""
    from planner.cli_common import err, one_line_errors

    @app.command()
    @one_line_errors
    def check(
        paths: Annotated[list[Path], typer.Argument(help="Scenario files or folders.")],
        workers: Annotated[
            int | None, typer.Option("--workers", help="Processes (default: one per core).")
        ] = None,
        time_limit: Annotated[
            float | None,
            typer.Option("--time-limit", help="Search time cap per scenario, seconds."),
        ] = None,
        budget: Annotated[
            int | None, typer.Option("--budget", help="Deterministic search budget (solutions).")
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="Search seed.")] = 0,
        quiet: Annotated[
            bool, typer.Option("-q", "--quiet", help="Only failures and the summary.")
        ] = False,
        as_json: Annotated[
            bool,
            typer.Option("--json", help="Print one JSON document on stdout instead of the table."),
        ] = False,
    ) -> None:
        """Plan every scenario (and variant) under PATHS and check its expectations.

        Exit 0 when all hold, 1 when one fails, 2 for bad input.
        """
        quiet = quiet or as_json
        cases = collect_cases(paths)
        n_exp = sum(len(c.expectations) for c in cases)
        if not quiet:
            err.print(
                f"checking {n_exp} expectation(s) in {len(cases)} scenario(s) and variant(s)",
                highlight=False,
            )

        def progress(r: CaseResult) -> None:
            if not quiet:
                word = "error" if r.error else "ok" if r.passed else "failed"
                err.print(f"[dim]planned {r.id} in {r.seconds:.1f} s: {word}[/]", highlight=False)

        report = CheckReport(
            run_cases(
                cases,
                workers=workers,
                time_limit_s=time_limit,
                budget=budget,
                seed=seed,
                on_result=progress,
            )
        )
        _print_check(report, quiet=quiet, as_json=as_json)


def _print_check(report: CheckReport, *, quiet: bool, as_json: bool) -> NoReturn:
    """Print what ``planner check`` found (a table, or one JSON document) and exit with the
    report's code."""
    from rich.table import Table

    from planner.cli_common import out

    if as_json:
        from planner.cli_output import emit_json

        emit_json(
            {
                "passed": report.n_passed,
                "failed": report.n_failed,
                "errors": report.errors,
                "outcomes": [
                    {
                        "case": r.id,
                        "expectation": o.name,
                        "passed": o.passed,
                        "measured": o.message,
                    }
                    for r, o in report.outcomes
                ],
            }
        )
        raise typer.Exit(report.exit_code)
    if not quiet:
        table = Table(title="planner check")
        table.add_column("scenario")
        table.add_column("expectation")
        table.add_column("result")
        table.add_column("measured")
        for r, o in report.outcomes:
            table.add_row(
                r.id, o.name, "[green]passed[/]" if o.passed else "[red]failed[/]", o.message
            )
        out.print(table)
    for r, o in report.outcomes:
        if not o.passed:
            out.print(
                f"FAILED {r.id}::{o.name}: {o.message}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
    for line in report.errors:
        out.print(f"ERROR {line}", highlight=False, markup=False, soft_wrap=True)
    out.print(
        f"{report.n_passed} passed, {report.n_failed} failed"
        + (f", {len(report.errors)} error(s)" if report.errors else ""),
        highlight=False,
    )
    raise typer.Exit(report.exit_code)


def _register_compare(app: typer.Typer) -> None:
    """Add ``planner compare``."""
    from planner.cli_common import one_line_errors, out

    @app.command()
    @one_line_errors
    def compare(
        scenario: Annotated[Path, typer.Argument(help="Scenario file with a variants section.")],
        output: Annotated[
            Path | None,
            typer.Option("-o", "--output", help="Output folder (default maps/<scenario>/)."),
        ] = None,
        workers: Annotated[
            int | None, typer.Option("--workers", help="Processes (default: one per core).")
        ] = None,
        time_limit: Annotated[
            float | None, typer.Option("--time-limit", help="Search time cap per variant, seconds.")
        ] = None,
        budget: Annotated[
            int | None, typer.Option("--budget", help="Deterministic search budget (solutions).")
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="Search seed.")] = 0,
        quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No 'wrote' line.")] = False,
        as_json: Annotated[
            bool,
            typer.Option("--json", help="Print one JSON document on stdout instead of the table."),
        ] = False,
    ) -> None:
        """Plan a scenario and its variants; print them side by side and write compare.md and compare.csv."""
        from planner.cli_output import compare_lines, emit_json

        cases = load_cases(scenario)
        name = cases[0].base
        from planner.files import check_output_folder

        check_output_folder(
            output if output is not None else Path("maps") / name
        )  # before any work
        results = run_cases(
            cases, workers=workers, time_limit_s=time_limit, budget=budget, seed=seed
        )
        for r in results:
            if r.error is not None:
                raise PlannerError(f"{r.id}: {r.error}")
        rows = compare_rows(results)
        folder = output if output is not None else Path("maps") / name
        md, csv_path = folder / "compare.md", folder / "compare.csv"
        write_compare(rows, md, csv_path, title=f"{name}: variants side by side")
        if as_json:
            emit_json({"scenario": name, "variants": rows, "files": [str(md), str(csv_path)]})
            return
        out.print(f"{name}: variants side by side", highlight=False, markup=False)
        for line in compare_lines(rows, width=min(max(60, out.width), 120)):
            out.print(line, highlight=False, markup=False, soft_wrap=True)
        if not quiet:
            out.print(f"wrote {md}, {csv_path}", highlight=False)
