"""Robustness sweeps: Monte Carlo of truce violations against a plan, on dask.distributed.

Each run samples disruptions from the scenario's ``disruptions`` section (a window cut
short, crossing points closing, delays at crossings, road segments closing, vehicle
breakdowns) and simulates the plan under them: a leg that cannot be completed (its window
has ended, its crossing or a road on it has closed, its vehicle broke down, or delays push
it past the window) is not driven, the vehicle stops there, and anyone on board is not
evacuated.  Run ``i`` draws from ``numpy.random.default_rng([seed, i])``, so results are the
same whatever the number of workers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from planner.disruptions import Disruptions, parse_disruptions
from planner.errors import PlannerError
from planner.plan import Plan, plan_data
from planner.scenario import GROUPS, Scenario

if TYPE_CHECKING:
    from planner.replan import Event


# --------------------------------------------------------------------------- compact plan


@dataclass
class SimLeg:
    vehicle: int
    depart: float
    arrive: float
    window: int  # index of the window holding the leg
    crossings: list[int]
    segments: list[int]
    delivers: dict[str, int]  # people who alight at the end of this leg
    boards: dict[str, int]


@dataclass
class SimPlan:
    """A plan reduced to what the simulation needs (seconds from the first window)."""

    windows: list[tuple[float, float]]
    vehicles: list[list[SimLeg]]
    crossing_ids: list[str]
    n_segments: int
    requested: dict[str, int]
    planned: dict[str, int]
    segment_cells: list[tuple[int, int]] = field(default_factory=list)  # grid cell of each segment
    vehicle_ids: list[str] = field(default_factory=list)


def compact_plan(plan: dict[str, Any], scenario: Scenario, segment_km: float = 10.0) -> SimPlan:
    """Turn plan.json data into a :class:`SimPlan`."""
    origin = scenario.ceasefire.windows[0].start

    def sec(s: str) -> float:
        return (datetime.fromisoformat(s) - origin).total_seconds()

    windows = [
        ((w.start - origin).total_seconds(), (w.end - origin).total_seconds())
        for w in scenario.ceasefire.windows
    ]
    cross_ids = sorted(
        {c for v in plan["vehicles"] for leg in v["legs"] for c in leg.get("crossings", [])}
    )
    seg_index: dict[tuple[int, int], int] = {}
    vehicles: list[list[SimLeg]] = []
    for vi, v in enumerate(plan["vehicles"]):
        stops = v["stops"]
        legs = []
        for leg in v["legs"]:
            dep, arr = sec(leg["depart"]), sec(leg["arrive"])
            win = next((i for i, (a, b) in enumerate(windows) if a <= dep and arr <= b), 0)
            segs: set[int] = set()
            for lon, lat in leg["path"]:
                key = (
                    int(math.floor(lon * 111.0 * math.cos(math.radians(lat)) / segment_km)),
                    int(math.floor(lat * 111.0 / segment_km)),
                )
                segs.add(seg_index.setdefault(key, len(seg_index)))
            stop = next(
                (s for s in stops if s["site"] == leg["to"] and abs(sec(s["arrive"]) - arr) < 1.0),
                None,
            )
            legs.append(
                SimLeg(
                    vehicle=vi,
                    depart=dep,
                    arrive=arr,
                    window=win,
                    crossings=[cross_ids.index(c) for c in leg.get("crossings", [])],
                    segments=sorted(segs),
                    delivers=dict(stop["alight"]) if stop else {},
                    boards=dict(stop["board"]) if stop else {},
                )
            )
        vehicles.append(legs)
    totals = plan["totals"]
    return SimPlan(
        windows=windows,
        vehicles=vehicles,
        crossing_ids=cross_ids,
        n_segments=len(seg_index),
        requested={g: int(totals["requested"].get(g, 0)) for g in GROUPS},
        planned={g: int(totals["evacuated"].get(g, 0)) for g in GROUPS},
        segment_cells=[cell for cell, _i in sorted(seg_index.items(), key=lambda kv: kv[1])],
        vehicle_ids=[v["id"] for v in plan["vehicles"]],
    )


# --------------------------------------------------------------------------- one run

REPLAN_BUDGET = 300
"""Solutions each re-plan of a sweep run may accept (deterministic work budget)."""


@dataclass
class Sample:
    """One run's sampled disruption (times in seconds from the first window's start)."""

    windows: list[tuple[float, float]]  # after cuts
    cut: list[bool]
    crossing_close: np.ndarray  # per crossing id of the plan (inf: stays open)
    segment_close: np.ndarray  # per segment (inf: stays open)
    breakdown: np.ndarray  # per vehicle (inf: no breakdown)
    events: list[str]


def sample_run(sim: SimPlan, dis: Disruptions, rng: np.random.Generator) -> Sample:
    """Draw one run's disruptions (a fixed number of draws in a fixed order)."""
    windows = list(sim.windows)
    events: list[str] = []
    cut_u = rng.random(len(windows))
    cut_h = rng.random(len(windows))
    cross_u = rng.random(len(sim.crossing_ids))
    cross_t = rng.random(len(sim.crossing_ids))
    seg_u = rng.random(sim.n_segments)
    seg_t = rng.random(sim.n_segments)
    veh_u = rng.random(len(sim.vehicles))
    veh_t = rng.random(len(sim.vehicles))
    span0, span1 = windows[0][0], windows[-1][1]
    cut = [False] * len(windows)
    if dis.window_cut:
        for i, (a, b) in enumerate(windows):
            if cut_u[i] < dis.window_cut.probability:
                c = min(b - a, cut_h[i] * dis.window_cut.max_hours * 3600.0)
                windows[i] = (a, b - c)
                cut[i] = True
                events.append(f"window {i + 1} cut short")
    cross_close = np.full(len(sim.crossing_ids), np.inf)
    if dis.crossing_closure:
        for i, cid in enumerate(sim.crossing_ids):
            if cross_u[i] < dis.crossing_closure.probability:
                cross_close[i] = span0 + cross_t[i] * (span1 - span0)
                events.append(f"crossing {cid} closed")
    seg_close = np.full(sim.n_segments, np.inf)
    if dis.road_closure:
        hit = seg_u < dis.road_closure.probability
        seg_close[hit] = span0 + seg_t[hit] * (span1 - span0)
        if hit.any():
            events.append("road segment closed")
    breakdown = np.full(len(sim.vehicles), np.inf)
    if dis.breakdown:
        hit = veh_u < dis.breakdown.probability
        breakdown[hit] = span0 + veh_t[hit] * (span1 - span0)
        if hit.any():
            events.append("vehicle breakdown")
    return Sample(windows, cut, cross_close, seg_close, breakdown, events)


