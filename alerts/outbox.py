"""The SMS outbox (`sms_outbox`): rows written in the deciding transaction, then claimed with a lease and sent.

A sender claims a pending row with a compare-and-set to `sending` plus a lease, committed before the request; the
result is recorded after. A row left `sending` past its lease (a crashed sender) is checked with the provider, never
blindly sent twice. What a page that can never arrive means for its alert is not the outbox's business: the caller
passes `on_dead_page` (the track stage moves on to the next person).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerts import templates
from alerts.notifier import Notifier, SendResult
from alerts.redact import mask_phone
from alerts.retry import SendPolicy, retry_at
from alerts.timeline import SYSTEM_ACTOR, event
from anxin.db.models import SmsOutbox

log = logging.getLogger(__name__)

# Outbox statuses: pending (to send when next_attempt_at has passed), sending (claimed by a sender until
# claimed_until: a lease, so a crash mid-send is found and checked, never blindly sent again), sent (the provider
# accepted it), local (kept in the local outbox, no provider configured), failed (permanent error or out of
# attempts), cancelled (no longer needed: the alert was taken or closed before it went out).
OUTBOX_PENDING = "pending"
OUTBOX_SENDING = "sending"
OUTBOX_SENT = "sent"
OUTBOX_LOCAL = "local"
OUTBOX_FAILED = "failed"
OUTBOX_CANCELLED = "cancelled"
# Delivery statuses Twilio reports in a status callback (MessageStatus), kept as an outbox row's delivery_status and
# shown on the console; undelivered and failed mean the person did not get the SMS.
DELIVERY_STATUSES = (
    "accepted",
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "read",
    "canceled",
    "receiving",
    "received",
    "partially_delivered",
)
UNDELIVERED = ("undelivered", "failed")
PROVIDER_UNSENT = "-"

# Why a row was written.
PURPOSE_PAGE = "page"
PURPOSE_TAKEN = "taken"
PURPOSE_CLOSED = "closed"
PURPOSE_REMINDER = "reminder"
PURPOSE_REPLY = "reply"
PURPOSE_FAMILY = "family"  # a next-of-kin SMS (alerts/family.py): never a page, never moves the ladder

_DEFAULT = SendPolicy()


class DeadPage(Protocol):
    """Told, inside the transaction that records it, that a page can never reach its responder."""

    def __call__(self, session: Session, row: SmsOutbox, now: datetime) -> None:
        """Page someone else for the row's alert."""
        ...


def status_after_send(ok: bool, retryable: bool, attempts: int, max_attempts: int, *, local: bool) -> str:
    """The outbox status after an attempt; `attempts` includes the one just made."""
    if ok:
        return OUTBOX_LOCAL if local else OUTBOX_SENT
    if retryable and attempts < max_attempts:
        return OUTBOX_PENDING
    return OUTBOX_FAILED


def rate_limited_until(sent_times: Sequence[datetime], now: datetime, limit: int, window_s: float) -> datetime | None:
    """When one more SMS to a number may go, given its sends in the last window; None when it may go now."""
    window = timedelta(seconds=window_s)
    recent = sorted(t for t in sent_times if now - window < t <= now)
    if len(recent) < limit:
        return None
    return recent[len(recent) - limit] + window


def queue_sms(
    session: Session,
    *,
    key: str,
    to: str,
    lang: str,
    body: str,
    now: datetime,
    purpose: str,
    alert_id: int | None,
    responder_id: int | None,
    step: int | None = None,
) -> SmsOutbox | None:
    """Write a pending outbox row, unless one with the same key exists (then None): the send is idempotent."""
    if session.scalar(select(SmsOutbox.id).where(SmsOutbox.key == key)) is not None:
        return None
    row = SmsOutbox(
        key=key,
        alert_id=alert_id,
        responder_id=responder_id,
        to_number=to,
        body=body,
        lang=templates.lang_of(lang),
        status=OUTBOX_PENDING,
        provider=PROVIDER_UNSENT,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        purpose=purpose,
        step=step,
    )
    session.add(row)
    return row


