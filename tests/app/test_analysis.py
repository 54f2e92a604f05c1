"""Questions and fields through the services: grounded boxes, confidence, idempotent upserts."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.answer_engines import EngineChoice, choose_engine
from app.config import Settings
from app.db import open_database
from app.db.models import AnswerRecord, FieldRecord, JobRecord
from app.errors import BadInputError, NotFoundError, NotReadyError, SetupError
from app.samples import write_samples
from app.services import jobs
from app.services.analysis import _unique_key, job_results, submit_analysis
from app.services.ingest import reprocess_document, submit_file
from app.services.payloads import AnalysisRequest, IngestPayload
from pipeline.analysis import AskedQuestion, DocumentWork, analyze_documents, ground_text
from pipeline.engines.base import Answer, EngineOutput, EngineRequest
from pipeline.engines.extractive import ExtractiveEngine
from pipeline.fields.schemas import FieldDefinition, FieldSchema, load_schema
from pipeline.grounding import ground
from pipeline.types import Box, Page, TextSource, Word
from tests import badfiles
from tests.app.helpers import (
    analyze,
    ingest,
    pages_of,
    queue_analyses,
    run_analysis_batch,
)


@pytest.fixture
def invoice_id(settings: Settings, tmp_path: Path) -> int:
    path = next(p for p in write_samples(tmp_path) if p.suffix == ".pdf")
    return ingest(settings, path).document_id


def _count(settings: Settings, model: type) -> int:
    with open_database(settings)() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_extract_stores_grounded_typed_fields_once(settings: Settings, invoice_id: int) -> None:
    schema = load_schema("invoice")
    request = AnalysisRequest.of([], schema)
    first = analyze(settings, invoice_id, request)
    assert first.job.status == "done"
    total = next(field for field in first.fields if field.name == "total")
    assert (total.value, total.raw_text, total.page) == ("89.28", "89.28", 0)
    assert len(total.boxes) == 1 and 0.5 < total.confidence <= 1
    x0, y0, x1, y1 = total.boxes[0].box
    assert total.boxes[0].page == 0 and 0.5 < x0 < x1 < 1 and 0 < y0 < y1 < 0.5
    issue = next(field for field in first.fields if field.name == "issue_date")
    assert (issue.value, issue.raw_text) == ("2026-11-03", "03/11/2026")
    # Line items: an array of rows, each with its own boxes; other fields have no rows.
    items = next(field for field in first.fields if field.name == "line_items")
    assert [row.value["amount"] for row in items.rows] == ["42.00", "19.50", "12.90"]
    assert all(row.boxes and row.boxes[0].page == 0 for row in items.rows)
    assert len({row.boxes[0].box for row in items.rows}) == 3 and total.rows is None
    # The page prints "£", not "GBP": the box is where the engine read it, at its confidence.
    currency = next(field for field in first.fields if field.name == "currency")
    assert (currency.value, currency.page, len(currency.boxes)) == ("GBP", 0, 1)
    pages = pages_of(settings, invoice_id)
    [read] = ExtractiveEngine().extract(pages, [schema.field("currency").spec()])
    assert currency.grounded and currency.confidence == pytest.approx(read.confidence)

    again = analyze(settings, invoice_id, request)
    assert [f.model_dump() for f in again.fields] == [f.model_dump() for f in first.fields]
    assert _count(settings, FieldRecord) == len(schema.fields)


def test_ask_is_grounded_and_upserted(settings: Settings, invoice_id: int) -> None:
    number = "What is the invoice number?"
    (answer,) = analyze(settings, invoice_id, AnalysisRequest.of([number])).answers
    assert answer.answer == "INV-2026-0042" and answer.page == 0 and answer.boxes
    analyze(settings, invoice_id, AnalysisRequest.of([number]))
    (nothing,) = analyze(settings, invoice_id, AnalysisRequest.of(["What is the weather?"])).answers
    assert nothing.answer == "" and nothing.boxes == [] and nothing.confidence == 0
    assert _count(settings, AnswerRecord) == 2


@pytest.mark.parametrize("page", [1, 3])
def test_a_page_the_document_lacks_is_refused_before_queueing(
    settings: Settings, invoice_id: int, page: int
) -> None:
    """The last page is page_count - 1: a page past it is refused, naming the pages there are."""
    message = f"document {invoice_id} has no page {page} (pages 0..0)"
    with pytest.raises(BadInputError, match=f"^{re.escape(message)}$"):
        analyze(settings, invoice_id, AnalysisRequest.of(["Total?"], page=page))
    with pytest.raises(BadInputError, match="^nothing to do: give a question or a field schema$"):
        analyze(settings, invoice_id, AnalysisRequest())


def test_an_unknown_document_or_job_is_named(settings: Settings) -> None:
    """A wrong id is reported with the id the user gave."""
    with open_database(settings)() as session:
        with pytest.raises(NotFoundError, match="^no document with id 999$"):
            request = AnalysisRequest.of(["Total?"])
            submit_analysis(session=session, document_id=999, request=request)
        with pytest.raises(NotFoundError, match="^no job with id 999$"):
            job_results(session=session, job_id=999)


def test_a_follow_up_asking_a_page_the_file_lacks_fails_saying_so(
    settings: Settings, tmp_path: Path
) -> None:
    """A question queued with the file, before its pages are known, is checked when it runs."""
    then = AnalysisRequest.of(["Total?"], page=5)
    done = ingest(settings, badfiles.make_multipage_pdf(tmp_path, 2), then=then)
    with open_database(settings)() as session:
        [_, follow_up] = jobs.job_tree(session=session, job_ids=[done.submission.job_id])
    assert (follow_up.status, follow_up.message) == (
        "failed",
        "the document has no page 5 (pages 0..1)",
    )


def test_a_question_about_one_page_is_answered_from_that_page(
    settings: Settings, tmp_path: Path
) -> None:
    """Every page says the same total: asked about page 1, page 1 answers (not page 0)."""
    document = ingest(settings, badfiles.make_multipage_pdf(tmp_path, 2)).document_id
    request = AnalysisRequest.of(["What is the total?"], page=1)
    [answer] = analyze(settings, document, request).answers
    assert (answer.answer, answer.page) == ("12.50", 1)


def test_a_done_analysis_says_what_it_found_on_how_many_pages(
    settings: Settings, tmp_path: Path
) -> None:
    """The job's message counts answers, fields and fields found; its pages are the file's."""
    schema = FieldSchema(
        name="due",
        fields=[
            FieldDefinition(name="total", type="amount"),
            FieldDefinition(name="due_date", type="date"),
        ],
    )
    document = ingest(settings, badfiles.make_multipage_pdf(tmp_path, 2)).document_id
    job = analyze(settings, document, AnalysisRequest.of(["What is the total?"], schema)).job
    assert (job.status, job.message, job.pages_done, job.pages_total) == (
        "done",
        "1 answers, 2 fields (1 found)",
        2,
        2,
    )


def test_text_not_on_the_page_is_flagged_not_boxed(settings: Settings, invoice_id: int) -> None:
    pages = pages_of(settings, invoice_id)
    found = ground_text("Northwind Traders", pages, 0.8, None)
    assert found.boxes and found.confidence == pytest.approx(0.8)
    missing = ground_text("Umbrella Corporation", pages, 0.8, None)
    assert missing.boxes == [] and missing.confidence == pytest.approx(0.4)


def test_confidence_is_the_engine_s_times_the_match_score(
    settings: Settings, invoice_id: int
) -> None:
    """Text the page spells a little differently (an OCR "l" for "i") is found, but counts
    for less than an exact match: engine confidence x match score, or the score alone."""
    pages = pages_of(settings, invoice_id)
    match = ground("Northwlnd Traders", [page.words for page in pages])
    assert match is not None and match.score < 1
    engine_said = ground_text("Northwlnd Traders", pages, 0.8, None)
    assert engine_said.boxes == match.boxes
    assert engine_said.confidence == pytest.approx(0.8 * match.score)
    assert ground_text("Northwlnd Traders", pages, None, None).confidence == pytest.approx(
        match.score
    )


class _AnswersByPage:
    """An engine that answers every question about page i with `said[i]` (text, confidence)."""

    name = model_name = model_revision = prompt_version = "by-page"

    def __init__(self, said: dict[int, tuple[str, float]]) -> None:
        self.said = said

    def analyze(self, requests: list[EngineRequest]) -> list[EngineOutput]:
        return [
            EngineOutput([Answer(q, *self.said[q.page]) for q in request.questions], [])
            for request in requests
        ]


def test_a_question_about_the_whole_document_keeps_the_best_page_s_answer() -> None:
    """Asked of every page, the most confident non-empty answer wins, wherever it is."""
    pages = [
        Page(i, 1000, 1000, 150, TextSource.PDF, [Word("12.50", Box(i, 0.1, 0.1, 0.2, 0.12))])
        for i in range(3)
    ]
    engine = _AnswersByPage({0: ("", 0.0), 1: ("12.50", 0.4), 2: ("12.50", 0.9)})
    work = DocumentWork(pages, [AskedQuestion("What is the total?")])
    [results] = analyze_documents(engine, [work])  # type: ignore[arg-type]
    [answer] = results.answers
    assert (answer.text, answer.page, answer.confidence) == ("12.50", 2, pytest.approx(0.9))
    assert answer.boxes == [pages[2].words[0].box]


def test_questions_on_a_failed_document_say_why(settings: Settings, tmp_path: Path) -> None:
    failed = ingest(settings, badfiles.make_encrypted_pdf(tmp_path))
    with pytest.raises(NotReadyError, match="failed: .*password"):
        analyze(settings, failed.document_id, AnalysisRequest.of(["What is the total?"]))


def test_auto_engine_falls_back_to_extractive_and_says_why(
    settings: Settings, tmp_path: Path
) -> None:
    choice = choose_engine(settings.model_copy(update={"model": str(tmp_path / "missing")}))
    assert choice.name == "extractive" and "no local Florence-VL checkpoint" in choice.reason
    checkpoint = tmp_path / "florence-vl"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    choice = choose_engine(settings.model_copy(update={"model": str(checkpoint)}))
    assert choice.name == "florence-vl" and str(checkpoint) in choice.reason
    forced = choose_engine(settings.model_copy(update={"engine": "extractive"}))
    assert forced == EngineChoice("extractive", "DOCFUSE_ENGINE=extractive")


def test_auto_engine_finds_a_checkpoint_in_the_hugging_face_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hub id already downloaded is used from the cache, without the network."""
    repo = tmp_path / "hub" / "models--acme--florence-vl"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    cached = Settings(_env_file=None, engine="auto", model="acme/florence-vl")
    assert choose_engine(cached) == EngineChoice(
        "florence-vl", f"Florence-VL checkpoint found at {snapshot}"
    )
    elsewhere = choose_engine(cached.model_copy(update={"model": "acme/not-downloaded"}))
    assert elsewhere.name == "extractive"


