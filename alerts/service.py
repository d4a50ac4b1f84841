"""The alerts service: findings from MQTT -> alerts and timeline in SQL -> SMS through the outbox."""

from __future__ import annotations

import logging
import os
import queue
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from alerts import escalation, pipeline, store, templates
from alerts.config import AlertsSettings
from alerts.notifier import Notifier, SendResult, make_notifier
from alerts.redact import mask_phone
from alerts.store import LinkMaker
from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Alert, AlertFinding, Home, Responder, Silence, SmsOutbox
from anxin.mqtt import connect_and_wait, make_client
from contracts.messages import ContractError, Feedback, Finding, dump, parse_finding
from contracts.topics import FINDINGS_FILTER, TopicKind, feedback_topic, parse_topic
from contracts.vocabulary import SEVERITY_ORDER

log = logging.getLogger(__name__)

ACTOR = "alerts"
_CODE_TRIES = 20
_DB_RETRY_MAX_S = 30.0
_INHIBIT_RECHECK = timedelta(minutes=10)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Twilio statuses of a message that will never reach the phone.
UNDELIVERED = pipeline.UNDELIVERED


@dataclass
class ServiceStats:
    """Counters of what the service did, and `ready` once its subscription is granted."""

    ready: threading.Event = field(default_factory=threading.Event)
    # For /healthz: the MQTT session is up now; when the last finding was handled (time.monotonic()).
    connected: threading.Event = field(default_factory=threading.Event)
    last_finding_at: float | None = None
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
    return store.tz_of(name)


def _finding_detail(finding: Finding) -> dict[str, Any]:
    return {
        "finding": finding.id,
        "detector": finding.detector,
        "severity": finding.severity.value,
        "ts": finding.ts.isoformat(),
        "since": finding.since.isoformat(),
        "evidence": dict(finding.evidence),
    }


def _new_code(session: Session, rng: random.Random) -> str:
    for _ in range(_CODE_TRIES):
        code = pipeline.reply_code(rng)
        taken = session.scalar(
            select(Alert.id).where(Alert.code == code, Alert.state.not_in(escalation.CLOSED_STATES)).limit(1)
        )
        if taken is None:
            return code
    raise RuntimeError("no free reply code after several tries")


def _suppression(session: Session, home: Home, kind: str, now: datetime) -> tuple[str | None, datetime | None]:
    """Why a new alert of `kind` is held (silence, maintenance, inhibition) and until when to look again."""
    silences: list[pipeline.SilenceLike] = list(
        session.scalars(select(Silence).where(Silence.home_id == home.id, Silence.ends_at > now))
    )
    if home.maintenance_until is not None and home.maintenance_until > now:
        silences.append(_Maintenance(home.maintenance_until))
    why = pipeline.silence_reason(kind, silences, now)
    if why is not None:
        ends = [s.ends_at for s in silences if pipeline.silence_reason(kind, [s], now) is not None]
        return why, min(ends)
    open_kinds = set(
        session.scalars(
            select(Alert.kind).where(Alert.home_id == home.id, Alert.state.not_in(escalation.CLOSED_STATES))
        )
    )
    source = pipeline.inhibited_by(kind, open_kinds)
    if source is not None:
        return f"inhibited by {source}", now + _INHIBIT_RECHECK
    return None, None


@dataclass(frozen=True)
class _Maintenance:
    ends_at: datetime
    category: str = "maintenance"
    kinds: list[str] | None = None
    starts_at: datetime = _EPOCH
    reason: str = "home in maintenance"


