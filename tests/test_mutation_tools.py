"""The mutation-testing helpers: which tests judge a mutant, and how the score is counted."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests import mutation_scope
from tests.mutation_scope import (
    EQUIVALENTS,
    TIMES_FILE,
    judging_tests,
    pytest_collection_modifyitems,
    pytest_load_initial_conftests,
    pytest_sessionfinish,
    read_equivalents,
)
from tests.mutation_score import main as print_score
from tests.mutation_score import print_unreviewed


@pytest.mark.parametrize(
    ("mutant", "tests"),
    [
        ("app.services.ingest.x__read_pages__mutmut_3", ("tests/app/test_ingest.py",)),
        ("app.services.jobs.xǁHeartbeatǁbeat__mutmut_1", ("tests/app/test_jobs.py",)),
        (
            "pipeline.engines.extractive.x_find_field__mutmut_7",
            (
                "tests/pipeline/test_candidates.py",
                "tests/pipeline/test_extractive.py",
                "tests/pipeline/test_extractor_rules.py",
                "tests/pipeline/test_ranker.py",
            ),
        ),
        (
            "pipeline.grounding.xǁ_Streamǁcuts_run__mutmut_1",
            ("tests/pipeline/test_grounding.py", "tests/pipeline/test_layout.py"),
        ),
        ("pipeline.layout.x_group_lines__mutmut_1", ("tests/pipeline/",)),
        ("app.services.unmapped.x_f__mutmut_1", ("tests/app/",)),
        ("workers.tasks.x_run__mutmut_1", ("tests/",)),
    ],
)
def test_a_mutant_is_judged_by_its_module_s_tests(mutant: str, tests: tuple[str, ...]) -> None:
    assert judging_tests(mutant) == tests


def test_a_mutant_s_run_collects_only_its_module_s_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUTANT_UNDER_TEST", "app.services.jobs.x_f__mutmut_2")
    args = ["-p", "no:randomly", "tests/app/test_jobs.py::a", "tests/app/test_ingest.py::b"]
    pytest_load_initial_conftests(args)
    assert args == ["-p", "no:randomly", "tests/app/test_jobs.py::a"]
    outside = ["-x", "tests/app/test_ingest.py::test_b"]
    pytest_load_initial_conftests(outside)  # emptied by collection, not widened to all
    assert outside == ["-x", "tests/app/test_ingest.py::test_b"]
    monkeypatch.setenv("MUTANT_UNDER_TEST", "stats")
    stats = ["tests/app", "tests/pipeline"]
    pytest_load_initial_conftests(stats)
    assert stats == ["tests/app", "tests/pipeline"]


@dataclass
class _Item:
    nodeid: str
    slow: bool = False

    def get_closest_marker(self, name: str) -> object | None:
        return name if self.slow and name == "slow" else None


@pytest.mark.parametrize(
    ("mutant", "kept"),
    [
        ("stats", ["tests/app/test_jobs.py::a[sqlite]", "tests/app/test_ingest.py::c"]),
        ("app.services.jobs.x_f__mutmut_1", ["tests/app/test_jobs.py::a[sqlite]"]),
    ],
)
def test_every_mutmut_run_leaves_out_slow_and_postgresql_tests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mutant: str, kept: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # mutmut's working folder, with its results so far
    _results(tmp_path, "app/services/jobs.py", {"1": None})
    monkeypatch.setenv("MUTANT_UNDER_TEST", mutant)
    items = _items()
    deselected: list[object] = []
    pytest_collection_modifyitems(_config(deselected), items)  # type: ignore[arg-type]
    assert [item.nodeid for item in items] == kept
    assert len(deselected) == 4 - len(kept)


def _items() -> list[_Item]:
    return [
        _Item("tests/app/test_jobs.py::a[sqlite]"),
        _Item("tests/app/test_jobs.py::a[postgresql]"),
        _Item("tests/app/test_jobs.py::b", slow=True),
        _Item("tests/app/test_ingest.py::c"),
    ]


def _config(deselected: list[object]) -> SimpleNamespace:
    """Enough of a pytest config for the plugin's hooks: its hook caller and stash."""
    hook = SimpleNamespace(pytest_deselected=lambda items: deselected.extend(items))
    return SimpleNamespace(hook=hook, stash=pytest.Stash())


