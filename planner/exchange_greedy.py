"""A constructive first solution of the aggregate exchange model, given to CP-SAT as a hint.

CP-SAT with one worker (kept for byte-for-byte determinism) needs tens of seconds to find a
first solution of the aggregate model (:class:`planner.exchange_flows.FlowModel`) at
negotiation scale.  :func:`greedy_flows` builds one in milliseconds: the slots are filled in
order of start, each with as many people as both sides can send in the agreed ratio, within
the event, day and per-side limits, the agreed daily figures, the mediator's dates, the
windows (a facility sends to a slot only when its transfer can leave once the window opens),
the vehicles (trips per window, shared between windows whose trips overlap) and the
precedence of categories (a later category waits until every earlier one is sent).  The
result is a complete assignment of the model's variables, so CP-SAT starts from a feasible
solution and, when it exchanges everyone, proves the first stage optimal at once.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from datetime import date
from typing import Any

from planner.exchange_spec import parse_ratio


class _State:
    """People left per (facility, category) and vehicles out, as the slots are filled.

    Vehicles are counted per slot as the exact model counts them: a slot takes whole
    vehicles, and the vehicles of a type out at any moment (leave to back) are never more
    than the facility has.
    """

    def __init__(self, flow: Any) -> None:
        d = flow.d
        self.flow = flow
        self.left: dict[tuple[str, str], int] = {}
        for _key, fid, c in flow.y:
            self.left[(fid, c)] = d.held(fid, c)
        self.y: dict[tuple, int] = defaultdict(int)
        self.count: dict[tuple[int, str, str], int] = defaultdict(int)  # (slot, fid, c)
        self.load: dict[tuple[int, str, str], dict[str, int]] = defaultdict(dict)  # (slot, fid, t)
        self.out: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)  # (fid, t) -> slot: n
        self.first: dict[int, set[str]] = {}
        """Facilities that go first to a slot (they reach no earlier one that day)."""

    def clone(self) -> _State:
        """A copy to try a choice on (the model and ``first`` shared)."""
        other = _State.__new__(_State)
        other.flow, other.first = self.flow, self.first
        other.left = dict(self.left)
        other.y = defaultdict(int, self.y)
        other.count = defaultdict(int, self.count)
        other.load = defaultdict(dict, {k: dict(v) for k, v in self.load.items()})
        other.out = defaultdict(dict, {k: dict(v) for k, v in self.out.items()})
        return other

    def vehicles(self, si: int, fid: str, t: str) -> int:
        """Vehicles of type ``t`` the facility sends to slot ``si``."""
        n = sum(self.load.get((si, fid, t), {}).values())
        return math.ceil(n / self.flow.d.fleet[fid][t][1])

    def seats(self, si: int, fid: str, t: str) -> int:
        """People the facility's vehicles of type ``t`` can still carry to slot ``si``."""
        flow, d = self.flow, self.flow.d
        if (d.slots[si].key, fid, t) not in flow.trips:
            return 0
        count, cap = d.fleet[fid][t]
        dep, back = d.trip(si, fid)
        others = [(*d.trip(sj, fid), v) for sj, v in self.out[(fid, t)].items() if sj != si]
        busy = 0
        for a in [dep, *(a0 for a0, _b, _v in others if dep < a0 < back)]:
            busy = max(busy, sum(v for a0, b0, v in others if a0 <= a < b0))
        return max(0, (count - busy) * cap - sum(self.load.get((si, fid, t), {}).values()))

    def send(self, si: int, fid: str, c: str, t: str, n: int) -> None:
        load = self.load[(si, fid, t)]
        load[c] = load.get(c, 0) + n
        self.out[(fid, t)][si] = self.vehicles(si, fid, t)
        self.y[(self.flow.d.slots[si].key, fid, c)] += n
        self.count[(si, fid, c)] += n
        self.left[(fid, c)] -= n


