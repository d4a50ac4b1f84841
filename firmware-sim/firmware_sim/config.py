"""Simulator settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from anxin.settings import DatabaseSettings, MqttSettings, Section, ServiceSettings
from contracts.vocabulary import DEFAULT_TIMEZONE


class SimOptions(Section):
    """What the live simulator plays and how fast."""

    homes_file: Path | None = None
    backfill_s: float = Field(0.0, ge=0, le=7 * 86400, description="Replay this much past routine on start")
    speed: float = Field(
        0.0, ge=0, description="Model seconds per wall second while replaying the past; 0: as fast as possible"
    )
    heartbeat_s: float = Field(60.0, gt=0)
    seed: int | None = None
    timezone: str = DEFAULT_TIMEZONE


class SimSettings(ServiceSettings):
    """Everything `anxin sim` reads; each home connects with its own credentials from the homes file."""

    service_account = "sim"

    mqtt: MqttSettings = MqttSettings()
    sim: SimOptions = SimOptions()
    # Where new homes are registered (`sim run --homes N`, `sim load --db`): the database every service reads.
    database: DatabaseSettings = DatabaseSettings()

    def homes_path(self) -> Path:
        """The homes file: configured, or the one `anxin demo` writes in the state folder."""
        return self.sim.homes_file or self.state_dir / "sim" / "homes.json"
