"""Each page's logic with Streamlit's AppTest, on SQLite and PostgreSQL: the password gate,
the documents table and its filters, uploads (good, bad, duplicate), a document's
questions, fields and corrections, deletion. With no broker, the UI's jobs run in a child
process (`docfuse run-jobs`), never in the UI's."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app.config import Settings, get_settings
from app.db import open_database
from app.services.documents import list_documents
from app.services.payloads import AnalysisRequest
from pipeline.fields.schemas import load_schema, parse_schema
from tests import badfiles
from tests.app.helpers import analyze, ingest
from tests.conftest import REPO_ROOT, SROIE_DIR

APP = REPO_ROOT / "ui" / "streamlit_app.py"
DOCUMENT_PAGE = "app_pages/document.py"


@pytest.fixture
def ui(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The UI's settings come from the environment, as under `docfuse ui`."""
    monkeypatch.setenv("DOCFUSE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DOCFUSE_DATABASE_URL", settings.database_url)
    monkeypatch.delenv("DOCFUSE_BROKER_URL", raising=False)
    monkeypatch.delenv("DOCFUSE_UI_PASSWORD", raising=False)
    _forget_caches()
    yield settings
    _forget_caches()


def _forget_caches() -> None:
    get_settings.cache_clear()
    st.cache_resource.clear()
    st.cache_data.clear()


def _app(page: str | None = None, **query: str) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=60)
    if page is not None:
        app.switch_page(page)
    app.query_params.update(query)
    return app.run()


def _texts(app: AppTest) -> str:
    """What the page says, as a reader sees it (Markdown escapes removed)."""
    elements = (*app.title, *app.markdown, *app.caption, *app.error, *app.warning, *app.info)
    return re.sub(r"\\(.)", r"\1", "\n".join(str(element.value) for element in elements))


def _invoice(settings: Settings, tmp_path: Path) -> int:
    from app.samples import write_samples

    path = next(p for p in write_samples(tmp_path) if p.suffix == ".pdf")
    document_id = ingest(settings, path).document_id
    analyze(
        settings, document_id, AnalysisRequest.of(["What is the total?"], load_schema("invoice"))
    )
    return document_id


