"""registry: a kit sensor's room type (where the room's name does not say it) and a PIR's hold time, as given

Revision ID: 0011_sensor_meta
Revises: 0010_home_budget
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_sensor_meta"
# After 0010_home_budget (after 0007_sensor_role, after 0005_ingest, which makes home_sensors).
down_revision = "0010_home_budget"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("home_sensors", sa.Column("room_type", sa.String(length=16), nullable=True))
    op.add_column("home_sensors", sa.Column("hold_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("home_sensors") as batch_op:
        batch_op.drop_column("hold_s")
        batch_op.drop_column("room_type")
