"""Homes: the overview's rows and states, and one home's residents and learned routine."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from anxin.db.models import Alert, Assignment, Home, Resident, Responder
from console.snapshot import Activity
from console.views import HOME_STATES, HomeRow, HomeState, HomesView, ResidentRow, Routine
from contracts.vocabulary import CLOSED_STATES, SEVERITY_ORDER

LOW_BATTERY = 20
QUIET_AFTER = timedelta(hours=24)
LEARNING_DAYS = 7


def home_state(
    *,
    worst_severity: str | None,
    online: bool | None,
    last_activity: datetime | None,
    min_battery: int | None,
    learning: bool,
    activity_available: bool,
    now: datetime,
) -> HomeState:
    """A home's overview state: an open critical alert, an offline hub, something to watch, still learning, or ok."""
    if worst_severity == "critical":
        return "alert"
    if online is False:
        return "offline"
    if worst_severity is not None:
        return "watch"
    if min_battery is not None and min_battery < LOW_BATTERY:
        return "watch"
    if activity_available and online is True and (last_activity is None or now - last_activity > QUIET_AFTER):
        return "watch"
    if learning:
        return "learning"
    return "ok"


def routine_table_exists(session: Session) -> bool:
    """Whether the anomaly engine's routine_summaries table is there (it arrives with its own migration)."""
    return inspect(session.connection()).has_table("routine_summaries")


def routines_days(session: Session) -> dict[str, int] | None:
    """Days learned per home, or None when there is no routine table."""
    if not routine_table_exists(session):
        return None
    try:
        rows = session.execute(text("SELECT home_id, days_learned FROM routine_summaries")).all()
    except SQLAlchemyError:
        return None
    return {str(h): int(d or 0) for h, d in rows}


def _open_alerts_by_home(session: Session) -> tuple[dict[str, int], dict[str, str]]:
    """Per home: how many alerts are open, and the most severe of them."""
    worst: dict[str, tuple[int, str]] = {}
    open_counts: dict[str, int] = defaultdict(int)
    for home_id, severity, n in session.execute(
        select(Alert.home_id, Alert.severity, func.count())
        .where(Alert.state.not_in(CLOSED_STATES))
        .group_by(Alert.home_id, Alert.severity)
    ):
        open_counts[home_id] += n
        rank = SEVERITY_ORDER.get(severity, len(SEVERITY_ORDER))
        if home_id not in worst or rank < worst[home_id][0]:
            worst[home_id] = (rank, severity)
    return open_counts, {home: sev for home, (_rank, sev) in worst.items()}


def _assignments(session: Session) -> tuple[dict[str, list[str]], dict[str, set[int]]]:
    """Per home: its responders' names in priority order, and their ids."""
    names: dict[str, list[str]] = defaultdict(list)
    assigned: dict[str, set[int]] = defaultdict(set)
    for home_id, rid, name in session.execute(
        select(Assignment.home_id, Responder.id, Responder.name)
        .join(Responder, Responder.id == Assignment.responder_id)
        .order_by(Assignment.home_id, Assignment.priority)
    ):
        names[home_id].append(name)
        assigned[home_id].add(rid)
    return names, assigned


def list_homes(session: Session, activity: Activity, now: datetime) -> HomesView:
    """Every home with its state, activity and responders (console/overview.py caches and filters this)."""
    open_counts, worst = _open_alerts_by_home(session)
    names, assigned = _assignments(session)
    days = routines_days(session)
    learn_since = now - timedelta(days=LEARNING_DAYS)
    counts = dict.fromkeys(HOME_STATES, 0)
    districts: set[str] = set()
    rows: list[HomeRow] = []
    for home_id, label, district, created_at in session.execute(
        select(Home.id, Home.label, Home.district, Home.created_at).order_by(Home.district, Home.label, Home.id)
    ):
        districts.add(district)
        # Without the anomaly engine's table, a home is learning for its first week.
        learning = (days.get(home_id, 0) < LEARNING_DAYS) if days is not None else created_at > learn_since
        sev = worst.get(home_id)
        last = activity.last_event.get(home_id)
        online = activity.online.get(home_id)
        battery = activity.min_battery.get(home_id)
        st = home_state(
            worst_severity=sev,
            online=online,
            last_activity=last,
            min_battery=battery,
            learning=learning,
            activity_available=activity.available,
            now=now,
        )
        counts[st] += 1
        rows.append(
            HomeRow(
                id=home_id,
                label=label,
                district=district,
                state=st,
                last_activity=last,
                online=online,
                open_alerts=open_counts.get(home_id, 0),
                worst_severity=sev,
                min_battery=battery,
                queue_depth=activity.queue_depth.get(home_id),
                responders=names.get(home_id, []),
                responder_ids=sorted(assigned.get(home_id, ())),
            )
        )
    return HomesView(
        activity_available=activity.available,
        activity_read_at=activity.read_at,
        total=sum(counts.values()),
        counts=counts,
        districts=sorted(districts),
        homes=rows,
    )


def residents(session: Session, home_id: str) -> list[ResidentRow]:
    """A home's residents with their contact details (personal data: check the role first)."""
    return [
        ResidentRow(name=r.full_name, phone=r.phone, notes=r.notes)
        for r in session.scalars(select(Resident).where(Resident.home_id == home_id).order_by(Resident.id))
    ]


def routine(session: Session, home_id: str) -> Routine | None:
    """The home's learned routine, or None when none is learned yet or there is no routine table."""
    if not routine_table_exists(session):
        return None
    try:
        row = session.execute(
            text(
                "SELECT updated_at, days_learned, confidence, summary FROM routine_summaries WHERE home_id = :h"
            ).bindparams(h=home_id)
        ).first()
    except SQLAlchemyError:
        return None
    if row is None:
        return None
    updated, days, confidence, summary = row
    return Routine(
        updated_at=_as_utc(updated),
        days_learned=int(days or 0),
        confidence=float(confidence or 0.0),
        summary=_as_dict(summary),
    )


def _as_dict(summary: Any) -> dict[str, Any]:
    """The routine summary as a dict, whether the driver returned JSON text or a parsed value."""
    if isinstance(summary, str):
        try:
            summary = json.loads(summary)
        except ValueError:
            summary = {}
    return summary if isinstance(summary, dict) else {}


def _as_utc(updated: Any) -> datetime | None:
    """A timestamp as an aware datetime, whether the driver returned text, a naive UTC value or an aware one."""
    if isinstance(updated, str):
        try:
            updated = datetime.fromisoformat(updated)
        except ValueError:
            return None
    if not isinstance(updated, datetime):
        return None
    return updated.replace(tzinfo=UTC) if updated.tzinfo is None else updated