def test_the_password_gate(ui: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCFUSE_UI_PASSWORD", "s3cret")
    _forget_caches()
    app = _app()
    assert [t.value for t in app.title] == ["docfuse"] and not app.dataframe
    app.text_input(key="sign-in-password").input("guess")
    app.button[0].click().run()
    assert [e.value for e in app.error] == ["Wrong password."]
    app.text_input(key="sign-in-password").input("s3cret")
    app.button[0].click().run()
    assert "Documents" in [t.value for t in app.title]


def test_documents_table_and_its_filters(ui: Settings, tmp_path: Path) -> None:
    invoice = _invoice(ui, tmp_path)
    ingest(ui, SROIE_DIR / "images" / "000.jpg")
    ingest(ui, badfiles.make_encrypted_pdf(tmp_path))
    app = _app()
    (table,) = app.dataframe
    assert list(table.value["name"]) == ["invoice-acme.pdf", "000.jpg", "encrypted.pdf"]
    assert list(table.value["open"])[0] == f"document?id={invoice}"
    app.text_input(key="filter-name").input("ACME").run()
    assert list(app.dataframe[0].value["name"]) == ["invoice-acme.pdf"]
    app.text_input(key="filter-name").input("").run()
    app.text_input(key="filter-text").input("tan woon yann").run()  # OCR'd words, any case
    assert list(app.dataframe[0].value["name"]) == ["000.jpg"]
    app.text_input(key="filter-text").input("").run()
    app.selectbox(key="filter-status").select("failed").run()
    assert list(app.dataframe[0].value["status"]) == ["failed"]
    app.text_input(key="filter-name").input("nothing-like-this").run()
    assert not app.dataframe and "No documents match." in _texts(app)


def test_the_fields_csv_offers_the_schemas_the_documents_have(ui: Settings, tmp_path: Path) -> None:
    invoice = _invoice(ui, tmp_path)
    own = parse_schema(
        b"name: payment\nfields:\n  - name: amount_due\n    type: amount\n", source="payment.yaml"
    )
    analyze(ui, invoice, AnalysisRequest.of([], own))
    app = _app()
    assert app.selectbox(key="csv-schema").options == ["invoice", "payment", "receipt"]


def test_uploads_show_what_became_of_each_file(ui: Settings, tmp_path: Path) -> None:
    pdf = badfiles.make_born_digital_pdf(tmp_path)
    app = _app("app_pages/upload.py")
    uploader = app.get("file_uploader")[0]  # the documents' (the schema's appears on demand)
    uploader.set_value(
        [
            ("invoice.pdf", pdf.read_bytes(), "application/pdf"),
            ("copy-of-invoice.pdf", pdf.read_bytes(), "application/pdf"),
            ("broken.pdf", b"%PDF-1.7 garbage\n%%EOF", "application/pdf"),
            ("notes.txt", b"just some notes", "text/plain"),
        ]
    )
    app.run()
    app.button(key="upload-process").click().run()
    deadline = time.monotonic() + 90
    while "queued" in _texts(app) or "reading" in _texts(app):
        assert time.monotonic() < deadline, _texts(app)
        time.sleep(0.5)
        app.run()
    texts = _texts(app)
    assert "ready: 1 page" in texts.splitlines()  # the whole label: not "1 pages"
    assert "failed: damaged PDF" in texts
    assert "failed: unsupported file type: plain text" in texts
    with open_database(ui)() as session:
        names = [d.filename for d in list_documents(session=session)]
    assert names == ["invoice.pdf", "broken.pdf", "notes.txt"]  # the copy is the same document
    again = _app("app_pages/upload.py")
    again.get("file_uploader")[0].set_value([("again.pdf", pdf.read_bytes(), "application/pdf")])
    again.run()
    again.button(key="upload-process").click().run()
    assert "already there: 1 page" in _texts(again).splitlines()


def _confidently(value: str, texts: str) -> bool:
    """The page shows `value` on page 1 with a confidence of at least 0.5."""
    shown = re.search(rf"^{re.escape(value)} \(page 1; confidence (\d\.\d\d)\)$", texts, re.M)
    return shown is not None and float(shown[1]) >= 0.5


def test_a_document_question_fields_and_corrections(ui: Settings, tmp_path: Path) -> None:
    invoice = _invoice(ui, tmp_path)
    app = _app(DOCUMENT_PAGE, id=str(invoice))
    assert "invoice-acme.pdf" in _texts(app)
    assert "What is the total?" in _texts(app)
    assert _confidently("89.28", _texts(app))
    assert "by extractive · " in _texts(app)  # which model gave it
    app.text_input(key=f"question-{invoice}").input("What is the invoice number?")
    app.button(key=f"FormSubmitter:ask-{invoice}-Ask").click().run()
    assert re.search(
        r"^INV-2026-0042 \(page 1; confidence (0\.[5-9]\d|1\.00)\)$", _texts(app), re.M
    )

    app.selectbox(key=f"fields-{invoice}-schema").select("invoice").run()
    fix = f"fix-{invoice}-invoice-vendor"
    assert app.text_input(key=f"{fix}-text").value == "ACME Office Supplies Ltd."
    app.text_input(key=f"{fix}-text").input("ACME Office Supplies")
    app.button(key=f"FormSubmitter:{fix}-Save correction").click().run()
    assert "corrected" in _texts(app) and "ACME Office Supplies" in _texts(app)
    confirm = f"fix-{invoice}-invoice-total"
    app.button(key=f"FormSubmitter:{confirm}-Confirm").click().run()
    with open_database(ui)() as session:
        from app.services.export import export_documents

        (exported,) = export_documents(session=session, document_ids=[invoice])
    corrections = {f.name: f.corrections for f in exported.fields if f.corrections}
    assert corrections["vendor"][0].value == "ACME Office Supplies"
    # The table puts what needs review first and shows the person's value beside the model's.
    table = app.dataframe[0].value.set_index("field")
    assert table.index[0] == "line_items" and table["review"].iloc[0] == "⚠"
    settled = table[table["review"] == ""]["confidence"].fillna(0).tolist()
    assert len(settled) > 5 and settled == sorted(settled)  # then the least confident first
    # GBP is printed as "£": boxed where the engine read it, at its confidence (0.70).
    assert table.loc["currency", ["where", "review"]].tolist() == ["page 1", ""]
    assert table.loc["vendor", "person"] == "corrected: ACME Office Supplies"
    assert table.loc["total", ["value", "person"]].tolist() == ["89.28", "confirmed: 89.28"]
    assert corrections["total"][0].kind == "confirmed"


def test_a_page_ocr_read_poorly_says_so(ui: Settings, tmp_path: Path) -> None:
    scan = ingest(ui, badfiles.make_one_word_scan(tmp_path)).document_id
    assert "OCR read this page poorly (mean confidence" in _texts(_app(DOCUMENT_PAGE, id=str(scan)))
    invoice = _invoice(ui, tmp_path)
    assert "OCR read this page poorly" not in _texts(_app(DOCUMENT_PAGE, id=str(invoice)))


def test_a_missing_or_failed_document_and_deletion(ui: Settings, tmp_path: Path) -> None:
    assert "Choose a document in the list." in _texts(_app(DOCUMENT_PAGE))
    assert "There is no document 99." in _texts(_app(DOCUMENT_PAGE, id="99"))
    failed = ingest(ui, badfiles.make_encrypted_pdf(tmp_path)).document_id
    app = _app(DOCUMENT_PAGE, id=str(failed))
    assert "This document is failed: encrypted PDF" in _texts(app)
    app.checkbox(key=f"sure-{failed}").check().run()
    app.button(key=f"delete-{failed}").click().run()
    with open_database(ui)() as session:
        assert list_documents(session=session) == []
