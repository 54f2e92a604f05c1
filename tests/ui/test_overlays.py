"""What the viewer draws: one element per box and kind, naming every field found there,
smaller boxes last (on top), the selection marked, layers honoured."""

from __future__ import annotations

from app.schemas import BoxOut, ExportDocument, FieldOut, PageOut, WordOut
from ui.overlays import page_overlays

DATE = (0.5, 0.06, 0.64, 0.08)
ROW = (0.1, 0.05, 0.9, 0.09)


def _field(name: str, box: tuple[float, float, float, float], page: int = 0) -> FieldOut:
    return FieldOut.model_construct(
        schema_name="invoice",
        name=name,
        raw_text=name,
        boxes=[BoxOut(page=page, box=box)],
        corrections=[],
    )


def _document() -> ExportDocument:
    word = WordOut(text="13.06.2018", box=DATE, confidence=None)
    return ExportDocument.model_construct(
        pages=[PageOut.model_construct(words=[word]), PageOut.model_construct(words=[])],
        answers=[],
        fields=[
            _field("issue_date", DATE),
            _field("seller", ROW),
            _field("due_date", DATE),
            _field("total", ROW, page=1),
        ],
    )


def test_fields_on_the_same_words_share_one_element_drawn_over_larger_ones() -> None:
    overlays = page_overlays(_document(), 0, {"fields"}, "field:invoice:due_date")
    assert [(o.targets, o.box, o.selected) for o in overlays] == [
        (("field:invoice:seller",), ROW, False),
        (("field:invoice:issue_date", "field:invoice:due_date"), DATE, True),
    ]
    assert overlays[1].label == "issue_date: issue_date\ndue_date: due_date"


def test_layers_choose_what_is_drawn_and_kinds_are_never_merged() -> None:
    overlays = page_overlays(_document(), 0, {"words", "fields"}, None)
    assert sorted((o.kind, o.targets) for o in overlays if o.box == DATE) == [
        ("field", ("field:invoice:issue_date", "field:invoice:due_date")),
        ("word", ("word:0",)),
    ]
    assert page_overlays(_document(), 0, set(), None) == []
    assert [o.targets for o in page_overlays(_document(), 1, {"fields"}, None)] == [
        ("field:invoice:total",)
    ]
