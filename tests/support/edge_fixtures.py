"""Real brokers and helpers for the edge agent's tests: a stoppable Anxin broker, a Pi's local broker, TLS certs."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from anxin.broker import SERVICE_ACL, Credentials, TlsListener, write_broker_files
from anxin.mqtt import connect_and_wait, make_client
from anxin.settings import MqttSettings
from shell.servers import ManagedProcess, Mosquitto, find_binary, free_port, port_open

HOME = "h-edgetest01"


def wired_low(factory: Any, pin: int) -> Any:
    """A mock pin that a closed switch holds at ground, whatever pull the agent sets (MockPin's pull would win)."""
    from gpiozero.pins.mock import MockPin

    class GroundedPin(MockPin):  # type: ignore[misc]
        def _set_pull(self, value: str) -> None:
            super()._set_pull(value)
            self.drive_low()

    mock = factory.pin(pin, pin_class=GroundedPin)
    mock.drive_low()
    return mock


@dataclass
class EdgeBroker:
    """A test's own Anxin broker, which the test may stop and restart; optionally with a TLS listener."""

    state: Path
    creds: Credentials
    port: int
    tls: TlsListener | None = None
    process: ManagedProcess | None = None

    @classmethod
    def start_new(cls, state: Path, tls: TlsListener | None = None) -> EdgeBroker:
        """Create accounts (services and the test home) and start."""
        creds = Credentials.load(state / "credentials.json")
        for user in (*SERVICE_ACL, HOME):
            creds.ensure(user)
        b = cls(state, creds, free_port(), tls)
        b.start()
        return b

    def start(self) -> None:
        """Start (again) on the same port, with the same persistence."""
        conf = write_broker_files(self.state, self.port, dict(self.creds.users), tls=self.tls)
        self.process = ManagedProcess(
            "mosquitto",
            [find_binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf)],
            self.state / "mosquitto.out",
        )
        self.process.start(lambda: port_open(self.port) and (self.tls is None or port_open(self.tls.port)))

    def stop(self) -> None:
        """Stop gracefully (Mosquitto saves its persistence)."""
        if self.process is not None:
            self.process.stop()

    def settings(self, user: str, password: str | None = None) -> MqttSettings:
        """Client settings for an account."""
        return MqttSettings(
            host="127.0.0.1", port=self.port, username=user, password=password or self.creds.users[user]
        )


@dataclass
class Collector:
    """Plays ingest: a persistent QoS 1 session that records every event and status, duplicates included."""

    client: mqtt.Client
    events: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, settings: MqttSettings, home: str = HOME) -> Collector:
        """Subscribe to the home's topics with a persistent session."""
        client = make_client(settings, f"collector-{time.time_ns()}")
        c = cls(client)

        def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
            data = json.loads(msg.payload)
            with c.lock:
                if msg.topic.endswith("/events"):
                    c.events.append(data)
                elif msg.topic.endswith("/status"):
                    c.statuses.append(data)
                elif msg.topic.endswith("/heartbeat"):
                    c.heartbeats.append(data)

        def on_connect(cl: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if not reason.is_failure:
                cl.subscribe(f"anxin/v1/homes/{home}/#", qos=1)

        client.on_message = on_message
        client.on_connect = on_connect
        client.reconnect_delay_set(1, 2)
        connect_and_wait(client, settings, clean_start=False, session_expiry_s=3600)
        time.sleep(0.2)
        return c

    def seqs(self, agent: str) -> list[int]:
        """Sequence numbers received from an agent, in arrival order."""
        with self.lock:
            return [e["seq"] for e in self.events if e["agent"] == agent]

    def wait_for(self, agent: str, expected: set[int], timeout: float) -> set[int]:
        """Wait until every expected seq arrived; returns the missing ones."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            missing = expected - set(self.seqs(agent))
            if not missing:
                return set()
            time.sleep(0.05)
        return expected - set(self.seqs(agent))

    def stop(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def in_order_per_sensor(events: list[dict[str, Any]]) -> bool:
    """Whether, after dropping duplicates, each sensor's events arrived in seq order."""
    seen: set[tuple[str, int]] = set()
    last: dict[str, int] = {}
    for e in events:
        key = (e["agent"], e["seq"])
        if key in seen:
            continue
        seen.add(key)
        if e["seq"] < last.get(e["sensor"], 0):
            return False
        last[e["sensor"]] = e["seq"]
    return True


@dataclass
class LocalBroker:
    """The Pi's local Mosquitto that zigbee2mqtt publishes to (anonymous on loopback, as Raspberry Pi OS ships it)."""

    state: Path
    port: int
    process: ManagedProcess

    @classmethod
    def start(cls, state: Path) -> LocalBroker:
        """Start it."""
        state.mkdir(parents=True, exist_ok=True)
        port = free_port()
        import getpass

        conf = state / "local.conf"
        conf.write_text(
            f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {state}/\nlog_dest file {state / 'local.log'}\n"
        )
        proc = ManagedProcess(
            "mosquitto-local", [find_binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf)], state / "local.out"
        )
        proc.start(lambda: port_open(port))
        return cls(state, port, proc)

    def publish(self, items: list[tuple[str, Any]], retain: bool = False) -> None:
        """Publish (topic, JSON-able payload) pairs at QoS 1, as zigbee2mqtt would."""
        client = make_client(MqttSettings(port=self.port), f"z2m-{time.time_ns()}")
        connect_and_wait(client, MqttSettings(port=self.port))
        infos = [
            client.publish(t, p if isinstance(p, bytes) else json.dumps(p).encode(), qos=1, retain=retain)
            for t, p in items
        ]
        for info in infos:
            info.wait_for_publish(10)
        client.disconnect()
        client.loop_stop()


def make_tls(dirpath: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1, made with openssl: (ca, cert, key)."""
    dirpath.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (dirpath / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = dirpath / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        "2",
        "-subj",
        "/CN=anxin-test-ca",
    )
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    return ca, cert, key


@pytest.fixture
def edge_broker(tmp_path: Path) -> Iterator[EdgeBroker]:
    """A stoppable Anxin broker for one test."""
    b = EdgeBroker.start_new(tmp_path / "broker")
    yield b
    b.stop()


@pytest.fixture
def local_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """The Pi's local broker for one test."""
    b = LocalBroker.start(tmp_path / "local")
    yield b
    b.process.stop()


__all__ = [
    "HOME",
    "Collector",
    "EdgeBroker",
    "LocalBroker",
    "Mosquitto",
    "in_order_per_sensor",
    "make_tls",
    "wired_low",
]
