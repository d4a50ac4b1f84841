"""What people do to alerts: acknowledge, resolve, note, silence. Run inside the caller's transaction (flush only).

The console calls these for operators; the SMS webhook and the mobile page call them for responders. Each writes
its timeline entries and queues any SMS it causes ("X took it") as pending outbox rows that the alerts service sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import escalation, family, notify, responders, track
from alerts.escalation import CLOSED_STATES, OUTCOMES, STATE_ACKNOWLEDGED, STATE_RESOLVED
from alerts.inhibit import silence_reason
from alerts.route import severity_policy
from alerts.timeline import event, taker_name
from anxin.db.models import Alert, AlertEvent, Home, Responder, Silence
from contracts.vocabulary import TimelineAction

SILENCE_CATEGORIES = ("maintenance", "away")
MAX_NOTE = 2000
RATING_MIN, RATING_MAX = 1, 5


@dataclass(frozen=True)
class Actor:
    """Who acts: an operator (console user), a responder (by SMS or link), or the system."""

    kind: Literal["operator", "responder", "system"]
    id: str
    name: str

    @property
    def key(self) -> str:
        """How the timeline names the actor: kind:id."""
        return f"{self.kind}:{self.id}"

    @property
    def responder_id(self) -> int | None:
        """The responder's row id when the actor is a responder."""
        if self.kind == "responder" and self.id.isdigit():
            return int(self.id)
        return None


class ActionError(ValueError):
    """An action that cannot be done; `code` is "not_found", "already_resolved", "already_acknowledged", "invalid"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _load(session: Session, alert_id: int) -> tuple[Alert, Home]:
    # FOR UPDATE on PostgreSQL: a reply and a console click on the same alert are applied one after the other.
    alert = session.scalars(select(Alert).where(Alert.id == alert_id).with_for_update()).first()
    if alert is None:
        raise ActionError("not_found", f"no alert {alert_id}")
    home = session.get(Home, alert.home_id)
    if home is None:
        raise ActionError("not_found", f"alert {alert_id} has no home")
    return alert, home


def _check_now(now: datetime) -> None:
    if now.tzinfo is None:
        raise ActionError("invalid", "now must be timezone-aware")


def acknowledge(session: Session, alert_id: int, actor: Actor, now: datetime) -> Alert:
    """Take an alert: stop the ladder, tell the others who took it, start the clock towards a reminder."""
    _check_now(now)
    alert, home = _load(session, alert_id)
    if alert.state in CLOSED_STATES:
        raise ActionError("already_resolved", f"alert {alert_id} is already {alert.state}")
    if alert.state == STATE_ACKNOWLEDGED:
        if alert.ack_actor == actor.key:
            return alert  # the same person twice (a repeated SMS, a double click): nothing changes
        raise ActionError("already_acknowledged", f"alert {alert_id} was already taken by {taker_name(session, alert)}")
    pol = severity_policy(alert)
    track.save_ladder(alert, escalation.acknowledged(track.ladder_of(alert), pol, now), now)
    alert.ack_actor = actor.key
    alert.acknowledged_by = actor.responder_id
    cancelled = notify.cancel_pending_pages(session, alert.id)
    paged = notify.paged_responders(session, alert.id)
    detail: dict[str, object] = {"by": actor.name, "kind": actor.kind, "cancelled_pages": cancelled}
    rid = actor.responder_id
    if rid is not None:
        r = session.get(Responder, rid)
        if r is not None:
            first = paged.get(rid, alert.opened_at)
            seconds = max((now - first).total_seconds(), 0.0)
            r.ack_count += 1
            r.ack_seconds_total += seconds
            detail["seconds_to_ack"] = round(seconds, 1)
    event(session, alert.id, now, actor.key, TimelineAction.ACKNOWLEDGED, detail)
    notify.tell_others(session, alert, home, "taken", rid, now, name=actor.name)
    session.flush()
    return alert


def resolve(
    session: Session, alert_id: int, actor: Actor, outcome: str, now: datetime, note: str | None = None
) -> Alert:
    """Close an alert with an outcome; everyone paged who did not close it is told; anomaly gets the verdict."""
    _check_now(now)
    if outcome not in OUTCOMES:
        raise ActionError("invalid", f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
    if note is not None and len(note) > MAX_NOTE:
        raise ActionError("invalid", f"note longer than {MAX_NOTE} characters")
    alert, home = _load(session, alert_id)
    if alert.state in CLOSED_STATES:
        raise ActionError("already_resolved", f"alert {alert_id} is already {alert.state}")
    was_taken_by = alert.ack_actor
    alert.state = STATE_RESOLVED
    alert.outcome = outcome
    alert.resolved_at = now
    alert.resolved_by = actor.key
    alert.next_action_at = None
    alert.updated_at = now
    alert.feedback_sent_at = None  # the service publishes the verdict to anomaly
    if alert.ack_actor is None:
        alert.ack_actor = actor.key
        alert.acknowledged_at = now
        alert.acknowledged_by = actor.responder_id
    cancelled = notify.cancel_pending_pages(session, alert.id)
    rid = actor.responder_id
    # The help credit goes to whoever gave it: the responder closing it, else the responder who took it.
    helper = rid if rid is not None else alert.acknowledged_by
    if helper is not None and responders.counts_as_help(alert.kind, outcome):
        r = session.get(Responder, helper)
        if r is not None:
            r.helped_count += 1
    detail: dict[str, object] = {"by": actor.name, "kind": actor.kind, "outcome": outcome, "cancelled_pages": cancelled}
    if note:
        detail["note"] = note
    event(session, alert.id, now, actor.key, TimelineAction.RESOLVED, detail)
    # Whoever took it knows already when they resolved it; the rest are told they need not go.
    skip = rid if rid is not None else _responder_of(was_taken_by)
    notify.tell_others(session, alert, home, "closed", skip, now)
    family.tell(session, alert, home, "closed", now)  # how it ended, to next of kin who were told it began
    session.flush()
    return alert


def rate(session: Session, alert_id: int, actor: Actor, rating: int, now: datetime) -> AlertEvent:
    """Record a short 1-5 rating of how a help request went (on the timeline; the latest rating counts)."""
    _check_now(now)
    if isinstance(rating, bool) or not isinstance(rating, int) or not RATING_MIN <= rating <= RATING_MAX:
        raise ActionError("invalid", f"a rating is a whole number from {RATING_MIN} to {RATING_MAX}")
    alert, _home = _load(session, alert_id)
    if alert.state not in (STATE_ACKNOWLEDGED, STATE_RESOLVED):
        raise ActionError("invalid", "only a help request someone took can be rated")
    detail: dict[str, object] = {"by": actor.name, "kind": actor.kind, "rating": rating}
    ev = event(session, alert.id, now, actor.key, TimelineAction.RATED, detail)
    session.flush()
    return ev


def add_note(session: Session, alert_id: int, actor: Actor, text: str, now: datetime) -> AlertEvent:
    """Add a note to an alert's timeline."""
    _check_now(now)
    text = text.strip()
    if not text:
        raise ActionError("invalid", "empty note")
    if len(text) > MAX_NOTE:
        raise ActionError("invalid", f"note longer than {MAX_NOTE} characters")
    alert, _home = _load(session, alert_id)
    ev = event(
        session, alert.id, now, actor.key, TimelineAction.NOTE, {"by": actor.name, "kind": actor.kind, "text": text}
    )
    session.flush()
    return ev


