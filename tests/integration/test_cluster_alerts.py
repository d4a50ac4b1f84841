"""alerts on JetStream (bus = "nats"): two replicas on one PostgreSQL, one killed mid-stream, every page sent once.

Real servers only: a 3-node JetStream cluster, PostgreSQL, Mosquitto (feedback still goes out on MQTT) and the Twilio
stand-in the real twilio client posts to.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from alerts.jetstream import as_topic, subject_home
from alerts.notifier import LocalOutboxNotifier
from alerts.pipeline import process_finding
from alerts.track import mark_feedback_sent, pending_feedback
from anxin.bus import findings_subject
from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Alert, AlertFinding, SmsOutbox
from anxin.mqtt import connect_and_wait, make_client
from contracts import Finding, Severity, dump, parse_feedback
from contracts.topics import FEEDBACK_FILTER, findings_topic
from shell.natsd import NatsCluster
from shell.servers import Broker, free_port
from shell.twilio_standin import TwilioStandin
from tests.support.alerts_fixtures import PostgresServer, postgres
from tests.support.alerts_process import AlertsProcess, consumer_state, publish_findings, seed_homes
from tests.support.cluster_fixtures import nats_cluster
from tests.support.processes import get_health
from tests.support.waiting import wait_for

__all__ = ["nats_cluster", "postgres"]  # fixtures used by name
pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _finding(home: str, kind: str, severity: Severity, fid: str | None = None) -> Finding:
    now = datetime.now(UTC)
    return Finding(
        id=fid or f"f-{secrets.token_hex(8)}",
        home=home,
        kind=kind,
        severity=severity,
        ts=now,
        since=now - timedelta(minutes=2),
        detector="test",
        evidence={"n": 1},
    )


def test_findings_subjects_map_to_their_home() -> None:
    assert subject_home(findings_subject("h-abc123")) == "h-abc123"
    assert as_topic("anxin.findings.h-abc123") == findings_topic("h-abc123")
    # Anything else is not a finding of a home: read_finding rejects the empty topic (counted, acked, dropped).
    for bad in ("anxin.findings.", "anxin.findings.h-1.x", "anxin.events.3.h-1", "other"):
        assert as_topic(bad) == ""


def test_two_replicas_deciding_one_home_at_once_open_one_alert(postgres: PostgresServer) -> None:
    # The race of several replicas: the same finding twice (a relay repeat), and two different findings of one home
    # and kind, each pair decided at the same moment by two threads on PostgreSQL. Without the per-home lock both
    # of a pair see no active alert and both open one (two pages).
    url = postgres.create_database()
    homes = list(seed_homes(url, 24))
    engine = make_engine(url)
    sessions = session_factory(engine)
    notifier = LocalOutboxNotifier()
    pairs = []
    for i, home in enumerate(homes):
        a = _finding(home, "panic", Severity.CRITICAL)
        b = a if i % 2 else _finding(home, "panic", Severity.CRITICAL)
        pairs.append((a, b))

    def decide(f: Finding, barrier: threading.Barrier, out: list[str]) -> None:
        barrier.wait()
        with sessions() as s:
            out.append(process_finding(s, f, datetime.now(UTC), notifier).action)

    actions: list[str] = []
    for a, b in pairs:
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=decide, args=(f, barrier, actions)) for f in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    with sessions() as s:
        alerts = Counter(s.scalars(select(Alert.home_id)))
        pages = Counter(s.scalars(select(Alert.home_id).join(SmsOutbox, SmsOutbox.alert_id == Alert.id)))
        counts = {h: c for h, c in s.execute(select(Alert.home_id, Alert.count))}
    engine.dispose()
    assert alerts == Counter(homes), alerts
    assert pages == Counter(homes), pages
    for i, home in enumerate(homes):
        assert counts[home] == (1 if i % 2 else 2), (home, counts[home])
    assert Counter(actions) == {"opened": 24, "duplicate": 12, "joined": 12}


def test_two_replicas_sweeping_at_once_tell_a_verdict_once(postgres: PostgresServer) -> None:
    # Each replica's sweep publishes the verdicts of resolved alerts to anomaly. The first holds them locked until it
    # has published and marked them; the other, sweeping meanwhile, skips them instead of publishing them again.
    url = postgres.create_database()
    [home] = seed_homes(url, 1)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        alert_id = process_finding(
            s, _finding(home, "panic", Severity.CRITICAL), datetime.now(UTC), LocalOutboxNotifier()
        ).alert_id
        assert alert_id is not None
        s.execute(update(Alert).where(Alert.id == alert_id).values(state="resolved", outcome="resident_fine"))
        s.commit()
    with sessions() as first, sessions() as second:
        assert [fb.alert_id for fb in pending_feedback(first)] == [alert_id]
        assert pending_feedback(second) == []  # locked by the first sweep: skipped, not waited for
        second.commit()
        mark_feedback_sent(first, alert_id, datetime.now(UTC))
        first.commit()
        assert pending_feedback(second) == []  # told once
    engine.dispose()


def test_a_live_replica_held_past_the_ack_wait_keeps_its_finding(
    nats_cluster: NatsCluster, postgres: PostgresServer, broker: Broker, tmp_path: Path
) -> None:
    # A replica's worker can be held longer than the ack wait (a long sweep, the database retried, here the home's
    # lock held by the test). Alive, it says it is still working on the finding: JetStream must not hand it to the
    # other replica meanwhile (which would wait on the same lock, then find a duplicate).
    url = postgres.create_database()
    [home] = seed_homes(url, 1)
    nats = nats_cluster.settings(findings_to_mqtt=False)
    standin = TwilioStandin.start()
    mqtt = broker.settings("alerts")
    as_alerts = nats_cluster.as_role(nats, "alerts")
    replicas = [AlertsProcess(f"alerts-slow-{c}", tmp_path / c, as_alerts, mqtt, url, standin) for c in "ab"]
    engine = make_engine(url)
    sessions = session_factory(engine)
    try:
        for r in replicas:
            r.start()
        for r in replicas:
            r.wait_ready()
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": f"anxin.alerts.home:{home}"})
            conn.commit()
            publish_findings(nats, [(_finding(home, "panic", Severity.CRITICAL), f"slow-{home}")], [])
            wait_for(lambda: consumer_state(nats)[1] == 1, timeout=10, what="the finding handed to a replica")
            held_until = time.monotonic() + 2.5 * replicas[0].ack_wait_s
            while time.monotonic() < held_until:  # the scenario: held for two and a half ack waits
                assert consumer_state(nats)[2] == 0, "redelivered to the other replica while the first was alive"
                time.sleep(0.5)
            conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": f"anxin.alerts.home:{home}"})
            conn.commit()

        def settled() -> bool:
            with sessions() as s:
                opened = s.scalar(select(func.count()).select_from(Alert)) == 1
            return opened and consumer_state(nats)[:2] == (0, 0)

        wait_for(settled, timeout=20, what="the finding recorded and acked")
        assert sum(r.log().count("duplicate") for r in replicas) == 0
    finally:
        for r in replicas:
            r.stop()
        standin.stop()
        engine.dispose()


def test_two_replicas_one_killed_page_every_finding_once(
    nats_cluster: NatsCluster, postgres: PostgresServer, broker: Broker, tmp_path: Path
) -> None:
    url = postgres.create_database()
    phones = seed_homes(url, 150)
    homes = list(phones)
    nats = nats_cluster.settings(findings_to_mqtt=False)
    # 50 critical and 50 warning homes must page their volunteer once; 50 info homes never page. Ten homes get a
    # second, different finding of the same kind (joins its alert, no second page); 40 findings are published again
    # under another Nats-Msg-Id, as a relay repeating itself would (stored twice, recorded once).
    severity = {h: (Severity.CRITICAL, Severity.WARNING, Severity.INFO)[i % 3] for i, h in enumerate(homes)}
    kind = {Severity.CRITICAL: "panic", Severity.WARNING: "door_left_open", Severity.INFO: "low_battery"}
    findings = [_finding(h, kind[severity[h]], severity[h]) for h in homes]
    findings += [_finding(h, kind[severity[h]], severity[h]) for h in homes[:10]]
    msgs = [(f, f.id) for f in findings]
    msgs += [(f, f"{f.id}:relay") for f in findings[::4]]
    must_page = {phones[h] for h in homes if severity[h] is not Severity.INFO}
    # Poison: counted, logged and acked by whichever replica gets it, never redelivered forever.
    stray = _finding(homes[0], "panic", Severity.CRITICAL)
    poison = [(findings_subject(homes[1]), b"not json"), (findings_subject(homes[1]), dump(stray))]

    standin = TwilioStandin.start()
    mqtt = broker.settings("alerts")
    as_alerts = nats_cluster.as_role(nats, "alerts")
    replicas = [AlertsProcess(f"alerts-{c}", tmp_path / c, as_alerts, mqtt, url, standin) for c in "ab"]
    engine = make_engine(url)
    sessions = session_factory(engine)

    def recorded() -> int:
        with sessions() as s:
            return s.scalar(select(func.count()).select_from(AlertFinding)) or 0

    try:
        for r in replicas:
            r.start()
        for r in replicas:
            r.wait_ready()
        t0 = time.monotonic()
        publish_findings(nats, msgs, poison)
        # Kill one replica once a third is recorded: it dies holding a batch it has not acked (or half sent).
        wait_for(lambda: recorded() >= len(findings) // 3, timeout=30, interval=0.05, what="a third recorded")
        replicas[0].kill()
        at_kill = recorded()
        assert at_kill < len(findings), "the replica was killed after the stream was drained: not mid-stream"

        def drained() -> bool:
            pending, ack_pending, _ = consumer_state(nats)
            with sessions() as s:
                unsent = s.scalar(
                    select(func.count()).select_from(SmsOutbox).where(SmsOutbox.status.in_(("pending", "sending")))
                )
            return recorded() == len(findings) and pending == 0 and ack_pending == 0 and unsent == 0

        wait_for(drained, timeout=90, interval=0.2, what="the survivor drains every finding and sends every page")
        took = time.monotonic() - t0
        print(f"{len(msgs)} messages, {len(findings)} findings; killed at {at_kill}; drained in {took:.1f}s")

        with sessions() as s:
            ids = list(s.scalars(select(AlertFinding.finding_id)))
            alerts = Counter(s.scalars(select(Alert.home_id)))
            sent = Counter(
                s.scalars(
                    select(SmsOutbox.to_number).where(SmsOutbox.status == "sent", SmsOutbox.alert_id.is_not(None))
                )
            )
        # Every finding recorded exactly once (the ids are unique in the table: compare as a list), one alert a home.
        assert sorted(ids) == sorted(f.id for f in findings)
        assert alerts == Counter(homes)
        # Every page went out once, as the stand-in saw it and as the outbox recorded it; info never paged.
        by_number = Counter(r.to for r in standin.accepted)
        assert set(by_number) == must_page, set(by_number) ^ must_page
        assert all(n == 1 for n in by_number.values()), {k: v for k, v in by_number.items() if v != 1}
        assert sent == by_number
        # Both replicas worked, and the survivor took over the killed one's share.
        assert "finding" in replicas[0].log() and "finding" in replicas[1].log()
        assert replicas[1].proc is not None and replicas[1].proc.poll() is None, replicas[1].log()
    finally:
        for r in replicas:
            r.stop()
        standin.stop()
        engine.dispose()


def test_two_live_replicas_tell_anomaly_each_verdict_once_over_mqtt(
    nats_cluster: NatsCluster, postgres: PostgresServer, broker: Broker, tmp_path: Path
) -> None:
    # Feedback stays on MQTT with bus = "nats": both replicas sweep resolved alerts every second; each verdict reaches
    # anomaly's feedback topic once (the sweeps skip the alerts the other holds).
    url = postgres.create_database()
    homes = list(seed_homes(url, 30))
    nats = nats_cluster.settings(findings_to_mqtt=False)
    standin = TwilioStandin.start()
    replicas = [
        AlertsProcess(
            f"alerts-fb-{c}",
            tmp_path / c,
            nats_cluster.as_role(nats, "alerts"),
            broker.settings("alerts"),
            url,
            standin,
        )
        for c in "ab"
    ]
    engine = make_engine(url)
    sessions = session_factory(engine)
    heard: Counter[int] = Counter()
    lock = threading.Lock()
    mq = broker.settings("anomaly")
    listener = make_client(mq, "test-feedback-" + secrets.token_hex(4))

    def on_message(c: Any, userdata: Any, msg: Any) -> None:
        with lock:
            heard[parse_feedback(msg.payload).alert_id] += 1

    listener.on_message = on_message
    try:
        for r in replicas:
            r.start()
        for r in replicas:
            r.wait_ready()
        connect_and_wait(listener, mq)
        listener.subscribe(FEEDBACK_FILTER, qos=1)
        publish_findings(nats, [(f, f.id) for f in (_finding(h, "panic", Severity.CRITICAL) for h in homes)], [])

        def opened() -> int:
            with sessions() as s:
                return s.scalar(select(func.count()).select_from(Alert)) or 0

        wait_for(lambda: opened() == len(homes), timeout=30, what="every finding opened an alert")
        with sessions() as s:  # every alert resolved at once, as responders replying "2 <code>" would
            s.execute(update(Alert).values(state="resolved", outcome="resident_fine", resolved_at=datetime.now(UTC)))
            s.commit()

        def told() -> bool:
            with sessions() as s:
                unmarked = s.scalar(select(func.count()).select_from(Alert).where(Alert.feedback_sent_at.is_(None)))
            with lock:
                return unmarked == 0 and len(heard) == len(homes)

        wait_for(told, timeout=30, interval=0.1, what="every verdict published and marked")
        with lock:
            assert all(n == 1 for n in heard.values()), {k: v for k, v in heard.items() if v != 1}
        both = [r.log().count("feedback for alert") for r in replicas]
        print(f"verdicts published by replica a / b: {both}")
    finally:
        listener.disconnect()
        listener.loop_stop()
        for r in replicas:
            r.stop()
        standin.stop()
        engine.dispose()


def test_alerts_follows_the_cluster_down_and_back(postgres: PostgresServer, broker: Broker, tmp_path: Path) -> None:
    # Every NATS node dies (SIGKILL) and comes back on its store: /healthz names JetStream while it is away, and the
    # replica consumes again on its own, a finding published after the restart pages.
    cluster = NatsCluster(tmp_path / "nats").start()
    url = postgres.create_database()
    phones = seed_homes(url, 2)
    first, second = list(phones)
    nats = cluster.settings(findings_to_mqtt=False)
    standin = TwilioStandin.start()
    port = free_port()
    as_alerts = cluster.as_role(nats, "alerts")
    replica = AlertsProcess(
        "alerts-rs", tmp_path / "a", as_alerts, broker.settings("alerts"), url, standin, http_port=port
    )
    health = f"http://127.0.0.1:{port}/healthz"

    def paged(home: str) -> bool:
        return any(r.to == phones[home] for r in standin.accepted)

    try:
        replica.start().wait_ready()
        publish_findings(nats, [(_finding(first, "panic", Severity.CRITICAL), "before")], [])
        wait_for(lambda: paged(first), timeout=20, what="the first finding paged")
        wait_for(lambda: get_health(health)[0] == 200, timeout=10, what="healthy")
        for i in range(len(cluster.nodes)):
            cluster.kill(i)
        wait_for(lambda: get_health(health)[0] == 503, timeout=20, what="503 while the cluster is down")
        assert get_health(health)[1]["down"] == ["jetstream"]
        for i in range(len(cluster.nodes)):
            cluster.nodes[i].process.spawn()  # type: ignore[union-attr]
        cluster.wait_healthy(60)
        wait_for(lambda: get_health(health)[0] == 200, timeout=30, what="healthy again")
        publish_findings(nats, [(_finding(second, "panic", Severity.CRITICAL), "after")], [])
        wait_for(lambda: paged(second), timeout=30, what="a finding after the restart paged")
        assert Counter(r.to for r in standin.accepted) == Counter(phones.values())
    finally:
        replica.stop()
        standin.stop()
        cluster.stop()
