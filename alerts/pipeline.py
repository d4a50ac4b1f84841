"""The alert pipeline, in the order a finding travels: dedupe -> inhibit/silence -> route -> notify -> track.

Each stage is one module owning its SQL (alerts/dedupe.py, inhibit.py, route.py, notify.py with the outbox in
outbox.py, track.py); this module only runs them in order. The service (alerts/service.py), the web hooks and the
tests all call these same functions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Unpack

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts import dedupe, escalation, family, inhibit, outbox, route, track
from alerts.dedupe import Action
from alerts.notifier import Notifier
from alerts.replies import LinkMaker
from alerts.retry import SendOptions, SendPolicy
from alerts.timeline import SYSTEM_ACTOR, event
from anxin.db.models import Alert, Home, SmsOutbox
from contracts.messages import Finding


@dataclass(frozen=True)
class Outcome:
    """What one finding did: opened, joined, duplicate or unknown_home; with the outbox rows to send."""

    action: str
    alert_id: int | None = None
    outbox_ids: tuple[int, ...] = ()


def record_finding(
    session: Session,
    finding: Finding,
    now: datetime,
    *,
    rng: random.Random | None = None,
    links: LinkMaker | None = None,
) -> Outcome:
    """Apply one finding (dedupe, silence and inhibit, route, page step 1) in one committed transaction."""
    dedupe.lock_home(session, finding.home)  # several replicas: a home's findings are decided one at a time
    home = session.get(Home, finding.home)
    if home is None:
        session.rollback()
        return Outcome("unknown_home")
    decision, active = dedupe.decide(session, finding)
    if decision.action is Action.DUPLICATE:
        session.rollback()
        return Outcome("duplicate")
    try:
        if active is not None:
            rows = _join(session, active, home, finding, now, links)
            session.commit()
            return Outcome("joined", active.id, tuple(r.id for r in rows))
        alert, rows = _open(session, finding, home, now, rng or random.SystemRandom(), links)
        session.commit()
    except IntegrityError:
        # Another instance recorded this finding first (finding ids are unique): it is already handled.
        session.rollback()
        return Outcome("duplicate")
    return Outcome("opened", alert.id, tuple(r.id for r in rows))


def _join(
    session: Session, alert: Alert, home: Home, finding: Finding, now: datetime, links: LinkMaker | None
) -> list[SmsOutbox]:
    """1 dedupe: join; a held alert whose silence has ended starts its ladder (2 inhibit, 5 track)."""
    dedupe.join(session, alert, finding, now)
    if alert.state == escalation.STATE_SILENCED and inhibit.suppression(session, home, alert.kind, now)[0] is None:
        alert.state, alert.next_action_at, alert.silenced_reason = escalation.STATE_OPEN, now, None
        alert.step, alert.round = 0, 1
        event(session, alert.id, now, SYSTEM_ACTOR, "unsilenced", {"finding": finding.id})
        rows = track.run_ladder(session, alert, home, now, links)
        return rows + family.tell(session, alert, home, "opened", now)
    return []


def _open(
    session: Session, finding: Finding, home: Home, now: datetime, rng: random.Random, links: LinkMaker | None
) -> tuple[Alert, list[SmsOutbox]]:
    """2 inhibit, 3 route, then 4 notify step 1 through the ladder unless held."""
    held = inhibit.suppression(session, home, finding.kind, now)
    alert = route.open_alert(session, finding, home, now, rng, held)
    if held[0] is not None:
        return alert, []
    rows = track.run_ladder(session, alert, home, now, links)
    return alert, rows + family.tell(session, alert, home, "opened", now)


def deliver(
    session: Session,
    outbox_id: int,
    notifier: Notifier,
    now: datetime,
    *,
    links: LinkMaker | None = None,
    **send: Unpack[SendOptions],
) -> str | None:
    """Send one outbox row; a page that fails for good pages the next person (track)."""
    return outbox.deliver(session, outbox_id, notifier, now, SendPolicy(**send), track.moving_on(links))


def send_due(
    session: Session,
    notifier: Notifier,
    now: datetime,
    *,
    links: LinkMaker | None = None,
    limit: int = 100,
    **send: Unpack[SendOptions],
) -> int:
    """Send the outbox rows that are due, within per-number rate limits; dead pages page the next person."""
    return outbox.send_due(session, notifier, now, SendPolicy(**send), track.moving_on(links), limit)


def record_status(
    session: Session, sid: str, status: str, error_code: str | None, now: datetime, links: LinkMaker | None = None
) -> bool:
    """Apply a Twilio status callback; an undelivered page moves on to the next person. False: unknown sid."""
    return outbox.record_status(session, sid, status, error_code, now, track.moving_on(links))


def process_finding(
    session: Session,
    finding: Finding,
    now: datetime,
    notifier: Notifier,
    *,
    rng: random.Random | None = None,
    links: LinkMaker | None = None,
    **send: Unpack[SendOptions],
) -> Outcome:
    """Record a finding and send the SMS it queued, each step committed; what the service does per message."""
    outcome = record_finding(session, finding, now, rng=rng, links=links)
    for oid in outcome.outbox_ids:
        deliver(session, oid, notifier, now, links=links, **send)
    return outcome


def tick(
    session: Session, notifier: Notifier, now: datetime, *, links: LinkMaker | None = None, **send: Unpack[SendOptions]
) -> int:
    """One pass of the service's clock at `now`: escalate what is due, then send what is due; returns SMS sent."""
    track.escalate_due(session, now, links)
    return send_due(session, notifier, now, links=links, **send)