def run_ladder(session: Session, alert: Alert, home: Home, now: datetime, links: LinkMaker | None) -> list[SmsOutbox]:
    """Apply every escalation step due at `now` to one alert; returns the outbox rows queued."""
    if alert.state == escalation.STATE_SILENCED:
        return _recheck_silenced(session, alert, home, now, links)
    pol = store.severity_policy(alert)
    s = store.ladder_of(alert)
    rows: list[SmsOutbox] = []
    empty = 0
    for _ in range(16):
        s, eff = escalation.advance(s, pol, now)
        if eff is None:
            break
        store.save_ladder(alert, s, now)
        if isinstance(eff, escalation.Page):
            paged = store.page_step(session, alert, home, eff.step, eff.round, now, links)
            rows += paged
            if not paged:
                empty += 1
                # Nobody to page here: try the next step now, but never wrap into a new round without the wait.
                if empty < len(pol.steps) and eff.step < len(pol.steps):
                    s = escalation.skip_empty_step(s, now)
        elif isinstance(eff, escalation.Remind):
            rows += _remind(session, alert, home, eff.number, now)
        elif isinstance(eff, escalation.Reescalate):
            store.event(session, alert.id, now, ACTOR, "reescalated", {"round": eff.round, "was": alert.ack_actor})
            alert.ack_actor, alert.acknowledged_by = None, None
        else:
            store.event(session, alert.id, now, ACTOR, "expired", {"after_s": pol.expire_after_s})
    store.save_ladder(alert, s, now)
    session.flush()
    return rows


def _remind(session: Session, alert: Alert, home: Home, number: int, now: datetime) -> list[SmsOutbox]:
    detail: dict[str, Any] = {"number": number, "to": alert.ack_actor}
    rows: list[SmsOutbox] = []
    r = session.get(Responder, alert.acknowledged_by) if alert.acknowledged_by is not None else None
    if r is not None and not r.opted_out:
        body = templates.follow_up("reminder", r.lang, **store.alert_text_fields(alert, home))
        row = store.queue_sms(
            session,
            key=f"alert:{alert.id}:r{alert.round}:reminder{number}:responder:{r.id}",
            to=r.phone,
            lang=r.lang,
            body=body,
            now=now,
            purpose=store.PURPOSE_REMINDER,
            alert_id=alert.id,
            responder_id=r.id,
        )
        if row is not None:
            session.flush()
            rows.append(row)
            detail["outbox"] = row.id
    store.event(session, alert.id, now, ACTOR, "reminded", detail)
    return rows


def _recheck_silenced(
    session: Session, alert: Alert, home: Home, now: datetime, links: LinkMaker | None
) -> list[SmsOutbox]:
    if alert.next_action_at is None or alert.next_action_at > now:
        return []
    why, until = _suppression(session, home, alert.kind, now)
    if why is not None:
        alert.next_action_at = until
        return []
    # The silence is over and nothing new came in while it held: the alert ends with it; a new finding opens anew.
    alert.state, alert.next_action_at, alert.updated_at = escalation.STATE_EXPIRED, None, now
    store.event(session, alert.id, now, ACTOR, "silence_ended", {"reason": alert.silenced_reason})
    return []


