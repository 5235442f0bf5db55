"""Reconciling two sides' lists of children without handing either list over (PSI).

The scheme is the Diffie-Hellman private set intersection of Private Join and Compute, over
the prime-order group ristretto255 (libsodium, through ``rbcl``):

1. each side reduces every record of its list, on its own machine, to a few match keys
   (:mod:`planner.repatriation.keys`: one Latin form of the names, a phonetic code, the birth
   date), hashes each key to a group element ``H(k)`` and raises it to its secret scalar:
   ``H(k)^a`` (``planner reconcile blind``).  The file holds the side's pseudonymous ids, the
   kinds of the keys and the blinded values, sorted by value so that the order says nothing of
   the list's order;
2. the other side raises every value again with its own secret: ``H(k)^ab``
   (``planner reconcile reblind``), sorted again by the new values.  Each side's blinded file
   must be reblinded by the *other* side;
3. the two doubly blinded files are compared (``planner reconcile match``): equal values mean
   equal keys, because ``H(k)^ab = H(k)^ba``.  The answer is the matching pairs of ids with the
   kinds of keys that matched, and nothing else.

Neither side ever sees a key of the other in a form it can test a guess against: to check
whether a name is on the other list it would need the other side's secret.  A plain or keyed
hash would not do: the holder of the other list could hash a list of all names and birth dates
and read the list back.  Each file also carries its blinders' public values ``a·B`` (which do
not reveal ``a``), so ``match`` refuses two files that were not each blinded by both sides.

Secrets are at least 16 characters (``planner reconcile secret`` makes a random one); a short
secret could be guessed by the other side, which would then read the list back.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import secrets as pysecrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from planner.errors import PlannerError, ScenarioError
from planner.processes import process_pool
from planner.repatriation.keys import DEFAULT_KINDS, KEY_KINDS, record_keys

FORMAT = "planner-reconcile"
VERSION = 1
_H2C = b"planner-rcl-h2c"
_SK = b"planner-rcl-sk"
MIN_SECRET = 16
PARALLEL_FROM = 4000
"""Curve operations on more values than this run in two processes."""

COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "pseudonymous_id", "record_id", "ref"),
    "family": ("family_name", "family", "surname", "last_name", "фамилия", "прізвище"),
    "given": ("given_name", "given", "first_name", "name", "имя", "ім'я"),
    "patronymic": ("patronymic", "middle_name", "отчество", "по батькові"),
    "birth": ("birth_date", "date_of_birth", "dob", "born", "дата рождения", "дата народження"),
    "place": ("place", "place_of_origin", "last_known_place", "origin", "место", "місце"),
}
"""Accepted column headers of a list (case-insensitive), by field."""


class ReconcileError(PlannerError):
    """A blinded file cannot be used for the step asked for."""


@dataclass(frozen=True)
class ListRecord:
    """One record of a side's list (stays on that side's machine)."""

    id: str
    family: str
    given: str
    patronymic: str
    birth: date | None
    place: str


@dataclass(frozen=True)
class Match:
    """A pair of pseudonymous ids whose records share keys, and the kinds that matched."""

    a_id: str
    b_id: str
    kinds: tuple[str, ...]


# --------------------------------------------------------------------------- lists


def _parse_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for fmt in (
        "%Y-%m-%d",
        "%d.%m.%Y",
        "%d/%m/%Y",
        "%Y/%m/%d",
        "%d-%m-%Y",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"cannot read the date {text!r} (use YYYY-MM-DD or DD.MM.YYYY)")


def _rows(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm"}:
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a bad workbook
            raise ScenarioError(
                str(path), "", f"not a readable XLSX workbook: {type(exc).__name__}"
            ) from None
        sheet = wb.worksheets[0]
        it = sheet.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(it, ())]
        rows = [
            dict(zip(header, r, strict=False)) for r in it if any(c not in (None, "") for c in r)
        ]
        wb.close()
        return rows
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return [
                r
                for r in csv.DictReader(fh)
                if any((v or "").strip() for v in r.values() if isinstance(v, str))
            ]
    except FileNotFoundError:
        raise ScenarioError(str(path), "", "file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ScenarioError(str(path), "", f"cannot read as CSV: {type(exc).__name__}") from None


def read_list(path: str | Path) -> list[ListRecord]:
    """Read a side's list (CSV or XLSX; headers in :data:`COLUMNS`).

    Parameters
    ----------
    path
        The list file.

    Returns
    -------
    list of ListRecord

    Raises
    ------
    ScenarioError
        Naming the file, the column (or row and column) and the problem; names are never
        quoted in the message.
    """
    p = Path(path)
    if not p.exists():
        raise ScenarioError(str(p), "", "file not found")
    rows = _rows(p)
    if not rows:
        raise ScenarioError(str(p), "", "the list has no records")
    headers = {str(h).strip().lower(): h for h in rows[0] if h is not None}
    col: dict[str, Any] = {}
    for fld, names in COLUMNS.items():
        col[fld] = next((headers[n] for n in names if n in headers), None)
    for fld in ("id", "family", "given", "birth"):
        if col[fld] is None:
            raise ScenarioError(
                str(p), fld, f"no column for it (one of: {', '.join(COLUMNS[fld])})"
            )
    out: list[ListRecord] = []
    seen: set[str] = set()
    for i, r in enumerate(rows, start=2):
        rid = str(r.get(col["id"]) or "").strip()
        if not rid:
            raise ScenarioError(str(p), f"row {i}.{col['id']}", "the pseudonymous id is empty")
        if rid in seen:
            raise ScenarioError(str(p), f"row {i}.{col['id']}", f"id {rid!r} appears twice")
        seen.add(rid)
        try:
            birth = _parse_date(r.get(col["birth"]))
        except ValueError as exc:
            raise ScenarioError(str(p), f"row {i}.{col['birth']}", str(exc)) from None

        def text(fld: str, row: dict[str, Any] = r) -> str:
            return str(row.get(col[fld]) or "").strip() if col[fld] is not None else ""

        out.append(
            ListRecord(rid, text("family"), text("given"), text("patronymic"), birth, text("place"))
        )
    return out


# --------------------------------------------------------------------------- curve


def secret_scalar(secret: str) -> bytes:
    """The side's secret scalar, derived from its secret text (BLAKE2b-512, reduced mod l).

    Raises
    ------
    ScenarioError
        When the secret is shorter than :data:`MIN_SECRET` characters.
    """
    import rbcl

    if len(secret) < MIN_SECRET:
        raise ScenarioError(
            "--secret",
            "secret",
            f"must be at least {MIN_SECRET} characters (planner reconcile secret makes one)",
        )
    digest = hashlib.blake2b(secret.encode("utf-8"), digest_size=64, person=_SK).digest()
    return bytes(rbcl.crypto_core_ristretto255_scalar_reduce(digest))


def read_secret(value: str) -> str:
    """The secret given on the command line: the text itself, or ``@FILE`` to read it from a file."""
    if value.startswith("@"):
        p = Path(value[1:])
        try:
            return p.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ScenarioError(str(p), "secret", f"cannot read: {exc.strerror}") from None
    return value


def public_value(scalar: bytes) -> str:
    """``scalar · B`` (hex): names a blinder without revealing it."""
    import rbcl

    return bytes(rbcl.crypto_scalarmult_ristretto255_base(scalar)).hex()


Row = tuple[str, str, str, date | None, str]
"""A record as sent to a worker process: id, family, given, birth date, place."""


def _blind_chunk(args: tuple[bytes, tuple[str, ...], list[Row]]) -> list[tuple[str, str, bytes]]:
    """Keys of a chunk of records, each hashed to the curve and raised to the scalar."""
    import rbcl

    scalar, kinds, rows = args
    h2c, mult = rbcl.crypto_core_ristretto255_from_hash, rbcl.crypto_scalarmult_ristretto255
    out = []
    for rid, family, given, birth, place in rows:
        for kind, key in record_keys(family, given, birth, place, kinds).items():
            digest = hashlib.blake2b(key.encode("utf-8"), digest_size=64, person=_H2C).digest()
            out.append((rid, kind, bytes(mult(scalar, h2c(digest)))))
    return out


def _reblind_chunk(args: tuple[bytes, list[bytes]]) -> list[bytes]:
    """A chunk of points raised to the scalar.

    libsodium's ``crypto_scalarmult_ristretto255`` decodes its input and fails on anything
    that is not the encoding of a ristretto255 point (and on a product that is the identity),
    so no separate validity check is needed: ``rbcl`` raises ``RuntimeError`` then.
    """
    import rbcl

    scalar, points = args
    mult = rbcl.crypto_scalarmult_ristretto255
    try:
        return [bytes(mult(scalar, pt)) for pt in points]
    except RuntimeError:
        raise ValueError("not a ristretto255 point") from None


def _processes(processes: int | None, n: int) -> int:
    if processes is not None:
        return processes
    return min(2, os.cpu_count() or 1) if n > PARALLEL_FROM else 1


def _run(fn: Any, head: tuple[Any, ...], items: list[Any], processes: int | None) -> list[Any]:
    """``fn`` over chunks ``(*head, chunk)`` of ``items``, in order, in worker processes.

    A few large chunks per process keep the data sent small next to the curve work; the
    workers are forked, so the module and libsodium are loaded once.
    """
    procs = _processes(processes, len(items))
    if procs <= 1 or len(items) < 2:
        return fn((*head, items))
    n = max(1, -(-len(items) // (procs * 4)))
    chunks = [(*head, items[i : i + n]) for i in range(0, len(items), n)]
    with process_pool(procs) as pool:
        parts = list(pool.map(fn, chunks))
    return [x for part in parts for x in part]


# --------------------------------------------------------------------------- steps


def blind(
    records: Iterable[ListRecord],
    secret: str,
    kinds: tuple[str, ...] = DEFAULT_KINDS,
    processes: int | None = None,
) -> dict[str, Any]:
    """Step 1: the side's own keys, blinded with its secret.

    Parameters
    ----------
    records
        The side's list.
    secret
        The side's secret text.
    kinds
        Key kinds to make (of :data:`~planner.repatriation.keys.KEY_KINDS`).
    processes
        Processes for the curve operations (default: two for large lists).

    Returns
    -------
    dict
        The blinded file: ``format``, ``version``, ``stage`` (1), ``kinds``, ``blinders``
        (public values), ``records`` (``[id, {kind: hex}]``, sorted by value) and
        ``without_keys`` (how many records gave no key: no birth date or no name).
    """
    bad = [k for k in kinds if k not in KEY_KINDS]
    if bad:
        raise ScenarioError(
            "--keys", "keys", f"unknown key kind {bad[0]!r} (known: {', '.join(KEY_KINDS)})"
        )
    scalar = secret_scalar(secret)
    rows: list[Row] = [(r.id, r.family, r.given, r.birth, r.place) for r in records]
    # two keys a record on average: parallel when the curve work is large
    blinded = _run(_blind_chunk, (scalar, tuple(kinds)), rows, _processes(processes, 2 * len(rows)))
    owners = [(rid, kind) for rid, kind, _v in blinded]
    values = [v for _rid, _kind, v in blinded]
    without = len(rows) - len({rid for rid, _kind, _v in blinded})
    return _file(owners, values, list(kinds), [public_value(scalar)], 1, without)


def _file(
    owners: list[tuple[str, str]],
    values: list[bytes],
    kinds: list[str],
    blinders: list[str],
    stage: int,
    without: int,
) -> dict[str, Any]:
    by_id: dict[str, dict[str, str]] = {}
    for (rid, kind), v in zip(owners, values, strict=True):
        by_id.setdefault(rid, {})[kind] = v.hex()
    rows = sorted(by_id.items(), key=lambda kv: min(kv[1].values()))
    return {
        "format": FORMAT, "version": VERSION, "group": "ristretto255", "stage": stage, "kinds": kinds,
        "blinders": blinders, "without_keys": without, "records": [[rid, dict(sorted(k.items()))] for rid, k in rows],
    }  # fmt: skip


def check_file(data: Any, source: str, stage: int) -> dict[str, Any]:
    """Check a blinded file's shape and stage; returns it.

    Raises
    ------
    ReconcileError
        When it is not a blinded file, or not at the stage the step needs.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ReconcileError(f"{source}: not a planner reconcile file")
    if data.get("version") != VERSION or data.get("group") != "ristretto255":
        raise ReconcileError(
            f"{source}: version {data.get('version')!r} / group {data.get('group')!r} not supported"
        )
    if data.get("stage") != stage:
        need = (
            "blinded once (planner reconcile blind)"
            if stage == 1
            else "reblinded by the other side (planner reconcile reblind)"
        )
        raise ReconcileError(
            f"{source}: stage {data.get('stage')!r}; this step needs a file {need}"
        )
    recs = data.get("records")
    if not isinstance(recs, list) or not all(
        isinstance(r, list) and len(r) == 2 and isinstance(r[1], dict) for r in recs
    ):
        raise ReconcileError(f"{source}: records: expected [id, {{kind: value}}] pairs")
    return data


