"""Pytest plugin for `make mutation`: each mutant is judged by its own module's tests.

mutmut runs, for each mutant, the tests that reached the mutated function. Nearly every app
test ingests a document and nearly every pipeline test parses a date, so a surviving mutant
would otherwise run most of the suite, and the run would take hours on two cores. Here the
tests of a mutant are narrowed to those written for its module (SCOPES), or else for its
package (PACKAGE_TESTS); the stats, clean and forced-fail runs mutmut makes first keep every
test. A mutant none of its module's tests reach counts as a survivor: a module's behaviour
should be pinned by its own tests. Tests run on SQLite alone: what differs on PostgreSQL
lives in app/db, which is not mutated.
"""

from __future__ import annotations

import os
import re

import pytest

PACKAGE_TESTS = {
    "pipeline.engines.": ("tests/pipeline/test_extractive.py", "tests/pipeline/test_ranker.py"),
    "pipeline.": ("tests/pipeline/",),
    "app.": ("tests/app/",),
}
SCOPES = {
    "pipeline.engines.florence_vl": ("tests/model/test_engine_florence_vl.py",),
    "pipeline.fields.normalize": ("tests/pipeline/test_normalize.py",),
    "pipeline.fields.schemas": ("tests/pipeline/test_schemas.py",),
    "pipeline.grounding": ("tests/pipeline/test_grounding.py", "tests/pipeline/test_layout.py"),
    "app.services.analysis": ("tests/app/test_analysis.py", "tests/app/test_einvoice_fields.py"),
    "app.services.corrections": ("tests/app/test_corrections.py",),
    "app.services.documents": ("tests/app/test_documents.py", "tests/app/test_cli.py"),
    "app.services.export": ("tests/app/test_export.py", "tests/app/test_corrections.py"),
    "app.services.extractor_training": (
        "tests/app/test_train_extractor.py",
        "tests/app/test_corrections.py",
    ),
    "app.services.heartbeat": ("tests/app/test_jobs.py",),
    "app.services.ingest": ("tests/app/test_ingest.py",),
    "app.services.jobs": ("tests/app/test_jobs.py",),
    "app.services.pages": ("tests/app/test_ingest.py", "tests/app/test_analysis.py"),
    "app.services.payloads": ("tests/app/test_analysis.py", "tests/app/test_jobs.py"),
    "app.services.recovery": ("tests/app/test_jobs.py",),
    "app.services.results": (
        "tests/app/test_results.py",
        "tests/app/test_analysis.py",
        "tests/app/test_export.py",
    ),
    "app.services.storage": ("tests/app/test_storage.py", "tests/app/test_ingest.py"),
    "app.services.training_export": ("tests/app/test_training_export.py",),
    "app.services.watch": ("tests/app/test_watch.py",),
    "app.services.workers": ("tests/app/test_workers_registry.py",),
}


def judging_tests(mutant: str) -> tuple[str, ...]:
    """The test paths (prefixes of node ids) that judge `mutant`, a mutmut mutant name."""
    module = re.split(r"\.x[_ǁ]", mutant, maxsplit=1)[0]  # functions: x_name, xǁClassǁname
    if module in SCOPES:
        return SCOPES[module]
    for package, paths in PACKAGE_TESTS.items():
        if module.startswith(package):
            return paths
    return ("tests/",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if "__mutmut_" not in mutant:
        return
    paths = judging_tests(mutant)
    kept = [
        item
        for item in items
        if item.nodeid.startswith(paths) and "[postgresql" not in item.nodeid  # SQLite only
    ]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept
