"""Pure stages of the alert pipeline: dedupe, silences and inhibition, reply codes, retry timing. No I/O here."""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from alerts import escalation
from contracts import FindingKind

# Alert states live in alerts.escalation; the names stay importable from here.
STATE_OPEN = escalation.STATE_OPEN
STATE_NOTIFYING = escalation.STATE_NOTIFYING
STATE_ACKNOWLEDGED = escalation.STATE_ACKNOWLEDGED
STATE_RESOLVED = escalation.STATE_RESOLVED
CLOSED_STATES = escalation.CLOSED_STATES

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

# Inhibition and silences. A panic press is never held back. An offline hub explains silent sensors and flat
# batteries, so it inhibits those; a device alert never inhibits anything that concerns the person.
K = FindingKind
NEVER_SILENCED = frozenset({K.PANIC})
DEVICE_KINDS = frozenset({K.AGENT_OFFLINE, K.SENSOR_SILENT, K.LOW_BATTERY})
INHIBITS: dict[str, frozenset[str]] = {K.AGENT_OFFLINE: frozenset({K.SENSOR_SILENT, K.LOW_BATTERY})}
# What a resident away by arrangement explains: no activity, not up, a door, no one coming home at night.
AWAY_KINDS = frozenset({K.LONG_INACTIVITY, K.MISSED_MORNING, K.NIGHT_EXIT, K.DOOR_LEFT_OPEN})

# No 0/O/Q, 1/I/L, 2/Z, 5/S, 6/G, 8/B: a code read off a small screen and typed on a keypad stays unambiguous.
CODE_ALPHABET = "34679ACDEFHJKMNPRTUVWXY"
CODE_LENGTH = 5


class Action(StrEnum):
    """What a finding does to the alerts of its home."""

    OPEN = "open"
    JOIN = "join"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class ExistingAlert:
    """The unresolved alert of a home and kind, as dedupe needs it."""

    id: int
    state: str
    count: int
    code: str


@dataclass(frozen=True)
class Decision:
    """The dedupe verdict for one finding; `alert_id` is the alert it joins or repeats."""

    action: Action
    alert_id: int | None = None


def dedupe(finding_id: str, unresolved: ExistingAlert | None, seen_finding_ids: Collection[str]) -> Decision:
    """Open a new alert, join the unresolved one of the same home and kind, or drop a redelivered finding."""
    if finding_id in seen_finding_ids:
        return Decision(Action.DUPLICATE, unresolved.id if unresolved else None)
    if unresolved is None:
        return Decision(Action.OPEN)
    return Decision(Action.JOIN, unresolved.id)


def reply_code(rng: random.Random, length: int = CODE_LENGTH) -> str:
    """A short reply code drawn from `rng` (SystemRandom in service, seeded Random in tests)."""
    return "".join(rng.choice(CODE_ALPHABET) for _ in range(length))


def status_after_send(ok: bool, retryable: bool, attempts: int, max_attempts: int, *, local: bool) -> str:
    """The outbox status after an attempt; `attempts` includes the one just made."""
    if ok:
        return OUTBOX_LOCAL if local else OUTBOX_SENT
    if retryable and attempts < max_attempts:
        return OUTBOX_PENDING
    return OUTBOX_FAILED


class SilenceLike(Protocol):
    """What silence_reason reads of a silence (the SQL row fits)."""

    @property
    def category(self) -> str: ...
    @property
    def kinds(self) -> list[str] | None: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime: ...
    @property
    def reason(self) -> str: ...


def silence_reason(kind: str, silences: Iterable[SilenceLike], now: datetime) -> str | None:
    """Why a finding of `kind` is held by one of the silences at `now`, or None; a panic press never is."""
    if kind in NEVER_SILENCED:
        return None
    for s in silences:
        if not (s.starts_at <= now < s.ends_at):
            continue
        if s.kinds:
            if kind not in s.kinds:
                continue
        elif s.category == "away" and kind not in AWAY_KINDS:
            continue
        return f"{s.category}: {s.reason}"[:200]
    return None


def inhibited_by(kind: str, open_kinds: Collection[str]) -> str | None:
    """The open alert kind of the same home that explains a finding of `kind`, or None."""
    for source in sorted(open_kinds):
        if kind in INHIBITS.get(source, frozenset()):
            return source
    return None


def retry_at(now: datetime, attempts: int, backoff_s: Sequence[float]) -> datetime:
    """When a row that just failed its `attempts`-th try is due again (the last delay repeats)."""
    return now + timedelta(seconds=backoff_s[min(max(attempts, 1), len(backoff_s)) - 1])


def rate_limited_until(sent_times: Sequence[datetime], now: datetime, limit: int, window_s: float) -> datetime | None:
    """When one more SMS to a number may go, given its sends in the last window; None when it may go now."""
    window = timedelta(seconds=window_s)
    recent = sorted(t for t in sent_times if now - window < t <= now)
    if len(recent) < limit:
        return None
    return recent[len(recent) - limit] + window
