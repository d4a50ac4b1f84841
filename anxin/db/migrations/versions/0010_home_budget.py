"""anomaly: an operator's false-alarm budget per home, set in the console; null is the deployment's default

Revision ID: 0010_home_budget
Revises: 0008_home_shard
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_home_budget"
down_revision = "0008_home_shard"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("homes", sa.Column("false_alarm_budget", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("homes") as batch_op:
        batch_op.drop_column("false_alarm_budget")
