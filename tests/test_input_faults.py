"""Faults survived: unwritable outputs, dead schedulers, files killed half-way, far sites."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import ScenarioError
from planner.files import remove_stale_temporaries, write_atomic

CORPUS = Path(__file__).resolve().parent / "data" / "malformed"
BASE = CORPUS / "base.yaml"
runner = CliRunner()


def _one_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


# ----------------------------------------------------------------------------- files


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_outputs_get_the_mode_of_a_plain_open_and_are_fsynced(tmp_path, monkeypatch, umask, mode):
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "out" / "plan.json", "{}\n")
    finally:
        os.umask(old)
    assert (tmp_path / "out" / "plan.json").stat().st_mode & 0o777 == mode
    assert synced, "nothing was fsynced"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["plan.json"]


def test_temporaries_of_killed_processes_are_removed_by_the_next_write(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".plan.json.{dead.pid}.abc123.tmp"
    stale.write_text("{partial")
    mine = tmp_path / f".plan.json.{os.getpid()}.zzz.tmp"  # a live process: kept
    mine.write_text("{")
    write_atomic(tmp_path / "schedule.csv", "a\n")
    assert not stale.exists() and mine.exists()
    assert remove_stale_temporaries(tmp_path) == 0


def _run_plan(out: Path) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "planner.cli",
        "plan",
        str(BASE),
        "-o",
        str(out),
        "--budget",
        "30",
        "--workers",
        "1",
        "-q",
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.mark.slow
def test_kill_9_at_random_moments_of_a_plan_leaves_no_partial_file(tmp_path):
    ref = tmp_path / "ref"
    start = time.monotonic()
    assert _run_plan(ref).wait(timeout=300) == 0
    took = time.monotonic() - start
    want = _files(ref)
    assert {"plan.json", "schedule.csv", "map.html"} <= set(want)
    rng = random.Random(20)
    # a kill at any moment, three while files are being written (a temporary file exists)
    for trial in range(4):
        out = tmp_path / f"run{trial}"
        shutil.copytree(ref, out)  # an earlier plan is being overwritten
        for p in out.rglob("*"):
            if p.is_file():
                p.write_bytes(b"old " + p.read_bytes())
        old = _files(out)
        proc = _run_plan(out)
        if trial < 1:
            time.sleep(rng.uniform(0, took))
        else:
            deadline = time.monotonic() + 300
            while (
                proc.poll() is None
                and time.monotonic() < deadline
                and not any(out.rglob(".*.tmp*"))
            ):
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for name, data in _files(out).items():
            if name == "map.html":  # folium's element ids differ between runs
                assert data == old[name] or (
                    data.startswith(want[name][:15]) and data.rstrip().endswith(b"</html>")
                ), name
            else:
                assert data in (old.get(name), want.get(name)), f"trial {trial}: {name} is partial"
        assert len(list(out.rglob(".*.tmp*"))) <= 1
    assert _run_plan(out).wait(timeout=300) == 0  # the next run removes any leftover
    assert not list(out.rglob(".*.tmp*"))
    assert _files(out)["plan.json"] == want["plan.json"]


# ----------------------------------------------------------------------------- outputs and errors


def test_output_below_a_regular_file_is_refused_before_any_work(tmp_path, monkeypatch):
    import planner.network

    monkeypatch.setattr(
        planner.network, "prepare_network", lambda *a, **k: pytest.fail("loaded the network")
    )
    blocker = tmp_path / "report.txt"
    blocker.write_text("not a folder")
    res = runner.invoke(app, ["plan", str(BASE), "-o", str(blocker / "out"), "--budget", "1", "-q"])
    assert res.exit_code == 2
    line = _one_line(res.output)
    assert str(blocker) in line and "is a file" in line


def test_square_brackets_survive_in_error_lines(tmp_path):
    data = yaml.safe_load(BASE.read_text())
    data["evacuation"]["assembly_points"][0]["location"] = [47.5761, 35.7833]
    path = tmp_path / "swapped.yaml"
    path.write_text(yaml.safe_dump(data))
    res = runner.invoke(app, ["plan", str(path), "-o", str(tmp_path / "out"), "-q"])
    assert res.exit_code == 2
    line = _one_line(res.output)
    assert "[47.5761, 35.7833]" in line and "[35.7833, 47.5761]" in line and "[lon, lat]" in line


def test_sweep_against_a_closed_port_is_one_line_exit_2():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "planner.cli",
        "sweep",
        str(BASE),
        "--runs",
        "2",
        "--scheduler",
        f"tcp://127.0.0.1:{port}",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    line = _one_line(res.stdout + res.stderr)
    assert f"tcp://127.0.0.1:{port}" in line and "Traceback" not in res.stderr


def test_sweep_against_a_server_that_never_answers_gives_up_after_the_timeout():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        port = s.getsockname()[1]
        res = runner.invoke(
            app,
            [
                "sweep",
                str(BASE),
                "--plan",
                str(CORPUS / "base-plan.json"),
                "--runs",
                "2",
                "--scheduler",
                f"tcp://127.0.0.1:{port}",
                "--connect-timeout",
                "1",
            ],
        )
    assert res.exit_code == 2
    assert "--connect-timeout" in _one_line(res.output)


@pytest.mark.slow
def test_local_sweep_prints_no_dask_info_lines_without_v():
    cmd = [
        sys.executable,
        "-m",
        "planner.cli",
        "sweep",
        str(BASE),
        "--plan",
        str(CORPUS / "base-plan.json"),
        "--runs",
        "20",
        "--workers",
        "1",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "INFO" not in res.stderr and "distributed" not in res.stderr
    assert "20 runs" in res.stdout


# ----------------------------------------------------------------------------- sites and roads


def _network_of(data: dict, tmp_path: Path):
    from planner.network import prepare_network
    from planner.scenario import load_scenario

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return prepare_network(load_scenario(path))


def test_max_snap_m_decides_whether_an_off_road_site_is_an_error(tmp_path):
    data = yaml.safe_load(BASE.read_text())
    data["evacuation"]["assembly_points"][0]["location"] = [35.83, 47.60]  # off the bundled roads
    data["network"] = {"source": "regional", "max_snap_m": 1000}
    with pytest.raises(ScenarioError) as info:
        _network_of(data, tmp_path)
    assert info.value.field == "evacuation.assembly_points.0.location"
    assert "m from the nearest road" in info.value.problem and "1,000 m" in info.value.problem
    data["network"]["max_snap_m"] = 6000
    assert _network_of(data, tmp_path).roads.n_nodes > 0


def test_exchange_sites_far_from_every_road_are_errors(tmp_path):
    data = yaml.safe_load((CORPUS / "base-exchange.yaml").read_text())
    assert _network_of(data, tmp_path).roads.n_nodes > 0
    data["exchange"]["exchange_points"][0]["location"] = [31.0, 46.0]  # in the Black Sea
    with pytest.raises(ScenarioError) as info:
        _network_of(data, tmp_path)
    assert (
        info.value.field == "exchange.exchange_points.0.location"
        and "km from the nearest road" in info.value.problem
    )
    data = yaml.safe_load((CORPUS / "base-exchange.yaml").read_text())
    data["exchange"]["facilities"][1]["location"] = [46.8473, 35.382]  # Melitopol, swapped
    with pytest.raises(ScenarioError) as info:
        _network_of(data, tmp_path)
    assert info.value.field == "exchange.facilities.1.location" and "swapped" in info.value.problem
