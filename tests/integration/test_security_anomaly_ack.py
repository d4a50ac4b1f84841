"""Issue 13, item 3: a panic pressed while anomaly cannot write its checkpoints, or while it is killed, still pages.

Real Mosquitto, real SQLite, anomaly as a real process (`python -m anxin anomaly`) that the tests stall, SIGSTOP and
SIGKILL, and the alerts service turning its findings into alerts. Before the fix anomaly acknowledged each message on
arrival and died on the first failed checkpoint (SQLite's 5 s `database is locked`): the panic pressed during that
stall was acknowledged, never processed, and gone after the restart.
"""

from __future__ import annotations

import secrets
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.pipeline import record_finding
from anomaly.config import AnomalyOptions, AnomalySettings
from anomaly.service import AnomalyService, _Inbound
from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Alert, AlertFinding
from anxin.mqtt import connect_and_wait, make_client
from anxin.settings import DatabaseSettings
from contracts import SensorEvent, dump, events_topic, parse_finding
from contracts.topics import FINDINGS_FILTER, findings_topic
from shell.servers import Broker
from tests.integration.test_alerts_service import anomaly_publisher, finding, seed, settings_for
from tests.integration.test_alerts_service import running as alerts_running
from tests.support.anomaly_fixtures import AnomalyProcess, write_locked
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


class Findings:
    """Every finding the broker delivers, as the alerts account sees them (a second, listening client)."""

    def __init__(self, broker: Broker) -> None:
        self.seen: list[str] = []
        self._lock = threading.Lock()
        mq = broker.settings("alerts")
        self.client = make_client(mq, "test-listen-" + secrets.token_hex(4))
        self.client.on_message = lambda _c, _u, msg: self._add(parse_finding(bytes(msg.payload)).id)
        done = threading.Event()
        self.client.on_subscribe = lambda *_a: done.set()
        # A persistent session, subscribed on every connect: findings published while a broker restarts still come.
        self.client.on_connect = lambda c, *_a: c.subscribe(FINDINGS_FILTER, qos=1)
        connect_and_wait(self.client, mq, clean_start=False, session_expiry_s=600)
        assert done.wait(5)

    def _add(self, fid: str) -> None:
        with self._lock:
            self.seen.append(fid)

    def count(self, fid: str) -> int:
        """How many times this finding was published."""
        with self._lock:
            return self.seen.count(fid)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


class Home:
    """A home's agent publishing events at QoS 1, as the edge agent does."""

    def __init__(self, broker: Broker, home: str) -> None:
        self.home, self.seq = home, 0
        mq = broker.settings(home)
        self.client = make_client(mq, f"agent-{home}")  # the only id a home account may use
        connect_and_wait(self.client, mq)

    def send(self, sensor: str, kind: str, value: int | str, room: str) -> str:
        """Publish one event and wait for the broker's PUBACK; returns the panic finding id it would cause."""
        self.seq += 1
        ev = SensorEvent(
            home=self.home, agent="pi-1", seq=self.seq, ts=datetime.now(UTC), sensor=sensor, kind=kind, value=value,
            room=room,
        )  # fmt: skip
        self.client.publish(events_topic(self.home), dump(ev), qos=1).wait_for_publish(5)
        return f"{self.home}:panic:pi-1:{self.seq}"

    def press(self) -> str:
        """The panic button."""
        return self.send("panic", "button", "press", "living")

    def move(self) -> None:
        """A motion trigger."""
        self.send("pir_living", "motion", 1, "living")

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


class AlertsDb:
    """Reads alerts; one engine made before alerts starts (make_engine touches the file, which would drop SQLite's
    locks of every connection this process holds on it)."""

    def __init__(self, db_url: str) -> None:
        self.engine = make_engine(db_url)

    def panic_findings(self, home: str) -> tuple[int, list[str]]:
        """(alerts of the home, finding ids joined to them)."""
        with session_factory(self.engine)() as s:
            alerts = list(s.scalars(select(Alert.id).where(Alert.home_id == home)))
            ids = list(s.scalars(select(AlertFinding.finding_id).where(AlertFinding.alert_id.in_(alerts))))
        return len(alerts), sorted(ids)


@contextmanager
def stack(broker: Broker, db_url: str, tmp_path: Path) -> Iterator[tuple[AnomalyProcess, Home, Findings, AlertsDb]]:
    """Alerts in this process, anomaly as a child process, a home agent and a findings listener."""
    home_id = "h-" + secrets.token_hex(6)
    seed(db_url, home_id, "+86138" + str(secrets.randbelow(10**7)).zfill(7) + "2")
    anomaly = AnomalyProcess(broker.settings("anomaly"), db_url, tmp_path, "anomaly-" + secrets.token_hex(4))
    findings = Findings(broker)
    db = AlertsDb(db_url)
    with alerts_running(settings_for(broker, db_url)):
        home = Home(broker, home_id)
        try:
            anomaly.start()
            yield anomaly, home, findings, db
        finally:
            db.engine.dispose()
            anomaly.stop()
            home.close()
            findings.close()


