"""Issue 13, bounded resources: one home's credentials against ingest, on a real Mosquitto, InfluxDB and SQL.

Each test performs the attack through the broker with a home account (the ACL lets it publish only under its own
home) and checks the bound: dead letters counted but sampled, series limited to the registered kit or a cap, a
status from the future refused, a re-created agent queue's events all kept.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from anxin.db.engine import make_engine, session_factory
from anxin.db.models import DeadLetter, DeadLetterCount, Home, HomeSensor
from anxin.influxql import InfluxQL
from anxin.mqtt import connect_and_wait, make_client
from anxin.settings import InfluxSettings
from contracts import events_topic, heartbeat_topic, status_topic
from edge.link import AgentLink
from edge.queue import DiskQueue
from ingest.config import IngestOptions, IngestSettings
from ingest.deadletters import DeadLetterLimits, DeadLetterStore, Sample, Tally
from ingest.service import IngestService
from shell.servers import Broker, InfluxD
from tests.support.alerts_fixtures import any_db_url, postgres  # noqa: F401 (fixtures)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

RunIngest = Callable[[str], IngestService]


@pytest.fixture
def run_ingest(
    broker: Broker, influxd: InfluxD, db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunIngest]:
    """Start ingest in-process on its own InfluxDB database; stopped at the end of the test."""
    started: list[tuple[threading.Event, threading.Thread]] = []

    def start(database: str) -> IngestService:
        settings = IngestSettings(
            mqtt=broker.settings("ingest"),
            influx=InfluxSettings(url=influxd.url, database=database),
            database={"url": db_url},
            state_dir=tmp_path_factory.mktemp("ingest-state"),
            ingest=IngestOptions(
                client_id=f"ingest-{database}",
                batch_interval_s=0.05,
                homes_refresh_s=0.5,
                metrics_port=0,
                retention="52w",  # creates the database
            ),
        )
        svc = IngestService(settings)
        stop = threading.Event()
        t = threading.Thread(target=svc.run, args=(stop,), daemon=True)
        t.start()
        wait_for(lambda: svc.link.connected.is_set(), what="ingest connected")
        time.sleep(0.3)  # subscription acknowledged
        started.append((stop, t))
        return svc

    yield start
    for stop, t in started:
        stop.set()
        t.join(10)


def _register(db_url: str, home: str, kit: dict[str, tuple[str, str]] | None = None) -> None:
    with session_factory(make_engine(db_url))() as s, s.begin():
        s.add(Home(id=home, label=home[-3:], district="test", created_at=datetime.now(UTC)))
        s.flush()
        for sensor, (kind, room) in (kit or {}).items():
            s.add(HomeSensor(home_id=home, sensor=sensor, kind=kind, room=room))


def _home_client(broker: Broker, home: str) -> mqtt.Client:
    """The attacker: a client with one home's own broker credentials."""
    settings = broker.settings(home)
    client = make_client(settings, f"agent-{home}")  # the only id a home account may use (broker binding)
    connect_and_wait(client, settings)
    return client


def _publish_all(client: mqtt.Client, items: list[tuple[str, bytes]]) -> None:
    infos = [client.publish(topic, payload, qos=1) for topic, payload in items]
    for info in infos:
        info.wait_for_publish(30)


def _event(home: str, seq: int, sensor: str, ts: datetime, **kw: object) -> bytes:
    data = {"home": home, "agent": "pi-1", "seq": seq, "ts": ts.isoformat(), "sensor": sensor, "kind": "motion"}
    return json.dumps(data | {"value": seq % 2, **kw}).encode()


def _counts(db_url: str, home: str) -> dict[str, int]:
    with session_factory(make_engine(db_url))() as s:
        rows = s.execute(select(DeadLetterCount.reason, DeadLetterCount.count).where(DeadLetterCount.home == home))
        return {reason: n for reason, n in rows}


def _series(influxd: InfluxD, database: str, home: str) -> int:
    found = InfluxQL(influxd.url, database).query(f"SHOW SERIES FROM sensor_event WHERE home = '{home}'")
    return sum(len(s.values) for s in found)


