"""Attacks on the broker with one home's own credentials (issue 13, items 1 and 4), against a real Mosquitto.

Each test performs the attack and checks the victim keeps its session and loses nothing. On the config before client
ids were bound (no dynamic-security plugin) every takeover connect, the `$share` subscription and the fresh home's
takeover succeed, so each test fails there.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from alerts.config import AlertsOptions
from anomaly.config import AnomalyOptions
from anxin.broker import DYNSEC_FILE, agent_client_id
from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Home
from anxin.influxql import InfluxQL
from anxin.mqtt import (
    SESSION_TAKEN_OVER,
    MqttConnectError,
    client_takeovers,
    connect_and_wait,
    make_client,
    session_takeovers,
)
from anxin.settings import InfluxSettings, MqttSettings
from contracts import events_topic
from contracts.topics import FINDINGS_FILTER, ROOT, TopicKind, findings_topic, home_filter, status_topic
from ingest.config import IngestOptions
from ingest.mqttlink import LinkError, Subscriber
from shell.servers import Broker, InfluxD
from tests.support.ingest_fixtures import IngestRunner
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

REFUSED = r"(?i)not authori"  # CONNACK 0x87: the broker refuses the id for this account

SERVICE_IDS = {
    "ingest": IngestOptions().client_id,
    "anomaly": AnomalyOptions().client_id,
    "alerts": AlertsOptions().client_id,
}


def _home() -> str:
    return "h-" + secrets.token_hex(5)


def _event(home: str, seq: int, ts: datetime) -> bytes:
    return json.dumps(
        {
            "home": home,
            "agent": "pi-1",
            "seq": seq,
            "ts": ts.isoformat(),
            "sensor": "pir_living",
            "kind": "motion",
            "value": seq & 1,
            "room": "living",
        }
    ).encode()


def _agent(broker: Broker, home: str) -> mqtt.Client:
    """A home's agent, connected with the one id its account may use."""
    settings = broker.settings(home)
    client = make_client(settings, agent_client_id(home))
    connect_and_wait(client, settings)
    return client


def _attempt(settings: MqttSettings, client_id: str) -> None:
    """One connect as `client_id` resuming its session (as a thief would); raises MqttConnectError when refused."""
    client = make_client(settings, client_id)
    client.reconnect_delay_set(60, 60)  # the thief tries once per call
    try:
        connect_and_wait(client, settings, clean_start=False, session_expiry_s=3600, timeout=5)
    finally:
        client.disconnect()
        client.loop_stop()


@dataclass
class Listener:
    """A service's persistent QoS 1 session: what it received and every disconnect the broker gave it."""

    client: mqtt.Client
    topics: list[str] = field(default_factory=list)
    disconnects: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, settings: MqttSettings, client_id: str, filters: list[str], will: str | None = None) -> Listener:
        """Connect with a persistent session and subscribe (again on every reconnect); `will`: an agent's status."""
        me = cls(make_client(settings, client_id, will=(will, b'{"state":"offline"}') if will else None))

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if filters and not reason.is_failure:
                c.subscribe([(f, 1) for f in filters])

        def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            with me.lock:
                me.topics.append(msg.topic)

        def on_disconnect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            with me.lock:
                me.disconnects.append(int(reason.value))

        me.client.on_connect = on_connect
        me.client.on_message = on_message
        me.client.on_disconnect = on_disconnect
        subscribed = threading.Event()
        me.client.on_subscribe = lambda *_a: subscribed.set()
        connect_and_wait(me.client, settings, clean_start=False, session_expiry_s=3600)
        if filters:
            me.client.subscribe([(f, 1) for f in filters])
            assert subscribed.wait(10), "subscription not acknowledged"
        return me

    def received(self) -> int:
        """Messages received so far."""
        with self.lock:
            return len(self.topics)

    def stop(self) -> None:
        """Disconnect; the session stays on the broker."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    started: list[Listener] = []
    yield started
    for one in started:
        one.stop()


def _publish(client: mqtt.Client, items: list[tuple[str, bytes]]) -> None:
    for info in [client.publish(t, p, qos=1) for t, p in items]:
        info.wait_for_publish(10)


@pytest.mark.parametrize("service", sorted(SERVICE_IDS))
def test_home_cannot_take_over_a_service_session(broker: Broker, service: str, listeners: list[Listener]) -> None:
    """As the issue's attacker: a home connects as anxin-ingest / anxin-anomaly / anxin-alerts while it runs."""
    victim_id = SERVICE_IDS[service]
    thief, sender = _home(), _home()
    if service == "alerts":
        victim = Listener.start(broker.settings("alerts"), victim_id, [FINDINGS_FILTER])
        source = make_client(broker.settings("anomaly"), "test-anomaly-" + secrets.token_hex(4))
        connect_and_wait(source, broker.settings("anomaly"))
        items = [(findings_topic(sender), b'{"panic": %d}' % i) for i in range(20)]
    else:
        filters = [home_filter(k) for k in (TopicKind.EVENTS, TopicKind.STATUS, TopicKind.HEARTBEAT)]
        victim = Listener.start(broker.settings(service), victim_id, filters)
        source = _agent(broker, sender)
        t0 = datetime.now(UTC)
        items = [(events_topic(sender), _event(sender, i, t0 + timedelta(seconds=i))) for i in range(1, 21)]
    listeners.append(victim)
    before = session_takeovers().get(victim_id, 0)

    for _ in range(3):
        with pytest.raises(MqttConnectError, match=REFUSED):
            _attempt(broker.settings(thief), victim_id)
    _publish(source, items)
    source.disconnect()
    source.loop_stop()

    wait_for(lambda: victim.received() >= len(items), what=f"{service} receiving all {len(items)} messages")
    assert victim.received() == len(items)
    assert victim.disconnects == []  # never kicked off
    assert session_takeovers().get(victim_id, 0) == before


