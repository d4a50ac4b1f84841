"""alerts: responders' vetting, location, availability and reliability; escalation policies; silences; ladder state on
alerts; outbox leases and delivery status; findings per alert; inbound SMS

Revision ID: 0002_alerts
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import anxin.db.models

revision = "0002_alerts"
down_revision = "0001"
branch_labels = ("alerts",)
depends_on = None

UTC_DT = anxin.db.models.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("homes") as b:
        b.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        b.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        b.add_column(sa.Column("address", sa.String(length=200), nullable=True))

    with op.batch_alter_table("responders") as b:
        b.add_column(sa.Column("district", sa.String(length=80), nullable=True))
        b.add_column(sa.Column("verified_at", UTC_DT, nullable=True))
        b.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        b.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        b.add_column(sa.Column("availability", sa.JSON(), nullable=True))
        b.add_column(sa.Column("timezone", sa.String(length=64), nullable=False, server_default="Asia/Shanghai"))
        b.add_column(sa.Column("opted_out", sa.Boolean(), nullable=False, server_default=sa.false()))
        b.add_column(sa.Column("notified_count", sa.Integer(), nullable=False, server_default="0"))
        b.add_column(sa.Column("ack_count", sa.Integer(), nullable=False, server_default="0"))
        b.add_column(sa.Column("ack_seconds_total", sa.Float(), nullable=False, server_default="0"))
        b.add_column(sa.Column("helped_count", sa.Integer(), nullable=False, server_default="0"))
        b.create_index("ix_responders_district", ["district"], unique=False)

    with op.batch_alter_table("alerts") as b:
        b.add_column(sa.Column("policy", sa.JSON(), nullable=True))
        b.add_column(sa.Column("step", sa.Integer(), nullable=False, server_default="0"))
        b.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="1"))
        b.add_column(sa.Column("next_action_at", UTC_DT, nullable=True))
        b.add_column(sa.Column("acknowledged_at", UTC_DT, nullable=True))
        b.add_column(sa.Column("ack_actor", sa.String(length=160), nullable=True))
        b.add_column(sa.Column("reminders_sent", sa.Integer(), nullable=False, server_default="0"))
        b.add_column(sa.Column("resolved_by", sa.String(length=160), nullable=True))
        b.add_column(sa.Column("silenced_reason", sa.String(length=200), nullable=True))
        b.add_column(sa.Column("feedback_sent_at", UTC_DT, nullable=True))
        b.create_index("ix_alerts_next_action_at", ["next_action_at"], unique=False)

    with op.batch_alter_table("sms_outbox") as b:
        b.add_column(sa.Column("purpose", sa.String(length=16), nullable=False, server_default="page"))
        b.add_column(sa.Column("step", sa.Integer(), nullable=True))
        b.add_column(sa.Column("next_attempt_at", UTC_DT, nullable=True))
        b.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        b.add_column(sa.Column("claimed_until", UTC_DT, nullable=True))
        b.add_column(sa.Column("delivery_status", sa.String(length=16), nullable=True))
        b.add_column(sa.Column("delivery_error", sa.String(length=16), nullable=True))
        b.create_index("ix_sms_outbox_next_attempt_at", ["next_attempt_at"], unique=False)

    op.create_table(
        "alert_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("finding_id", sa.String(length=96), nullable=False),
        sa.Column("at", UTC_DT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("finding_id"),
    )
    op.create_index("ix_alert_findings_alert_id", "alert_findings", ["alert_id"], unique=False)
    # Alerts opened before this migration: their first finding counts as seen.
    op.execute(
        "INSERT INTO alert_findings (alert_id, finding_id, at) SELECT id, first_finding_id, opened_at FROM alerts"
    )

    op.create_table(
        "escalation_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district", sa.String(length=80), nullable=True),
        sa.Column("home_id", sa.String(length=40), sa.ForeignKey("homes.id"), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC_DT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("district", "home_id"),
    )
    op.create_index("ix_escalation_policies_district", "escalation_policies", ["district"], unique=False)
    op.create_index("ix_escalation_policies_home_id", "escalation_policies", ["home_id"], unique=False)

    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("home_id", sa.String(length=40), sa.ForeignKey("homes.id"), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=True),
        sa.Column("starts_at", UTC_DT, nullable=False),
        sa.Column("ends_at", UTC_DT, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=160), nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_silences_home_id", "silences", ["home_id"], unique=False)
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"], unique=False)

    op.create_table(
        "sms_inbound",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("responder_id", sa.Integer(), sa.ForeignKey("responders.id"), nullable=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("result", sa.String(length=32), nullable=False),
        sa.Column("received_at", UTC_DT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_sid"),
    )
    op.create_index("ix_sms_inbound_responder_id", "sms_inbound", ["responder_id"], unique=False)
    op.create_index("ix_sms_inbound_alert_id", "sms_inbound", ["alert_id"], unique=False)


def downgrade() -> None:
    op.drop_table("sms_inbound")
    op.drop_table("silences")
    op.drop_table("escalation_policies")
    op.drop_table("alert_findings")
    with op.batch_alter_table("sms_outbox") as b:
        b.drop_index("ix_sms_outbox_next_attempt_at")
        for c in (
            "delivery_error",
            "delivery_status",
            "claimed_until",
            "claimed_by",
            "next_attempt_at",
            "step",
            "purpose",
        ):
            b.drop_column(c)
    with op.batch_alter_table("alerts") as b:
        b.drop_index("ix_alerts_next_action_at")
        for c in (
            "feedback_sent_at",
            "silenced_reason",
            "resolved_by",
            "reminders_sent",
            "ack_actor",
            "acknowledged_at",
            "next_action_at",
            "round",
            "step",
            "policy",
        ):
            b.drop_column(c)
    with op.batch_alter_table("responders") as b:
        b.drop_index("ix_responders_district")
        for c in (
            "helped_count",
            "ack_seconds_total",
            "ack_count",
            "notified_count",
            "opted_out",
            "timezone",
            "availability",
            "longitude",
            "latitude",
            "verified_at",
            "district",
        ):
            b.drop_column(c)
    with op.batch_alter_table("homes") as b:
        for c in ("address", "longitude", "latitude"):
            b.drop_column(c)