def stall_checkpoints(anomaly: AnomalyProcess, home: Home) -> None:
    """With the checkpoint file's write lock held: make a home dirty and let anomaly run into the lock."""
    home.move()
    time.sleep(1.5)  # checkpoint_s = 1: the old service is now blocked in its 5 s busy wait


def test_panic_during_a_checkpoint_stall_pages_and_survives_kill_9(broker: Broker, db_url: str, tmp_path: Path) -> None:
    with stack(broker, db_url, tmp_path) as (anomaly, home, findings, db):
        home.move()
        wait_for(lambda: anomaly.checkpointed(home.home), what="a first good checkpoint")
        with write_locked(anomaly.checkpoint_file):
            stall_checkpoints(anomaly, home)
            first = home.press()
            # Found while the stall lasts: checkpoints failing do not hold up detection.
            wait_for(lambda: findings.count(first), timeout=10, what="the panic finding during the stall")
            wait_for(lambda: db.panic_findings(home.home)[1] == [first], what="the panic's alert")
            wait_for(lambda: anomaly.health().get("checkpoint_ok") is False, what="the checkpoint alarm")
            assert anomaly.health()["checkpoint_failures"] >= 1 and anomaly.alive(), anomaly.log()
            assert "CHECKPOINT FAILED" in anomaly.log()
            # kill -9 while the checkpoint file is still locked, and start again: it resumes from the last good
            # checkpoint (reads work under a write lock) and keeps finding.
            anomaly.kill()
            anomaly.start()
            second = home.press()
            wait_for(lambda: findings.count(second), timeout=10, what="a panic after the restart, still stalled")
        # The stall ends: checkpoints are written again and the alarm clears.
        wait_for(lambda: anomaly.health().get("checkpoint_ok"), timeout=80, what="checkpoints working again")
        third = home.press()
        wait_for(lambda: findings.count(third), what="a panic after the stall")
        time.sleep(1.0)  # room for any duplicate
        assert [findings.count(f) for f in (first, second, third)] == [1, 1, 1]
        assert db.panic_findings(home.home) == (1, sorted([first, second, third]))  # one open alert


def test_kill_9_between_receiving_and_publishing_gives_exactly_one_finding(
    broker: Broker, db_url: str, tmp_path: Path
) -> None:
    with stack(broker, db_url, tmp_path) as (anomaly, home, findings, db):
        home.move()
        wait_for(lambda: anomaly.checkpointed(home.home), what="a first good checkpoint")
        anomaly.signal(signal.SIGSTOP)
        panic = home.press()  # the broker has it and sends it on to the stopped process
        time.sleep(0.5)
        anomaly.kill()
        assert findings.count(panic) == 0
        anomaly.start()
        wait_for(lambda: findings.count(panic), what="the panic after the restart")
        wait_for(lambda: db.panic_findings(home.home)[1] == [panic], what="its alert")
        time.sleep(1.5)
        assert findings.count(panic) == 1
        assert db.panic_findings(home.home) == (1, [panic])


def test_a_redelivered_message_after_its_checkpoint_is_not_processed_again(
    broker: Broker, db_url: str, tmp_path: Path
) -> None:
    # The one window the broker cannot close: state checkpointed, the process dies before its PUBACK goes out, and
    # the message comes again. Its digest was checkpointed with the state, so it is acknowledged, not re-processed.
    home_id = "h-" + secrets.token_hex(6)
    settings = AnomalySettings(
        mqtt=broker.settings("anomaly"),
        database=DatabaseSettings(url=db_url),
        state_dir=tmp_path,
        anomaly=AnomalyOptions(client_id="anomaly-" + secrets.token_hex(4), checkpoint_s=1),
    )
    ev = SensorEvent(
        home=home_id, agent="pi-1", seq=9, ts=datetime.now(UTC), sensor="panic", kind="button", value="press",
        room="hall",
    )  # fmt: skip
    msg = _Inbound(events_topic(home_id), dump(ev), mid=1, qos=0, conn=0)
    first = AnomalyService(settings)
    first._process(msg)
    assert first.health.findings_published == 1
    first.checkpoint(datetime.now(UTC))
    assert first.checkpoints is not None
    first.checkpoints.close()
    again = AnomalyService(settings)
    try:
        again._process(msg)
        assert (again.health.findings_published, again.health.redelivered_skipped) == (0, 1)
        # Another press (a new seq) is of course processed.
        again._process(_Inbound(msg.topic, dump(ev.model_copy(update={"seq": 10})), mid=2, qos=0, conn=0))
        assert again.health.findings_published == 1
    finally:
        assert again.checkpoints is not None
        again.checkpoints.close()


