"""``acg2vec train tagger|deepix|text``: the image trainers (TensorFlow) and the acgvoc2vec encoder (torch).

Only typer and the standard library are imported here; TensorFlow loads inside the commands.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from acg2vec.commands.state import state, workspace
from acg2vec.errors import UserError
from acg2vec.native_logs import native_stderr_filtered

log = logging.getLogger(__name__)

_DATA_DIR = typer.Option(None, "--data-dir", help="Folder holding TFDS datasets (default: <workdir>/datasets).")
_DATASET = typer.Option(
    None, "--dataset", help="Dataset and config, e.g. acg_illustrations/224 (optionally /<version>; default: newest)."
)
_CONFIG = typer.Option(None, "--config", help="Start from a named experiment in acg2vec.trainers.image.configs.")
_EPOCHS = typer.Option(
    None, "--epochs", min=1, help="Maximum epochs (early stopping on validation macro mAP may end sooner)."
)
_BATCH = typer.Option(None, "--batch-size", min=1, help="Global batch size (split across replicas).")
_SIZE = typer.Option(None, "--image-size", min=1, help="Square input size in pixels (default: the model's own).")
_STEPS = typer.Option(
    None, "--steps-per-epoch", min=1, help="Training steps per epoch (default: one pass over train)."
)
_VAL_STEPS = typer.Option(None, "--validation-steps", min=1, help="Validation batches per evaluation (default: all).")
_LR = typer.Option(None, "--learning-rate", help="Peak learning rate after warmup (default: the model's own).")
_WARMUP = typer.Option(None, "--warmup-steps", min=0, help="Linear warmup steps before cosine decay (default: 5 %).")
_LOSS = typer.Option(None, "--loss", help="Tag loss: bce (binary cross-entropy) or asl (asymmetric loss).")
_REDUCTION = typer.Option(None, "--loss-reduction", help="Reduce the tag loss over tags by 'mean' or 'sum'.")
_FREQ = typer.Option(None, "--frequency-weighting", help="Weight tags by (max count / count) ** P; 0 turns it off.")
_TOP = typer.Option(None, "--top-tags", min=1, help="Learn the N most frequent selected tags (default 5000).")
_PATIENCE = typer.Option(
    None, "--patience", min=0, help="Stop after this many epochs without a better validation mAP."
)
_STRATEGY = typer.Option("default", "--strategy", help="tf.distribute strategy: default, mirrored, multi-worker, tpu.")
_TPU = typer.Option(None, "--tpu", help="TPU name or grpc:// address for --strategy tpu.")
_DETERMINISTIC = typer.Option(False, "--deterministic", help="Fixed seeds and ordered input: identical runs.")
_SEED = typer.Option(0, "--seed", help="Seed used in --deterministic mode.")
_VERSION = typer.Option(None, "--resnet-version", help="DeepDanbooru network: v1, v2, v3 (default) or v4.")
_WIDTH = typer.Option(None, "--width", help="Scale the DeepDanbooru channel widths (e.g. 0.25 for a small model).")
_DEPTH = typer.Option(None, "--depth", help="Scale the DeepDanbooru block counts (e.g. 0.1 for a shallow model).")
_INIT = typer.Option(
    None,
    "--init-from",
    help="Start from a DeepDanbooru Keras model file (.h5 / .keras), or a DeepDanbooru release folder "
    "(model-resnet_custom_v3.h5 or v4 with tags.txt and project.json) or an acg2vec DeepDanbooru tagger folder.",
)


# Which command-line model options each model takes.
_MODEL_OPTIONS = {
    "alt_i2v": ("weights",),
    "deepdanbooru": ("version", "width", "depth", "init_from"),
    "deepix": ("version", "width", "depth", "init_from", "encoder_layer", "encoder_learning_rate", "head_filters"),
}


def _run(
    *,
    command: str,
    model: str | None,
    model_dir: Path | None,
    config_name: str | None,
    fields: dict,
    model_options: dict,
) -> None:
    # Ranges typer cannot declare on a float option: checked before TensorFlow loads.
    if fields.get("learning_rate") is not None and fields["learning_rate"] <= 0:
        raise UserError(f"--learning-rate must be more than 0, not {fields['learning_rate']}.")
    if fields.get("frequency_weighting") is not None and fields["frequency_weighting"] < 0:
        raise UserError(f"--frequency-weighting must be 0 or more, not {fields['frequency_weighting']}.")
    from acg2vec.trainers.image import configs
    from acg2vec.trainers.image.train import TrainConfig, train

    allowed = ("deepix",) if command == "deepix" else ("alt_i2v", "deepdanbooru")
    if config_name is not None:
        if config_name not in configs.CONFIGS:
            raise UserError(f"Unknown config '{config_name}'; choose one of {', '.join(sorted(configs.CONFIGS))}.")
        config = configs.CONFIGS[config_name]()
    else:
        config = TrainConfig(model=allowed[-1], dataset="acg_illustrations/224")
    config.model = model or config.model
    if config.model not in allowed:
        raise UserError(f"`acg2vec train {command}` trains {' or '.join(allowed)}, not '{config.model}'.")
    ws = workspace()
    config.data_dir = str(fields.pop("data_dir", None) or ws.datasets())
    config.model_dir = str(model_dir or ws.models(config.model))
    for key, value in fields.items():
        if value is not None:
            setattr(config, key, value)
    given = {k: v for k, v in model_options.items() if v is not None and k in _MODEL_OPTIONS[config.model]}
    config.model_options = {**config.model_options, **given}
    with native_stderr_filtered():
        result = train(config)
    metrics = result.metrics
    if not result.exported:
        typer.echo(f"{config.model}: this worker's share is done; the chief worker exports the model.")
        return
    if "val_macro_map" in metrics:
        typer.echo(
            f"{config.model}: validation macro mAP {metrics['val_macro_map']:.4f} "
            f"(tag-frequency baseline {metrics['baseline_macro_map']:.4f}); exported to {result.model_dir}"
        )
    else:
        typer.echo(f"{config.model}: trained without a validation split; exported to {result.model_dir}")


def train_tagger(
    model: str = typer.Option(None, "--model", help="Tagger from the registry: alt_i2v or deepdanbooru."),
    config: str = _CONFIG,
    data_dir: Path = _DATA_DIR,
    dataset: str = _DATASET,
    model_dir: Path = typer.Option(
        None, "--model-dir", help="Where the model is exported (default <workdir>/models/<model>)."
    ),
    epochs: int = _EPOCHS,
    batch_size: int = _BATCH,
    image_size: int = _SIZE,
    steps_per_epoch: int = _STEPS,
    validation_steps: int = _VAL_STEPS,
    learning_rate: float = _LR,
    warmup_steps: int = _WARMUP,
    loss: str = _LOSS,
    loss_reduction: str = _REDUCTION,
    frequency_weighting: float = _FREQ,
    top_tags: int = _TOP,
    patience: int = _PATIENCE,
    strategy: str = _STRATEGY,
    tpu: str = _TPU,
    deterministic: bool = _DETERMINISTIC,
    seed: int = _SEED,
    vgg16_weights: Path = typer.Option(None, "--vgg16-weights", help="alt_i2v: a local VGG16 no-top weights file."),
    resnet_version: str = _VERSION,
    width: float = _WIDTH,
    depth: float = _DEPTH,
    init_from: Path = _INIT,
) -> None:
    """Train an illustration tagger on acg_illustrations, tune per-tag thresholds, export a SavedModel.

    Checkpoints go to <model-dir>/backup (a killed run resumes where its last finished epoch ended) and
    TensorBoard logs to <model-dir>/logs. Nothing is downloaded: VGG16 starts from --vgg16-weights or random.
    """
    if model is not None and model not in ("alt_i2v", "deepdanbooru"):
        raise UserError(f"--model must be alt_i2v or deepdanbooru (deepix has `acg2vec train deepix`), got '{model}'.")
    options = {
        "weights": str(vgg16_weights) if vgg16_weights else None,
        "version": resnet_version,
        "width": width,
        "depth": depth,
        "init_from": str(init_from) if init_from else None,
    }
    _run(
        command="tagger",
        model=model,
        model_dir=model_dir,
        config_name=config,
        fields=_fields(locals()),
        model_options=options,
    )


def train_deepix(
    config: str = _CONFIG,
    data_dir: Path = _DATA_DIR,
    dataset: str = _DATASET,
    model_dir: Path = typer.Option(
        None, "--model-dir", help="Where deepix is exported (default <workdir>/models/deepix)."
    ),
    illust2vec_dir: Path = typer.Option(
        None,
        "--illust2vec-dir",
        help="Where the illust2vec encoder is exported (default <workdir>/models/illust2vec).",
    ),
    epochs: int = _EPOCHS,
    batch_size: int = _BATCH,
    image_size: int = _SIZE,
    steps_per_epoch: int = _STEPS,
    validation_steps: int = _VAL_STEPS,
    learning_rate: float = typer.Option(None, "--learning-rate", help="Heads' peak learning rate (default 1e-2)."),
    encoder_lr: float = typer.Option(None, "--encoder-lr", help="Encoder's learning rate (default 1e-5)."),
    encoder_layer: str = typer.Option(
        None, "--encoder-layer", help="Cut the DeepDanbooru network here (activation_96)."
    ),
    head_filters: int = typer.Option(
        None, "--head-filters", help="Channels of each head's ResNet block (default 512)."
    ),
    warmup_steps: int = _WARMUP,
    loss: str = _LOSS,
    loss_reduction: str = _REDUCTION,
    frequency_weighting: float = _FREQ,
    top_tags: int = _TOP,
    patience: int = _PATIENCE,
    strategy: str = _STRATEGY,
    tpu: str = _TPU,
    deterministic: bool = _DETERMINISTIC,
    seed: int = _SEED,
    resnet_version: str = _VERSION,
    width: float = _WIDTH,
    depth: float = _DEPTH,
    init_from: Path = _INIT,
) -> None:
    """Train deepix (tags, rating, popularity heads on a shared encoder) and export it and illust2vec.

    The encoder learns slowly (--encoder-lr) and the heads fast (--learning-rate); unknown popularity targets
    are masked out of the loss.
    """
    options = {
        "version": resnet_version,
        "width": width,
        "depth": depth,
        "init_from": str(init_from) if init_from else None,
        "encoder_layer": encoder_layer,
        "encoder_learning_rate": encoder_lr,
        "head_filters": head_filters,
    }
    fields = _fields(locals())
    fields["illust2vec_dir"] = str(illust2vec_dir) if illust2vec_dir else None
    _run(command="deepix", model=None, model_dir=model_dir, config_name=config, fields=fields, model_options=options)


_FIELD_NAMES = (
    "data_dir",
    "dataset",
    "epochs",
    "batch_size",
    "image_size",
    "steps_per_epoch",
    "validation_steps",
    "learning_rate",
    "warmup_steps",
    "loss",
    "loss_reduction",
    "frequency_weighting",
    "top_tags",
    "patience",
    "strategy",
    "tpu",
    "seed",
)


def _fields(values: dict) -> dict:
    """The TrainConfig fields given on the command line (None = keep the config's value)."""
    fields = {name: values.get(name) for name in _FIELD_NAMES}
    fields["data_dir"] = str(fields["data_dir"]) if fields["data_dir"] else None
    fields["deterministic"] = True if values.get("deterministic") else None
    return fields


LOSS_HELP = (
    "mnrl (MultipleNegativesRankingLoss), cached-mnrl (same, big batches in bounded memory), "
    "symmetric-mnrl (ranks both ways), gist (needs --guide-model)."
)


def train_text(
    config_name: str = typer.Option(
        "default",
        "--config",
        help="Start from a named recipe in acg2vec.trainers.text.configs (default, original, tiny); "
        "the options below override it.",
    ),
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
    loss: str = typer.Option(None, "--loss", help=LOSS_HELP + " Default: the recipe's (symmetric-mnrl)."),
    batch_size: int = typer.Option(
        None, "--batch-size", min=1, help="Pairs per batch (per process); in-batch negatives = batch - 1."
    ),
    epochs: float = typer.Option(None, "--epochs", help="Passes over the training pairs (default: the recipe's)."),
    max_steps: int = typer.Option(
        None, "--max-steps", help="Stop after this many steps (overrides --epochs when > 0)."
    ),
    learning_rate: float = typer.Option(
        None,
        "--lr",
        help="Peak learning rate, warmed up over 10% of steps then decayed (default: the recipe's).",
        show_default=False,
    ),
    hard_negatives: int = typer.Option(
        None,
        "--hard-negatives",
        help="Look-alike titles of other works, mined from the lexical index, per title pair (0: none).",
    ),
    sampling: str = typer.Option(
        None, "--sampling", help="How batches are drawn from the pair types: proportional or round_robin."
    ),
    mini_batch_size: int = typer.Option(None, "--mini-batch-size", help="cached-mnrl: rows per forward pass."),
    guide_model: str = typer.Option(None, "--guide-model", help="gist: the guide model folder or id."),
    matryoshka_dims: str = typer.Option(
        None,
        "--matryoshka-dims",
        help="Comma-separated dimensions to also train truncated embeddings at, e.g. 128,64.",
    ),
    eval_steps: int = typer.Option(None, "--eval-steps", help="Evaluate on held-out works every N steps."),
    save_steps: int = typer.Option(None, "--save-steps", help="Write a checkpoint every N steps."),
    output: Path = typer.Option(None, "--output", "-o", help="Model folder (default: <workdir>/models/acgvoc2vec)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in <output>/checkpoints."),
    seed: int = typer.Option(None, "--seed", help="Seed for shuffling, sampling and initialisation."),
    onnx: bool = typer.Option(
        False, "--onnx", help="Also export onnx/model.onnx and an int8 copy, with held-out quality and speed measured."
    ),
) -> None:
    """Fine-tune the acgvoc2vec encoder on acg_text_pairs, evaluate it on held-out works beside its baselines."""
    from acg2vec.trainers.text.configs import recipe
    from acg2vec.trainers.text.data import find_parquet_root

    # Ranges typer cannot declare (a float, and -1 as "no cap"): checked before any work.
    if epochs is not None and epochs <= 0:
        raise UserError(f"--epochs must be more than 0, not {epochs}.")
    if max_steps is not None and (max_steps == 0 or max_steps < -1):
        raise UserError(f"--max-steps must be -1 (no cap) or 1 or more, not {max_steps}.")
    if hard_negatives is not None and hard_negatives < 0:
        raise UserError(f"--hard-negatives must be 0 or more, not {hard_negatives}.")
    ws = workspace()
    config = recipe(config_name)
    # A missing corpus is the commonest mistake: say so before loading torch.
    find_parquet_root(data_dir or ws.datasets())
    try:
        dims = tuple(int(d) for d in matryoshka_dims.split(",") if d.strip()) if matryoshka_dims else None
    except ValueError as err:
        raise UserError(f"--matryoshka-dims takes comma-separated integers, not {matryoshka_dims!r}.") from err
    given = {
        "base_model": base_model,
        "loss": loss,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "epochs": epochs,
        "max_steps": max_steps,
        "hard_negatives": hard_negatives,
        "sampling": sampling,
        "mini_batch_size": mini_batch_size,
        "guide_model": guide_model,
        "matryoshka_dims": dims,
        "eval_steps": eval_steps,
        "save_steps": save_steps,
        "seed": seed,
    }
    for key, value in given.items():
        if value is not None:
            setattr(config, key, value)
    if epochs is not None and max_steps is None:
        config.max_steps = -1  # --epochs alone wins over a recipe's step budget
    config.data_dir = str(data_dir or ws.datasets())
    config.output = str(output or ws.models("acgvoc2vec"))
    config.cache_dir = str(Path(ws.root) / "cache" / "hf_datasets")
    config.resume = resume
    config.export_onnx = onnx
    config.quiet = state.quiet
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
