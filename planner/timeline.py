"""Ceasefire time: windows as seconds from the first window's start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

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
        ws = scenario.ceasefire.windows
        origin = ws[0].start
        return cls(
            origin=origin,
            windows=tuple(
                (int((w.start - origin).total_seconds()), int((w.end - origin).total_seconds())) for w in ws
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
        return [(a[1], b[0]) for a, b in zip(self.windows, self.windows[1:], strict=False) if b[0] > a[1]]

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
