"""Pytest plugin for `make mutation`: each mutant is judged by its own module's fast tests.

mutmut runs, for each mutant, the tests that reached the mutated function. Nearly every app
test ingests a document and nearly every pipeline test parses a date, so a surviving mutant
would otherwise run most of the suite, and the run would take hours on two cores. Here the
tests of a mutant are narrowed to those written for its module (SCOPES), or else for its
package (PACKAGE_TESTS), before pytest collects them. A mutant none of its module's tests
reach counts as a survivor: a module's behaviour should be pinned by its own tests.

A mutant listed as equivalent in EQUIVALENTS, with the hash of its function's current source,
is not tried again: its tests would pass, as they did when it was reviewed, so its run
reports a survivor at once. Once its function changes, the entry no longer matches and the
mutant runs. A new test may kill a listed mutant whose function did not change: with
RECHECK_EQUIVALENTS=1 in the environment listed mutants run too, and the score names the
entries whose mutant no longer survives.

A mutant's tests run in the order most likely to end its run soonest: first the test that
last killed a mutant of the same function (mutants of one function run one after another,
and a test that catches one usually catches the next), then the rest fastest first, by each
test's whole time (set-up included, where most of an app test's time goes) in mutmut's
stats run. A killed mutant stops at its first failing test.

Every run mutmut makes (stats, clean, forced-fail and mutants) leaves out the tests marked
`slow` (whole-data training, hundreds of files, subprocesses: seconds each, paid again by
every mutant they reach; `make test` runs them) and the PostgreSQL variants: what differs
on PostgreSQL lives in app/db, which is not mutated.
"""

from __future__ import annotations

import gc
import json
import os
import re
import time
from pathlib import Path

import pytest

