"""The identity keys shared by results and corrections (DESIGN.md: "Identity")."""

from __future__ import annotations

import hashlib


def question_sha256(question: str) -> str:
    """Questions can be long: they are keyed by the hash of their stripped text."""
    return hashlib.sha256(question.strip().encode()).hexdigest()


def field_target(schema_name: str, field_name: str) -> str:
    """What a correction of a field is about, whichever engine produced the field."""
    return f"field:{schema_name}:{field_name}"


def answer_target(question: str) -> str:
    """What a correction of an answer is about, whichever engine or page answered."""
    return f"answer:{question_sha256(question)}"
