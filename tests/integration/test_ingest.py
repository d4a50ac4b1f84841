"""Ingest against a real Mosquitto and real InfluxDB 1.6.7 (v1 /write) and VictoriaMetrics (v2 write API)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select

from anxin.broker import agent_client_id
from anxin.db.engine import make_engine, session_factory
from anxin.db.models import DeadLetter, Home
from anxin.influxql import InfluxQL
from anxin.mqtt import connect_and_wait, make_client
from anxin.settings import InfluxSettings
from contracts import events_topic
from ingest.config import IngestOptions, IngestSettings
from ingest.service import IngestService
from ingest.writer import needs_v1, server_version
from shell.servers import Broker, InfluxD, VictoriaMetrics
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

RunIngest = Callable[[InfluxSettings, str], IngestService]


def _register(db_url: str, *homes: str) -> None:
    with session_factory(make_engine(db_url))() as s, s.begin():
        for h in homes:
            s.add(Home(id=h, label=h[-3:], district="test", created_at=datetime.now(UTC)))


def _event(home: str, seq: int, ts: datetime, value: int = 1) -> bytes:
    return json.dumps(
        {
            "home": home,
            "agent": "pi-1",
            "seq": seq,
            "ts": ts.isoformat(),
            "sensor": "pir_living",
            "kind": "motion",
            "value": value,
            "room": "living",
        }
    ).encode()


def _publisher(broker: Broker, user: str) -> mqtt.Client:
    settings = broker.settings(user)
    client = make_client(settings, agent_client_id(user))  # the only id a home account may use
    connect_and_wait(client, settings)
    return client


@pytest.fixture
def run_ingest(broker: Broker, db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunIngest]:
    started: list[tuple[IngestService, threading.Event, threading.Thread]] = []

    def start(influx: InfluxSettings, client_id: str) -> IngestService:
        settings = IngestSettings(
            mqtt=broker.settings("ingest"),
            influx=influx,
            database={"url": db_url},
            state_dir=tmp_path_factory.mktemp("ingest-state"),
            ingest=IngestOptions(client_id=client_id, batch_interval_s=0.05, homes_refresh_s=0.5, metrics_port=0),
        )
        svc = IngestService(settings)
        stop = threading.Event()
        t = threading.Thread(target=svc.run, args=(stop,), daemon=True)
        t.start()
        wait_for(lambda: svc.link.connected.is_set(), what="ingest connected")
        time.sleep(0.3)  # subscription acknowledged
        started.append((svc, stop, t))
        return svc

    yield start
    for _svc, stop, t in started:
        stop.set()
        t.join(10)


def test_version_detection(influxd: InfluxD, victoria: VictoriaMetrics) -> None:
    assert needs_v1(server_version(influxd.url))  # Debian's 1.6.7
    assert not needs_v1(server_version(victoria.url))
    assert not needs_v1("v2.7.4") and not needs_v1("1.8.10") and needs_v1("1.7.11")


def test_events_stored_once_in_influxdb_1x(
    broker: Broker, influxd: InfluxD, db_url: str, run_ingest: RunIngest
) -> None:
    home, stranger = "h-ingest01", "h-unknown1"
    _register(db_url, home)
    svc = run_ingest(InfluxSettings(url=influxd.url, database="anxin"), "ingest-v1")
    assert svc._writer is None or svc._writer.api == "v1"
    pub = _publisher(broker, home)
    t0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    for seq in range(1, 201):
        pub.publish(events_topic(home), _event(home, seq, t0 + timedelta(seconds=seq)), qos=1)
    for seq in (5, 17, 200):  # an agent replaying part of its queue
        pub.publish(events_topic(home), _event(home, seq, t0 + timedelta(seconds=seq)), qos=1)
    pub.publish(events_topic(home), b"{broken", qos=1)
    pub.publish(events_topic(home), _event(home, 201, t0, value=7), qos=1)
    sp = _publisher(broker, stranger)  # a home with broker credentials but not in the registry
    sp.publish(events_topic(stranger), _event(stranger, 1, t0), qos=1).wait_for_publish(5)

    q = InfluxQL(influxd.url, "anxin")

    def stored() -> int:
        series = q.query(f"SELECT count(\"seq\") FROM sensor_event WHERE home='{home}'")
        return int(series[0].values[0][1]) if series else 0

    assert wait_for(lambda: stored() == 200 and svc.validator.counts["duplicate"] == 3, what="200 points") is True
    assert svc._writer is not None and svc._writer.api == "v1"
    rows = q.query(f"SELECT seq FROM sensor_event WHERE home='{home}' ORDER BY time")[0].records()
    assert [r["seq"] for r in rows] == list(range(1, 201))
    engine = make_engine(db_url)
    dead = wait_for(
        lambda: (
            session_factory(engine)().scalars(select(DeadLetter)).all()
            if len(session_factory(engine)().scalars(select(DeadLetter)).all()) >= 3
            else None
        ),
        what="dead letters",
    )
    reasons = sorted(d.reason for d in dead)
    assert reasons == ["not_json", "schema", "unknown_home"]
    assert any(d.payload == b"{broken" for d in dead)
    pub.disconnect()
    sp.disconnect()


def test_v2_write_path_against_victoriametrics(
    broker: Broker, victoria: VictoriaMetrics, db_url: str, run_ingest: RunIngest
) -> None:
    home = "h-ingest02"
    _register(db_url, home)
    svc = run_ingest(InfluxSettings(url=victoria.url, database="anxin"), "ingest-v2")
    pub = _publisher(broker, home)
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    for seq in range(1, 51):
        pub.publish(events_topic(home), _event(home, seq, t0 + timedelta(seconds=seq)), qos=1)
    wait_for(lambda: svc.stored >= 50, what="50 stored")
    assert svc._writer is not None and svc._writer.api == "v2"

    def exported() -> list[dict[str, object]]:
        urllib.request.urlopen(f"{victoria.url}/internal/force_flush").read()
        url = f"{victoria.url}/api/v1/export?match[]=sensor_event_seq{{home=%22{home}%22}}"
        return [json.loads(line) for line in urllib.request.urlopen(url).read().splitlines()]

    series = wait_for(lambda: exported() or None, what="VictoriaMetrics export")
    assert len(series) == 1 and series[0]["metric"]["sensor"] == "pir_living"  # type: ignore[index]
    assert series[0]["values"] == [float(s) for s in range(1, 51)]
    pub.disconnect()


def test_home_cannot_publish_under_another_home(broker: Broker) -> None:
    """The generated ACL: a home's account writes only under its own anxin/v1/homes/{home}/."""
    victim, intruder = "h-victim01", "h-intrude1"
    received: list[str] = []
    spy = make_client(broker.settings("ingest"), "acl-spy")
    spy.on_message = lambda _c, _u, m: received.append(m.topic)
    connect_and_wait(spy, broker.settings("ingest"))
    spy.subscribe("anxin/v1/homes/#", qos=1)
    time.sleep(0.3)
    bad = _publisher(broker, intruder)
    bad.publish(events_topic(victim), _event(victim, 1, datetime.now(UTC)), qos=1).wait_for_publish(5)
    bad.publish(events_topic(intruder), _event(intruder, 1, datetime.now(UTC)), qos=1).wait_for_publish(5)
    wait_for(lambda: events_topic(intruder) in received, what="own topic delivered")
    time.sleep(0.3)
    assert events_topic(victim) not in received
    bad.disconnect()
    spy.disconnect()
