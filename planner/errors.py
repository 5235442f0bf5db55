"""The planner's exception hierarchy: one root, a few meaningful children."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


class PlannerError(Exception):
    """Root of every error the planner raises on purpose."""


class ScenarioError(PlannerError):
    """A scenario (or a file it points at) is invalid.

    Parameters
    ----------
    file
        The file that holds the problem.
    field
        Dotted path of the offending field (``evacuation.fleet.0.seats``), or ``""``.
    problem
        What is wrong, in words a coordinator understands.
    """

    def __init__(self, file: str, field: str, problem: str) -> None:
        self.file = str(file)
        self.field = field
        self.problem = problem
        where = f"{self.file}: {field}: " if field else f"{self.file}: "
        super().__init__(f"{where}{problem}")


class NetworkError(PlannerError):
    """The road network cannot be loaded or used (missing file, offline download, empty graph)."""


class PlanFormatError(PlannerError):
    """A plan file cannot be read (not JSON, wrong schema)."""


def one_line(exc: BaseException) -> str:
    """The error as the command line prints it: one line, whitespace collapsed."""
    return " ".join(str(exc).split())


def field_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a dotted field path (``evacuation.fleet.0.seats``), without
    pydantic's union and validator tags."""
    parts = []
    for p in loc:
        if isinstance(p, str) and (
            p.startswith(("tuple[", "list[", "function-")) or p in {"PlaceRef"}
        ):
            continue
        parts.append(str(p))
    return ".".join(parts)


def validation_error_line(err: ValidationError) -> tuple[str, str]:
    """The first error of a pydantic validation as ``(field path, what is wrong)``.

    Parameters
    ----------
    err
        The validation error.

    Returns
    -------
    tuple of str
        The dotted field path and the problem in words (the value given, where short).
    """
    first = err.errors()[0]
    field = field_path(tuple(first.get("loc", ())))
    msg = first.get("msg", "invalid")
    msg = msg.removeprefix("Value error, ")
    # Cross-field errors raised by a model validator already name the field.
    if ": " in msg and msg.split(": ", 1)[0].count(".") >= 1 and " " not in msg.split(": ", 1)[0]:
        field, msg = msg.split(": ", 1)
    elif (sub := re.match(r"([A-Za-z_]\w*): (.*)", msg, re.S)) is not None:
        # a model validator names one of its own fields ("people: ..."): add it to the path
        field = f"{field}.{sub.group(1)}" if field else sub.group(1)
        msg = sub.group(2)
    inp = first.get("input")
    if first.get("type") in {"missing"}:
        msg = "is required"
    elif first.get("type") == "extra_forbidden":
        msg = "is not a known field"
    elif inp is not None and not isinstance(inp, dict | list) and len(repr(inp)) < 60:
        msg = f"{msg} (got {inp!r})"
    return field, msg