def _order(d: Any) -> list[str]:
    """Categories in the order they are sent: precedence, all for all, then by weight."""
    t = d.spec_terms
    rest = sorted(d.cats, key=lambda c: (c not in t.all_for_all, -d.weights[c], d.cats.index(c)))
    return [*t.precedence, *(c for c in rest if c not in t.precedence)]


def _allowed(d: Any, st: _State) -> tuple[list[str], list[str]]:
    """Categories a block may send, in order, and the urgent ones among them.

    A precedence category may go once every earlier one is sent (before the block, so that no
    window of the block holds a later category before one holding an earlier); the first
    precedence category with people left and the all-for-all categories are urgent.
    """
    t = d.spec_terms
    ok = set(d.cats) - set(t.precedence)
    urgent = set(t.all_for_all)
    for c in t.precedence:
        ok.add(c)
        if any(n for (_f, c2), n in st.left.items() if c2 == c):
            urgent.add(c)
            break
    order = [c for c in _order(d) if c in ok]
    return order, [c for c in order if c in urgent]


def _fill(
    st: _State,
    si: int,
    j: int,
    party: str,
    limit: int,
    commit: bool,
    cats: list[str],
    pick: set[tuple[str, str]] | None = None,
) -> int:
    """People of ``party`` sent to slot ``si`` (index ``j`` in its window), at most ``limit``
    (only the (facility, category) pairs in ``pick`` when given)."""
    if limit <= 0:
        return 0
    flow, d = st.flow, st.flow.d
    key = d.slots[si].key
    facs = [
        f.id
        for f in d.facs
        if f.party == party
        and (key, f.id) in flow.earliest
        and flow.earliest[(key, f.id)] is not None
        and flow.earliest[(key, f.id)] <= j
    ]
    first = st.first.get(si, set())
    facs.sort(key=lambda fid: (fid not in first, -sum(st.left.get((fid, c), 0) for c in cats), fid))
    sent = 0
    spare: dict[tuple[str, str], int] = {}
    for fid in facs:
        for c in cats:
            if sent >= limit or (key, fid, c) not in flow.y:
                continue
            if pick is not None and (fid, c) not in pick:
                continue
            want = min(st.left.get((fid, c), 0), limit - sent)
            for t in d.carriers[(fid, c)]:
                if want <= 0:
                    break
                room = spare.setdefault((fid, t), st.seats(si, fid, t))
                n = min(want, room)
                if n <= 0:
                    continue
                spare[(fid, t)] -= n
                want -= n
                sent += n
                if commit:
                    st.send(si, fid, c, t, n)
    return sent


