"""Ceasefire time: windows as seconds from the first window's start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.scenario import Scenario


@dataclass(frozen=True)
class Timeline:
    """Ceasefire windows of a scenario on an integer-second axis.

    Attributes
    ----------
    origin
        Start of the first window (second 0).
    windows
        ``(start_s, end_s)`` per window, sorted.
    """

    origin: datetime
    windows: tuple[tuple[int, int], ...]

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> Timeline:
        ws = agreed_windows(scenario)
        origin = ws[0][0]
        return cls(
            origin=origin,
            windows=tuple(
                (int((a - origin).total_seconds()), int((b - origin).total_seconds()))
                for a, b in ws
            ),
        )

    @property
    def horizon(self) -> int:
        return self.windows[-1][1]

    @property
    def tz(self) -> tzinfo:
        assert self.origin.tzinfo is not None
        return self.origin.tzinfo

    def gaps(self) -> list[tuple[int, int]]:
        """Closed periods between windows."""
        return [
            (a[1], b[0])
            for a, b in zip(self.windows, self.windows[1:], strict=False)
            if b[0] > a[1]
        ]

    def iso(self, seconds: float) -> str:
        """ISO 8601 time (with the first window's offset) of a second on the axis."""
        return (self.origin + timedelta(seconds=int(round(seconds)))).isoformat()

    def seconds(self, when: datetime) -> int:
        return int((when - self.origin).total_seconds())

    def earliest_fit(self, ready: float, duration: float) -> float | None:
        """Earliest start ``>= ready`` of a drive of ``duration`` seconds inside one window."""
        for a, b in self.windows:
            start = max(ready, a)
            if start + duration <= b:
                return start
        return None


def agreed_windows(scenario: Scenario) -> list[tuple[datetime, datetime]]:
    """The ceasefire windows, narrowed to the windows of every agreed corridor that has its
    own (so a drive inside them is inside every corridor's windows); may be empty."""
    out = [(w.start, w.end) for w in scenario.ceasefire.windows]
    for c in scenario.ceasefire.corridors:
        if c.windows is None:
            continue
        out = [
            (max(a, w.start), min(b, w.end))
            for a, b in out
            for w in c.windows
            if max(a, w.start) < min(b, w.end)
        ]
    return out
