"""Zigbee sensors through zigbee2mqtt on the Pi's local broker, mapped by device friendly name."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt

from anxin.mqtt import make_client
from anxin.settings import MqttSettings
from edge.config import ZigbeeDevice, ZigbeeSettings
from edge.sensors import Clock, Reading, Sink

log = logging.getLogger(__name__)
KEY_KIND = (("contact", "door"), ("occupancy", "motion"), ("action", "button"))
# Extra clicks on a panic button still mean "help": map them to a press unless the config says otherwise.
EXTRA_PRESSES = ("double", "triple", "quadruple", "many")


class Z2mPayloadError(ValueError):
    """A zigbee2mqtt message the agent cannot use; `reason` is a short code for counting."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass
class DeviceState:
    """What the mapper remembers of one device."""

    last_value: int | str | None = None
    last_emit: datetime | None = None
    battery: int | None = None
    linkquality: int | None = None
    last_message: datetime | None = None
    available: bool | None = None


def _battery(raw: Any) -> int | None:
    if raw is None or isinstance(raw, bool):
        return None
    try:
        return max(0, min(100, round(float(raw))))  # old zigbee2mqtt sent "100.00"
    except (TypeError, ValueError):
        return None


class Z2mMapper:
    """Turns zigbee2mqtt device messages into readings; pure apart from its per-device memory."""

    def __init__(self, devices: list[ZigbeeDevice]) -> None:
        self.devices = {d.friendly_name: d for d in devices}
        self.state = {d.friendly_name: DeviceState() for d in devices}
        self.errors: Counter[str] = Counter()

    def handle(self, name: str, payload: bytes, now: datetime) -> list[Reading]:
        """Readings for one message on `<base>/<name>`; raises Z2mPayloadError for an unusable one."""
        cfg = self.devices.get(name)
        if cfg is None:
            raise Z2mPayloadError("unknown_device", f"no device with friendly name {name!r} in the config")
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise Z2mPayloadError("not_json", f"{name}: {err}") from err
        if not isinstance(data, dict):
            raise Z2mPayloadError("not_object", f"{name}: expected a JSON object, got {type(data).__name__}")
        st = self.state[name]
        st.last_message = now
        battery = _battery(data.get("battery"))
        if battery is not None:
            st.battery = battery
        if isinstance(data.get("linkquality"), int | float):
            st.linkquality = int(data["linkquality"])
        kind: str | None = cfg.kind or next((k for key, k in KEY_KIND if key in data), None)
        if kind is None:
            return []  # a battery or link report with nothing to say
        value = self._value(cfg, kind, data, st, now)
        if value is None:
            return []
        st.last_value, st.last_emit = value, now
        return [Reading(cfg.sensor, kind, value, now, room=cfg.room, battery=st.battery)]

    def _value(self, cfg: ZigbeeDevice, kind: str, data: dict[str, Any], st: DeviceState, now: datetime) -> Any:
        if kind == "door":
            contact = data.get("contact")
            if not isinstance(contact, bool):
                raise Z2mPayloadError("bad_contact", f"{cfg.friendly_name}: contact is {contact!r}, not true/false")
            value = "closed" if contact else "open"  # zigbee2mqtt: contact true = closed
            return value if value != st.last_value else None
        if kind == "motion":
            occ = data.get("occupancy")
            if not isinstance(occ, bool):
                raise Z2mPayloadError("bad_occupancy", f"{cfg.friendly_name}: occupancy is {occ!r}")
            motion = 1 if occ else 0
            if motion != st.last_value:
                return motion
            # zigbee2mqtt clears occupancy after its timeout, so a repeated `true` means fresh motion.
            again = motion == 1 and st.last_emit is not None
            if again and (now - st.last_emit).total_seconds() >= cfg.repeat_motion_s:  # type: ignore[operator]
                return motion
            return None
        action = data.get("action")
        if action in (None, ""):
            return None  # zigbee2mqtt clears `action` to "" after each click
        if not isinstance(action, str):
            raise Z2mPayloadError("bad_action", f"{cfg.friendly_name}: action is {action!r}")
        if action in cfg.long_press_actions:
            return "long_press"
        if action in cfg.press_actions or action in EXTRA_PRESSES:
            return "press"
        return None  # release, rotate, ...: not a press

    def availability(self, name: str, payload: bytes) -> bool | None:
        """Record `<base>/<name>/availability` (`online`/`offline`, plain or JSON)."""
        text = payload.decode(errors="replace").strip()
        try:
            data = json.loads(text)
            state = data.get("state") if isinstance(data, dict) else data
        except json.JSONDecodeError:
            state = text
        avail = {"online": True, "offline": False}.get(str(state))
        if name in self.state:
            self.state[name].available = avail
        return avail


