"""Settings of the operator console: where it listens, the SQL database and InfluxDB."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from anxin.settings import DatabaseSettings, InfluxSettings, MqttSettings, Section, ServiceSettings
from anxin.shards import Shard
from anxin.zones import known_zone
from contracts.vocabulary import DEFAULT_TIMEZONE


class ConsoleOptions(Section):
    """The console's own options (ANXIN_CONSOLE__*)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    refresh_s: int = Field(5, ge=1, le=3600, description="Activity data is re-read from InfluxDB this often")
    stream_poll_s: float = Field(1.0, gt=0, le=60, description="Live updates check the database this often")
    session_hours: float = Field(12, gt=0, le=24 * 30, description="A log-in lasts this long without use")
    lockout_after: int = Field(
        5, ge=1, le=100, description="Failed log-ins in a row, per name and client address, before tries must wait"
    )
    lockout_minutes: float = Field(15, gt=0, le=24 * 60, description="The longest wait (it doubles from 2 s)")
    trusted_proxies: str | None = Field(
        None,
        description="Addresses of reverse proxies whose X-Forwarded-For names the client (comma-separated); "
        "unset: the peer's own address, so nobody can pick the address log-in throttling counts",
    )
    token_days: float = Field(90, gt=0, le=3650, description="API tokens stop working this many days after creation")
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="Secure cookies: auto = when the request arrived over HTTPS"
    )
    timezone: str = Field(DEFAULT_TIMEZONE, description="Times on pages are shown in this zone")
    # Shorter than influx.timeout_s: a hung InfluxDB must not hold a page that refreshes every few seconds.
    influx_timeout_s: float = Field(3.0, gt=0, le=60)
    # At most console.web.MAX_PAGE (500): a request may not ask for more either.
    outbox_limit: int = Field(200, ge=1, le=500, description="Newest SMS shown on the outbox page")
    # Installing homes from the registry (console/routers/registry_install.py): the broker the console adds accounts to.
    broker_state: Path | None = Field(None, description="The broker's state folder (default: state_dir/mosquitto)")
    broker_credentials: Path | None = Field(
        None, description="The broker accounts file (default: state_dir/credentials.json)"
    )
    bundle_host: str | None = Field(None, description="Broker host in installer bundles (default: mqtt.host)")
    bundle_port: int | None = Field(None, ge=1, le=65535, description="Broker port in bundles (default: mqtt.port)")
    bundle_tls: bool = Field(False, description="Bundles connect with TLS, trusting bundle_ca_file")
    bundle_ca_file: Path | None = Field(None, description="The CA certificate (PEM) bundles carry")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)


class ConsoleSettings(ServiceSettings):
    """Everything the console reads."""

    console: ConsoleOptions = ConsoleOptions()
    database: DatabaseSettings = DatabaseSettings()
    influx: InfluxSettings = InfluxSettings()
    # Only for /healthz (the console holds no MQTT session): when set, a broker that does not answer makes it 503.
    mqtt: MqttSettings | None = None
    # The Mosquitto shards homes are given at registration (anxin/shards.py); none: the one broker above.
    shards: list[Shard] = Field(default_factory=list)