def _drive(sim: SimPlan, dis: Disruptions, smp: Sample, rng: np.random.Generator) -> dict[str, int]:
    """Evacuated per group when the plan meets the sampled disruption (no re-planning)."""
    out = dict.fromkeys(GROUPS, 0)
    for legs in sim.vehicles:
        delay = 0.0
        for leg in legs:
            if dis.crossing_delay:
                for _c in leg.crossings:
                    delay += rng.exponential(dis.crossing_delay.mean_min * 60.0)
            dep, arr = leg.depart + delay, leg.arrive + delay
            ok = arr <= smp.windows[leg.window][1] and arr <= smp.breakdown[leg.vehicle]
            ok = ok and all(dep < smp.crossing_close[c] for c in leg.crossings)
            ok = ok and all(arr < smp.segment_close[s] for s in leg.segments)
            if not ok:
                break
            for g, n in leg.delivers.items():
                out[g] += int(n)
    return out


def simulate_run(sim: SimPlan, dis: Disruptions, seed: int, run: int) -> dict[str, Any]:
    """Simulate one sampled disruption; returns evacuated per group and what happened."""
    rng = np.random.default_rng([seed, run])
    smp = sample_run(sim, dis, rng)
    return {"run": run, "evacuated": _drive(sim, dis, smp, rng), "events": sorted(set(smp.events))}


