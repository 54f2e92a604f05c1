"""corrections: a person's values beside the model's

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 12:48:20
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("list_index", sa.Integer(), nullable=False),
        sa.Column("schema_name", sa.String(length=64), nullable=True),
        sa.Column("field_name", sa.String(length=128), nullable=True),
        sa.Column("question", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("raw_text", sa.Text(), nullable=True),
        sa.Column("model_value", sa.Text(), nullable=True),
        sa.Column("field_id", sa.Integer(), nullable=True),
        sa.Column("answer_id", sa.Integer(), nullable=True),
        sa.Column("page_index", sa.Integer(), nullable=True),
        sa.Column("boxes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["answer_id"], ["answers.id"], name="fk_corrections_answer_id", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["field_id"], ["fields.id"], name="fk_corrections_field_id", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "target", "list_index", name="uq_correction_key"),
    )


def downgrade() -> None:
    op.drop_table("corrections")