def record_finding(
    session: Session,
    finding: Finding,
    now: datetime,
    *,
    rng: random.Random | None = None,
    links: LinkMaker | None = None,
) -> Outcome:
    """Apply one finding (dedupe, silence and inhibit, route, page step 1) in one committed transaction."""
    home = session.get(Home, finding.home)
    if home is None:
        session.rollback()
        return Outcome("unknown_home")
    if session.scalar(select(AlertFinding.alert_id).where(AlertFinding.finding_id == finding.id)) is not None:
        session.rollback()
        return Outcome("duplicate")
    active = session.scalars(
        select(Alert)
        .where(Alert.home_id == home.id, Alert.kind == finding.kind, Alert.state.in_(escalation.ACTIVE_STATES))
        .order_by(Alert.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    try:
        if active is not None:
            rows = _join(session, active, home, finding, now, links)
            session.commit()
            return Outcome("joined", active.id, tuple(r.id for r in rows))
        alert, rows = _open_alert(session, finding, home, now, rng=rng or random.SystemRandom(), links=links)
        session.commit()
    except IntegrityError:
        # Another instance recorded this finding first (finding ids are unique): it is already handled.
        session.rollback()
        return Outcome("duplicate")
    return Outcome("opened", alert.id, tuple(r.id for r in rows))


def _join(
    session: Session, alert: Alert, home: Home, finding: Finding, now: datetime, links: LinkMaker | None
) -> list[SmsOutbox]:
    session.add(AlertFinding(alert_id=alert.id, finding_id=finding.id, at=now))
    session.flush()
    alert.count += 1
    alert.updated_at = now
    alert.since = min(alert.since, finding.since)
    alert.evidence = dict(finding.evidence)
    if SEVERITY_ORDER[finding.severity.value] < SEVERITY_ORDER.get(alert.severity, len(SEVERITY_ORDER)):
        alert.severity = finding.severity.value
    store.event(session, alert.id, now, ACTOR, "joined", {**_finding_detail(finding), "count": alert.count})
    if alert.state == escalation.STATE_SILENCED and _suppression(session, home, alert.kind, now)[0] is None:
        alert.state, alert.next_action_at, alert.silenced_reason = escalation.STATE_OPEN, now, None
        alert.step, alert.round = 0, 1
        store.event(session, alert.id, now, ACTOR, "unsilenced", {"finding": finding.id})
        return run_ladder(session, alert, home, now, links)
    return []


def _open_alert(
    session: Session, finding: Finding, home: Home, now: datetime, *, rng: random.Random, links: LinkMaker | None
) -> tuple[Alert, list[SmsOutbox]]:
    policy = store.policy_for(session, home)
    why, until = _suppression(session, home, finding.kind, now)
    ladder = escalation.opened(now)
    alert = Alert(
        home_id=home.id,
        kind=finding.kind,
        severity=finding.severity.value,
        state=escalation.STATE_SILENCED if why else escalation.STATE_OPEN,
        code=_new_code(session, rng),
        opened_at=now,
        updated_at=now,
        since=finding.since,
        count=1,
        first_finding_id=finding.id,
        evidence=dict(finding.evidence),
        policy=policy,
        step=0,
        round=1,
        next_action_at=until if why else ladder.next_at,
        reminders_sent=0,
        silenced_reason=why,
    )
    session.add(alert)
    session.flush()
    session.add(AlertFinding(alert_id=alert.id, finding_id=finding.id, at=now))
    store.event(session, alert.id, now, ACTOR, "opened", _finding_detail(finding))
    if why:
        store.event(
            session, alert.id, now, ACTOR, "silenced", {"reason": why, "until": until.isoformat() if until else None}
        )
        log.info("alert %s (%s, %s) held: %s", alert.id, home.id, alert.kind, why)
        return alert, []
    return alert, run_ladder(session, alert, home, now, links)


def escalate_due(session: Session, now: datetime, links: LinkMaker | None = None, limit: int = 200) -> list[int]:
    """Run the ladder of every alert with an action due at `now`, one transaction each; returns queued outbox ids."""
    ids = session.scalars(
        select(Alert.id)
        .where(Alert.next_action_at <= now, Alert.state.in_(escalation.ACTIVE_STATES))
        .order_by(Alert.next_action_at)
        .limit(limit)
    ).all()
    session.rollback()
    queued: list[int] = []
    for alert_id in ids:
        alert = session.scalars(select(Alert).where(Alert.id == alert_id).with_for_update()).first()
        home = session.get(Home, alert.home_id) if alert is not None else None
        if alert is None or home is None or alert.next_action_at is None or alert.next_action_at > now:
            session.rollback()
            continue
        rows = run_ladder(session, alert, home, now, links)
        queued += [r.id for r in rows]
        session.commit()
    return queued


def claim(session: Session, outbox_id: int, worker: str, now: datetime, lease_s: float) -> bool:
    """Take a pending row for sending (compare-and-set, committed before the send); False when someone else has it."""
    result = session.execute(
        update(SmsOutbox)
        .where(SmsOutbox.id == outbox_id, SmsOutbox.status == pipeline.OUTBOX_PENDING)
        .values(
            status=pipeline.OUTBOX_SENDING,
            claimed_by=worker[:64],
            claimed_until=now + timedelta(seconds=lease_s),
            attempts=SmsOutbox.attempts + 1,
        )
    )
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0) == 1


def deliver(
    session: Session,
    outbox_id: int,
    notifier: Notifier,
    now: datetime,
    *,
    max_attempts: int = 6,
    backoff_s: Sequence[float] = (5.0,),
    worker: str = ACTOR,
    lease_s: float = 60.0,
    links: LinkMaker | None = None,
) -> str | None:
    """Claim and send one pending outbox row and record the result; returns its new status (None: not ours)."""
    if not claim(session, outbox_id, worker, now, lease_s):
        session.rollback()
        return None
    row = session.get(SmsOutbox, outbox_id)
    if row is None:
        return None
    to, body, key = row.to_number, row.body, row.key
    session.commit()  # no transaction stays open while the provider answers
    try:
        result = notifier.send(to, body, key)
    except Exception as err:
        # A notifier bug must still count as an attempt, or the sweep would retry the row forever.
        log.exception("notifier %s raised on %s", notifier.provider, key)
        result = SendResult(ok=False, retryable=True, error=f"{type(err).__name__} in notifier")
    return _finish(session, outbox_id, notifier.provider, result, now, max_attempts, backoff_s, links)


def _finish(
    session: Session,
    outbox_id: int,
    provider: str,
    result: SendResult,
    now: datetime,
    max_attempts: int,
    backoff_s: Sequence[float],
    links: LinkMaker | None,
) -> str | None:
    row = session.get(SmsOutbox, outbox_id, populate_existing=True)
    if row is None:
        return None
    row.provider = provider
    row.status = pipeline.status_after_send(
        result.ok, result.retryable, row.attempts, max_attempts, local=provider == "local"
    )
    row.provider_sid = result.provider_sid
    row.error = result.error
    row.claimed_by, row.claimed_until = None, None
    if result.ok:
        row.sent_at = now
    elif row.status == pipeline.OUTBOX_PENDING:
        row.next_attempt_at = pipeline.retry_at(now, row.attempts, backoff_s)
    if row.alert_id is not None:
        detail: dict[str, Any] = {
            "outbox": row.id,
            "responder": row.responder_id,
            "purpose": row.purpose,
            "provider": provider,
            "attempt": row.attempts,
        }
        if result.ok:
            store.event(session, row.alert_id, now, ACTOR, "sms_sent", {**detail, "sid": result.provider_sid})
        else:
            retrying = row.status == pipeline.OUTBOX_PENDING
            store.event(
                session, row.alert_id, now, ACTOR, "sms_failed", {**detail, "error": result.error, "retrying": retrying}
            )
            if not retrying and row.purpose == store.PURPOSE_PAGE:
                _move_on(session, row, now, links)
    status = row.status
    session.commit()
    if result.ok:
        log.info("sms %s to %s: %s (%s)", row.key, mask_phone(row.to_number), status, provider)
    else:
        log.warning(
            "sms %s to %s: %s after attempt %d: %s",
            row.key,
            mask_phone(row.to_number),
            status,
            row.attempts,
            result.error,
        )
    return status


def _move_on(session: Session, row: SmsOutbox, now: datetime, links: LinkMaker | None) -> None:
    """A page that can never arrive: try the next person of the step at once."""
    alert = session.scalars(select(Alert).where(Alert.id == row.alert_id).with_for_update()).first()
    home = session.get(Home, alert.home_id) if alert is not None else None
    if alert is None or home is None:
        return
    store.page_next_in_line(session, alert, home, row.responder_id, now, links)
    if alert.next_action_at is not None and alert.next_action_at <= now:
        run_ladder(session, alert, home, now, links)


def recover_expired_claims(session: Session, notifier: Notifier, now: datetime) -> int:
    """Rows left "sending" by a crashed sender: mark sent if the provider has them, else make them pending again."""
    rows = session.scalars(
        select(SmsOutbox).where(SmsOutbox.status == pipeline.OUTBOX_SENDING, SmsOutbox.claimed_until < now).limit(100)
    ).all()
    fixed = 0
    for row in rows:
        try:
            sid = notifier.find_sent(row.to_number, row.body, row.created_at)
        except LookupError as err:
            log.warning("cannot tell whether sms %s went out (%s); asking again later", row.key, err)
            continue
        row.claimed_by, row.claimed_until = None, None
        if sid is not None:
            row.status, row.provider, row.provider_sid, row.sent_at = pipeline.OUTBOX_SENT, notifier.provider, sid, now
            if row.alert_id is not None:
                store.event(
                    session, row.alert_id, now, ACTOR, "sms_sent", {"outbox": row.id, "sid": sid, "recovered": True}
                )
            log.info("sms %s was sent before a crash; not sending it again", row.key)
        else:
            row.status, row.next_attempt_at = pipeline.OUTBOX_PENDING, now
            log.info("sms %s never reached the provider before a crash; sending it again", row.key)
        fixed += 1
    session.commit()
    return fixed


def send_due(
    session: Session,
    notifier: Notifier,
    now: datetime,
    *,
    backoff_s: Sequence[float],
    max_attempts: int,
    limit: int = 100,
    worker: str = ACTOR,
    lease_s: float = 60.0,
    links: LinkMaker | None = None,
    rate_per_number: int = 5,
    rate_window_s: float = 60.0,
) -> int:
    """Send pending outbox rows that are due (new, retries, left by a crash), within per-number rate limits."""
    recover_expired_claims(session, notifier, now)
    rows = session.execute(
        select(SmsOutbox.id, SmsOutbox.to_number)
        .where(SmsOutbox.status == pipeline.OUTBOX_PENDING, SmsOutbox.next_attempt_at <= now)
        .order_by(SmsOutbox.next_attempt_at, SmsOutbox.id)
        .limit(limit)
    ).all()
    window_start = now - timedelta(seconds=rate_window_s)
    sent = 0
    for oid, to in rows:
        recent = session.scalars(
            select(SmsOutbox.sent_at).where(
                SmsOutbox.to_number == to, SmsOutbox.sent_at.is_not(None), SmsOutbox.sent_at > window_start
            )
        ).all()
        wait_until = pipeline.rate_limited_until(
            [t for t in recent if t is not None], now, rate_per_number, rate_window_s
        )
        if wait_until is not None:
            session.execute(update(SmsOutbox).where(SmsOutbox.id == oid).values(next_attempt_at=wait_until))
            session.commit()
            log.info("sms %s to %s held by the per-number rate limit", oid, mask_phone(to))
            continue
        session.rollback()
        if deliver(
            session,
            oid,
            notifier,
            now,
            max_attempts=max_attempts,
            backoff_s=backoff_s,
            worker=worker,
            lease_s=lease_s,
            links=links,
        ):
            sent += 1
    return sent


def process_finding(
    session: Session,
    finding: Finding,
    now: datetime,
    notifier: Notifier,
    *,
    rng: random.Random | None = None,
    links: LinkMaker | None = None,
    max_attempts: int = 6,
    backoff_s: Sequence[float] = (5.0, 30.0, 120.0),
) -> Outcome:
    """Record a finding and send the SMS it queued, each step committed; what the service does per message."""
    outcome = record_finding(session, finding, now, rng=rng, links=links)
    for oid in outcome.outbox_ids:
        deliver(session, oid, notifier, now, max_attempts=max_attempts, backoff_s=backoff_s, links=links)
    return outcome


def tick(
    session: Session,
    notifier: Notifier,
    now: datetime,
    *,
    backoff_s: Sequence[float] = (5.0, 30.0, 120.0, 300.0, 600.0),
    max_attempts: int = 6,
    links: LinkMaker | None = None,
    rate_per_number: int = 5,
    rate_window_s: float = 60.0,
) -> int:
    """One pass of the service's clock at `now`: escalate what is due, then send what is due; returns SMS sent."""
    escalate_due(session, now, links)
    return send_due(
        session,
        notifier,
        now,
        backoff_s=backoff_s,
        max_attempts=max_attempts,
        links=links,
        rate_per_number=rate_per_number,
        rate_window_s=rate_window_s,
    )


def record_status(
    session: Session, sid: str, status: str, error_code: str | None, now: datetime, links: LinkMaker | None = None
) -> bool:
    """Apply a Twilio status callback; an undelivered page moves on to the next person. False: unknown sid."""
    row = session.scalars(select(SmsOutbox).where(SmsOutbox.provider_sid == sid)).first()
    if row is None:
        session.rollback()
        return False
    before = row.delivery_status
    row.delivery_status = status[:16]
    row.delivery_error = error_code[:16] if error_code else None
    if row.alert_id is not None and status != before:
        store.event(
            session,
            row.alert_id,
            now,
            ACTOR,
            "sms_status",
            {"outbox": row.id, "status": status, "error_code": error_code},
        )
        if status in UNDELIVERED and row.purpose == store.PURPOSE_PAGE and before not in UNDELIVERED:
            _move_on(session, row, now, links)
    session.commit()
    return True


def pending_feedback(session: Session, limit: int = 50) -> list[Feedback]:
    """Verdicts on resolved alerts that anomaly has not been told yet."""
    alerts = session.scalars(
        select(Alert)
        .where(Alert.state == escalation.STATE_RESOLVED, Alert.outcome.is_not(None), Alert.feedback_sent_at.is_(None))
        .order_by(Alert.id)
        .limit(limit)
    ).all()
    out = []
    for a in alerts:
        fids = session.scalars(
            select(AlertFinding.finding_id).where(AlertFinding.alert_id == a.id).order_by(AlertFinding.id).limit(64)
        ).all()
        try:
            out.append(
                Feedback(
                    home=a.home_id,
                    alert_id=a.id,
                    kind=a.kind,
                    finding_ids=list(fids) or [a.first_finding_id],
                    since=a.since,
                    outcome=a.outcome,  # type: ignore[arg-type]
                    ts=a.resolved_at or a.updated_at,
                )
            )
        except ValueError as err:
            log.error("alert %s: feedback not publishable: %s", a.id, err)
            a.feedback_sent_at = a.updated_at  # kept on the alert; never retried forever
    session.commit()
    return out


def mark_feedback_sent(session: Session, alert_id: int, now: datetime) -> None:
    """Remember that anomaly has been told an alert's verdict."""
    session.execute(update(Alert).where(Alert.id == alert_id).values(feedback_sent_at=now))
    session.commit()


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
        links: LinkMaker | None,
    ) -> None:
        self.settings = settings
        self.links = links
        self.worker_id = f"{settings.alerts.client_id}-{random.SystemRandom().getrandbits(32):08x}"
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
            every = self.settings.alerts.sweep_every_s
            try:
                item = self.inbox.get(timeout=every)
            except queue.Empty:
                item = None if self.stop.is_set() else _IDLE
            if item is None:
                return
            if item is _WAKE:
                self._sweep()
            elif item is not _IDLE:
                self._handle(item)
            if time.monotonic() - self._last_sweep >= every:
                self._sweep()

    def wake(self) -> None:
        """Sweep soon: the web app queued SMS (a reply's "X took it") that should not wait for the next tick."""
        self.inbox.put(_WAKE)

    def _sweep(self) -> None:
        self._last_sweep = time.monotonic()
        opts = self.settings.alerts
        try:
            with self.sessions() as session:
                now = datetime.now(UTC)
                escalate_due(session, now, self.links)
                sent = send_due(
                    session,
                    self.notifier,
                    now,
                    backoff_s=opts.retry_backoff_s,
                    max_attempts=opts.max_send_attempts,
                    worker=self.worker_id,
                    lease_s=opts.send_lease_s,
                    links=self.links,
                    rate_per_number=opts.rate_per_number,
                    rate_window_s=opts.rate_window_s,
                )
                if sent:
                    self.stats.incr("sms_swept", sent)
                self._publish_feedback(session)
        except Exception:
            log.exception("sweep failed")

    def _publish_feedback(self, session: Session) -> None:
        for fb in pending_feedback(session):
            info = self.client.publish(feedback_topic(fb.home), dump(fb), qos=1)
            try:
                info.wait_for_publish(5)
            except (RuntimeError, ValueError) as err:
                log.warning("feedback for alert %s not published yet: %s", fb.alert_id, err)
                return
            if not info.is_published():
                log.warning("feedback for alert %s not acknowledged by the broker yet", fb.alert_id)
                return
            mark_feedback_sent(session, fb.alert_id, datetime.now(UTC))
            self.stats.incr("feedback_published")
            log.info("feedback for alert %s (%s): %s", fb.alert_id, fb.home, fb.outcome)

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
        self.stats.last_finding_at = time.monotonic()
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
                    return record_finding(session, finding, datetime.now(UTC), rng=self.rng, links=self.links)
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
                opts = self.settings.alerts
                return deliver(
                    session,
                    outbox_id,
                    self.notifier,
                    datetime.now(UTC),
                    max_attempts=opts.max_send_attempts,
                    backoff_s=opts.retry_backoff_s,
                    worker=self.worker_id,
                    lease_s=opts.send_lease_s,
                    links=self.links,
                )
        except Exception:
            # The row stays pending; the sweep sends it later.
            log.exception("sending outbox row %s failed", outbox_id)
            return None