PACKAGE_TESTS = {
    "pipeline.engines.": (
        "tests/pipeline/test_candidates.py",
        "tests/pipeline/test_extractive.py",
        "tests/pipeline/test_extractor_rules.py",
        "tests/pipeline/test_ranker.py",
    ),
    "pipeline.": ("tests/pipeline/",),
    "app.": ("tests/app/",),
}
SCOPES = {
    "pipeline.engines.florence_vl": ("tests/model/test_engine_florence_vl.py",),
    "pipeline.fields.normalize": ("tests/pipeline/test_normalize.py",),
    "pipeline.fields.schemas": ("tests/pipeline/test_schemas.py",),
    "pipeline.grounding": ("tests/pipeline/test_grounding.py", "tests/pipeline/test_layout.py"),
    "app.services.analysis": (
        "tests/app/test_analysis.py",
        "tests/app/test_einvoice_fields.py",
        "tests/app/test_jobs.py",  # batching analyses for one engine call
    ),
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
    "app.services.pages": (
        "tests/app/test_ingest.py",
        "tests/app/test_analysis.py",
        "tests/app/test_einvoice_fields.py",  # the invoice XML a PDF carries
    ),
    "app.services.payloads": (
        "tests/app/test_analysis.py",
        "tests/app/test_jobs.py",
        "tests/app/test_einvoice_fields.py",  # the invoice XML handed on to the analysis
    ),
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


EQUIVALENTS = Path(__file__).with_name("mutation_equivalents.txt")


def read_equivalents(listing: Path) -> set[tuple[str, str]]:
    """The (mutant, function hash) entries of the listing; each must follow a `## reason`
    line (other lines starting with `#` are comments)."""
    entries: set[tuple[str, str]] = set()
    reason = ""
    for number, line in enumerate(listing.read_text().splitlines(), 1):
        if line.startswith("## "):
            reason = line[3:].strip()
        elif line.strip() and not line.startswith("#"):
            if not (match := re.fullmatch(r"(\S+__mutmut_\d+) ([0-9a-f]{12})", line.strip())):
                raise ValueError(f"{listing}:{number}: not `<mutant> <function hash>`: {line}")
            if not reason:
                raise ValueError(f"{listing}:{number}: an entry with no `## reason` above it")
            entries.add((match[1], match[2]))
    return entries


def function_of(mutant: str) -> str:
    """The mutated function's name as mutmut keys its hash (`x_name`, `xǁClassǁname`)."""
    return mutant[len(module_of(mutant)) + 1 :].rsplit("__mutmut_", 1)[0]


def listed_equivalent(mutant: str, mutants: Path = Path()) -> bool:
    """Whether `mutant` is listed in EQUIVALENTS with the hash mutmut recorded for its
    function's source (in `<module path>.py.meta` under `mutants`, its working folder);
    never while RECHECK_EQUIVALENTS is set."""
    if os.environ.get("RECHECK_EQUIVALENTS"):
        return False
    meta = mutants / (module_of(mutant).replace(".", "/") + ".py.meta")
    hashes = json.loads(meta.read_text())["hash_by_function_name"]
    return (mutant, hashes.get(function_of(mutant), "")) in read_equivalents(EQUIVALENTS)


def module_of(mutant: str) -> str:
    """The module a mutmut mutant name lies in (functions are x_name, classes' xǁClassǁname)."""
    return re.split(r"\.x[_ǁ]", mutant, maxsplit=1)[0]


def judging_tests(mutant: str) -> tuple[str, ...]:
    """The test paths (prefixes of node ids) that judge `mutant`, a mutmut mutant name."""
    module = module_of(mutant)
    if module in SCOPES:
        return SCOPES[module]
    for package, paths in PACKAGE_TESTS.items():
        if module.startswith(package):
            return paths
    return ("tests/",)


def _mutant() -> str:
    """The mutant under test, or "" in mutmut's stats, clean and forced-fail runs."""
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    return mutant if "__mutmut_" in mutant else ""


# In mutmut's working folder (`mutants/`): where each mutant's run appends its wall time
# (mutmut's fork server records none, and the slowest modules are where a run's time goes);
# each test's whole time in the stats run; per mutated function, the test that last killed
# one of its mutants.
TIMES_FILE = "mutant-times.jsonl"
SECONDS_FILE = "test-seconds.json"
KILLERS = Path("mutant-killers")
_seconds: dict[str, float] = {}  # this run's tests: set-up, call and teardown
_started = time.monotonic()
_started_at = time.time()  # when this run began, to see the gaps between a slot's runs
_killed_by = ""  # the first test that failed on this run's mutant


def pytest_load_initial_conftests(args: list[str]) -> None:
    """Drop the test ids outside the mutant's scope before pytest collects their files."""
    global _started, _started_at
    _started, _started_at = time.monotonic(), time.time()
    if not (mutant := _mutant()):
        return
    paths = judging_tests(mutant)
    kept = [arg for arg in args if not arg.startswith("tests/") or arg.startswith(paths)]
    if any(arg.startswith("tests/") for arg in kept):  # with none, pytest would take all
        args[:] = kept


def pytest_configure(config: pytest.Config) -> None:
    """Exempt what the process held before this run from garbage collection.

    Each mutant's run is forked from a server that imported torch, transformers and every
    test module; pytest collects garbage several times as it ends, and walking that heap
    took most of a quick mutant's time.
    """
    if _mutant():
        gc.freeze()


EQUIVALENT = pytest.StashKey[bool]()  # this run's mutant is a listed equivalent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    paths = judging_tests(mutant) if (mutant := _mutant()) else ("",)
    equivalent = config.stash[EQUIVALENT] = bool(mutant) and listed_equivalent(mutant)
    kept = [
        item
        for item in items
        if item.nodeid.startswith(paths)
        and "[postgresql" not in item.nodeid
        and item.get_closest_marker("slow") is None
        and not equivalent
    ]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    if mutant:
        _run_order(mutant, kept)
    items[:] = kept


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _killed_by
    if report.failed and not _killed_by:
        _killed_by = report.nodeid
    _seconds[report.nodeid] = _seconds.get(report.nodeid, 0.0) + report.duration


def _killer_file(mutant: str) -> Path:
    return KILLERS / f"{module_of(mutant)}.{function_of(mutant)}"


def _run_order(mutant: str, items: list[pytest.Item]) -> None:
    """The last killer of the function's mutants first, then the fastest tests first."""
    killer = _killer_file(mutant)
    first = killer.read_text() if killer.exists() else None
    known = _known_seconds()
    items.sort(key=lambda item: (item.nodeid != first, known.get(item.nodeid, 0.0)))


def _known_seconds() -> dict[str, float]:
    seconds = Path(SECONDS_FILE)
    return json.loads(seconds.read_text()) if seconds.exists() else {}


def _save_seconds() -> None:
    """Add the stats run's test times to SECONDS_FILE (a stats run of new tests adds)."""
    added = {nodeid: round(seconds, 3) for nodeid, seconds in _seconds.items()}
    Path(SECONDS_FILE).write_text(json.dumps(_known_seconds() | added))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A listed equivalent survives (pytest would say it had no tests); every mutant's wall
    time, tests kept, exit status and the test that killed it are appended to TIMES_FILE,
    and its killer kept for the next mutant of its function. The stats run's test times are
    saved."""
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        _save_seconds()
    if not (mutant := _mutant()):
        return
    if _killed_by:
        KILLERS.mkdir(exist_ok=True)
        _killer_file(mutant).write_text(_killed_by)
    if session.config.stash.get(EQUIVALENT, False):
        session.exitstatus = pytest.ExitCode.OK
    record = {
        "mutant": mutant,
        "started": round(_started_at, 3),
        "seconds": round(time.monotonic() - _started, 3),
        "tests": len(session.items),
        "exit": int(session.exitstatus),
        "killed_by": _killed_by,
    }
    with open(TIMES_FILE, "a", encoding="utf-8") as times:  # one short append per process
        times.write(json.dumps(record) + "\n")
