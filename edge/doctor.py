"""`anxin edge doctor`: check config, broker, clock, inputs and Zigbee devices, and say what to fix."""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from anxin.settings import ConfigError
from edge.config import EdgeSettings, load_edge_settings

Level = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One finding of the doctor."""

    level: Level
    name: str
    detail: str
    fix: str = ""

    def render(self) -> str:
        """Two lines at most: what, and what to do."""
        text = f"{self.level.upper():4} {self.name}: {self.detail}"
        return text + (f"\n     fix: {self.fix}" if self.fix else "")


def check_config(path: Path) -> tuple[EdgeSettings | None, list[Check]]:
    """Load the config; each problem becomes a failed check naming its line."""
    try:
        settings = load_edge_settings(path)
    except ConfigError as err:
        lines = str(err).splitlines()
        problems = [ln.strip() for ln in lines[1:]] or lines
        return None, [
            Check("fail", "config", p, "edit the file at that line; see edge/deploy/edge.example.toml")
            for p in problems
        ]
    return settings, [Check("ok", "config", f"{path} is valid (home {settings.home}, agent {settings.agent})")]


def check_clock(now: datetime) -> Check:
    """A clock before this build cannot stamp events."""
    from edge.agent import BUILD_DATE, clock_sane

    if clock_sane(now):
        return Check("ok", "clock", f"{now.isoformat(timespec='seconds')}")
    return Check(
        "fail",
        "clock",
        f"reads {now.isoformat(timespec='seconds')}, before this build ({BUILD_DATE.date()}); events are held",
        "connect the Pi to a network with NTP (`timedatectl set-ntp true`) or set the time (`date -s ...`)",
    )


def _probe(
    host: str, port: int, username: str | None, password: str | None, tls: bool, ca: Path | None, timeout: float
) -> tuple[str, str]:
    """Connect once: ('ok', ''), ('unreachable', why), ('refused', reason) or ('tls', why)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    from anxin.broker import agent_client_id

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        # A home account may connect only as its agent (the broker binds ids to accounts); the probe takes over a
        # running agent's connection for a moment, and the agent reconnects on its own.
        client_id=agent_client_id(username) if username else f"anxin-doctor-{time.time_ns() % 10**9}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    if username:
        client.username_pw_set(username, password)
    if tls:
        try:
            client.tls_set(ca_certs=str(ca) if ca else None, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        except (OSError, ssl.SSLError) as err:
            return "tls", f"cannot load CA file {ca}: {err}"
    done = threading.Event()
    result: dict[str, Any] = {}

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        result["reason"] = reason
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
    except ssl.SSLError as err:
        return "tls", str(err)
    except OSError as err:
        return "unreachable", str(err)
    client.loop_start()
    try:
        if not done.wait(timeout):
            return "unreachable", f"no answer in {timeout:.0f}s"
        reason = result["reason"]
        return ("refused", str(reason)) if reason.is_failure else ("ok", "")
    finally:
        client.disconnect()
        client.loop_stop()


def check_broker(s: EdgeSettings, timeout: float = 5.0) -> Check:
    """Reach the Anxin broker with the home's credentials."""
    m = s.mqtt
    where = f"{m.host}:{m.port}{' (TLS)' if m.tls else ''}"
    if m.password is None:
        return Check("fail", "broker", "no password configured", "set [mqtt] password to the home's broker password")
    outcome, why = _probe(m.host, m.port, m.username, m.password.get_secret_value(), m.tls, m.ca_file, timeout)
    if outcome == "ok":
        return Check("ok", "broker", f"{where} accepted {m.username}")
    if outcome == "refused":
        return Check(
            "fail",
            "broker",
            f"{where} refused {m.username}: {why}",
            "check [mqtt] username (the home id) and password with the operator who registered the home",
        )
    if outcome == "tls":
        return Check(
            "fail",
            "broker",
            f"TLS to {where} failed: {why}",
            "check [mqtt] ca_file is the CA that signed the broker's certificate, and tls/port match",
        )
    if not m.tls and m.port == 8883:
        hint = "port 8883 is usually TLS: set [mqtt] tls = true and ca_file"
    else:
        hint = "check [mqtt] host and port, the Pi's network (`ping`), and that the broker's port is open"
    return Check("fail", "broker", f"cannot reach {where}: {why}", hint)


def check_queue(s: EdgeSettings, now: float) -> Check:
    """How much waits in the disk queue, and what was dropped."""
    from edge.queue import DiskQueue

    if not s.queue_path().exists():
        return Check("ok", "queue", f"no queue yet at {s.queue_path()} (the agent has not run)")
    q = DiskQueue(s.queue_path(), s.queue)
    try:
        depth, oldest = q.depth(s.agent, now)
        total, _ = q.drops(s.agent)
    finally:
        q.close()
    detail = f"{depth} event(s) waiting" + (f", oldest {oldest / 60:.0f} min" if oldest else "")
    if total:
        return Check(
            "warn",
            "queue",
            f"{detail}; {total} dropped so far (queue was full or events too old)",
            "the broker was unreachable for long: check the internet connection, raise [queue] max_events",
        )
    return Check("ok", "queue", detail)


def check_gpio(s: EdgeSettings, pin_factory: Any = None) -> list[Check]:
    """Each input's current level, in words; an input that cannot be opened says why."""
    from edge.gpio import GpioError, GpioSensor

    checks = []
    for cfg in s.gpio:
        name = f"gpio {cfg.sensor}"
        try:
            sensor = GpioSensor(cfg, lambda _r: None, datetime.now, pin_factory)
        except (GpioError, ImportError) as err:
            checks.append(
                Check(
                    "fail",
                    name,
                    f"GPIO{cfg.pin}: {err}",
                    "stop the agent (`systemctl stop anxin-edge`) if it holds the pin; check the wiring "
                    "and that python3-lgpio is installed",
                )
            )
            continue
        try:
            state = sensor.state()
        finally:
            sensor.close()
        pull = "pull-up" if cfg.effective_pull_up() else "no pull-up"
        fix = ""
        if cfg.kind == "button" and state == "pressed":
            fix = "the button reads pressed while nobody presses it: check wiring, pull_up and invert"
        checks.append(Check("warn" if fix else "ok", name, f"GPIO{cfg.pin} ({cfg.kind}, {pull}) reads {state}", fix))
    return checks


def check_zigbee(s: EdgeSettings, now: float, timeout: float = 2.0) -> list[Check]:
    """zigbee2mqtt's bridge on the local broker, and each configured device's last message."""
    import paho.mqtt.client as mqtt

    from anxin.mqtt import MqttConnectError, connect_and_wait, make_client
    from edge.queue import DiskQueue
    from edge.zigbee import local_mqtt

    z = s.zigbee
    if z is None or not z.enabled or not z.devices:
        return []
    retained: dict[str, bytes] = {}
    client = make_client(local_mqtt(z), f"anxin-doctor-z-{time.time_ns() % 10**9}")

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        retained[msg.topic] = bytes(msg.payload)

    client.on_message = on_message
    try:
        connect_and_wait(client, local_mqtt(z), timeout=timeout)
    except MqttConnectError as err:
        return [
            Check(
                "fail",
                "zigbee",
                f"local broker: {err}",
                "start the local Mosquitto (`systemctl start mosquitto`) and check [zigbee] host/port",
            )
        ]
    client.subscribe([(f"{z.base_topic}/bridge/state", 1), (f"{z.base_topic}/bridge/devices", 1)])
    time.sleep(timeout / 2)
    client.disconnect()
    client.loop_stop()
    checks: list[Check] = []
    state_raw = retained.get(f"{z.base_topic}/bridge/state")
    paired: list[str] | None = None
    if state_raw is None:
        checks.append(
            Check(
                "fail",
                "zigbee2mqtt",
                f"no {z.base_topic}/bridge/state on {z.host}:{z.port}",
                "start zigbee2mqtt (`systemctl start zigbee2mqtt`) and check [zigbee] base_topic",
            )
        )
    else:
        try:
            st = json.loads(state_raw)
            state = st.get("state") if isinstance(st, dict) else st
        except json.JSONDecodeError:
            state = state_raw.decode(errors="replace")
        ok = state == "online"
        checks.append(
            Check(
                "ok" if ok else "fail",
                "zigbee2mqtt",
                f"bridge is {state}",
                "" if ok else "start zigbee2mqtt and check its log (`journalctl -u zigbee2mqtt`)",
            )
        )
        try:
            devices = json.loads(retained.get(f"{z.base_topic}/bridge/devices", b"null"))
            if isinstance(devices, list):
                paired = [str(d.get("friendly_name")) for d in devices if isinstance(d, dict)]
        except json.JSONDecodeError:
            paired = None
    seen: dict[str, tuple[float, int | None, str | None]] = {}
    if s.queue_path().exists():
        q = DiskQueue(s.queue_path(), s.queue)
        try:
            seen = q.seen(s.agent)
        finally:
            q.close()
    for dev in z.devices:
        name = f"zigbee {dev.sensor}"
        if paired is not None and dev.friendly_name not in paired:
            known = ", ".join(sorted(p for p in paired if p != "Coordinator")) or "none"
            checks.append(
                Check(
                    "fail",
                    name,
                    f"{dev.friendly_name!r} is not paired with zigbee2mqtt (paired: {known})",
                    "pair the device (permit join in zigbee2mqtt) or fix friendly_name in the config",
                )
            )
            continue
        last = seen.get(dev.sensor)
        if last is None:
            checks.append(
                Check(
                    "warn",
                    name,
                    f"{dev.friendly_name!r}: no message since the agent started using it",
                    "trigger the sensor (open the door, walk past, press) with the agent running",
                )
            )
            continue
        age_h = (now - last[0]) / 3600
        extra = "".join(f", {x}" for x in (f"battery {last[1]}%" if last[1] is not None else None, last[2]) if x)
        fix = ""
        if age_h > 24:
            fix = "no message for over a day: check its battery and distance to the coordinator or a router"
        elif last[1] is not None and last[1] < 15:
            fix = "battery low: replace it"
        checks.append(
            Check("warn" if fix else "ok", name, f"{dev.friendly_name!r} last message {age_h:.1f} h ago{extra}", fix)
        )
    return checks


def run_doctor(path: Path, now: datetime | None = None, pin_factory: Any = None, timeout: float = 5.0) -> list[Check]:
    """Every check, in the order an installer would fix things."""
    settings, checks = check_config(path)
    if settings is None:
        return checks
    checks.append(check_clock(now or datetime.now().astimezone()))
    checks.append(check_broker(settings, timeout))
    checks.append(check_queue(settings, time.time()))
    checks.extend(check_gpio(settings, pin_factory))
    checks.extend(check_zigbee(settings, time.time(), min(timeout, 2.0)))
    return checks