def test_a_home_flooding_10k_garbage_messages_keeps_dead_letters_bounded_and_counted(
    broker: Broker, db_url: str, run_ingest: RunIngest
) -> None:
    home = "h-flood00001"
    _register(db_url, home)
    svc = run_ingest("flood")
    topic = events_topic(home)
    kinds = [
        (b"x" * 8000, "too_large"),  # oversized: over the contract's 4 KiB
        (b"{garbage", "not_json"),
        (json.dumps({"home": home, "agent": "pi-1", "seq": 1, "junk": "y" * 3000}).encode(), "schema"),
    ]
    flood = [(topic, kinds[i % 3][0]) for i in range(10_000)]
    attacker = _home_client(broker, home)
    t0 = time.monotonic()
    _publish_all(attacker, flood)
    want = {"too_large": 3334, "not_json": 3333, "schema": 3333}
    wait_for(lambda: _counts(db_url, home) == want, timeout=60, interval=0.5, what="every rejection counted")
    with session_factory(make_engine(db_url))() as s:
        rows = s.scalar(select(func.count()).select_from(DeadLetter).where(DeadLetter.topic == topic)) or 0
        stored = s.scalar(select(func.sum(func.length(DeadLetter.payload)))) or 0
    # At most the first 5 per reason, within the home's burst of 20 rows, payloads cut to 2 KiB.
    assert 0 < rows <= 15, rows
    assert stored <= 15 * 2048, stored
    assert svc.metrics.dead_unsampled.labels("sample_full")._value.get() >= 10_000 - 15
    print(f"flood of 10k from one home: {rows} rows, {stored} payload bytes, {time.monotonic() - t0:.2f}s")
    attacker.disconnect()


def test_dead_letter_rows_stay_under_their_total_cap(any_db_url: str) -> None:  # noqa: F811
    """The table cap, on SQLite and PostgreSQL: the oldest rows go, counts stay (upserted, never lost)."""
    db_url = any_db_url
    limits = DeadLetterLimits(max_rows=50)
    store = DeadLetterStore(session_factory(make_engine(db_url)), limits)
    now = datetime.now(UTC)
    for batch in range(10):
        home = f"h-cap{batch:07d}"
        tally = Tally(count=20, sampled=20, at=now, topic=events_topic(home), detail="d", payload=b"p")
        samples = [Sample(home, events_topic(home), "schema", "d", b"p" * 100) for _ in range(20)]
        store.write({(home, "schema"): tally}, samples)
    store.write({("h-cap0000009", "schema"): Tally(1, 0, now, "t", "d", b"p")}, [])  # the upsert adds
    with session_factory(make_engine(db_url))() as s:
        rows = s.scalar(select(func.count()).select_from(DeadLetter)) or 0
        counted = s.scalar(select(func.sum(DeadLetterCount.count))) or 0
        newest = s.scalar(select(DeadLetter.topic).order_by(DeadLetter.id.desc()).limit(1))
    assert rows <= 50 and counted == 201
    assert newest == events_topic("h-cap0000009")


