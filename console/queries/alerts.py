"""Alerts: the open and closed lists, one alert's detail with its timeline and SMS, and a home's silence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anxin.db.models import Alert, AlertEvent, Home, Responder, Silence, SmsOutbox
from console.queries.ladder import alert_ladder, help_rating
from console.queries.outbox import outbox_rows
from console.redaction import Redactor
from console.views import AlertDetail, AlertRow, AlertsView, TimelineEntry
from contracts.vocabulary import CLOSED_STATES, SEVERITY_ORDER, AlertState, TimelineAction


def _alert_rows(session: Session, where: Any, red: Redactor, limit: int | None = None) -> list[AlertRow]:
    query = (
        select(Alert, Home.label, Home.district, Responder.name)
        .join(Home, Alert.home_id == Home.id)
        .outerjoin(Responder, Alert.acknowledged_by == Responder.id)
        .where(where)
        .order_by(Alert.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        AlertRow(
            id=alert.id,
            home_id=alert.home_id,
            home_label=label,
            district=district,
            kind=alert.kind,
            severity=alert.severity,
            state=alert.state,
            code=red.code(alert.code),
            since=alert.since,
            opened_at=alert.opened_at,
            updated_at=alert.updated_at,
            resolved_at=alert.resolved_at,
            outcome=alert.outcome,
            count=alert.count,
            acknowledged_by=name or _operator_ack(alert),
        )
        for alert, label, district, name in session.execute(query)
    ]


def _operator_ack(alert: Alert) -> str | None:
    """Who took the alert when it was not a responder by SMS: the name on its timeline's acknowledgement."""
    if alert.ack_actor is None and alert.state != AlertState.ACKNOWLEDGED:
        return None
    for ev in reversed(alert.timeline):
        if ev.action == TimelineAction.ACKNOWLEDGED:
            by = (ev.detail or {}).get("by")
            return str(by) if by else ev.actor.split(":", 1)[-1]
    return alert.ack_actor.split(":", 1)[-1] if alert.ack_actor else None


def open_alerts(session: Session, red: Redactor) -> AlertsView:
    """Alerts neither resolved nor expired, most severe and then oldest first."""
    # Every state but the closed ones counts as open: new states added by alerts/ show up rather than vanish.
    rows = _alert_rows(session, Alert.state.not_in(CLOSED_STATES), red)
    rows.sort(key=lambda r: (SEVERITY_ORDER.get(r.severity, len(SEVERITY_ORDER)), r.since, r.id))
    return AlertsView(alerts=rows)


def recent_closed_alerts(session: Session, red: Redactor, limit: int = 50) -> AlertsView:
    """The newest resolved or expired alerts."""
    return AlertsView(alerts=_alert_rows(session, Alert.state.in_(CLOSED_STATES), red, limit))


def alert_detail(session: Session, alert_id: int, red: Redactor) -> AlertDetail | None:
    """An alert with its evidence, timeline (SMS entries with their delivery status) and SMS; None if unknown."""
    rows = _alert_rows(session, Alert.id == alert_id, red)
    if not rows:
        return None
    alert = session.get(Alert, alert_id)
    assert alert is not None
    sms = {m.id: m for m in outbox_rows(session, SmsOutbox.alert_id == alert_id, None, red)}
    responders = {r.id: r.name for r in session.scalars(select(Responder))}
    timeline: list[TimelineEntry] = []
    for ev in session.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)):
        detail = dict(ev.detail or {})
        entry = TimelineEntry(
            id=ev.id, at=ev.at, actor=ev.actor, action=ev.action, detail=_safe_detail(detail, red, alert.code)
        )
        outbox_id = detail.get("outbox")
        if isinstance(outbox_id, int) and outbox_id in sms:
            entry.sms_status = sms[outbox_id].status
            entry.sms_to = sms[outbox_id].to
        rid = detail.get("responder")
        if isinstance(rid, int):
            entry.responder = responders.get(rid)
        timeline.append(entry)
    now = datetime.now(UTC)
    silenced = active_silence(session, alert.home_id, now)
    return AlertDetail(
        alert=rows[0],
        evidence=_safe_detail(dict(alert.evidence or {}), red, alert.code),
        silenced_until=silenced,
        timeline=timeline,
        messages=sorted(sms.values(), key=lambda m: m.id),
        ladder=alert_ladder(session, alert, now),
        rating=help_rating(session, alert),
    )


def _safe_detail(detail: dict[str, Any], red: Redactor, code: str) -> dict[str, Any]:
    """A timeline or evidence dict redacted for the caller, provider keys, numbers, links and bodies dropped."""
    out: dict[str, Any] = {}
    for key, value in detail.items():
        if key in ("key", "sid", "to", "phone", "from", "body", "link", "url", "token"):
            continue
        out[key] = _safe_value(value, red, code)
    return out


def _safe_value(value: Any, red: Redactor, code: str) -> Any:
    if isinstance(value, str):
        return red.text(value, [code])
    if isinstance(value, dict):
        return _safe_detail(value, red, code)
    if isinstance(value, list):
        return [_safe_value(v, red, code) for v in value]
    return value


def active_silence(session: Session, home_id: str, now: datetime) -> datetime | None:
    """Until when the home's alerts are silenced (a silence or maintenance), or None."""
    ends = session.scalar(select(func.max(Silence.ends_at)).where(Silence.home_id == home_id, Silence.ends_at > now))
    home = session.get(Home, home_id)
    maintenance = home.maintenance_until if home is not None else None
    candidates = [t for t in (ends, maintenance) if t is not None and t > now]
    return max(candidates) if candidates else None


def home_alerts(session: Session, home_id: str, red: Redactor, limit: int = 50) -> AlertsView:
    """A home's alerts, newest first."""
    return AlertsView(alerts=_alert_rows(session, Alert.home_id == home_id, red, limit))
