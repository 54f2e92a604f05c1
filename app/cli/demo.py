"""`docfuse demo`: the main job on the bundled samples, on whatever settings are in force
(embedded defaults: everything in this process, nothing to start)."""

from __future__ import annotations

from app.cli.common import command, console, esc, open_app, short
from app.cli.ingest import print_submissions, resume_interrupted, run_submissions
from app.db.models import JobKind
from app.services.analysis import job_results
from app.services.export import export_documents, write_export
from app.services.ingest import submit_file
from app.services.payloads import AnalysisRequest, IngestPayload
from pipeline.fields.schemas import load_schema

DEMO_SCHEMAS = {"invoice-acme.pdf": "invoice", "receipt-corner-cafe.png": "receipt"}
DEMO_QUESTION = "What is the total?"


@command()
def demo() -> None:
    """Ingest the samples, extract their fields, answer a question on each, write the
    JSON export to the data dir."""
    from app.samples import write_samples  # PyMuPDF: imported only by the command using it

    app = open_app()
    resume_interrupted(app)
    files = write_samples(app.settings.data_dir / "samples")
    submissions = []
    for path in files:
        then = AnalysisRequest.of([DEMO_QUESTION], load_schema(DEMO_SCHEMAS[path.name]))
        payload = IngestPayload(then=then)
        submissions.append(
            submit_file(sessions=app.sessions, settings=app.settings, path=path, payload=payload)
        )
    jobs = run_submissions(app, submissions, wait=True)
    print_submissions(app, submissions, jobs)
    names = {s.document_id: esc(s.source.rsplit("/", 1)[-1]) for s in submissions}
    with app.sessions() as session:
        for job in jobs:
            if job.kind != JobKind.ANALYZE or not job.finished:
                continue
            results = job_results(session=session, job_id=job.id)
            found = ", ".join(f"{f.name}={short(f.value, 40)}" for f in results.fields if f.value)
            console.print(f"{names.get(job.document_id, job.document_id)}: {found or '-'}")
            for answer in results.answers:
                console.print(f"  {DEMO_QUESTION} -> {esc(answer.answer or '(no answer)')}")
        exported = export_documents(session=session)
    output = app.settings.data_dir / "export.json"
    write_export(exported, output, per_document=False)
    console.print(f"export of {len(exported)} documents written to {esc(output)}")
