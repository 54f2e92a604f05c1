"""What a worker's main process does beside consuming tasks, in one background thread:

- keeps its row in the workers' registry fresh (so the UI and `ingest --wait` know which
  engine answers, and that someone is alive to do the work);
- runs the recovery pass every `reconcile_interval_s`: interrupted jobs are retried and
  queued jobs whose message is gone (Redis restarted, say) are sent again. Every worker
  runs it; the conditional updates in app.services.recovery make concurrent passes safe.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from app.answer_engines import choose_engine
from app.config import Settings
from app.db import open_database
from app.dispatch import Dispatcher
from app.services.workers import beat_worker, register_worker, unregister_worker

logger = logging.getLogger(__name__)


class Maintenance(threading.Thread):
    def __init__(self, settings: Settings, *, name: str, queues: list[str], concurrency: int):
        super().__init__(name="docfuse-maintenance", daemon=True)
        self.settings = settings
        self.worker_name = name
        self.queues = queues
        self.concurrency = concurrency
        self._stop_event = threading.Event()

    def run(self) -> None:
        sessions = open_database(self.settings)
        dispatcher = Dispatcher(self.settings, sessions)
        self._register(sessions)
        next_repair = time.monotonic()
        while not self._stop_event.is_set():
            try:
                with sessions() as session:
                    beat_worker(session=session, name=self.worker_name)
                if time.monotonic() >= next_repair:
                    dispatcher.reconcile()
                    next_repair = time.monotonic() + self.settings.reconcile_interval_s
            except SQLAlchemyError as error:  # the database may be back next time
                logger.warning("worker maintenance skipped a beat: %s", error)
            self._stop_event.wait(self.settings.heartbeat_interval_s)

    def stop(self) -> None:
        """Stop beating and leave the registry (a clean shutdown is not a lost worker)."""
        self._stop_event.set()
        self.join(timeout=2 * self.settings.heartbeat_interval_s)
        try:
            with open_database(self.settings)() as session:
                unregister_worker(session=session, name=self.worker_name)
        except SQLAlchemyError as error:
            logger.warning("could not leave the workers' registry: %s", error)

    def _register(self, sessions: sessionmaker) -> None:
        choice = choose_engine(self.settings)
        serves_gpu = "gpu" in self.queues
        with sessions() as session:
            register_worker(
                session=session,
                name=self.worker_name,
                host=socket.gethostname(),
                pid=os.getpid(),
                queues=self.queues,
                concurrency=self.concurrency,
                engine=choice.name if serves_gpu else "-",
                engine_reason=choice.reason if serves_gpu else "reads no analysis queue",
                model=self.settings.model if serves_gpu else "-",
            )
        logger.info("worker %s registered: queues %s", self.worker_name, ",".join(self.queues))
