"""fields.source and fields.row_boxes: where a field's value came from (the page, or an
embedded e-invoice), and a repeated field's boxes row by row

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 20:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fields") as batch:
        batch.add_column(
            sa.Column("source", sa.String(length=64), server_default="page", nullable=False)
        )
        batch.add_column(sa.Column("row_boxes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fields") as batch:
        batch.drop_column("row_boxes")
        batch.drop_column("source")
