"""Load-time cross-references of ``ceasefire.corridors`` and ``ceasefire.convoys``.

Via points and checkpoints resolve to places, line files exist, each convoy leaves from a
site, and the corridors' windows overlap the ceasefire.  The road paths themselves are
traced by :mod:`planner.agreed_corridors` once the network is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from planner.errors import ScenarioError
from planner.scenario_base import PlaceRef, location_lonlat
from planner.timeline import agreed_windows

if TYPE_CHECKING:
    from planner.scenario import Corridor, Scenario


def site_locations(scenario: Scenario) -> dict[str, tuple[float, float]]:
    """``(lon, lat)`` of every assembly point and reception centre, by site id."""
    ev = scenario.evacuation
    if ev is None:
        return {}
    out = {s.id: location_lonlat(s.location) for s in ev.point_list()}
    out.update({s.id: location_lonlat(s.location) for s in ev.reception_centres})
    return out


def via_points(
    corridor: Corridor, sites: dict[str, tuple[float, float]]
) -> list[tuple[str, tuple[float, float]]]:
    """The via points of a corridor as ``(label, (lon, lat))``.

    A string is a site id when one has that id, else a place name (GeoNames).

    Raises
    ------
    ValueError
        When a point is neither a site id nor a known place.
    """
    out: list[tuple[str, tuple[float, float]]] = []
    for item in corridor.via or []:
        if isinstance(item, str):
            if item in sites:
                out.append((item, sites[item]))
                continue
            try:
                out.append((item, location_lonlat(PlaceRef(place=item))))
            except ValueError:
                raise ValueError(f"{item!r} is neither a site id nor a known place") from None
        elif isinstance(item, PlaceRef):
            out.append((item.place or str(item.geonameid), location_lonlat(item)))
        else:
            out.append((f"{item[0]:.5f},{item[1]:.5f}", (float(item[0]), float(item[1]))))
    return out


def check_corridor_refs(scenario: Scenario) -> None:
    """Cross-references of ``ceasefire.corridors`` and ``ceasefire.convoys`` (after the
    assembly points are known): via points resolve, checkpoints resolve, line files exist,
    each convoy leaves from a site.

    Raises
    ------
    ScenarioError
        Naming the file, the field and the problem.
    """
    src = scenario.source_name()
    cf = scenario.ceasefire
    if not cf.corridors and not cf.convoys:
        return
    sites = site_locations(scenario)
    for i, c in enumerate(cf.corridors):
        for j, item in enumerate(c.via or []):
            try:
                via_points(c.model_copy(update={"via": [item]}), sites)
            except ValueError as exc:
                raise ScenarioError(src, f"ceasefire.corridors.{i}.via.{j}", str(exc)) from None
        if c.file is not None and not scenario.resolve_path(c.file).is_file():
            raise ScenarioError(
                src,
                f"ceasefire.corridors.{i}.file",
                f"file not found: {scenario.resolve_path(c.file)}",
            )
        for j, cp in enumerate(c.checkpoints):
            try:
                location_lonlat(cp.location)
            except ValueError as exc:
                raise ScenarioError(
                    src, f"ceasefire.corridors.{i}.checkpoints.{j}.location", str(exc)
                ) from None
    if not agreed_windows(scenario):
        raise ScenarioError(
            src,
            "ceasefire.corridors",
            "the corridors' windows leave no time inside the ceasefire windows",
        )
    for i, cv in enumerate(cf.convoys):
        if cv.from_ not in sites:
            raise ScenarioError(
                src,
                f"ceasefire.convoys.{i}.from",
                f"{cv.from_!r} is not a site id (an assembly point or reception centre)",
            )