def test_alerts_acknowledges_a_finding_only_once_its_alert_is_committed(broker: Broker, db_url: str) -> None:
    # The same review for alerts: stopped while its database is locked, it must leave the finding with the broker.
    home_id = "h-" + secrets.token_hex(6)
    seed(db_url, home_id, "+86139" + str(secrets.randbelow(10**7)).zfill(7) + "2")
    db = AlertsDb(db_url)
    settings = settings_for(broker, db_url)
    f = finding(home_id)
    try:
        with alerts_running(settings):
            pass  # its persistent session, so the broker keeps what comes while it is down
        with write_locked(Path(db_url.removeprefix("sqlite:///"))):
            with alerts_running(settings) as stats:
                with anomaly_publisher(broker) as publish:
                    publish(findings_topic(home_id), dump(f))
                wait_for(lambda: stats.get("received") == 1, timeout=15, what="alerts received the finding")
            assert db.panic_findings(home_id) == (0, [])
        with alerts_running(settings) as stats:
            wait_for(lambda: db.panic_findings(home_id) == (1, [f.id]), what="the alert after the restart")
            assert stats.get("received") == 1  # redelivered once, recorded once
    finally:
        db.engine.dispose()


def test_a_panic_after_a_seq_reset_is_not_taken_for_an_old_one(broker: Broker, db_url: str, tmp_path: Path) -> None:
    # Panic ids come from the event (agent, seq) so a redelivery gives the same id; after a re-flashed card the seq
    # starts again, and a press with an old seq would share its id with an old finding: alerts took it for a duplicate
    # and paged no one. The queue's epoch is part of the id.
    home_id = "h-" + secrets.token_hex(6)
    seed(db_url, home_id, "+86137" + str(secrets.randbelow(10**7)).zfill(7) + "2")
    settings = AnomalySettings(
        mqtt=broker.settings("anomaly"),
        database=DatabaseSettings(url=db_url),
        state_dir=tmp_path,
        anomaly=AnomalyOptions(client_id="anomaly-" + secrets.token_hex(4)),
    )
    now = datetime.now(UTC)
    old = SensorEvent(
        home=home_id, agent="pi-1", seq=3, ts=now, sensor="panic", kind="button", value="press", room="hall",
        epoch="card-1",
    )  # fmt: skip
    new = old.model_copy(update={"epoch": "card-2", "ts": now + timedelta(days=1)})
    svc = AnomalyService(settings)
    try:
        first = svc.handle(events_topic(home_id), dump(old), now)
        redelivered = svc.handle(events_topic(home_id), dump(old), now)
        after_reset = svc.handle(events_topic(home_id), dump(new), now + timedelta(days=1))
    finally:
        assert svc.checkpoints is not None
        svc.checkpoints.close()
    assert first[0].id == redelivered[0].id != after_reset[0].id
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as s:
            assert record_finding(s, first[0], now).action == "opened"
            assert record_finding(s, redelivered[0], now).action == "duplicate"
        with session_factory(engine)() as s:
            assert record_finding(s, after_reset[0], now + timedelta(days=1)).action != "duplicate"
    finally:
        engine.dispose()


def test_a_panic_in_flight_over_a_broker_restart_is_found_once(
    tmp_path_factory: pytest.TempPathFactory, db_url: str, tmp_path: Path
) -> None:
    # Anomaly is stopped with the panic in its socket, the broker restarts, anomaly wakes: it reads the panic off the
    # dead connection and publishes while reconnecting, and the broker delivers it again on the new connection. The
    # old packet id must not be acknowledged there, the copy must not page twice, and the finding must get out.
    own = Broker.start(tmp_path_factory.mktemp("restart-mq"))
    try:
        with stack(own, db_url, tmp_path) as (anomaly, home, findings, db):
            home.move()
            wait_for(lambda: anomaly.checkpointed(home.home), what="a first good checkpoint")
            anomaly.signal(signal.SIGSTOP)
            panic = home.press()
            time.sleep(0.5)  # delivered into the stopped process's socket
            own.server.stop()
            own.server.start()
            anomaly.signal(signal.SIGCONT)
            wait_for(lambda: db.panic_findings(home.home)[1] == [panic], timeout=40, what="the panic's alert")
            wait_for(lambda: anomaly.health().get("acks_stale", 0) >= 1, what="the old connection's ack dropped")
            assert findings.count(panic) >= 1
            later = home.press()
            wait_for(lambda: findings.count(later), timeout=20, what="a panic after the restart")
            time.sleep(1.0)
            assert db.panic_findings(home.home) == (1, sorted([panic, later]))
            assert anomaly.alive() and "Traceback" not in anomaly.log(), anomaly.log()
    finally:
        own.server.stop()
