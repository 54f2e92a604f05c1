"""`docfuse watch`: ingest what lands in a folder, exactly once, and file it away after."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import command, console, esc, open_app
from app.cli.ingest import resume_interrupted
from app.cli.options import AskOption, EngineOption, SchemaOption, analysis_request
from app.errors import BadInputError
from app.services.payloads import IngestPayload
from app.services.watch import FolderWatcher

COLOURS = {"processed": "green", "failed": "red", "refused": "red"}


@command()
def watch(
    folder: Annotated[Path, typer.Argument(help="The folder to watch.")],
    ask: AskOption = None,
    schema: SchemaOption = None,
    engine: EngineOption = None,
    keep: Annotated[
        bool, typer.Option(help="Leave files in place instead of moving them.")
    ] = False,
    poll: Annotated[
        bool, typer.Option(help="Poll the folder (network mounts, where events never come).")
    ] = False,
    settle: Annotated[
        float, typer.Option(help="Seconds a file must stay unchanged before it is taken.", min=0)
    ] = 2.0,
) -> None:
    """Watch a folder: each settled file is ingested once (and analysed with --ask and
    --schema), then moved to processed/ or failed/ (a .error.txt says why)."""
    if not folder.is_dir():
        raise BadInputError(f"{folder} is not a folder")
    app = open_app()
    resume_interrupted(app)
    watcher = FolderWatcher(
        inbox=folder,
        settings=app.settings,
        sessions=app.sessions,
        dispatcher=app.dispatcher,
        payload=IngestPayload(then=analysis_request(ask, schema, engine)),
        keep=keep,
        settle_s=settle,
        report=_print,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # `docker stop`: finish the pass
    console.print(f"watching {esc(folder)} (Ctrl-C to stop)")
    watcher.run(stop, poll=poll)
    console.print("stopped watching")


def _print(outcome: str, path: Path, detail: str) -> None:
    colour = COLOURS.get(outcome, "yellow")
    console.print(f"[{colour}]{outcome:<9}[/{colour}] {esc(path.name)}: {esc(detail)}")