def test_tiny_random_florence_vl_runs_through_the_services(
    settings: Settings, invoice_id: int
) -> None:
    """The real Florence-VL code (random weights) answers, and its output says what it is."""
    request = AnalysisRequest.of(
        ["What is the total?"], load_schema("receipt"), engine="tiny-random"
    )
    results = analyze(settings, invoice_id, request)
    (answer,) = results.answers
    assert (answer.engine, answer.model, answer.model_revision) == (
        "florence-vl",
        "tiny-random",
        "tiny-random",
    )
    assert isinstance(answer.answer, str) and 0 <= answer.confidence <= 1
    assert [f.name for f in results.fields] == ["company", "date", "address", "total"]
    assert all(f.model == "tiny-random" and 0 <= (f.confidence or 0) <= 1 for f in results.fields)


def _engine_fault(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("the engine lost its state")


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            RuntimeError("the engine lost its state"),
            "internal error (RuntimeError): the engine lost its state",
        ),
        (SetupError("no model weights in /models"), "no model weights in /models"),
        (SetupError(""), "no result"),  # a failed job never says nothing
    ],
)
def test_an_engine_error_fails_the_job_saying_why(
    settings: Settings,
    invoice_id: int,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    message: str,
) -> None:
    """An error docfuse raised on purpose already says what is wrong; any other is named by
    its type, an internal error."""

    def fault(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr("app.services.analysis.analyze_documents", fault)
    results = analyze(settings, invoice_id, AnalysisRequest.of(["What is the total?"], None))
    assert (results.job.status, results.job.message, results.answers) == ("failed", message, [])


def test_results_are_keyed_by_their_unique_constraints() -> None:
    """A result is replaced, not duplicated, when the same key is stored again."""
    result = ("engine", "model_revision", "prompt_version")
    assert _unique_key(AnswerRecord, "uq_answer_key") == (
        "document_id", "page_index", "question_sha256", *result
    )  # fmt: skip
    assert _unique_key(FieldRecord, "uq_field_key") == (
        "document_id",
        "schema_name",
        "name",
        *result,
    )
    with pytest.raises(LookupError, match="^AnswerRecord has no constraint uq_nothing$"):
        _unique_key(AnswerRecord, "uq_nothing")


@pytest.mark.usefixtures("ctrl_c_pressed")
def test_an_engine_error_after_ctrl_c_is_the_interrupt(
    settings: Settings, invoice_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.services.analysis.analyze_documents", _engine_fault)
    with pytest.raises(KeyboardInterrupt):
        analyze(settings, invoice_id, AnalysisRequest.of(["What is the total?"], None))


# ----------------------------------------------------------------- batching analyses


class _Recording(ExtractiveEngine):
    """The extractive engine, recording how many documents each engine call carried."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def analyze(self, requests: Sequence[EngineRequest]) -> list[EngineOutput]:
        self.batches.append(len(requests))
        return super().analyze(requests)


class _Clock:
    """The batch's clock, standing still but for its polls; each poll runs `on_poll`."""

    def __init__(self) -> None:
        self.now, self.polls = 0.0, 0
        self.on_poll: Callable[[], object] = lambda: None

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.polls, self.now = self.polls + 1, self.now + seconds
        self.on_poll()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr("app.services.analysis.time", clock)
    return clock


def _documents(settings: Settings, tmp_path: Path, pages: list[int]) -> list[int]:
    """Ready documents, all different, of `pages[i]` pages each."""
    return [
        ingest(settings, badfiles.make_multipage_pdf(tmp_path, n, name=f"doc{i}.pdf")).document_id
        for i, n in enumerate(pages)
    ]


def _statuses(settings: Settings, job_ids: list[int]) -> list[str]:
    with open_database(settings)() as session:
        return [session.get_one(JobRecord, job_id).status for job_id in job_ids]


@pytest.mark.parametrize(("batch_pages", "polls"), [(3, 1), (2, 0)])
def test_a_batch_waits_for_analyses_queued_meanwhile_until_it_is_full(
    settings: Settings, tmp_path: Path, clock: _Clock, batch_pages: int, polls: int
) -> None:
    """A GPU worker waits its batch_wait_s (not the settings' 0) for analyses queued a
    moment later, so they share one engine call; a full batch starts at once."""
    budget = settings.model_copy(
        update={"analyze_batch_pages": batch_pages, "analyze_batch_wait_s": 0.0}
    )
    documents = _documents(budget, tmp_path, [1, 1, 1])
    queued = queue_analyses(budget, documents[:2])

    def third_queued_at_first_poll() -> None:
        if clock.polls == 1:
            queued.extend(queue_analyses(budget, documents[2:]))

    clock.on_poll = third_queued_at_first_poll
    spy = _Recording()
    run_analysis_batch(budget, queued[0], lambda _name: spy, wait_s=1.0)
    assert (spy.batches, clock.polls) == ([batch_pages], polls)
    assert _statuses(budget, queued) == ["done"] * batch_pages


def test_a_batch_takes_only_analyses_for_its_engine(settings: Settings, tmp_path: Path) -> None:
    """One engine call runs one model: analyses asked of another engine, or of the worker's
    own, wait for theirs."""
    budget = settings.model_copy(update={"analyze_batch_pages": 2})
    documents = _documents(budget, tmp_path, [1, 1, 1, 1])
    first = queue_analyses(budget, documents[:1], "extractive")
    others = queue_analyses(budget, documents[1:2])
    others += queue_analyses(budget, documents[2:3], "tiny-random")
    same = queue_analyses(budget, documents[3:], "extractive")
    spy, asked = _Recording(), []
    run_analysis_batch(budget, first[0], lambda name: asked.append(name) or spy)
    assert (asked, spy.batches) == (["extractive"], [2])
    assert _statuses(budget, first + others + same) == ["done", "queued", "queued", "done"]


def test_a_batch_takes_only_queued_analyses_of_ready_documents(
    settings: Settings, tmp_path: Path
) -> None:
    """A finished analysis, a reading queued again and an analysis waiting for its file to be
    read are no work for the batch, nor do they take its pages."""
    budget = settings.model_copy(update={"analyze_batch_pages": 2})
    reread, first, second = _documents(budget, tmp_path, [1, 1, 1])
    finished = analyze(budget, reread, AnalysisRequest.of(["What is the total?"])).job.id
    sessions = open_database(budget)
    with sessions() as session:
        again = reprocess_document(session=session, document_id=reread).job_id
    path = badfiles.make_multipage_pdf(tmp_path, 1, name="unread.pdf")
    reading = submit_file(sessions=sessions, settings=budget, path=path, payload=IngestPayload())
    then = IngestPayload(then=AnalysisRequest.of(["What is the total?"]))
    submit_file(sessions=sessions, settings=budget, path=path, payload=then)
    with sessions() as session:
        [_, waiting] = jobs.job_tree(session=session, job_ids=[reading.job_id])
    queued = queue_analyses(budget, [first, second])
    spy = _Recording()
    run_analysis_batch(budget, queued[0], lambda _name: spy)
    assert spy.batches == [2]
    others = [finished, again, reading.job_id, waiting.id]
    assert (
        _statuses(budget, others + queued) == ["done", "queued", "queued", "queued"] + ["done"] * 2
    )


def test_pages_another_worker_claimed_first_go_to_the_next_queued_analysis(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: _Clock
) -> None:
    """A job lost to another worker's claim gives its pages back to the batch, which fills
    them with the next queued analysis, and no more."""
    budget = settings.model_copy(update={"analyze_batch_pages": 4})
    queued = queue_analyses(budget, _documents(budget, tmp_path, [1, 1, 2, 1, 1]))
    lost = queued[1]

    def claimed_elsewhere_first(session: Session, job_ids: list[int], worker: str) -> list[int]:
        if lost in job_ids:
            jobs.claim(session, [lost], "other-worker")
        return jobs.claim(session, job_ids, worker)

    monkeypatch.setattr("app.services.analysis.claim", claimed_elsewhere_first)
    spy = _Recording()
    run_analysis_batch(budget, queued[0], lambda _name: spy, wait_s=1.0)
    assert (spy.batches, clock.polls) == ([3], 1)
    assert _statuses(budget, queued) == ["done", "running", "done", "done", "queued"]
