"""Ingest settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from anxin.settings import DatabaseSettings, InfluxSettings, MqttSettings, NatsSettings, Section, ServiceSettings


class IngestOptions(Section):
    """How ingest subscribes, batches, validates, spills and reports."""

    client_id: str = "anxin-ingest"
    # Long enough to ride out a restart or an upgrade: the broker keeps queueing QoS 1 events for us meanwhile.
    session_expiry_s: int = Field(86_400, ge=60)
    shared_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,32}$")
    # How many unacknowledged messages the broker may send us (MQTT 5 Receive Maximum). Acks follow the write, and
    # up to four batches are in hand at once (written, queued, validated, arriving): a batch is flushed at a quarter
    # of this, so a smaller value means smaller batches.
    receive_maximum: int = Field(20_000, ge=10, le=65_535)
    batch_size: int = Field(5000, ge=1, le=100_000)
    batch_interval_s: float = Field(0.2, gt=0, le=60)
    dedupe_window: int = Field(4096, ge=64, le=1_000_000)
    max_future_s: float = Field(300.0, ge=0)
    check_homes: bool = True
    # Distinct (agent, sensor, kind, room) series a home without a registered kit (SQL home_sensors) may create.
    max_series_per_home: int = Field(64, ge=1, le=100_000)
    # Dead letters: every rejection is counted per home and reason; rows are only a bounded sample.
    dead_letter_samples: int = Field(5, ge=0, le=1000)
    dead_letter_payload_bytes: int = Field(2048, ge=64, le=65_536)
    dead_letter_max_rows: int = Field(10_000, ge=10)
    dead_letter_rate_per_min: float = Field(6.0, gt=0)
    dead_letter_burst: int = Field(20, ge=1)
    homes_refresh_s: float = Field(30.0, gt=0)
    # Spill: where acknowledged events wait while InfluxDB is unreachable. Default: STATE_DIR/ingest-spill.
    spill_dir: Path | None = None
    spill_max_bytes: int = Field(1 << 30, ge=1 << 16)
    spill_alarm_fraction: float = Field(0.8, gt=0, lt=1)
    spill_segment_bytes: int = Field(16 << 20, ge=1 << 12)
    # Retention of the InfluxDB 1.x retention policy `influx.retention_policy`, created or altered on start
    # (e.g. "104w", "400d", "INF"); unset: leave the server's policy alone.
    retention: str | None = Field(None, pattern=r"^(INF|[1-9][0-9]*[hdw])$")
    # Prometheus metrics; port 0 picks a free one (logged), None turns the endpoint off.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(9105, ge=0, le=65535)


class IngestSettings(ServiceSettings):
    """Everything `anxin ingest` reads."""

    service_account = "ingest"

    mqtt: MqttSettings = MqttSettings()
    influx: InfluxSettings = InfluxSettings()
    database: DatabaseSettings = DatabaseSettings()
    ingest: IngestOptions = IngestOptions()
    # "mqtt": the embedded default; "nats": the cluster topology of docs/scale.md.
    bus: Literal["mqtt", "nats"] = "mqtt"
    nats: NatsSettings = NatsSettings()
