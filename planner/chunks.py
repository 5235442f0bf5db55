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


def fill_pattern(size: int, seats: list[int]) -> list[int]:
    """Chunk sizes, in order, with which whole chunks fill the largest carrier exactly.

    ``[size] * (q // size) + [q % size]`` for the largest seat count ``q`` when ``size`` does
    not divide it (a 50-seat bus that also carries a group the 4-seat ambulances carry takes
    twelve chunks of 4 and one of 2), else ``[size]``.
    """
    q = max(seats, default=size)
    if q <= size or q % size == 0:
        return [size]
    return [size] * (q // size) + [q % size]


def chunk_pieces(
    people: int, size: int, seats: list[int], top_up: bool = True, fill: bool = True
) -> list[int]:
    """Split one stream of people (a group at an assembly point for one reception centre).

    The body follows :func:`fill_pattern`; the last people (up to two chunks' worth) are
    split into pieces of 1, 2, 4, ... and the rest, so that any vehicle left with a few free
    seats can be topped up from the stream by whole chunks.  Sizes never exceed ``size``.

    Parameters
    ----------
    people
        People of the stream.
    size
        The chunk size (:func:`chunk_size`, at most the smallest carrier's seats).
    seats
        Seat counts of the vehicles that may carry the group.
    top_up
        Cut the last people into the pieces of 1, 2, 4, ...; without, the stream is cut by
        :func:`fill_pattern` alone (its last chunk holds what is left).
    fill
        Follow :func:`fill_pattern`; without, the body is plain chunks of ``size``.

    Returns
    -------
    list of int
        Chunk sizes, summing to ``people``.
    """
    pattern = fill_pattern(size, seats) if fill else [size]
    out: list[int] = []
    left = people
    i = 0
    while left > (2 * size if top_up else 0):
        piece = min(pattern[i % len(pattern)], left)
        out.append(piece)
        left -= piece
        i += 1
    piece = 1
    while left > 0 and piece <= min(left, size):
        out.append(piece)
        left -= piece
        piece *= 2
    while left > 0:
        out.append(min(size, left))
        left -= out[-1]
    return out
