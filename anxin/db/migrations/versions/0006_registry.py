"""registry: districts, residents' contacts and consent, responders' skills and vetter, homes' installer bundle

Revision ID: 0006_registry
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import anxin.db.models

revision = "0006_registry"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "districts",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("created_at", anxin.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # Plain ADD COLUMN on every backend (no table copy), so other branches' columns on these tables are untouched.
    op.add_column("homes", sa.Column("bundle_issued_at", anxin.db.models.UtcDateTime(timezone=True), nullable=True))
    op.add_column("homes", sa.Column("bundle_issued_by", sa.String(length=160), nullable=True))
    op.add_column("residents", sa.Column("contacts", sa.JSON(), nullable=True))
    op.add_column("residents", sa.Column("consent", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("residents", sa.Column("consent_at", anxin.db.models.UtcDateTime(timezone=True), nullable=True))
    op.add_column("responders", sa.Column("skills", sa.JSON(), nullable=True))
    op.add_column("responders", sa.Column("vetted_by", sa.String(length=160), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("responders") as batch_op:
        batch_op.drop_column("vetted_by")
        batch_op.drop_column("skills")
    with op.batch_alter_table("residents") as batch_op:
        batch_op.drop_column("consent_at")
        batch_op.drop_column("consent")
        batch_op.drop_column("contacts")
    with op.batch_alter_table("homes") as batch_op:
        batch_op.drop_column("bundle_issued_by")
        batch_op.drop_column("bundle_issued_at")
    op.drop_table("districts")
