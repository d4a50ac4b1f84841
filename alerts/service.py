"""The alerts service: findings from MQTT -> alerts and timeline in SQL -> SMS through the outbox."""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import paho.mqtt.client as mqtt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from alerts import pipeline
from alerts.config import AlertsSettings
from alerts.notifier import Notifier, SendResult, make_notifier
from alerts.pipeline import Action, AlertFacts, Candidate, ExistingAlert
from alerts.redact import mask_phone
from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Alert, AlertEvent, Assignment, Home, Responder, SmsOutbox
from anxin.mqtt import connect_and_wait, make_client
from contracts.messages import ContractError, Finding, parse_finding
from contracts.topics import FINDINGS_FILTER, TopicKind, parse_topic

log = logging.getLogger(__name__)

ACTOR = "alerts"
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
_CODE_TRIES = 20
_SWEEP_EVERY_S = 1.0
_DB_RETRY_MAX_S = 30.0


@dataclass
class ServiceStats:
    """Counters of what the service did, and `ready` once its subscription is granted."""

    ready: threading.Event = field(default_factory=threading.Event)
    _counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def incr(self, name: str, n: int = 1) -> None:
        """Add to a counter."""
        with self._lock:
            self._counts[name] += n

    def get(self, name: str) -> int:
        """A counter's value."""
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        """All counters."""
        with self._lock:
            return dict(self._counts)


@dataclass(frozen=True)
class Outcome:
    """What one finding did: opened, joined, duplicate or unknown_home; with the outbox rows to send."""

    action: str
    alert_id: int | None = None
    outbox_ids: tuple[int, ...] = ()


