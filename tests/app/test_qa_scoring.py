"""ANLS and exact match as DocVQA scores them, and QA files that say what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.evaluation.qa import anls, exact_match, load_qa


def test_anls_is_the_best_similarity_under_the_threshold() -> None:
    assert anls("89.28", ("89.28",)) == 1.0
    assert anls("  Total  DUE ", ("total due",)) == 1.0  # case and spacing do not count
    assert anls("89.29", ("89.28",)) == pytest.approx(0.8)
    assert anls("INV-42", ("nothing like it", "inv-41")) == pytest.approx(5 / 6)  # the best
    assert anls("abcde", ("abxye",)) == pytest.approx(0.6)  # under half wrong counts
    assert anls("abcd", ("abxy",)) == 0.0  # half wrong or more: nothing
    assert anls("", ("89.28",)) == 0.0


def test_exact_match_ignores_case_and_spacing_only() -> None:
    assert exact_match("INV 2026", ("x", "inv  2026"))
    assert not exact_match("INV-2026", ("inv 2026",))


def _write(folder: Path, *lines: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "page.png").write_bytes(b"not read here")
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    (folder / "qa.jsonl").write_text(text + "\n")
    return folder


def test_questions_are_grouped_by_document_in_file_order(tmp_path: Path) -> None:
    folder = _write(
        tmp_path,
        {"file": "page.png", "question": "Q1", "answers": ["a"]},
        "",
        {"file": "page.png", "question": "Q2", "answers": ["b", "c"], "page": 0},
    )
    ((document, items),) = load_qa(folder).items()
    assert document == folder / "page.png"
    assert [(i.question, i.answers, i.page) for i in items] == [
        ("Q1", ("a",), None),
        ("Q2", ("b", "c"), 0),
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", r"qa.jsonl:1: not a QA line \(JSONDecodeError"),
        ({"file": "page.png", "answers": ["a"]}, r"qa.jsonl:1: not a QA line \(KeyError"),
        ({"file": "gone.png", "question": "Q", "answers": ["a"]}, "gone.png does not exist"),
        ({"file": "page.png", "question": "Q", "answers": []}, "needs one answer or more"),
        ({"file": "page.png", "question": "Q", "answers": ["a"], "page": "2"}, "whole page"),
    ],
)
def test_a_bad_line_is_named_with_its_reason(tmp_path: Path, line: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        load_qa(_write(tmp_path, line))


def test_a_folder_without_questions_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no qa.jsonl"):
        load_qa(tmp_path)
    with pytest.raises(ValueError, match="no questions"):
        load_qa(_write(tmp_path, ""))
