"""The ``planner`` command line (typer + rich).

Errors the planner raises on purpose become one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from planner.cli_common import (
    BudgetOpt,
    JsonOpt,
    OutputOpt,
    QuietOpt,
    ScenarioArg,
    SeedOpt,
    TimeLimitOpt,
    WorkersOpt,
    err,
    one_line_errors,
    out,
)
from planner.errors import PlannerError
from planner.files import check_output_folder
from planner.validate import (
    check_events_against_plan,
    check_plan_scenario,
    check_scheduler,
)

if TYPE_CHECKING:
    from planner.exchange_result import ExchangePlan
    from planner.network import PreparedNetwork
    from planner.plan import Plan, Unserved
    from planner.scenario import Scenario

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Plan evacuation corridors and exchanges under ceasefire terms.",
    pretty_exceptions_enable=False,
)
osm_app = typer.Typer(no_args_is_help=True, help="Prepare and inspect OpenStreetMap road graphs.")
app.add_typer(osm_app, name="osm")


def _summary_table(plan: Any) -> Table:
    table = Table(title=f"{plan.scenario} (seed {plan.seed}): {plan.status}")
    table.add_column("group")
    table.add_column("requested", justify="right")
    table.add_column("evacuated", justify="right")
    table.add_column("bound", justify="right")
    table.add_column("evacuated / bound", justify="right")
    for g, r, e, b in plan.summary_rows():
        ratio = f"{e / b:.0%}" if b else "-"
        style = "bold" if g == "total" else None
        table.add_row(g, f"{r:,}", f"{e:,}", f"{b:,}", ratio, style=style)
    table.caption = (
        f"vehicles used {plan.vehicles_used}/{plan.vehicles_total} · {plan.distance_km:,.0f} km driven · "
        f"{plan.risk_km:,.1f} km under risk · search stopped by {plan.solver.stopped_by}"
    )
    return table


@app.command()
@one_line_errors
def plan(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML).")],
    output: OutputOpt = None,
    time_limit: TimeLimitOpt = None,
    seed: SeedOpt = None,
    budget: BudgetOpt = None,
    workers: WorkersOpt = None,
    solver: Annotated[
        str | None,
        typer.Option(
            "--solver",
            help="Routing backend: ortools, pyvrp or best (default: the scenario's solver).",
        ),
    ] = None,
    no_map: Annotated[bool, typer.Option("--no-map", help="Skip map.html.")] = False,
    png: Annotated[
        bool, typer.Option("--png", help="Also write map.png (needs Chromium).")
    ] = False,
    online: Annotated[
        bool,
        typer.Option(
            "--online", help="map.html links Leaflet from CDNs (small file, needs a network)."
        ),
    ] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Plan an evacuation and write plan.json, schedule.csv, schedule.xlsx, sites.csv,
    routes.gpx, plan.geojson, plan.gpkg, driver sheets, summary.md and map.html."""
    from planner.cli_output import emit_json, plan_json, search_progress

    quiet = quiet or as_json
    from planner.evacuation import plan_evacuation
    from planner.routing import SOLVERS
    from planner.scenario import load_scenario

    sc = load_scenario(scenario)
    folder = check_output_folder(output if output is not None else Path("maps") / sc.name)
    bar_on = not quiet and err.is_terminal
    progress = (
        None
        if quiet or bar_on
        else (lambda line: err.print(f"[dim]search: {line}[/]", highlight=False))
    )
    net = _load_network(sc, quiet)
    if solver is not None and solver not in SOLVERS:
        raise PlannerError(f"--solver: {solver!r} is not one of {', '.join(SOLVERS)}")
    with search_progress(time_limit, bar_on) as bar:
        result = plan_evacuation(
            sc,
            time_limit_s=time_limit,
            seed=seed,
            budget=budget,
            workers=workers,
            progress=bar if bar_on else progress,
            network=net,
            solver=solver,
        )
    exchange = _plan_exchange_and_repatriation(sc, result, net, time_limit, workers)
    paths = _write_plan_outputs(sc, result, exchange, folder)
    png_error = None
    if not no_map:
        png_error = _write_map(sc, result, net, paths, folder, png=png, online=online)
    if as_json:
        emit_json(plan_json(result, paths))
        if png_error is not None:
            raise png_error
        return
    _print_plan(sc, result, paths, quiet)
    if png_error is not None:
        raise png_error
    _exit_if_nobody_served(result)


