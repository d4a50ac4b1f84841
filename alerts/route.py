"""Stage 3, route: a new alert gets its home's escalation policy frozen onto it, and a free reply code."""

from __future__ import annotations

import logging
import random
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import escalation
from alerts.escalation import SeverityPolicy
from alerts.replies import reply_code
from alerts.timeline import SYSTEM_ACTOR, event, finding_detail
from anxin.db.models import Alert, AlertFinding, EscalationPolicy, Home
from contracts.messages import Finding

log = logging.getLogger(__name__)

_CODE_TRIES = 20


def policy_for(session: Session, home: Home) -> dict[str, Any]:
    """The escalation policy of a home: built-in defaults, then its district's policy, then its own override."""
    district = session.scalar(
        select(EscalationPolicy.spec).where(
            EscalationPolicy.district == home.district, EscalationPolicy.home_id.is_(None)
        )
    )
    own = session.scalar(select(EscalationPolicy.spec).where(EscalationPolicy.home_id == home.id))
    return escalation.merge_spec(escalation.DEFAULT_POLICY, district, own)


def severity_policy(alert: Alert) -> SeverityPolicy:
    """The frozen policy of an alert for its severity, or its help table (defaults where the frozen one lacks it)."""
    key = escalation.policy_key(alert.kind, alert.severity)
    spec = alert.policy if alert.policy and key in alert.policy else escalation.DEFAULT_POLICY
    return escalation.severity_policy(spec, key)


def new_code(session: Session, rng: random.Random) -> str:
    """A reply code no open alert uses."""
    for _ in range(_CODE_TRIES):
        code = reply_code(rng)
        taken = session.scalar(
            select(Alert.id).where(Alert.code == code, Alert.state.not_in(escalation.CLOSED_STATES)).limit(1)
        )
        if taken is None:
            return code
    raise RuntimeError("no free reply code after several tries")


def open_alert(
    session: Session,
    finding: Finding,
    home: Home,
    now: datetime,
    rng: random.Random,
    held: tuple[str | None, datetime | None],
) -> Alert:
    """Write a new alert with its frozen policy: open with step 1 due now, or silenced until `held` says."""
    why, until = held
    alert = Alert(
        home_id=home.id,
        kind=finding.kind,
        severity=finding.severity.value,
        state=escalation.STATE_SILENCED if why else escalation.STATE_OPEN,
        code=new_code(session, rng),
        opened_at=now,
        updated_at=now,
        since=finding.since,
        count=1,
        first_finding_id=finding.id,
        evidence=dict(finding.evidence),
        policy=policy_for(session, home),
        step=0,
        round=1,
        next_action_at=until if why else escalation.opened(now).next_at,
        reminders_sent=0,
        silenced_reason=why,
    )
    session.add(alert)
    session.flush()
    session.add(AlertFinding(alert_id=alert.id, finding_id=finding.id, at=now))
    event(session, alert.id, now, SYSTEM_ACTOR, "opened", finding_detail(finding))
    if why:
        event(
            session,
            alert.id,
            now,
            SYSTEM_ACTOR,
            "silenced",
            {"reason": why, "until": until.isoformat() if until else None},
        )
        log.info("alert %s (%s, %s) held: %s", alert.id, home.id, alert.kind, why)
    return alert
