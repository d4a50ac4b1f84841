"""Settings for every service and the edge agent: one pydantic-settings class each, env prefix ANXIN_, a TOML file.

Precedence: load_settings() overrides, then variables, then the file (pydantic-settings' TOML source, made strict).
An error names the setting, the variable that sets it and, when the file sets it, the file's line.
"""

from __future__ import annotations

import os
import re
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

CONFIG_ENV = "ANXIN_CONFIG"
# Every top-level key any service reads; a TOML file may hold them all, each service takes what it knows.
KNOWN_SECTIONS = frozenset(
    {
        "state_dir",
        "log_level",
        "mqtt",
        "influx",
        "database",
        "ingest",
        "anomaly",
        "alerts",
        "console",
        "sim",
        "bus",
        "nats",
        "shards",
    }
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


class NatsSettings(Section):
    """The NATS JetStream cluster of `bus = "nats"` (docs/scale.md); unused by the embedded default."""

    servers: list[str] = Field(default_factory=lambda: ["nats://127.0.0.1:4222"], min_length=1)
    # One user per service role (shell/nats_auth.py). User and password rather than nkeys: nats-py sends them as is,
    # nats-server checks bcrypt hashes of them; an nkey seed would need the nkeys and PyNaCl packages in every service.
    user: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    password: SecretStr | None = None
    events_stream: str = Field("ANXIN_EVENTS", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    findings_stream: str = Field("ANXIN_FINDINGS", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    state_bucket: str = Field("anxin_anomaly", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    lease_bucket: str = Field("anxin_leases", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # A home's events all land in one partition (a stable hash of its id), consumed in order by one worker.
    partitions: int = Field(256, ge=1, le=4096)
    replicas: int = Field(3, ge=1, le=5)
    ack_timeout_s: float = Field(5.0, gt=0, le=120)
    # How long a dead worker keeps its partitions: its lease expires this long after its last renewal.
    lease_s: float = Field(3.0, ge=1, le=300)
    max_age_days: float = Field(7.0, gt=0, le=3650)
    # A worker checkpoints a home and acks its events at most this often (0: every batch); findings go out at once.
    # Below the consumer's 30 s ack wait; a takeover replays at most this much of a partition.
    worker_checkpoint_s: float = Field(5.0, ge=0, le=20)
    # Anomaly workers republish findings to MQTT for today's alerts service (anomaly/relay.py).
    findings_to_mqtt: bool = True
    # Anomaly workers take responders' verdicts off MQTT into their homes' partitions (anomaly/feedback_bridge.py).
    feedback_from_mqtt: bool = True

    @field_validator("servers")
    @classmethod
    def _no_userinfo(cls, servers: list[str]) -> list[str]:
        # Servers are logged: a password written into a URL would be too (and user/password would be ignored).
        if any("@" in s for s in servers):
            raise ValueError("a server URL holds no user or password: set nats.user and nats.password")
        return servers

    @field_validator("password")
    @classmethod
    def _with_user(cls, password: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if password is not None and not info.data.get("user"):
            raise ValueError("a password needs its user: set nats.user (ANXIN_NATS__USER) too")
        return password


class DatabaseSettings(Section):
    """The SQL database of homes, responders and alerts."""

    url: str = "sqlite:///.anxin-state/anxin.db"


# The file a load_settings(..., config=path) call reads, over the class's variable (the edge agent's --config).
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("anxin_config_file", default=None)


def config_path(settings_cls: type[BaseSettings]) -> Path | None:
    """The TOML file a settings class reads: the one passed to load_settings, else its variable's, else none."""
    chosen = _CONFIG_FILE.get()
    if chosen is not None:
        return chosen
    env = getattr(settings_cls, "config_env", CONFIG_ENV)
    path = os.environ.get(env)
    return Path(path) if path else None


class TomlFileSource(TomlConfigSettingsSource):
    """pydantic-settings' TOML source, strict: a missing file, bad TOML or an unknown top-level key is a ConfigError.

    A class with `config_sections` shares one file with the other services and takes only its own sections from it;
    without, every key of the file is its own and pydantic reports an unknown one with its line.
    """

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        path = config_path(settings_cls)
        if path is not None and not path.is_file():
            hint = getattr(settings_cls, "config_hint", "")
            if _CONFIG_FILE.get() is not None:
                raise ConfigError(f"{path}: no such config file{hint}")
            env = getattr(settings_cls, "config_env", CONFIG_ENV)
            raise ConfigError(f"{env}: config file {path} does not exist{hint}")
        super().__init__(settings_cls, toml_file=path)
        sections: frozenset[str] | None = getattr(settings_cls, "config_sections", None)
        if sections is None:
            return
        unknown = sorted(set(self.toml_data) - sections)
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(sections))}")
        # Keys other services read stay in the file for them.
        self.init_kwargs = {k: v for k, v in self.init_kwargs.items() if k in settings_cls.model_fields}

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            return super()._read_file(file_path)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{file_path}: not valid TOML: {err}") from err
        except OSError as err:
            raise ConfigError(f"{file_path}: cannot read: {err}") from err


class ServiceSettings(BaseSettings):
    """Base of each service's settings class."""

    model_config = SettingsConfigDict(env_prefix="ANXIN_", env_nested_delimiter="__", extra="forbid")

    # The broker account this service uses when none is configured.
    service_account: ClassVar[str | None] = None
    # The variable naming the TOML file, the top-level keys the file may hold (None: this class's fields only),
    # and what a missing file's error adds.
    config_env: ClassVar[str] = CONFIG_ENV
    config_sections: ClassVar[frozenset[str] | None] = KNOWN_SECTIONS
    config_hint: ClassVar[str] = ""

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
        return (init_settings, env_settings, TomlFileSource(settings_cls))


S = TypeVar("S", bound=ServiceSettings)


def load_settings(cls: type[S], config: Path | None = None, **overrides: Any) -> S:
    """Build a service's settings (from `config` if given), turning validation errors into one line per setting."""
    token = _CONFIG_FILE.set(config)
    try:
        return cls(**overrides)
    except ValidationError as err:
        path = config_path(cls)
        text = path.read_text() if path is not None and path.is_file() else ""
        lines = [_problem(cls, e, path, text) for e in err.errors()]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from err
    finally:
        _CONFIG_FILE.reset(token)


def _problem(cls: type[BaseSettings], e: Any, path: Path | None, text: str) -> str:
    """One bad setting: where it is written (the file's line, else its variable), what it is, and why."""
    loc = tuple(e["loc"])
    field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
    if not field:
        return f"setting (whole config): {e['msg']}"
    # The variable that sets it: nested keys joined by "__"; a list is set whole, as JSON.
    names = [str(p) for p in loc[: next((i for i, p in enumerate(loc) if not isinstance(p, str)), len(loc))]]
    env = str(cls.model_config.get("env_prefix", "")) + "__".join(names).upper()
    line = locate(text, loc) if text and env not in os.environ else None
    where = f"{path}:{line}: " if line else "setting "
    got = e.get("input")
    secret = any(isinstance(p, str) and any(w in p for w in ("password", "token", "secret")) for p in loc)
    shown = "" if secret or isinstance(got, dict | list) or e["type"] == "missing" else f" (got {got!r})"
    return f"{where}{field} [{env}]: {e['msg']}{shown}"


def locate(text: str, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the TOML `text` where the value at `loc` (as pydantic reports it) is written."""
    lines = text.splitlines()
    header = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"-]+)\s*\]\]?\s*(#.*)?$")
    key_re = re.compile(r"^\s*([A-Za-z0-9_\"-]+)\s*=")
    # Walk the file, keeping the current table's path with array-of-table indexes, as pydantic's loc spells it.
    counts: dict[tuple[str | int, ...], int] = {}
    table: tuple[str | int, ...] = ()
    best: int | None = None
    want = tuple(loc)
    for i, line in enumerate(lines, start=1):
        m = header.match(line)
        if m:
            parts: list[str | int] = []
            for name in m.group(2).strip('"').split("."):
                parts.append(name)
                key = tuple(parts)
                if m.group(1) == "[[" and len(parts) == len(m.group(2).split(".")):
                    counts[key] = counts.get(key, -1) + 1
                if key in counts:
                    parts.append(counts[key])
            table = tuple(parts)
            if want[: len(table)] == table and (best is None or len(table) > 0):
                best = i
            continue
        k = key_re.match(line)
        if k:
            path = (*table, k.group(1).strip('"'))
            if want[: len(path)] == path:
                return i
    return best
