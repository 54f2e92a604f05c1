"""The web UI end to end in a real browser: headless Chromium driven by Playwright against
`docfuse ui`, a real worker, PostgreSQL and Redis. Screenshots of each step go to
tests/artifacts/browser/ (not committed; docs/ui/ holds the current ones)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api as playwright

from app.db import open_database
from app.services.export import export_documents
from tests import badfiles
from tests.conftest import REPO_ROOT, SHARED_DATA, SROIE_DIR
from tests.processes import Cluster, free_port, make_cluster, shared_redis, wait_until

pytestmark = pytest.mark.postgres

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "tests" / "artifacts" / "browser"
PASSWORD = "correct horse"
INVOICE = SHARED_DATA / "invoices-dev" / "docs" / "zf-001.pdf"
SCAN = SROIE_DIR / "images" / "000.jpg"
UPLOAD_LIMIT = 1_500_000


@pytest.fixture
def served(tmp_path: Path, postgres_database: str) -> Iterator[tuple[str, Cluster]]:
    """`docfuse ui` on a free port, with a worker, PostgreSQL and Redis behind it."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with shared_redis() as broker_url:
        cluster = make_cluster(tmp_path, postgres_database, broker_url)
        cluster.start_worker()
        port = free_port()
        env = cluster.env | {
            "DOCFUSE_UI_PASSWORD": PASSWORD,
            "DOCFUSE_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "ui", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=(tmp_path / "ui.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: _healthy(url), 60, f"docfuse ui ({tmp_path / 'ui.log'})")
            yield url, cluster
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
            cluster.stop()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read() == b"ok"
    except OSError:
        return False


