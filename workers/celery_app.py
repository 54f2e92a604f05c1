"""The workers' Celery app: its configuration comes from the settings through
`app.broker.celery_config` (shared with the app that sends), its tasks from
`workers.tasks`, and its lifecycle hooks keep the registry and the recovery pass going.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, signals

from app.broker import celery_config
from app.config import get_settings
from workers.maintenance import Maintenance

app = Celery("docfuse", include=["workers.tasks"])
app.conf.update(celery_config(get_settings()))

_maintenance: list[Maintenance] = []


@signals.worker_ready.connect
def _start_maintenance(sender: Any, **_: Any) -> None:
    """In the worker's main process, once it consumes: register, beat, reconcile."""
    maintenance = Maintenance(
        get_settings(),
        name=sender.hostname,
        queues=sorted(queue.name for queue in sender.task_consumer.queues),
        concurrency=sender.controller.concurrency,
    )
    maintenance.start()
    _maintenance.append(maintenance)


@signals.worker_shutdown.connect
def _stop_maintenance(**_: Any) -> None:
    while _maintenance:
        _maintenance.pop().stop()
