"""The queues and task names the app, the workers and the UI agree on (no Celery import).

Ingest (open, text layer or OCR) is CPU work and goes to `cpu`; analysis runs the answering
engine and goes to `gpu`, where a GPU worker holds the model. A CPU-only deployment runs
one worker that reads both.
"""

from __future__ import annotations

from app.db.models import JobKind

QUEUES = {JobKind.INGEST: "cpu", JobKind.ANALYZE: "gpu"}
TASKS = {JobKind.INGEST: "docfuse.ingest", JobKind.ANALYZE: "docfuse.analyze"}
ALL_QUEUES = tuple(QUEUES.values())
