"""Fields as a person reviews them: which values need a look, in what order, and the row
the fields table shows (the model's value with the person's beside it)."""

from __future__ import annotations

from app.schemas import FieldOut

LOW_CONFIDENCE = 0.6


def doubtful(field: FieldOut) -> bool:
    """Worth a person's look: a value not found on the page, or one of low confidence."""
    return bool(field.value) and (not field.grounded or (field.confidence or 0.0) < LOW_CONFIDENCE)


def where(field: FieldOut) -> str:
    if field.grounded and field.page is not None:
        return f"page {field.page + 1}"
    return "not found on the page" if field.value else "no value"


def review_order(field: FieldOut) -> tuple[int, float]:
    """What most needs a person first: doubtful values, then missing ones, least confident
    first."""
    rank = 0 if doubtful(field) else 1 if not field.value else 2
    return rank, field.confidence or 0.0


def field_summary(field: FieldOut) -> dict[str, object]:
    """One row of the fields table: the model's value, and the person's beside it."""
    person = field.corrections[0] if field.corrections else None
    return {
        "field": field.name,
        "value": field.value,
        "where": where(field),
        "confidence": field.confidence,
        "review": "⚠" if doubtful(field) else "",
        "person": f"{person.kind}: {person.value or ''}" if person else "",
    }
