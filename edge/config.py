"""The edge agent's one TOML config: validated strictly, errors point at the file's line and the field."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from anxin.settings import MqttSettings
from contracts.topics import HOME_ID_PATTERN
from edge.queue import QueueLimits

EDGE_CONFIG_ENV = "ANXIN_EDGE_CONFIG"
DEFAULT_CONFIG = Path("/etc/anxin/edge.toml")
NAME = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
ROOM = r"^[a-z][a-z0-9_]{0,31}$"


class EdgeConfigError(Exception):
    """The config is wrong; the message names the file, line and field and says what was expected."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueueSettings(QueueLimits):
    """The disk queue: bounds, and how fast a backlog drains after an outage."""

    drain_rate: float = Field(20.0, gt=0, le=10_000, description="Backlog events per second after an outage")
    max_inflight: int = Field(20, ge=1, le=1000, description="Events sent and not yet acknowledged")


class GpioInput(_Section):
    """One wired sensor on a GPIO pin (BCM numbering)."""

    sensor: str = Field(pattern=NAME)
    kind: Literal["motion", "door", "button"]
    pin: int = Field(ge=0, le=27)
    room: str | None = Field(None, pattern=ROOM)
    pull_up: bool | None = Field(None, description="Default: on for door and button (switch to ground), off for PIR")
    invert: bool = Field(False, description="Swap active and inactive (a normally-closed reed switch)")
    bounce_s: float = Field(0.05, ge=0, le=5)
    long_press_s: float = Field(2.0, gt=0, le=30, description="Button: held this long is a long press")

    def effective_pull_up(self) -> bool:
        """Pull-up on unless configured otherwise: switches to ground for doors and buttons, PIR drives high."""
        return self.pull_up if self.pull_up is not None else self.kind != "motion"


class ZigbeeDevice(_Section):
    """One zigbee2mqtt device, by its friendly name."""

    friendly_name: str = Field(min_length=1, max_length=128)
    sensor: str = Field(pattern=NAME)
    kind: Literal["door", "motion", "button"] | None = Field(None, description="Default: from the payload's keys")
    room: str | None = Field(None, pattern=ROOM)
    press_actions: list[str] = Field(default_factory=lambda: ["single", "press", "on", "toggle", "1_single"])
    long_press_actions: list[str] = Field(default_factory=lambda: ["hold", "long", "long_press", "1_hold"])
    repeat_motion_s: float = Field(60.0, ge=0, description="A repeated occupancy=true this long after is new motion")


class ZigbeeSettings(_Section):
    """zigbee2mqtt on the Pi's local broker."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    base_topic: str = Field("zigbee2mqtt", min_length=1)
    devices: list[ZigbeeDevice] = Field(default_factory=list)


class EdgeSettings(BaseSettings):
    """Everything the agent on one home's Pi reads."""

    model_config = SettingsConfigDict(env_prefix="ANXIN_EDGE__", env_nested_delimiter="__", extra="forbid")

    home: str = Field(pattern=rf"^{HOME_ID_PATTERN}$")
    agent: str = Field("pi", pattern=NAME)
    state_dir: Path = Path("/var/lib/anxin-edge")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    heartbeat_s: float = Field(60.0, ge=1, le=3600)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    gpio: list[GpioInput] = Field(default_factory=list)
    zigbee: ZigbeeSettings | None = None

    @model_validator(mode="after")
    def _unique(self) -> EdgeSettings:
        names = [g.sensor for g in self.gpio] + [d.sensor for d in (self.zigbee.devices if self.zigbee else [])]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"sensor names must be unique; repeated: {', '.join(dup)}")
        pins = [g.pin for g in self.gpio]
        dup_pins = sorted({p for p in pins if pins.count(p) > 1})
        if dup_pins:
            raise ValueError(f"each GPIO pin may be used once; repeated: {', '.join(map(str, dup_pins))}")
        if self.mqtt.username is None:
            self.mqtt.username = self.home
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
        # Environment over the file (the file arrives as init kwargs from load_edge_settings).
        return (env_settings, init_settings)

    def queue_path(self) -> Path:
        """The disk queue's SQLite file."""
        return self.state_dir / "queue.sqlite"


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


def load_edge_settings(path: Path | None = None, **overrides: Any) -> EdgeSettings:
    """Read and validate the TOML config; raise EdgeConfigError with one line per problem, each with its line."""
    path = path or Path(os.environ.get(EDGE_CONFIG_ENV, str(DEFAULT_CONFIG)))
    try:
        text = path.read_text()
    except FileNotFoundError as err:
        raise EdgeConfigError(f"{path}: no such config file (write one from edge/deploy/edge.example.toml)") from err
    except OSError as err:
        raise EdgeConfigError(f"{path}: cannot read: {err}") from err
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise EdgeConfigError(f"{path}: not valid TOML: {err}") from err
    data.update(overrides)
    try:
        return EdgeSettings(**data)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = tuple(e["loc"])
            field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
            line = locate(text, loc)
            got = e.get("input")
            secret = any(isinstance(p, str) and "password" in p for p in loc)
            shown = "" if secret or isinstance(got, dict | list) or e["type"] == "missing" else f" (got {got!r})"
            where = f"{path}:{line}" if line else str(path)
            problems.append(f"{where}: {field or 'config'}: {e['msg']}{shown}")
        raise EdgeConfigError("invalid edge config:\n  " + "\n  ".join(problems)) from err
