"""Solving the repatriation model and turning the solution into the plan's part and manifests.

``schedule_repatriation(scenario)`` resolves the leg durations (the road network only when a
road leg needs it), builds the candidates and the CP-SAT model (:mod:`.model`), solves it in
two lexicographic phases (most children home; then who goes first, earliest) within a
deterministic budget, and returns a :class:`~planner.repatriation.result.RepatriationPlan`.
A greedy schedule (blocks in priority order, earliest group that has room and escorts) is
the first hint, so the result is never worse than it.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.repatriation.journey import Durations, Journey, resolve_durations
from planner.repatriation.model import (
    Candidates,
    CountModel,
    build_candidates,
    build_count_model,
    disaggregate,
    escort_span,
)
from planner.repatriation.result import (
    GroupOut,
    GuardianTrip,
    LegOut,
    PlanStatus,
    RepatriationPlan,
    RepatriationSolver,
    Waiting,
)
from planner.repatriation.spec import RepatriationSpec, parse_repatriation

if TYPE_CHECKING:
    from planner.network import PreparedNetwork
    from planner.scenario import Scenario

DEFAULT_BUDGET = 20.0
"""CP-SAT deterministic time of each phase (``max_deterministic_time``)."""


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="minutes")


def greedy(
    spec: RepatriationSpec,
    cand: Candidates,
    flexible_last: bool = False,
    prefer: dict[str, tuple[float, int]] | None = None,
) -> tuple[dict[str, int], dict[int, list[str]]]:
    """A feasible schedule: blocks in priority order, each in the earliest group with room.

    With ``flexible_last``, blocks that can join the fewest groups are placed first (more
    children home; priority breaks ties).  With ``prefer`` (a block's first child -> its
    share and group in a relaxed solution, see :func:`lp_preference`), the blocks it names
    come first, by share, each trying its group before the others.

    Returns
    -------
    tuple
        ``child id -> group index`` and ``group index -> escort ids``.
    """
    groups = cand.groups
    rest = timedelta(hours=spec.mediator.escort_rest_h)
    cap = dict(cand.capacity)
    size: dict[int, int] = {}
    units: dict[int, int] = {}
    escorts: dict[int, list[str]] = {}
    busy: dict[str, list[tuple[datetime, datetime]]] = {e.id: [] for e in spec.mediator.escorts}
    avail = {
        gi: [e.id for e in spec.mediator.escorts if e.dates is None or g.at.date() in set(e.dates)]
        for gi, g in enumerate(groups)
    }
    rank = {c: -w for c, w in cand.weight.items()}
    out: dict[str, int] = {}
    gmax = spec.mediator.group_size.max

    pref = prefer or {}

    def order(b: list[str]) -> tuple:
        prio = (min(rank[c] for c in b), b[0])
        first = (0, -pref[b[0]][0]) if b[0] in pref else (1, 0.0)
        return (*first, len(cand.eligible[b[0]]), *prio) if flexible_last else (*first, *prio)

    for block in sorted(cand.blocks, key=order):
        if any(c in cand.reasons for c in block):
            continue
        want = pref[block[0]][1] if block[0] in pref else -1
        for gi in sorted(
            cand.eligible[block[0]],
            key=lambda i: (i != want, groups[i].rank, groups[i].journey.arrive, i),
        ):
            g = groups[gi]
            if cap[(g.site, g.handover)] < len(block) or size.get(gi, 0) + len(block) > gmax:
                continue
            u = units.get(gi, 0) + sum(cand.units[c] for c in block)
            need = max(spec.mediator.min_escorts_per_group, math.ceil(u / cand.unit_scale))
            have = list(escorts.get(gi, []))
            span = (g.at, g.journey.arrive + rest)
            free = [
                k
                for k in avail[gi]
                if k not in have and all(b <= span[0] or a >= span[1] for a, b in busy[k])
            ]
            if len(have) + len(free) < need:
                continue
            for k in free[: need - len(have)]:
                busy[k].append(span)
                have.append(k)
            escorts[gi] = have
            units[gi] = u
            size[gi] = size.get(gi, 0) + len(block)
            cap[(g.site, g.handover)] -= len(block)
            for c in block:
                out[c] = gi
            break
    small = {gi for gi, n in size.items() if n < spec.mediator.group_size.min}
    return {c: gi for c, gi in out.items() if gi not in small}, {
        gi: k for gi, k in escorts.items() if gi not in small
    }


def earliness(cand: Candidates, assign: dict[str, int]) -> int:
    """The priority objective of a schedule: priority weight times handovers left, summed."""
    return sum(cand.weight[c] * (cand.n_ranks - cand.groups[gi].rank) for c, gi in assign.items())


def lp_preference(
    spec: RepatriationSpec, cand: Candidates, at_least: int
) -> dict[str, tuple[float, int]]:
    """Each block's largest share and its group in the LP relaxation of the priority phase
    (blocks in groups, group sizes and handover places; at least ``at_least`` children).

    That relaxation is nearly integral (a transportation problem but for sibling blocks),
    where the greedy schedule by priority is some 6 % below its value on the benchmark, and
    CP-SAT's search does not close that from the greedy hint: the shares order
    :func:`greedy` for a far better hint.  GLOP is deterministic.
    """
    from ortools.linear_solver import pywraplp

    lp = pywraplp.Solver.CreateSolver("GLOP")
    blocks = cand.model_blocks
    x = {
        (bi, gi): lp.NumVar(0.0, 1.0, "")
        for bi, b in enumerate(blocks)
        for gi in cand.eligible[b[0]]
    }
    rows: dict[Any, list[Any]] = {}
    for (bi, gi), v in x.items():
        g = cand.groups[gi]
        rows.setdefault(("b", bi), []).append(v)
        rows.setdefault(("g", gi), []).append(len(blocks[bi]) * v)
        rows.setdefault(("h", g.site, g.handover), []).append(len(blocks[bi]) * v)
    gmax = spec.mediator.group_size.max
    for key, terms in rows.items():
        cap = 1 if key[0] == "b" else gmax if key[0] == "g" else cand.capacity[(key[1], key[2])]
        lp.Add(lp.Sum(terms) <= cap)
    lp.Add(lp.Sum([len(blocks[bi]) * v for (bi, _gi), v in x.items()]) >= at_least)
    weight = [sum(cand.weight[c] for c in b) for b in blocks]
    lp.Maximize(
        lp.Sum(
            [weight[bi] * (cand.n_ranks - cand.groups[gi].rank) * v for (bi, gi), v in x.items()]
        )
    )
    if lp.Solve() != pywraplp.Solver.OPTIMAL:
        return {}
    out: dict[str, tuple[float, int]] = {}
    for (bi, gi), v in x.items():
        share = v.solution_value()
        head = blocks[bi][0]
        if share > 1e-6 and (head not in out or share > out[head][0]):
            out[head] = (share, gi)
    return out


def assign_escorts(
    spec: RepatriationSpec,
    cand: Candidates,
    counts: dict[tuple[int, int], int],
    classes: list[list[str]],
) -> dict[int, list[str]]:
    """Concrete escorts from counts per class and group: groups in order of their handover
    time take free escorts of the class, first by id (exact when, at every handover time, the
    groups under way need no more than the class has)."""
    out: dict[int, list[str]] = {}
    for ci, cls in enumerate(classes):
        free_at: dict[str, datetime | None] = dict.fromkeys(cls, None)
        todo = sorted(
            (gi for (c, gi), n in counts.items() if c == ci and n > 0),
            key=lambda i: (cand.groups[i].at, cand.groups[i].id),
        )
        for gi in todo:
            start, end = escort_span(spec, cand.groups[gi])
            free = [k for k in cls if (busy := free_at[k]) is None or busy <= start]
            for k in free[: counts[(ci, gi)]]:
                free_at[k] = end
                out.setdefault(gi, []).append(k)
    return {gi: sorted(v) for gi, v in out.items()}


def _count_hint(
    cm: CountModel, cand: Candidates, assign: dict[str, int], escorts: dict[int, list[str]]
) -> None:
    cls_of = {bi: k for k, bis in enumerate(cm.classes) for bi in bis}
    counts: dict[tuple[int, int], int] = {}
    for bi, b in enumerate(cand.model_blocks):
        if b[0] in assign:
            key = (cls_of[bi], assign[b[0]])
            counts[key] = counts.get(key, 0) + 1
    for key, v in cm.n.items():
        cm.cp.add_hint(v, counts.get(key, 0))
    # A complete hint: CP-SAT then takes the greedy schedule as its first solution at once
    # (an incomplete one is only completed by a search that follows it, seconds later).
    used = set(assign.values())
    for gi, y in cm.used.items():
        cm.cp.add_hint(y, gi in used)
    for (ci, gi), v in cm.esc.items():
        cm.cp.add_hint(v, len(set(escorts.get(gi, ())) & set(cm.escort_classes[ci])))


PRESOLVE_UP_TO = 5000
"""Models with more Boolean variables than this are solved without CP-SAT's presolve: on
the benchmark (2,000 children, 30,000 variables) presolve alone took 10 s, while the search
without it reaches 0.2 % of the bound in 8 s."""


def _solver(
    workers: int, seed: int, budget: float, time_limit_s: float | None, n_vars: int = 0
) -> Any:
    from ortools.sat.python import cp_model

    s = cp_model.CpSolver()
    s.parameters.cp_model_presolve = n_vars <= PRESOLVE_UP_TO
    s.parameters.num_workers = max(1, int(workers))
    if workers > 1:
        s.parameters.interleave_search = True  # deterministic whatever the number of workers
        # Stop is only checked between batches: a batch of one task per worker lets a phase
        # end as soon as its gap is reached (with the default batch, all eight full-problem
        # subsolvers finish their task first: 10 s instead of 3 s on the benchmark).
        s.parameters.interleave_batch_size = max(1, int(workers))
    s.parameters.random_seed = int(seed)
    s.parameters.max_deterministic_time = float(budget)
    if time_limit_s is not None:
        s.parameters.max_time_in_seconds = float(time_limit_s)
    return s


def _priority_phase(
    spec: RepatriationSpec,
    cand: Candidates,
    first: dict[str, int],
    first_esc: dict[int, list[str]],
    *,
    workers: int,
    seed: int,
    budget: float,
    gap: float,
    time_limit_s: float | None,
) -> tuple[dict[str, int], dict[int, list[str]], int, int, Any]:
    """The second phase: as many children home as ``first``, who goes first earliest.

    Solved on classes of blocks interchangeable for both objectives (same groups, size,
    escort units and priority weight), where the priority objective is linear in the counts:
    the same optimum as on the blocks themselves, and a far tighter bound.
    """
    from ortools.sat.python import cp_model

    cm = build_count_model(spec, cand, by_weight=True)
    cm.cp.add(cm.count >= len(first))
    # The greedy schedule the LP relaxation orders has fewer children than ``first`` (the
    # greedy drops groups under the least size) but is far earlier: as a hint that is not
    # feasible it guides the search, which repairs it within 0.5 % of the bound at once.
    prefer = lp_preference(spec, cand, len(first))
    tries = [(first, first_esc)] + [greedy(spec, cand, flex, prefer) for flex in (False, True)]
    _count_hint(cm, cand, *max(tries, key=lambda t: earliness(cand, t[0])))
    cm.cp.maximize(cm.earliness)
    s = _solver(1 if gap > 0 else workers, seed, budget, time_limit_s, len(cm.n))
    s.parameters.relative_gap_limit = float(gap)
    st = s.solve(cm.cp)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return first, first_esc, 0, 0, st
    counts = {key: int(s.value(v)) for key, v in cm.n.items()}
    assign = disaggregate(cand, cm, counts)
    esc = assign_escorts(
        spec, cand, {key: int(s.value(v)) for key, v in cm.esc.items()}, cm.escort_classes
    )
    value = int(round(s.objective_value))
    return assign, esc, value, int(math.floor(s.best_objective_bound + 1e-6)), st


def solve(
    spec: RepatriationSpec,
    cand: Candidates,
    *,
    workers: int = 1,
    seed: int = 0,
    budget: float = DEFAULT_BUDGET,
    time_limit_s: float | None = None,
    gap: float = 0.0,
) -> tuple[dict[str, int], dict[int, list[str]], dict[str, Any]]:
    """Solve both phases; returns ``child -> group index``, ``group -> escorts`` and figures.

    ``time_limit_s`` caps both phases together (wall clock, a safety net); ``gap`` lets each
    phase stop within that share of its bound (0: prove both optima, each phase then on
    ``workers``); with a gap, each phase runs on one worker, which stops as soon as it is
    within the gap (interleaved workers stop only at the end of a batch).
    """
    import time

    from ortools.sat.python import cp_model

    t_start = time.monotonic()

    blocks = [b for b in cand.blocks if not any(c in cand.reasons for c in b)]
    cand.model_blocks = blocks
    t_built = time.monotonic()
    start, start_esc = max(
        (greedy(spec, cand, flex) for flex in (False, True)), key=lambda r: len(r[0])
    )
    if not any(cand.eligible[b[0]] for b in blocks):
        return (
            {},
            {},
            {"status": "OPTIMAL", "returned_bound": 0, "earliness": 0, "earliness_bound": 0},
        )
    cm = build_count_model(spec, cand)
    _count_hint(cm, cand, start, start_esc)
    cm.cp.maximize(cm.count)
    # With a gap to stop at, one worker: it stops as soon as its bound comes within the gap
    # of the hinted greedy schedule, where interleaved workers stop only at the end of a batch
    # (2 s instead of 7 s on the benchmark, which then reaches a 0.2 % gap).
    s1 = _solver(1 if gap > 0 else workers, seed, budget, time_limit_s, len(cm.n))
    s1.parameters.relative_gap_limit = float(gap)
    st1 = s1.solve(cm.cp)
    if st1 not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        bound = sum(1 for c in cand.eligible if c not in cand.reasons)
        return (
            start,
            start_esc,
            {
                "status": s1.status_name(st1),
                "returned_bound": bound,
                "earliness": 0,
                "earliness_bound": 0,
            },
        )
    bound = int(math.floor(s1.best_objective_bound + 1e-6))
    first = disaggregate(cand, cm, {key: int(s1.value(v)) for key, v in cm.n.items()})
    first_esc = assign_escorts(
        spec, cand, {key: int(s1.value(v)) for key, v in cm.esc.items()}, cm.escort_classes
    )
    if len(start) > len(first):
        first, first_esc = start, start_esc
    t_phase1 = time.monotonic()
    final, final_esc, e_val, e_bound, st2 = _priority_phase(
        spec, cand, first, first_esc, workers=workers, seed=seed, budget=budget, gap=gap,
        time_limit_s=None if time_limit_s is None else max(1.0, time_limit_s - (t_phase1 - t_start)),
    )  # fmt: skip
    # CP-SAT says OPTIMAL when it stops within ``gap``: the plan says so only when proved
    proved = st1 == st2 == cp_model.OPTIMAL and len(final) >= bound and e_val >= e_bound
    status = "OPTIMAL" if proved else "FEASIBLE"
    info = {
        "status": status,
        "returned_bound": max(bound, len(final)),
        "earliness": e_val,
        "earliness_bound": e_bound,
        "seconds": {
            "model": t_built - t_start,
            "phase 1": t_phase1 - t_built,
            "phase 2": time.monotonic() - t_phase1,
        },
    }
    return final, _trim_escorts(spec, cand, final, final_esc), info


def _legs(j: Journey) -> list[LegOut]:
    return [
        LegOut(
            leg=p.leg,
            **{"from": p.frm},
            to=p.to,
            mode=p.mode,
            depart=_iso(p.depart),
            arrive=_iso(p.arrive),
            leave=_iso(p.leave),
            crossing=p.crossing,
            overnight=p.overnight,
        )
        for p in j.passages
    ]


def _trim_escorts(
    spec: RepatriationSpec, cand: Candidates, assign: dict[str, int], chosen: dict[int, list[str]]
) -> dict[int, list[str]]:
    """Each used group keeps, of the escorts the solution gave it, only as many as it needs
    (by the children's ages, and the least per group), first by id."""
    members: dict[int, list[str]] = {}
    for c, gi in assign.items():
        members.setdefault(gi, []).append(c)
    out: dict[int, list[str]] = {}
    for gi, kids in members.items():
        units = sum(cand.units[c] for c in kids)
        need = max(spec.mediator.min_escorts_per_group, math.ceil(units / cand.unit_scale))
        out[gi] = sorted(chosen.get(gi, []))[:need]
    return out


def to_plan(
    spec: RepatriationSpec,
    cand: Candidates,
    dur: Durations,
    assign: dict[str, int],
    esc: dict[int, list[str]],
    info: dict[str, Any],
    *,
    workers: int,
    seed: int,
    budget: float,
) -> RepatriationPlan:
    """The plan's ``repatriation`` part from a solution."""
    children = spec.child_list()
    members: dict[int, list[str]] = {}
    for c, gi in sorted(assign.items()):
        members.setdefault(gi, []).append(c)
    byid = {c.id: c for c in children}
    groups_out, trips_out = [], []
    for gi in sorted(members, key=lambda i: (cand.groups[i].at, cand.groups[i].id)):
        g = cand.groups[gi]
        kids = sorted(members[gi])
        guardians = sorted(
            {str(byid[c].guardian) for c in kids if byid[c].handover_to == "guardian"}
        )
        groups_out.append(
            GroupOut(
                id=g.id, site=g.site, handover_at=_iso(g.at), route=g.route, depart=_iso(g.journey.depart), arrive=_iso(g.journey.arrive),
                max_travel_day_min=round(g.journey.max_day_min, 1), nights=g.journey.nights, children=kids, escorts=esc.get(gi, []),
                guardians=guardians, legs=_legs(g.journey),
            )
        )  # fmt: skip
        for gid in guardians:
            trip = cand.guardian_trips[(gid, gi)]
            mine = [
                c for c in kids if byid[c].guardian == gid and byid[c].handover_to == "guardian"
            ]
            trips_out.append(
                GuardianTrip(
                    guardian=gid,
                    children=mine,
                    group=g.id,
                    route=trip.route,
                    depart=_iso(trip.depart),
                    arrive=_iso(trip.arrive),
                    legs=_legs(trip),
                )
            )
    waiting = []
    for child in children:
        if child.id in assign:
            continue
        code, detail = cand.reasons.get(
            child.id,
            (
                "no_handover_date_left",
                "the handovers it could join are full (places, group sizes or escorts)",
            ),
        )
        waiting.append(Waiting(child=child.id, reason=code, detail=detail))
    n = len(children)
    status: PlanStatus = (
        "complete" if assign and len(assign) == n else "partial" if assign else "empty"
    )
    solver = RepatriationSolver(
        status=str(info["status"]), returned_bound=int(info["returned_bound"]), earliness=int(info.get("earliness", 0)),
        earliness_bound=int(info.get("earliness_bound", 0)), workers=workers, budget=budget, seed=seed,
    )  # fmt: skip
    return RepatriationPlan(
        status=status, children=n, returned=len(assign), bound=int(info["returned_bound"]), groups=groups_out,
        guardian_journeys=sorted(trips_out, key=lambda t: (t.group, t.guardian)), waiting=waiting,
        network_legs=sorted(f"{r}#{j}" for r, j in dur.network_legs), solver=solver,
    )  # fmt: skip


def schedule_repatriation(
    scenario: Scenario,
    spec: RepatriationSpec | None = None,
    *,
    network: PreparedNetwork | None = None,
    workers: int = 1,
    seed: int = 0,
    budget: float = DEFAULT_BUDGET,
    time_limit_s: float | None = None,
) -> RepatriationPlan:
    """Schedule the journeys home of a scenario's ``repatriation`` section.

    Parameters
    ----------
    scenario
        A validated scenario with a ``repatriation`` section.
    spec
        Its parsed section (parsed here when not given).
    network
        The prepared road network, if one is at hand (loaded only when a road leg needs it).
    workers, seed, budget
        CP-SAT workers, seed and deterministic time per phase: the same three give the same plan.
    time_limit_s
        A wall-clock safety net (the plan may then differ between machines).

    Returns
    -------
    RepatriationPlan
    """
    sp = spec if spec is not None else parse_repatriation(scenario)
    assert sp is not None, "the scenario has no repatriation section"
    dur = resolve_durations(scenario, sp, network)
    cand = build_candidates(sp, dur)
    assign, esc, info = solve(
        sp, cand, workers=workers, seed=seed, budget=budget, time_limit_s=time_limit_s
    )
    return to_plan(sp, cand, dur, assign, esc, info, workers=workers, seed=seed, budget=budget)


def manifest_csv(group: dict[str, Any], spec: RepatriationSpec) -> str:
    """A group's manifest: one row per child, pseudonymous ids only."""
    byid = {c.id: c for c in spec.child_list()}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "group",
            "handover_at",
            "site",
            "route",
            "child",
            "age",
            "sibling_group",
            "medical",
            "guardian",
            "escorts",
            "documents",
        ]
    )
    for cid in group["children"]:
        c = byid.get(cid)
        w.writerow([
            group["id"], group["handover_at"], group["site"], group["route"], cid, c.age if c else "", (c.sibling_group or "") if c else "",
            "yes" if c and c.medical else "", (c.guardian or "") if c and c.handover_to == "guardian" else "", " ".join(group["escorts"]),
            " ".join(sorted(c.documents)) if c else "",
        ])  # fmt: skip
    return buf.getvalue()


