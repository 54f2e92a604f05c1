"""What every command shares: the Typer app, consoles, exit codes, settings and errors.

Every string that comes from a user or a file (names, paths, reasons, extracted values) is
printed through `esc`, so text such as `[/]` in a file name is shown as written and never
read as console markup.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import sessionmaker

from app import interrupts
from app.config import Settings, get_settings
from app.db import open_database
from app.dispatch import Dispatcher
from app.errors import DocfuseError, NotFoundError

P = ParamSpec("P")
R = TypeVar("R")

cli = typer.Typer(help="docfuse: document understanding with Florence-VL.", no_args_is_help=True)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


class ExitCode(IntEnum):
    """Exit codes, the same for every command (README: "Exit codes")."""

    DONE = 0
    BAD_INPUT = 2  # bad input or settings, or a document that failed
    NOT_FOUND = 3  # nothing found: no such document or job, no answer, no value
    NO_WORKER = 4  # --wait with work queued and no live worker to do it
    INTERRUPTED = 130  # Ctrl-C


def esc(value: object) -> str:
    """Text from a user or a file, safe to print through rich."""
    return escape(str(value))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    interrupts.install()
    cli()


def command(
    name: str | None = None, *, hidden: bool = False
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Register a command whose docfuse errors end in one line and their exit code."""

    def register(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return function(*args, **kwargs)
            except DocfuseError as error:
                errors.print(f"[red]error[/red]: {esc(error)}")
                code = ExitCode.NOT_FOUND if isinstance(error, NotFoundError) else 2
                raise typer.Exit(code) from error
            except KeyboardInterrupt:
                errors.print("interrupted")
                raise typer.Exit(ExitCode.INTERRUPTED) from None

        cli.command(name, hidden=hidden)(run)
        return run

    return register


@dataclass
class App:
    """Settings, database sessions and the dispatcher of one command."""

    settings: Settings
    sessions: sessionmaker
    dispatcher: Dispatcher


def load_settings(**overrides: Any) -> Settings:
    try:
        settings = get_settings()
    except ValidationError as error:
        problems = "; ".join(
            f"DOCFUSE_{'_'.join(map(str, problem['loc'])).upper() or '*'}: {problem['msg']}"
            for problem in error.errors(include_input=False)
        )
        errors.print(f"invalid DOCFUSE_* setting: {esc(problems)}")
        raise typer.Exit(ExitCode.BAD_INPUT) from error
    updates = {name: value for name, value in overrides.items() if value is not None}
    return settings.model_copy(update=updates) if updates else settings


def open_app(settings: Settings | None = None, *, on_page: Any = None) -> App:
    settings = settings or load_settings()
    sessions = open_database(settings)
    return App(settings, sessions, Dispatcher(settings, sessions, on_page=on_page))


def progress_bar(*, transient: bool = False) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=transient,
    )


def short(text: str | None, limit: int = 60) -> str:
    if not text:
        return "-"
    return esc(text if len(text) <= limit else text[: limit - 1] + "…")


def pct(value: float | None) -> str:
    """A 0..1 rate as a percentage, "-" for none."""
    return "-" if value is None else f"{100 * value:.1f}%"


def calibration_line(calibration: dict[str, Any]) -> str:
    """What `docfuse eval` and `train-extractor` say of a report's calibration."""
    return (
        f"calibration: expected calibration error {calibration['ece']}, "
        f"{pct(calibration['accuracy_at_0_9'])} right of the {calibration['n_at_0_9']} values "
        f"at confidence >= 0.9 ({calibration['n']} values)"
    )
