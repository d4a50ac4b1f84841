"""The console's reads: homes, alerts and the SMS outbox from SQL, activity from InfluxDB."""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anxin.db.models import Alert, Home, Responder, SmsOutbox
from anxin.influxql import InfluxQL, InfluxQueryError

log = logging.getLogger(__name__)
_influx_down = False  # warn once per outage, not on every page refresh

# Every other state counts as open: new states added by alerts/ show up rather than vanish.
CLOSED_STATES = ("resolved", "expired")
LAST_ACTIVITY_QUERY = 'SELECT last("seq") FROM "sensor_event" WHERE time > now() - 30d GROUP BY "home"'
ONLINE_QUERY = 'SELECT last("online") FROM "agent_status" GROUP BY "home"'
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
# E.164 numbers (how Twilio quotes them in errors) and bare Chinese mobile numbers; not dates or codes.
_PHONE_IN_TEXT = re.compile(r"(?<![\w+])(?:\+\d{7,15}|1[3-9]\d{9})(?!\w)")


class HomeRow(BaseModel):
    """One home with its latest activity, hub state and open alert count."""

    id: str
    label: str
    district: str
    last_activity: datetime | None
    online: bool | None
    open_alerts: int


class HomesView(BaseModel):
    """The home list; `activity_available` is false when InfluxDB could not be read."""

    activity_available: bool
    homes: list[HomeRow]


class AlertRow(BaseModel):
    """One open alert as an operator sees it."""

    id: int
    home_id: str
    home_label: str
    district: str
    kind: str
    severity: str
    state: str
    code: str
    since: datetime
    opened_at: datetime
    updated_at: datetime
    count: int
    acknowledged_by: str | None


class AlertsView(BaseModel):
    """Open alerts, most severe and then oldest first."""

    alerts: list[AlertRow]


class OutboxRow(BaseModel):
    """One SMS of the outbox, its number masked."""

    id: int
    created_at: datetime
    sent_at: datetime | None
    to: str
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


@dataclass(frozen=True)
class Activity:
    """Per home, the time of the newest sensor event and whether its hub is online."""

    available: bool
    last_event: dict[str, datetime] = field(default_factory=dict)
    online: dict[str, bool] = field(default_factory=dict)


def mask_phone(number: str) -> str:
    """A phone number with its middle hidden: +8613812341234 -> +86******1234."""
    number = number.strip()
    if len(number) <= 6:
        return "*" * len(number)
    head = number[:3] if number.startswith("+") else ""
    return f"{head}******{number[-4:]}"


def mask_numbers_in(text: str) -> str:
    """Text with every phone-number-like run masked (provider errors quote the number)."""
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group()), text)


def _ms(value: float) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def last_events(influx: InfluxQL) -> dict[str, datetime]:
    """Time of each home's newest sensor event in the last 30 days, in one query."""
    out: dict[str, datetime] = {}
    for series in influx.query(LAST_ACTIVITY_QUERY):
        home = series.tags.get("home")
        if home and series.values:
            out[home] = _ms(series.values[0][series.columns.index("time")])
    return out


def online_homes(influx: InfluxQL) -> dict[str, bool]:
    """Whether each home's hub last said it was online, in one query."""
    out: dict[str, bool] = {}
    for series in influx.query(ONLINE_QUERY):
        home = series.tags.get("home")
        if home and series.values:
            value = series.values[0][series.columns.index("last")]
            if value is not None:
                out[home] = bool(int(value))
    return out


def fetch_activity(influx: InfluxQL) -> Activity:
    """Both activity lookups, run side by side; unavailable rather than raising when InfluxDB fails."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="console-influx") as pool:
        events = pool.submit(last_events, influx)
        online = pool.submit(online_homes, influx)
        try:
            activity = Activity(True, events.result(), online.result())
        except (InfluxQueryError, ValueError, TypeError, IndexError) as err:
            _note_influx(down=True, why=str(err))
            return Activity(False)
    _note_influx(down=False)
    return activity


def _note_influx(down: bool, why: str = "") -> None:
    global _influx_down
    if down and not _influx_down:
        log.warning("activity data unavailable, pages show SQL data only: %s", why)
    elif down:
        log.debug("activity data still unavailable: %s", why)
    elif _influx_down:
        log.info("activity data available again")
    _influx_down = down


def list_homes(session: Session, influx: InfluxQL) -> HomesView:
    """Every home with its last activity, hub state and open alert count."""
    counts: dict[str, int] = {
        home_id: n
        for home_id, n in session.execute(
            select(Alert.home_id, func.count()).where(Alert.state.not_in(CLOSED_STATES)).group_by(Alert.home_id)
        )
    }
    homes = session.execute(
        select(Home.id, Home.label, Home.district).order_by(Home.district, Home.label, Home.id)
    ).all()
    activity = fetch_activity(influx)
    rows = [
        HomeRow(
            id=home_id,
            label=label,
            district=district,
            last_activity=activity.last_event.get(home_id),
            online=activity.online.get(home_id),
            open_alerts=counts.get(home_id, 0),
        )
        for home_id, label, district in homes
    ]
    return HomesView(activity_available=activity.available, homes=rows)


def open_alerts(session: Session) -> AlertsView:
    """Alerts neither resolved nor expired, with their home and who acknowledged them."""
    query = (
        select(Alert, Home.label, Home.district, Responder.name)
        .join(Home, Alert.home_id == Home.id)
        .outerjoin(Responder, Alert.acknowledged_by == Responder.id)
        .where(Alert.state.not_in(CLOSED_STATES))
    )
    rows = [
        AlertRow(
            id=alert.id,
            home_id=alert.home_id,
            home_label=label,
            district=district,
            kind=alert.kind,
            severity=alert.severity,
            state=alert.state,
            code=alert.code,
            since=alert.since,
            opened_at=alert.opened_at,
            updated_at=alert.updated_at,
            count=alert.count,
            acknowledged_by=name,
        )
        for alert, label, district, name in session.execute(query)
    ]
    rows.sort(key=lambda r: (SEVERITY_ORDER.get(r.severity, len(SEVERITY_ORDER)), r.since, r.id))
    return AlertsView(alerts=rows)


def outbox(session: Session, limit: int) -> OutboxView:
    """The newest `limit` SMS of the outbox, phone numbers masked."""
    query = (
        select(SmsOutbox, Responder.name, Alert.code)
        .outerjoin(Responder, SmsOutbox.responder_id == Responder.id)
        .outerjoin(Alert, SmsOutbox.alert_id == Alert.id)
        .order_by(SmsOutbox.id.desc())
        .limit(limit)
    )
    rows = [
        OutboxRow(
            id=sms.id,
            created_at=sms.created_at,
            sent_at=sms.sent_at,
            to=mask_phone(sms.to_number),
            responder=name,
            alert_id=sms.alert_id,
            alert_code=code,
            lang=sms.lang,
            status=sms.status,
            provider=sms.provider,
            attempts=sms.attempts,
            body=mask_numbers_in(sms.body),
            error=mask_numbers_in(sms.error) if sms.error else None,
        )
        for sms, name, code in session.execute(query)
    ]
    return OutboxView(limit=limit, messages=rows)
