"""Heartbeats of running work, written from a background thread.

While a job runs, `Heartbeat` refreshes `heartbeat_at` of its jobs every interval. A job
whose heartbeat goes stale was interrupted (its process was killed, its machine lost) and
app.services.recovery retries it. The same UPDATE tells the work which of its jobs are no
longer RUNNING (cancelled, or given up as stale), so it can stop at its next boundary
instead of finishing work nobody will keep.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from types import TracebackType

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from app.db.models import JobRecord, JobStatus, utcnow

logger = logging.getLogger(__name__)


class Heartbeat:
    """Context manager: beats for `job_ids` until the block ends."""

    def __init__(self, sessions: sessionmaker, job_ids: Sequence[int], interval_s: float):
        self._sessions = sessions
        self._job_ids = list(job_ids)
        self._interval_s = interval_s
        self._lost: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="docfuse-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def lost(self, job_id: int) -> bool:
        """True once a beat found the job no longer RUNNING (cancelled or given up)."""
        return job_id in self._lost

    def beat(self) -> None:
        """Refresh the heartbeat of every job still running; note the others."""
        remaining = [job_id for job_id in self._job_ids if job_id not in self._lost]
        if not remaining:
            return
        with self._sessions() as session:
            alive = session.scalars(
                update(JobRecord)
                .where(JobRecord.id.in_(remaining), JobRecord.status == JobStatus.RUNNING)
                .values(heartbeat_at=utcnow())
                .returning(JobRecord.id)
                .execution_options(synchronize_session=False)
            ).all()
            session.commit()
        self._lost |= set(remaining) - set(alive)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.beat()
            except SQLAlchemyError as error:  # the database may be back at the next beat
                logger.warning("heartbeat not written: %s", error)
