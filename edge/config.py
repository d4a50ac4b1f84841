"""The edge agent's TOML config, read by the services' settings machinery (anxin/settings.py) from its own file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from anxin.settings import MqttSettings, Section, ServiceSettings, load_settings
from contracts.topics import HOME_ID_PATTERN
from edge.queue import QueueLimits

EDGE_CONFIG_ENV = "ANXIN_EDGE_CONFIG"
DEFAULT_CONFIG = Path("/etc/anxin/edge.toml")
NAME = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
ROOM = r"^[a-z][a-z0-9_]{0,31}$"


class QueueSettings(QueueLimits):
    """The disk queue: bounds, and how fast a backlog drains after an outage."""

    drain_rate: float = Field(20.0, gt=0, le=10_000, description="Backlog events per second after an outage")
    max_inflight: int = Field(20, ge=1, le=1000, description="Events sent and not yet acknowledged")


class GpioInput(Section):
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


class ZigbeeDevice(Section):
    """One zigbee2mqtt device, by its friendly name."""

    friendly_name: str = Field(min_length=1, max_length=128)
    sensor: str = Field(pattern=NAME)
    kind: Literal["door", "motion", "button"] | None = Field(None, description="Default: from the payload's keys")
    room: str | None = Field(None, pattern=ROOM)
    press_actions: list[str] = Field(default_factory=lambda: ["single", "press", "on", "toggle", "1_single"])
    long_press_actions: list[str] = Field(default_factory=lambda: ["hold", "long", "long_press", "1_hold"])
    repeat_motion_s: float = Field(60.0, ge=0, description="A repeated occupancy=true this long after is new motion")


class ZigbeeSettings(Section):
    """zigbee2mqtt on the Pi's local broker."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    base_topic: str = Field("zigbee2mqtt", min_length=1)
    devices: list[ZigbeeDevice] = Field(default_factory=list)


class EdgeSettings(ServiceSettings):
    """Everything the agent on one home's Pi reads: its own TOML file, then ANXIN_EDGE__* variables over it."""

    # Its own prefix under ANXIN_: a laptop running the services and an agent keeps their ANXIN_MQTT__* apart.
    model_config = SettingsConfigDict(env_prefix="ANXIN_EDGE__", env_nested_delimiter="__", extra="forbid")
    config_env: ClassVar[str] = EDGE_CONFIG_ENV
    config_sections: ClassVar[frozenset[str] | None] = None  # the file is the agent's alone: every key is its own
    config_hint: ClassVar[str] = " (write one from edge/deploy/edge.example.toml)"

    home: str = Field(pattern=rf"^{HOME_ID_PATTERN}$")
    agent: str = Field("pi", pattern=NAME)
    state_dir: Path = Path("/var/lib/anxin-edge")
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

    def queue_path(self) -> Path:
        """The disk queue's SQLite file."""
        return self.state_dir / "queue.sqlite"


def config_file(path: Path | None = None) -> Path:
    """The agent's config file: `path`, else $ANXIN_EDGE_CONFIG, else /etc/anxin/edge.toml."""
    return path or Path(os.environ.get(EDGE_CONFIG_ENV, str(DEFAULT_CONFIG)))


def load_edge_settings(path: Path | None = None, **overrides: Any) -> EdgeSettings:
    """Read and validate the agent's config; a ConfigError has one line per problem, with its line and variable."""
    return load_settings(EdgeSettings, config=config_file(path), **overrides)
