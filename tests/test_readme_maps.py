"""Every bundled scenario's map is pictured in the README (a PNG written by planner render)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_bundled_scenario_has_its_map_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
    assert len(names) >= 10
    for name in names:
        png = ROOT / "docs" / "maps" / f"{name}.png"
        assert f"](docs/maps/{name}.png)" in readme, name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
