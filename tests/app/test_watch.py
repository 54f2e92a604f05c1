"""The watched folder: settled files only, each ingested once (across restarts too), filed
into processed/ or failed/ with the reason beside it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from app.config import Settings
from app.db import open_database
from app.db.models import DocumentRecord, JobRecord
from app.dispatch import Dispatcher
from app.services.documents import delete_documents
from app.services.payloads import AnalysisRequest, IngestPayload
from app.services.watch import FolderWatcher, Report
from tests import badfiles
from tests.conftest import REPO_ROOT

SETTLE_S = 0.4


def _wait(condition: Callable[[], bool], timeout: float = 8) -> None:
    """Until `condition` holds. Files here are taken within 3 s even on a busy machine; a
    broken watcher fails in `timeout`, which every mutant of the watcher pays."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@contextmanager
def watching(
    settings: Settings, inbox: Path, *, keep: bool = False, poll: bool = False
) -> Iterator[list[tuple[str, str]]]:
    """A watcher running in a thread for the block; yields what it reported."""
    sessions = open_database(settings)
    reported: list[tuple[str, str]] = []
    watcher = FolderWatcher(
        inbox=inbox,
        settings=settings,
        sessions=sessions,
        dispatcher=Dispatcher(settings, sessions),
        payload=IngestPayload(then=AnalysisRequest.of(["What is the total?"])),
        keep=keep,
        settle_s=SETTLE_S,
        report=lambda outcome, path, _detail: reported.append((outcome, path.name)),
    )
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), kwargs={"poll": poll})
    thread.start()
    try:
        yield reported
    finally:
        stop.set()
        thread.join(timeout=30)


def _count(settings: Settings, model: type) -> int:
    with open_database(settings)() as session:
        return session.scalar(select(func.count()).select_from(model))


def _pdf(folder: Path, name: str) -> Path:
    """A small born-digital PDF called `name`, written outside the watched folder."""
    lines = (f"Document {name}", "Total amount due 12.50 EUR")
    path = badfiles.make_born_digital_pdf(folder / ".staging" / name, lines)
    return path.rename(path.parent / name)


