"""``planner reconcile``: the list reconciliation commands (a typer sub-app).

Each side runs ``blind`` on its own list, sends the blinded file to the other side, which
runs ``reblind`` on it and sends it back (or on to the mediator); ``match`` compares the two
doubly blinded files.  No step writes or prints a name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from planner.cli_common import QuietOpt, one_line_errors, out
from planner.repatriation.result import RepatriationPlan

reconcile_app = typer.Typer(
    no_args_is_help=True,
    help="Reconcile two sides' lists of children without handing them over (private set intersection).",
)
SecretOpt = Annotated[
    str,
    typer.Option(
        "--secret", help="This side's secret (at least 16 characters), or @FILE holding it."
    ),
]
OutOpt = Annotated[Path, typer.Option("-o", "--output", help="File to write.")]


@reconcile_app.command("secret")
@one_line_errors
def secret_cmd(output: OutOpt, quiet: QuietOpt = False) -> None:
    """Write a new random secret to a file (readable by its owner only); use it as --secret @FILE."""
    from planner.plan import write_atomic
    from planner.repatriation.reconcile import new_secret

    write_atomic(output, new_secret() + "\n", mode=0o600)
    if not quiet:
        out.print(f"wrote {output}", highlight=False)


@reconcile_app.command("blind")
@one_line_errors
def blind_cmd(
    list_file: Annotated[
        Path, typer.Argument(metavar="LIST", help="This side's list (CSV or XLSX).")
    ],
    secret: SecretOpt,
    output: OutOpt,
    keys: Annotated[
        str,
        typer.Option("--keys", help="Key kinds, comma-separated (name, phonetic, family_place)."),
    ] = "name,phonetic",
    processes: Annotated[
        int | None, typer.Option("--processes", help="Processes for the curve operations.")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Reduce a list to match keys and blind them with this side's secret."""
    from planner.plan import write_atomic
    from planner.repatriation.reconcile import blind, dumps, read_list, read_secret

    records = read_list(list_file)
    kinds = tuple(k.strip() for k in keys.split(",") if k.strip())
    data = blind(records, read_secret(secret), kinds, processes=processes)
    write_atomic(output, dumps(data))
    note = (
        f"; {data['without_keys']} without a birth date or name give no key"
        if data["without_keys"]
        else ""
    )
    if not quiet:
        out.print(
            f"wrote {output}: {len(data['records'])} records blinded ({', '.join(kinds)}){note}",
            highlight=False,
        )


@reconcile_app.command("reblind")
@one_line_errors
def reblind_cmd(
    blinded: Annotated[Path, typer.Argument(metavar="FILE", help="The other side's blinded file.")],
    secret: SecretOpt,
    output: OutOpt,
    processes: Annotated[
        int | None, typer.Option("--processes", help="Processes for the curve operations.")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Blind the other side's blinded file again with this side's secret."""
    from planner.plan import write_atomic
    from planner.repatriation.reconcile import dumps, read_file, read_secret, reblind

    data = reblind(
        read_file(blinded, 1), read_secret(secret), processes=processes, source=str(blinded)
    )
    write_atomic(output, dumps(data))
    if not quiet:
        out.print(f"wrote {output}: {len(data['records'])} records blinded twice", highlight=False)


@reconcile_app.command("match")
@one_line_errors
def match_cmd(
    a: Annotated[Path, typer.Argument(help="Side A's list, blinded by A and reblinded by B.")],
    b: Annotated[Path, typer.Argument(help="Side B's list, blinded by B and reblinded by A.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Also write the pairs as CSV.")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Only the pairs, one 'A,B,keys' line each.")
    ] = False,
) -> None:
    """Pairs of pseudonymous ids (A, B) whose records share keys, with the kinds that matched."""
    from planner.plan import write_atomic
    from planner.repatriation.reconcile import match, matches_csv, read_file

    found = match(read_file(a, 2), read_file(b, 2), str(a), str(b))
    if output is not None:
        write_atomic(output, matches_csv(found))
    if quiet:
        for m in found:
            out.print(f"{m.a_id},{m.b_id},{'+'.join(m.kinds)}", highlight=False, markup=False)
        return
    table = Table(title=f"{len(found)} matching pair(s)")
    for col in ("A id", "B id", "keys matched"):
        table.add_column(col)
    for m in found:
        table.add_row(m.a_id, m.b_id, " + ".join(m.kinds))
    out.print(table)
    if output is not None:
        out.print(f"wrote {output}", highlight=False)


def print_repatriation(console: Console, part: RepatriationPlan) -> None:
    """The repatriation table (one row per group) and who waits, summed up by reason."""
    from planner.repatriation.model import REASONS
    from planner.repatriation.schedule import summary_rows

    data = part.model_dump(mode="json", by_alias=True)
    rows = summary_rows(data)
    table = Table(
        title=f"repatriation: {data['returned']} of {data['children']} children home (bound {data['bound']}, {data['status']})"
    )
    for col in rows[0]:
        table.add_column(
            col, justify="left" if col in {"group", "handover", "route", "home"} else "right"
        )
    for r in rows[1:]:
        table.add_row(*r)
    console.print(table)
    by: dict[str, list[str]] = {}
    for w in data.get("waiting") or []:
        by.setdefault(w["reason"], []).append(w["child"])
    for code, kids in sorted(by.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        shown = ", ".join(kids[:6]) + (f" and {len(kids) - 6} more" if len(kids) > 6 else "")
        console.print(
            f"  cannot go yet ({REASONS.get(code, code)}): {len(kids)}: {shown}", highlight=False
        )