def replan_run(
    scenario: Scenario,
    plan: dict[str, Any],
    sim: SimPlan,
    dis: Disruptions,
    seed: int,
    run: int,
    plan_kwargs: dict[str, Any],
) -> dict[str, Any]:
    """One run with re-planning: the same draws as :func:`simulate_run`, but at each
    disruption's time the plan is re-planned (:func:`planner.replan.replan`) knowing only what
    has happened so far, and the last plan is then driven under the sampled crossing delays.

    A window cut becomes a window shortened (or cancelled) at its new end, a crossing
    closure and a breakdown the matching events, a road segment closing a closed area over
    its ``segment_km`` cell.
    """
    rng = np.random.default_rng([seed, run])
    smp = sample_run(sim, dis, rng)
    km = dis.road_closure.segment_km if dis.road_closure else 10.0
    current, data, replans = _replan_at_each_disruption(
        scenario, plan, _timed_disruptions(sim, smp), km, plan_kwargs
    )
    if current.ceasefire.windows and replans:
        evacuated = _drive_last_plan(data, current, dis, seed, run)
    elif replans:
        evacuated = {g: int(data["totals"]["evacuated"].get(g, 0)) for g in GROUPS}
    else:  # nothing happened that a re-plan answers: the plan as it is
        evacuated = _drive(sim, dis, smp, rng)
    return {
        "run": run,
        "evacuated": evacuated,
        "events": sorted(set(smp.events)),
        "replans": replans,
    }


def _timed_disruptions(sim: SimPlan, smp: Sample) -> list[tuple[float, int, dict[str, Any]]]:
    """The sampled disruptions as ``(seconds, kind, details)``, in the order they happen."""
    timed: list[tuple[float, int, dict[str, Any]]] = []
    for i, was_cut in enumerate(smp.cut):
        if was_cut:
            timed.append(
                (
                    smp.windows[i][1],
                    0,
                    {"window_start": sim.windows[i][0], "end": smp.windows[i][1]},
                )
            )
    for i, t in enumerate(smp.crossing_close):
        if np.isfinite(t):
            timed.append((float(t), 1, {"close_crossing": sim.crossing_ids[i]}))
    for i, t in enumerate(smp.segment_close):
        if np.isfinite(t):
            timed.append((float(t), 2, {"cell": sim.segment_cells[i]}))
    for i, t in enumerate(smp.breakdown):
        if np.isfinite(t):
            timed.append((float(t), 3, {"vehicle_lost": sim.vehicle_ids[i]}))
    timed.sort(key=lambda e: (e[0], e[1], str(e[2])))
    return timed


def _replan_at_each_disruption(
    scenario: Scenario,
    plan: dict[str, Any],
    timed: list[tuple[float, int, dict[str, Any]]],
    km: float,
    plan_kwargs: dict[str, Any],
) -> tuple[Scenario, dict[str, Any], int]:
    """Re-plan at each time disruptions happen; the last scenario, plan data and re-plans."""
    from planner.network import prepare_network
    from planner.replan import apply_events, replan

    current, data, replans = scenario, plan, 0
    typed: Plan | None = None  # validated at the first re-plan: most runs need none
    network = None  # the base scenario's roads, loaded at the first re-plan and kept for the rest
    k = 0
    while k < len(timed):
        t = timed[k][0]
        batch = []
        while k < len(timed) and timed[k][0] == t:
            batch.append(timed[k][2])
            k += 1
        evs = _replan_events(batch, current, scenario, t, km, replans)
        if not evs:
            continue
        if network is None:
            network = prepare_network(scenario)
        if typed is None:
            typed = Plan.model_validate(plan)
        typed = replan(current, typed, evs, network=network, **plan_kwargs)
        current = apply_events(current, evs)
        data = plan_data(typed)
        replans += 1
    return current, data, replans


def _replan_events(
    batch: list[dict[str, Any]],
    current: Scenario,
    scenario: Scenario,
    t: float,
    km: float,
    replans: int,
) -> list[Event]:
    """The re-planner's events for the disruptions of one time ``t`` (seconds).

    ``current`` is the scenario as re-planned so far, ``scenario`` the base one whose first
    window's start is time zero; a disruption that no longer applies gives no event.
    """
    from planner.replan import Event

    origin = scenario.ceasefire.windows[0].start
    evs: list[Event] = []
    for e in batch:
        if "window_start" in e:
            window = _window_event(e, current, origin, t)
            if window is None:
                continue
            evs.append(window)
        elif "close_crossing" in e:
            if any(
                c.id == e["close_crossing"] and c.closed_from is None
                for c in current.ceasefire.crossing_points
            ):
                evs.append(Event(at=_at(origin, t), close_crossing=e["close_crossing"]))
        elif "cell" in e:
            evs.append(
                Event(
                    at=_at(origin, t),
                    hazard=_cell_hazard(e["cell"], km, f"sweep-closure-{len(evs)}-{replans}"),
                )
            )
        else:
            evs.append(Event(at=_at(origin, t), vehicle_lost=e["vehicle_lost"]))
    return evs


