"""Independent checks of an exchange plan (the ``exchange`` part of ``plan.json``).

Nothing here uses the CP-SAT model of :mod:`planner.exchange`: the checker reads the
scenario's terms and rosters (through :func:`planner.exchange.parse_exchange`), the plan's
events and, when given the plan's folder, its manifest CSVs, and recomputes every figure.
Terms the plan says it had to drop (``relaxed``) are not held against it.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.exchange import MANIFEST_COLUMNS, ExchangeSpec, ParitySpec, parse_ratio
from planner.scenario import Scenario, location_lonlat

if TYPE_CHECKING:
    from planner.network import PreparedNetwork

NAME_LIKE = ("name", "surname", "first", "last", "patronymic", "full", "birth", "passport")
"""Column name fragments that suggest personal data; never allowed in a manifest."""
_SLACK_S = 1.0


def _time(x: Any) -> datetime | None:
    try:
        t = datetime.fromisoformat(str(x))
    except (TypeError, ValueError):
        return None
    return t if t.tzinfo is not None else None


def _ok_ratio(n0: int, n1: int, r: tuple[int, int], tol: int) -> bool:
    return 2 * abs(n1 * r[0] - n0 * r[1]) <= (2 * tol + 1) * r[0]


def check_exchange(
    scenario: Scenario,
    spec: ExchangeSpec,
    exchange_dict: dict[str, Any],
    *,
    folder: str | Path | None = None,
    network: PreparedNetwork | None = None,
) -> list[tuple[str, str]]:
    """Check an exchange plan against the scenario's terms, facilities, roads and rosters.

    Parameters
    ----------
    scenario
        The scenario.
    spec
        Its parsed ``exchange`` section (rosters read).
    exchange_dict
        The ``exchange`` part of ``plan.json``.
    folder
        The folder holding ``plan.json`` and ``manifests/``; manifests are checked when given.
    network
        A prepared road network for the travel times (prepared from the scenario when omitted).

    Returns
    -------
    list of tuple of str
        ``(code, message)`` per violation; empty when the plan holds.
    """
    out: list[tuple[str, str]] = []

    def bad(code: str, msg: str) -> None:
        out.append((code, msg))

    if not isinstance(exchange_dict, dict):
        return [("exchange_format", "the exchange part is not a mapping")]
    parties = spec.party_ids
    p0, p1 = parties
    t = spec.terms
    relaxed = {str(x) for x in exchange_dict.get("relaxed") or []}
    facilities = {f.id: f for f in spec.facilities}
    points = {p.id: p for p in spec.exchange_points}
    cats = set(spec.category_ids)
    held: dict[tuple[str, str], int] = defaultdict(int)
    for person in spec.people:
        held[(person.facility, person.category)] += 1

    def on(term: str) -> bool:
        return term not in relaxed

    events = exchange_dict.get("events")
    if not isinstance(events, list):
        return [("exchange_format", "the exchange has no list of events")]
    tol = t.parity.tolerance if isinstance(t.parity, ParitySpec) else 0
    ratio = parse_ratio(t.ratio, parties)
    released: dict[tuple[str, str], int] = defaultdict(int)
    released_pc: dict[tuple[str, str], int] = defaultdict(int)
    per_day: dict[date, int] = defaultdict(int)
    parsed: list[dict[str, Any]] = []
    ids: set[str] = set()
    for k, e in enumerate(events):
        if not isinstance(e, dict):
            bad("exchange_format", f"event {k} is not a mapping")
            continue
        eid = str(e.get("id", k))
        if eid in ids:
            bad("exchange_format", f"event id {eid} is used twice")
        ids.add(eid)
        start, end = _time(e.get("start")), _time(e.get("end"))
        point = points.get(str(e.get("point")))
        if start is None or end is None or end <= start:
            bad("exchange_format", f"event {eid}: start and end must be timezone-aware times, end after start")
            continue
        if point is None:
            bad("exchange_unknown", f"event {eid}: {e.get('point')!r} is not an exchange point")
            continue
        counts = e.get("counts") or {}
        per_party = dict.fromkeys(parties, 0)
        per_cat: dict[str, int] = defaultdict(int)
        fac_people: dict[str, int] = defaultdict(int)
        fc_counts: dict[tuple[str, str], int] = defaultdict(int)
        for party, facs in counts.items():
            if party not in parties:
                bad("exchange_unknown", f"event {eid}: {party!r} is not a party")
                continue
            for fid, fc in (facs or {}).items():
                fac = facilities.get(fid)
                if fac is None or fac.party != party:
                    bad("exchange_unknown", f"event {eid}: {fid!r} is not a facility of {party}")
                    continue
                for c, n in (fc or {}).items():
                    if c not in cats or not isinstance(n, int) or isinstance(n, bool) or n < 0:
                        bad("exchange_unknown", f"event {eid}: {fid}.{c} = {n!r} is not a count of a known category")
                        continue
                    per_party[party] += n
                    per_cat[c] += n
                    fac_people[fid] += n
                    fc_counts[(fid, c)] += n
                    released[(fid, c)] += n
                    released_pc[(party, c)] += n
        total = sum(per_party.values())
        # parity
        if t.parity != "none" and on("parity_per_event") and not _ok_ratio(per_party[p0], per_party[p1], ratio, tol):
            bad("exchange_parity", f"event {eid}: {p0} releases {per_party[p0]}, {p1} {per_party[p1]}, off the agreed ratio")
        # capacity and rate
        if total > point.max_per_event:
            bad("exchange_capacity", f"event {eid}: {total} people, more than {point.max_per_event} at {point.id}")
        if total > point.handovers_per_hour * (end - start).total_seconds() / 3600.0 + 1e-6:
            bad("exchange_rate", f"event {eid}: {total} people cannot be handed over at {point.handovers_per_hour:g}/h between {start:%H:%M} and {end:%H:%M}")
        if t.max_per_event is not None and on("max_per_event") and total > t.max_per_event:
            bad("exchange_per_event", f"event {eid}: {total} people, more than the agreed {t.max_per_event} per event")
        per_day[start.date()] += total
        # windows and mediator
        wins = list(point.windows) if point.windows else list(scenario.ceasefire.windows)
        win = next((w for w in wins if w.start <= start and end <= w.end), None)
        if win is None:
            bad("exchange_window", f"event {eid}: {start.isoformat()} - {end.isoformat()} is outside every window of {point.id}")
        if t.mediator_dates is not None and on("mediator_dates") and start.date() not in set(t.mediator_dates):
            bad("exchange_mediator", f"event {eid}: the mediator is not available on {start.date().isoformat()}")
        parsed.append({"id": eid, "start": start, "end": end, "point": point.id, "cats": per_cat, "win": win,
                       "wi": wins.index(win) if win is not None else None, "fac_people": fac_people,
                       "transports": e.get("transports") or [], "per_party": per_party,
                       "fc": fc_counts})
    # overlapping events at one point
    by_point: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ev in parsed:
        by_point[ev["point"]].append(ev)
    for pid, evs in by_point.items():
        evs.sort(key=lambda ev: ev["start"])
        for a, b in zip(evs, evs[1:], strict=False):
            if b["start"] < a["end"]:
                bad("exchange_overlap", f"events {a['id']} and {b['id']} overlap at {pid}")
    # per day
    if t.max_per_day is not None and on("max_per_day"):
        for dday, n in sorted(per_day.items()):
            if n > t.max_per_day:
                bad("exchange_per_day", f"{dday.isoformat()}: {n} people, more than the agreed {t.max_per_day} per day")
    _check_daily(spec, parsed, relaxed, bad)
    # overall ratio, per category, all for all, held
    tot = {p: sum(n for (pp, _c), n in released_pc.items() if pp == p) for p in parties}
    if on("ratio") and not _ok_ratio(tot[p0], tot[p1], ratio, tol):
        bad("exchange_ratio", f"overall {p0} releases {tot[p0]}, {p1} {tot[p1]}, off the agreed ratio")
    for c, rc in t.category_ratios.items():
        if on(f"ratio.{c}") and not _ok_ratio(released_pc[(p0, c)], released_pc[(p1, c)], parse_ratio(rc, parties), tol):
            bad("exchange_category_ratio", f"{c}: {p0} releases {released_pc[(p0, c)]}, {p1} {released_pc[(p1, c)]}, off the agreed ratio")
    for c in t.all_for_all:
        if not on(f"all_for_all.{c}"):
            continue
        for fid in facilities:
            if released[(fid, c)] != held[(fid, c)]:
                bad("exchange_all_for_all", f"{c}: {released[(fid, c)]} of {held[(fid, c)]} held at {fid} are exchanged (all for all)")
    for (fid, c), n in sorted(released.items()):
        if n > held[(fid, c)]:
            bad("exchange_held", f"{fid} releases {n} {c}, but holds {held[(fid, c)]}")
    # precedence
    if t.precedence and on("precedence"):
        for i, ci in enumerate(t.precedence):
            for cj in t.precedence[i + 1 :]:
                last_i = [ev for ev in parsed if ev["cats"].get(ci)]
                first_j = [ev for ev in parsed if ev["cats"].get(cj)]
                if last_i and first_j:
                    a = max(last_i, key=lambda ev: ev["start"])
                    b = min(first_j, key=lambda ev: ev["start"])
                    if b["start"] < a["start"]:
                        bad("exchange_precedence", f"{cj} handed over in {b['id']} before {ci} in {a['id']}")
    _check_transports(scenario, spec, parsed, relaxed, network, bad)
    if folder is not None:
        _check_manifests(spec, exchange_dict, events, Path(folder), bad)
    return out


def _check_daily(spec: ExchangeSpec, parsed: list[dict[str, Any]], relaxed: set[str], bad: Any) -> None:
    """Each side's releases per day against ``max_per_day_per_side`` and the agreed daily figures."""
    t = spec.terms
    side: dict[tuple[date, str], int] = defaultdict(int)
    for ev in parsed:
        for p, n in ev["per_party"].items():
            side[(ev["start"].date(), p)] += n
    if t.max_per_day_per_side is not None and "max_per_day_per_side" not in relaxed:
        for (dday, p), n in sorted(side.items()):
            if n > t.max_per_day_per_side:
                bad("exchange_per_day_per_side",
                    f"{dday.isoformat()}: {p} releases {n}, more than the agreed {t.max_per_day_per_side} per day")
    for dt in t.daily:
        if f"daily.{dt.date.isoformat()}" in relaxed:
            continue
        for p in spec.party_ids:
            n = side.get((dt.date, p), 0)
            if n != dt.per_side:
                bad("exchange_daily", f"{dt.date.isoformat()}: {p} releases {n}; the agreed figure is {dt.per_side}")


