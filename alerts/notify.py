"""Stage 4, notify: who a ladder step pages (on duty, ranked), and their SMS written to the outbox in the same
transaction; follow-ups ("X took it", "closed") to everyone paged; cancelling pages no longer needed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from alerts import escalation, responders, templates
from alerts.outbox import (
    OUTBOX_CANCELLED,
    OUTBOX_FAILED,
    OUTBOX_LOCAL,
    OUTBOX_PENDING,
    OUTBOX_SENDING,
    OUTBOX_SENT,
    PURPOSE_PAGE,
    PURPOSE_REMINDER,
    queue_sms,
)
from alerts.replies import LinkMaker
from alerts.route import severity_policy
from alerts.timeline import SYSTEM_ACTOR, event
from anxin.db.models import Alert, Assignment, Home, Responder, SmsOutbox
from anxin.zones import tz_of
from contracts.vocabulary import FindingKind, TimelineAction

log = logging.getLogger(__name__)


def people_for(session: Session, home: Home, now: datetime) -> list[responders.Person]:
    """Everyone who could be paged for a home: assigned to it, of its district, or an operator."""
    rows = session.execute(
        select(Responder, Assignment.priority)
        .outerjoin(Assignment, and_(Assignment.responder_id == Responder.id, Assignment.home_id == home.id))
        .where(
            or_(
                Assignment.id.is_not(None),
                Responder.district == home.district,
                Responder.role == responders.ROLE_OPERATOR,
            )
        )
    ).all()
    home_at = (home.latitude, home.longitude) if home.latitude is not None and home.longitude is not None else None
    people = []
    for r, prio in rows:
        where = (r.latitude, r.longitude) if r.latitude is not None and r.longitude is not None else None
        people.append(
            responders.Person(
                responder_id=r.id,
                name=r.name,
                phone=r.phone,
                lang=r.lang,
                role=r.role,
                verified=r.verified,
                active=r.active,
                opted_out=r.opted_out,
                district=r.district,
                assigned_priority=prio,
                distance_km=responders.distance_km(home_at, where),
                available=responders.is_available(r.availability, now, tz_of(r.timezone)),
                reliability=responders.reliability(r.notified_count, r.ack_count),
                credit=responders.credit(r.ack_count, r.helped_count),
                skills=frozenset(str(k).lower() for k in (r.skills or ()) if isinstance(k, str)),
            )
        )
    return people


def need_of(alert: Alert) -> str | None:
    """What a help request asks for (its evidence's "need"), which ranks people with that skill first; else None."""
    need = (alert.evidence or {}).get("need") if alert.kind == FindingKind.HELP_REQUEST else None
    return need.strip()[:40] if isinstance(need, str) and need.strip() else None


def page_key(alert_id: int, rnd: int, step: int, responder_id: int) -> str:
    """Idempotency key of the page of one ladder step in one round to one responder."""
    return f"alert:{alert_id}:r{rnd}:step{step}:responder:{responder_id}"


def alert_text_fields(alert: Alert, home: Home) -> dict[str, str]:
    """The fields follow-up templates fill in."""
    return {"label": home.label, "district": home.district, "code": alert.code}


def page_people(
    session: Session,
    alert: Alert,
    home: Home,
    people: Sequence[responders.Person],
    step: int,
    rnd: int,
    now: datetime,
    links: LinkMaker | None,
) -> list[SmsOutbox]:
    """Queue the alert SMS to each person for a ladder step; count the page on their record."""
    rows = []
    tz = tz_of(home.timezone)
    for p in people:
        link = links.make(alert.id, p.responder_id, now) if links else None
        body = templates.alert_sms(
            lang=p.lang,
            label=home.label,
            district=home.district,
            kind=alert.kind,
            since=alert.since,
            now=now,
            tz=tz,
            code=alert.code,
            link=link,
            # A later round is a repeat: it says so, and for how long the alert has been open.
            open_minutes=int((now - alert.opened_at).total_seconds() // 60) if rnd > 1 else None,
        )
        row = queue_sms(
            session,
            key=page_key(alert.id, rnd, step, p.responder_id),
            to=p.phone,
            lang=p.lang,
            body=body,
            now=now,
            purpose=PURPOSE_PAGE,
            alert_id=alert.id,
            responder_id=p.responder_id,
            step=step,
        )
        if row is not None:
            rows.append(row)
            session.execute(
                update(Responder)
                .where(Responder.id == p.responder_id)
                .values(notified_count=Responder.notified_count + 1)
            )
    session.flush()
    return rows


def paged_this_round(session: Session, alert_id: int, rnd: int) -> set[int]:
    """Responders already paged for an alert in a round, and any whose page for it failed for good."""
    keys = session.scalars(
        select(SmsOutbox.responder_id).where(
            SmsOutbox.alert_id == alert_id,
            SmsOutbox.purpose == PURPOSE_PAGE,
            or_(SmsOutbox.key.like(f"alert:{alert_id}:r{rnd}:%"), SmsOutbox.status == OUTBOX_FAILED),
        )
    ).all()
    return {k for k in keys if k is not None}


def page_step(
    session: Session, alert: Alert, home: Home, step: int, rnd: int, now: datetime, links: LinkMaker | None
) -> list[SmsOutbox]:
    """Page the people a ladder step names: per group, the best ranked on-duty ones not yet paged this round."""
    spec = severity_policy(alert).steps[step - 1]
    exclude = paged_this_round(session, alert.id, rnd)
    chosen = responders.select(people_for(session, home, now), spec.counts, home.district, exclude, need_of(alert))
    rows = page_people(session, alert, home, chosen, step, rnd, now, links)
    names = {p.responder_id: p.name for p in chosen}
    detail = {
        "step": step,
        "round": rnd,
        "responders": [{"id": r.responder_id, "name": names.get(r.responder_id or 0, "")} for r in rows],
        "outbox": [r.id for r in rows],
    }
    event(
        session, alert.id, now, SYSTEM_ACTOR, TimelineAction.PAGED if rows else TimelineAction.NO_ONE_AVAILABLE, detail
    )
    if not rows:
        log.warning("alert %s step %d round %d: no one on duty to page", alert.id, step, rnd)
    return rows


def page_next_in_line(
    session: Session, alert: Alert, home: Home, failed_responder: int | None, now: datetime, links: LinkMaker | None
) -> list[SmsOutbox]:
    """A send failed for good: page the next best person of the current step now, or move the ladder on."""
    if alert.state not in (escalation.STATE_OPEN, escalation.STATE_NOTIFYING) or alert.step < 1:
        return []
    pol = severity_policy(alert)
    spec = pol.steps[min(alert.step, len(pol.steps)) - 1]
    exclude = paged_this_round(session, alert.id, alert.round)
    nxt = responders.next_in_line(people_for(session, home, now), spec.counts, home.district, exclude, need_of(alert))
    if nxt is None:
        alert.next_action_at = now  # nobody left in this step: the next step is due now
        event(
            session,
            alert.id,
            now,
            SYSTEM_ACTOR,
            TimelineAction.STEP_EXHAUSTED,
            {"step": alert.step, "after": failed_responder},
        )
        return []
    rows = page_people(session, alert, home, [nxt], alert.step, alert.round, now, links)
    event(
        session,
        alert.id,
        now,
        SYSTEM_ACTOR,
        TimelineAction.PAGED,
        {
            "step": alert.step,
            "round": alert.round,
            "replacing": failed_responder,
            "responders": [{"id": nxt.responder_id, "name": nxt.name}],
            "outbox": [r.id for r in rows],
        },
    )
    return rows


def paged_responders(session: Session, alert_id: int) -> dict[int, datetime]:
    """Each responder paged for an alert (sent or still going out), with when they were first paged."""
    rows = session.execute(
        select(SmsOutbox.responder_id, SmsOutbox.created_at).where(
            SmsOutbox.alert_id == alert_id,
            SmsOutbox.purpose == PURPOSE_PAGE,
            SmsOutbox.status.in_((OUTBOX_PENDING, OUTBOX_SENDING, OUTBOX_SENT, OUTBOX_LOCAL)),
        )
    ).all()
    first: dict[int, datetime] = {}
    for rid, at in rows:
        if rid is not None and (rid not in first or at < first[rid]):
            first[rid] = at
    return first


def cancel_pending_pages(session: Session, alert_id: int) -> int:
    """Cancel pages of an alert that have not gone out yet; returns how many."""
    result = session.execute(
        update(SmsOutbox)
        .where(
            SmsOutbox.alert_id == alert_id,
            SmsOutbox.purpose.in_((PURPOSE_PAGE, PURPOSE_REMINDER)),
            SmsOutbox.status == OUTBOX_PENDING,
        )
        .values(status=OUTBOX_CANCELLED)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def follow_up(
    session: Session, alert: Alert, home: Home, r: Responder, template: str, key: str, now: datetime, **fields: str
) -> SmsOutbox | None:
    """Queue one follow-up SMS (taken, closed, reminder) to a responder, unless they opted out or have it already."""
    if r.opted_out:
        return None
    body = templates.follow_up(template, r.lang, **alert_text_fields(alert, home), **fields)
    return queue_sms(
        session,
        key=key,
        to=r.phone,
        lang=r.lang,
        body=body,
        now=now,
        purpose=template,
        alert_id=alert.id,
        responder_id=r.id,
    )


def tell_others(
    session: Session, alert: Alert, home: Home, template: str, skip: int | None, now: datetime, **fields: str
) -> list[SmsOutbox]:
    """Queue one follow-up SMS (taken, closed) to everyone paged for the alert except `skip`."""
    rows = []
    for rid in paged_responders(session, alert.id):
        r = session.get(Responder, rid) if rid != skip else None
        key = f"alert:{alert.id}:{template}:responder:{rid}"
        row = None if r is None else follow_up(session, alert, home, r, template, key, now, **fields)
        if row is not None:
            rows.append(row)
    session.flush()
    return rows