def write_manifests(plan: dict[str, Any], spec: RepatriationSpec, folder: str | Path) -> list[Path]:
    """Write ``manifests/repatriation_<group>.csv`` for every group; returns the paths."""
    from planner.plan import write_atomic

    out = []
    for g in plan.get("groups") or []:
        p = Path(folder) / "manifests" / f"repatriation_{g['id']}.csv"
        write_atomic(p, manifest_csv(g, spec))
        out.append(p)
    return out


def summary_rows(plan: dict[str, Any]) -> list[list[str]]:
    """The CLI table: a header, then one row per group."""
    rows = [
        [
            "group",
            "handover",
            "route",
            "children",
            "escorts",
            "guardians",
            "home",
            "nights",
            "longest day h",
        ]
    ]
    for g in plan.get("groups") or []:
        rows.append([
            g["id"], g["handover_at"][:16].replace("T", " "), g["route"], str(len(g["children"])), str(len(g["escorts"])), str(len(g["guardians"])),
            g["arrive"][:16].replace("T", " "), str(g["nights"]), f"{g['max_travel_day_min'] / 60:.1f}",
        ])  # fmt: skip
    return rows


def attach_repatriation(
    scenario: Scenario,
    plan: Any,
    *,
    network: PreparedNetwork | None = None,
    seed: int | None = None,
    workers: int | None = None,
    budget: float | None = None,
    time_limit_s: float | None = None,
) -> None:
    """Give the plan its ``repatriation`` part when the scenario has that section."""
    if (
        getattr(scenario, "repatriation", None) is None
        or getattr(plan, "repatriation", None) is not None
    ):
        return
    plan.repatriation = schedule_repatriation(
        scenario, network=network, seed=seed if seed is not None else int(getattr(plan, "seed", 0)), workers=workers or 1,
        budget=budget if budget is not None else DEFAULT_BUDGET, time_limit_s=time_limit_s,
    )  # fmt: skip


def write_repatriation_outputs(
    scenario: Scenario, plan: Any, folder: str | Path
) -> dict[str, Path]:
    """Write the manifests of the plan's repatriation groups; returns ``{"manifests": folder}``."""
    if getattr(plan, "repatriation", None) is None:
        return {}
    spec = parse_repatriation(scenario)
    if spec is None:
        return {}
    part = plan.repatriation.model_dump(mode="json", by_alias=True)
    paths = write_manifests(part, spec, folder)
    return {"manifests": paths[0].parent} if paths else {}