def _check_vehicle(spec: ExchangeSpec, fac: Any, tr: dict[str, Any], eid: str, bad: Any) -> int:
    """A transport's vehicle type, escort and categories; returns the vehicles it uses."""
    vt = str(tr.get("vehicle", "bus"))
    fleet = fac.fleet()
    count = int(tr.get("buses", 0))
    if vt not in fleet:
        bad("exchange_vehicle", f"event {eid}: {fac.id} has no vehicles of type {vt}")
        return count
    people = int(tr.get("people", 0))
    if people > count * fleet[vt].capacity:
        bad("exchange_seats", f"event {eid}: {people} people in {count} {vt} of {fleet[vt].capacity} places from {fac.id}")
    if count > fleet[vt].count:
        bad("exchange_buses", f"event {eid}: {count} {vt} from {fac.id}, which has {fleet[vt].count}")
    cats = tr.get("categories")
    if isinstance(cats, dict):
        if sum(int(n) for n in cats.values()) != people:
            bad("exchange_transport", f"event {eid}: the {vt} transport from {fac.id} carries {people} but lists {sum(int(n) for n in cats.values())} by category")
        for c, n in cats.items():
            if int(n) and c in spec.category_ids and vt not in spec.carriers(fac, c):
                cat = spec.category(c)
                need = " or ".join(cat.vehicles) + (" with a medical escort" if cat.medical_escort else "")
                bad("exchange_vehicle", f"event {eid}: {n} {c} from {fac.id} in a {vt}; they travel only by {need}")
    return count


