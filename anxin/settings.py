"""Settings shared by every service: one pydantic-settings class per service, env prefix ANXIN_, optional TOML."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_ENV = "ANXIN_CONFIG"
# Every top-level key any service reads; a TOML file may hold them all, each service takes what it knows.
KNOWN_SECTIONS = frozenset(
    {"state_dir", "log_level", "mqtt", "influx", "database", "ingest", "anomaly", "alerts", "console", "sim"}
)


class ConfigError(Exception):
    """A setting is wrong; the message names it and says what was expected."""


class Section(BaseModel):
    """Base of a settings section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class MqttSettings(Section):
    """How a service reaches the broker."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)


class InfluxSettings(Section):
    """How a service reaches InfluxDB."""

    url: str = Field("http://127.0.0.1:8086", pattern=r"^https?://")
    database: str = Field("anxin", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    retention_policy: str = "autogen"
    token: SecretStr | None = None
    org: str = "-"
    api: Literal["auto", "v1", "v2"] = "auto"
    timeout_s: float = Field(10.0, gt=0, le=300)


class DatabaseSettings(Section):
    """The SQL database of homes, responders and alerts."""

    url: str = "sqlite:///.anxin-state/anxin.db"


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the file named by ANXIN_CONFIG, keeping the keys this service knows."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = os.environ.get(CONFIG_ENV)
        self._data: dict[str, Any] = {}
        if not path:
            return
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as err:
            raise ConfigError(f"{CONFIG_ENV}: config file {path} does not exist") from err
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from err
        unknown = sorted(set(data) - KNOWN_SECTIONS)
        if unknown:
            raise ConfigError(
                f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_SECTIONS))}"
            )
        self._data = {k: v for k, v in data.items() if k in settings_cls.model_fields}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class ServiceSettings(BaseSettings):
    """Base of each service's settings class."""

    model_config = SettingsConfigDict(env_prefix="ANXIN_", env_nested_delimiter="__", extra="forbid")

    # The broker account this service uses when none is configured.
    service_account: ClassVar[str | None] = None

    state_dir: Path = Path(".anxin-state")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _default_account(self) -> ServiceSettings:
        # Not a field default: a [mqtt] table or ANXIN_MQTT__* variable rebuilds the whole section without it.
        mqtt = getattr(self, "mqtt", None)
        if isinstance(mqtt, MqttSettings) and mqtt.username is None and self.service_account:
            mqtt.username = self.service_account
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))


S = TypeVar("S", bound=ServiceSettings)


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build a service's settings, turning validation errors into one message per bad setting."""
    try:
        return cls(**overrides)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = [str(p) for p in e["loc"]]
            env = "ANXIN_" + "__".join(loc).upper()
            got = e.get("input")
            shown = "" if isinstance(got, dict) or "password" in env or "TOKEN" in env else f" (got {got!r})"
            lines.append(f"setting {'.'.join(loc)} [{env}]: {e['msg']}{shown}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from err