def _load_network(sc: Scenario, quiet: bool) -> PreparedNetwork:
    """Prepare the scenario's road network, with a spinner and a one-line report unless quiet."""
    from planner.network import prepare_network

    with err.status("loading the road network", spinner="dots") if not quiet else _NullContext():
        net = prepare_network(sc)
    if not quiet:
        r = net.report
        err.print(
            f"network: {net.roads.n_nodes:,} nodes, {net.roads.n_edges:,} edges; "
            f"{r.closed_edges} closed, {r.risk_edges} under risk, {r.frontline_cut_edges} cut at the frontline",
            highlight=False,
        )
    return net


def _plan_exchange_and_repatriation(
    sc: Scenario,
    result: Plan,
    net: PreparedNetwork,
    time_limit: float | None,
    workers: int | None,
) -> ExchangePlan | None:
    """Schedule the scenario's exchange and repatriation into ``result``; the exchange plan."""
    exchange = None
    if sc.exchange is not None:
        from planner.exchange import parse_exchange, schedule_exchanges

        exchange = schedule_exchanges(
            sc,
            parse_exchange(sc),
            network=net,
            seed=result.seed,
            time_limit_s=time_limit if time_limit is not None else 30.0,
        )
        result.exchange = exchange
    if sc.repatriation is not None:
        from planner.repatriation.schedule import attach_repatriation

        attach_repatriation(
            sc, result, network=net, seed=result.seed, workers=workers, time_limit_s=time_limit
        )
    return exchange


def _write_plan_outputs(
    sc: Scenario, result: Plan, exchange: ExchangePlan | None, folder: Path
) -> dict[str, Path]:
    """Write the plan's files (and repatriation outputs, exchange manifests); their paths."""
    from planner.export import write_plan_files

    paths = write_plan_files(result, folder, scenario=sc)
    if result.repatriation is not None:
        from planner.repatriation.schedule import write_repatriation_outputs

        paths.update(write_repatriation_outputs(sc, result, folder))
    if exchange is not None:
        from planner.exchange_manifests import write_manifests

        manifests = write_manifests(exchange, folder)
        if manifests:
            paths["manifests"] = manifests[0].parent
    return paths


def _write_map(
    sc: Scenario,
    result: Plan,
    net: PreparedNetwork,
    paths: dict[str, Path],
    folder: Path,
    *,
    png: bool,
    online: bool,
) -> PlannerError | None:
    """Write map.html (and map.png when asked) into ``paths``; the PNG's error, if any."""
    from planner.render import render_map

    paths["map"] = folder / "map.html"
    render_map(sc, result, net.layers, paths["map"], online=online)
    if png:
        from planner.render import render_png

        try:
            paths["png"] = render_png(paths["map"])
        except PlannerError as exc:
            return exc
    return None


def _print_plan(sc: Scenario, result: Plan, paths: dict[str, Path], quiet: bool) -> None:
    """Print the plan's summary, exchange, repatriation, unserved people and warnings."""
    if sc.evacuation is not None:
        out.print(_summary_table(result))
    if result.exchange is not None:
        _print_exchange(result.exchange)
    if result.repatriation is not None:
        from planner.repatriation.cli import print_repatriation

        print_repatriation(out, result.repatriation)
    _print_unserved(result.unserved)
    for w in result.warnings:
        out.print(f"  [yellow]warning:[/] {w}", highlight=False)
    if not quiet:
        out.print(f"wrote {', '.join(str(p) for p in paths.values())}", highlight=False)


def _exit_if_nobody_served(result: Plan) -> None:
    """Exit 1, with each reason on a line of its own, when people wait and nobody is moved."""
    if not result.totals.requested.get("total") or result.totals.evacuated.get("total"):
        return
    if result.exchange is not None and result.exchange.events:
        return  # the exchange moves people
    from planner.plan import REASONS

    err.print("nobody could be served:", highlight=False)
    by_reason: dict[str, int] = {}
    for u in result.unserved:
        by_reason[u.reason] = by_reason.get(u.reason, 0) + u.people
    for code, people in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
        sites = sorted({u.site for u in result.unserved if u.reason == code})
        err.print(
            f"  {REASONS.get(code, code)}: {people:,} people at {', '.join(sites)}",
            highlight=False,
            soft_wrap=True,
        )
    raise typer.Exit(1)