def _check_transports(scenario: Scenario, spec: ExchangeSpec, parsed: list[dict[str, Any]], relaxed: set[str],
                      network: PreparedNetwork | None, bad: Any) -> None:
    facilities = {f.id: f for f in spec.facilities}
    pairs = sorted({(fid, ev["point"]) for ev in parsed for fid in ev["fac_people"]} |
                   {(str(tr.get("facility")), ev["point"]) for ev in parsed for tr in ev["transports"] if isinstance(tr, dict)})
    pairs = [pp for pp in pairs if pp[0] in facilities]
    road: dict[tuple[str, str], float] = {}
    if pairs:
        if network is None:
            from planner.network import prepare_network

            network = prepare_network(scenario)
        roads = network.roads
        fids = sorted({a for a, _ in pairs})
        pids = sorted({b for _, b in pairs})
        sn = roads.snap([location_lonlat(facilities[f].location) for f in fids] +
                        [location_lonlat(spec.point(p).location) for p in pids])
        tm, _ = roads.matrices([s.node for s in sn[: len(fids)]], [s.node for s in sn[len(fids) :]])
        road = {(f, p): float(tm[i, j]) for i, f in enumerate(fids) for j, p in enumerate(pids)}
    usage: dict[tuple[str, str], list[tuple[datetime, datetime, int, str]]] = defaultdict(list)
    for ev in parsed:
        eid = ev["id"]
        sent: dict[str, int] = defaultdict(int)
        carried: dict[tuple[str, str], int] = defaultdict(int)
        types: dict[str, set[str]] = defaultdict(set)
        for tr in ev["transports"]:
            if not isinstance(tr, dict):
                bad("exchange_format", f"event {eid}: a transport is not a mapping")
                continue
            fid = str(tr.get("facility"))
            fac = facilities.get(fid)
            dep, arr = _time(tr.get("depart")), _time(tr.get("arrive"))
            if fac is None or dep is None or arr is None:
                bad("exchange_transport", f"event {eid}: transport from {fid!r} names no facility or no times")
                continue
            people = int(tr.get("people", 0))
            sent[fid] += people
            if arr > ev["start"]:
                bad("exchange_travel", f"event {eid}: transport from {fid} arrives {arr.isoformat()}, after the event starts")
            need = road.get((fid, ev["point"]), math.inf)
            if not math.isfinite(need):
                bad("exchange_travel", f"event {eid}: no road from {fid} to {ev['point']}")
            elif (arr - dep).total_seconds() + _SLACK_S < need:
                bad("exchange_travel", f"event {eid}: transport from {fid} takes {(arr - dep).total_seconds() / 60:.0f} min; the road needs {need / 60:.0f} min")
            if ev["win"] is not None and f"window.{ev['point']}.{ev['wi']}" not in relaxed and dep < ev["win"].start:
                bad("exchange_window", f"event {eid}: transport from {fid} leaves {dep.isoformat()}, before the window opens")
            buses = _check_vehicle(spec, fac, tr, eid, bad)
            vt = str(tr.get("vehicle", "bus"))
            back = ev["end"] + (arr - dep)
            usage[(fid, vt)].append((dep, back, buses, eid))
            types[fid].add(vt)
            for c, n in (tr.get("categories") or {}).items():
                carried[(fid, str(c))] += int(n)
        listed = any(isinstance(tr, dict) and "categories" in tr for tr in ev["transports"])
        for (fid, c), n in sorted(ev["fc"].items()):
            if listed and carried.get((fid, c), 0) != n:
                bad("exchange_transport", f"event {eid}: {fid} releases {n} {c} but its transports carry {carried.get((fid, c), 0)}")
            elif not listed and fid in facilities and not types[fid] & set(spec.carriers(facilities[fid], c)):
                bad("exchange_vehicle", f"event {eid}: no vehicle from {fid} that may carry {c}")
        for fid in sorted(set(sent) | set(ev["fac_people"])):
            if sent.get(fid, 0) != ev["fac_people"].get(fid, 0):
                bad("exchange_transport", f"event {eid}: {fid} releases {ev['fac_people'].get(fid, 0)} but its transports carry {sent.get(fid, 0)}")
    for (fid, vt), ivs in sorted(usage.items()):
        have = facilities[fid].fleet().get(vt)
        for dep, _back, _b, eid in ivs:
            busy = sum(b for d0, d1, b, _e in ivs if d0 <= dep < d1)
            if have is not None and busy > have.count:
                bad("exchange_buses", f"{fid}: {busy} {vt} on the road when the transport for {eid} leaves; it has {have.count}")