def reblind(
    data: dict[str, Any], secret: str, processes: int | None = None, source: str = "<file>"
) -> dict[str, Any]:
    """Step 2: the other side's blinded file, blinded again with this side's secret.

    Raises
    ------
    ReconcileError
        When the file is not blinded once, or was blinded with this same secret (a side must
        reblind the other side's file, not its own).
    """
    check_file(data, source, 1)
    scalar = secret_scalar(secret)
    mine = public_value(scalar)
    if mine in data["blinders"]:
        raise ReconcileError(
            f"{source}: this file was blinded with the same secret; reblind the other side's file"
        )
    owners: list[tuple[str, str]] = []
    points: list[bytes] = []
    for rid, keys in data["records"]:
        for kind, hexval in keys.items():
            owners.append((str(rid), str(kind)))
            try:
                points.append(bytes.fromhex(hexval))
            except (ValueError, TypeError):
                raise ReconcileError(
                    f"{source}: record {rid!r}: {kind} is not a hex value"
                ) from None
    try:
        values = _run(_reblind_chunk, (scalar,), points, processes)
    except ValueError:
        raise ReconcileError(f"{source}: a value is not a ristretto255 point") from None
    return _file(
        owners,
        values,
        list(data["kinds"]),
        [*data["blinders"], mine],
        2,
        int(data.get("without_keys", 0)),
    )


