"""Stage 5, track: the ladder over time (page the next step, remind, re-escalate, expire), a dead page replaced,
and each verdict told to anomaly. People's own acts (acknowledge, resolve) are in alerts.actions."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerts import escalation, inhibit, notify
from alerts.escalation import Effect, LadderState
from alerts.outbox import PURPOSE_REMINDER, DeadPage
from alerts.replies import LinkMaker
from alerts.route import severity_policy
from alerts.timeline import SYSTEM_ACTOR, event
from anxin.db.models import Alert, AlertFinding, Home, Responder, SmsOutbox
from contracts.messages import Feedback

log = logging.getLogger(__name__)


def ladder_of(alert: Alert) -> LadderState:
    """An alert's escalation state as the pure ladder sees it."""
    return LadderState(
        state=alert.state,
        opened_at=alert.opened_at,
        step=alert.step,
        round=alert.round,
        next_at=alert.next_action_at,
        acknowledged_at=alert.acknowledged_at,
        reminders_sent=alert.reminders_sent,
    )


def save_ladder(alert: Alert, s: LadderState, now: datetime) -> None:
    """Write the ladder state back onto the alert."""
    alert.state, alert.step, alert.round = s.state, s.step, s.round
    alert.next_action_at, alert.acknowledged_at, alert.reminders_sent = s.next_at, s.acknowledged_at, s.reminders_sent
    alert.updated_at = now


def run_ladder(session: Session, alert: Alert, home: Home, now: datetime, links: LinkMaker | None) -> list[SmsOutbox]:
    """Apply every escalation step due at `now` to one alert; returns the outbox rows queued."""
    if alert.state == escalation.STATE_SILENCED:
        return _recheck_silenced(session, alert, home, now)
    pol = severity_policy(alert)
    rows: list[SmsOutbox] = []

    def apply(s: LadderState, eff: Effect) -> bool:
        # The ladder's state is on the alert before each effect, as the effect's SQL reads it there.
        save_ladder(alert, s, now)
        if isinstance(eff, escalation.Page):
            paged = notify.page_step(session, alert, home, eff.step, eff.round, now, links)
            rows.extend(paged)
            return bool(paged)
        if isinstance(eff, escalation.Remind):
            rows.extend(_remind(session, alert, home, eff.number, now))
        elif isinstance(eff, escalation.Reescalate):
            event(session, alert.id, now, SYSTEM_ACTOR, "reescalated", {"round": eff.round, "was": alert.ack_actor})
            alert.ack_actor, alert.acknowledged_by = None, None
        else:
            event(session, alert.id, now, SYSTEM_ACTOR, "expired", {"after_s": pol.expire_after_s})
        return True

    s, _ = escalation.run_until(ladder_of(alert), pol, now, apply=apply)
    save_ladder(alert, s, now)
    session.flush()
    return rows


def _remind(session: Session, alert: Alert, home: Home, number: int, now: datetime) -> list[SmsOutbox]:
    detail: dict[str, Any] = {"number": number, "to": alert.ack_actor}
    rows: list[SmsOutbox] = []
    r = session.get(Responder, alert.acknowledged_by) if alert.acknowledged_by is not None else None
    key = f"alert:{alert.id}:r{alert.round}:reminder{number}:responder:{alert.acknowledged_by}"
    row = None if r is None else notify.follow_up(session, alert, home, r, PURPOSE_REMINDER, key, now)
    if row is not None:
        session.flush()
        rows.append(row)
        detail["outbox"] = row.id
    event(session, alert.id, now, SYSTEM_ACTOR, "reminded", detail)
    return rows


def _recheck_silenced(session: Session, alert: Alert, home: Home, now: datetime) -> list[SmsOutbox]:
    if alert.next_action_at is None or alert.next_action_at > now:
        return []
    why, until = inhibit.suppression(session, home, alert.kind, now)
    if why is not None:
        alert.next_action_at = until
        return []
    # The silence is over and nothing new came in while it held: the alert ends with it; a new finding opens anew.
    alert.state, alert.next_action_at, alert.updated_at = escalation.STATE_EXPIRED, None, now
    event(session, alert.id, now, SYSTEM_ACTOR, "silence_ended", {"reason": alert.silenced_reason})
    return []


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


def moving_on(links: LinkMaker | None) -> DeadPage:
    """What the outbox calls when a page can never arrive: try the next person of the step at once."""

    def dead_page(session: Session, row: SmsOutbox, now: datetime) -> None:
        alert = session.scalars(select(Alert).where(Alert.id == row.alert_id).with_for_update()).first()
        home = session.get(Home, alert.home_id) if alert is not None else None
        if alert is None or home is None:
            return
        notify.page_next_in_line(session, alert, home, row.responder_id, now, links)
        if alert.next_action_at is not None and alert.next_action_at <= now:
            run_ladder(session, alert, home, now, links)

    return dead_page


def pending_feedback(session: Session, limit: int = 50) -> list[Feedback]:
    """Verdicts on resolved alerts that anomaly has not been told yet, locked until the caller commits.

    Several replicas sweep at once: on PostgreSQL the alerts stay locked (SKIP LOCKED) until the caller has published
    and marked them, so two replicas never tell anomaly one verdict twice (it would loosen a threshold twice).
    """
    alerts = session.scalars(
        select(Alert)
        .where(Alert.state == escalation.STATE_RESOLVED, Alert.outcome.is_not(None), Alert.feedback_sent_at.is_(None))
        .order_by(Alert.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
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
    session.flush()
    return out


def mark_feedback_sent(session: Session, alert_id: int, now: datetime) -> None:
    """Remember that anomaly has been told an alert's verdict (committed by the caller, releasing the lock)."""
    session.execute(update(Alert).where(Alert.id == alert_id).values(feedback_sent_at=now))
