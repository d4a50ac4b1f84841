"""The console's reads from SQL: overview, alerts, homes, responders, audit, outbox and dead letters."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from pydantic import BaseModel
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from alerts.responders import is_available
from anxin.db.models import (
    Alert,
    AlertEvent,
    Assignment,
    AuditLog,
    DeadLetter,
    Home,
    Resident,
    Responder,
    Silence,
    SmsOutbox,
)
from anxin.zones import tz_of
from console.redaction import Redactor
from console.snapshot import Activity
from contracts.vocabulary import CLOSED_STATES, SEVERITY_ORDER, AlertState, TimelineAction

LOW_BATTERY = 20
QUIET_AFTER = timedelta(hours=24)
LEARNING_DAYS = 7
PAYLOAD_SHOWN = 500  # bytes of a dead letter's payload shown
DETAIL_SHOWN = 2000

HomeState = Literal["alert", "offline", "watch", "learning", "ok"]
HOME_STATES: tuple[str, ...] = get_args(HomeState)


class HomeRow(BaseModel):
    """One home on the overview: its state, latest activity, hub, open alerts and assigned responders."""

    id: str
    label: str
    district: str
    state: HomeState
    last_activity: datetime | None
    online: bool | None
    open_alerts: int
    worst_severity: str | None
    min_battery: int | None
    queue_depth: int | None
    responders: list[str]
    responder_ids: list[int]


class HomesView(BaseModel):
    """The overview; `activity_available` is false when InfluxDB could not be read."""

    activity_available: bool
    activity_read_at: datetime | None
    total: int
    counts: dict[str, int]
    districts: list[str]
    homes: list[HomeRow]


class AlertRow(BaseModel):
    """One alert as an operator sees it in a list."""

    id: int
    home_id: str
    home_label: str
    district: str
    kind: str
    severity: str
    state: str
    code: str | None = None  # the reply code: None for viewers
    since: datetime
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    outcome: str | None = None
    count: int
    acknowledged_by: str | None


class AlertsView(BaseModel):
    """Alerts, most severe and then oldest first."""

    alerts: list[AlertRow]


class TimelineEntry(BaseModel):
    """One line of an alert's timeline; SMS entries carry the message's current delivery status."""

    id: int
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]
    sms_status: str | None = None
    sms_to: str | None = None
    responder: str | None = None


class AlertDetail(BaseModel):
    """One alert with its evidence, timeline and the SMS it sent."""

    alert: AlertRow
    evidence: dict[str, Any]
    silenced_until: datetime | None
    timeline: list[TimelineEntry]
    messages: list[OutboxRow]


class OutboxRow(BaseModel):
    """One SMS of the outbox: its number masked (none for viewers), its link and, for viewers, its code redacted."""

    id: int
    created_at: datetime
    sent_at: datetime | None
    to: str | None
    responder: str | None
    alert_id: int | None
    alert_code: str | None
    lang: str
    status: str
    provider: str
    attempts: int
    body: str
    error: str | None


class OutboxView(BaseModel):
    """The newest SMS, newest first."""

    limit: int
    messages: list[OutboxRow]


class DeadLetterRow(BaseModel):
    """A message ingest rejected, with why and the start of its payload."""

    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    payload: str
    size: int


class DeadLettersView(BaseModel):
    """The newest dead letters and the count of each reason."""

    total: int
    reasons: dict[str, int]
    letters: list[DeadLetterRow]


class ResponderRow(BaseModel):
    """A volunteer or grid worker with assignments and how often they took alerts they were sent."""

    id: int
    name: str
    role: str
    lang: str
    phone: str | None
    verified: bool
    verified_at: datetime | None
    active: bool
    available_now: bool | None
    homes: list[str]
    alerts_notified: int
    alerts_acknowledged: int
    reliability: float | None


class RespondersView(BaseModel):
    """Every responder."""

    responders: list[ResponderRow]


class ResidentRow(BaseModel):
    """A resident's contact details; only for roles that may see personal data."""

    name: str
    phone: str | None
    notes: str | None


class Routine(BaseModel):
    """What the anomaly engine learned of a home's days (table routine_summaries)."""

    updated_at: datetime | None
    days_learned: int
    confidence: float
    summary: dict[str, Any]


