"""Uploads: files handed over in the browser go through the same checks and jobs as files
named on the command line (size limit, type from the bytes, one document per sha256)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.db.models import DocumentStatus, JobKind
from app.read_models import Submission, SubmitOutcome
from app.services.documents import get_document
from app.services.ingest import submit_bytes
from app.services.jobs import job_tree
from app.services.payloads import AnalysisRequest, IngestPayload
from ui.context import Context


def submit_uploads(
    ctx: Context, files: Sequence[tuple[str, bytes]], then: AnalysisRequest | None
) -> list[Submission]:
    """Register each file and dispatch its jobs (files another job is reading wait on it)."""
    payload = IngestPayload(then=then)
    with ctx.sessions() as session:
        submissions = [
            submit_bytes(
                session=session,
                settings=ctx.settings,
                data=data,
                filename=name,
                payload=payload,
                source="upload",
            )
            for name, data in files
        ]
    ctx.dispatcher.send(s.job_id for s in submissions if s.outcome is not SubmitOutcome.BUSY)
    return submissions


@dataclass(frozen=True)
class UploadState:
    """How one uploaded file is doing, for the page to show."""

    name: str
    document_id: int | None
    label: str
    progress: float | None  # 0..1 while pages are read
    failed: bool
    done: bool


def upload_state(ctx: Context, submission: Submission) -> UploadState:
    name, document_id = submission.source, submission.document_id
    if document_id is None:
        return UploadState(name, None, f"refused: {submission.reason}", None, True, True)
    with ctx.sessions() as session:
        document = get_document(session=session, ref=document_id)
        jobs = job_tree(session=session, job_ids=[submission.job_id] if submission.job_id else [])
    if document.status == DocumentStatus.FAILED:
        return UploadState(name, document_id, f"failed: {document.error}", None, True, True)
    running = [job for job in jobs if not job.finished]
    if document.status == DocumentStatus.READY and not running:
        known = "already there" if submission.outcome is SubmitOutcome.KNOWN else "ready"
        pages = "1 page" if document.page_count == 1 else f"{document.page_count} pages"
        label = f"{known}: {pages}"
        return UploadState(name, document_id, label, None, False, True)
    reading = [job for job in running if job.kind == JobKind.INGEST and job.pages_total]
    if reading:
        job = reading[0]
        label = f"reading pages: {job.pages_done} of {job.pages_total}"
        return UploadState(name, document_id, label, job.pages_done / job.pages_total, False, False)
    label = "answering questions" if document.status == DocumentStatus.READY else "queued"
    return UploadState(name, document_id, label, None, False, False)