def test_home_cannot_take_over_another_homes_agent(broker: Broker, listeners: list[Listener]) -> None:
    """A home connects as its neighbour's agent to flap it offline; and with any other id than its own."""
    thief, victim_home = _home(), _home()
    watcher = Listener.start(
        broker.settings("ingest"), "test-status-" + secrets.token_hex(4), [status_topic(victim_home)]
    )
    listeners.append(watcher)
    victim = Listener.start(
        broker.settings(victim_home), agent_client_id(victim_home), [], will=status_topic(victim_home)
    )
    listeners.append(victim)
    victim.client.publish(status_topic(victim_home), b'{"state":"online"}', qos=1, retain=True).wait_for_publish(5)

    for client_id in (agent_client_id(victim_home), "agent-anything", "", thief):
        with pytest.raises(MqttConnectError, match=REFUSED):
            _attempt(broker.settings(thief), client_id)
    # The home's own id still works: the binding takes nothing from its rightful owner.
    _agent(broker, thief).disconnect()

    time.sleep(0.5)
    assert victim.disconnects == []
    with watcher.lock:  # only the victim's own "online": a takeover would have published its will, "offline"
        assert watcher.topics == [status_topic(victim_home)]


def _register(db_url: str, *homes: str) -> None:
    with session_factory(make_engine(db_url))() as s, s.begin():
        for h in homes:
            s.add(Home(id=h, label=h[-3:], district="test", created_at=datetime.now(UTC)))


@pytest.fixture
def ingest(
    broker: Broker, influxd: InfluxD, db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IngestRunner]:
    runner = IngestRunner(broker, InfluxSettings(url=influxd.url, database="anxin"), db_url, tmp_path_factory)
    yield runner
    runner.stop_all()


def _stored(influxd: InfluxD, home: str) -> int:
    series = InfluxQL(influxd.url, "anxin").query(f"SELECT count(\"seq\") FROM sensor_event WHERE home='{home}'")
    return int(series[0].values[0][1]) if series else 0


def test_ingest_keeps_its_session_and_stores_every_event_under_attack(
    broker: Broker, influxd: InfluxD, db_url: str, ingest: IngestRunner
) -> None:
    """The issue's 0 of 200: a home keeps connecting as anxin-ingest while another home sends 200 events."""
    sender, thief = _home(), _home()
    _register(db_url, sender)
    svc = ingest.start()
    assert svc.link.client_id == IngestOptions().client_id
    agent = _agent(broker, sender)
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    refused = 0
    for part in range(4):
        seqs = range(part * 50 + 1, part * 50 + 51)
        _publish(agent, [(events_topic(sender), _event(sender, s, t0 + timedelta(seconds=s))) for s in seqs])
        with pytest.raises(MqttConnectError, match=REFUSED):
            _attempt(broker.settings(thief), svc.link.client_id)
        refused += 1
    agent.disconnect()
    agent.loop_stop()
    wait_for(lambda: _stored(influxd, sender) >= 200, what="200 points in InfluxDB")
    assert _stored(influxd, sender) == 200 and refused == 4
    assert svc.link.takeovers == 0 and svc.metrics.session_takeovers._value.get() == 0


def test_home_cannot_join_the_ingest_shared_group(
    broker: Broker, influxd: InfluxD, db_url: str, ingest: IngestRunner
) -> None:
    """Two ingest processes share one account in a `$share` group; a home joining it would steal half the events."""
    group = "g" + secrets.token_hex(4)
    sender, thief = _home(), _home()
    _register(db_url, sender)
    first = ingest.start(client_id=f"ingest-a-{group}", shared_group=group)
    second = ingest.start(client_id=f"ingest-b-{group}", shared_group=group)

    settings = broker.settings(thief)
    attacker = make_client(settings, agent_client_id(thief))
    granted: list[list[Any]] = []
    acked = threading.Event()

    def on_subscribe(_c: mqtt.Client, _u: Any, _mid: int, codes: list[Any], _p: Any) -> None:
        granted.append(codes)
        acked.set()

    stolen: list[str] = []
    attacker.on_subscribe = on_subscribe
    attacker.on_message = lambda _c, _u, msg: stolen.append(msg.topic)
    connect_and_wait(attacker, settings, clean_start=False, session_expiry_s=3600)
    filters = [f"$share/{group}/{home_filter(TopicKind.EVENTS)}", f"$share/{group}/{ROOT}/#", "#", events_topic(sender)]
    for f in filters:
        acked.clear()
        attacker.subscribe(f, qos=1)
        assert acked.wait(5), f"no SUBACK for {f}"
    assert all(code.is_failure for codes in granted for code in codes), granted

    agent = _agent(broker, sender)
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    _publish(agent, [(events_topic(sender), _event(sender, s, t0 + timedelta(seconds=s))) for s in range(1, 101)])
    agent.disconnect()
    agent.loop_stop()
    wait_for(lambda: _stored(influxd, sender) >= 100, what="100 points in InfluxDB")
    time.sleep(0.5)
    assert _stored(influxd, sender) == 100 and stolen == []
    # Scale-out still works: two processes, distinct ids on the one `ingest` account, each stored its share.
    assert first.stored > 0 and second.stored > 0, (first.stored, second.stored)
    attacker.disconnect()
    attacker.loop_stop()


