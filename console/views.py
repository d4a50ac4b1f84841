"""The console's view models: what its pages and its JSON API show, built by the queries in console/queries/."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel

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


class LadderPage(BaseModel):
    """One person paged on a rung of the ladder: when, whether the SMS arrived, what they replied."""

    responder_id: int | None
    responder: str
    paged_at: datetime
    sent_at: datetime | None
    status: str  # the provider's delivery status when known, else the outbox row's
    reply: str | None = None  # the latest result of their SMS replies to this alert (acknowledged, resolved, ...)
    reply_at: datetime | None = None
    took_it: bool = False


class LadderRung(BaseModel):
    """One step of one round: how long it waits, how many of each group it pages, and who it paged."""

    round: int
    step: int
    wait_s: float
    groups: dict[str, int]
    pages: list[LadderPage]
    reached: bool
    current: bool


class LadderNext(BaseModel):
    """What the ladder does next and when: page a step (with who would be paged now), remind, or resume."""

    action: Literal["page", "remind", "reescalate", "resume", "expire"]
    at: datetime | None
    round: int | None = None
    step: int | None = None
    names: list[str] = []


class LadderView(BaseModel):
    """Where an alert's escalation stands, live: the rungs of this round and earlier ones, and what comes next."""

    state: str
    step: int
    round: int
    steps: int
    taken: bool
    taken_by: str | None
    operator_after_s: float | None  # how long volunteers have before the operator is paged (help requests)
    rungs: list[LadderRung]
    next: LadderNext | None


class AlertDetail(BaseModel):
    """One alert with its evidence, timeline, the SMS it sent and its ladder."""

    alert: AlertRow
    evidence: dict[str, Any]
    silenced_until: datetime | None
    timeline: list[TimelineEntry]
    messages: list[OutboxRow]
    ladder: LadderView | None = None
    rating: int | None = None  # a help request's latest 1-5 rating


class DeadLetterRow(BaseModel):
    """A message ingest rejected, with why and the start of its payload."""

    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    payload: str
    size: int


class DeadLetterSource(BaseModel):
    """Every rejection of one home for one reason: the exact count, how many became samples, and the latest one."""

    home: str  # "-": no home in the topic; "*": homes past ingest's bound on distinct homes
    reason: str
    count: int
    sampled: int
    first_at: datetime
    last_at: datetime
    last_topic: str
    last_detail: str


class DeadLettersView(BaseModel):
    """Exact counts of what ingest rejected (in all, per reason, per home and reason) and the newest samples kept."""

    total: int
    reasons: dict[str, int]
    kept: int  # rows in dead_letters: the samples, of which `letters` are the newest
    sources: list[DeadLetterSource]  # the (home, reason) pairs rejected most recently
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
    helped: int = 0  # alerts and help requests where they gave help
    credit: int = 0  # 信用积分: alerts.responders.credit (1 per page answered, 3 per help given)


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
