"""The alert timeline (`alert_events`): who did what and when; every stage writes its entries through here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from anxin.db.models import Alert, AlertEvent
from contracts.messages import Finding
from contracts.vocabulary import TimelineAction

# How the timeline names the service itself.
SYSTEM_ACTOR = "alerts"


def event(
    session: Session, alert_id: int, now: datetime, actor: str, action: str, detail: dict[str, Any]
) -> AlertEvent:
    """Add one timeline entry."""
    ev = AlertEvent(alert_id=alert_id, at=now, actor=actor[:64], action=action, detail=detail)
    session.add(ev)
    return ev


def finding_detail(finding: Finding) -> dict[str, Any]:
    """What the timeline keeps of a finding that opened or joined an alert."""
    return {
        "finding": finding.id,
        "detector": finding.detector,
        "severity": finding.severity.value,
        "ts": finding.ts.isoformat(),
        "since": finding.since.isoformat(),
        "evidence": dict(finding.evidence),
    }


def taker_name(session: Session, alert: Alert) -> str:
    """The display name of whoever acknowledged an alert."""
    detail = session.scalar(
        select(AlertEvent.detail)
        .where(AlertEvent.alert_id == alert.id, AlertEvent.action == TimelineAction.ACKNOWLEDGED)
        .order_by(AlertEvent.id.desc())
        .limit(1)
    )
    name = detail.get("by") if isinstance(detail, dict) else None
    return str(name) if name else "someone"
