"""Who will do the work: the engine of the live workers, or of this machine's runner."""

from __future__ import annotations

import streamlit as st

from app.answer_engines import choose_engine
from app.services.workers import list_workers
from ui.context import context

EXPLANATIONS = {
    "extractive": "no GPU or no model weights: fields and answers are read off the layout",
    "florence-vl": "Florence-VL answers from the page images",
    "tiny-random": "a tiny random model for tests: its answers are meaningless",
}


def engine_banner() -> None:
    """In the sidebar: the engine that answers and what that means; a warning when no live
    worker reads a queue."""
    ctx = context()
    if ctx.dispatcher.inline:
        choice = choose_engine(ctx.settings)
        st.sidebar.caption(f"No broker: jobs run on this machine. Engine: **{choice.name}**.")
        st.sidebar.caption(EXPLANATIONS.get(choice.name, choice.reason))
        return
    with ctx.sessions() as session:
        live = [w for w in list_workers(session=session, settings=ctx.settings) if w.alive]
    if not live:
        st.sidebar.warning("No worker is alive: uploads and questions wait in the queue.")
        return
    engines = sorted({w.engine for w in live if "gpu" in w.queues})
    if not engines:
        st.sidebar.warning("No live worker reads the analysis queue: questions will wait.")
    for engine in engines:
        st.sidebar.caption(f"Workers answer with **{engine}**: {EXPLANATIONS.get(engine, '')}")
    st.sidebar.caption(f"{len(live)} live worker(s)")
