"""TLS to a real Mosquitto, and `anxin edge doctor` explaining each misconfiguration it is given."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from anxin.broker import TlsListener
from edge.doctor import run_doctor
from edge.link import AgentLink
from edge.queue import DiskQueue
from shell.servers import free_port
from tests.support import edge_fixtures
from tests.support.edge_fixtures import (
    HOME,
    Collector,
    EdgeBroker,
    LocalBroker,
    make_tls,
    wired_low,
)

local_broker = edge_fixtures.local_broker  # a fixture
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> EdgeBroker:
    tmp = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_tls(tmp / "pki")
    b = EdgeBroker.start_new(tmp / "broker", TlsListener(free_port(), ca, cert, key))
    yield b  # type: ignore[misc]
    b.stop()


def _config(tmp: Path, broker: EdgeBroker, local: LocalBroker | None = None, **mqtt: object) -> Path:
    assert broker.tls is not None
    m = {
        "host": "127.0.0.1",
        "port": broker.tls.port,
        "tls": True,
        "ca_file": str(broker.tls.cafile),
        "password": broker.creds.users[HOME],
        **mqtt,
    }
    lines = [f'home = "{HOME}"', f'state_dir = "{tmp / "state"}"', "[mqtt]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in m.items()]
    lines += ["[[gpio]]", 'sensor = "panic"', 'kind = "button"', "pin = 22"]
    lines += ["[[gpio]]", 'sensor = "door_front"', 'kind = "door"', "pin = 27"]
    if local is not None:
        lines += ["[zigbee]", f"port = {local.port}"]
        lines += ["[[zigbee.devices]]", 'friendly_name = "kitchen_motion"', 'sensor = "pir_kitchen"']
        lines += ["[[zigbee.devices]]", 'friendly_name = "hallway"', 'sensor = "pir_hall"']
    path = tmp / "edge.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_events_over_tls_with_home_credentials(tls_broker: EdgeBroker, tmp_path: Path) -> None:
    collector = Collector.start(tls_broker.settings("ingest"))
    settings = tls_broker.settings(HOME).model_copy(
        update={"port": tls_broker.tls.port, "tls": True, "ca_file": tls_broker.tls.cafile}  # type: ignore[union-attr]
    )
    q = DiskQueue(tmp_path / "q.sqlite")
    link = AgentLink(settings, HOME, "pi", q, datetime.now(UTC))
    link.start()
    assert link.connected.wait(10)
    link.publish_event(datetime.now(UTC), "panic", "button", "press")
    assert collector.wait_for("pi", {1}, 10) == set()
    link.stop(datetime.now(UTC))
    q.close()
    collector.stop()


def _levels(checks: list) -> dict[str, tuple[str, str, str]]:  # type: ignore[type-arg]
    return {c.name: (c.level, c.detail, c.fix) for c in checks}


def test_doctor_all_good_then_each_misconfiguration(
    tls_broker: EdgeBroker, local_broker: LocalBroker, tmp_path: Path
) -> None:
    local_broker.publish(
        [
            ("zigbee2mqtt/bridge/state", {"state": "online"}),
            ("zigbee2mqtt/bridge/devices", [{"friendly_name": "Coordinator"}, {"friendly_name": "kitchen_motion"}]),
        ],
        retain=True,
    )
    factory = MockFactory()
    wired_low(factory, 27)  # the reed switch is closed
    cfg = _config(tmp_path, tls_broker, local_broker)
    checks = _levels(run_doctor(cfg, pin_factory=factory, timeout=5))
    assert checks["config"][0] == "ok" and checks["clock"][0] == "ok" and checks["broker"][0] == "ok"
    assert checks["gpio door_front"][:2] == ("ok", "GPIO27 (door, pull-up) reads closed")
    assert checks["gpio panic"][1] == "GPIO22 (button, pull-up) reads released"
    assert checks["zigbee2mqtt"][0] == "ok"
    assert checks["zigbee pir_kitchen"][0] == "warn" and "trigger the sensor" in checks["zigbee pir_kitchen"][2]
    assert checks["zigbee pir_hall"][0] == "fail" and "not paired" in checks["zigbee pir_hall"][1]
    assert "kitchen_motion" in checks["zigbee pir_hall"][1]

    wrong_pw = _levels(run_doctor(_config(tmp_path, tls_broker, password="nope"), pin_factory=MockFactory()))
    assert wrong_pw["broker"][0] == "fail" and "refused" in wrong_pw["broker"][1]
    assert "password" in wrong_pw["broker"][2] and "nope" not in str(wrong_pw)

    no_tls = _levels(run_doctor(_config(tmp_path, tls_broker, tls=False), pin_factory=MockFactory(), timeout=2))
    assert no_tls["broker"][0] == "fail"

    other_ca, _, _ = make_tls(tmp_path / "other")
    bad_ca = _levels(run_doctor(_config(tmp_path, tls_broker, ca_file=str(other_ca)), pin_factory=MockFactory()))
    assert bad_ca["broker"][0] == "fail" and "TLS" in bad_ca["broker"][1] and "ca_file" in bad_ca["broker"][2]

    down = _levels(run_doctor(_config(tmp_path, tls_broker, port=free_port()), pin_factory=MockFactory()))
    assert down["broker"][0] == "fail" and "cannot reach" in down["broker"][1] and "host and port" in down["broker"][2]

    clock = _levels(run_doctor(cfg, now=datetime(1970, 1, 1, tzinfo=UTC), pin_factory=MockFactory()))
    assert clock["clock"][0] == "fail" and "NTP" in clock["clock"][2]

    stuck = MockFactory()
    wired_low(stuck, 22)  # a button that reads pressed at rest: miswired
    assert _levels(run_doctor(cfg, pin_factory=stuck))["gpio panic"][0] == "warn"

    cfg.write_text(cfg.read_text().replace("pin = 22", "pin = 99"))
    bad = run_doctor(cfg)
    assert [c.level for c in bad] == ["fail"] and f"{cfg}:" in bad[0].detail and "gpio[0].pin" in bad[0].detail


def test_doctor_without_zigbee2mqtt(tls_broker: EdgeBroker, local_broker: LocalBroker, tmp_path: Path) -> None:
    checks = _levels(run_doctor(_config(tmp_path, tls_broker, local_broker), pin_factory=MockFactory()))
    assert checks["zigbee2mqtt"][0] == "fail" and "start zigbee2mqtt" in checks["zigbee2mqtt"][2]