class AuditRow(BaseModel):
    """One audit entry."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class AuditView(BaseModel):
    """Audit entries, newest first."""

    total: int
    entries: list[AuditRow]


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


def list_homes(
    session: Session,
    activity: Activity,
    now: datetime,
    *,
    district: str | None = None,
    state: str | None = None,
    responder: int | None = None,
    q: str | None = None,
) -> HomesView:
    """Every home with its state, activity and responders, filtered; counts are of all homes before filtering."""
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
    names: dict[str, list[str]] = defaultdict(list)
    assigned: dict[str, set[int]] = defaultdict(set)
    for home_id, rid, name in session.execute(
        select(Assignment.home_id, Responder.id, Responder.name)
        .join(Responder, Responder.id == Assignment.responder_id)
        .order_by(Assignment.home_id, Assignment.priority)
    ):
        names[home_id].append(name)
        assigned[home_id].add(rid)
    days = routines_days(session)
    learn_since = now - timedelta(days=LEARNING_DAYS)
    counts = dict.fromkeys(HOME_STATES, 0)
    districts: set[str] = set()
    needle = q.strip().casefold() if q else ""
    rows: list[HomeRow] = []
    for home_id, label, home_district, created_at in session.execute(
        select(Home.id, Home.label, Home.district, Home.created_at).order_by(Home.district, Home.label, Home.id)
    ):
        districts.add(home_district)
        learning = (days.get(home_id, 0) < LEARNING_DAYS) if days is not None else created_at > learn_since
        sev = worst.get(home_id, (0, None))[1]
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
        if (district and home_district != district) or (state and st != state):
            continue
        if responder is not None and responder not in assigned.get(home_id, ()):
            continue
        if needle and needle not in label.casefold() and needle not in home_id:
            continue
        rows.append(
            HomeRow(
                id=home_id,
                label=label,
                district=home_district,
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
    sms = {m.id: m for m in _outbox_rows(session, SmsOutbox.alert_id == alert_id, None, red)}
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
    silenced = active_silence(session, alert.home_id, datetime.now(UTC))
    return AlertDetail(
        alert=rows[0],
        evidence=_safe_detail(dict(alert.evidence or {}), red, alert.code),
        silenced_until=silenced,
        timeline=timeline,
        messages=sorted(sms.values(), key=lambda m: m.id),
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
    if isinstance(summary, str):
        try:
            summary = json.loads(summary)
        except ValueError:
            summary = {}
    if isinstance(updated, str):
        try:
            updated = datetime.fromisoformat(updated)
        except ValueError:
            updated = None
    if isinstance(updated, datetime) and updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
    return Routine(
        updated_at=updated if isinstance(updated, datetime) else None,
        days_learned=int(days or 0),
        confidence=float(confidence or 0.0),
        summary=summary if isinstance(summary, dict) else {},
    )


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


def audit_entries(session: Session, limit: int, offset: int = 0, actor: str | None = None) -> AuditView:
    """Audit entries, newest first."""
    where = AuditLog.actor == actor if actor else AuditLog.id.is_not(None)
    total = session.scalar(select(func.count()).select_from(AuditLog).where(where)) or 0
    rows = session.scalars(select(AuditLog).where(where).order_by(AuditLog.id.desc()).limit(limit).offset(offset))
    return AuditView(
        total=total,
        entries=[
            AuditRow(id=r.id, at=r.at, actor=r.actor, action=r.action, target=r.target, detail=r.detail or {})
            for r in rows
        ],
    )


def _outbox_rows(session: Session, where: Any, limit: int | None, red: Redactor) -> list[OutboxRow]:
    query = (
        select(SmsOutbox, Responder.name, Alert.code)
        .outerjoin(Responder, SmsOutbox.responder_id == Responder.id)
        .outerjoin(Alert, SmsOutbox.alert_id == Alert.id)
        .where(where)
        .order_by(SmsOutbox.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        OutboxRow(
            id=sms.id,
            created_at=sms.created_at,
            sent_at=sms.sent_at,
            to=red.number(sms.to_number),
            responder=name,
            alert_id=sms.alert_id,
            alert_code=red.code(code),
            lang=sms.lang,
            status=sms.delivery_status or sms.status,
            provider=sms.provider,
            attempts=sms.attempts,
            body=red.text(sms.body, [code]),
            error=red.text(sms.error, [code]) if sms.error else None,
        )
        for sms, name, code in session.execute(query)
    ]


def outbox(session: Session, limit: int, red: Redactor, status: str | None = None) -> OutboxView:
    """The newest `limit` SMS of the outbox, redacted for the caller (never a link; no number or code for viewers)."""
    where = SmsOutbox.status == status if status else SmsOutbox.id.is_not(None)
    return OutboxView(limit=limit, messages=_outbox_rows(session, where, limit, red))


def dead_letters(session: Session, limit: int, red: Redactor) -> DeadLettersView:
    """The newest dead letters, payloads shown as text up to 500 characters."""
    reasons = dict(session.execute(select(DeadLetter.reason, func.count()).group_by(DeadLetter.reason)).all())
    # Only the start of each payload leaves the database: a page of whole 64 KiB payloads took hundreds of MB.
    head = func.substr(DeadLetter.payload, 1, PAYLOAD_SHOWN)
    rows = session.execute(
        select(
            DeadLetter.id,
            DeadLetter.received_at,
            DeadLetter.topic,
            DeadLetter.reason,
            func.substr(DeadLetter.detail, 1, DETAIL_SHOWN),
            head,
            func.length(DeadLetter.payload),
        )
        .order_by(DeadLetter.id.desc())
        .limit(limit)
    )
    letters = [
        DeadLetterRow(
            id=id_,
            received_at=at,
            topic=topic,
            reason=reason,
            detail=red.text(detail or ""),
            payload=red.text(_as_text(payload)),
            size=int(size or 0),
        )
        for id_, at, topic, reason, detail, payload, size in rows
    ]
    return DeadLettersView(total=sum(reasons.values()), reasons=reasons, letters=letters)


def _as_text(value: Any) -> str:
    """A payload's head as text, whichever type the database driver returned it as."""
    if isinstance(value, str):
        return value
    return bytes(value or b"").decode("utf-8", errors="replace")


