"""`planner plan` / `planner verify` on an exchange scenario: schedule, manifests, checks."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from planner.cli import app

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "exchange-2022.yaml"
runner = CliRunner()


def test_exchange_plan_verifies_and_manifests_carry_no_names(tmp_path):
    out = tmp_path / "ex"
    res = runner.invoke(app, ["plan", str(SCENARIO), "-o", str(out), "-q", "--time-limit", "600"])
    assert res.exit_code == 0, res.output
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
