"""List reconciliation (PSI over ristretto255): known answers, privacy of the files, CLI."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import ScenarioError
from planner.repatriation.keys import canonical_latin, phonetic_code, record_keys
from planner.repatriation.reconcile import (
    ListRecord,
    ReconcileError,
    blind,
    dumps,
    match,
    read_list,
    reblind,
)

SAMPLES = Path(__file__).resolve().parents[1] / "scenarios" / "repatriation-2023"
SA = "ukrainian-side-secret-0001"
SB = "russian-side-secret-000002"


def rec(rid: str, family: str, given: str, born: str, place: str = "") -> ListRecord:
    return ListRecord(rid, family, given, "", date.fromisoformat(born), place)


def run_psi(
    a: list[ListRecord], b: list[ListRecord], kinds: tuple[str, ...] = ("name", "phonetic")
):
    a1, b1 = blind(a, SA, kinds), blind(b, SB, kinds)
    return match(reblind(a1, SB), reblind(b1, SA))


@pytest.mark.parametrize(
    ("ua", "ru"),
    [
        ("Ковальчук", "Kovalchuk"),
        ("Ковальчук", "Koval'chuk"),
        ("Гнатюк", "Gnatyuk"),
        ("Гнатюк", "Hnatiuk"),
        ("Щербак", "Shcherbak"),
    ],
)
def test_transliteration_variants_meet_in_one_latin_form(ua: str, ru: str) -> None:
    assert canonical_latin(ua) == canonical_latin(ru)
    assert phonetic_code(ua) == phonetic_code(ru)


def test_cyrillic_and_latin_records_of_one_child_match() -> None:
    found = run_psi(
        [rec("ua-1", "Ковальчук", "Олена", "2012-03-14")],
        [rec("ru-9", "Kovalchuk", "Olena", "2012-03-14")],
    )
    assert [(m.a_id, m.b_id, m.kinds) for m in found] == [("ua-1", "ru-9", ("name", "phonetic"))]


def test_ukrainian_and_russian_given_names_match_by_sound_only() -> None:
    found = run_psi(
        [rec("ua-1", "Бондаренко", "Олександр", "2010-02-28")],
        [rec("ru-1", "Бондаренко", "Александр", "2010-02-28")],
    )
    assert [(m.a_id, m.b_id, m.kinds) for m in found] == [("ua-1", "ru-1", ("phonetic",))]


def test_same_name_another_birth_date_does_not_match() -> None:
    a = [rec("ua-1", "Мельник", "Юлія", "2013-09-17"), rec("ua-2", "Мельник", "Юлія", "2011-05-09")]
    b = [rec("ru-1", "Мельник", "Юлия", "2013-04-03")]
    assert run_psi(a, b) == []
    assert [m.a_id for m in run_psi(a, [rec("ru-2", "Melnyk", "Yuliia", "2011-05-09")])] == ["ua-2"]


def test_different_family_names_do_not_match() -> None:
    assert (
        run_psi(
            [rec("ua-1", "Ковальчук", "Максим", "2015-07-02")],
            [rec("ru-1", "Коваль", "Максим", "2015-07-02")],
        )
        == []
    )


def test_sample_lists_give_the_known_pairs() -> None:
    found = run_psi(read_list(SAMPLES / "list_ua.csv"), read_list(SAMPLES / "list_ru.csv"))
    pairs = {(m.a_id, m.b_id) for m in found}
    assert pairs == {
        ("ua-0101", "R-5521"), ("ua-0103", "R-5530"), ("ua-0104", "R-5531"), ("ua-0105", "R-5540"),
        ("ua-0107", "R-5550"), ("ua-0109", "R-5560"), ("ua-0110", "R-5561"),
    }  # fmt: skip


def test_blinded_file_holds_no_name_and_no_unblinded_key() -> None:
    import rbcl

    records = read_list(SAMPLES / "list_ua.csv")
    text = dumps(blind(records, SA, ("name", "phonetic", "family_place")))
    low = text.lower()
    for r in records:
        for part in (
            r.family,
            r.given,
            r.patronymic,
            r.place,
            canonical_latin(r.family),
            canonical_latin(r.given),
        ):
            if len(part) >= 3:
                assert part.lower() not in low
        assert r.birth is not None and r.birth.isoformat() not in text
        for key in record_keys(
            r.family, r.given, r.birth, r.place, ("name", "phonetic", "family_place")
        ).values():
            digest = hashlib.blake2b(
                key.encode(), digest_size=64, person=b"planner-rcl-h2c"
            ).digest()
            unblinded = bytes(rbcl.crypto_core_ristretto255_from_hash(digest)).hex()
            for plain in (key, hashlib.sha256(key.encode()).hexdigest(), digest.hex(), unblinded):
                assert plain.lower() not in low
    data = json.loads(text)
    assert {rid for rid, _ in data["records"]} == {r.id for r in records}
    values = [min(k.values()) for _, k in data["records"]]
    assert values == sorted(values)  # the order follows the blinded values, not the list


def test_match_refuses_files_not_blinded_by_both_sides() -> None:
    a = [rec("ua-1", "Ковальчук", "Олена", "2012-03-14")]
    a1 = blind(a, SA)
    with pytest.raises(ReconcileError, match="reblinded by the other side"):
        match(a1, reblind(blind(a, SB), SA))
    with pytest.raises(ReconcileError, match="same secret"):
        reblind(a1, SA)
    third = reblind(blind(a, SB), "a-third-party-secret-xyz")
    with pytest.raises(ReconcileError, match="same two sides"):
        match(reblind(a1, SB), third)


def test_short_secret_and_bad_list_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="at least 16"):
        blind([rec("a", "X", "Y", "2010-01-01")], "short")
    bad = tmp_path / "l.csv"
    bad.write_text("id,family_name,given_name\n1,A,B\n", encoding="utf-8")
    res = CliRunner().invoke(
        app, ["reconcile", "blind", str(bad), "--secret", SA, "-o", str(tmp_path / "o.json")]
    )
    assert res.exit_code == 2
    assert "birth" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o.json").exists()


def test_cli_round_trip_with_an_xlsx_list(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["ID", "Surname", "First_Name", "Patronymic", "Date_of_Birth", "Place"])
    ws.append(["R-1", "Kovalchuk", "Olena", "Petrivna", date(2012, 3, 14), "Kherson"])
    ws.append(["R-2", "Tkachenko", "Yevhen", "", date(2014, 12, 6), "Kupiansk"])
    wb.save(tmp_path / "ru.xlsx")
    r = CliRunner()
    f = {n: str(tmp_path / n) for n in ("a1", "b1", "a2", "b2", "m.csv")}
    steps = [
        ["blind", str(SAMPLES / "list_ua.csv"), "--secret", SA, "-o", f["a1"]],
        ["blind", str(tmp_path / "ru.xlsx"), "--secret", SB, "-o", f["b1"]],
        ["reblind", f["a1"], "--secret", SB, "-o", f["a2"]],
        ["reblind", f["b1"], "--secret", SA, "-o", f["b2"]],
        ["match", f["a2"], f["b2"], "-o", f["m.csv"]],
    ]
    for s in steps:
        res = r.invoke(app, ["reconcile", *s])
        assert res.exit_code == 0, res.output
    assert Path(f["m.csv"]).read_text().splitlines() == [
        "a_id,b_id,keys",
        "ua-0101,R-1,name+phonetic",
    ]
    assert "Kovalchuk" not in res.output and "Olena" not in res.output


@pytest.mark.parametrize("processes", [1, 2])
def test_reblind_refuses_a_value_that_is_not_a_point(processes: int) -> None:
    a1 = blind([rec(f"ua-{i}", "Ковальчук", "Олена", f"2012-03-{i + 1:02d}") for i in range(9)], SA)
    for bad in ("ff" * 32, "00" * 32):  # not an encoding; the identity
        forged = json.loads(dumps(a1))
        forged["records"][4][1]["name"] = bad
        with pytest.raises(ReconcileError, match="not a ristretto255 point"):
            reblind(forged, SB, processes=processes)


def test_worker_processes_give_the_same_files_and_pairs() -> None:
    a = [rec(f"ua-{i}", "Ковальчук", "Олена", f"2012-03-{i % 28 + 1:02d}") for i in range(40)]
    b = [rec(f"ru-{i}", "Kovalchuk", "Olena", f"2012-03-{i % 28 + 1:02d}") for i in range(0, 40, 3)]
    one = [blind(a, SA, processes=1), blind(b, SB, processes=1)]
    two = [blind(a, SA, processes=2), blind(b, SB, processes=2)]
    assert one == two
    pairs = match(reblind(two[0], SB, processes=2), reblind(two[1], SA, processes=2))
    assert pairs == match(reblind(one[0], SB, processes=1), reblind(one[1], SA, processes=1))
    assert len(pairs) > 14 and all(m.kinds == ("name", "phonetic") for m in pairs)
