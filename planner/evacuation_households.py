"""Households in the evacuation model: whole households per chunk, vehicle and reception centre.

For an assembly point given by ``households`` (see :mod:`planner.households`) the model
builds its chunks from whole households instead of splitting people by group:

- a household may ride only a vehicle type that may carry every one of its groups and has
  seats for all its members and companions (:func:`household_types`); a household no such
  type exists for is left unserved with the reason ``no_vehicle_for_group`` or
  ``household_too_large``;
- whole households are given to reception centres, within the site's share of the transport
  LP where they fit, else within any reachable centre's spare capacity;
- households with the same reception centre and the same vehicle types are packed into
  chunks of about :func:`planner.evacuation_model.chunk_size` seats, never more than the
  smallest seat count of those types, so a chunk always fits any vehicle allowed to take it.

The upper bound counts only members of households that some vehicle type can carry
(:func:`bound_waiting`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from planner.chunks import Chunk, chunk_size
from planner.households import Household
from planner.scenario import GROUPS, Evacuation


def household_types(ev: Evacuation, h: Household) -> tuple[int, ...]:
    """Fleet type indices that may carry the whole household (groups and seats)."""
    return tuple(
        t
        for t, vt in enumerate(ev.fleet)
        if vt.count > 0 and set(h.groups) <= set(vt.groups) and vt.seats >= h.seats
    )


def blocked_reason(ev: Evacuation, h: Household) -> str | None:
    """Why no vehicle type may carry the household, or None when one may."""
    carry = [vt for vt in ev.fleet if vt.count > 0 and set(h.groups) <= set(vt.groups)]
    if not carry:
        return "no_vehicle_for_group"
    if all(vt.seats < h.seats for vt in carry):
        return "household_too_large"
    return None


def site_households(ev: Evacuation, a_ids: list[str]) -> dict[int, list[Household]]:
    """Households per assembly point position, for the points given by households."""
    by_id = {a.id: a.household_list for a in ev.point_list()}
    return {ai: hh for ai, sid in enumerate(a_ids) if (hh := by_id.get(sid)) is not None}


def bound_waiting(ev: Evacuation, waiting: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """People the bound may count: at household sites only whole households that fit a vehicle."""
    out = dict(waiting)
    for a in ev.point_list():
        if a.household_list is None:
            continue
        counts = dict.fromkeys(GROUPS, 0)
        for h in a.household_list:
            if household_types(ev, h):
                for g, n in h.members.items():
                    counts[g] += n
        out[a.id] = counts
    return out


@dataclass
class HouseholdShare:
    """Household chunks, the people per (site, group, reception) they carry, and who is blocked."""

    chunks: list[Chunk]
    x: np.ndarray
    blocked: dict[tuple[int, int], list[tuple[str, int]]] = field(default_factory=dict)


@dataclass
class HouseholdInputs:
    """What :func:`household_chunks` reads from the model being built."""

    ev: Evacuation
    drive: np.ndarray
    a_idx: list[int]
    r_idx: list[int]
    capacity: np.ndarray
    servable: np.ndarray
    reason_of: dict[tuple[int, int], str]
    trip_fits: Callable[[int, tuple[int, ...]], bool]
    """Whether a vehicle of these fleet types can make one trip from this assembly point
    position to a reception centre inside the windows."""


def _why_not(inp: HouseholdInputs, ai: int, h: Household, types: tuple[int, ...]) -> str | None:
    """Why the household cannot be served at all (None when it can)."""
    if not types:
        return blocked_reason(inp.ev, h)
    gi_of = {g: i for i, g in enumerate(GROUPS)}
    for g in h.groups:
        if not inp.servable[ai, gi_of[g]]:
            return inp.reason_of.get((ai, gi_of[g]), "no_vehicle_for_group")
    if not inp.trip_fits(ai, types):
        return "window_too_short"
    return None


def _receive(
    inp: HouseholdInputs, ai: int, h: Household, pool: np.ndarray, spare: np.ndarray
) -> int | None:
    """Reception position for a household: its site's share first, then spare capacity."""
    a = inp.a_idx[ai]
    near = sorted(
        (ri for ri, r in enumerate(inp.r_idx) if np.isfinite(inp.drive[a, r])),
        key=lambda ri: (inp.drive[a, inp.r_idx[ri]], ri),
    )
    for left in (pool, spare):
        for ri in near:
            if left[ri] >= h.people:
                left[ri] -= h.people
                return ri
    return None


