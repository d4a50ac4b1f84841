"""Stage 1, dedupe: one active alert per home and kind; a new finding joins it, a redelivered one changes nothing."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from alerts import escalation
from alerts.timeline import SYSTEM_ACTOR, event, finding_detail
from anxin.db.models import Alert, AlertFinding
from contracts.messages import Finding
from contracts.vocabulary import SEVERITY_ORDER


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


# The SQL of this stage: what dedupe reads, and the join it writes.


def lock_home(session: Session, home_id: str) -> None:
    """Decide a home's findings one at a time across replicas (PostgreSQL: a transaction lock; SQLite has one writer).

    Without it two replicas given two findings of one home and kind at once both find no active alert and both open
    one. An advisory lock, not a row lock: nothing else takes it, so it cannot deadlock with the console or the ladder.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"anxin.alerts.home:{home_id}"})


def recorded(session: Session, finding_ids: Collection[str]) -> set[str]:
    """Which of these finding ids an alert already holds (`alert_findings.finding_id` is unique)."""
    return set(session.scalars(select(AlertFinding.finding_id).where(AlertFinding.finding_id.in_(finding_ids))))


def active_alert(session: Session, home_id: str, kind: str) -> Alert | None:
    """The active alert of a home and kind, locked (FOR UPDATE on PostgreSQL) for the rest of the transaction."""
    return session.scalars(
        select(Alert)
        .where(Alert.home_id == home_id, Alert.kind == kind, Alert.state.in_(escalation.ACTIVE_STATES))
        .order_by(Alert.id.desc())
        .limit(1)
        .with_for_update()
    ).first()


def decide(session: Session, finding: Finding) -> tuple[Decision, Alert | None]:
    """The dedupe verdict for a finding of a known home, with the active alert it concerns."""
    seen = recorded(session, [finding.id])
    # A redelivered finding locks nothing: the active alert is only read (FOR UPDATE) for a new one.
    active = None if seen else active_alert(session, finding.home, finding.kind)
    existing = None if active is None else ExistingAlert(active.id, active.state, active.count, active.code)
    return dedupe(finding.id, existing, seen), active


def join(session: Session, alert: Alert, finding: Finding, now: datetime) -> None:
    """Add a finding to its active alert: count, earliest since, latest evidence, the more severe severity."""
    session.add(AlertFinding(alert_id=alert.id, finding_id=finding.id, at=now))
    session.flush()
    alert.count += 1
    alert.updated_at = now
    alert.since = min(alert.since, finding.since)
    alert.evidence = dict(finding.evidence)
    if SEVERITY_ORDER[finding.severity.value] < SEVERITY_ORDER.get(alert.severity, len(SEVERITY_ORDER)):
        alert.severity = finding.severity.value
    event(session, alert.id, now, SYSTEM_ACTOR, "joined", {**finding_detail(finding), "count": alert.count})
