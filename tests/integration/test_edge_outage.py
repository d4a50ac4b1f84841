"""The agent against a real Mosquitto that goes away: nothing lost, nothing out of order per sensor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from edge.link import AgentLink
from edge.queue import DiskQueue, QueueLimits
from tests.support import edge_fixtures
from tests.support.edge_fixtures import (
    HOME,
    Collector,
    EdgeBroker,
    LocalBroker,
    in_order_per_sensor,
)

edge_broker = edge_fixtures.edge_broker  # a fixture
local_broker = edge_fixtures.local_broker  # a fixture
pytestmark = pytest.mark.integration


def now() -> datetime:
    return datetime.now().astimezone()


def test_broker_outage_loses_nothing_and_live_events_flow_during_drain(edge_broker: EdgeBroker, tmp_path: Path) -> None:
    collector = Collector.start(edge_broker.settings("ingest"))
    queue = DiskQueue(tmp_path / "q.sqlite")
    link = AgentLink(edge_broker.settings(HOME), HOME, "pi", queue, now(), drain_rate=200.0, max_inflight=10)
    link.start()
    assert link.connected.wait(10)
    stop = threading.Event()

    def produce(sensors: tuple[str, ...], rate: float) -> None:
        i = 0
        while not stop.is_set():
            sensor = sensors[i % len(sensors)]
            link.publish_event(now(), sensor, "motion", i % 2)
            i += 1
            time.sleep(1 / rate)

    producer = threading.Thread(target=produce, args=(("pir_a", "pir_b"), 150.0))
    producer.start()
    time.sleep(0.5)
    edge_broker.stop()
    time.sleep(3.0)  # ~450 events pile up in the disk queue
    backlog_at_restart = link.queue_state()[0]
    edge_broker.start()
    assert link.connected.wait(20)
    # A sensor without backlog: its events must flow while the backlog drains at 200/s.
    live_seq = link.publish_event(now(), "door_x", "door", "open").seq
    time.sleep(0.5)
    stop.set()
    producer.join()
    last = queue.last_seq("pi")
    assert collector.wait_for("pi", set(range(1, last + 1)), timeout=20) == set()
    assert link.flush(10)
    link.stop(now())
    collector.stop()
    queue.close()

    arrived = collector.seqs("pi")
    assert set(arrived) == set(range(1, last + 1))
    assert in_order_per_sensor(collector.events)
    assert backlog_at_restart > 200
    # The live door event overtook the tail of the backlog instead of waiting behind it.
    assert arrived.index(live_seq) < max(arrived.index(s) for s in range(1, live_seq))
    print(
        f"outage: {last} events, {len(arrived) - len(set(arrived))} duplicate deliveries, backlog {backlog_at_restart}"
    )


def _agent_config(tmp: Path, broker: EdgeBroker, local: LocalBroker, drain_rate: float) -> Path:
    cfg = tmp / "edge.toml"
    cfg.write_text(
        f'home = "{HOME}"\nagent = "pi"\nstate_dir = "{tmp / "state"}"\nheartbeat_s = 3600\n'
        f'[mqtt]\nport = {broker.port}\npassword = "{broker.creds.users[HOME]}"\n'
        f"[queue]\ndrain_rate = {drain_rate}\nmax_inflight = 5\n"
        f"[zigbee]\nport = {local.port}\n"
        '[[zigbee.devices]]\nfriendly_name = "hall_motion"\nsensor = "pir_hall"\nroom = "hall"\n'
        '[[zigbee.devices]]\nfriendly_name = "front door"\nsensor = "door_front"\nroom = "entrance"\n'
    )
    os.chmod(cfg, 0o600)
    return cfg


def _start_agent(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", "from shell.cli import app; app()", "edge", "run", "-c", str(cfg)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_sigkill_mid_drain_loses_nothing(edge_broker: EdgeBroker, local_broker: LocalBroker, tmp_path: Path) -> None:
    collector = Collector.start(edge_broker.settings("ingest"))
    edge_broker.stop()  # the internet is down while events happen
    cfg = _agent_config(tmp_path, edge_broker, local_broker, drain_rate=60.0)
    agent = _start_agent(cfg, tmp_path / "agent.log")
    try:
        time.sleep(1.5)  # the agent connects to the local broker
        # zigbee2mqtt payloads as documented for an Aqara motion sensor (RTCGQ11LM) and door sensor (MCCGQ11LM)
        items = []
        for i in range(120):
            items.append(
                (
                    "zigbee2mqtt/hall_motion",
                    {"occupancy": i % 2 == 0, "battery": 90, "illuminance": 12, "voltage": 3005, "linkquality": 120},
                )
            )
            items.append(
                (
                    "zigbee2mqtt/front door",
                    {
                        "contact": i % 2 == 1,
                        "battery": 80,
                        "voltage": 2985,
                        "device_temperature": 21,
                        "linkquality": 87,
                    },
                )
            )
        local_broker.publish(items)
        expected = set(range(1, 241))
        time.sleep(1.0)
        edge_broker.start()
        deadline = time.monotonic() + 20  # the agent comes back after its backoff, then drains at 60/s
        while len(set(collector.seqs("pi"))) < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        partial = len(set(collector.seqs("pi")))
        agent = _start_agent(cfg, tmp_path / "agent.log")
        missing = collector.wait_for("pi", expected, timeout=15)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(10)
        collector.stop()
    log = (tmp_path / "agent.log").read_text()
    assert missing == set(), log[-2000:]
    assert 0 < partial < 240, f"the kill should land mid-drain, {partial} of 240 had arrived"
    assert set(collector.seqs("pi")) == expected
    assert in_order_per_sensor(collector.events)
    kinds = {(e["sensor"], e["kind"]) for e in collector.events}
    assert kinds == {("pir_hall", "motion"), ("door_front", "door")}
    assert {e["room"] for e in collector.events} == {"hall", "entrance"}
    # The killed agent's will said offline; the restarted one said online; the clean stop said offline.
    states = [s["state"] for s in collector.statuses]
    assert "offline" in states and states[-1] == "offline"


def test_full_queue_drops_oldest_non_safety_and_reports_it(edge_broker: EdgeBroker, tmp_path: Path) -> None:
    collector = Collector.start(edge_broker.settings("ingest"))
    edge_broker.stop()
    queue = DiskQueue(tmp_path / "q.sqlite", QueueLimits(max_events=50))
    link = AgentLink(edge_broker.settings(HOME), HOME, "pi", queue, now(), drain_rate=1000.0)
    link.start()
    presses = []
    for i in range(200):
        if i % 40 == 5:
            presses.append(link.publish_event(now(), "panic", "button", "press").seq)
        else:
            link.publish_event(now(), "pir_a", "motion", i % 2)
    depth, _ = link.queue_state()
    total, unreported = queue.drops("pi")
    assert depth == 50 and total == 150 and unreported == 150
    edge_broker.start()
    assert link.connected.wait(20)
    assert link.flush(15)
    link.heartbeat(now())  # reports the drops as a queue_drop event
    assert link.flush(15)
    survivors = [s for s in range(1, 201) if s not in presses][-(50 - len(presses)) :]
    assert collector.wait_for("pi", {*presses, *survivors, queue.last_seq("pi")}, timeout=10) == set()
    link.stop(now())
    queue.close()
    collector.stop()
    got = {e["seq"]: e for e in collector.events}
    assert set(presses) <= set(got), "a panic press was dropped"
    motion = sorted(s for s, e in got.items() if e["kind"] == "motion")
    assert motion == survivors  # the oldest non-safety events went first
    drop = [e for e in got.values() if e["kind"] == "queue_drop"]
    assert len(drop) == 1 and drop[0]["value"] == 150 and drop[0]["sensor"] == "agent"
    assert collector.heartbeats and collector.heartbeats[-1]["queue_depth"] >= 0