def match(
    a: dict[str, Any], b: dict[str, Any], source_a: str = "A", source_b: str = "B"
) -> list[Match]:
    """Step 3: pairs of ids whose doubly blinded keys are equal, with the kinds that matched.

    Raises
    ------
    ReconcileError
        When a file is not doubly blinded, or the two were not each blinded by both sides.
    """
    check_file(a, source_a, 2)
    check_file(b, source_b, 2)
    if len(set(a["blinders"])) != 2 or set(a["blinders"]) != set(b["blinders"]):
        raise ReconcileError(
            f"{source_a}, {source_b}: the files were not both blinded by the same two sides "
            "(each side's file must be reblinded by the other side)"
        )
    index: dict[tuple[str, str], list[str]] = {}
    for rid, keys in b["records"]:
        for kind, v in keys.items():
            index.setdefault((kind, v), []).append(str(rid))
    pairs: dict[tuple[str, str], set[str]] = {}
    for rid, keys in a["records"]:
        for kind, v in keys.items():
            for other in index.get((kind, v), ()):
                pairs.setdefault((str(rid), other), set()).add(str(kind))
    order = {k: i for i, k in enumerate(KEY_KINDS)}
    return [
        Match(x, y, tuple(sorted(k, key=lambda s: order.get(s, 99))))
        for (x, y), k in sorted(pairs.items())
    ]


