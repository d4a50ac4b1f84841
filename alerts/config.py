"""Settings of the alerts service: env ANXIN_ALERTS__..., or the [alerts] table of the shared TOML file."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from alerts import retry
from anxin.settings import DatabaseSettings, MqttSettings, NatsSettings, Section, ServiceSettings

DEFAULT_TWILIO_API = "https://api.twilio.com"


class TwilioSettings(Section):
    """Twilio credentials; with none, SMS go to the local outbox only."""

    account_sid: str | None = Field(None, pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr | None = None
    from_number: str | None = Field(None, pattern=r"^\+[1-9][0-9]{6,14}$")
    api_base: str = Field(DEFAULT_TWILIO_API, pattern=r"^https?://")
    status_callback_url: str | None = Field(None, pattern=r"^https?://")
    timeout_s: float = Field(10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _all_or_none(self) -> TwilioSettings:
        given = {
            "account_sid": self.account_sid is not None,
            "auth_token": self.auth_token is not None,
            "from_number": self.from_number is not None,
        }
        if any(given.values()) and not all(given.values()):
            missing = ", ".join(k for k, v in given.items() if not v)
            raise ValueError(f"Twilio needs account_sid, auth_token and from_number together; missing {missing}")
        return self

    @property
    def configured(self) -> bool:
        """True when real SMS can be sent through Twilio."""
        return self.account_sid is not None and self.auth_token is not None and self.from_number is not None


class AlertsOptions(Section):
    """Options of the alerts service itself."""

    client_id: str = Field("anxin-alerts", pattern=r"^[A-Za-z0-9._:-]{1,64}$")
    session_expiry_s: int = Field(86400, ge=0, le=7 * 86400)
    console_url: str | None = Field(None, pattern=r"^https?://")
    twilio: TwilioSettings = TwilioSettings()
    max_send_attempts: int = Field(retry.MAX_SEND_ATTEMPTS, ge=1, le=20)
    retry_backoff_s: list[float] = Field(default_factory=lambda: list(retry.SEND_BACKOFF_S), min_length=1)
    # The alerts service's own HTTP server: Twilio webhooks and the mobile page. Port 0 turns it off.
    http_host: str = "127.0.0.1"
    http_port: int = Field(8090, ge=0, le=65535)
    # The public base URL Twilio and phones reach that server at (behind a proxy, say); it is also the URL Twilio
    # signs, so it must match what is configured in the Twilio console. Default: http://http_host:http_port.
    public_url: str | None = Field(None, pattern=r"^https?://")
    link_secret: SecretStr | None = None  # default: a random key kept in STATE_DIR/alerts-link.key (0600)
    link_ttl_s: int = Field(86400, ge=300, le=7 * 86400)
    # Per-number rate limit: at most rate_per_number SMS to one number in rate_window_s; the rest wait their turn.
    rate_per_number: int = Field(retry.RATE_PER_NUMBER, ge=1, le=100)
    rate_window_s: float = Field(retry.RATE_WINDOW_S, gt=0, le=3600)
    send_lease_s: float = Field(retry.SEND_LEASE_S, ge=5, le=3600)
    sweep_every_s: float = Field(1.0, gt=0, le=60)
    # bus = "nats": how long a finding handed to a replica may stay unacknowledged before JetStream gives it to
    # another (a replica killed mid-batch). A finding is recorded in milliseconds; the SMS goes out after the ack.
    jetstream_ack_wait_s: float = Field(15.0, ge=1, le=300)

    def base_url(self) -> str:
        """Where the alerts HTTP server is reached from outside."""
        return (self.public_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")


class AlertsSettings(ServiceSettings):
    """Everything the alerts service reads."""

    service_account = "alerts"

    mqtt: MqttSettings = MqttSettings()
    database: DatabaseSettings = DatabaseSettings()
    alerts: AlertsOptions = AlertsOptions()
    # "mqtt": the embedded default; "nats": findings from JetStream (alerts/jetstream.py, docs/scale.md).
    bus: Literal["mqtt", "nats"] = "mqtt"
    nats: NatsSettings = NatsSettings()
