"""Settings of the operator console: where it listens, the SQL database and InfluxDB."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from anxin.settings import DatabaseSettings, InfluxSettings, Section, ServiceSettings


class ConsoleOptions(Section):
    """The console's own options (ANXIN_CONSOLE__*)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    refresh_s: int = Field(10, ge=2, le=3600, description="Pages reload themselves this often")
    timezone: str = Field("Asia/Shanghai", description="Times on pages are shown in this zone")
    # Shorter than influx.timeout_s: a hung InfluxDB must not hold a page that refreshes every few seconds.
    influx_timeout_s: float = Field(3.0, gt=0, le=60)
    outbox_limit: int = Field(200, ge=1, le=5000, description="Newest SMS shown on the outbox page")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}, e.g. Asia/Shanghai") from err
        return value


class ConsoleSettings(ServiceSettings):
    """Everything the console reads."""

    console: ConsoleOptions = ConsoleOptions()
    database: DatabaseSettings = DatabaseSettings()
    influx: InfluxSettings = InfluxSettings()
