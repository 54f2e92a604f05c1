"""Fixtures for the queue tests: workers on PostgreSQL and a Redis broker (see
tests/processes.py). Each test gets a fresh PostgreSQL database and a Redis database of
its own (flushed before and after); tests that kill or restart Redis start their own
`redis-server` on a free port and never touch the shared one on 6379.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import Cluster, RedisServer, free_port, make_cluster, shared_redis


@pytest.fixture
def cluster(tmp_path: Path, postgres_database: str) -> Iterator[Cluster]:
    """Workers on PostgreSQL and a Redis database of the shared server."""
    with shared_redis() as broker_url:
        cluster = make_cluster(tmp_path, postgres_database, broker_url)
        yield cluster
        cluster.stop()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill()


@pytest.fixture
def cluster_on_private_redis(
    tmp_path: Path, postgres_database: str, private_redis: RedisServer
) -> Iterator[Cluster]:
    cluster = make_cluster(tmp_path, postgres_database, private_redis.url)
    yield cluster
    cluster.stop()