_UNSERVED_LINES = 12  # more rows than this are summed up by reason


def _print_unserved(unserved: list[Unserved]) -> None:
    """People not served: a line per site and group, or per reason when there are many."""
    if len(unserved) <= _UNSERVED_LINES:
        for u in unserved:
            out.print(
                f"  not served: {u.people:,} {u.group} at {u.site}: {u.detail}", highlight=False
            )
        return
    from planner.plan import REASONS
    from planner.scenario import GROUPS

    by_reason: dict[str, list] = {}
    for u in unserved:
        by_reason.setdefault(u.reason, []).append(u)
    for code, rows in sorted(by_reason.items(), key=lambda kv: -sum(u.people for u in kv[1])):
        people = {g: sum(u.people for u in rows if u.group == g) for g in GROUPS}
        split = ", ".join(f"{n:,} {g}" for g, n in people.items() if n)
        sites = sorted({u.site for u in rows})
        shown = ", ".join(sites[:5]) + (f" and {len(sites) - 5} more" if len(sites) > 5 else "")
        out.print(
            f"  not served ({REASONS.get(code, code)}): {sum(people.values()):,} people ({split}) "
            f"at {len(sites)} site{'s' if len(sites) != 1 else ''}: {shown}",
            highlight=False,
        )
    out.print("  (plan.json and summary.md give every site, group and reason)", highlight=False)


def _print_exchange(ex: ExchangePlan) -> None:
    from planner.exchange_result import summary_rows

    rows = summary_rows(ex)
    table = Table(title=f"exchange: {ex.status}")
    for col in rows[0]:
        table.add_column(str(col))
    for row in rows[1:]:
        table.add_row(*[str(c) for c in row])
    out.print(table)
    for c in ex.conflicts:
        out.print(f"  conflicting term: {c}", highlight=False)
    for r in ex.relaxed:
        out.print(f"  closest schedule drops: {r}", highlight=False)