# --------------------------------------------------------------------------- files


def read_file(path: str | Path, stage: int) -> dict[str, Any]:
    """Read and check a blinded file of a given stage."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(str(p), "", "file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReconcileError(f"{p}: not a planner reconcile file ({type(exc).__name__})") from None
    return check_file(data, str(p), stage)


def dumps(data: dict[str, Any]) -> str:
    """A blinded file as text (compact JSON, one record a line)."""
    head = {k: v for k, v in data.items() if k != "records"}
    lines = [json.dumps(r, separators=(",", ":"), sort_keys=True) for r in data["records"]]
    body = ",\n".join(lines)
    text = json.dumps(head, sort_keys=True, separators=(",", ":"))[:-1]
    return f'{text},"records":[\n{body}\n]}}\n'


def matches_csv(found: list[Match]) -> str:
    """Matches as CSV: ``a_id,b_id,keys`` (kinds joined by ``+``)."""
    rows = ["a_id,b_id,keys"] + [
        f"{_csv(m.a_id)},{_csv(m.b_id)},{'+'.join(m.kinds)}" for m in found
    ]
    return "\n".join(rows) + "\n"


def _csv(value: str) -> str:
    return f'"{value.replace(chr(34), chr(34) * 2)}"' if any(c in value for c in ',"\n') else value


def new_secret() -> str:
    """A random secret (256 bits, URL-safe text)."""
    return pysecrets.token_urlsafe(32)
