"""SQL tables: homes, residents, responders, assignments, alerts and timelines, SMS outbox, dead letters, audit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import DateTime, TypeDecorator

from contracts.vocabulary import DEFAULT_TIMEZONE


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        # SQLite keeps no offset: store UTC so reading it back as UTC is right.
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), dict[str, Any]: JSON()}


class Home(Base):
    """A home, known on the wire only by its opaque id."""

    __tablename__ = "homes"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(80))
    district: Mapped[str] = mapped_column(String(80), index=True)
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    created_at: Mapped[datetime]
    maintenance_until: Mapped[datetime | None]
    # alerts (0002_alerts): where the home is, for ranking responders by distance; the address is told only to
    # whoever acknowledged an alert.
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    address: Mapped[str | None] = mapped_column(String(200))
    # registry (0006_registry): when and by whom the installer bundle (with the broker password) was downloaded.
    bundle_issued_at: Mapped[datetime | None]
    bundle_issued_by: Mapped[str | None] = mapped_column(String(160))
    # shards (0008_home_shard): the Mosquitto shard the home was given at registration; None is the first shard.
    shard: Mapped[str | None] = mapped_column(String(32))
    # anomaly (0010_home_budget): false long_inactivity alarms per 60 days the operator accepts for this home (the
    # console's registry page); None is the deployment's default. The anomaly service reads it with the kits.
    false_alarm_budget: Mapped[float | None]
    assignments: Mapped[list[Assignment]] = relationship(back_populates="home", order_by="Assignment.priority")


class Resident(Base):
    """A person living in a home; personal data, shown only to roles that may see it."""

    __tablename__ = "residents"
    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[str] = mapped_column(ForeignKey("homes.id"), index=True)
    full_name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(32))
    notes: Mapped[str | None] = mapped_column(Text)
    # registry (0006_registry): family and other contacts ({name, relation, phone}), and consent to be monitored.
    contacts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    consent: Mapped[bool] = mapped_column(default=False, server_default="0")
    consent_at: Mapped[datetime | None]


class Responder(Base):
    """A volunteer, grid worker or operator who can be sent an SMS."""

    __tablename__ = "responders"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(32), unique=True)
    lang: Mapped[str] = mapped_column(String(8), default="zh-CN")
    role: Mapped[str] = mapped_column(String(16), default="volunteer")
    verified: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    # alerts (0002_alerts): vetting, where they are, when they are on duty, STOP, and their reliability record.
    district: Mapped[str | None] = mapped_column(String(80), index=True)
    verified_at: Mapped[datetime | None]
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    availability: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE, server_default=DEFAULT_TIMEZONE)
    opted_out: Mapped[bool] = mapped_column(default=False, server_default="0")
    notified_count: Mapped[int] = mapped_column(default=0, server_default="0")
    ack_count: Mapped[int] = mapped_column(default=0, server_default="0")
    ack_seconds_total: Mapped[float] = mapped_column(default=0.0, server_default="0")
    helped_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # registry (0006_registry): what they can do, and who vetted them (verified_at says when).
    skills: Mapped[list[str] | None] = mapped_column(JSON)
    vetted_by: Mapped[str | None] = mapped_column(String(160))


class District(Base):
    """registry (0006_registry): a district; homes and responders name it, its escalation policy is keyed by it."""

    __tablename__ = "districts"
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime]


class Assignment(Base):
    """A responder assigned to a home, lower priority first."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("home_id", "responder_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[str] = mapped_column(ForeignKey("homes.id"), index=True)
    responder_id: Mapped[int] = mapped_column(ForeignKey("responders.id"), index=True)
    priority: Mapped[int] = mapped_column(default=1)
    home: Mapped[Home] = relationship(back_populates="assignments")
    responder: Mapped[Responder] = relationship()


class Alert(Base):
    """One alert per home and kind while open; repeated findings raise its count."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_open", "home_id", "kind", "state"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[str] = mapped_column(ForeignKey("homes.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    code: Mapped[str] = mapped_column(String(12), index=True)
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    since: Mapped[datetime]
    count: Mapped[int] = mapped_column(default=1)
    first_finding_id: Mapped[str] = mapped_column(String(96), unique=True)
    evidence: Mapped[dict[str, Any]]
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("responders.id"))
    resolved_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(32))
    # alerts (0002_alerts): the escalation policy frozen at open, where the ladder stands, who acted.
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    step: Mapped[int] = mapped_column(default=0, server_default="0")
    round: Mapped[int] = mapped_column(default=1, server_default="1")
    next_action_at: Mapped[datetime | None] = mapped_column(index=True)
    acknowledged_at: Mapped[datetime | None]
    ack_actor: Mapped[str | None] = mapped_column(String(160))
    reminders_sent: Mapped[int] = mapped_column(default=0, server_default="0")
    resolved_by: Mapped[str | None] = mapped_column(String(160))
    silenced_reason: Mapped[str | None] = mapped_column(String(200))
    feedback_sent_at: Mapped[datetime | None]
    home: Mapped[Home] = relationship()
    timeline: Mapped[list[AlertEvent]] = relationship(order_by="AlertEvent.id", back_populates="alert")


class AlertEvent(Base):
    """One entry of an alert's timeline: who did what, when."""

    __tablename__ = "alert_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]]
    alert: Mapped[Alert] = relationship(back_populates="timeline")