def test_home_cannot_unbind_itself_through_the_control_topic(broker: Broker) -> None:
    """The plugin's control topic would let a home lift its own binding: a home may not publish there."""
    thief = _home()
    client = _agent(broker, thief)
    command = {"commands": [{"command": "modifyClient", "username": thief, "clientid": ""}]}
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    client.publish("$CONTROL/dynamic-security/v1", json.dumps(command), qos=1, properties=props).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
    time.sleep(0.3)
    with pytest.raises(MqttConnectError, match=REFUSED):
        _attempt(broker.settings(thief), SERVICE_IDS["alerts"])


def test_a_home_added_to_a_running_broker_is_bound_before_it_can_log_in(broker: Broker) -> None:
    """SIGHUP does not reload the plugin: a new home must be bound through the control topic, not left open."""
    fresh = _home()
    broker.add_user(fresh)  # rewrites the files and SIGHUPs the running broker
    bound = json.loads((broker.server.state / DYNSEC_FILE).read_text())
    assert {"username": fresh, "clientid": agent_client_id(fresh)}.items() <= next(
        c for c in bound["clients"] if c["username"] == fresh
    ).items()
    with pytest.raises(MqttConnectError, match=REFUSED):
        _attempt(broker.settings(fresh), SERVICE_IDS["alerts"])
    _agent(broker, fresh).disconnect()


def _war(settings: MqttSettings, client_id: str, until: Callable[[], bool]) -> None:
    """Another client that keeps reconnecting as `client_id` (as a second, misconfigured service would)."""
    thief = make_client(settings, client_id)
    thief.reconnect_delay_set(1, 1)
    connect_and_wait(thief, settings, clean_start=False, session_expiry_s=3600)
    try:
        wait_for(until, timeout=40, what=f"the owner of {client_id} noticing the takeover")
    finally:
        thief.disconnect()
        thief.loop_stop()


def test_a_taken_over_service_alarms_and_takes_its_session_back(
    broker: Broker, ingest: IngestRunner, caplog: pytest.LogCaptureFixture
) -> None:
    """When the broker does hand a service's id to someone else, the service logs an error, counts it, reconnects.

    Only a service account can still do that (they choose their ids, for ingest scale-out). Mosquitto 2.0.11 closes
    the old connection without the 0x8E reason, so the services infer a takeover from a burst of silent closes.
    """
    caplog.set_level(logging.WARNING)
    paho_id, ingest_id = "test-victim-" + secrets.token_hex(4), "ingest-victim-" + secrets.token_hex(4)
    victim = Listener.start(broker.settings("anomaly"), paho_id, [home_filter(TopicKind.EVENTS)])
    svc = ingest.start(client_id=ingest_id)
    try:
        _war(broker.settings("alerts"), paho_id, lambda: client_takeovers(victim.client) >= 1)
        _war(broker.settings("alerts"), ingest_id, lambda: svc.link.takeovers >= 1)
        assert svc.metrics.session_takeovers._value.get() >= 1
        logged = caplog.text
        assert f"client id {paho_id} was taken over" in logged and f"client id {ingest_id} was taken over" in logged
        for secret in broker.creds.users.values():
            assert secret not in logged
        # Both reconnect on their own and get their sessions back.
        wait_for(lambda: svc.link.connected.is_set(), what="ingest reconnected")
        wait_for(lambda: victim.client.is_connected(), what="paho client reconnected")
    finally:
        victim.stop()


def test_a_takeover_reason_from_the_broker_is_counted_at_once(broker: Broker) -> None:
    """Brokers that do send DISCONNECT 0x8E (MQTT 5) get an error and a count at the first takeover."""
    link = Subscriber(
        broker.settings("ingest"), "ingest-reason", [], lambda _m: None, session_expiry_s=60, receive_maximum=10
    )
    counted: list[int] = []
    link.on_takeover = lambda: counted.append(1)
    with pytest.raises(LinkError, match="taken over"):
        link._disconnected(bytes([SESSION_TAKEN_OVER, 0]))
    with pytest.raises(LinkError, match="0x8b"):
        link._disconnected(bytes([0x8B, 0]))  # server shutting down: not a takeover
    assert counted == [1] and link.takeovers == 1
