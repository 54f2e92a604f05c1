"""`docfuse finetune`: a model trained on the corrections `docfuse export --training` wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import ExitCode, command, errors, esc, load_settings, progress_bar


@command()
def finetune(
    data: Annotated[Path, typer.Argument(help="A folder `docfuse export --training` wrote.")],
    base: Annotated[
        str, typer.Option(help="A checkpoint folder or hub id, or tiny-random.")
    ] = "jiuhai/florence-vl-3b-sft",
    out: Annotated[Path, typer.Option(help="Where the fine-tuned model goes.")] = Path(
        "docfuse-finetuned"
    ),
    epochs: Annotated[int, typer.Option(min=1)] = 3,
    lora_rank: Annotated[int, typer.Option(min=1)] = 64,
    batch_size: Annotated[int, typer.Option(min=1)] = 4,
    learning_rate: Annotated[
        float | None, typer.Option(help="Default: the authors' rate for the model.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    fusion_profile: Annotated[
        str | None, typer.Option(help="The gains training starts from; default: the app's.")
    ] = None,
) -> None:
    """Fine-tune Florence-VL on corrected values: LoRA on the LLM, the projector in full, the
    fusion gains as scalars, the vision tower frozen. A run stopped part-way resumes from its
    last finished epoch when started again with the same --out. The last line printed is a
    JSON summary."""
    from model.config import FUSION_PROFILES
    from model.finetune import FinetuneSettings, load_base
    from model.finetune import finetune as run
    from model.training import read_conversations

    train = read_conversations(data, "train.json")
    if not train:
        errors.print(f"{esc(data)}: no training examples (train.json); see export --training")
        raise typer.Exit(ExitCode.BAD_INPUT)
    validation = read_conversations(data, "validation.json")
    settings = FinetuneSettings(epochs, lora_rank, batch_size, learning_rate)
    profile = fusion_profile or load_settings().fusion_profile
    if profile not in FUSION_PROFILES:
        errors.print(f"fusion profile {esc(profile)!r} is not one of {sorted(FUSION_PROFILES)}")
        raise typer.Exit(ExitCode.BAD_INPUT)
    generator = load_base(base, device, profile)
    with progress_bar() as progress:
        task = progress.add_task("fine-tuning", total=None)

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(task, completed=step, total=total, description=f"loss {loss:.3f}")

        result = run(generator, train, validation, out, settings, on_step=on_step, base=base)
    typer.echo(json.dumps(result.summary(out)))
