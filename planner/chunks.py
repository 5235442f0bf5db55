"""Chunks: people of one assembly point bound for one reception centre, one routing node pair.

Kept apart from :mod:`planner.evacuation_model` so that :mod:`planner.evacuation_households`
can build them without importing the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Chunk:
    """People of one group at one assembly point, all bound for one reception centre."""

    site: int  # index into sites
    group: str
    people: int
    reception: int  # index into sites
    members: dict[str, int] | None = None
    """People per group, for a chunk of whole households (``group`` is then its first group)."""
    households: tuple[str, ...] = ()
    """Ids of the households the chunk holds (empty for a site given by ``people``)."""
    companions: int = 0
    """Companions of its wounded members: they take seats, they are not counted as people."""
    types: tuple[int, ...] | None = None
    """Fleet type indices that may carry it (None: every type that may carry ``group``)."""

    @property
    def seats(self) -> int:
        """Seats the chunk takes."""
        return self.people + self.companions

    def by_group(self) -> dict[str, int]:
        """People per group."""
        return dict(self.members) if self.members is not None else {self.group: self.people}


def chunk_size(seats: list[int]) -> int:
    """People per routing node for a group carried by vehicles with these seat counts.

    About half the smallest carrier (a whole one below 16 seats), but no more than whole
    nodes can fill: the largest size, down to half of that, with which every carrier's seats
    are filled to at least 95 % by whole nodes (a 45-seat bus takes two nodes of 22, where
    nodes of 23 would fill only half of it), else the size that fills them best.
    """
    smallest = min(seats, default=1)
    top = max(1, smallest if smallest < 16 else smallest // 2)
    sizes = range(top, max(1, math.ceil(top / 2)) - 1, -1)

    def fill(size: int) -> float:
        return min((q // size) * size / q for q in seats) if seats else 1.0

    return next((s for s in sizes if fill(s) >= 0.95), max(sizes, key=lambda s: (fill(s), s)))