def silence_home(
    session: Session,
    home_id: str,
    actor: Actor,
    until: datetime,
    reason: str,
    now: datetime,
    *,
    category: str = "maintenance",
    kinds: list[str] | None = None,
) -> None:
    """Hold paging for a home until `until` (maintenance, or `category="away"`); a panic press is never held."""
    _check_now(now)
    if until.tzinfo is None or until <= now:
        raise ActionError("invalid", "until must be a timezone-aware time in the future")
    if category not in SILENCE_CATEGORIES:
        raise ActionError("invalid", f"unknown category {category!r}; expected one of {', '.join(SILENCE_CATEGORIES)}")
    if not reason.strip():
        raise ActionError("invalid", "a silence needs a reason")
    home = session.get(Home, home_id)
    if home is None:
        raise ActionError("not_found", f"no home {home_id}")
    silence = Silence(
        home_id=home_id,
        category=category,
        kinds=list(kinds) if kinds else None,
        starts_at=now,
        ends_at=until,
        reason=reason.strip()[:500],
        created_by=actor.key,
        created_at=now,
    )
    session.add(silence)
    session.flush()
    # Alerts of the home that the silence covers and nobody has taken yet stop paging until it ends.
    for alert in session.scalars(
        select(Alert).where(
            Alert.home_id == home_id, Alert.state.in_((escalation.STATE_OPEN, escalation.STATE_NOTIFYING))
        )
    ):
        why = silence_reason(alert.kind, [silence], now)
        if why is None:
            continue
        alert.state = escalation.STATE_SILENCED
        alert.silenced_reason = why
        alert.next_action_at = until
        alert.updated_at = now
        notify.cancel_pending_pages(session, alert.id)
        event(
            session,
            alert.id,
            now,
            actor.key,
            TimelineAction.SILENCED,
            {"by": actor.name, "until": until.isoformat(), "reason": why},
        )
    session.flush()


def _responder_of(actor_key: str | None) -> int | None:
    if actor_key and actor_key.startswith("responder:") and actor_key[10:].isdigit():
        return int(actor_key[10:])
    return None