def home_tz(name: str) -> tzinfo:
    """The home's timezone, UTC when the stored name is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown timezone %r, using UTC", name)
        return UTC


def _event(alert_id: int, now: datetime, action: str, detail: dict[str, Any]) -> AlertEvent:
    return AlertEvent(alert_id=alert_id, at=now, actor=ACTOR, action=action, detail=detail)


def _finding_detail(finding: Finding) -> dict[str, Any]:
    return {
        "finding": finding.id,
        "detector": finding.detector,
        "severity": finding.severity.value,
        "ts": finding.ts.isoformat(),
        "since": finding.since.isoformat(),
        "evidence": dict(finding.evidence),
    }


def _seen_finding_ids(session: Session, finding: Finding, unresolved: Alert | None) -> set[str]:
    seen: set[str] = set()
    if session.scalar(select(Alert.id).where(Alert.first_finding_id == finding.id)) is not None:
        seen.add(finding.id)
    if unresolved is not None:
        for ev in unresolved.timeline:
            fid = ev.detail.get("finding") if ev.action in ("opened", "joined") else None
            if isinstance(fid, str):
                seen.add(fid)
    return seen


def _new_code(session: Session, rng: random.Random) -> str:
    for _ in range(_CODE_TRIES):
        code = pipeline.reply_code(rng)
        taken = session.scalar(
            select(Alert.id).where(Alert.code == code, Alert.state.not_in(pipeline.CLOSED_STATES)).limit(1)
        )
        if taken is None:
            return code
    raise RuntimeError("no free reply code after several tries")


def _candidates(session: Session, home_id: str) -> list[Candidate]:
    rows = session.execute(
        select(Assignment.priority, Responder)
        .join(Responder, Responder.id == Assignment.responder_id)
        .where(Assignment.home_id == home_id)
    ).all()
    return [
        Candidate(
            responder_id=r.id,
            phone=r.phone,
            lang=r.lang,
            role=r.role,
            verified=r.verified,
            active=r.active,
            priority=prio,
        )
        for prio, r in rows
    ]


def record_finding(
    session: Session,
    finding: Finding,
    now: datetime,
    *,
    provider: str,
    rng: random.Random | None = None,
    console_url: str | None = None,
) -> Outcome:
    """Apply one finding to the alerts in one committed transaction, writing any SMS to the outbox as pending."""
    home = session.get(Home, finding.home)
    if home is None:
        session.rollback()
        return Outcome("unknown_home")
    unresolved = session.scalars(
        select(Alert)
        .where(Alert.home_id == home.id, Alert.kind == finding.kind, Alert.state.not_in(pipeline.CLOSED_STATES))
        .order_by(Alert.id.desc())
        .limit(1)
    ).first()
    existing = (
        None
        if unresolved is None
        else ExistingAlert(unresolved.id, unresolved.state, unresolved.count, unresolved.code)
    )
    decision = pipeline.dedupe(finding.id, existing, _seen_finding_ids(session, finding, unresolved))

    if decision.action is Action.DUPLICATE:
        session.rollback()
        return Outcome("duplicate", decision.alert_id)

    if decision.action is Action.JOIN and unresolved is not None:
        unresolved.count += 1
        unresolved.updated_at = now
        unresolved.since = min(unresolved.since, finding.since)
        unresolved.evidence = dict(finding.evidence)
        if SEVERITY_RANK.get(finding.severity.value, 0) > SEVERITY_RANK.get(unresolved.severity, 0):
            unresolved.severity = finding.severity.value
        session.add(_event(unresolved.id, now, "joined", {**_finding_detail(finding), "count": unresolved.count}))
        session.commit()
        return Outcome("joined", unresolved.id)

    try:
        alert, rows = _open_alert(
            session, finding, home, now, provider=provider, rng=rng or random.SystemRandom(), console_url=console_url
        )
        session.commit()
    except IntegrityError:
        # Another instance opened it first (first_finding_id is unique): the finding is already handled.
        session.rollback()
        return Outcome("duplicate")
    return Outcome("opened", alert.id, tuple(r.id for r in rows))


def _open_alert(
    session: Session,
    finding: Finding,
    home: Home,
    now: datetime,
    *,
    provider: str,
    rng: random.Random,
    console_url: str | None,
) -> tuple[Alert, list[SmsOutbox]]:
    alert = Alert(
        home_id=home.id,
        kind=finding.kind,
        severity=finding.severity.value,
        state=pipeline.STATE_OPEN,
        code=_new_code(session, rng),
        opened_at=now,
        updated_at=now,
        since=finding.since,
        count=1,
        first_finding_id=finding.id,
        evidence=dict(finding.evidence),
    )
    session.add(alert)
    session.flush()
    session.add(_event(alert.id, now, "opened", _finding_detail(finding)))

    recipients = pipeline.route(_candidates(session, home.id))
    facts = AlertFacts(
        alert_id=alert.id,
        kind=alert.kind,
        code=alert.code,
        since=alert.since,
        label=home.label,
        district=home.district,
        tz=home_tz(home.timezone),
    )
    link = f"{console_url.rstrip('/')}/alerts/{alert.id}" if console_url else None
    rows = [
        SmsOutbox(
            key=m.key,
            alert_id=alert.id,
            responder_id=m.responder_id,
            to_number=m.to,
            body=m.body,
            lang=m.lang,
            status=pipeline.OUTBOX_PENDING,
            provider=provider,
            attempts=0,
            created_at=now,
        )
        for m in pipeline.build_messages(facts, recipients, now, link=link)
    ]
    session.add_all(rows)
    session.flush()
    for row in rows:
        session.add(
            _event(
                alert.id,
                now,
                "sms_queued",
                {"outbox": row.id, "responder": row.responder_id, "key": row.key, "provider": provider},
            )
        )
    if not rows:
        session.add(_event(alert.id, now, "no_recipients", {"step": 1}))
        log.warning("alert %s (%s, %s): no active verified volunteer assigned", alert.id, home.id, alert.kind)
    return alert, rows


def deliver(
    session: Session,
    outbox_id: int,
    notifier: Notifier,
    now: Callable[[], datetime],
    *,
    max_attempts: int = 5,
) -> str | None:
    """Send one pending outbox row and record the result on it and on the alert's timeline; returns its status."""
    row = session.get(SmsOutbox, outbox_id)
    if row is None or row.status != pipeline.OUTBOX_PENDING:
        session.rollback()
        return None
    to, body, key = row.to_number, row.body, row.key
    session.commit()  # no transaction stays open while the provider answers

    try:
        result = notifier.send(to, body, key)
    except Exception as err:
        # A notifier bug must still count as an attempt, or the sweep would retry the row forever.
        log.exception("notifier %s raised on %s", notifier.provider, key)
        result = SendResult(ok=False, retryable=True, error=f"{type(err).__name__} in notifier")

    row.attempts += 1
    row.provider = notifier.provider
    row.status = pipeline.status_after_send(
        result.ok, result.retryable, row.attempts, max_attempts, local=notifier.provider == "local"
    )
    row.provider_sid = result.provider_sid
    row.error = result.error
    at = now()
    if result.ok:
        row.sent_at = at
    alert = session.get(Alert, row.alert_id) if row.alert_id is not None else None
    if alert is not None and result.ok and alert.state == pipeline.STATE_OPEN:
        alert.state = pipeline.STATE_NOTIFIED
        alert.updated_at = at
    if row.alert_id is not None:
        detail: dict[str, Any] = {
            "outbox": row.id,
            "responder": row.responder_id,
            "provider": notifier.provider,
            "attempt": row.attempts,
        }
        if result.ok:
            session.add(_event(row.alert_id, at, "sms_sent", {**detail, "sid": result.provider_sid}))
        else:
            session.add(
                _event(
                    row.alert_id,
                    at,
                    "sms_failed",
                    {**detail, "error": result.error, "retrying": row.status == pipeline.OUTBOX_PENDING},
                )
            )
    session.commit()
    if result.ok:
        log.info("sms %s to %s: %s (%s)", key, mask_phone(to), row.status, notifier.provider)
    else:
        log.warning(
            "sms %s to %s: %s after attempt %d: %s", key, mask_phone(to), row.status, row.attempts, result.error
        )
    return row.status


