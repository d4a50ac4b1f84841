"""Ingest settings."""

from __future__ import annotations

from pydantic import Field

from anxin.settings import DatabaseSettings, InfluxSettings, MqttSettings, Section, ServiceSettings


class IngestOptions(Section):
    """How ingest subscribes, batches and validates."""

    client_id: str = "anxin-ingest"
    session_expiry_s: int = Field(86_400, ge=60)
    shared_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,32}$")
    batch_size: int = Field(5000, ge=1, le=100_000)
    batch_interval_s: float = Field(0.2, gt=0, le=60)
    dedupe_window: int = Field(4096, ge=64, le=1_000_000)
    max_future_s: float = Field(300.0, ge=0)
    check_homes: bool = True
    homes_refresh_s: float = Field(30.0, gt=0)


class IngestSettings(ServiceSettings):
    """Everything `anxin ingest` reads."""

    service_account = "ingest"

    mqtt: MqttSettings = MqttSettings()
    influx: InfluxSettings = InfluxSettings()
    database: DatabaseSettings = DatabaseSettings()
    ingest: IngestOptions = IngestOptions()
