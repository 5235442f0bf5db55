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
    facs.sort(key=lambda fid: (-sum(st.left.get((fid, c), 0) for c in cats), fid))
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
    d = flow.d
    st = _State(flow)
    fill = _Filler(flow, st)
    blocks: dict[int, list[int]] = defaultdict(list)
    for si in sorted(flow.S, key=lambda k: (d.slots[k].rank, d.slots[k].point)):
        blocks[d.slots[si].block].append(si)
    for _b, slots in sorted(blocks.items()):
        cats, urgent = _allowed(d, st)
        pick = {(f, c) for (f, c), n in st.left.items() if n and c in urgent}
        pick |= {(f, c) for (f, c), n in st.left.items() if n and f in _slowest(flow, st, fill)}
        if pick:
            for si in slots:
                fill.slot(si, cats, pick)
        for si in slots:
            fill.slot(si, cats, None)
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

    def room(self, si: int) -> tuple[int, dict[str, int]]:
        """People the slot may still take, both sides and per side."""
        d, t, s = self.d, self.t, self.d.slots[si]
        if self.ok_days is not None and s.day not in self.ok_days:
            return 0, dict.fromkeys(d.parties, 0)
        people = sum(self.n[(si, p)] for p in d.parties)
        room = s.cap if t.max_per_event is None else min(s.cap, t.max_per_event)
        room -= people
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