AlertDetail.model_rebuild()


class OverviewCache:
    """The unfiltered overview, recomputed only when alerts, homes, assignments or activity change (or each minute).

    At 10k homes building the rows costs a few hundred milliseconds; a page or API call then only filters them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._view: HomesView | None = None
        self.extras: dict[Any, Any] = {}  # renderings of the current view (JSON bytes, HTML rows per language)

    def key(self, session: Session, activity: Activity, now: datetime) -> tuple[Any, ...]:
        """What the overview depends on, in two cheap queries."""
        alerts = session.execute(select(func.max(Alert.id), func.max(Alert.updated_at), func.count(Alert.id))).one()
        homes = session.execute(select(func.count(Home.id), func.max(Home.created_at))).one()
        assigned = session.execute(select(func.count(Assignment.id), func.max(Assignment.id))).one()
        return (*alerts, *homes, *assigned, activity.generation, activity.available, int(now.timestamp() // 60))

    def get(self, session: Session, activity: Activity, now: datetime) -> tuple[HomesView, bool]:
        """The full overview, and whether it was rebuilt for this call."""
        with self._lock:
            key = self.key(session, activity, now)
            if key == self._key and self._view is not None:
                return self._view, False
            view = list_homes(session, activity, now)
            self._key, self._view, self.extras = key, view, {}
            return view, True


def filter_view(
    view: HomesView,
    *,
    district: str | None = None,
    state: str | None = None,
    responder: int | None = None,
    q: str | None = None,
) -> HomesView:
    """The overview with only the homes matching every given filter; counts stay those of all homes."""
    if not (district or state or responder or q):
        return view
    needle = q.strip().casefold() if q else ""
    rows = [
        h
        for h in view.homes
        if (not district or h.district == district)
        and (not state or h.state == state)
        and (responder is None or responder in h.responder_ids)
        and (not needle or needle in h.label.casefold() or needle in h.id)
    ]
    return view.model_copy(update={"homes": rows})
