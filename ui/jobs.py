"""Running an analysis from the UI and waiting for it, with a spinner."""

from __future__ import annotations

import time

import streamlit as st

from app.read_models import JobInfo
from app.services.analysis import submit_analysis
from app.services.jobs import job_tree
from app.services.payloads import AnalysisRequest
from ui.context import Context

POLL_S = 0.3
WAIT_S = 180.0


def analyze_and_wait(ctx: Context, document_id: int, request: AnalysisRequest) -> JobInfo | None:
    """Queue the analysis, dispatch it and wait for it (at most WAIT_S); the finished job,
    or None when it is still queued or running (a busy or absent worker)."""
    with ctx.sessions() as session:
        job = submit_analysis(session=session, document_id=document_id, request=request)
    ctx.dispatcher.send([job.id])
    deadline = time.monotonic() + WAIT_S
    with st.spinner("Working on it..."):
        while time.monotonic() < deadline:
            with ctx.sessions() as session:
                (latest,) = job_tree(session=session, job_ids=[job.id])
            if latest.finished:
                return latest
            time.sleep(POLL_S)
    return None