def _pair(a0: int, a1: int, room: int, r: tuple[int, int]) -> tuple[int, int]:
    """The most people each side sends in ratio ``r``: ``(k r0, k r1)``."""
    k = min(a0 // r[0], a1 // r[1], room // (r[0] + r[1]))
    return k * r[0], k * r[1]


def greedy_flows(flow: Any, active: list[str]) -> tuple[dict[Any, int], dict | None]:
    """A complete assignment of ``flow``'s variables that holds every term.

    Parameters
    ----------
    flow
        An aggregate model (:class:`planner.exchange_flows.FlowModel`).
    active
        The terms switched on (the others' literals are hinted off; the schedule holds
        them all the same).

    Returns
    -------
    hint : dict
        ``{CP-SAT variable: value}`` for every decision variable of the model.
    schedule : dict or None
        The same schedule as the exact model would give it (``x``, ``z``, ``counts``,
        ``vehicles``, ``loads`` of :func:`planner.exchange_model.extract`): it holds every
        term of the exact model too; ``None`` when people travel in groups (the greedy
        splits them).

    Notes
    -----
    Block by block, two passes over the block's slots in order of start: the first sends the
    urgent categories (see :func:`_allowed`) with as many of the other side as parity needs,
    so that people who reach only the late slots of a day keep their places; the second
    fills what is left.
    """
    st = _State(flow)
    fill = _Filler(flow, st)
    for _b, slots in sorted(_blocks(flow).items()):
        _fill_block(flow, st, fill, slots)
    return _finish(flow, st, fill, active)


def _blocks(flow: Any) -> dict[int, list[int]]:
    """The model's slots per block, in order of start."""
    d = flow.d
    blocks: dict[int, list[int]] = defaultdict(list)
    for si in sorted(flow.S, key=lambda k: (d.slots[k].rank, d.slots[k].point)):
        blocks[d.slots[si].block].append(si)
    return blocks


def _fill_block(flow: Any, st: _State, fill: _Filler, slots: list[int]) -> None:
    """Two passes over a block's slots: the urgent people first, then everyone else."""
    cats, urgent = _allowed(flow.d, st)
    pick = {(f, c) for (f, c), n in st.left.items() if n and c in urgent}
    pick |= {(f, c) for (f, c), n in st.left.items() if n and f in _slowest(flow, st, fill)}
    if pick:
        for si in slots:
            fill.slot(si, cats, pick)
    for si in slots:
        fill.slot(si, cats, None)


def _finish(
    flow: Any, st: _State, fill: _Filler, active: list[str]
) -> tuple[dict[Any, int], dict | None]:
    """The hint and the schedule of a filled state (see :func:`greedy_flows`)."""
    d = flow.d
    hint = _values(flow, st, fill.n, set(active))
    if d.groups:
        return hint, None
    counts = {k: n for k, n in st.count.items() if n}
    schedule = {
        "x": dict(counts),
        "z": {},
        "counts": counts,
        "vehicles": {(si, fid, t): v for (fid, t), out in st.out.items() for si, v in out.items()},
        "loads": {k: dict(v) for k, v in st.load.items() if v},
    }
    return hint, schedule


def _slowest(flow: Any, st: _State, fill: _Filler) -> set[str]:
    """Facilities whose vehicles need at least as many more days as the exchange does.

    The exchange needs ``D`` more days at the agreed daily figures; a facility with more
    people left than its vehicles carry in ``D - 1`` days (a trip a day) would be the last
    to finish, so its people go first whenever they can.
    """
    d, t = flow.d, flow.d.spec_terms
    per_side = [
        x
        for x in (
            t.max_per_day // sum(fill.r) * min(fill.r) if t.max_per_day else None,
            t.max_per_day_per_side,
        )
        if x
    ]
    if not per_side:
        return set()
    left: dict[str, int] = defaultdict(int)
    for (fid, _c), n in st.left.items():
        left[fid] += n
    party = {f.id: f.party for f in d.facs}
    side: dict[str, int] = defaultdict(int)
    for fid, n in left.items():
        side[party[fid]] += n
    days = max(math.ceil(n / min(per_side)) for n in side.values()) if side else 0
    out = set()
    for fid, n in left.items():
        seats = sum(count * cap for count, cap in d.fleet[fid].values())
        if n and seats and n > seats * max(0, days - 1):
            out.add(fid)
    return out


class _Filler:
    """Fills slots under the event, day and per-side limits, the daily figures and parity."""

    def __init__(self, flow: Any, st: _State) -> None:
        d, t = flow.d, flow.d.spec_terms
        self.d, self.t, self.st = d, t, st
        self.r = parse_ratio(t.ratio, d.parties)
        self.daily = {dt.date: dt.per_side for dt in t.daily}
        self.ok_days = set(t.mediator_dates) if t.mediator_dates is not None else None
        self.day_both: dict[date, int] = defaultdict(int)
        self.day_side: dict[tuple[date, str], int] = defaultdict(int)
        self.n: dict[tuple[int, str], int] = defaultdict(int)
        self.index = {si: ss.index(si) for ss in flow.keys.values() for si in ss}
        self.caps: dict[int, int] = {}
        """People a slot may take at most, where a choice of slots closes the others."""

    def clone(self, st: _State) -> _Filler:
        """A copy filling ``st`` (a clone of this filler's state)."""
        other = _Filler.__new__(_Filler)
        other.__dict__.update(self.__dict__)
        other.st = st
        other.day_both = defaultdict(int, self.day_both)
        other.day_side = defaultdict(int, self.day_side)
        other.n = defaultdict(int, self.n)
        other.caps = dict(self.caps)
        return other

    def room(self, si: int) -> tuple[int, dict[str, int]]:
        """People the slot may still take, both sides and per side."""
        d, t, s = self.d, self.t, self.d.slots[si]
        if self.ok_days is not None and s.day not in self.ok_days:
            return 0, dict.fromkeys(d.parties, 0)
        people = sum(self.n[(si, p)] for p in d.parties)
        room = s.cap if t.max_per_event is None else min(s.cap, t.max_per_event)
        room = min(room, self.caps.get(si, room)) - people
        if t.max_per_day is not None:
            room = min(room, t.max_per_day - self.day_both[s.day])
        side = {}
        for p in d.parties:
            lim = room
            if t.max_per_day_per_side is not None:
                lim = min(lim, t.max_per_day_per_side - self.day_side[(s.day, p)])
            if s.day in self.daily:
                lim = min(lim, self.daily[s.day] - self.day_side[(s.day, p)])
            side[p] = max(0, lim)
        return max(0, room), side

    def slot(self, si: int, cats: list[str], urgent: set[tuple[str, str]] | None) -> None:
        """Add to slot ``si`` what both sides can send in ratio (the ``urgent`` (facility,
        category) pairs first, and only as many as they need when given)."""
        d, st, j = self.d, self.st, self.index[si]
        room, side = self.room(si)
        if room <= 0:
            return
        p0, p1 = d.parties
        a = {p: _fill(st, si, j, p, side[p], False, cats) for p in d.parties}
        if urgent:
            u = {p: _fill(st, si, j, p, side[p], False, cats, urgent) for p in d.parties}
            # enough pairs for the urgent people of either side, the rest of any category
            k = min(max(u[p0] // self.r[0], u[p1] // self.r[1]), room // sum(self.r))
            k = min(k, a[p0] // self.r[0], a[p1] // self.r[1])
            want = (k * self.r[0], k * self.r[1])
        else:
            want = _pair(a[p0], a[p1], room, self.r)
        day = d.slots[si].day
        for p, k in zip(d.parties, want, strict=True):
            if not k:
                continue
            got = _fill(st, si, j, p, k, True, cats, urgent) if urgent else 0
            got += _fill(st, si, j, p, k - got, True, cats)
            self.n[(si, p)] += got
            self.day_side[(day, p)] += got
            self.day_both[day] += got


def _values(
    flow: Any, st: _State, n: dict[tuple[int, str], int], active: set[str]
) -> dict[Any, int]:
    """The hint: flows, slot counts, events, trips, precedence indicators, terms on."""
    d = flow.d
    out: dict[Any, int] = {}
    for k, v in flow.y.items():
        out[v] = st.y.get(k, 0)
    for k, v in flow.n.items():
        out[v] = n.get(k, 0)
    for si, v in flow.used.items():
        out[v] = int(any(n.get((si, p), 0) for p in d.parties))
    trips: dict[tuple, int] = defaultdict(int)
    for (fid, t), slots in st.out.items():
        for si, k in slots.items():
            trips[(d.slots[si].key, fid, t)] += k
    for k, v in flow.trips.items():
        out[v] = trips.get(k, 0)
    has: dict[tuple[tuple[str, int], str], int] = {}
    for (key, c), v in flow.has.items():
        has[(key, c)] = int(any(st.y.get((key, f.id, c), 0) for f in d.facs))
        out[v] = has[(key, c)]
    for (c, k), v in flow.started.items():
        out[v] = int(
            any(
                h and c2 == c and d.slots[flow.keys[key][-1]].rank <= k
                for (key, c2), h in has.items()
            )
        )
    for term, v in flow.lit.items():
        out[v] = int(term in active)
    return out


MAX_OPTIONS = 36
"""Choices of slots tried per block by :func:`greedy_events` (more: the block keeps all)."""


def greedy_events(flow: Any, active: list[str]) -> tuple[dict[Any, int], dict | None] | None:
    """A constructive schedule with few events: each block keeps only as many slots as its
    daily limit fills, the choice that sends the most.

    :func:`greedy_flows` fills the slots in order of start, so a day whose buses cannot all
    reach its first start time gets a second one: three events where two would hold the
    day's limit.  Here each block (a day) keeps ``K`` of its slots, ``K`` the events its
    daily limit needs (``ceil(limit / event cap)``), every choice of ``K`` is filled as
    :func:`greedy_flows` fills a block, and the block takes the choice that sends the most
    people, less those that the facilities' vehicles could no longer carry in the days the
    exchange still needs.  A block keeps a late start time when the facilities that reach
    only that one (they go first there) need as many days as the exchange still needs, or
    hold urgent people (the precedence category due, the all-for-all ones); otherwise the choice with the earliest sum wins.

    Parameters
    ----------
    flow
        An aggregate model (:class:`planner.exchange_flows.FlowModel`).
    active
        The terms switched on.

    Returns
    -------
    tuple or None
        ``(hint, schedule)`` as :func:`greedy_flows` returns them, or ``None`` when no block
        has a choice (no daily limit, or a limit that needs every slot).
    """
    blocks = _blocks(flow)
    options = {b: _slot_choices(flow, slots) for b, slots in blocks.items()}
    if all(len(o) <= 1 for o in options.values()):
        return None
    st = _State(flow)
    fill = _Filler(flow, st)
    late = {b: _late_only(flow, st, slots) for b, slots in blocks.items()}
    for b, slots in sorted(blocks.items()):
        best: tuple[tuple, _State, _Filler] | None = None
        room = max(1, _block_limit(flow, slots))
        force = _needs_late(flow, st, late[b], room)
        choices = options[b]
        if force:  # the choices that keep the first start time and one the late-only reach
            first = min((flow.d.slots[si].rank for si in _usable(flow, slots)), default=0)
            later = [
                keep
                for keep in choices
                if _reaches(flow, keep, late[b])
                and any(flow.d.slots[si].rank == first for si in keep)
            ]
            choices = later or choices
        for keep in choices:
            trial = st.clone()
            tfill = fill.clone(trial)
            tfill.caps.update({si: 0 for si in slots if si not in keep})
            _fill_block(flow, trial, tfill, slots)
            score = _score(flow, st, trial, tfill, slots, late[b], room, force)
            if best is None or score > best[0]:
                best = (score, trial, tfill)
        assert best is not None
        _score_, st, fill = best
    return _finish(flow, st, fill, active)


def _usable(flow: Any, slots: list[int]) -> list[int]:
    """Slots of a block some facility can send to (a road, within the window, a mediator)."""
    d, t = flow.d, flow.d.spec_terms
    ok = set(t.mediator_dates) if t.mediator_dates is not None else None
    return [
        si
        for si in slots
        if (ok is None or d.slots[si].day in ok)
        and any(d.reach(si, f.id) and d.in_window(si, f.id) for f in d.facs)
    ]


def _block_limit(flow: Any, slots: list[int]) -> int:
    """People a block can hold: its usable slots' capacity, or its days' limits when lower."""
    d, t = flow.d, flow.d.spec_terms
    usable = _usable(flow, slots)
    cap = sum(_event_cap(flow, si) for si in usable)
    daily = {dt.date: dt.per_side for dt in t.daily}
    limit = 0
    for day in sorted({d.slots[si].day for si in usable}):
        bounds = [cap]
        if t.max_per_day is not None:
            bounds.append(t.max_per_day)
        if t.max_per_day_per_side is not None:
            bounds.append(len(d.parties) * t.max_per_day_per_side)
        if day in daily:
            bounds.append(len(d.parties) * daily[day])
        limit += min(bounds)
    return min(cap, limit)


def _event_cap(flow: Any, si: int) -> int:
    t, s = flow.d.spec_terms, flow.d.slots[si]
    return s.cap if t.max_per_event is None else min(s.cap, t.max_per_event)


def _slot_choices(flow: Any, slots: list[int]) -> list[tuple[int, ...]]:
    """The choices of slots a block may keep: every ``K`` of its usable slots."""
    usable = _usable(flow, slots)
    if not usable:
        return [()]
    per_event = max(_event_cap(flow, si) for si in usable)
    k = math.ceil(_block_limit(flow, slots) / max(1, per_event))
    if k >= len(usable) or math.comb(len(usable), k) > MAX_OPTIONS:
        return [tuple(usable)]
    return list(itertools.combinations(usable, k))


def _late_only(flow: Any, st: _State, slots: list[int]) -> set[str]:
    """Facilities that reach none of the block's first usable start time; each goes first to
    the slots of its own first start time."""
    d = flow.d
    first: dict[str, int] = {}
    for si in _usable(flow, slots):
        for f in d.facs:
            if d.reach(si, f.id) and d.in_window(si, f.id):
                first[f.id] = min(first.get(f.id, d.slots[si].rank), d.slots[si].rank)
    if not first:
        return set()
    earliest = min(first.values())
    late = {fid for fid, r in first.items() if r > earliest}
    for si in slots:
        ahead = {fid for fid in late if first[fid] == d.slots[si].rank}
        if ahead:
            st.first[si] = ahead
    return late


def _reaches(flow: Any, keep: tuple[int, ...], late: set[str]) -> bool:
    """Whether some late-only facility can send to one of the slots kept."""
    d = flow.d
    return any(d.reach(si, f) and d.in_window(si, f) for si in keep for f in late)


def _seats(d: Any, fid: str) -> int:
    return sum(count * cap for count, cap in d.fleet[fid].values())


def _needs_late(flow: Any, st: _State, late: set[str], room: int) -> bool:
    """Whether the block must keep a late start time: its late-only facilities need as many
    days (a trip a day) as the exchange still needs, or hold urgent people (see
    :func:`_allowed`)."""
    d = flow.d
    left: dict[str, int] = defaultdict(int)
    for (fid, _c), n in st.left.items():
        left[fid] += n
    days = math.ceil(sum(left.values()) / room)
    need = max(
        (math.ceil(left[fid] / _seats(d, fid)) for fid in late if left[fid] and _seats(d, fid)),
        default=0,
    )
    _cats, urgent = _allowed(d, st)
    return need >= days or any(n for (fid, c), n in st.left.items() if fid in late and c in urgent)


def _score(
    flow: Any,
    before: _State,
    st: _State,
    fill: _Filler,
    slots: list[int],
    late: set[str],
    room: int,
    force: bool,
) -> tuple:
    """How good a block's choice is: people sent less those left beyond what the vehicles
    carry in the days still needed, then late-only people sent or the earliest sum."""
    d = flow.d
    sent = sum(fill.n[(si, p)] for si in slots for p in d.parties)
    left: dict[str, int] = defaultdict(int)
    for (fid, _c), n in st.left.items():
        left[fid] += n
    days = math.ceil(sum(left.values()) / room)
    over = sum(max(0, n - _seats(d, fid) * days) for fid, n in left.items())
    gone = sum(before.left[k] - n for k, n in st.left.items() if k[0] in late)
    cost = sum(d.slots[si].rank * fill.n[(si, p)] for si in slots for p in d.parties)
    return (sent - over, gone, -cost) if force else (sent - over, -cost, gone)
