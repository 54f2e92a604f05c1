"""docfuse's Celery workers: `docfuse worker` runs `celery -A workers.celery_app worker`."""