@pytest.fixture
def browser() -> Iterator[object]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield chromium
        chromium.close()


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _sign_in(page, url: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def _choose(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).click()


def _wait_for_schema(cluster: Cluster, filename: str, schema: str, timeout: float = 90) -> None:
    """Until the workers have stored the document's fields of `schema`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open_database(cluster.settings)() as session:
            exported = export_documents(session=session)
        document = next(d for d in exported if d.document.filename == filename)
        if any(field.schema_name == schema for field in document.fields):
            return
        time.sleep(0.5)
    raise AssertionError(f"{filename}: no {schema} fields after {timeout} s")


def test_upload_browse_ask_correct_and_export(
    served: tuple[str, Cluster],
    browser,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    url, cluster = served
    expect = playwright.expect
    expect.set_options(timeout=60_000)
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.set_default_timeout(60_000)

    # Nobody gets in without the password.
    _sign_in(page, url, "guess")
    expect(page.get_by_text("Wrong password.")).to_be_visible()
    _shot(page, "01-sign-in")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Documents")).to_be_visible()

    # Upload a real PDF and a real scan, plus a corrupt file, an oversized one, a duplicate.
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Upload").click()
    _choose(page, "Fields to extract", "invoice")
    page.get_by_label("Questions (one per line)").fill("What is the total?")
    corrupt = badfiles.make_corrupt_pdf(tmp_path / "bad")
    oversized = tmp_path / "oversized.pdf"
    oversized.write_bytes(b"%PDF-1.7\n" + b"0" * (UPLOAD_LIMIT + 10_000) + b"\n%%EOF\n")
    copy = tmp_path / "copy-of-invoice.pdf"
    shutil.copy(INVOICE, copy)
    page.locator('input[type="file"]').first.set_input_files([INVOICE, SCAN, corrupt, oversized])
    page.get_by_role("button", name="Process").click()
    expect(page.get_by_text("failed: damaged PDF")).to_be_visible()
    expect(page.get_by_text("refused: file too large")).to_be_visible()
    expect(page.get_by_text("ready: 2 pages")).to_be_visible()  # the invoice
    expect(page.get_by_text("ready: 1 page", exact=True)).to_be_visible()  # the scan
    _choose(page, "Fields to extract", "receipt")  # a known document is analysed again
    page.locator('input[type="file"]').first.set_input_files([copy])
    page.get_by_role("button", name="Process").click()
    expect(page.get_by_text("already there: 2 pages")).to_be_visible()
    _shot(page, "02-upload")
    _wait_for_schema(cluster, "zf-001.pdf", "receipt")

    # Browse: the table lists them.
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Documents").click()
    expect(page.locator("[role=gridcell]", has_text="zf-001.pdf")).to_be_attached()  # canvas
    _shot(page, "03-documents")

    # The document: boxes sit where the export says.
    with open_database(cluster.settings)() as session:
        exported = export_documents(session=session)
    invoice = next(d for d in exported if d.document.filename == "zf-001.pdf")
    _sign_in(page, f"{url}/document?id={invoice.document.id}", PASSWORD)  # a new session
    expect(page.get_by_role("heading", name="zf-001.pdf")).to_be_visible()
    boxes = page.locator("rect.box[data-kind=field]")
    expect(boxes.first).to_be_attached()
    image = page.locator(".page img").bounding_box()
    expected = {
        (f"field:{field.schema_name}:{field.name}", tuple(round(c, 4) for c in box.box))
        for field in invoice.fields
        for box in field.boxes
        if box.page == 0
    }
    drawn = set()
    for rect in boxes.all():
        x0, y0, x1, y1 = (float(c) for c in rect.get_attribute("data-box").split(","))
        box = (round(x0, 4), round(y0, 4), round(x1, 4), round(y1, 4))
        drawn |= {(target, box) for target in rect.get_attribute("data-target").split()}
        where = rect.bounding_box()
        assert abs(where["x"] - (image["x"] + x0 * image["width"])) < 3
        assert abs(where["y"] - (image["y"] + y0 * image["height"])) < 3
        assert abs(where["width"] - (x1 - x0) * image["width"]) < 3
        assert abs(where["height"] - (y1 - y0) * image["height"]) < 3
    assert drawn == expected and len(drawn) >= 3
    _shot(page, "04-document")

    # A click on a box selects its field; on a box that several fields share (the invoice's
    # and the receipt's total), the next one.
    shared = next(r for r in boxes.all() if len(r.get_attribute("data-target").split()) > 1)
    first, second = shared.get_attribute("data-target").split()[:2]
    for target in (first, second):
        shared.click()
        expect(page.locator(f'rect.box.selected[data-target~="{target}"]')).to_have_count(1)
    expect(page.locator("rect.box.selected")).to_have_count(1)

    # Ask questions: an answer comes with its page, box and confidence; none says so.
    for question in ("What is the order number?", "What is the Steuernummer?"):
        page.get_by_label("Question", exact=True).fill(question)
        page.get_by_role("button", name="Ask").click()
        expect(page.get_by_text(question)).to_be_visible()
    answers = page.locator('[data-testid="stVerticalBlock"][class*="answer-"]')
    expect(answers.filter(has_text="What is the order number?")).to_contain_text("no answer found")
    expect(page.get_by_text("201/113/40209 (page 1; confidence 1.00)")).to_be_visible()
    expect(page.locator("rect.box.selected[data-kind=answer]")).to_have_count(1)
    _shot(page, "05-ask")

    # Correct a field, then find the correction in the downloaded JSON.
    page.get_by_role("tab", name="Fields").click()
    vendor = page.locator(f'[class*="st-key-field-{invoice.document.id}-invoice-vendor"]')
    vendor.get_by_label("Correct value").fill("Lieferant GmbH (corrected)")
    vendor.get_by_role("button", name="Save correction").click()
    expect(vendor.get_by_text("Lieferant GmbH (corrected)", exact=False).first).to_be_visible()
    expect(vendor).to_contain_text("corrected 20")  # with when it was made
    page.get_by_role("heading", name="zf-001.pdf").scroll_into_view_if_needed()
    _shot(page, "06-fields")
    page.get_by_role("tab", name="Document").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download JSON").click()
    document = json.loads(Path(download.value.path()).read_text())
    corrected = [c for f in document["fields"] for c in f["corrections"]]
    assert [c["value"] for c in corrected] == ["Lieferant GmbH (corrected)"]
    assert document["schema_version"] == 4

    # Another browser, no password: nothing but the sign-in form.
    stranger = browser.new_page()
    stranger.goto(f"{url}/document?id={invoice.document.id}")
    expect(stranger.get_by_label("Password", exact=True)).to_be_visible()
    expect(stranger.locator("rect.box")).to_have_count(0)
    expect(stranger.get_by_text("zf-001.pdf")).to_have_count(0)

    # A colleague signed in at the same time has a session of their own: the same document,
    # nothing selected; the upload page, none of the first browser's uploads.
    colleague = browser.new_page(viewport={"width": 1500, "height": 1100})
    _sign_in(colleague, f"{url}/document?id={invoice.document.id}", PASSWORD)
    expect(colleague.locator("rect.box[data-kind=field]").first).to_be_attached()
    expect(colleague.locator("rect.box.selected")).to_have_count(0)
    colleague.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Upload").click()
    expect(colleague.get_by_role("heading", name="Upload documents")).to_be_visible()
    expect(colleague.get_by_text("oversized.pdf")).to_have_count(0)
    expect(page.locator("rect.box.selected")).to_have_count(1)  # the first browser's, kept
