"""Operators' alert actions: the alerts package does the work, the console audits and commits."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from alerts import actions
from alerts.actions import ActionError, Actor
from console.accounts import Principal, audit
from contracts.vocabulary import OutcomeCode

STATUS_OF_CODE = {"not_found": 404, "already_resolved": 409, "already_acknowledged": 409, "invalid": 422}


class NoteBody(BaseModel):
    """A note for an alert's timeline."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=2000)


class ResolveBody(BaseModel):
    """Closing an alert: what happened, and optionally a note."""

    model_config = ConfigDict(extra="forbid")
    outcome: OutcomeCode
    note: str | None = Field(None, max_length=2000)


class SilenceBody(BaseModel):
    """Holding a home's paging for a while, with a reason."""

    model_config = ConfigDict(extra="forbid")
    minutes: int = Field(ge=5, le=14 * 24 * 60)
    reason: str = Field(min_length=1, max_length=200)


class ActionResult(BaseModel):
    """What an action left: the alert's state (or the silence's end)."""

    ok: bool
    alert_id: int | None = None
    state: str | None = None
    silenced_until: datetime | None = None


def actor_of(principal: Principal) -> Actor:
    """The alerts package's actor for a console user."""
    return Actor(kind="operator", id=principal.username, name=principal.name)


def acknowledge(session: Session, alert_id: int, who: Principal, now: datetime) -> ActionResult:
    """Acknowledge an alert; ActionError when it cannot be."""
    alert = actions.acknowledge(session, alert_id, actor_of(who), now)
    audit(session, now, who.actor, "alert_acknowledge", f"alert:{alert_id}", {"home": alert.home_id})
    session.commit()
    return ActionResult(ok=True, alert_id=alert_id, state=alert.state)


def note(session: Session, alert_id: int, who: Principal, body: NoteBody, now: datetime) -> ActionResult:
    """Add a note to an alert's timeline."""
    actions.add_note(session, alert_id, actor_of(who), body.text, now)
    audit(session, now, who.actor, "alert_note", f"alert:{alert_id}", {"chars": len(body.text)})
    session.commit()
    return ActionResult(ok=True, alert_id=alert_id)


def resolve(session: Session, alert_id: int, who: Principal, body: ResolveBody, now: datetime) -> ActionResult:
    """Resolve an alert with an outcome."""
    alert = actions.resolve(session, alert_id, actor_of(who), body.outcome, now, note=body.note or None)
    audit(session, now, who.actor, "alert_resolve", f"alert:{alert_id}", {"outcome": body.outcome})
    session.commit()
    return ActionResult(ok=True, alert_id=alert_id, state=alert.state)


def silence(session: Session, home_id: str, who: Principal, body: SilenceBody, now: datetime) -> ActionResult:
    """Silence a home's paging for `minutes`, with a reason."""
    until = now + timedelta(minutes=body.minutes)
    actions.silence_home(session, home_id, actor_of(who), until, body.reason, now)
    audit(session, now, who.actor, "home_silence", f"home:{home_id}", {"minutes": body.minutes, "reason": body.reason})
    session.commit()
    return ActionResult(ok=True, silenced_until=until)


__all__ = ["STATUS_OF_CODE", "ActionError", "ActionResult", "NoteBody", "ResolveBody", "SilenceBody"]
