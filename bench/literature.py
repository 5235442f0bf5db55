"""Literature benchmarks for the routing core: Solomon (100) and Gehring-Homberger (200) VRPTW.

Reads the TSPLIB-style ``.vrptw`` instances and ``reference.csv`` from
``../shared/benchmarks/<set>/`` (see its README), turns every instance into the very
:class:`planner.routing.RoutingProblem` the evacuation planner solves (same module, same
search settings), solves it with a per-instance time limit and prints one row per instance:
vehicles, distance, reference vehicles and distance, gap %, time and whether an independent
checker finds the solution feasible.  Then the per-class means (C1, C2, R1, R2, RC1, RC2),
the overall mean gap and the number of feasible solutions.

Distances follow the reference's convention:

* ``FLOOR_2D`` with ``SCALE : 10`` (Solomon): an arc costs floor(10 × Euclidean) tenths, so
  the model works in exact integer tenths (travel time = distance, also in tenths);
* ``EXACT_2D`` (Homberger): plain Euclidean distance; the model uses thousandths, costs
  rounded and travel times rounded *up* (so a solution feasible for the model is feasible
  with exact distances), and the checker reports the exact Euclidean total.

The feasibility checker (:func:`check_solution`) shares nothing with ``planner.routing``:
it recomputes loads, arrival and service-start times, the fleet size, that every customer
is served exactly once, and the distance in the reference convention from the raw instance.

Run ``python bench/literature.py --help``.  Example (the figures in bench/RESULTS.md)::

    python bench/literature.py --set solomon100 --time-limit 60 --workers 2 --out bench/solomon100.md
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CLASSES = ("C1", "C2", "R1", "R2", "RC1", "RC2")
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
EPS = 1e-6


# --------------------------------------------------------------------------- instances


@dataclass
class Instance:
    """One VRPTW instance as in the file; node 0 is the depot, 1..n the customers."""

    name: str
    vehicles: int
    capacity: int
    edge_weight_type: str
    scale: float
    x: list[float]
    y: list[float]
    demand: list[int]
    ready: list[float]
    due: list[float]
    service: list[float]
    header: dict[str, str] = field(default_factory=dict)

    @property
    def n_customers(self) -> int:
        return len(self.x) - 1

    @property
    def klass(self) -> str:
        return instance_class(self.name)


def instance_class(name: str) -> str:
    """``C1``, ``C2``, ``R1``, ``R2``, ``RC1`` or ``RC2`` from an instance name."""
    m = re.match(r"^(RC|C|R)(\d)", name.upper())
    return f"{m.group(1)}{m.group(2)}" if m else "?"


def parse_vrptw(path: Path | str) -> Instance:
    """Parse a TSPLIB-style CVRPTW file (README of the benchmarks folder)."""
    header: dict[str, str] = {}
    sections: dict[str, dict[int, list[float]]] = {}
    section: str | None = None
    depot: list[int] = []
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line == "EOF":
            continue
        m = re.match(r"^([A-Z_]+)\s*:\s*(.*)$", line)
        if m and not line.endswith("SECTION"):
            header[m.group(1)] = m.group(2).strip()
            section = None
            continue
        if re.match(r"^[A-Z_]+SECTION$", line):
            section = line
            sections.setdefault(section, {})
            continue
        parts = line.split()
        if section == "DEPOT_SECTION":
            depot.extend(int(p) for p in parts if int(p) >= 0)
        elif section is not None:
            sections[section][int(parts[0])] = [float(p) for p in parts[1:]]
        else:
            raise ValueError(f"{path}: unexpected line {raw!r}")
    coords = sections["NODE_COORD_SECTION"]
    ids = sorted(coords)
    dim = int(header.get("DIMENSION", len(ids)))
    if len(ids) != dim:
        raise ValueError(f"{path}: DIMENSION {dim} but {len(ids)} coordinates")
    depot_id = depot[0] if depot else ids[0]
    order = [depot_id] + [i for i in ids if i != depot_id]
    dem = sections.get("DEMAND_SECTION", {})
    tw = sections["TIME_WINDOW_SECTION"]
    svc = float(header.get("SERVICE_TIME", 0))
    ewt = header.get("EDGE_WEIGHT_TYPE", "EXACT_2D").upper()
    return Instance(
        name=header.get("NAME", Path(path).name.split(".")[0]),
        vehicles=int(header["VEHICLES"]),
        capacity=int(header["CAPACITY"]),
        edge_weight_type=ewt,
        scale=float(header.get("SCALE", 1)),
        x=[coords[i][0] for i in order],
        y=[coords[i][1] for i in order],
        demand=[int(dem.get(i, [0])[0]) for i in order],
        ready=[tw[i][0] for i in order],
        due=[tw[i][1] for i in order],
        service=[0.0 if i == depot_id else svc for i in order],
        header=header,
    )


def read_reference(folder: Path) -> dict[str, tuple[int, float]]:
    """``reference.csv``: instance → (vehicles, distance)."""
    path = folder / "reference.csv"
    if not path.exists():
        return {}
    with path.open() as fh:
        return {
            r["instance"]: (int(r["vehicles"]), float(r["distance"])) for r in csv.DictReader(fh)
        }


# --------------------------------------------------------------------------- independent checker


@dataclass
class Check:
    feasible: bool
    vehicles: int
    distance: float
    errors: list[str]


def _arc(inst: Instance, i: int, j: int) -> float:
    """Distance (= travel time) of arc i → j in the reference convention, in instance units."""
    d = math.hypot(inst.x[i] - inst.x[j], inst.y[i] - inst.y[j])
    if inst.edge_weight_type == "FLOOR_2D":
        return math.floor(inst.scale * d + EPS) / inst.scale
    if inst.edge_weight_type == "EXACT_2D":
        return d
    raise ValueError(f"edge weight type {inst.edge_weight_type} not supported")


def check_solution(
    inst: Instance, routes: list[list[int]], *, dropped: list[int] | None = None
) -> Check:
    """Check routes (customer indices 1..n, depot 0 implicit at both ends) against the
    instance, independently of the solver: capacity, time windows (service starts in its
    window, waiting allowed), return to the depot before its due time, fleet size, every
    customer exactly once.  Distance is recomputed in the reference convention."""
    errors: list[str] = []
    used = [r for r in routes if r]
    if len(used) > inst.vehicles:
        errors.append(f"{len(used)} vehicles > fleet {inst.vehicles}")
    seen: dict[int, int] = {}
    total = 0.0
    for v, route in enumerate(used):
        load = 0
        t = inst.ready[0]
        prev = 0
        dist = 0.0
        for c in route:
            if not 1 <= c <= inst.n_customers:
                errors.append(f"route {v}: node {c} is not a customer")
                continue
            seen[c] = seen.get(c, 0) + 1
            arc = _arc(inst, prev, c)
            dist += arc
            arrive = t + inst.service[prev] + arc
            start = max(arrive, inst.ready[c])
            if start > inst.due[c] + EPS:
                errors.append(
                    f"route {v}: customer {c} starts at {start:g} after due {inst.due[c]:g}"
                )
            load += inst.demand[c]
            t, prev = start, c
        arc = _arc(inst, prev, 0)
        dist += arc
        back = t + inst.service[prev] + arc
        if back > inst.due[0] + EPS:
            errors.append(f"route {v}: back at the depot at {back:g} after {inst.due[0]:g}")
        if load > inst.capacity:
            errors.append(f"route {v}: load {load} > capacity {inst.capacity}")
        total += dist
    for c in range(1, inst.n_customers + 1):
        k = seen.get(c, 0)
        if k == 0:
            errors.append(f"customer {c} not served")
        elif k > 1:
            errors.append(f"customer {c} served {k} times")
    if dropped:
        errors.append(f"solver dropped {len(dropped)} customers")
    if inst.edge_weight_type == "FLOOR_2D":
        total = round(total * inst.scale) / inst.scale  # exact multiple of 1/scale
    return Check(feasible=not errors, vehicles=len(used), distance=total, errors=errors)


# --------------------------------------------------------------------------- routing model


DROP_PENALTY = 10**7
"""Drop penalty of a customer: far above any route cost, so dropping is a last resort (and
counted infeasible).  Mandatory nodes (penalty -1) make the first solution fail too often."""


def model_units(inst: Instance) -> float:
    """Model units per instance unit: 10 for Solomon (exact tenths), 1000 otherwise."""
    if inst.edge_weight_type == "FLOOR_2D":
        return inst.scale
    return 1000.0


def to_problem(inst: Instance):  # noqa: ANN201 - planner.routing.RoutingProblem
    """The instance as the routing core's :class:`RoutingProblem` (depot 0 and an end copy
    n+1; one vehicle per fleet slot; objective = total distance)."""
    from planner.routing import RoutingProblem

    u = model_units(inst)
    xy = np.column_stack([inst.x, inst.y])
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    if inst.edge_weight_type == "FLOOR_2D":
        cost = np.floor(u * d + EPS).astype(np.int64)
        ttime = cost
    else:
        cost = np.rint(u * d).astype(np.int64)
        ttime = np.ceil(u * d - EPS).astype(np.int64)
    n = len(inst.x)
    end = n

    def with_end(m: np.ndarray) -> np.ndarray:
        out = np.zeros((n + 1, n + 1), dtype=np.int64)
        out[:n, :n] = m
        out[:n, end] = m[:, 0]
        out[end, :n] = m[0, :]
        return out

    horizon = int(math.floor(u * inst.due[0] + EPS))
    windows = [
        (int(math.ceil(u * a - EPS)), int(math.floor(u * b + EPS)))
        for a, b in zip(inst.ready, inst.due, strict=True)
    ]
    windows.append((0, horizon))
    service = np.array([int(math.ceil(u * s - EPS)) for s in inst.service] + [0], dtype=np.int64)
    return RoutingProblem(
        time=with_end(ttime),
        cost=with_end(cost),
        service=service,
        demand=np.array(list(inst.demand) + [0], dtype=np.int64),
        windows=windows,
        penalty=np.full(n + 1, DROP_PENALTY, dtype=np.int64),
        vehicle_capacity=[inst.capacity] * inst.vehicles,
        vehicle_start=[0] * inst.vehicles,
        vehicle_end=[end] * inst.vehicles,
        horizon=horizon,
        vehicle_earliest=[int(math.ceil(u * inst.ready[0] - EPS))] * inst.vehicles,
    )


@dataclass
class Row:
    instance: str
    klass: str
    vehicles: int
    distance: float
    ref_vehicles: int | None
    ref_distance: float | None
    gap: float | None
    time_s: float
    feasible: bool
    errors: list[str]
    stopped_by: str = ""


FEASIBILITY_FIRST = 0.5
"""Share of each worker's time the benchmark gives the routing core's feasibility phase
(:attr:`planner.routing.SolveParams.feasibility_first`): the fleet limit of some instances
(RC101, RC103, RC106) equals the reference's vehicle count, and the distance search alone
often leaves one customer unserved there."""

FEASIBILITY_LAMBDA = 0.5
"""Guided local search coefficient of the feasibility phase
(:attr:`planner.routing.SolveParams.feasibility_lambda`)."""

EARLY_COST = 10
"""Cost per model time unit that a service starts after its window opens, in the
feasibility phase (:attr:`planner.routing.SolveParams.feasibility_early_cost`); distance
costs 1 per model unit, and time and distance share the unit (tenths for Solomon)."""


def solve_instance(
    inst: Instance,
    ref: tuple[int, float] | None,
    time_limit: float,
    workers: int,
    seed: int,
    *,
    feasibility_first: float = FEASIBILITY_FIRST,
    feasibility_lambda: float = FEASIBILITY_LAMBDA,
    early_cost: int = EARLY_COST,
    solution_limit: int | None = None,
    solver: str = "ortools",
) -> Row:
    from planner.routing import SolveParams, solve_routing

    problem = to_problem(inst)
    params = SolveParams(
        time_limit_s=time_limit,
        seed=seed,
        workers=workers,
        solution_limit=solution_limit,
        feasibility_first=feasibility_first,
        feasibility_lambda=feasibility_lambda,
        feasibility_early_cost=early_cost,
        solver=solver,
    )
    t0 = time.perf_counter()
    result = solve_routing(problem, params)
    wall = time.perf_counter() - t0
    chk = check_solution(inst, result.routes, dropped=result.dropped)
    gap = None
    if ref is not None and ref[1] > 0:
        gap = 100.0 * (chk.distance - ref[1]) / ref[1]
    return Row(
        instance=inst.name,
        klass=inst.klass,
        vehicles=chk.vehicles,
        distance=chk.distance,
        ref_vehicles=ref[0] if ref else None,
        ref_distance=ref[1] if ref else None,
        gap=gap,
        time_s=wall,
        feasible=chk.feasible,
        errors=chk.errors,
        stopped_by=result.stopped_by,
    )


# --------------------------------------------------------------------------- report


def _fmt(v: float | None, nd: int = 2) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def summarise(rows: list[Row]) -> list[tuple[str, int, float | None, float | None, float, int]]:
    """Per class and overall: (class, instances, mean gap % of the feasible solutions, mean
    gap % of all rows, mean vehicles, feasible).  A solution that drops a customer can be
    shorter than the reference, so only the first mean is a fair figure."""
    out = []
    groups = [(k, [r for r in rows if r.klass == k]) for k in CLASSES]
    groups.append(("all", rows))
    for k, rs in groups:
        if not rs:
            continue
        feas = [r.gap for r in rs if r.gap is not None and r.feasible]
        gaps = [r.gap for r in rs if r.gap is not None]
        out.append(
            (
                k,
                len(rs),
                sum(feas) / len(feas) if feas else None,
                sum(gaps) / len(gaps) if gaps else None,
                sum(r.vehicles for r in rs) / len(rs),
                sum(r.feasible for r in rs),
            )
        )
    return out


def markdown(rows: list[Row], args: argparse.Namespace, digits: int) -> str:
    lines = [
        f"# {args.set}: {len(rows)} instances, {args.time_limit:g} s each, {args.workers} worker(s), seed {args.seed}, "
        f"feasibility phase {args.feasibility_first:g} (lambda {args.feasibility_lambda:g}, early cost {args.early_cost})",
        "",
        f"Command: `{' '.join(['python', 'bench/literature.py', *sys.argv[1:]])}`",
        "",
        "| instance | vehicles | distance | ref vehicles | ref distance | gap % | time s | feasible |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.instance} | {r.vehicles} | {r.distance:.{digits}f} | {r.ref_vehicles or '-'} | "
            f"{_fmt(r.ref_distance, digits)} | {_fmt(r.gap)} | {r.time_s:.1f} | {'yes' if r.feasible else 'NO'} |"
        )
    lines += [
        "",
        "| class | instances | mean gap % (feasible) | mean gap % (all) | mean vehicles | feasible |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for k, n, gf, ga, v, f in summarise(rows):
        lines.append(f"| {k} | {n} | {_fmt(gf)} | {_fmt(ga)} | {v:.2f} | {f}/{n} |")
    return "\n".join(lines) + "\n"


def print_table(rows: list[Row], digits: int) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency of the planner
        for r in rows:
            print(r)
        return
    t = Table(title="instances")
    for col in (
        "instance",
        "vehicles",
        "distance",
        "ref veh",
        "ref distance",
        "gap %",
        "time s",
        "feasible",
    ):
        t.add_column(col, justify="left" if col == "instance" else "right")
    for r in rows:
        t.add_row(
            r.instance,
            str(r.vehicles),
            f"{r.distance:.{digits}f}",
            str(r.ref_vehicles or "-"),
            _fmt(r.ref_distance, digits),
            _fmt(r.gap),
            f"{r.time_s:.1f}",
            "yes" if r.feasible else "[red]NO[/red]",
        )
    s = Table(title="summary")
    for col in (
        "class",
        "instances",
        "mean gap % (feasible)",
        "mean gap % (all)",
        "mean vehicles",
        "feasible",
    ):
        s.add_column(col, justify="left" if col == "class" else "right")
    for k, n, gf, ga, v, f in summarise(rows):
        s.add_row(k, str(n), _fmt(gf), _fmt(ga), f"{v:.2f}", f"{f}/{n}")
    con = Console()
    con.print(t)
    con.print(s)


# --------------------------------------------------------------------------- main


def select(files: list[Path], patterns: str | None) -> list[Path]:
    """Keep files whose instance name matches one of the comma-separated globs (case-insensitive)."""
    if not patterns:
        return files
    pats = [p.strip().upper() for p in patterns.split(",") if p.strip()]
    keep = []
    for f in files:
        name = f.name.split(".")[0].upper()
        if any(fnmatch.fnmatchcase(name, p) or fnmatchcase_plain(name, p) for p in pats):
            keep.append(f)
    return keep


def fnmatchcase_plain(name: str, pat: str) -> bool:
    """A pattern without wildcards also matches as a prefix (``--instances R1`` = all R1xx)."""
    return not any(c in pat for c in "*?[") and name.startswith(pat)


def sort_key(p: Path) -> tuple:
    name = p.name.split(".")[0]
    return (
        CLASSES.index(instance_class(name)) if instance_class(name) in CLASSES else 99,
        [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)],
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--set", default="solomon100", choices=["solomon100", "homberger200"])
    ap.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="benchmarks folder (default ../shared/benchmarks)",
    )
    ap.add_argument(
        "--time-limit", type=float, default=60.0, help="seconds per instance (default 60)"
    )
    ap.add_argument(
        "--workers", type=int, default=2, help="parallel searches per instance (default 2)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--feasibility-first",
        type=float,
        default=FEASIBILITY_FIRST,
        help=f"share of the time for the feasibility phase, 0 = off (default {FEASIBILITY_FIRST})",
    )
    ap.add_argument(
        "--feasibility-lambda",
        type=float,
        default=FEASIBILITY_LAMBDA,
        help=f"guided local search coefficient of the feasibility phase (default {FEASIBILITY_LAMBDA})",
    )
    ap.add_argument(
        "--early-cost",
        type=int,
        default=EARLY_COST,
        help=f"feasibility phase: cost per model time unit a service starts after its window opens (default {EARLY_COST})",
    )
    ap.add_argument(
        "--instances",
        default=None,
        help="comma-separated globs or prefixes, e.g. 'C1*,R101' or 'RC2'",
    )
    ap.add_argument("--out", type=Path, default=None, help="write the table as markdown here")
    args = ap.parse_args(argv)

    folder = args.data / args.set
    if not folder.is_dir():
        print(f"no benchmark folder {folder}", file=sys.stderr)
        return 2
    files = sorted(select(sorted(folder.glob("*.vrptw")), args.instances), key=sort_key)
    if not files:
        print("no instance matches", file=sys.stderr)
        return 2
    refs = read_reference(folder)
    rows: list[Row] = []
    digits = 1
    for f in files:
        inst = parse_vrptw(f)
        digits = 1 if inst.edge_weight_type == "FLOOR_2D" else 3
        row = solve_instance(
            inst,
            refs.get(inst.name),
            args.time_limit,
            args.workers,
            args.seed,
            feasibility_first=args.feasibility_first,
            feasibility_lambda=args.feasibility_lambda,
            early_cost=args.early_cost,
        )
        rows.append(row)
        flag = "" if row.feasible else "  INFEASIBLE: " + "; ".join(row.errors[:3])
        print(
            f"{row.instance:10s} veh {row.vehicles:3d} dist {row.distance:10.{digits}f} "
            f"ref {row.ref_vehicles or '-'}/{_fmt(row.ref_distance, digits)} gap {_fmt(row.gap):>6s}% "
            f"{row.time_s:5.1f} s{flag}",
            flush=True,
        )
    print_table(rows, digits)
    if args.out:
        args.out.write_text(markdown(rows, args, digits))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
