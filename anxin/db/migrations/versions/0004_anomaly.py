"""anomaly: routine summaries per home

Revision ID: 0004_anomaly
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import anxin.db.models

revision = "0004_anomaly"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routine_summaries",
        sa.Column("home_id", sa.String(length=40), nullable=False),
        sa.Column("updated_at", anxin.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("days_learned", sa.Integer(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["home_id"], ["homes.id"]),
        sa.PrimaryKeyConstraint("home_id"),
    )


def downgrade() -> None:
    op.drop_table("routine_summaries")
