"""Load mode against a real Mosquitto: many homes from two processes, each under its own account and client id."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from firmware_sim.load import LoadOptions, register_load_homes, run_load
from pydantic import SecretStr

from anxin.mqtt import connect_and_wait, make_client
from anxin.settings import MqttSettings
from contracts import parse_event, parse_heartbeat, parse_status
from contracts.topics import TopicKind, events_topic, home_filter
from shell.servers import Broker
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
HOMES = 200


def test_load_mode_plays_every_home_under_its_own_identity(broker: Broker, tmp_path: Path) -> None:
    db = tmp_path / "anxin.db"
    t0 = time.monotonic()
    homes = register_load_homes(
        broker.creds, tmp_path / "load-homes.json", HOMES, broker_state=broker.server.state, db_url=f"sqlite:///{db}"
    )
    took = time.monotonic() - t0
    assert len({h.home for h in homes}) == HOMES and len({h.agent for h in homes}) == HOMES
    assert register_load_homes(broker.creds, tmp_path / "load-homes.json", HOMES) == homes  # idempotent
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM homes").fetchone()[0] == HOMES
    mine = {h.home: h for h in homes}

    events: dict[str, list[Any]] = defaultdict(list)
    beats: set[str] = set()
    states: dict[str, list[str]] = defaultdict(list)
    lock = threading.Lock()

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        home = msg.topic.split("/")[3]
        if home not in mine:
            return
        with lock:
            if msg.topic.endswith("/events"):
                events[home].append(parse_event(msg.payload))
            elif msg.topic.endswith("/heartbeat"):
                beats.add(parse_heartbeat(msg.payload).home)
            elif msg.topic.endswith("/status"):
                states[home].append(parse_status(msg.payload).state)

    listener = make_client(broker.settings("ingest"), "test-load-listener")
    listener.on_message = on_message
    subscribed = threading.Event()
    listener.on_subscribe = lambda *_a: subscribed.set()
    connect_and_wait(listener, broker.settings("ingest"))
    listener.subscribe([(home_filter(k), 1) for k in (TopicKind.EVENTS, TopicKind.HEARTBEAT, TopicKind.STATUS)])
    assert subscribed.wait(10)
    time.sleep(0.3)  # the SIGHUP reload of the password file is asynchronous
    try:
        result = run_load(
            MqttSettings(host="127.0.0.1", port=broker.port),
            homes,
            LoadOptions(rate=400, heartbeat_s=2.0, stats_every_s=0.5),
            workers=2,
            duration_s=5.0,
        )
        s = result.stats
        assert s.ever_connected == HOMES and s.refused == 0, s
        assert s.published == s.acked > HOMES and s.rejected == 0, s
        wait_for(lambda: sum(map(len, events.values())) >= s.published, timeout=10, what="every event at the listener")
        wait_for(lambda: all(st[-1:] == ["offline"] for st in states.values()) and len(states) == HOMES,
                 timeout=10, what="every home's offline status")  # fmt: skip
    finally:
        listener.disconnect()
        listener.loop_stop()

    for home, h in mine.items():
        got = events[home]
        assert got, f"no events from {home}"
        assert all(e.home == home and e.agent == h.agent for e in got)
        # Contiguous from 1, in order, each once: QoS 1 from one client per home, nothing lost or repeated.
        assert [e.seq for e in got] == list(range(1, result.seqs[home] + 1)), home
        assert result.acked_by_home[home] == result.seqs[home]
        assert "online" in states[home] and states[home][-1] == "offline"
    assert beats == set(mine)
    # Each home connected with its own account and client id (the broker's own connection log says so).
    log = (broker.server.state / "mosquitto.log").read_text()
    seen = dict(re.findall(r"as agent-(h-[a-z0-9]+) \(p\d, c\d, k\d+, u'(h-[a-z0-9]+)'\)", log))
    assert all(seen.get(home) == home for home in mine), [h for h in mine if seen.get(h) != h][:5]
    assert took < 5


def test_a_load_home_cannot_publish_for_another(broker: Broker, tmp_path: Path) -> None:
    a, b = register_load_homes(broker.creds, tmp_path / "load-homes.json", 2, broker_state=broker.server.state)
    time.sleep(0.3)
    settings = MqttSettings(host="127.0.0.1", port=broker.port, username=a.home, password=SecretStr(a.password))
    client = make_client(settings, f"agent-{a.home}")
    outcome: dict[int, Any] = {}
    client.on_publish = lambda _c, _u, mid, reason, _p: outcome.__setitem__(mid, reason)
    received: list[str] = []
    listener = make_client(broker.settings("ingest"), "test-load-acl-listener")
    listener.on_message = lambda _c, _u, msg: received.append(msg.topic)
    subscribed = threading.Event()
    listener.on_subscribe = lambda *_a: subscribed.set()
    connect_and_wait(listener, broker.settings("ingest"))
    listener.subscribe([(events_topic(a.home), 1), (events_topic(b.home), 1)])
    assert subscribed.wait(10)
    connect_and_wait(client, settings)
    try:
        other = client.publish(events_topic(b.home), b'{"forged": true}', qos=1)
        own = client.publish(events_topic(a.home), b'{"own": true}', qos=1)
        wait_for(lambda: own.mid in outcome and other.mid in outcome, timeout=10, what="both PUBACKs")
        assert not outcome[own.mid].is_failure
        assert outcome[other.mid].is_failure  # Not authorized: the ACL confines a home to its own subtree
        wait_for(lambda: events_topic(a.home) in received, timeout=10, what="the home's own event")
        time.sleep(0.3)
        assert events_topic(b.home) not in received
    finally:
        for c in (client, listener):
            c.disconnect()
            c.loop_stop()