def _pack(
    inp: HouseholdInputs, a: int, r: int, types: tuple[int, ...], hh: list[Household]
) -> list[Chunk]:
    """Whole households into chunks of about a chunk size, never above the smallest seats."""
    seats = sorted({inp.ev.fleet[t].seats for t in types})
    target = min(chunk_size(seats), seats[0])
    bins: list[list[Household]] = []
    loads: list[int] = []
    for h in sorted(hh, key=lambda h: (-h.seats, h.id)):
        k = next((i for i, load in enumerate(loads) if load + h.seats <= target), None)
        if k is None:
            bins.append([h])
            loads.append(h.seats)
        else:
            bins[k].append(h)
            loads[k] += h.seats
    out = []
    for b in bins:
        members = {g: sum(h.members.get(g, 0) for h in b) for g in GROUPS}
        members = {g: n for g, n in members.items() if n}
        out.append(
            Chunk(
                site=a,
                group=next(iter(members)),
                people=sum(members.values()),
                reception=r,
                members=members,
                households=tuple(sorted(h.id for h in b)),
                companions=sum(h.companions for h in b),
                types=types,
            )
        )
    return out


def household_chunks(
    inp: HouseholdInputs, households: dict[int, list[Household]], x: np.ndarray
) -> HouseholdShare:
    """Chunks of whole households for the household sites, and the LP share ``x`` redone for them.

    Parameters
    ----------
    inp
        The model's pieces.
    households
        Households per assembly point position (:func:`site_households`).
    x
        The transport LP's people per (assembly point, group, reception centre).

    Returns
    -------
    HouseholdShare
        The chunks, ``x`` with the household sites' rows holding what their households
        carry, and the people of households that cannot be served, with the reason.
    """
    gi_of = {g: i for i, g in enumerate(GROUPS)}
    rows = sorted(households)
    out_x = x.copy()
    out_x[rows] = 0
    # spare capacity beyond every site's LP share; each site's own share is its pool
    spare = inp.capacity.astype(np.int64) - x.sum(axis=(0, 1))
    blocked: dict[tuple[int, int], list[tuple[str, int]]] = {}
    chunks: list[Chunk] = []
    for ai in rows:
        pool = x[ai].sum(axis=0).astype(np.int64)
        placed = _site_share(inp, ai, households[ai], pool, spare, blocked)
        for (ri, types), hh in sorted(placed.items()):
            for h in hh:
                for g, n in h.members.items():
                    out_x[ai, gi_of[g], ri] += n
            chunks += _pack(inp, inp.a_idx[ai], inp.r_idx[ri], types, hh)
        spare += pool  # what the site's share did not use goes back to everyone
    return HouseholdShare(chunks=chunks, x=out_x, blocked=blocked)


def _site_share(
    inp: HouseholdInputs,
    ai: int,
    hh: list[Household],
    pool: np.ndarray,
    spare: np.ndarray,
    blocked: dict[tuple[int, int], list[tuple[str, int]]],
) -> dict[tuple[int, tuple[int, ...]], list[Household]]:
    """One site's households by (reception position, vehicle types); the rest into ``blocked``.

    Households of the highest priority group go first, larger before smaller.
    """
    gi_of = {g: i for i, g in enumerate(GROUPS)}
    prio: dict[str, float] = {g: w for g, w in inp.ev.priorities.items()}
    out: dict[tuple[int, tuple[int, ...]], list[Household]] = {}
    for h in sorted(hh, key=lambda h: (-max(prio[g] for g in h.groups), -h.seats, h.id)):
        types = household_types(inp.ev, h)
        why = _why_not(inp, ai, h, types)
        ri = None if why else _receive(inp, ai, h, pool, spare)
        if ri is None:
            for g, n in h.members.items():
                blocked.setdefault((ai, gi_of[g]), []).append((why or "reception_full", n))
            continue
        out.setdefault((ri, types), []).append(h)
    return out