_IDLE = _Inbound("", b"", 0, 0)
_WAKE = _Inbound("", b"", -1, 0)


def link_secret(settings: AlertsSettings) -> bytes:
    """The key that signs mobile-page links: configured, or a random one kept in the state folder (0600)."""
    configured = settings.alerts.link_secret
    if configured is not None:
        return configured.get_secret_value().encode()
    path = settings.state_dir / "alerts-link.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def link_maker(settings: AlertsSettings) -> LinkMaker | None:
    """Signed links to the mobile page, when the alerts HTTP server runs."""
    opts = settings.alerts
    if not opts.http_port and not opts.public_url:
        return None
    return LinkMaker(opts.base_url(), link_secret(settings), timedelta(seconds=opts.link_ttl_s))


def run_service(
    settings: AlertsSettings,
    stop: threading.Event,
    *,
    notifier: Notifier | None = None,
    stats: ServiceStats | None = None,
) -> None:
    """Run the alerts service until `stop` is set."""
    stats = stats if stats is not None else ServiceStats()
    opts = settings.alerts
    web_on = opts.http_port != 0
    callback = f"{opts.base_url()}/twilio/status" if web_on else None
    notifier = notifier if notifier is not None else make_notifier(opts.twilio, callback)
    engine = make_engine(settings.database.url)
    sessions = session_factory(engine)
    client = make_client(settings.mqtt, opts.client_id, manual_ack=True)
    links = link_maker(settings)
    worker = _Worker(settings, client, sessions, notifier, stats, stop, links)
    web = None
    if web_on:
        from alerts.web.app import WebServer, create_app

        web = WebServer(
            create_app(settings, sessions, links=links, wake=worker.wake, stats=stats), opts.http_host, opts.http_port
        )

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            return
        stats.connected.set()
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
        stats.connected.clear()
        if not stop.is_set():
            log.warning("disconnected from broker (%s); reconnecting", reason)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    log.info("alerts: SMS via %s", notifier.provider)
    worker.thread.start()
    if web is not None:
        web.start()
    try:
        connect_and_wait(client, settings.mqtt, clean_start=False, session_expiry_s=settings.alerts.session_expiry_s)
        stop.wait()
    finally:
        stop.set()
        if web is not None:
            web.stop()
        client.disconnect()
        client.loop_stop()
        worker.inbox.put(None)
        worker.thread.join(timeout=30)
        engine.dispose()
        log.info("alerts stopped: %s", stats.snapshot())
