"""The `docfuse` command line: a thin layer over app.services and app.dispatch.

Each module registers its commands on the one Typer app in `app.cli.common`.
"""

from app.cli import (  # noqa: F401 - each module registers its commands
    analysis,
    corrections,
    demo,
    documents,
    evaluation,
    finetune,
    ingest,
    jobs,
    train_extractor,
    ui,
    watch,
)
from app.cli.common import cli, main

__all__ = ["cli", "main"]
