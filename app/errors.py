"""docfuse's error hierarchy, as the CLI, the workers and the UI catch it.

Every error docfuse raises on purpose derives from `DocfuseError` (defined in
`pipeline.errors`, so the pipeline's refusals of bad input belong to it). Callers catch
`DocfuseError` to show a one-line reason; anything else is a bug and keeps its traceback.
Workers fail a job on `BadInputError` and never retry it: the same input fails again.
"""

from __future__ import annotations

from pipeline.errors import BadInputError, DocfuseError

__all__ = [
    "BadInputError",
    "DocfuseError",
    "NotFoundError",
    "NotReadyError",
    "SetupError",
    "StateError",
]


class NotFoundError(DocfuseError):
    """A document, job or page named by the user does not exist."""


class NotReadyError(DocfuseError):
    """The document has no pages to ask about (still being processed, or failed)."""


class StateError(DocfuseError):
    """The request does not fit the record's state (cancelling a finished job)."""


class SetupError(DocfuseError):
    """A setting points at something docfuse cannot use (database, data dir)."""
