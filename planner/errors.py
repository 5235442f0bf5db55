"""The planner's exception hierarchy: one root, a few meaningful children."""

from __future__ import annotations


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


class InfeasibleError(PlannerError):
    """No plan can be made; ``reasons`` lists why."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        self.reasons = list(reasons or [])
        super().__init__(message)


class PlanFormatError(PlannerError):
    """A plan file cannot be read (not JSON, wrong schema)."""


def one_line(exc: BaseException) -> str:
    """The error as the command line prints it: one line, whitespace collapsed."""
    return " ".join(str(exc).split())
