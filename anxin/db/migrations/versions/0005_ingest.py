"""ingest: dead-letter counts per home and reason, and each home's registered kit

Revision ID: 0005_ingest
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import anxin.db.models

revision = "0005_ingest"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letter_counts",
        sa.Column("home", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("sampled", sa.Integer(), nullable=False),
        sa.Column("first_at", anxin.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_at", anxin.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_topic", sa.String(length=256), nullable=False),
        sa.Column("last_detail", sa.Text(), nullable=False),
        sa.Column("last_payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("home", "reason"),
    )
    with op.batch_alter_table("dead_letter_counts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dead_letter_counts_last_at"), ["last_at"], unique=False)
    op.create_table(
        "home_sensors",
        sa.Column("home_id", sa.String(length=40), nullable=False),
        sa.Column("sensor", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("room", sa.String(length=32), nullable=True),
        sa.Column("agent", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["home_id"], ["homes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("home_id", "sensor"),
    )


def downgrade() -> None:
    op.drop_table("home_sensors")
    with op.batch_alter_table("dead_letter_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dead_letter_counts_last_at"))
    op.drop_table("dead_letter_counts")
