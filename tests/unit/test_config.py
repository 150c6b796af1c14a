"""Settings read from the environment: the documented variables and their defaults."""

from __future__ import annotations

from ledger.config import Settings


def test_projection_pause_between_small_rounds_defaults_to_150_ms() -> None:
    assert Settings.from_env({}).projection_gather_seconds == 0.15


def test_projection_pause_between_small_rounds_is_configurable() -> None:
    settings = Settings.from_env({"LEDGER_PROJECTION_GATHER_SECONDS": "0"})
    assert settings.projection_gather_seconds == 0.0
