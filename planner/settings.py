"""One settings object for the whole planner, read from ``PLANNER_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_cache() -> Path:
    return Path.home() / ".cache" / "corridor-planner"


class Settings(BaseSettings):
    """Planner settings.

    Every field can be set from the environment, e.g. ``PLANNER_OVERPASS_URL``.
    """

    model_config = SettingsConfigDict(env_prefix="PLANNER_", extra="ignore")

    cache_folder: Path = Field(default_factory=_default_cache)
    overpass_url: str = "https://overpass-api.de/api"
    nominatim_url: str = "https://nominatim.openstreetmap.org/"
    http_timeout_s: float = 60.0
    time_limit_s: float = 30.0
    seed: int = 0
    solution_budget: int = 3000
    snap_warn_m: float = 500.0
    crossing_radius_m: float = 2000.0
    hold_freed_memory: bool = True
    window_rule: str = "conservative"
    """How the evacuation search keeps drives inside the ceasefire windows after a closed
    period (the first window is exact either way): ``conservative`` (default: each stop of a
    later window held back by the longest drive that may lead into it) or ``arrival`` (an
    arrival dimension: a vehicle may arrive the evening before and serve when the window
    opens; exact, but OR-Tools then rejects the first solution on large models, see README);
    see :mod:`planner.evacuation_model`."""
    """Keep freed memory in the solver processes (glibc ``mallopt``; see
    :func:`planner.routing.hold_freed_memory`); ``PLANNER_HOLD_FREED_MEMORY=0`` turns it off."""


def get_settings() -> Settings:
    """Return the settings as the environment gives them now."""
    return Settings()