class SmsOutbox(Base):
    """An SMS, written before it is sent so a crash never sends it twice or loses it."""

    __tablename__ = "sms_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    responder_id: Mapped[int | None] = mapped_column(ForeignKey("responders.id"))
    to_number: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # alerts (0002_alerts): why it is sent, when it is due, who holds it (a lease, so a crash never sends it twice),
    # and what the status callback said.
    purpose: Mapped[str] = mapped_column(String(16), default="page", server_default="page")
    step: Mapped[int | None]
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    delivery_status: Mapped[str | None] = mapped_column(String(32))  # Twilio's longest is partially_delivered
    delivery_error: Mapped[str | None] = mapped_column(String(16))


class DeadLetter(Base):
    """A message ingest rejected, kept with its reason for inspection."""

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    topic: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class DeadLetterCount(Base):
    """ingest (0005_ingest): every rejected message counted per home and reason, with the latest one's start."""

    __tablename__ = "dead_letter_counts"
    home: Mapped[str] = mapped_column(String(40), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    sampled: Mapped[int] = mapped_column(default=0)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime] = mapped_column(index=True)
    last_topic: Mapped[str] = mapped_column(String(256))
    last_detail: Mapped[str] = mapped_column(Text)
    last_payload: Mapped[bytes] = mapped_column(LargeBinary)


class HomeSensor(Base):
    """ingest (0005_ingest): a home's registered kit; ingest stores no series outside it (unknown_sensor)."""

    __tablename__ = "home_sensors"
    home_id: Mapped[str] = mapped_column(ForeignKey("homes.id", ondelete="CASCADE"), primary_key=True)
    sensor: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    room: Mapped[str | None] = mapped_column(String(32))
    # The agent the sensor reports through; None: any agent of the home.
    agent: Mapped[str | None] = mapped_column(String(64))
    # registry (0007_sensor_role): what the installer says it is for (a pressure mat's bed, seat or floor; a fixture).
    role: Mapped[str | None] = mapped_column(String(32))
    # registry (0011_sensor_meta): the room's type where its name does not say it (contracts.vocabulary.ROOM_TYPES),
    # and a motion sensor's hold time in seconds (how long it stays on after seeing someone), as the installer gives.
    room_type: Mapped[str | None] = mapped_column(String(16))
    hold_s: Mapped[float | None]


class AuditLog(Base):
    """Who viewed or changed what."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]]


class Operator(Base):
    """A console account: username, argon2 password hash, role and failed log-in counter."""

    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class ConsoleSession(Base):
    """A logged-in browser session; only the SHA-256 of its cookie is stored."""

    __tablename__ = "console_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime]


class ApiToken(Base):
    """A token for the console's JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AlertFinding(Base):
    """A finding counted on an alert; the unique finding id makes a redelivered finding a no-op."""

    __tablename__ = "alert_findings"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    finding_id: Mapped[str] = mapped_column(String(96), unique=True)
    at: Mapped[datetime]


class EscalationPolicy(Base):
    """An escalation policy for a district (home_id empty) or an override for one home (merged over its district)."""

    __tablename__ = "escalation_policies"
    __table_args__ = (UniqueConstraint("district", "home_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    district: Mapped[str | None] = mapped_column(String(80), index=True)
    home_id: Mapped[str | None] = mapped_column(ForeignKey("homes.id"), index=True)
    spec: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class Silence(Base):
    """No paging for a home (some kinds, or all) until `ends_at`: maintenance, or the resident away by arrangement."""

    __tablename__ = "silences"
    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[str] = mapped_column(ForeignKey("homes.id"), index=True)
    category: Mapped[str] = mapped_column(String(16))
    kinds: Mapped[list[str] | None] = mapped_column(JSON)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime]


class SmsInbound(Base):
    """An SMS reply received on the Twilio webhook, kept once per MessageSid (Twilio may post it again)."""

    __tablename__ = "sms_inbound"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    responder_id: Mapped[int | None] = mapped_column(ForeignKey("responders.id"), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime]


class RoutineSummary(Base):
    """anomaly (0004_anomaly): what a home's learned routine looks like, for the console; one row per home."""

    __tablename__ = "routine_summaries"
    home_id: Mapped[str] = mapped_column(ForeignKey("homes.id"), primary_key=True)
    updated_at: Mapped[datetime]
    days_learned: Mapped[int] = mapped_column(default=0)
    confidence: Mapped[float] = mapped_column(default=0.0)
    summary: Mapped[dict[str, Any]]