class _NullContext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@app.command()
@one_line_errors
def verify(
    scenario: ScenarioArg,
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json", help="Plan to check.")],
    events: Annotated[
        Path | None,
        typer.Option("--events", help="Events file: check against the scenario plus the events."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Print the violations only (nothing when clean).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check a plan against its scenario; exit 0 when clean, 1 with the violations."""
    from planner.plan import read_plan_json
    from planner.scenario import load_scenario
    from planner.verify import verify_plan

    sc = load_scenario(scenario)
    if events is not None:
        from planner.replan import apply_events, load_events

        sc = apply_events(sc, load_events(events, sc))
    data = read_plan_json(plan_file)
    check_plan_scenario(data, plan_file, sc)
    violations = [str(v) for v in verify_plan(sc, data)] if sc.evacuation is not None else []
    if sc.exchange is not None:
        from planner.exchange import parse_exchange
        from planner.exchange_check import check_exchange

        if not data.get("exchange"):
            violations.append(
                "[exchange_missing] the scenario has an exchange section but the plan has no exchange part"
            )
        else:
            spec = parse_exchange(sc)
            assert spec is not None  # the scenario has an exchange section
            found = check_exchange(sc, spec, data["exchange"], folder=plan_file.parent)
            violations += [f"[{code}] {msg}" for code, msg in found]
    if sc.repatriation is not None:
        from planner.repatriation.check import check_repatriation

        violations += [
            f"[{code}] {msg}" for code, msg in check_repatriation(sc, data, folder=plan_file.parent)
        ]
    if as_json:
        from planner.cli_output import emit_json

        emit_json(
            {
                "scenario": str(scenario),
                "plan": str(plan_file),
                "clean": not violations,
                "violations": violations,
            }
        )
        if violations:
            raise typer.Exit(1)
        return
    if not violations:
        if quiet:
            return
        out.print(f"[green]clean:[/] {plan_file} satisfies {scenario}", highlight=False)
        return
    for v in violations:
        out.print(v, highlight=False, markup=False)
    if not quiet:
        out.print(f"[red]{len(violations)} violation(s)[/]")
    raise typer.Exit(1)


@app.command()
@one_line_errors
def schema(
    plan_schema: Annotated[
        bool, typer.Option("--plan", help="Print plan.json's schema instead.")
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option("-q", "--quiet", help="Accepted for symmetry: schema prints only the schema."),
    ] = False,
) -> None:
    """Print the JSON Schema of scenario files (or of plan.json with --plan)."""
    if plan_schema:
        from planner.plan import plan_json_schema

        sys.stdout.write(json.dumps(plan_json_schema(), indent=2, sort_keys=True) + "\n")
    else:
        from planner.scenario import dump_schema

        sys.stdout.write(dump_schema() + "\n")


@app.command()
@one_line_errors
def render(
    scenario: ScenarioArg,
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json", help="Plan to draw.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Output folder (default: the plan's folder)."),
    ] = None,
    online: Annotated[
        bool, typer.Option("--online", help="Link Leaflet from CDNs instead of inlining it.")
    ] = False,
    png: Annotated[
        bool, typer.Option("--png/--no-png", help="Also write map.png (needs Chromium).")
    ] = True,
    quiet: QuietOpt = False,
) -> None:
    """Draw a plan again: map.html (works offline), map.png and the exports."""
    from planner.export import write_plan_files
    from planner.network import load_layers
    from planner.plan import read_plan
    from planner.render import render_map, render_png
    from planner.scenario import load_scenario

    sc = load_scenario(scenario)
    result = read_plan(plan_file, sc)
    folder = check_output_folder(output if output is not None else plan_file.parent)
    paths = write_plan_files(result, folder, scenario=sc)
    paths["map"] = folder / "map.html"
    render_map(sc, result, load_layers(sc), paths["map"], online=online)
    if png:
        paths["png"] = render_png(paths["map"])
    if not quiet:
        out.print(f"wrote {', '.join(str(p) for p in paths.values())}", highlight=False)


@app.command()
@one_line_errors
def replan(
    scenario: ScenarioArg,
    plan_file: Annotated[
        Path, typer.Argument(metavar="PLAN.json", help="The plan being carried out.")
    ],
    events_file: Annotated[
        Path, typer.Argument(metavar="EVENTS.yaml", help="What happened, with times.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Output folder (default maps/<scenario>-replan/)."),
    ] = None,
    time_limit: TimeLimitOpt = None,
    seed: SeedOpt = None,
    budget: BudgetOpt = None,
    workers: WorkersOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Re-plan after events (a hazard, a window cut, a crossing closed, a vehicle lost)."""
    from planner.export import write_plan_files
    from planner.network import load_layers, prepare_network
    from planner.plan import read_plan
    from planner.render import render_map
    from planner.replan import apply_events, load_events
    from planner.replan import replan as do_replan
    from planner.scenario import load_scenario

    sc = load_scenario(scenario)
    evs = load_events(events_file, sc)
    plan = read_plan(plan_file, sc)
    check_events_against_plan(evs, events_file, plan)
    folder = check_output_folder(
        output if output is not None else Path("maps") / f"{sc.name}-replan"
    )
    result = do_replan(
        sc,
        plan,
        evs,
        network=prepare_network(sc),
        time_limit_s=time_limit,
        seed=seed,
        budget=budget,
        workers=workers,
    )
    changed = apply_events(sc, evs)
    paths = write_plan_files(result, folder, scenario=changed)
    paths["map"] = folder / "map.html"
    render_map(changed, result, load_layers(changed), paths["map"])
    out.print(_summary_table(result))
    for w in result.warnings:
        out.print(f"  note: {w}", highlight=False)
    if quiet:
        return
    out.print(f"wrote {', '.join(str(p) for p in paths.values())}", highlight=False)
    out.print(
        f"check it with: planner verify {scenario} {paths['plan']} --events {events_file}",
        highlight=False,
    )


@app.command()
@one_line_errors
def sweep(
    scenario: Annotated[Path, typer.Argument(help="Scenario file with a disruptions section.")],
    runs: Annotated[int, typer.Option("--runs", help="Monte Carlo runs.")] = 1000,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="Plan to test (default: plan it now).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sampling.")] = 0,
    workers: Annotated[int | None, typer.Option("--workers", help="LocalCluster workers.")] = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Existing dask scheduler, tcp://HOST:PORT.")
    ] = None,
    replan_runs: Annotated[
        bool,
        typer.Option(
            "--replan",
            help="Re-plan at each disruption instead of only simulating (seconds per run).",
        ),
    ] = False,
    replan_budget: Annotated[
        int,
        typer.Option(
            "--replan-budget", min=1, help="Solutions each re-plan may accept (deterministic)."
        ),
    ] = 300,
    connect_timeout: Annotated[
        float,
        typer.Option(
            "--connect-timeout", min=0.1, help="Seconds to reach --scheduler before giving up."
        ),
    ] = 10.0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Simulate a plan under sampled truce violations and report how it holds up.

    With ``--replan`` each run re-plans at every disruption, knowing only what has happened
    so far, and the figures say how much re-planning recovers."""
    from rich.progress import Progress

    from planner.plan import read_plan
    from planner.scenario import load_scenario
    from planner.sweep import parse_disruptions, run_sweep

    if scheduler:  # before any work: a closed port is one line at once
        check_scheduler(scheduler, connect_timeout)
    sc = load_scenario(scenario)
    parse_disruptions(sc)
    if plan_file is not None:
        plan = read_plan(plan_file, sc)
    else:
        from planner.evacuation import plan_evacuation

        plan = plan_evacuation(sc)
    quiet = quiet or as_json or not err.is_terminal
    with Progress(console=err, transient=True, disable=quiet) as bar:
        task = bar.add_task("sweep", total=runs)
        res = run_sweep(
            sc,
            plan,
            runs,
            seed=seed,
            workers=workers,
            scheduler=scheduler,
            progress=lambda done, _all: bar.update(task, completed=done),
            replan=replan_runs,
            plan_kwargs={"budget": replan_budget},
            connect_timeout_s=connect_timeout,
        )
    if as_json:
        from planner.cli_output import emit_json, sweep_json

        emit_json(sweep_json(res, sc.name, seed, replan_runs))
        return
    mode = ", re-planning at each disruption" if replan_runs else ""
    table = Table(title=f"{sc.name}: {res.runs} runs (seed {seed}{mode})")
    for col in ("group", "requested", "planned", "expected", "95% interval"):
        table.add_column(col, justify="left" if col == "group" else "right")
    for g in (*res.requested, "total"):
        req = res.requested.get(g, sum(res.requested.values()))
        lo, hi = res.ci95[g]
        table.add_row(
            g, f"{req:,}", f"{res.planned[g]:,}", f"{res.mean[g]:,.1f}", f"{lo:,.1f} – {hi:,.1f}"
        )
    table.caption = f"probability every wounded person is out: {res.p_all_wounded_out:.1%}"
    out.print(table)
    for event, share, loss in res.damaging[:5]:
        out.print(
            f"  {event}: in {share:.0%} of runs, costs {loss:,.0f} evacuees on average",
            highlight=False,
        )


@app.command()
@one_line_errors
def corridors(
    scenario: ScenarioArg,
    max_corridors: Annotated[int, typer.Option("--max", help="Most corridors to negotiate.")] = 2,
    output: OutputOpt = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    online: Annotated[
        bool,
        typer.Option(
            "--online", help="corridors.html links Leaflet from CDNs instead of inlining it."
        ),
    ] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Rank candidate corridors and choose the best set to negotiate."""
    from planner.corridors import choose_corridors, corridors_geojson, corridors_map
    from planner.network import prepare_network
    from planner.plan import write_atomic
    from planner.scenario import load_scenario

    sc = load_scenario(scenario)
    folder = check_output_folder(output if output is not None else Path("maps") / sc.name)
    net = prepare_network(sc)
    choice = choose_corridors(sc, net, max_corridors, seed=seed)
    table = Table(
        title=f"{sc.name}: best {max_corridors} corridor(s) move {choice.people:,} people ({choice.status})"
    )
    for col in ("corridor", "chosen", "people", "marginal", "out min", "back min", "km", "risk km"):
        table.add_column(col, justify="left" if col == "corridor" else "right")
    ranked = sorted(choice.corridors, key=lambda c: (not c.selected, -c.people, c.out_s, c.id))
    files = [folder / "corridors.geojson", folder / "corridors.html"]
    if as_json:
        from planner.cli_output import corridors_json, emit_json

        write_atomic(files[0], corridors_geojson(choice))
        corridors_map(choice, sc, net, files[1], online=online)
        emit_json(corridors_json(choice, sc.name, ranked, [str(f) for f in files]))
        return
    for c in ranked:
        table.add_row(
            c.id,
            "yes" if c.selected else "",
            f"{c.people:,}",
            f"{c.marginal:,}" if c.selected else "",
            f"{c.out_s / 60:.0f}",
            f"{c.back_s / 60:.0f}",
            f"{c.length_m / 1000:.0f}",
            f"{c.risk_km:.1f}",
        )
    table.caption = (
        f"all {len(choice.corridors)} candidates open: {choice.people_all:,} people · "
        f"one more hour of truce: +{choice.extra_hour:,} people"
    )
    out.print(table)
    for c in ranked:
        if c.selected:
            out.print(f"  corridor {c.id} adds {c.marginal:,} people", highlight=False)
    write_atomic(folder / "corridors.geojson", corridors_geojson(choice))
    corridors_map(choice, sc, net, folder / "corridors.html", online=online)
    if not quiet:
        out.print(
            f"wrote {folder / 'corridors.geojson'}, {folder / 'corridors.html'}", highlight=False
        )


@osm_app.command("fetch")
@one_line_errors
def osm_fetch(
    output: Annotated[Path, typer.Option("-o", "--output", help="GraphML file to write.")],
    place: Annotated[
        str | None, typer.Option("--place", help="Place name, e.g. 'Zaporizhzhia, Ukraine'.")
    ] = None,
    bbox: Annotated[str | None, typer.Option("--bbox", help="west,south,east,north")] = None,
    overpass_url: Annotated[
        str | None, typer.Option("--overpass-url", help="Overpass endpoint.")
    ] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No 'wrote' line.")] = False,
) -> None:
    """Download a drivable road graph from Overpass and save it as GraphML."""
    from planner.errors import ScenarioError
    from planner.osm import fetch_osm_graph, graph_info

    box = None
    if bbox:
        try:
            w, s, e, n = (float(x) for x in bbox.split(","))
        except ValueError:
            raise ScenarioError(
                "--bbox", "bbox", "expected four numbers: west,south,east,north"
            ) from None
        box = (w, s, e, n)
    if (place is None) == (box is None):
        raise ScenarioError("command line", "place/bbox", "give exactly one of --place or --bbox")
    check_output_folder(output.parent)
    g = fetch_osm_graph(output, place=place, bbox=box, overpass_url=overpass_url)
    info = graph_info(g)
    if not quiet:
        out.print(
            f"wrote {output}: {info['nodes']:,} nodes, {info['edges']:,} edges", highlight=False
        )


@osm_app.command("info")
@one_line_errors
def osm_info(
    file: Annotated[Path, typer.Argument(help=".osm, .osm.pbf or .graphml file")],
    quiet: Annotated[
        bool,
        typer.Option("-q", "--quiet", help="Accepted for symmetry: info prints only its table."),
    ] = False,
) -> None:
    """Print nodes, edges, extent and the largest strongly connected share of a road graph."""
    from planner.osm import graph_info, load_osm_graph

    info = graph_info(load_osm_graph(file))
    table = Table(title=str(file))
    table.add_column("figure")
    table.add_column("value", justify="right")
    for k, v in info.items():
        table.add_row(str(k), f"{v:,.4f}" if isinstance(v, float) else str(v))
    out.print(table)


def _print_version(value: bool) -> None:
    if value:
        from planner import __version__

        sys.stdout.write(f"planner (corridor-planner) {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Log details.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version (from the package metadata) and exit.",
        ),
    ] = False,
) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


from planner.check import register_cli  # noqa: E402
from planner.repatriation.cli import reconcile_app  # noqa: E402

register_cli(app)
app.add_typer(reconcile_app, name="reconcile")


if __name__ == "__main__":  # pragma: no cover
    app()
