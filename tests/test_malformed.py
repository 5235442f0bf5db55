"""Every malformed input of ``tests/data/malformed/`` is refused in one line with exit 2.

``cases.yaml`` (written by ``make_corpus.py`` there) lists each file, the command it is run
with and the words its error line must hold.  Each case must give exit code 2, exactly one
line naming the file and the field (or the place in the file), no traceback, and leave the
output folder empty.  Cases run in-process (typer's CliRunner); most fail at load, the rest
once the bundled road network is loaded, none after a search.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from planner.cli import app

CORPUS = Path(__file__).resolve().parent / "data" / "malformed"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())
runner = CliRunner()


def _args(command: str, path: Path, out: Path) -> tuple[list[str], Path]:
    """The command line of a case and the file its error line must name."""
    base, plan, events = (
        CORPUS / "base.yaml",
        CORPUS / "base-plan.json",
        CORPUS / "base-events.yaml",
    )
    fast = ["--budget", "5", "--workers", "1"]
    if command == "plan":
        return ["plan", str(path), "-o", str(out), "-q", "--no-map", *fast], path
    if command == "replan":
        return ["replan", str(base), str(plan), str(path), "-o", str(out), *fast], path
    if command == "replan-plan":
        return ["replan", str(base), str(path), str(events), "-o", str(out), *fast], path
    if command == "verify":
        return ["verify", str(base), str(path)], path
    if command == "render":
        return ["render", str(base), str(path), "-o", str(out), "--no-png"], path
    if command == "sweep":
        return ["sweep", str(base), "--plan", str(path), "--runs", "2"], path
    raise AssertionError(command)


def test_the_corpus_is_large_and_every_file_is_listed():
    assert len(CASES) >= 120
    listed = {c["file"] for c in CASES}
    assert all((CORPUS / f).exists() for f in listed)
    commands = {c["command"] for c in CASES}
    assert {"plan", "replan", "verify", "render", "sweep"} <= {c.split("-")[0] for c in commands}


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_malformed_input_is_one_line_exit_2_nothing_written(case, tmp_path):
    path = CORPUS / case["file"]
    out = tmp_path / "out"
    args, named = _args(case["command"], path, out)
    res = runner.invoke(app, args)
    text = res.output
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert res.exit_code == 2, f"exit {res.exit_code}: {text[-2000:]}{res.exception!r}"
    assert len(lines) == 1, text
    line = lines[0]
    assert line.startswith("error: ") and "Traceback" not in text
    assert str(named) in line, line
    assert case["expect"] in line, line
    assert not out.exists() or not any(out.iterdir())


def test_the_readme_lists_every_accepted_range():
    from planner.validate import RANGES

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Accepted ranges", 1)[1].split("\n## ", 1)[0]
    for r in RANGES:
        assert f"| `{r.pattern}` | {r.what} | {r.describe()} |" in section, r.pattern