@pytest.mark.parametrize("poll", [False, True], ids=["events", "polling"])
def test_a_slowly_written_file_is_taken_once_complete(
    settings: Settings, tmp_path: Path, poll: bool
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    data = _pdf(tmp_path, "slow").read_bytes()
    with watching(settings, inbox, poll=poll) as reported:
        target = inbox / "slow.pdf"
        with target.open("wb") as handle:  # a copy over a slow network
            for start in range(0, len(data), len(data) // 5 + 1):
                handle.write(data[start : start + len(data) // 5 + 1])
                handle.flush()
                time.sleep(SETTLE_S / 2)
        _wait(lambda: (inbox / "processed" / "slow.pdf").exists())
    assert ("processed", "slow.pdf") in reported
    with open_database(settings)() as session:
        (document,) = session.scalars(select(DocumentRecord)).all()
        assert document.status == "ready" and document.size_bytes == len(data)


def test_finished_files_are_filed_beside_never_over_one_another(
    settings: Settings, tmp_path: Path
) -> None:
    """Done files move to processed/ or failed/ (with the reason beside), a second file of
    the same name lands as `name (2)`, and what is not a document yet is left alone."""
    inbox = tmp_path / "inbox"
    (inbox / "processed").mkdir(parents=True)
    left = ["notes.TMP", "~$invoice.pdf", ".hidden.pdf", "scan.pdf.crdownload"]
    for name in left:
        (inbox / name).write_bytes(b"%PDF-1.7 not yet")
    os.rename(_pdf(tmp_path, "a.pdf"), inbox / "a.pdf")
    os.rename(badfiles.make_corrupt_pdf(tmp_path / "bad"), inbox / "bad.pdf")
    with watching(settings, inbox) as reported:
        _wait(lambda: {("processed", "a.pdf"), ("failed", "bad.pdf")} <= set(reported))
        for number in (2, 3):
            lines = (f"Another a.pdf, number {number}", "Total 3")
            again = badfiles.make_born_digital_pdf(tmp_path / f"again{number}", lines)
            os.rename(again, inbox / "a.pdf")
            _wait(lambda n=number: reported.count(("processed", "a.pdf")) == n)
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == [
        "a (2).pdf",
        "a (3).pdf",
        "a.pdf",
    ]
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["bad.pdf", "bad.pdf.error.txt"]
    with open_database(settings)() as session:
        documents = session.scalars(select(DocumentRecord)).all()
        assert [d.source for d in documents] == ["folder"] * 4
        [error] = [d.error for d in documents if d.filename == "bad.pdf"]
    assert "damaged PDF" in error
    assert (inbox / "failed" / "bad.pdf.error.txt").read_text() == error + "\n"  # the reason
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == sorted(left)


@pytest.mark.slow
def test_two_hundred_files_dropped_at_once_are_each_ingested_once(
    settings: Settings, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    staged = [_pdf(tmp_path, f"doc{number:03d}.pdf") for number in range(200)]
    staged.append(badfiles.make_corrupt_pdf(tmp_path / ".staging" / "bad"))
    assert len({path.name for path in staged}) == 201
    (tmp_path / ".staging" / "notes.tmp").write_text("a download in progress")
    with watching(settings, inbox):
        for path in staged + [tmp_path / ".staging" / "notes.tmp"]:
            os.rename(path, inbox / path.name)
        _wait(lambda: len(list((inbox / "processed").glob("*.pdf"))) == 200, timeout=180)
        _wait(lambda: (inbox / "failed" / "corrupt.pdf.error.txt").exists())
    assert _count(settings, DocumentRecord) == 201
    with open_database(settings)() as session:
        kinds = session.execute(select(JobRecord.kind, func.count()).group_by(JobRecord.kind))
        assert dict(kinds.all()) == {"ingest": 201, "analyze": 200}
    reason = (inbox / "failed" / "corrupt.pdf.error.txt").read_text()
    assert "damaged PDF" in reason
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["notes.tmp"]


def test_each_file_is_ingested_once_across_restarts(settings: Settings, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for number in range(3):
        os.rename(_pdf(tmp_path, f"kept{number}.pdf"), inbox / f"kept{number}.pdf")
    os.rename(badfiles.make_encrypted_pdf(tmp_path / "enc"), inbox / "locked.pdf")
    with watching(settings, inbox, keep=True) as first:
        _wait(lambda: len(first) == 8)  # four taken, three processed, one failed
    assert (inbox / "locked.pdf.error.txt").read_text().startswith("encrypted PDF")
    jobs = _count(settings, JobRecord)
    with watching(settings, inbox, keep=True) as second:
        os.rename(_pdf(tmp_path, "late.pdf"), inbox / "late.pdf")
        _wait(lambda: ("processed", "late.pdf") in second)
    assert _count(settings, DocumentRecord) == 5
    assert _count(settings, JobRecord) == jobs + 2  # the new file's ingest and analysis
    taken_again = {name: outcome for outcome, name in second if outcome != "processed"}
    assert taken_again == {"kept0.pdf": "known", "kept1.pdf": "known", "kept2.pdf": "known",
                           "late.pdf": "queued"}  # fmt: skip
    assert sorted(p.name for p in inbox.iterdir()) == [
        "kept0.pdf",
        "kept1.pdf",
        "kept2.pdf",
        "late.pdf",
        "locked.pdf",
        "locked.pdf.error.txt",
    ]


@pytest.mark.slow
def test_docfuse_watch_runs_until_sigterm(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    env = {**os.environ, "DOCFUSE_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO_ROOT)}
    env.pop("DOCFUSE_BROKER_URL", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "watch",
            str(inbox),
            "--settle",
            "0.3",
            "--ask",
            "Total?",
        ],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        os.rename(_pdf(tmp_path, "one.pdf"), inbox / "[bold]one.pdf")
        _wait(lambda: (inbox / "processed" / "[bold]one.pdf").exists(), timeout=30)  # a new process
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "processed [bold]one.pdf" in " ".join(output.split())
    assert output.rstrip().endswith("stopped watching")


class _Held(Dispatcher):
    """Runs nothing: the watched files' jobs stay queued, as behind a busy worker."""

    def __init__(self, settings: Settings, sessions: sessionmaker) -> None:
        super().__init__(settings, sessions)
        self.sent: list[int | None] = []

    def send(self, job_ids: Iterable[int | None]) -> None:
        self.sent.extend(job_ids)


def _inbox_holding_a_pdf(tmp_path: Path) -> Path:
    """A watched folder where one finished PDF, a.pdf, has just arrived."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    os.rename(_pdf(tmp_path, "a.pdf"), inbox / "a.pdf")
    return inbox


def _held_watcher(
    settings: Settings, inbox: Path, *, held: bool = True, report: Report | None = None
) -> FolderWatcher:
    """A watcher scanned by hand, taking a file once two scans see it unchanged; its jobs
    `held` in the queue, or run as they are sent."""
    sessions = open_database(settings)
    dispatcher = (_Held if held else Dispatcher)(settings, sessions)
    return FolderWatcher(
        inbox=inbox,
        settings=settings,
        sessions=sessions,
        dispatcher=dispatcher,
        payload=IngestPayload(),
        settle_s=0,
        report=report,
    )


def test_each_step_is_reported_with_the_file_and_what_became_of_it(
    settings: Settings, tmp_path: Path
) -> None:
    inbox = _inbox_holding_a_pdf(tmp_path)
    reported: list[tuple[str, str, str]] = []
    watcher = _held_watcher(
        settings,
        inbox,
        held=False,
        report=lambda outcome, path, detail: reported.append((outcome, path.name, detail)),
    )
    for _ in range(3):
        watcher.scan()
    assert reported == [
        ("queued", "a.pdf", "document 1"),
        ("processed", "a.pdf", str(inbox / "processed" / "a.pdf")),
    ]


def test_a_file_whose_work_is_still_queued_is_taken_once(
    settings: Settings, tmp_path: Path
) -> None:
    inbox = _inbox_holding_a_pdf(tmp_path)
    watcher = _held_watcher(settings, inbox)
    for _ in range(5):
        watcher.scan()
    assert isinstance(watcher.dispatcher, _Held) and len(watcher.dispatcher.sent) == 1
    assert (inbox / "a.pdf").exists() and _count(settings, JobRecord) == 1


def test_a_file_whose_document_was_deleted_meanwhile_is_filed_as_failed(
    settings: Settings, tmp_path: Path
) -> None:
    inbox = _inbox_holding_a_pdf(tmp_path)
    watcher = _held_watcher(settings, inbox)
    watcher.scan()
    watcher.scan()  # taken: its ingest job waits in the queue
    with watcher.sessions() as session:
        (document_id,) = session.scalars(select(DocumentRecord.id))
        delete_documents(session=session, settings=settings, document_ids=[document_id])
    watcher.scan()
    reason = inbox / "failed" / "a.pdf.error.txt"
    assert reason.read_text() == "the document was deleted while it was processed\n"


def test_a_file_gone_before_it_is_looked_at_has_not_settled(
    settings: Settings, tmp_path: Path
) -> None:
    watcher = _held_watcher(settings, tmp_path)
    assert watcher._settled(tmp_path / "gone.pdf", time.monotonic() + 60) is False