def _at(origin: datetime, seconds: float) -> datetime:
    """The time ``seconds`` after ``origin``."""
    return origin + timedelta(seconds=float(seconds))


def _window_event(
    cut: dict[str, Any], current: Scenario, origin: datetime, t: float
) -> Event | None:
    """A window cut short as a re-planner event (``None`` when the window is gone)."""
    from planner.replan import Event, WindowChange

    idx = next(
        (
            j
            for j, w in enumerate(current.ceasefire.windows)
            if (w.start - origin).total_seconds() == cut["window_start"]
        ),
        None,
    )
    if idx is None:
        return None
    w = current.ceasefire.windows[idx]
    change = (
        WindowChange(index=idx, cancel=True)
        if _at(origin, cut["end"]) <= w.start
        else WindowChange(index=idx, end=_at(origin, cut["end"]))
    )
    return Event(at=max(_at(origin, t), w.start), window=change)


def _drive_last_plan(
    data: dict[str, Any], current: Scenario, dis: Disruptions, seed: int, run: int
) -> dict[str, int]:
    """Evacuated per group when the last re-planned plan meets the sampled crossing delays."""
    # the re-planner has no event for a delay; its own stream, so the closures' draws
    # stay as they were
    final = compact_plan(data, current)
    delays_only = Disruptions(crossing_delay=dis.crossing_delay)
    still = Sample(
        list(final.windows),
        [False] * len(final.windows),
        np.full(len(final.crossing_ids), np.inf),
        np.full(final.n_segments, np.inf),
        np.full(len(final.vehicles), np.inf),
        [],
    )
    return _drive(final, delays_only, still, np.random.default_rng([seed, run, 1]))


def _cell_hazard(cell: tuple[int, int], km: float, hid: str) -> Any:
    """A closed area over one ``km`` cell of :func:`compact_plan`'s grid."""
    from planner.scenario import HazardItem

    kx, ky = cell
    lat0, lat1 = ky * km / 111.0, (ky + 1) * km / 111.0
    cos = math.cos(math.radians((lat0 + lat1) / 2))
    lon0, lon1 = kx * km / (111.0 * cos), (kx + 1) * km / (111.0 * cos)
    poly = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return HazardItem.model_validate({"id": hid, "kind": "closed", "polygon": poly})


def _batch(sim: SimPlan, dis: Disruptions, seed: int, runs: list[int]) -> list[dict[str, Any]]:
    return [simulate_run(sim, dis, seed, r) for r in runs]


def _replan_batch(
    scenario: Scenario,
    plan: dict[str, Any],
    sim: SimPlan,
    dis: Disruptions,
    seed: int,
    runs: list[int],
    plan_kwargs: dict[str, Any],
) -> list[dict[str, Any]]:
    return [replan_run(scenario, plan, sim, dis, seed, r, plan_kwargs) for r in runs]


# --------------------------------------------------------------------------- sweep


@dataclass
class SweepResult:
    """Figures of a sweep."""

    runs: int
    planned: dict[str, int]
    requested: dict[str, int]
    mean: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    p_all_wounded_out: float
    damaging: list[tuple[str, float, float]] = field(default_factory=list)
    """(event, share of runs, mean loss of evacuees when it happens vs when it does not)."""


def summarise(results: list[dict[str, Any]], sim: SimPlan) -> SweepResult:
    """Aggregate run results (order-independent: sorted by run number first)."""
    results = sorted(results, key=lambda r: r["run"])
    n = len(results)
    arr = {g: np.array([r["evacuated"][g] for r in results], dtype=float) for g in GROUPS}
    total = sum(arr.values(), start=np.zeros(n))
    mean = {g: float(a.mean()) for g, a in arr.items()}
    mean["total"] = float(total.mean())
    ci: dict[str, tuple[float, float]] = {}
    for g, a in [*arr.items(), ("total", total)]:
        half = 1.96 * float(a.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
        ci[g] = (float(a.mean()) - half, float(a.mean()) + half)
    wounded_req = sim.requested.get("wounded", 0)
    p_wounded = float(np.mean(arr["wounded"] >= wounded_req)) if n else 0.0
    kinds = sorted({e for r in results for e in r["events"]})
    damaging = []
    for k in kinds:
        with_k = np.array([k in r["events"] for r in results])
        if with_k.all():  # nothing to compare with: measure against the plan itself
            loss = float(sum(sim.planned.values()) - total[with_k].mean())
        else:
            loss = float(total[~with_k].mean() - total[with_k].mean())
        damaging.append((k, float(with_k.mean()), loss))
    damaging.sort(key=lambda t: (-t[2] * t[1], t[0]))
    planned = dict(sim.planned)
    planned["total"] = sum(sim.planned.values())
    return SweepResult(n, planned, dict(sim.requested), mean, ci, p_wounded, damaging)


def connect_scheduler(address: str, timeout_s: float) -> Any:
    """A dask ``Client`` of the scheduler at ``address``, or a one-line error within about
    ``timeout_s`` (a server that accepts the connection but never answers included).

    Raises
    ------
    PlannerError
    """
    import threading

    from dask.distributed import Client

    box: dict[str, Any] = {}

    def connect() -> None:
        try:
            box["client"] = Client(address, timeout=timeout_s)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout_s + 2.0)
    if "client" in box:
        return box["client"]
    why = f" ({box['error']})" if "error" in box else ""
    raise PlannerError(
        f"--scheduler {address}: no dask scheduler answered within {timeout_s:g} s{why} (--connect-timeout)"
    )


