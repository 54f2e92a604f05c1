"""`docfuse` as separate processes, in-process mode: killed, interrupted, started together,
given overlapping files, fed names that look like console markup. Real subprocesses on the
SQLite default and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from app.config import Settings
from app.db.migrate import head_revision
from app.db.models import JobRecord
from app.db.session import database_engine
from tests import badfiles
from tests.conftest import ICDAR_DIR, REPO_ROOT


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCFUSE_")}
    return env | {
        "DOCFUSE_DATA_DIR": str(settings.data_dir),
        "DOCFUSE_DATABASE_URL": settings.database_url,
        "DOCFUSE_HEARTBEAT_INTERVAL_S": "0.2",
        "DOCFUSE_STALE_AFTER_S": "1",
        "PYTHONPATH": str(REPO_ROOT),
        "COLUMNS": "200",
    }


def _docfuse(settings: Settings, *args: str, **popen: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        env=_env(settings),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[call-overload]
    )


def _run(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    process = _docfuse(settings, *args)
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _scalar(settings: Settings, query: str) -> object:
    with database_engine(settings.database_url).connect() as connection:
        return connection.execute(text(query)).scalar()


def _wait(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _long_scan(folder: Path, name: str) -> Path:
    """A 6-frame TIFF: OCR'd frame by frame, long enough to be caught mid-way."""
    frames = tuple(f"{name.upper()} PAGE {number} OF A LONG SCAN" for number in range(6))
    (folder / name).mkdir()
    return badfiles.make_multipage_tiff(folder / name, frames)


def _running(settings: Settings) -> bool:
    try:
        return bool(_scalar(settings, "SELECT count(*) FROM jobs WHERE status = 'running'"))
    except DBAPIError:  # the process has not created the database yet
        return False


def test_ten_first_runs_at_once_all_succeed(settings: Settings) -> None:
    processes = [_docfuse(settings, "documents") for _ in range(10)]
    outcomes = [(p.wait(timeout=180), p.stderr.read()) for p in processes]  # type: ignore[union-attr]
    assert [code for code, _ in outcomes] == [0] * 10, outcomes
    assert _scalar(settings, "SELECT version_num FROM alembic_version") == head_revision()
    assert _scalar(settings, "SELECT count(*) FROM alembic_version") == 1


def test_kill_9_mid_ingest_then_the_next_run_finishes_the_work(
    settings: Settings, tmp_path: Path
) -> None:
    scan = _long_scan(tmp_path, "killed")
    victim = _docfuse(settings, "ingest", str(scan), start_new_session=True)
    _wait(lambda: _running(settings))
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    assert _scalar(settings, "SELECT status FROM jobs") == "running"  # left behind
    again = _run(settings, "ingest", str(scan))
    assert again.returncode == 0, again.stderr
    assert "resumed 1 unfinished job(s) of an earlier run" in again.stderr
    with database_engine(settings.database_url).connect() as connection:
        jobs = connection.execute(
            select(JobRecord.status, JobRecord.attempt).order_by(JobRecord.id)
        )
        assert jobs.all() == [("failed", 1), ("done", 2)]
    assert _scalar(settings, "SELECT status FROM documents") == "ready"
    assert _scalar(settings, "SELECT page_count FROM documents") == 6


def test_ctrl_c_stops_in_one_line_and_the_rerun_retries(settings: Settings, tmp_path: Path) -> None:
    first, second = _long_scan(tmp_path, "first"), _long_scan(tmp_path, "second")
    process = _docfuse(settings, "ingest", str(first), str(second))
    _wait(lambda: _running(settings))
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, out + err
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err
    assert _scalar(settings, "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')") == 0
    assert _scalar(settings, "SELECT count(*) FROM documents WHERE status = 'failed'") == 2
    rerun = _run(settings, "ingest", str(first), str(second))
    assert rerun.returncode == 0 and "2 new" in rerun.stdout
    assert _scalar(settings, "SELECT count(*) FROM documents WHERE status = 'ready'") == 2


def test_overlapping_runs_never_process_a_document_twice(settings: Settings) -> None:
    pdfs = sorted(ICDAR_DIR.glob("*.pdf"))
    left = _docfuse(settings, "ingest", *map(str, pdfs[:7]))
    right = _docfuse(settings, "ingest", *map(str, reversed(pdfs[3:])))
    for process in (left, right):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    assert _scalar(settings, "SELECT count(*) FROM documents WHERE status = 'ready'") == 10
    assert _scalar(settings, "SELECT count(*) FROM jobs") == 10  # one ingest per document
    assert _scalar(settings, "SELECT count(*) FROM jobs WHERE status = 'done'") == 10


@pytest.mark.parametrize("name", ["[/]odd.pdf", "[reverse]hidden[/reverse].pdf"])
def test_names_that_look_like_markup_are_printed_as_written(
    settings: Settings, tmp_path: Path, name: str
) -> None:
    good = tmp_path / name  # "[/]" makes a folder "[" and a file "]odd.pdf" in it
    good.parent.mkdir(parents=True, exist_ok=True)
    good.write_bytes(badfiles.text_page_pdf(("Invoice total 12.50",)))
    bad = good.with_name(f"bad {good.name}")
    bad.write_bytes(b"%PDF-1.7 [bold]not really[/bold]\n%%EOF")
    result = _run(settings, "ingest", str(good), str(bad))
    assert result.returncode == 2, result.stderr  # the bad one failed
    assert f"{good} -> document 1 (1 pages)" in result.stdout
    assert f"failed  {bad}: damaged PDF" in result.stdout
    listing = _run(settings, "documents")
    assert good.name in listing.stdout and "Traceback" not in listing.stderr
