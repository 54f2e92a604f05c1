"""Job rows: what is running on which document, how far it got, and how it ended.

The UI and `docfuse documents` read these to show status and progress of long work; a job
left `running` by a killed process is visible as such instead of silently missing.
"""

from __future__ import annotations

import time

from sqlalchemy.orm import sessionmaker

from app.db.models import Job, JobStatus, utcnow

PROGRESS_INTERVAL_S = 0.5  # at most two progress writes a second: pages can be fast


class JobTracker:
    """One job: created running, updated as work advances, closed with an outcome."""

    def __init__(self, sessions: sessionmaker, document_id: int, kind: str) -> None:
        self._sessions = sessions
        self._last_write = 0.0
        with sessions() as session:
            job = Job(document_id=document_id, kind=kind, status=JobStatus.RUNNING)
            session.add(job)
            session.commit()
            self.id = job.id

    def progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last_write < PROGRESS_INTERVAL_S:
            return
        self._last_write = now
        self._update(progress=done / total if total else 0.0, message=f"{done} of {total} pages")

    def finish(self, status: JobStatus, message: str | None = None) -> None:
        progress = 1.0 if status == JobStatus.DONE else None
        self._update(status=status, message=message, finished_at=utcnow(), progress=progress)

    def _update(self, **values: object) -> None:
        with self._sessions() as session:
            job = session.get_one(Job, self.id)
            for name, value in values.items():
                if value is not None or name == "message":
                    setattr(job, name, value)
            session.commit()
