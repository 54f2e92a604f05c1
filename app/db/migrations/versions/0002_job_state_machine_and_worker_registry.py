"""job state machine and worker registry

Jobs become attempts with a payload, heartbeat and timings (QUEUED -> RUNNING -> DONE,
FAILED or CANCELLED); at most one ingest job per document may be active; workers register
themselves; text-layer pages no longer store an image.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:59:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ACTIVE_INGEST = "kind = 'ingest' AND status IN ('queued', 'running')"
NEW_JOB_COLUMNS = (
    "attempt",
    "retry_of",
    "parent_id",
    "payload",
    "engine",
    "worker",
    "pages_done",
    "pages_total",
    "sent_at",
    "started_at",
    "heartbeat_at",
)


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("queues", sa.String(length=255), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("engine", sa.String(length=32), nullable=False),
        sa.Column("engine_reason", sa.Text(), nullable=False),
        sa.Column("model", sa.String(length=512), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    # Jobs left active by the previous version had no heartbeat: they were interrupted.
    op.execute(
        "UPDATE jobs SET status = 'failed', message = 'interrupted (before upgrade)' "
        "WHERE status IN ('queued', 'running')"
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("retry_of", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("payload", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("engine", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("worker", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("pages_done", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("pages_total", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index("ix_jobs_status")
        batch_op.create_index("ix_jobs_status_kind", ["status", "kind"], unique=False)
        batch_op.create_index(
            "uq_jobs_active_ingest",
            ["document_id"],
            unique=True,
            sqlite_where=sa.text(ACTIVE_INGEST),
            postgresql_where=sa.text(ACTIVE_INGEST),
        )
        for name, column in (("fk_jobs_retry_of", "retry_of"), ("fk_jobs_parent_id", "parent_id")):
            batch_op.create_foreign_key(name, "jobs", [column], ["id"], ondelete="SET NULL")
        batch_op.drop_column("progress")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for column in ("attempt", "payload", "pages_done", "pages_total"):
            batch_op.alter_column(column, server_default=None)

    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.alter_column("image_path", existing_type=sa.String(length=1024), nullable=True)


def downgrade() -> None:
    # The old version needs a stored image for every page: send documents that have pages
    # without one back to be ingested again.
    op.execute(
        "UPDATE documents SET status = 'failed', page_count = 0, "
        "error = 'pages need re-rendering after a downgrade: ingest the file again' "
        "WHERE id IN (SELECT document_id FROM pages WHERE image_path IS NULL)"
    )
    op.execute(
        "DELETE FROM pages WHERE document_id IN (SELECT id FROM documents WHERE status = 'failed')"
    )
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.alter_column("image_path", existing_type=sa.String(length=1024), nullable=False)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("progress", sa.Float(), nullable=False, server_default="0"))
        batch_op.drop_constraint("fk_jobs_retry_of", type_="foreignkey")
        batch_op.drop_constraint("fk_jobs_parent_id", type_="foreignkey")
        batch_op.drop_index("uq_jobs_active_ingest")
        batch_op.drop_index("ix_jobs_status_kind")
        batch_op.create_index("ix_jobs_status", ["status"], unique=False)
        for column in NEW_JOB_COLUMNS:
            batch_op.drop_column(column)
    op.drop_table("workers")
