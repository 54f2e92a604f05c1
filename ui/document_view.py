"""The panels of the document page: the page viewer, questions, fields, and managing the
document. Every widget key names the document, so two documents (or two browser sessions)
never share a form's half-typed state."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from sqlalchemy.orm import Session

from app.db.keys import answer_target, field_target
from app.db.models import JobStatus
from app.errors import DocfuseError
from app.schemas import AnswerOut, CorrectionOut, ExportDocument, FieldOut
from app.services.corrections import confirm_answer, confirm_field, correct_answer, correct_field
from app.services.documents import delete_documents
from app.services.ingest import reprocess_document
from app.services.payloads import AnalysisRequest
from ui import reads
from ui.analysis_form import schema_input
from ui.context import Context
from ui.field_review import doubtful, field_summary, review_order, where
from ui.jobs import analyze_and_wait
from ui.overlays import LAYERS, current_answers, current_fields, page_overlays, schemas_of
from ui.text import plain
from ui.viewer import page_viewer

SELECTED = "selected-target"


def viewer_panel(document: ExportDocument) -> None:
    """Page navigation, zoom and layers over the viewer; a click on a box selects it."""
    doc = document.document
    pages = len(document.pages)
    controls = st.columns([2, 3, 5])
    number = controls[0].number_input(
        "Page", min_value=1, max_value=max(pages, 1), step=1, key=f"page-{doc.id}"
    )
    zoom = controls[1].slider("Zoom %", 50, 200, 100, step=10, key=f"zoom-{doc.id}")
    layers = controls[2].pills(
        "Show",
        LAYERS,
        selection_mode="multi",
        default=["answers", "fields"],
        key=f"layers-{doc.id}",
    )
    index = int(number) - 1
    page = document.pages[index]
    if page.ocr_poor:
        confidence = (
            f"mean confidence {page.ocr_confidence:.2f}" if page.ocr_confidence else "no words"
        )
        st.warning(f"OCR read this page poorly ({confidence}): check its values by eye.")
    selected = st.session_state.get(SELECTED)
    overlays = page_overlays(document, index, set(layers or []), selected)
    clicked = page_viewer(
        picture=reads.page_picture(doc.id, doc.sha256, index),
        index=index,
        width=page.width,
        height=page.height,
        overlays=overlays,
        selected=selected,
        zoom=int(zoom),
        key=f"viewer-{doc.id}",
    )
    if clicked and clicked != st.session_state.get(SELECTED):
        st.session_state[SELECTED] = clicked
        st.rerun()


def ask_panel(ctx: Context, document: ExportDocument, page_index: int) -> None:
    doc_id = document.document.id
    with st.form(f"ask-{doc_id}", clear_on_submit=True):
        question = st.text_input("Question", key=f"question-{doc_id}")
        scope = st.radio(
            "About", ["the whole document", "this page"], horizontal=True, key=f"scope-{doc_id}"
        )
        asked = st.form_submit_button("Ask")
    if asked and question.strip():
        page = page_index if scope == "this page" else None
        text = question.strip()
        _run(ctx, doc_id, AnalysisRequest.of([text], page=page), answer_target(text))
    for answer in current_answers(document):
        _answer_row(ctx, doc_id, answer)


def fields_panel(ctx: Context, document: ExportDocument) -> None:
    doc_id = document.document.id
    schema = schema_input(f"fields-{doc_id}", allow_none=False, preferred=schemas_of(document))
    if schema is None:
        return
    if st.button("Extract", key=f"extract-{doc_id}-{schema.name}"):
        _run(ctx, doc_id, AnalysisRequest.of([], schema))
    fields = current_fields(document, schema.name)
    if not fields:
        st.info(f"No {schema.name} fields yet: extract them.")
        return
    ordered = sorted(fields, key=review_order)
    st.dataframe(
        [field_summary(field) for field in ordered],
        hide_index=True,
        key=f"fields-table-{doc_id}-{schema.name}",
        column_order=["review", "field", "value", "confidence", "person", "where"],
        column_config={
            "review": st.column_config.TextColumn("", width=30),
            "confidence": st.column_config.ProgressColumn(
                min_value=0.0, max_value=1.0, format="%.2f", width="small"
            ),
        },
    )
    for field in ordered:
        _field_row(ctx, doc_id, schema.name, field)


def manage_panel(ctx: Context, document: ExportDocument) -> None:
    doc = document.document
    st.markdown(
        f"**{plain(doc.filename)}**: {doc.page_count} pages, {doc.file_type or '?'}, "
        f"{doc.status}; sha256 `{doc.sha256[:16]}…`"
    )
    st.download_button(
        "Download JSON",
        document.model_dump_json(indent=2, by_alias=True),
        file_name=f"{doc.id}-{doc.sha256[:12]}.json",
        mime="application/json",
        key=f"download-{doc.id}",
    )
    if st.button("Read the pages again", key=f"reprocess-{doc.id}"):
        with ctx.sessions() as session:
            submission = reprocess_document(session=session, document_id=doc.id)
        ctx.dispatcher.send([submission.job_id])
        reads.forget()
        st.rerun()
    sure = st.checkbox("Delete this document and everything derived from it", key=f"sure-{doc.id}")
    if st.button("Delete", key=f"delete-{doc.id}", disabled=not sure, type="primary"):
        with ctx.sessions() as session:
            deletion = delete_documents(
                session=session, settings=ctx.settings, document_ids=[doc.id]
            )
        ctx.dispatcher.revoke(deletion.revoke)
        reads.forget()
        st.switch_page("app_pages/documents.py")


def _run(
    ctx: Context, document_id: int, request: AnalysisRequest, select: str | None = None
) -> None:
    """Run the analysis and show its results at once (selecting `select` on the page), or
    say why not."""
    try:
        job = analyze_and_wait(ctx, document_id, request)
    except DocfuseError as error:
        st.error(plain(error))
        return
    reads.forget()
    if job is None:
        st.warning("Still working (the workers may be busy): this page will show it when done.")
    elif job.status != JobStatus.DONE:
        st.error(plain(f"{job.status}: {job.message}"))
    else:
        if select is not None:
            st.session_state[SELECTED] = select
        st.rerun()


def _answer_row(ctx: Context, document_id: int, answer: AnswerOut) -> None:
    target = answer_target(answer.question)
    with st.container(border=True, key=f"answer-{document_id}-{target[-12:]}"):
        st.markdown(f"**{plain(answer.question)}**")
        if not answer.answer:
            st.markdown("no answer found")
        else:
            where = f"page {answer.page + 1}" if answer.grounded else "not found on the page"
            confidence = f"{answer.confidence:.2f}" if answer.confidence is not None else "-"
            st.markdown(f"{plain(answer.answer)} ({where}; confidence {confidence})")
            _produced_by(answer)
            _select_button(target, f"show-{document_id}-{target[-12:]}")
        _correction_form(
            ctx,
            f"fix-{document_id}-{target[-12:]}",
            answer.answer,
            answer.corrections,
            save=lambda session, text: correct_answer(
                session=session,
                settings=ctx.settings,
                document_id=document_id,
                question=answer.question,
                text=text,
            ),
            keep=lambda session: confirm_answer(
                session=session, document_id=document_id, question=answer.question
            ),
        )


def _field_row(ctx: Context, document_id: int, schema_name: str, field: FieldOut) -> None:
    target = field_target(schema_name, field.name)
    with st.container(border=True, key=f"field-{document_id}-{schema_name}-{field.name}"):
        flag = " ⚠ review" if doubtful(field) else ""
        chosen = " ◀" if st.session_state.get(SELECTED) == target else ""
        st.markdown(f"**{plain(field.name)}**{flag}{chosen}")
        confidence = f"{field.confidence:.2f}" if field.confidence is not None else "-"
        st.markdown(f"{plain(field.value or '-')} ({where(field)}; confidence {confidence})")
        _produced_by(field)
        if field.grounded:
            _select_button(target, f"show-{document_id}-{schema_name}-{field.name}")
        _correction_form(
            ctx,
            f"fix-{document_id}-{schema_name}-{field.name}",
            field.raw_text,
            field.corrections,
            save=lambda session, text: correct_field(
                session=session,
                settings=ctx.settings,
                document_id=document_id,
                schema_name=schema_name,
                field_name=field.name,
                text=text,
            ),
            keep=lambda session: confirm_field(
                session=session,
                document_id=document_id,
                schema_name=schema_name,
                field_name=field.name,
            ),
        )


def _produced_by(result: AnswerOut | FieldOut) -> None:
    """Which model gave the value (a fine-tuned model's revision names its adapter), or the
    e-invoice XML it was taken from."""
    source = getattr(result, "source", "page")
    if source != "page":
        st.caption(plain(f"from the {source}"))
    else:
        st.caption(plain(f"by {result.engine} · {result.model_revision}"))


def _select_button(target: str, key: str) -> None:
    if st.button("Show on the page", key=key):
        st.session_state[SELECTED] = target
        st.rerun()


def _correction_form(
    ctx: Context,
    key: str,
    model_text: str | None,
    corrections: list[CorrectionOut],
    *,
    save: Callable[[Session, str], CorrectionOut],
    keep: Callable[[Session], CorrectionOut],
) -> None:
    """The person's value beside the model's: correct it, or confirm it."""
    current = corrections[0] if corrections else None
    if current is not None:
        when = current.made_at.strftime("%Y-%m-%d %H:%M")
        st.caption(plain(f"{current.kind} {when}: {current.raw_text or current.value or ''}"))
    with st.form(key):
        shown = current.raw_text if current else model_text
        text = st.text_input("Correct value", value=shown or "", key=f"{key}-text")
        buttons = st.columns(2)
        corrected = buttons[0].form_submit_button("Save correction")
        confirmed = buttons[1].form_submit_button("Confirm")
    if corrected or confirmed:
        with ctx.sessions() as session:
            try:
                if corrected:
                    save(session, text)
                else:
                    keep(session)
            except DocfuseError as error:
                st.error(plain(error))
                return
        reads.forget()
        st.rerun()
