"""alerts: a Twilio delivery status fits whole (`partially_delivered` is 19 characters; the column held 16)

Revision ID: 0009_delivery_status
Revises: 0002_alerts (the alerts branch)
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_delivery_status"
down_revision = "0002_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sms_outbox") as batch_op:
        batch_op.alter_column("delivery_status", type_=sa.String(length=32), existing_type=sa.String(length=16))


def downgrade() -> None:
    with op.batch_alter_table("sms_outbox") as batch_op:
        batch_op.alter_column("delivery_status", type_=sa.String(length=16), existing_type=sa.String(length=32))
