"""`planner plan` / `planner verify` on an exchange scenario: schedule, manifests, checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import PlanFormatError
from planner.exchange_result import ExchangeEvent, ExchangePlan, summary_rows
from planner.exchange_spec import ExchangeSpec
from planner.plan import Plan, read_plan
from planner.scenario import load_scenario

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "exchange-2022.yaml"
runner = CliRunner()


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """The folder ``planner plan`` writes for the exchange scenario."""
    out = tmp_path_factory.mktemp("exchange") / "ex"
    res = runner.invoke(app, ["plan", str(SCENARIO), "-o", str(out), "-q", "--time-limit", "600"])
    assert res.exit_code == 0, res.output
    return out


def test_exchange_plan_verifies_and_manifests_carry_no_names(planned, tmp_path):
    out = tmp_path / "ex"
    shutil.copytree(planned, out)
    plan = json.loads((out / "plan.json").read_text())
    ex = plan["exchange"]
    assert ex["events"]
    for e in ex["events"]:
        counts = {
            p: sum(n for fac in c.values() for n in fac.values()) for p, c in e["counts"].items()
        }
        assert len(set(counts.values())) == 1  # 1:1 parity in every event
    manifests = sorted((out / "manifests").glob("*.csv"))
    assert manifests
    for m in manifests:
        assert "name" not in m.read_text().splitlines()[0].split(",")
    res = runner.invoke(app, ["verify", str(SCENARIO), str(out / "plan.json")])
    assert res.exit_code == 0, res.output
    # break parity in one event: the checker says so and exits 1
    first = ex["events"][0]
    party = next(iter(first["counts"]))
    fac = next(iter(first["counts"][party]))
    cat = next(iter(first["counts"][party][fac]))
    first["counts"][party][fac][cat] += 3
    (out / "plan.json").write_text(json.dumps(plan))
    res = runner.invoke(app, ["verify", str(SCENARIO), str(out / "plan.json")])
    assert res.exit_code == 1
    assert "exchange_" in res.output


def test_a_plan_read_back_is_typed_and_written_again_byte_for_byte(planned):
    sc = load_scenario(SCENARIO)
    assert isinstance(sc.exchange, ExchangeSpec)
    text = (planned / "plan.json").read_text(encoding="utf-8")
    plan = read_plan(planned / "plan.json", sc)
    assert isinstance(plan, Plan) and isinstance(plan.exchange, ExchangePlan)
    assert plan.exchange.events and all(isinstance(e, ExchangeEvent) for e in plan.exchange.events)
    assert plan.to_json() == text
    # the CLI's table adds up the events' people per party
    rows = summary_rows(plan.exchange)
    for i, party in enumerate(plan.exchange.parties):
        assert int(rows[-1][3 + i]) == sum(e.people[party] for e in plan.exchange.events)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda ex: ex["events"][0].update(start=12), "exchange.events.0.start"),
        (lambda ex: ex["events"][0].update(names=["x"]), "exchange.events.0.names"),
        (lambda ex: ex.update(status="done"), "exchange.status"),
    ],
)
def test_a_damaged_exchange_part_is_refused_with_its_field(planned, tmp_path, change, field):
    data = json.loads((planned / "plan.json").read_text(encoding="utf-8"))
    change(data["exchange"])
    bad = tmp_path / "plan.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PlanFormatError, match=rf"^{bad}: {field}: "):
        read_plan(bad, load_scenario(SCENARIO))
    res = runner.invoke(app, ["render", str(SCENARIO), str(bad), "-o", str(tmp_path / "map")])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and field in lines[0]
    assert not (tmp_path / "map").exists()