def split_topic(base: str, topic: str) -> tuple[str, str] | None:
    """(`state`|`availability`|`bridge`, friendly name or bridge path) of a topic under `base`, or None."""
    if not topic.startswith(base + "/"):
        return None
    rest = topic[len(base) + 1 :]
    if rest.startswith("bridge/"):
        return "bridge", rest[len("bridge/") :]
    if rest.endswith("/availability"):
        return "availability", rest[: -len("/availability")]
    if rest.endswith(("/set", "/get")) or "/set/" in rest:
        return None
    return "state", rest


def local_mqtt(z: ZigbeeSettings) -> MqttSettings:
    """Settings for the Pi's local broker."""
    return MqttSettings(host=z.host, port=z.port, username=z.username, password=z.password)


class ZigbeeSource:
    """Subscribes to zigbee2mqtt on the local broker with a persistent session, so a restart loses nothing queued."""

    def __init__(
        self,
        settings: ZigbeeSettings,
        client_id: str,
        sink: Sink,
        clock: Clock,
        on_seen: Callable[[str, ZigbeeDevice, DeviceState], None] | None = None,
    ) -> None:
        self.settings = settings
        self.mapper = Z2mMapper(settings.devices)
        self.bridge_devices: list[str] | None = None
        self.bridge_state: str | None = None
        self._sink, self._clock, self._on_seen = sink, clock, on_seen
        self.connected = threading.Event()
        self._client = make_client(local_mqtt(settings), client_id)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *_a: self.connected.clear()
        self._client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("local broker refused the agent: %s", reason)
            return
        client.subscribe(f"{self.settings.base_topic}/#", qos=1)
        self.connected.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        where = split_topic(self.settings.base_topic, msg.topic)
        if where is None:
            return
        what, name = where
        try:
            if what == "bridge":
                self._bridge(name, bytes(msg.payload))
            elif what == "availability":
                self.mapper.availability(name, bytes(msg.payload))
            elif name in self.mapper.devices:
                for reading in self.mapper.handle(name, bytes(msg.payload), self._clock()):
                    self._sink(reading)
                if self._on_seen is not None:
                    self._on_seen(name, self.mapper.devices[name], self.mapper.state[name])
        except Z2mPayloadError as err:
            self.mapper.errors[err.reason] += 1
            log.warning("zigbee2mqtt message on %s rejected: %s", msg.topic, err)

    def _bridge(self, path: str, payload: bytes) -> None:
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = payload.decode(errors="replace")
        if path == "devices" and isinstance(data, list):
            self.bridge_devices = [str(d.get("friendly_name")) for d in data if isinstance(d, dict)]
        elif path == "state":
            self.bridge_state = str(data.get("state") if isinstance(data, dict) else data)

    def start(self) -> None:
        """Connect in the background, resuming the persistent session."""
        from anxin.mqtt import session_properties

        self._client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=30,
            clean_start=False,
            properties=session_properties(7 * 86400),
        )
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect (the local broker keeps our session and queues for us)."""
        self._client.disconnect()
        self._client.loop_stop()
