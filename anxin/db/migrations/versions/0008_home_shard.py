"""registry: the Mosquitto shard a home was given at registration (anxin/shards.py); null is the first shard

Revision ID: 0008_home_shard
Revises: 0007_sensor_role
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_home_shard"
down_revision = "0007_sensor_role"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("homes", sa.Column("shard", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("homes") as batch_op:
        batch_op.drop_column("shard")