def test_a_listed_equivalent_survives_without_running_a_test_until_its_function_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _results(tmp_path, "app/services/jobs.py", {"1": None, "2": None})
    listing = _listing(tmp_path, "## why\napp.services.jobs.x_f__mutmut_1 0123456789ab\n")
    monkeypatch.setattr(mutation_scope, "EQUIVALENTS", listing)
    for mutant, runs in (("1", 0), ("2", 1)):
        monkeypatch.setenv("MUTANT_UNDER_TEST", f"app.services.jobs.x_f__mutmut_{mutant}")
        config, items = _config([]), _items()
        pytest_collection_modifyitems(config, items)  # type: ignore[arg-type]
        session = SimpleNamespace(
            config=config, items=items, exitstatus=pytest.ExitCode.NO_TESTS_COLLECTED
        )
        pytest_sessionfinish(session, session.exitstatus)  # type: ignore[arg-type]
        assert (len(items), session.exitstatus == pytest.ExitCode.OK) == (runs, runs == 0)
    monkeypatch.setenv("MUTANT_UNDER_TEST", "app.services.jobs.x_f__mutmut_1")
    monkeypatch.setenv("RECHECK_EQUIVALENTS", "1")
    items = _items()
    pytest_collection_modifyitems(_config([]), items)  # type: ignore[arg-type]
    assert len(items) == 1  # asked to: listed mutants run again
    monkeypatch.delenv("RECHECK_EQUIVALENTS")
    listing.write_text(listing.read_text().replace("0123456789ab", "ba9876543210"))
    items = _items()
    pytest_collection_modifyitems(_config([]), items)  # type: ignore[arg-type]
    assert len(items) == 1  # the function changed since it was reviewed: it runs again


def _results(folder: Path, source: str, codes: dict[str, int | None]) -> None:
    """A meta file as mutmut writes it, for mutants `<module>.x_f__mutmut_<key>` of one
    function `x_f` whose source hash is 0123456789ab."""
    module = source.removesuffix(".py").replace("/", ".")
    meta = folder / f"{source}.meta"
    meta.parent.mkdir(parents=True, exist_ok=True)
    by_key = {f"{module}.x_f__mutmut_{key}": code for key, code in codes.items()}
    meta.write_text(
        json.dumps({"exit_code_by_key": by_key, "hash_by_function_name": {"x_f": "0123456789ab"}})
    )


