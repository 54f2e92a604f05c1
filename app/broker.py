"""The Celery broker as the app layer sees it: one configuration, sending by task name,
revoking, and asking Redis which task messages it still holds.

The app never imports `workers/`: it sends tasks by name to their queue (app.queues), and
the workers' Celery app takes its configuration from `celery_config`, so both sides agree
on serialisation, acknowledgement and the Redis visibility timeout.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from celery import Celery

from app.config import Settings
from app.db.models import JobKind
from app.queues import QUEUES, TASKS

logger = logging.getLogger(__name__)

# kombu's Redis transport keeps a queue's messages of priority p > 0 under
# "<queue>\x06\x16<p>"; docfuse sends no priorities, but a sender might.
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings shared by the producer (app) and the workers. See DESIGN.md's
    reliability rules: late acks so a killed worker's task is delivered again, one message
    prefetched per process (long tasks), time limits, and a visibility timeout above the
    hard time limit so Redis never redelivers a task that is still running."""
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"visibility_timeout": settings.visibility_timeout_s},
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": settings.task_soft_time_limit_s,
        "task_time_limit": settings.task_time_limit_s,
        "task_routes": {TASKS[kind]: {"queue": QUEUES[kind]} for kind in JobKind},
        "task_default_queue": QUEUES[JobKind.INGEST],
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
    }


_producers: dict[tuple[str, int], Celery] = {}


def producer(settings: Settings) -> Celery:
    """A Celery app that only sends (one per broker URL per process)."""
    key = (settings.broker_url, settings.visibility_timeout_s)
    if key not in _producers:
        app = Celery("docfuse-producer")
        app.conf.update(celery_config(settings))
        _producers[key] = app
    return _producers[key]


def send(settings: Settings, kind: JobKind, job_id: int, task_id: str) -> None:
    """Put a job's task on its queue (raises kombu's OperationalError if Redis is down)."""
    producer(settings).send_task(
        TASKS[kind],
        args=[job_id],
        queue=QUEUES[kind],
        task_id=task_id,
        retry=True,
        retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
    )


def revoke(settings: Settings, task_id: str) -> None:
    """Tell the workers to drop a queued task (the job row already says CANCELLED)."""
    producer(settings).control.revoke(task_id)


def waiting_task_ids(settings: Settings) -> set[str]:
    """Ids of the task messages waiting in docfuse's queues on the Redis broker."""
    import redis

    client = redis.Redis.from_url(settings.broker_url, socket_timeout=10)
    try:
        ids: set[str] = set()
        for queue in QUEUES.values():
            names = [queue, *(f"{queue}{PRIORITY_SEPARATOR}{p}" for p in PRIORITY_STEPS)]
            for name in names:
                ids.update(_task_id(raw) for raw in client.lrange(name, 0, -1))
        ids.discard("")
        return ids
    finally:
        client.close()


def _task_id(raw: bytes | str) -> str:
    try:
        message = json.loads(raw)
        return str(message.get("headers", {}).get("id") or "")
    except (ValueError, AttributeError):
        logger.warning("unreadable message in a docfuse queue: %.80r", raw)
        return ""