def process_finding(
    session: Session,
    finding: Finding,
    now: datetime,
    notifier: Notifier,
    *,
    rng: random.Random | None = None,
    console_url: str | None = None,
    max_attempts: int = 5,
) -> Outcome:
    """Record a finding and send the SMS it queued, each step committed; what the service does per message."""
    outcome = record_finding(session, finding, now, provider=notifier.provider, rng=rng, console_url=console_url)
    for oid in outcome.outbox_ids:
        deliver(session, oid, notifier, lambda: now, max_attempts=max_attempts)
    return outcome


def send_due(
    session: Session,
    notifier: Notifier,
    now: datetime,
    *,
    backoff_s: Sequence[float],
    max_attempts: int,
    limit: int = 100,
) -> int:
    """Send pending outbox rows whose backoff has passed (retries, and rows a crash left unsent); returns how many."""
    rows = session.scalars(
        select(SmsOutbox).where(SmsOutbox.status == pipeline.OUTBOX_PENDING).order_by(SmsOutbox.id).limit(limit)
    ).all()
    due = [r.id for r in rows if pipeline.next_attempt_at(r.created_at, r.attempts, backoff_s) <= now]
    session.rollback()
    for oid in due:
        deliver(session, oid, notifier, lambda: datetime.now(UTC), max_attempts=max_attempts)
    return len(due)


@dataclass(frozen=True)
class _Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int


