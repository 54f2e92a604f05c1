"""`docfuse train-extractor`: retrain the extractive engine's candidate ranker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from app.cli.common import (
    ExitCode,
    calibration_line,
    command,
    console,
    errors,
    esc,
    load_settings,
    pct,
    progress_bar,
)
from app.config import Settings
from app.db import open_database
from app.services.extractor_training import (
    corrected_documents,
    cross_validation_report,
    folder_documents,
)
from pipeline.engines.ranker import save_ranker
from pipeline.engines.ranker_training import (
    BUILTIN_SETS,
    FieldSet,
    field_sets,
    fit_ranker,
    load_sets,
    save_sets,
)
from pipeline.engines.synthetic_invoices import synthetic_invoices


@command("train-extractor")
def train_extractor(
    data: Annotated[
        list[str] | None,
        typer.Option("--data", help="A labelled folder and its format: DIR:docfuse, DIR:sroie."),
    ] = None,
    corrections: Annotated[
        bool, typer.Option(help="Learn from the fields people corrected or confirmed.")
    ] = True,
    base: Annotated[
        bool, typer.Option(help="Keep what docfuse's development documents taught.")
    ] = True,
    out: Annotated[
        Path | None,
        typer.Option(help="Default: DATA_DIR/extractor-ranker.json, which extraction then uses."),
    ] = None,
    save: Annotated[
        Path | None, typer.Option("--save-sets", help="Also keep the candidate sets (.npz).")
    ] = None,
    synthetic: Annotated[
        int, typer.Option(min=0, help="Also train on this many synthetic invoices.")
    ] = 0,
    cross_validate: Annotated[
        bool, typer.Option(help="Score it on layout families held out of its training.")
    ] = False,
) -> None:
    """Train the ranker that picks each field's value among its candidates, and calibrates
    its confidence. The last line printed is a JSON summary."""
    settings = load_settings()
    sets: list[FieldSet] = load_sets(BUILTIN_SETS) if base else []
    for spec in data or []:
        sets += _folder_sets(spec, settings)
    sets += field_sets(synthetic_invoices(synthetic))
    corrected = 0
    if corrections:
        with open_database(settings)() as session:
            documents = corrected_documents(session, settings)
        corrected = len(documents)
        sets += field_sets(documents)
    ranker = fit_ranker(sets)
    if not ranker.models:
        errors.print("too few labelled values to learn from: correct or confirm more fields")
        raise typer.Exit(ExitCode.BAD_INPUT)
    target = out or settings.trained_ranker
    ranker = save_ranker(ranker, target)
    if save is not None:
        save_sets(sets, save)
    summary: dict[str, Any] = {
        "ranker": str(target),
        "version": ranker.version,
        "fields": sorted(ranker.models),
        "sets": len(sets),
        "corrected_documents": corrected,
    }
    if cross_validate:
        summary["cross_validation"] = report = cross_validation_report(sets)
        _print_report(report)
    typer.echo(json.dumps(summary))


def _folder_sets(spec: str, settings: Settings) -> list[FieldSet]:
    """The candidate sets of a labelled folder given as DIR:FORMAT, with a progress bar."""
    folder, _, fmt = spec.rpartition(":")
    if not folder or not Path(folder).is_dir():
        errors.print(f"--data {esc(spec)}: expected an existing DIR:FORMAT")
        raise typer.Exit(ExitCode.BAD_INPUT)
    with progress_bar() as progress:
        task = progress.add_task(f"reading {Path(folder).name}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return field_sets(folder_documents(Path(folder), fmt, settings, advance))


def _print_report(report: dict[str, Any]) -> None:
    table = Table("field", "rules", "ranker", "reachable", "n", title="held-out families")
    for name, scores in report["fields"].items():
        table.add_row(
            name,
            pct(scores["rules"]),
            pct(scores["ranker"]),
            pct(scores["reachable"]),
            str(scores["n"]),
        )
    every = report["all_fields"]
    if every:
        table.add_row("all fields", pct(every["rules"]), pct(every["ranker"]), "", str(every["n"]))
    console.print(table)
    console.print(calibration_line(report["calibration"]))