def claim(session: Session, outbox_id: int, worker: str, now: datetime, lease_s: float) -> bool:
    """Take a pending row for sending (compare-and-set, committed before the send); False when someone else has it."""
    result = session.execute(
        update(SmsOutbox)
        .where(SmsOutbox.id == outbox_id, SmsOutbox.status == OUTBOX_PENDING)
        .values(
            status=OUTBOX_SENDING,
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
    policy: SendPolicy = _DEFAULT,
    on_dead_page: DeadPage | None = None,
) -> str | None:
    """Claim and send one pending outbox row and record the result; returns its new status (None: not ours)."""
    if not claim(session, outbox_id, policy.worker, now, policy.lease_s):
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
    return _finish(session, outbox_id, notifier.provider, result, now, policy, on_dead_page)


def _finish(
    session: Session,
    outbox_id: int,
    provider: str,
    result: SendResult,
    now: datetime,
    policy: SendPolicy,
    on_dead_page: DeadPage | None,
) -> str | None:
    row = session.get(SmsOutbox, outbox_id, populate_existing=True)
    if row is None:
        return None
    row.provider = provider
    row.status = status_after_send(
        result.ok, result.retryable, row.attempts, policy.max_attempts, local=provider == "local"
    )
    row.provider_sid = result.provider_sid
    row.error = result.error
    row.claimed_by, row.claimed_until = None, None
    if result.ok:
        row.sent_at = now
    elif row.status == OUTBOX_PENDING:
        row.next_attempt_at = retry_at(now, row.attempts, policy.backoff_s)
    if row.alert_id is not None:
        _record_attempt(session, row, provider, result, now, on_dead_page)
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


def _record_attempt(
    session: Session, row: SmsOutbox, provider: str, result: SendResult, now: datetime, on_dead_page: DeadPage | None
) -> None:
    """The attempt on the alert's timeline; a page that failed for good goes to `on_dead_page`."""
    assert row.alert_id is not None
    detail: dict[str, Any] = {
        "outbox": row.id,
        "responder": row.responder_id,
        "purpose": row.purpose,
        "provider": provider,
        "attempt": row.attempts,
    }
    if result.ok:
        event(session, row.alert_id, now, SYSTEM_ACTOR, "sms_sent", {**detail, "sid": result.provider_sid})
        return
    retrying = row.status == OUTBOX_PENDING
    event(
        session, row.alert_id, now, SYSTEM_ACTOR, "sms_failed", {**detail, "error": result.error, "retrying": retrying}
    )
    if not retrying and row.purpose == PURPOSE_PAGE and on_dead_page is not None:
        on_dead_page(session, row, now)


def recover_expired_claims(session: Session, notifier: Notifier, now: datetime) -> int:
    """Rows left "sending" by a crashed sender: mark sent if the provider has them, else make them pending again."""
    rows = session.scalars(
        select(SmsOutbox).where(SmsOutbox.status == OUTBOX_SENDING, SmsOutbox.claimed_until < now).limit(100)
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
            row.status, row.provider, row.provider_sid, row.sent_at = OUTBOX_SENT, notifier.provider, sid, now
            if row.alert_id is not None:
                event(
                    session,
                    row.alert_id,
                    now,
                    SYSTEM_ACTOR,
                    "sms_sent",
                    {"outbox": row.id, "sid": sid, "recovered": True},
                )
            log.info("sms %s was sent before a crash; not sending it again", row.key)
        else:
            row.status, row.next_attempt_at = OUTBOX_PENDING, now
            log.info("sms %s never reached the provider before a crash; sending it again", row.key)
        fixed += 1
    session.commit()
    return fixed


def send_due(
    session: Session,
    notifier: Notifier,
    now: datetime,
    policy: SendPolicy = _DEFAULT,
    on_dead_page: DeadPage | None = None,
    limit: int = 100,
) -> int:
    """Send pending outbox rows that are due (new, retries, left by a crash), within per-number rate limits."""
    recover_expired_claims(session, notifier, now)
    rows = session.execute(
        select(SmsOutbox.id, SmsOutbox.to_number)
        .where(SmsOutbox.status == OUTBOX_PENDING, SmsOutbox.next_attempt_at <= now)
        .order_by(SmsOutbox.next_attempt_at, SmsOutbox.id)
        .limit(limit)
    ).all()
    sent = 0
    for oid, to in rows:
        # Checked per row, after the sends before it: they count towards the number's limit.
        wait_until = _rate_limit(session, to, now, policy.rate_per_number, policy.rate_window_s)
        if wait_until is not None:
            session.execute(update(SmsOutbox).where(SmsOutbox.id == oid).values(next_attempt_at=wait_until))
            session.commit()
            log.info("sms %s to %s held by the per-number rate limit", oid, mask_phone(to))
            continue
        session.rollback()
        if deliver(session, oid, notifier, now, policy, on_dead_page):
            sent += 1
    return sent


def _rate_limit(session: Session, to: str, now: datetime, limit: int, window_s: float) -> datetime | None:
    """When one more SMS to `to` may go, from its sends in the window; None when it may go now."""
    window_start = now - timedelta(seconds=window_s)
    recent = session.scalars(
        select(SmsOutbox.sent_at).where(
            SmsOutbox.to_number == to, SmsOutbox.sent_at.is_not(None), SmsOutbox.sent_at > window_start
        )
    ).all()
    return rate_limited_until([t for t in recent if t is not None], now, limit, window_s)


def record_status(
    session: Session, sid: str, status: str, error_code: str | None, now: datetime, on_dead_page: DeadPage | None
) -> bool:
    """Apply a Twilio status callback; an undelivered page goes to `on_dead_page`. False: unknown sid."""
    row = session.scalars(select(SmsOutbox).where(SmsOutbox.provider_sid == sid)).first()
    if row is None:
        session.rollback()
        return False
    before = row.delivery_status
    row.delivery_status = status[:32]
    row.delivery_error = error_code[:16] if error_code else None
    if row.alert_id is not None and status != before:
        event(
            session,
            row.alert_id,
            now,
            SYSTEM_ACTOR,
            "sms_status",
            {"outbox": row.id, "status": status, "error_code": error_code},
        )
        dead = status in UNDELIVERED and row.purpose == PURPOSE_PAGE and before not in UNDELIVERED
        if dead and on_dead_page is not None:
            on_dead_page(session, row, now)
    session.commit()
    return True
