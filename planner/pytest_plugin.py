"""pytest plugin: every expectation of a scenario file is a test.

Installed with the package (``pytest11`` entry point), so ``pytest scenarios/`` collects
every ``*.yaml`` / ``*.yml`` scenario with an ``expect`` section (or variants with one)
and makes one test item per expectation and variant, with ids such as::

    scenarios/mariupol-2022.yaml::mariupol-2022::wounded_out_by
    scenarios/mariupol-2022.yaml::mariupol-2022::six-hour-truce::wounded_out_by

A failure reads like ``planner check``: ``wounded out by 2022-03-17T18:00: failed, 12 of
40 still waiting at drama-theatre``.  Each scenario (and variant) is planned once per
session, whatever the number of its expectations or the order the items run in.
Planning settings come from ``PLANNER_SOLUTION_BUDGET``, ``PLANNER_TIME_LIMIT_S`` and
``PLANNER_SEED`` (see :mod:`planner.settings`).  A bad scenario file is one collection
error naming the file, the field and the problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from planner.errors import PlannerError

if TYPE_CHECKING:
    from planner.check import CaseResult
    from planner.expect import Expectation
    from planner.variants import Case

_RESULTS = pytest.StashKey[dict[tuple[str, "str | None"], "CaseResult"]]()


class UnmetExpectationError(AssertionError):
    """An expectation does not hold; the message carries the measured value."""


def pytest_configure(config: pytest.Config) -> None:
    """Give the session its cache of planned results."""
    config.stash[_RESULTS] = {}
    config.addinivalue_line("markers", "scenario: an expectation of a planner scenario file")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect scenario files with expectations."""
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    from planner.check import is_checked_scenario

    if not is_checked_scenario(file_path):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


def _one_line(excinfo: pytest.ExceptionInfo[BaseException]) -> str | None:
    if isinstance(excinfo.value, PlannerError | UnmetExpectationError):
        return " ".join(str(excinfo.value).split())
    return None


class ScenarioFile(pytest.File):
    """A scenario file: one node for the scenario, holding its expectations and variants."""

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        from planner.variants import load_cases

        cases = load_cases(self.path)
        if not any(c.expectations for c in cases):
            return
        node = ScenarioNode.from_parent(self, name=cases[0].base)
        node.cases = cases
        yield node

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        return _one_line(excinfo) or super().repr_failure(excinfo)


class ScenarioNode(pytest.Collector):
    """The base scenario's expectations, then one node per variant."""

    cases: list[Case]

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        for case in self.cases:
            if case.variant is None:
                yield from _items(self, case)
            elif case.expectations:
                v = VariantNode.from_parent(self, name=case.variant)
                v.case = case
                yield v


class VariantNode(pytest.Collector):
    """A variant's expectations."""

    case: Case

    def collect(self) -> Iterator[pytest.Item]:
        yield from _items(self, self.case)


def _items(parent: pytest.Collector, case: Case) -> Iterator[ExpectationItem]:
    for exp in case.expectations:
        item = ExpectationItem.from_parent(parent, name=exp.name)
        item.case = case
        item.expectation = exp
        item.add_marker("scenario")
        yield item


class ExpectationItem(pytest.Item):
    """One expectation of one scenario or variant."""

    case: Case
    expectation: Expectation

    def _result(self) -> CaseResult:
        from planner.check import run_case

        cache = self.config.stash[_RESULTS]
        key = (str(self.case.file.resolve()), self.case.variant)
        if key not in cache:
            cache[key] = run_case(self.case, workers=1)
        return cache[key]

    def runtest(self) -> None:
        result = self._result()
        if result.error is not None:
            raise PlannerError(f"{result.id}: {result.error}")
        outcome = next(o for o in result.outcomes if o.name == self.expectation.name)
        if not outcome.passed:
            raise UnmetExpectationError(f"{result.id}::{outcome.name}: {outcome.message}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        return _one_line(excinfo) or super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.case.id}::{self.expectation.name}"