def test_the_score_counts_caught_mutants_per_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed (1), timed out (36) and crashed (-9) are caught; survived (0) and no tests (33)
    are not; not yet run (None) and skipped (34) are left out of the total."""
    _results(tmp_path, "pipeline/grounding.py", {"1": 1, "2": 0, "3": 36, "4": None})
    _results(tmp_path, "pipeline/engines/ranker.py", {"1": 1, "2": 33, "3": 34})
    _results(tmp_path, "app/services/jobs.py", {"1": -9, "2": 1, "3": 1, "4": 0})
    assert print_score(tmp_path, _listing(tmp_path, "")) == 0
    assert capsys.readouterr().out.splitlines() == [
        "app/services: 75% (3/4); survivors: 0 equivalent, 1 to review",
        "pipeline/engines: 50% (1/2); survivors: 0 equivalent, 1 to review, 1 not run",
        "pipeline/grounding.py: 67% (2/3); survivors: 0 equivalent, 1 to review, 1 not run",
        "mutation score: 67% (6/9)",
    ]


def _listing(folder: Path, entries: str) -> Path:
    listing = folder / "equivalents.txt"
    listing.write_text("# The list of equivalent mutants.\n" + entries)
    return listing


def test_survivors_listed_as_equivalent_count_while_their_function_is_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _results(tmp_path / "mutants", "app/services/jobs.py", {"1": 1, "2": 0, "3": 0, "4": 0})
    listing = _listing(
        tmp_path,
        "\n## a reason\n"
        "app.services.jobs.x_f__mutmut_2 0123456789ab\n"
        "app.services.jobs.x_f__mutmut_3 ba9876543210\n"  # its function changed since
        "app.services.jobs.x_f__mutmut_1 0123456789ab\n",  # killed: not a survivor
    )
    assert print_score(tmp_path / "mutants", listing) == 0
    assert capsys.readouterr().out.splitlines()[:4] == [
        "2 listed equivalents no longer survive, remove them:",
        "  app.services.jobs.x_f__mutmut_1 0123456789ab",
        "  app.services.jobs.x_f__mutmut_3 ba9876543210",
        "app/services: 25% (1/4); survivors: 1 equivalent, 2 to review",
    ]
    assert print_unreviewed(tmp_path / "mutants", listing) == 0
    assert capsys.readouterr().out.splitlines() == [
        "app.services.jobs.x_f__mutmut_3 0123456789ab",
        "app.services.jobs.x_f__mutmut_4 0123456789ab",
    ]


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ("a.x_f__mutmut_1 0123456789ab\n", ":2: an entry with no `## reason` above it"),
        ("## why\na.x_f__mutmut_1\n", ":3: not `<mutant> <function hash>`: a.x_f__mutmut_1"),
    ],
)
def test_an_entry_without_a_reason_or_a_hash_is_refused_by_line(
    tmp_path: Path, entries: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        read_equivalents(_listing(tmp_path, entries))


def test_the_shipped_listing_reads() -> None:
    assert all("__mutmut_" in mutant for mutant, _ in read_equivalents(EQUIVALENTS))


def test_no_results_is_an_error_not_a_score(tmp_path: Path) -> None:
    assert print_score(tmp_path) == 2


def test_each_mutant_s_run_appends_its_time_and_the_report_sums_them_by_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    items = [_Item("tests/app/test_jobs.py::a")] * 3
    session = SimpleNamespace(items=items, exitstatus=1, config=_config([]))
    monkeypatch.setenv("MUTANT_UNDER_TEST", "stats")
    pytest_sessionfinish(session, 0)  # type: ignore[arg-type]
    assert not (tmp_path / TIMES_FILE).exists()  # mutmut's own runs are not mutants
    monkeypatch.setenv("MUTANT_UNDER_TEST", "app.services.jobs.xǁJobǁf__mutmut_1")
    pytest_load_initial_conftests([])
    pytest_sessionfinish(session, 1)  # type: ignore[arg-type]
    (record,) = map(json.loads, (tmp_path / TIMES_FILE).read_text().splitlines())
    assert record["mutant"] == "app.services.jobs.xǁJobǁf__mutmut_1"
    assert (record["tests"], record["exit"]) == (3, 1)
    assert 0 <= record["seconds"] < 5
    times = [
        ("app.services.jobs.x_f__mutmut_1", 240.0),  # tried again below: the last time counts
        ("app.services.jobs.x_f__mutmut_1", 30.0),
        ("app.services.jobs.xǁJobǁf__mutmut_2", 60.0),
        ("pipeline.grounding.x_g__mutmut_1", 120.0),
        ("pipeline.fields.normalize.x_h__mutmut_1", 6.0),
    ]
    (tmp_path / TIMES_FILE).write_text(
        "".join(json.dumps({"mutant": m, "seconds": s}) + "\n" for m, s in times)
    )
    _results(tmp_path, "app/services/jobs.py", {"1": 1})
    assert print_score(tmp_path, _listing(tmp_path, "")) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "mutants' runs: 3.6 process-minutes; slowest: "
        "pipeline.grounding 2.0, app.services.jobs 1.5, pipeline.fields.normalize 0.1"
    )


def test_a_mutant_s_tests_run_last_killer_first_then_fastest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stats run saves each test's whole time; a killed mutant leaves its killer for the
    next mutant of its function, whose tests run that one first and the rest fastest first."""
    monkeypatch.chdir(tmp_path)
    _results(tmp_path, "app/services/jobs.py", {"1": None, "2": None})
    monkeypatch.setenv("MUTANT_UNDER_TEST", "stats")
    monkeypatch.setattr(mutation_scope, "_seconds", {})
    for nodeid, when, seconds in [
        ("tests/app/test_jobs.py::slow", "setup", 2.0),
        ("tests/app/test_jobs.py::slow", "call", 0.5),
        ("tests/app/test_jobs.py::quick", "call", 0.1),
        ("tests/app/test_jobs.py::middling", "call", 1.0),
    ]:
        report = SimpleNamespace(nodeid=nodeid, when=when, duration=seconds, failed=False)
        mutation_scope.pytest_runtest_logreport(report)  # type: ignore[arg-type]
    finished = SimpleNamespace(items=[], exitstatus=0, config=_config([]))
    pytest_sessionfinish(finished, 0)  # type: ignore[arg-type]

    def run_order(mutant: str) -> list[str]:
        monkeypatch.setenv("MUTANT_UNDER_TEST", f"app.services.jobs.x_f__mutmut_{mutant}")
        items = [_Item(f"tests/app/test_jobs.py::{name}") for name in ("slow", "middling", "quick")]
        pytest_collection_modifyitems(_config([]), items)  # type: ignore[arg-type]
        return [item.nodeid.rsplit(":", 1)[1] for item in items]

    assert run_order("1") == ["quick", "middling", "slow"]
    monkeypatch.setattr(mutation_scope, "_killed_by", "tests/app/test_jobs.py::slow")
    pytest_sessionfinish(finished, 1)  # type: ignore[arg-type]
    assert run_order("2") == ["slow", "quick", "middling"]
