"""A watched folder, as document-management users know one (long-running: it opens its own
sessions).

- A file is taken only once its size and modification time have not changed for
  `settle_s` seconds, so a copy in progress is never ingested half-written.
- Hidden files, office lock files and the temporary names of downloads and editors are
  skipped; so are folders (`processed/` and `failed/` live inside the watched folder).
- Identity is the sha256: a file already ingested (before a restart, or under another
  name) is never ingested again, and its analysis is not repeated.
- Once its document is done (ready, and its analysis finished) a file moves to
  `processed/`; a file that fails moves to `failed/` with `<name>.error.txt` beside it
  giving the reason. With `keep`, files stay where they are (the reason file too, and a
  file with a reason file beside it is not tried again until the reason is deleted).
- Events come from watchdog (inotify and friends); `poll` uses its polling observer, for
  network mounts where events never arrive. Either way an event only wakes the scanner:
  every pass looks at the whole folder, so a missed event costs one `settle_s` at most.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import sessionmaker
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from app.config import Settings
from app.db.models import DocumentRecord, DocumentStatus
from app.dispatch import Dispatcher
from app.read_models import Submission, SubmitOutcome
from app.services.ingest import submit_file
from app.services.jobs import job_tree
from app.services.payloads import IngestPayload

logger = logging.getLogger(__name__)

PROCESSED, FAILED = "processed", "failed"
SKIPPED_PREFIXES = (".", "~$", "~")
SKIPPED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".swp", ".lock")
ERROR_SUFFIX = ".error.txt"

Report = Callable[[str, Path, str], None]
"""Called with (outcome, file, detail) as files are taken, finished or failed."""


@dataclass
class _Pending:
    """A file taken from the folder, until its work is finished."""

    submission: Submission


@dataclass
class FolderWatcher:
    inbox: Path
    settings: Settings
    sessions: sessionmaker
    dispatcher: Dispatcher
    payload: IngestPayload
    keep: bool = False
    settle_s: float = 2.0
    report: Report | None = None
    _sizes: dict[Path, tuple[int, int, float]] = field(default_factory=dict)
    _pending: dict[Path, _Pending] = field(default_factory=dict)
    _finished: set[Path] = field(default_factory=set)

    def run(self, stop: threading.Event, *, poll: bool = False) -> None:
        """Watch until `stop` is set."""
        wake = threading.Event()
        observer = PollingObserver(timeout=self.settle_s / 2) if poll else Observer()
        observer.schedule(_Wake(wake), str(self.inbox), recursive=False)
        observer.start()
        try:
            while not stop.is_set():
                self.scan()
                wake.wait(timeout=self.settle_s / 2)
                wake.clear()
        finally:
            observer.stop()
            observer.join()

    def scan(self) -> None:
        """One pass: take the files that have settled, move the ones that are done."""
        now = time.monotonic()
        present = set()
        for path in sorted(self.inbox.iterdir()):
            if not _is_candidate(path) or path in self._finished or path in self._pending:
                continue
            present.add(path)
            if self._settled(path, now):
                self._take(path)
        self._sizes = {path: seen for path, seen in self._sizes.items() if path in present}
        self._finished = {path for path in self._finished if path.exists()}
        for path in list(self._pending):
            self._settle_if_done(path)

    def _settled(self, path: Path, now: float) -> bool:
        try:
            info = path.stat()
        except FileNotFoundError:
            return False
        size, mtime, since = self._sizes.get(path, (-1, -1, now))
        if (info.st_size, info.st_mtime_ns) != (size, mtime):
            self._sizes[path] = (info.st_size, info.st_mtime_ns, now)
            return False
        return now - since >= self.settle_s

    def _take(self, path: Path) -> None:
        del self._sizes[path]  # _settled recorded it
        submission = submit_file(
            sessions=self.sessions,
            settings=self.settings,
            path=path,
            payload=self.payload,
            source="folder",
            analyze_known=False,
        )
        self._say(submission.outcome, path, f"document {submission.document_id}")
        self._pending[path] = _Pending(submission)
        self.dispatcher.send([submission.job_id])

    def _settle_if_done(self, path: Path) -> None:
        submission = self._pending[path].submission
        if submission.outcome is SubmitOutcome.REFUSED:
            self._finish(path, submission.reason or "refused")
            return
        with self.sessions() as session:
            if submission.job_id is not None:
                tree = job_tree(session=session, job_ids=[submission.job_id])
                if not all(job.finished for job in tree):
                    return
            document = session.get(DocumentRecord, submission.document_id)
            if document is None:
                self._finish(path, "the document was deleted while it was processed")
            elif document.status == DocumentStatus.FAILED:
                self._finish(path, document.error or "failed")
            elif document.status == DocumentStatus.READY:
                self._finish(path, None)

    def _finish(self, path: Path, failure: str | None) -> None:
        del self._pending[path]
        destination = path
        if not self.keep:
            destination = _move(path, self.inbox / (FAILED if failure else PROCESSED))
        if failure:
            destination.with_name(destination.name + ERROR_SUFFIX).write_text(failure + "\n")
        if self.keep:
            self._finished.add(path)
        self._say(FAILED if failure else PROCESSED, path, failure or str(destination))

    def _say(self, outcome: str, path: Path, detail: str) -> None:
        logger.info("%s %s: %s", outcome, path.name, detail)
        if self.report is not None:
            self.report(str(outcome), path, detail)


class _Wake(FileSystemEventHandler):
    def __init__(self, wake: threading.Event) -> None:
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        self._wake.set()


def _is_candidate(path: Path) -> bool:
    name = path.name
    if name.startswith(SKIPPED_PREFIXES) or name.lower().endswith(SKIPPED_SUFFIXES):
        return False
    if name.endswith(ERROR_SUFFIX) or path.with_name(name + ERROR_SUFFIX).exists():
        return False  # a reason file says it was tried: delete the reason to try again
    return path.is_file()


def _move(path: Path, folder: Path) -> Path:
    """Move `path` into `folder`, never over an existing file (`name (2).pdf`)."""
    folder.mkdir(exist_ok=True)
    target, number = folder / path.name, 2
    while target.exists():
        target = folder / f"{path.stem} ({number}){path.suffix}"
        number += 1
    return path.rename(target)
