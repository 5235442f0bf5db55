"""The verifier's rule registry: each rule a small function registered for one scope.

A rule is a function decorated with :func:`rule`; the decorator adds it, with the codes it
reports, to the list of its scope.  The drivers (:func:`planner.verify.verify_plan`,
:func:`planner.exchange_check.check_exchange`) run each scope's rules in the order they were
registered, which is the order of the functions in their module, so the order of the
violations is fixed.  Adding a rule is one decorated function (and one test that breaks a
good plan).

Scopes
------
``plan``
    Whole-plan steps, run once in order (sites, vehicles, aggregates, convoys...).
``vehicle``
    Run for each vehicle before its stops and legs are read.
``stop``, ``leg``
    Run for each stop, each leg, right after it is read.
``itinerary``
    Run for each vehicle after all its stops and legs: the chain of legs, people on board.
``exchange``, ``exchange_event``
    The exchange checks (:mod:`planner.exchange_check`): the whole exchange, each event.

Example
-------
>>> from planner.verify_registry import rule
>>> @rule("leg", codes=("seats",))  # doctest: +SKIP
... def over_seats(ctx, vehicle, leg):
...     \"\"\"``seats``: a leg carries more people than its vehicle's seats.\"\"\"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SCOPES = ("plan", "vehicle", "stop", "leg", "itinerary", "exchange", "exchange_event")
"""The scopes a rule can be registered for, in no particular order."""


@dataclass(frozen=True)
class Violation:
    """One way in which a plan breaks its scenario.

    Parameters
    ----------
    code
        Short machine-readable kind of violation (see :mod:`planner.verify`).
    vehicle
        The vehicle concerned, if any.
    where
        Where in the plan: a vehicle's leg or stop, a site, a crossing point, a field.
    message
        What is wrong, in words.
    """

    code: str
    vehicle: str | None
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.code}] {self.where}: {self.message}"


@dataclass(frozen=True)
class Rule:
    """A registered rule.

    Parameters
    ----------
    name
        The function's name, unique among all rules.
    scope
        One of :data:`SCOPES`.
    codes
        The violation codes the rule may report.
    check
        The function; its arguments depend on the scope.
    """

    name: str
    scope: str
    codes: tuple[str, ...]
    check: Callable[..., None]

    @property
    def summary(self) -> str:
        """The first line of the rule's docstring."""
        return (self.check.__doc__ or "").strip().splitlines()[0] if self.check.__doc__ else ""


RULES: dict[str, list[Rule]] = {scope: [] for scope in SCOPES}
"""Scope -> its rules, in the order they run."""

F = Callable[..., None]


def rule(scope: str, *, codes: tuple[str, ...]) -> Callable[[F], F]:
    """Register the decorated function as a rule of ``scope`` reporting ``codes``.

    Parameters
    ----------
    scope
        One of :data:`SCOPES`.
    codes
        The violation codes the rule may report.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.

    Raises
    ------
    ValueError
        For an unknown scope, a name already registered, or a function without docstring.
    """
    if scope not in RULES:
        raise ValueError(f"unknown rule scope {scope!r} (one of {', '.join(SCOPES)})")

    def register(func: F) -> F:
        """Add ``func`` to its scope's rules."""
        name = func.__name__
        if any(r.name == name for rules in RULES.values() for r in rules):
            raise ValueError(f"a rule named {name!r} is already registered")
        if not (func.__doc__ or "").strip():
            raise ValueError(f"rule {name!r} has no docstring")
        RULES[scope].append(Rule(name=name, scope=scope, codes=tuple(codes), check=func))
        return func

    return register


def rules_of(scope: str) -> list[Rule]:
    """The rules of ``scope``, in the order they run.

    Parameters
    ----------
    scope
        One of :data:`SCOPES`.

    Returns
    -------
    list of Rule
    """
    return list(RULES[scope])


def run_rules(scope: str, *args: Any) -> None:
    """Call every rule of ``scope`` with ``args``, in order.

    Parameters
    ----------
    scope
        One of :data:`SCOPES`.
    *args
        What the scope's rules take (a context first, then the vehicle, stop, leg or event).
    """
    for r in RULES[scope]:
        r.check(*args)


__all__ = ["RULES", "SCOPES", "Rule", "Violation", "rule", "rules_of", "run_rules"]
