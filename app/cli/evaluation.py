"""`docfuse eval`: the whole pipeline on a labelled folder, scored (a private data dir)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.answer_engines import choose_engine
from app.cli.common import (
    calibration_line,
    command,
    console,
    errors,
    esc,
    load_settings,
    pct,
    progress_bar,
)
from app.cli.options import EngineOption


@command("eval")
def eval_command(
    folder: Annotated[
        Path, typer.Argument(help="A labelled folder.", exists=True, file_okay=False)
    ],
    fmt: Annotated[
        str, typer.Option("--format", help="sroie, icdar2013, qa or docfuse.")
    ] = "sroie",
    engine: EngineOption = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N documents.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Also print one JSON line.")] = False,
) -> None:
    """Run the whole pipeline on a labelled folder and score it."""
    from app.evaluation.run import evaluate  # the data-set readers: only for this command

    settings = load_settings(engine=engine)
    choice = choose_engine(settings)
    errors.print(f"engine: {choice.name} ({esc(choice.reason)})")
    with progress_bar() as progress:
        task = progress.add_task("documents", total=None)
        report = evaluate(
            folder,
            fmt,
            settings=settings,
            choice=choice,
            limit=limit,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        ).as_dict()
    table = Table("field", "accuracy", "grounding", "n")
    for name, scores in report["fields"].items():
        table.add_row(name, pct(scores["accuracy"]), pct(scores["grounding"]), str(scores["n"]))
    console.print(table)
    console.print(
        f"documents {report['documents']}, OCR CER {pct(report['ocr']['cer'])}, "
        f"word recall {pct(report['ocr']['word_recall'])}, {report['pages_per_s']} pages/s, "
        f"engine {report['engine']} ({esc(', '.join(report['models']) or '-')})"
    )
    calibration = report["calibration"]
    if calibration["n"]:
        console.print(calibration_line(calibration))
    for failure in report["failures"]:
        console.print(f"[red]failed[/red] {esc(failure)}")
    if as_json:
        typer.echo(json.dumps(report))