def test_invented_sensor_names_do_not_become_series(
    broker: Broker, influxd: InfluxD, db_url: str, run_ingest: RunIngest
) -> None:
    kitted, bare = "h-series00001", "h-series00002"
    _register(db_url, kitted, {"pir_living": ("motion", "living"), "pir_bed": ("motion", "bedroom")})
    _register(db_url, bare)
    svc = run_ingest("series")
    t0 = datetime.now(UTC) - timedelta(hours=1)
    for home in (kitted, bare):
        items: list[tuple[str, bytes]] = []
        seq = 0
        for i in range(5_000):
            seq += 1
            items.append((events_topic(home), _event(home, seq, f"made_up_{i}", t0 + timedelta(milliseconds=seq))))
            if i % 25 == 0:  # 200 events of the registered sensors among them
                seq += 1
                sensor, room = ("pir_living", "living") if i % 50 == 0 else ("pir_bed", "bedroom")
                items.append(
                    (events_topic(home), _event(home, seq, sensor, t0 + timedelta(milliseconds=seq), room=room))
                )
        attacker = _home_client(broker, home)
        _publish_all(attacker, items)
        attacker.disconnect()
    wait_for(
        lambda: (
            _counts(db_url, kitted).get("unknown_sensor") == 5_000
            # The bare home's first 64 series (62 invented, 2 real) are admitted; later invented names are not.
            and _counts(db_url, bare).get("too_many_series") == 5_000 - 62
        ),
        timeout=60,
        interval=0.5,
        what="every refused event counted",
    )
    q = InfluxQL(influxd.url, "series")
    stored = q.query(f"SELECT count(seq) FROM sensor_event WHERE home = '{kitted}'")
    assert int(stored[0].values[0][1]) == 200  # every registered sensor's event
    stored = q.query(f"SELECT count(seq) FROM sensor_event WHERE home = '{bare}'")
    assert int(stored[0].values[0][1]) == 200 + 62
    assert _series(influxd, "series", kitted) == 2
    assert _series(influxd, "series", bare) == 64
    with session_factory(make_engine(db_url))() as s:
        rows = s.scalar(select(func.count()).select_from(DeadLetter).where(DeadLetter.reason == "unknown_sensor"))
    assert rows is not None and rows <= 5
    assert svc.validator.counts["invalid:unknown_sensor"] == 5_000


def test_a_status_dated_2200_and_a_nan_heartbeat_are_rejected(
    broker: Broker, influxd: InfluxD, db_url: str, run_ingest: RunIngest
) -> None:
    home = "h-future0001"
    _register(db_url, home)
    run_ingest("future")
    attacker = _home_client(broker, home)
    future = {"state": "online", "agent": "pi-1", "version": "0.2.0", "ts": "2200-01-01T00:00:00+00:00"}
    nan_hb = (
        f'{{"home":"{home}","agent":"pi-1","ts":"{datetime.now(UTC).isoformat()}","queue_depth":0,'
        '"uptime_s":5,"cpu_temp_c":NaN}'
    ).encode()
    _publish_all(attacker, [(status_topic(home), json.dumps(future).encode()), (heartbeat_topic(home), nan_hb)])
    wait_for(lambda: _counts(db_url, home) == {"future_ts": 1, "schema": 1}, what="both rejected")
    now = {**future, "ts": datetime.now(UTC).isoformat()}
    _publish_all(attacker, [(status_topic(home), json.dumps(now).encode())])
    q = InfluxQL(influxd.url, "future")
    points = wait_for(lambda: q.query(f"SELECT online FROM agent_status WHERE home = '{home}'") or None)
    assert len(points[0].values) == 1  # only the honest status
    assert not q.query(f"SELECT * FROM heartbeat WHERE home = '{home}'")
    attacker.disconnect()


def test_an_agent_whose_queue_was_recreated_has_all_its_events_stored(
    broker: Broker, influxd: InfluxD, db_url: str, run_ingest: RunIngest, tmp_path: Path
) -> None:
    home = "h-reflash0001"
    _register(db_url, home)
    svc = run_ingest("reflash")
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    for card, offset in (("sd-old", 0), ("sd-new", 100)):  # a re-flashed SD card: a new, empty queue
        queue = DiskQueue(tmp_path / card / "queue.db")
        link = AgentLink(broker.settings(home), home, "pi-1", queue, datetime.now(UTC))
        link.start()
        assert link.connected.wait(10)
        seqs = [
            link.publish_event(t0 + timedelta(seconds=offset + i), "pir_living", "motion", i % 2).seq for i in range(50)
        ]
        assert seqs == list(range(1, 51))
        assert link.flush(10)
        link.stop(datetime.now(UTC))
        queue.close()
    q = InfluxQL(influxd.url, "reflash")

    def stored() -> int:
        found = q.query(f"SELECT count(seq) FROM sensor_event WHERE home = '{home}'")
        return int(found[0].values[0][1]) if found else 0

    wait_for(lambda: stored() == 100, timeout=30, what="all 100 events of both queues")
    assert svc.validator.counts["duplicate"] == 0
    assert svc.metrics.seq_resets.labels("epoch")._value.get() == 1