class _Worker:
    """Does every DB write and send off the paho network thread, acknowledging each message once committed."""

    def __init__(
        self,
        settings: AlertsSettings,
        client: mqtt.Client,
        sessions: sessionmaker[Session],
        notifier: Notifier,
        stats: ServiceStats,
        stop: threading.Event,
    ) -> None:
        self.settings = settings
        self.client = client
        self.sessions = sessions
        self.notifier = notifier
        self.stats = stats
        self.stop = stop
        self.inbox: queue.Queue[_Inbound | None] = queue.Queue()
        self.rng = random.SystemRandom()
        self.thread = threading.Thread(target=self._run, name="alerts-worker", daemon=True)
        self._last_sweep = 0.0

    def _run(self) -> None:
        self._sweep()
        while True:
            try:
                item = self.inbox.get(timeout=_SWEEP_EVERY_S)
            except queue.Empty:
                item = None if self.stop.is_set() else _IDLE
            if item is None:
                return
            if item is not _IDLE:
                self._handle(item)
            if time.monotonic() - self._last_sweep >= _SWEEP_EVERY_S:
                self._sweep()

    def _sweep(self) -> None:
        self._last_sweep = time.monotonic()
        opts = self.settings.alerts
        try:
            with self.sessions() as session:
                send_due(
                    session,
                    self.notifier,
                    datetime.now(UTC),
                    backoff_s=opts.retry_backoff_s,
                    max_attempts=opts.max_send_attempts,
                )
        except Exception:
            log.exception("outbox sweep failed")

    def _handle(self, item: _Inbound) -> None:
        self.stats.incr("received")
        finding = self._parse(item)
        if finding is None:
            self.client.ack(item.mid, item.qos)  # poison is counted and logged, never redelivered forever
            return
        outcome = self._record(finding)
        if outcome is None:  # stopping while the database was unavailable: the broker redelivers it
            return
        self.client.ack(item.mid, item.qos)
        self.stats.incr(outcome.action)
        if outcome.action == "unknown_home":
            log.warning("finding %s for unknown home %s: ignored", finding.id, finding.home)
        elif outcome.action != "error":
            log.info(
                "finding %s (%s, %s): %s alert %s",
                finding.id,
                finding.home,
                finding.kind,
                outcome.action,
                outcome.alert_id,
            )
        for oid in outcome.outbox_ids:
            status = self._deliver(oid)
            if status is not None:
                self.stats.incr(f"sms_{status}")

    def _parse(self, item: _Inbound) -> Finding | None:
        parsed = parse_topic(item.topic)
        reason, detail = None, ""
        finding = None
        if parsed is None or parsed[0] is not TopicKind.FINDINGS:
            reason, detail = "topic", "not a findings topic"
        else:
            try:
                finding = parse_finding(item.payload)
            except ContractError as err:
                reason, detail = err.reason, err.detail
            else:
                if finding.home != parsed[1]:
                    reason, detail, finding = "home_mismatch", f"payload home differs from topic home {parsed[1]}", None
        if finding is None:
            self.stats.incr("invalid")
            self.stats.incr(f"invalid_{reason}")
            log.warning(
                "invalid finding on %s (%d bytes): %s: %s", item.topic[:120], len(item.payload), reason, detail[:200]
            )
        return finding

    def _record(self, finding: Finding) -> Outcome | None:
        delay = 0.5
        while True:
            try:
                with self.sessions() as session:
                    return record_finding(
                        session,
                        finding,
                        datetime.now(UTC),
                        provider=self.notifier.provider,
                        rng=self.rng,
                        console_url=self.settings.alerts.console_url,
                    )
            except OperationalError as err:
                # The database is away or locked: wait for it rather than drop an alert or ack what is not stored.
                log.error(
                    "database unavailable for finding %s, retrying in %.1fs: %s",
                    finding.id,
                    delay,
                    type(err.orig).__name__ if err.orig else err,
                )
            except Exception:
                log.exception("finding %s could not be processed; acknowledged so it cannot block the rest", finding.id)
                return Outcome("error")
            if self.stop.wait(delay):
                return None
            delay = min(delay * 2, _DB_RETRY_MAX_S)

    def _deliver(self, outbox_id: int) -> str | None:
        try:
            with self.sessions() as session:
                return deliver(
                    session,
                    outbox_id,
                    self.notifier,
                    lambda: datetime.now(UTC),
                    max_attempts=self.settings.alerts.max_send_attempts,
                )
        except Exception:
            # The row stays pending; the sweep sends it later.
            log.exception("sending outbox row %s failed", outbox_id)
            return None


_IDLE = _Inbound("", b"", 0, 0)


def run_service(
    settings: AlertsSettings,
    stop: threading.Event,
    *,
    notifier: Notifier | None = None,
    stats: ServiceStats | None = None,
) -> None:
    """Run the alerts service until `stop` is set."""
    stats = stats if stats is not None else ServiceStats()
    notifier = notifier if notifier is not None else make_notifier(settings.alerts.twilio)
    engine = make_engine(settings.database.url)
    client = make_client(settings.mqtt, settings.alerts.client_id, manual_ack=True)
    worker = _Worker(settings, client, session_factory(engine), notifier, stats, stop)

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            return
        # Subscribing again on each connect is harmless with a resumed session and needed on a fresh one.
        c.subscribe(FINDINGS_FILTER, qos=1)

    def on_subscribe(c: mqtt.Client, userdata: Any, mid: int, reasons: list[Any], props: Any) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            log.error("subscription to %s refused: %s", FINDINGS_FILTER, failed[0])
            return
        log.info("subscribed to %s (QoS 1, persistent session %s)", FINDINGS_FILTER, settings.alerts.client_id)
        stats.ready.set()

    def on_message(c: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        worker.inbox.put(_Inbound(msg.topic, bytes(msg.payload), msg.mid, msg.qos))

    def on_disconnect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not stop.is_set():
            log.warning("disconnected from broker (%s); reconnecting", reason)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    log.info("alerts: SMS via %s", notifier.provider)
    worker.thread.start()
    try:
        connect_and_wait(client, settings.mqtt, clean_start=False, session_expiry_s=settings.alerts.session_expiry_s)
        stop.wait()
    finally:
        stop.set()
        client.disconnect()
        client.loop_stop()
        worker.inbox.put(None)
        worker.thread.join(timeout=30)
        engine.dispose()
        log.info("alerts stopped: %s", stats.snapshot())
