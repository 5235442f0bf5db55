"""Regenerate ``town.osm.pbf`` from ``town.osm`` (test-data helper, not run by the tests).

The planner reads PBF with pyrosm, which cannot write a file from scratch, so this helper
uses pyosmium (``pip install osmium``; not a planner dependency)::

    python tests/data/osm/make_pbf.py
"""

from __future__ import annotations

from pathlib import Path

import osmium

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Copy every node, way and relation of ``town.osm`` into ``town.osm.pbf``."""
    source = HERE / "town.osm"
    target = HERE / "town.osm.pbf"
    writer = osmium.SimpleWriter(str(target), overwrite=True)
    try:
        for obj in osmium.FileProcessor(str(source)):
            writer.add(obj)
    finally:
        writer.close()


if __name__ == "__main__":
    main()