def run_sweep(
    scenario: Scenario,
    plan: Plan,
    runs: int,
    *,
    seed: int = 0,
    workers: int | None = None,
    scheduler: str | None = None,
    batch_size: int = 50,
    progress: Callable[[int, int], None] | None = None,
    replan: bool = False,
    plan_kwargs: dict[str, Any] | None = None,
    connect_timeout_s: float = 10.0,
) -> SweepResult:
    """Run a Monte Carlo sweep on dask.distributed.

    Parameters
    ----------
    scenario
        The scenario, with its ``disruptions`` section.
    plan
        The plan (as :func:`planner.plan.read_plan` reads it or
        :func:`planner.evacuation.plan_evacuation` makes it).
    runs
        Number of runs.
    seed
        Seed; run ``i`` uses ``default_rng([seed, i])``, so figures do not depend on workers.
    workers
        Workers of the LocalCluster (default: cores, at most 2); ignored with ``scheduler``.
    scheduler
        Address of an existing scheduler (``tcp://HOST:PORT``).
    batch_size
        Runs per task.
    progress
        Called with (done runs, all runs).
    replan
        Re-plan at each disruption (:func:`replan_run`) instead of only simulating; a run
        then takes seconds, not microseconds.
    plan_kwargs
        Search settings of each re-plan (default: one worker, a deterministic budget of
        :data:`REPLAN_BUDGET` solutions, so figures do not depend on the machine either).
    connect_timeout_s
        Seconds to reach ``scheduler`` (a :class:`~planner.errors.PlannerError` after that).

    Returns
    -------
    SweepResult
    """
    import os

    from dask.distributed import Client, LocalCluster, as_completed

    if logging.getLogger().getEffectiveLevel() > logging.INFO:  # dask's INFO lines only with -v
        logging.getLogger("distributed").setLevel(logging.WARNING)

    scenario.require_evacuation()
    dis = parse_disruptions(scenario)
    seg_km = dis.road_closure.segment_km if dis.road_closure else 10.0
    data = plan_data(plan)
    sim = compact_plan(data, scenario, seg_km)
    batches = [list(range(i, min(runs, i + batch_size))) for i in range(0, runs, batch_size)]
    cluster = None
    if scheduler:
        client = connect_scheduler(scheduler, connect_timeout_s)
    else:
        n = workers or max(1, min(2, os.cpu_count() or 1))
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    try:
        sim_f = client.scatter(sim, broadcast=True)
        if replan:
            kw = {
                "workers": 1,
                "budget": REPLAN_BUDGET,
                "time_limit_s": 600.0,
                "seed": seed,
                **(plan_kwargs or {}),
            }
            kw["workers"] = 1  # dask workers are daemons: no process pool inside
            sc_f, plan_f = (
                client.scatter(scenario, broadcast=True),
                client.scatter(data, broadcast=True),
            )
            futures = [
                client.submit(_replan_batch, sc_f, plan_f, sim_f, dis, seed, [r], kw, pure=False)
                for r in range(runs)
            ]
        else:
            futures = [client.submit(_batch, sim_f, dis, seed, b, pure=False) for b in batches]
        results: list[dict[str, Any]] = []
        for fut in as_completed(futures):
            results.extend(fut.result())
            if progress is not None:
                progress(len(results), runs)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return summarise(results, sim)
