"""The alerts service against a real Mosquitto, a real SQLite and the real twilio client talking to a stand-in."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from alerts.config import AlertsOptions, AlertsSettings, TwilioSettings
from alerts.notifier import LocalOutboxNotifier, TwilioNotifier
from alerts.pipeline import process_finding, send_due
from alerts.service import ServiceStats, run_service
from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Alert, AlertEvent, Assignment, Home, Responder, SmsOutbox
from anxin.mqtt import connect_and_wait, make_client
from anxin.settings import DatabaseSettings
from contracts.messages import Finding, Severity, dump
from contracts.topics import findings_topic
from shell.servers import Broker
from shell.twilio_standin import TwilioStandin

pytestmark = pytest.mark.integration

FROM = "+15005550006"
T = TypeVar("T")


@pytest.fixture
def standin() -> Iterator[TwilioStandin]:
    s = TwilioStandin.start()
    yield s
    s.stop()


def new_home_id() -> str:
    return "h-" + secrets.token_hex(6)


def seed(db_url: str, home_id: str, phone: str, *, lang: str = "zh-CN") -> None:
    """A home with one verified volunteer (priority 1), plus an unverified one at priority 0 who must not be sent."""
    with session_factory(make_engine(db_url))() as s:
        s.add(
            Home(
                id=home_id,
                label="3号楼2单元501",
                district="朝阳区",
                timezone="Asia/Shanghai",
                created_at=datetime.now(UTC),
            )
        )
        vol = Responder(name="Li Volunteer", phone=phone, lang=lang, role="volunteer", verified=True, active=True)
        unverified = Responder(
            name="New Person", phone=phone[:-1] + "9", lang="zh-CN", role="volunteer", verified=False, active=True
        )
        s.add_all([vol, unverified])
        s.flush()
        s.add_all(
            [
                Assignment(home_id=home_id, responder_id=vol.id, priority=1),
                Assignment(home_id=home_id, responder_id=unverified.id, priority=0),
            ]
        )
        s.commit()


def finding(home: str, kind: str = "panic", fid: str | None = None) -> Finding:
    now = datetime.now(UTC)
    return Finding(
        id=fid or "f-" + secrets.token_hex(8),
        home=home,
        kind=kind,
        severity=Severity.CRITICAL,
        ts=now,
        since=now - timedelta(minutes=2),
        detector="button",
        evidence={"sensor": "btn1"},
    )


def settings_for(broker: Broker, db_url: str, twilio: TwilioSettings | None = None, **opts: Any) -> AlertsSettings:
    return AlertsSettings(
        mqtt=broker.settings("alerts"),
        database=DatabaseSettings(url=db_url),
        alerts=AlertsOptions(
            client_id="test-alerts-" + secrets.token_hex(4), twilio=twilio or TwilioSettings(), **opts
        ),
    )


def twilio_for(standin: TwilioStandin) -> TwilioSettings:
    return TwilioSettings(
        account_sid=standin.account_sid,
        auth_token=standin.auth_token,  # type: ignore[arg-type]
        from_number=FROM,
        api_base=standin.url,
    )


@contextmanager
def running(settings: AlertsSettings) -> Iterator[ServiceStats]:
    stop, stats, errors = threading.Event(), ServiceStats(), []

    def target() -> None:
        try:
            run_service(settings, stop, stats=stats)
        except BaseException as err:  # surfaced by the test below
            errors.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        assert stats.ready.wait(15) or errors, "service never subscribed"
        assert not errors, errors
        yield stats
    finally:
        stop.set()
        thread.join(15)
        assert not thread.is_alive()
        assert not errors, errors


@contextmanager
def anomaly_publisher(broker: Broker) -> Iterator[Callable[[str, bytes], None]]:
    mq = broker.settings("anomaly")
    client = make_client(mq, "test-anomaly-" + secrets.token_hex(4))
    connect_and_wait(client, mq)

    def publish(topic: str, payload: bytes) -> None:
        client.publish(topic, payload, qos=1).wait_for_publish(5)

    try:
        yield publish
    finally:
        client.disconnect()
        client.loop_stop()


def wait_until(fn: Callable[[], T | None], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def alerts_of(db_url: str, home: str) -> list[Alert]:
    with session_factory(make_engine(db_url))() as s:
        return list(s.scalars(select(Alert).where(Alert.home_id == home)))


def outbox_of(db_url: str, alert_id: int) -> list[SmsOutbox]:
    with session_factory(make_engine(db_url))() as s:
        return list(s.scalars(select(SmsOutbox).where(SmsOutbox.alert_id == alert_id)))


def timeline_of(db_url: str, alert_id: int) -> list[AlertEvent]:
    with session_factory(make_engine(db_url))() as s:
        return list(s.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)))


def test_finding_opens_alert_and_sends_one_sms_through_twilio(
    broker: Broker, db_url: str, standin: TwilioStandin
) -> None:
    home, phone = new_home_id(), "+8613800138000"
    seed(db_url, home, phone)
    first = finding(home)
    with running(settings_for(broker, db_url, twilio_for(standin))) as stats, anomaly_publisher(broker) as publish:
        # Poison first: it is counted and acknowledged, and does not hold up the finding behind it.
        publish(findings_topic(home), b'{"v":1,"id":"x"')
        publish(findings_topic(home), dump(first))

        assert standin.wait_for(lambda rs: len(rs) >= 1, 10)
        sent = wait_until(lambda: [r for r in outbox_of(db_url, alerts_of(db_url, home)[0].id) if r.status == "sent"])
        req = standin.requests[0]
        alert = alerts_of(db_url, home)[0]
        assert req.auth_ok and req.user_agent.startswith("twilio-python/")
        assert (req.to, req.from_) == (phone, FROM)
        assert req.body is not None and alert.code in req.body and "3号楼2单元501" in req.body
        assert (alert.state, alert.count, alert.kind, alert.first_finding_id) == ("notifying", 1, "panic", first.id)
        assert len(sent) == 1 and sent[0].provider == "twilio" and sent[0].provider_sid == req.sid
        assert sent[0].key.startswith(f"alert:{alert.id}:r1:step1:responder:")
        assert stats.get("invalid") == 1 and stats.get("opened") == 1

        # Same kind while open: joins (count 2), no second SMS; a redelivered finding changes nothing.
        publish(findings_topic(home), dump(finding(home)))
        wait_until(lambda: alerts_of(db_url, home)[0].count == 2)
        publish(findings_topic(home), dump(first))
        wait_until(lambda: stats.get("duplicate") == 1)
        time.sleep(0.3)
        assert len(standin.requests) == 1
        assert [a.count for a in alerts_of(db_url, home)] == [2]
        assert [e.action for e in timeline_of(db_url, alert.id)] == ["opened", "paged", "sms_sent", "joined"]

        # Another kind is another alert.
        publish(findings_topic(home), dump(finding(home, kind="door_left_open")))
        assert standin.wait_for(lambda rs: len(rs) == 2, 10)
        assert sorted(a.kind for a in alerts_of(db_url, home)) == ["door_left_open", "panic"]


def test_without_twilio_credentials_sms_stays_in_local_outbox(broker: Broker, db_url: str) -> None:
    home = new_home_id()
    seed(db_url, home, "+8613800138001", lang="en")
    with running(settings_for(broker, db_url)), anomaly_publisher(broker) as publish:
        publish(findings_topic(home), dump(finding(home, kind="long_inactivity")))
        rows = wait_until(
            lambda: [r for a in alerts_of(db_url, home) for r in outbox_of(db_url, a.id) if r.status == "local"]
        )
    assert len(rows) == 1
    row = rows[0]
    assert row.provider == "local" and row.to_number == "+8613800138001" and row.lang == "en"
    assert "no activity" in row.body and row.sent_at is not None and row.attempts == 1
    assert [a.state for a in alerts_of(db_url, home)] == ["notifying"]


def test_a_finding_after_resolution_opens_a_new_alert(db_url: str) -> None:
    home = new_home_id()
    seed(db_url, home, "+8613800138006")
    sessions = session_factory(make_engine(db_url))
    with sessions() as s:
        first = process_finding(s, finding(home), datetime.now(UTC), LocalOutboxNotifier())
        again = process_finding(s, finding(home), datetime.now(UTC), LocalOutboxNotifier())
        assert (first.action, again.action) == ("opened", "joined")
        assert (again.alert_id, again.outbox_ids) == (first.alert_id, ())
        alert = s.get(Alert, first.alert_id)
        assert alert is not None
        alert.state = "resolved"
        s.commit()
        later = process_finding(s, finding(home), datetime.now(UTC), LocalOutboxNotifier())
    assert later.action == "opened" and later.alert_id != first.alert_id and len(later.outbox_ids) == 1
    codes = [a.code for a in alerts_of(db_url, home)]
    assert len(codes) == 2


def test_findings_published_while_down_arrive_after_restart(broker: Broker, db_url: str) -> None:
    home = new_home_id()
    seed(db_url, home, "+8613800138002")
    settings = settings_for(broker, db_url)
    with running(settings):
        pass  # creates the persistent session and its subscription
    with anomaly_publisher(broker) as publish:
        publish(findings_topic(home), dump(finding(home)))
    with running(settings) as stats:
        wait_until(lambda: stats.get("opened") == 1)
        assert len(alerts_of(db_url, home)) == 1


def test_unknown_home_is_counted_and_acknowledged(broker: Broker, db_url: str) -> None:
    home = new_home_id()
    with running(settings_for(broker, db_url)) as stats, anomaly_publisher(broker) as publish:
        publish(findings_topic(home), dump(finding(home)))
        wait_until(lambda: stats.get("unknown_home") == 1)
    assert alerts_of(db_url, home) == []


def test_permanent_rejection_fails_the_row_without_leaking_the_number(db_url: str, standin: TwilioStandin) -> None:
    home, phone = new_home_id(), "+8613800138003"
    seed(db_url, home, phone)
    standin.reject(phone, 21211)
    notifier = TwilioNotifier(twilio_for(standin))
    with session_factory(make_engine(db_url))() as s:
        outcome = process_finding(s, finding(home), datetime.now(UTC), notifier)
    assert outcome.action == "opened" and outcome.alert_id is not None
    [row] = outbox_of(db_url, outcome.alert_id)
    assert row.status == "failed" and row.attempts == 1 and row.error is not None
    assert "21211" in row.error and phone not in row.error and standin.auth_token not in row.error
    failed = [e for e in timeline_of(db_url, outcome.alert_id) if e.action == "sms_failed"]
    assert len(failed) == 1 and failed[0].detail["retrying"] is False
    assert phone not in str(failed[0].detail)


def test_transient_failure_is_retried_after_backoff(db_url: str, standin: TwilioStandin) -> None:
    home, phone = new_home_id(), "+8613800138004"
    seed(db_url, home, phone)
    standin.fail_next(1, 503)
    notifier = TwilioNotifier(twilio_for(standin))
    sessions = session_factory(make_engine(db_url))
    now = datetime.now(UTC)
    with sessions() as s:
        outcome = process_finding(s, finding(home), now, notifier)
    assert outcome.alert_id is not None
    [row] = outbox_of(db_url, outcome.alert_id)
    assert (row.status, row.attempts) == ("pending", 1) and "503" in (row.error or "")
    with sessions() as s:
        assert send_due(s, notifier, now + timedelta(seconds=1), backoff_s=[5], max_attempts=5) == 0
        assert send_due(s, notifier, now + timedelta(seconds=6), backoff_s=[5], max_attempts=5) == 1
    [row] = outbox_of(db_url, outcome.alert_id)
    assert (row.status, row.attempts, row.error) == ("sent", 2, None)
    assert [r.status for r in standin.requests] == [503, 201]


def test_wrong_auth_token_is_a_permanent_failure(db_url: str, standin: TwilioStandin) -> None:
    home = new_home_id()
    seed(db_url, home, "+8613800138005")
    bad = TwilioSettings(
        account_sid=standin.account_sid,
        auth_token="wrong-token-123",  # type: ignore[arg-type]
        from_number=FROM,
        api_base=standin.url,
    )
    with session_factory(make_engine(db_url))() as s:
        outcome = process_finding(s, finding(home), datetime.now(UTC), TwilioNotifier(bad))
    assert outcome.alert_id is not None
    [row] = outbox_of(db_url, outcome.alert_id)
    assert row.status == "failed" and "401" in (row.error or "") and "wrong-token-123" not in (row.error or "")
    assert standin.requests[0].auth_ok is False
