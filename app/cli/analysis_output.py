"""Printing what an analysis job found: answers with where they are, fields as a table."""

from __future__ import annotations

from rich.table import Table

from app.cli.common import App, console, esc, short
from app.db.models import JobStatus
from app.schemas import AnswerOut, FieldOut
from app.services.analysis import JobResults, job_results


def print_job_results(app: App, job_id: int, *, indent: str = "") -> JobResults:
    with app.sessions() as session:
        results = job_results(session=session, job_id=job_id)
    job = results.job
    if job.status != JobStatus.DONE:
        console.print(
            f"{indent}[red]{job.status}[/red]: document {job.document_id}: {esc(job.message)}"
        )
        return results
    for answer in results.answers:
        console.print(f"{indent}{esc(answer.question)} -> {describe_answer(answer)}")
    if results.fields:
        console.print(field_table(results.fields))
    return results


def describe_answer(answer: AnswerOut) -> str:
    if not answer.answer:
        return "no answer found"
    if answer.boxes:
        box = ", ".join(f"{c:.3f}" for c in answer.boxes[0].box)
        where = f"page {answer.page}, box [{box}]"
    else:
        where = f"page {answer.page}, not found on the page"
    confidence = f"{answer.confidence:.2f}" if answer.confidence is not None else "-"
    return f"{esc(answer.answer)}  ({where}; confidence {confidence}; {esc(answer.model_revision)})"


def field_table(fields: list[FieldOut]) -> Table:
    table = Table("field", "value", "raw text", "page", "confidence", "boxes")
    for field in fields:
        if field.boxes:
            boxes = str(len(field.boxes))
        else:
            boxes = "not found on page" if field.raw_text else "-"
        table.add_row(
            esc(field.name),
            short(field.value),
            short(field.raw_text),
            "-" if field.page is None else str(field.page),
            f"{field.confidence:.2f}" if field.confidence is not None else "-",
            boxes,
        )
    return table
