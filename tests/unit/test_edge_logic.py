"""The edge agent's logic without a broker: disk queue, config errors, zigbee2mqtt mapping, GPIO, clock."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from anxin.settings import ConfigError, MqttSettings, locate
from edge.agent import EdgeAgent
from edge.config import GpioInput, ZigbeeDevice, load_edge_settings
from edge.gpio import GpioSensor
from edge.link import AgentLink
from edge.queue import DiskQueue, QueueLimits
from edge.sensors import Reading
from edge.zigbee import Z2mMapper, Z2mPayloadError, split_topic

EXAMPLE = Path(__file__).resolve().parents[2] / "edge" / "deploy" / "edge.example.toml"
T0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


def test_queue_seq_survives_restart_and_drops_non_safety_first(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.sqlite", QueueLimits(max_events=10))
    for i in range(8):
        q.enqueue("a", "pir", False, 100.0 + i, build=lambda s: b"m%d" % s)
    q.enqueue("a", "panic", True, 200.0, build=lambda s: b"p%d" % s)
    q.close()
    q = DiskQueue(tmp_path / "q.sqlite", QueueLimits(max_events=10))
    for i in range(5):
        q.enqueue("a", "pir", False, 300.0 + i, build=lambda s: b"m%d" % s)
    rows = q.head("a", None, 100)
    assert q.last_seq("a") == 14
    assert [r.seq for r in rows] == [5, 6, 7, 8, 9, 10, 11, 12, 13, 14] and rows[4].safety
    assert q.drops("a") == (4, 4)
    q.ack("a", [5, 9])
    assert q.depth("a", 310.0) == (8, 310.0 - 105.0)
    # Filled with safety events only, the queue grows past its bound rather than drop a press.
    for _ in range(12):
        q.enqueue("b", "panic", True, 1.0, build=lambda s: b"p")
    assert q.depth("b", 2.0)[0] == 12 and q.drops("b") == (0, 0)
    assert q.expire("a", 105.0 + 30 * 86400) == 0
    assert q.expire("a", 400.0 + 30 * 86400) == 8 and q.drops("a")[0] == 12


def test_example_config_loads() -> None:
    s = load_edge_settings(EXAMPLE)
    assert s.mqtt.username == "h-abc123" and s.mqtt.tls and len(s.gpio) == 3
    assert s.gpio[1].effective_pull_up() and not s.gpio[0].effective_pull_up()
    assert s.zigbee is not None and s.zigbee.devices[0].friendly_name == "kitchen_motion"


def test_config_errors_point_at_line_and_field(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    bad = text.replace("pin = 27", "pin = 40").replace('kind = "button"', 'kind = "buton"')
    bad = bad.replace("drain_rate = 20.0", "drain_rate = 20.0\nsped = 3").replace(
        'password = "CHANGE-ME"', "password = 5"
    )
    path = tmp_path / "edge.toml"
    path.write_text(bad)
    with pytest.raises(ConfigError) as exc:
        load_edge_settings(path)
    msg = str(exc.value)
    lines = bad.splitlines()

    def at(prefix: str) -> int:
        return next(i for i, ln in enumerate(lines, start=1) if ln.startswith(prefix))

    assert f"{path}:{at('sped = 3')}: queue.sped [ANXIN_EDGE__QUEUE__SPED]: Extra inputs" in msg
    assert f"{path}:{at('pin = 40')}: gpio[1].pin [ANXIN_EDGE__GPIO]:" in msg and "(got 40)" in msg
    kind_line = at('kind = "buton"')
    assert f"{path}:{kind_line}: gpio[2].kind [ANXIN_EDGE__GPIO]:" in msg
    assert "mqtt.password" in msg and "got 5" not in msg  # never echo a password
    path.write_text("home = 'h-abc123'\n[mqtt\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_edge_settings(path)
    path.write_text(
        'home = "h-abc123"\n[[gpio]]\nsensor = "a"\nkind = "door"\npin = 4\n[[gpio]]\nsensor = "a"\n'
        'kind = "door"\npin = 4\n'
    )
    with pytest.raises(ConfigError, match="unique; repeated: a"):
        load_edge_settings(path)
    assert (
        locate('[[zigbee.devices]]\nsensor = "x"\n[[zigbee.devices]]\nroom = 1\n', ("zigbee", "devices", 1, "room"))
        == 4
    )


# Payloads as zigbee2mqtt documents them for Aqara MCCGQ11LM (door), RTCGQ11LM (motion), WXKG11LM (button).
DOOR = ZigbeeDevice(friendly_name="front door", sensor="door_front", room="entrance")
PIR = ZigbeeDevice(friendly_name="hall/motion", sensor="pir_hall")
BUTTON = ZigbeeDevice(friendly_name="panic", sensor="panic_z")


def _p(d: dict[str, object]) -> bytes:
    return json.dumps(d).encode()


def test_zigbee2mqtt_documented_payloads() -> None:
    m = Z2mMapper([DOOR, PIR, BUTTON])
    door = {"battery": 100, "voltage": 3005, "device_temperature": 22, "power_outage_count": 3, "linkquality": 87}
    out = m.handle("front door", _p({**door, "contact": False}), T0)
    assert out == [Reading("door_front", "door", "open", T0, room="entrance", battery=100)]
    # A battery report repeats the cached state: no new event.
    assert m.handle("front door", _p({**door, "contact": False, "battery": 97}), T0) == []
    assert m.state["front door"].battery == 97
    assert m.handle("front door", _p({**door, "contact": True}), T0)[0].value == "closed"
    assert m.state["front door"].battery == 100 and m.state["front door"].linkquality == 87
    pir = {"battery": 90, "voltage": 3025, "illuminance": 12, "illuminance_lux": 12, "linkquality": 120}
    assert m.handle("hall/motion", _p({**pir, "occupancy": True}), T0)[0].value == 1
    assert m.handle("hall/motion", _p({**pir, "occupancy": True}), T0 + timedelta(seconds=30)) == []
    assert m.handle("hall/motion", _p({**pir, "occupancy": True}), T0 + timedelta(seconds=61))[0].value == 1
    assert m.handle("hall/motion", _p({**pir, "occupancy": False}), T0 + timedelta(seconds=151))[0].value == 0
    btn = {"battery": 80, "voltage": 2995, "linkquality": 60}
    assert m.handle("panic", _p({**btn, "action": "single"}), T0)[0].value == "press"
    assert m.handle("panic", _p({**btn, "action": ""}), T0) == []
    assert m.handle("panic", _p({**btn, "action": "double"}), T0)[0].value == "press"
    assert m.handle("panic", _p({**btn, "action": "hold"}), T0)[0].value == "long_press"
    assert m.handle("panic", _p({**btn, "action": "release"}), T0) == []
    assert m.handle("panic", _p({"battery": 79, "linkquality": 55}), T0) == []
    assert m.availability("panic", b'{"state":"offline"}') is False and m.availability("panic", b"online") is True
    for bad, reason in ((b"{", "not_json"), (b"[1]", "not_object"), (_p({"contact": "yes"}), "bad_contact")):
        with pytest.raises(Z2mPayloadError) as exc:
            m.handle("front door", bad, T0)
        assert exc.value.reason == reason
    assert split_topic("zigbee2mqtt", "zigbee2mqtt/hall/motion") == ("state", "hall/motion")
    assert split_topic("zigbee2mqtt", "zigbee2mqtt/panic/availability") == ("availability", "panic")
    assert split_topic("zigbee2mqtt", "zigbee2mqtt/bridge/devices") == ("bridge", "devices")
    assert split_topic("zigbee2mqtt", "zigbee2mqtt/panic/set") is None


def _wait(pred: object, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not pred():  # type: ignore[operator]
        time.sleep(0.01)


def test_gpio_inputs_driven_like_wiring() -> None:
    factory = MockFactory()
    got: list[Reading] = []
    pir = GpioSensor(GpioInput(sensor="pir", kind="motion", pin=17, bounce_s=0.02), got.append, lambda: T0, factory)
    door = GpioSensor(GpioInput(sensor="door", kind="door", pin=27, bounce_s=0.05), got.append, lambda: T0, factory)
    btn = GpioSensor(
        GpioInput(sensor="panic", kind="button", pin=22, bounce_s=0.02, long_press_s=0.3),
        got.append,
        lambda: T0,
        factory,
    )
    p17, p27, p22 = factory.pin(17), factory.pin(27), factory.pin(22)
    assert door.state() == "open" and btn.state() == "released" and pir.state() == "no motion"  # pull-ups hold high
    p17.drive_high()
    _wait(lambda: len(got) == 1)
    p17.drive_low()
    _wait(lambda: len(got) == 2)
    # The reed switch closes with a bounce: one event.
    for level in (0, 1, 0, 1, 0):
        (p27.drive_low if level == 0 else p27.drive_high)()
        time.sleep(0.005)
    _wait(lambda: len(got) == 3)
    time.sleep(0.1)
    assert door.state() == "closed"
    p22.drive_low()
    time.sleep(0.1)
    p22.drive_high()
    _wait(lambda: len(got) == 4)
    p22.drive_low()
    time.sleep(0.5)
    p22.drive_high()
    time.sleep(0.1)
    assert [(r.sensor, r.value) for r in got] == [
        ("pir", 1),
        ("pir", 0),
        ("door", "closed"),
        ("panic", "press"),
        ("panic", "long_press"),
    ]
    for s in (pir, door, btn):
        s.close()


def test_clock_before_build_holds_events_then_stamps_them(tmp_path: Path) -> None:
    from edge.config import EdgeSettings

    clock = {"now": datetime(2000, 1, 1, tzinfo=UTC)}
    settings = EdgeSettings(home="h-abc123", state_dir=tmp_path, mqtt=MqttSettings(port=1))
    agent = EdgeAgent(settings, now=lambda: clock["now"])
    agent.accept(Reading("pir", "motion", 1, clock["now"]))
    assert not agent.clock_ok and agent.held == 1
    assert agent.queue.head("pi", None, 10) == []  # nothing leaves with a wrong stamp
    time.sleep(0.2)
    clock["now"] = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    agent.check_clock()
    rows = agent.queue.head("pi", None, 10)
    assert agent.clock_ok and len(rows) == 1
    ts = datetime.fromisoformat(json.loads(rows[0].payload)["ts"])
    assert timedelta(seconds=0.1) < clock["now"] - ts < timedelta(seconds=5)  # stamped back by the boot clock
    agent.queue.close()


def test_link_keeps_the_simulator_api(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.sqlite")
    link = AgentLink(MqttSettings(port=1), "h-abc123", "pi", q, T0)
    e = link.publish_event(T0, "pir", "motion", 1, room="hall", battery=90)
    assert (e.seq, link.sent, link.sensors["pir"].battery) == (1, 1, 90)
    assert not link.connected.is_set() and link.queue_state()[0] == 1
    q.close()