def _check_manifests(spec: ExchangeSpec, exchange_dict: dict[str, Any], events: list[Any], folder: Path, bad: Any) -> None:
    roster = {p.id: p for p in spec.people}
    infos = exchange_dict.get("manifests") or []
    seen: dict[str, str] = {}
    listed: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
    for info in infos:
        if not isinstance(info, dict) or "file" not in info:
            bad("exchange_manifest", "a manifest entry names no file")
            continue
        path = (folder / str(info["file"])).resolve()
        if folder.resolve() not in path.parents:
            bad("exchange_manifest", f"manifest {info['file']} lies outside the plan's folder")
            continue
        if not path.exists():
            bad("exchange_manifest", f"manifest {info['file']} is missing")
            continue
        eid, party = str(info.get("event")), str(info.get("party"))
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            cols = [c.strip() for c in reader.fieldnames or []]
            for c in cols:
                low = c.casefold()
                if any(frag in low for frag in NAME_LIKE):
                    bad("exchange_name_column", f"manifest {info['file']} has a column {c!r}; names are never written")
                elif c not in MANIFEST_COLUMNS:
                    bad("exchange_manifest", f"manifest {info['file']} has an unexpected column {c!r}")
            got: dict[tuple[str, str], int] = defaultdict(int)
            for row_no, row in enumerate(reader, start=2):
                pid = (row.get("id") or "").strip()
                person = roster.get(pid)
                if person is None:
                    bad("exchange_unknown_person", f"manifest {info['file']} row {row_no}: {pid!r} is not on any roster")
                    continue
                if person.party != party:
                    bad("exchange_unknown_person", f"manifest {info['file']} row {row_no}: {pid!r} is not held by {party}")
                if pid in seen:
                    bad("exchange_duplicate_person", f"{pid!r} is in {seen[pid]} and in {info['file']}")
                seen[pid] = str(info["file"])
                if (row.get("facility") or "") != person.facility or (row.get("category") or "") != person.category:
                    bad("exchange_manifest", f"manifest {info['file']} row {row_no}: {pid!r} is at {person.facility} as {person.category} on the roster")
                got[(person.facility, person.category)] += 1
            listed[(eid, party)] = dict(got)
    # manifests agree with the events' counts; groups travel together
    for k, e in enumerate(events):
        if not isinstance(e, dict):
            continue
        eid = str(e.get("id", k))
        for party, facs in (e.get("counts") or {}).items():
            want = {(fid, c): int(n) for fid, fc in (facs or {}).items() for c, n in (fc or {}).items() if isinstance(n, int) and n}
            if not want:
                continue
            got = listed.get((eid, str(party)))
            if got is None:
                bad("exchange_manifest", f"event {eid}: no manifest for {party}")
            elif {k2: v for k2, v in got.items() if v} != want:
                bad("exchange_manifest", f"event {eid}: the manifest of {party} does not match the event's counts")
    where: dict[str, set[str]] = defaultdict(set)
    for pid, file in seen.items():
        g = roster[pid].group
        if g is not None:
            where[g].add(file)
    members: dict[str, int] = defaultdict(int)
    for p in spec.people:
        if p.group is not None:
            members[p.group] += 1
    for g, files in sorted(where.items()):
        n = sum(1 for pid in seen if roster[pid].group == g)
        if len(files) > 1 or n != members[g]:
            bad("exchange_group", f"group {g!r} is not handed over together ({n} of {members[g]} in {len(files)} manifests)")


__all__ = ["check_exchange", "NAME_LIKE"]
