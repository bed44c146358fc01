"""``acg2vec train text`` and ``acg2vec embed --text``."""

from __future__ import annotations

from pathlib import Path

import typer

from acg2vec.cli_common import state, workspace
from acg2vec.errors import UserError

LOSS_HELP = (
    "mnrl (MultipleNegativesRankingLoss), cached-mnrl (same, big batches in bounded memory), "
    "symmetric-mnrl (ranks both ways), gist (needs --guide-model)."
)


def train_text(
    data_dir: Path = typer.Option(
        None, "--data-dir", help="Datasets root holding parquet/acg_text_pairs/<split>/ (default: <workdir>/datasets)."
    ),
    base_model: str = typer.Option(
        None,
        "--base-model",
        help="sentence-transformers model folder, or hub id when online (e.g. "
        "sentence-transformers/distiluse-base-multilingual-cased-v2). Default: a small BERT built from scratch "
        "with a tokenizer trained on the corpus; no download.",
    ),
    loss: str = typer.Option("mnrl", "--loss", help=LOSS_HELP),
    batch_size: int = typer.Option(
        80, "--batch-size", help="Pairs per batch (per process); in-batch negatives = batch - 1."
    ),
    epochs: float = typer.Option(1.0, "--epochs", help="Passes over the training pairs."),
    max_steps: int = typer.Option(-1, "--max-steps", help="Stop after this many steps (overrides --epochs when > 0)."),
    learning_rate: float = typer.Option(
        None,
        "--lr",
        help="Peak learning rate, warmed up over 10% of steps then decayed (default: 5e-5 with --base-model, "
        "the original recipe; 5e-4 for the model built from scratch).",
        show_default=False,
    ),
    sampling: str = typer.Option(
        "proportional", "--sampling", help="How batches are drawn from the pair types: proportional or round_robin."
    ),
    mini_batch_size: int = typer.Option(32, "--mini-batch-size", help="cached-mnrl: rows per forward pass."),
    guide_model: str = typer.Option(None, "--guide-model", help="gist: the guide model folder or id."),
    matryoshka_dims: str = typer.Option(
        None,
        "--matryoshka-dims",
        help="Comma-separated dimensions to also train truncated embeddings at, e.g. 128,64.",
    ),
    eval_steps: int = typer.Option(100, "--eval-steps", help="Evaluate on held-out works every N steps."),
    save_steps: int = typer.Option(100, "--save-steps", help="Write a checkpoint every N steps."),
    output: Path = typer.Option(None, "--output", "-o", help="Model folder (default: <workdir>/models/acgvoc2vec)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in <output>/checkpoints."),
    seed: int = typer.Option(42, "--seed", help="Seed for shuffling, sampling and initialisation."),
    onnx: bool = typer.Option(
        False, "--onnx", help="Also export onnx/model.onnx and an int8 copy, with held-out quality and speed measured."
    ),
) -> None:
    """Fine-tune the acgvoc2vec encoder on acg_text_pairs, evaluate it on held-out works beside its baselines."""
    from acg2vec.trainers.text.configs import TextTrainConfig
    from acg2vec.trainers.text.data import find_parquet_root

    ws = workspace()
    # A missing corpus is the commonest mistake: say so before loading torch.
    find_parquet_root(data_dir or ws.datasets())
    try:
        dims = tuple(int(d) for d in matryoshka_dims.split(",") if d.strip()) if matryoshka_dims else ()
    except ValueError as err:
        raise UserError(f"--matryoshka-dims takes comma-separated integers, not {matryoshka_dims!r}.") from err
    config = TextTrainConfig(
        data_dir=str(data_dir or ws.datasets()),
        output=str(output or ws.models("acgvoc2vec")),
        cache_dir=str(Path(ws.root) / "cache" / "hf_datasets"),
        base_model=base_model,
        loss=loss,
        batch_size=batch_size,
        learning_rate=learning_rate,
        epochs=epochs,
        max_steps=max_steps,
        sampling=sampling,
        mini_batch_size=mini_batch_size,
        guide_model=guide_model,
        matryoshka_dims=dims,
        eval_steps=eval_steps,
        save_steps=save_steps,
        resume=resume,
        seed=seed,
        export_onnx=onnx,
        quiet=state.quiet,
    )
    from acg2vec.trainers.text.train import train_text_model

    result = train_text_model(config)
    if not state.quiet:
        _print_summary(result)


def _print_summary(result) -> None:
    from rich.table import Table

    from acg2vec.logs import console

    table = Table(title=f"acgvoc2vec on held-out works ({result.global_step} steps, {result.seconds} s)")
    table.add_column("metric")
    for name in ("lexical", "untrained", "trained"):
        table.add_column(name, justify="right")
    for key in result.metrics["trained"]:
        if key.endswith("mean_accuracy") or key.startswith("ir_"):
            table.add_row(
                key, *(f"{result.metrics[n].get(key, float('nan')):.3f}" for n in ("lexical", "untrained", "trained"))
            )
    console.print(table)
    console.print(f"Model: {result.output}")


def embed_texts(*, inputs: list[Path], model: Path | None, out: Path | None, batch_size: int) -> None:
    """Embed text files (one text per line) into <out>.npy + <out>.parquet (ids = file:line)."""
    from acg2vec.trainers.text.embed import embed_text_files

    ws = workspace()
    model = model or Path(ws.models("acgvoc2vec"))
    out = out or Path(ws.root) / "embeddings" / "acgvoc2vec-texts"
    result = embed_text_files(inputs=inputs, model=model, out=out, batch_size=batch_size)
    if not state.quiet:
        from acg2vec.logs import console

        console.print(
            f"Wrote {result.written} vectors to {result.vectors_path} (ids in {result.ids_path}); "
            f"{result.read - result.written} lines skipped {result.dropped or ''}"
        )
