"""Responders: each with the homes assigned, whether on duty now and how often they took alerts sent to them."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.responders import credit, is_available
from anxin.db.models import Assignment, Home, Responder
from anxin.zones import tz_of
from console.redaction import Redactor
from console.views import ResponderRow, RespondersView


def list_responders(session: Session, red: Redactor) -> RespondersView:
    """Every responder with assigned homes and acknowledgements of alerts they were sent an SMS for."""
    homes: dict[int, list[str]] = defaultdict(list)
    for rid, label in session.execute(
        select(Assignment.responder_id, Home.label).join(Home, Home.id == Assignment.home_id).order_by(Home.label)
    ):
        homes[rid].append(label)
    rows = []
    now = datetime.now(UTC)
    for r in session.scalars(select(Responder).order_by(Responder.role, Responder.name)):
        n, a = int(r.notified_count or 0), int(r.ack_count or 0)
        rows.append(
            ResponderRow(
                id=r.id,
                name=r.name,
                role=r.role,
                lang=r.lang,
                phone=red.number(r.phone),
                verified=r.verified,
                verified_at=r.verified_at,
                active=r.active and not r.opted_out,
                available_now=available_now(r.availability, r.timezone, now),
                homes=homes.get(r.id, []),
                alerts_notified=n,
                alerts_acknowledged=a,
                reliability=round(min(a, n) / n, 2) if n else None,
                helped=int(r.helped_count or 0),
                credit=credit(a, int(r.helped_count or 0)),
            )
        )
    return RespondersView(responders=rows)


def available_now(availability: list[dict[str, Any]] | None, timezone: str, now: datetime) -> bool | None:
    """Whether `now` falls in one of a responder's duty windows; None when they gave none (always on call)."""
    if not availability:
        return None
    return is_available(availability, now, tz_of(timezone))


def responder_choices(session: Session) -> list[tuple[int, str]]:
    """(id, name) of every responder, for the overview's filter."""
    return [(rid, name) for rid, name in session.execute(select(Responder.id, Responder.name).order_by(Responder.name))]
