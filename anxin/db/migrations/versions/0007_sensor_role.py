"""registry: a kit sensor's role as the installer gives it (a pressure mat's bed, seat or floor; a fixture)

Revision ID: 0007_sensor_role
Revises: 0006_registry
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_sensor_role"
# After 0005_ingest too: home_sensors is made there.
down_revision = ("0006_registry", "0005_ingest")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("home_sensors", sa.Column("role", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("home_sensors") as batch_op:
        batch_op.drop_column("role")
