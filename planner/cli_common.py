"""What every command of the command line shares: the consoles, the one-line error rule
and the ``-q`` option.

Every command is wrapped in :func:`one_line_errors`: a :class:`~planner.errors.PlannerError`
or an ``OSError`` on a file the user named becomes one line on stderr (printed as it is, no
rich markup, so brackets in a field name survive) and exit code 2.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from planner.errors import PlannerError, one_line

out = Console()
err = Console(stderr=True)

# Arguments and options that several commands share, declared once.

#: ``-q`` / ``--quiet`` for commands whose only chatter is their "wrote FILE" lines.
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="No progress or 'wrote' lines.")]
#: ``--json``: the command's summary as one JSON document on stdout.
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json", help="Print one JSON document on stdout (the summary), nothing else there."
    ),
]
#: The scenario file, the first argument of most commands.
ScenarioArg = Annotated[Path, typer.Argument(help="Scenario file.")]
#: ``-o`` / ``--output`` of the commands that write into ``maps/<scenario>/``.
OutputOpt = Annotated[
    Path | None,
    typer.Option("-o", "--output", help="Output folder (default maps/<scenario>/)."),
]
#: The search settings of the commands that plan.
TimeLimitOpt = Annotated[
    float | None, typer.Option("--time-limit", help="Search time cap in seconds.")
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Search seed.")]
BudgetOpt = Annotated[
    int | None, typer.Option("--budget", help="Deterministic search budget (solutions).")
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", help="Parallel searches (default: cores, max 2).")
]


def error_line(text: str) -> None:
    """Print one line on stderr, as it is (no rich markup: brackets survive).

    Parameters
    ----------
    text
        The message; runs of white space, new lines included, become one space.
    """
    err.print(
        Text.assemble(("error:", "bold red"), " ", " ".join(text.split())),
        highlight=False,
        soft_wrap=True,
    )


def one_line_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command: bad input becomes one line on stderr and exit code 2.

    Parameters
    ----------
    fn
        The command function.

    Returns
    -------
    Callable
        The wrapped command (same signature, for typer).
    """

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PlannerError as exc:
            error_line(one_line(exc))
            raise typer.Exit(2) from None
        except OSError as exc:  # a file or folder the planner was pointed at
            named = exc.filename and exc.strerror
            error_line(f"{exc.filename}: {exc.strerror}" if named else str(exc))
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper
