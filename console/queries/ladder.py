"""An alert's escalation ladder as the operator sees it live: each rung with who was paged when, whether their SMS
arrived and what they replied, and what comes next with who would be paged (issue 15)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import escalation, notify, responders
from alerts.outbox import OUTBOX_CANCELLED, PURPOSE_PAGE
from alerts.route import severity_policy
from anxin.db.models import Alert, Home, Responder, SmsInbound, SmsOutbox
from console.views import LadderNext, LadderPage, LadderRung, LadderView
from contracts.vocabulary import CLOSED_STATES, AlertState

# A page's outbox key names its round and step: alert:{id}:r{round}:step{step}:responder:{id} (alerts/notify.py).
_KEY = re.compile(r":r(\d+):step(\d+):")


def alert_ladder(session: Session, alert: Alert, now: datetime) -> LadderView:
    """The ladder of one alert: rungs of every round so far (this round's unreached ones too) and the next move."""
    pol = severity_policy(alert)
    names = {rid: name for rid, name in session.execute(select(Responder.id, Responder.name))}
    replies = _replies(session, alert.id)
    pages: dict[tuple[int, int], list[LadderPage]] = {}
    for row in session.scalars(
        select(SmsOutbox)
        .where(SmsOutbox.alert_id == alert.id, SmsOutbox.purpose == PURPOSE_PAGE)
        .order_by(SmsOutbox.id)
    ):
        m = _KEY.search(row.key)
        where = (int(m.group(1)), int(m.group(2))) if m else (alert.round, row.step or 0)
        reply = replies.get(row.responder_id or 0)
        pages.setdefault(where, []).append(
            LadderPage(
                responder_id=row.responder_id,
                responder=names.get(row.responder_id or 0, "—"),
                paged_at=row.created_at,
                sent_at=row.sent_at,
                status=row.delivery_status or row.status,
                reply=reply[0] if reply else None,
                reply_at=reply[1] if reply else None,
                took_it=row.responder_id is not None and row.responder_id == alert.acknowledged_by,
            )
        )
    rungs = []
    for rnd in range(1, alert.round + 1):
        for i, spec in enumerate(pol.steps, start=1):
            reached = rnd < alert.round or i <= alert.step
            if rnd < alert.round and (rnd, i) not in pages:
                continue  # earlier rounds: only the rungs that paged someone
            rungs.append(
                LadderRung(
                    round=rnd,
                    step=i,
                    wait_s=spec.wait_s,
                    groups={g: n for g, n in spec.counts.items() if n > 0},
                    pages=[p for p in pages.get((rnd, i), []) if p.status != OUTBOX_CANCELLED or p.took_it],
                    reached=reached,
                    current=rnd == alert.round and i == alert.step and alert.state not in CLOSED_STATES,
                )
            )
    taken_by = names.get(alert.acknowledged_by) if alert.acknowledged_by is not None else None
    if taken_by is None and alert.ack_actor:
        taken_by = alert.ack_actor.split(":", 1)[-1]
    return LadderView(
        state=alert.state,
        step=alert.step,
        round=alert.round,
        steps=len(pol.steps),
        taken=alert.ack_actor is not None,
        taken_by=taken_by,
        operator_after_s=escalation.operator_after_s(pol),
        rungs=rungs,
        next=_next(session, alert, pol, now),
    )


def _replies(session: Session, alert_id: int) -> dict[int, tuple[str, datetime]]:
    """Each responder's latest SMS reply to an alert: what it did, and when."""
    out: dict[int, tuple[str, datetime]] = {}
    for rid, result, at in session.execute(
        select(SmsInbound.responder_id, SmsInbound.result, SmsInbound.received_at)
        .where(SmsInbound.alert_id == alert_id)
        .order_by(SmsInbound.id)
    ):
        if rid is not None:
            out[rid] = (result, at)
    return out


def _next(session: Session, alert: Alert, pol: escalation.SeverityPolicy, now: datetime) -> LadderNext | None:
    """What the ladder does next, when, and (for a page) who would be paged if it happened now."""
    at = alert.next_action_at
    if alert.state in CLOSED_STATES:
        return None
    if alert.state == AlertState.SILENCED:
        return LadderNext(action="resume", at=at)
    if alert.state == AlertState.ACKNOWLEDGED:
        action = "remind" if alert.reminders_sent < pol.reminders else "reescalate"
        return LadderNext(action=action, at=at)
    if not pol.steps:
        return LadderNext(action="expire", at=at)
    step, rnd = alert.step + 1, alert.round
    if step > len(pol.steps):
        step, rnd = 1, rnd + 1
    home = session.get(Home, alert.home_id)
    if home is None:
        return LadderNext(action="page", at=at, round=rnd, step=step)
    # Who the step would page if it came now: the same selection the ladder makes, read-only. A step that would find
    # nobody passes to the next at once (never into a new round), so the first step that finds someone is shown.
    exclude = notify.paged_this_round(session, alert.id, rnd) if rnd == alert.round else set()
    people = notify.people_for(session, home, at or now)
    for ahead in range(step, len(pol.steps) + 1):
        chosen = responders.select(people, pol.steps[ahead - 1].counts, home.district, exclude, notify.need_of(alert))
        if chosen:
            return LadderNext(action="page", at=at, round=rnd, step=ahead, names=[p.name for p in chosen])
    return LadderNext(action="page", at=at, round=rnd, step=step)


def help_rating(session: Session, alert: Alert) -> int | None:
    """The latest 1-5 rating on an alert's timeline, if any."""
    for ev in reversed(alert.timeline):
        if ev.action == "rated":
            value = (ev.detail or {}).get("rating")
            return value if isinstance(value, int) else None
    return None
