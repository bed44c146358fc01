"""``acg2vec train tagger|deepix``, ``acg2vec predict``, image ``acg2vec embed``.

Only typer and the standard library are imported here; TensorFlow loads inside the commands.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from acg2vec.errors import UserError

log = logging.getLogger(__name__)

_DATA_DIR = typer.Option(None, "--data-dir", help="Folder holding TFDS datasets (default: <workdir>/datasets).")
_DATASET = typer.Option(
    None, "--dataset", help="Dataset and config, e.g. acg_illustrations/224 (optionally /<version>; default: newest)."
)
_CONFIG = typer.Option(None, "--config", help="Start from a named experiment in acg2vec.trainers.image.configs.")
_EPOCHS = typer.Option(
    None, "--epochs", help="Maximum epochs (early stopping on validation macro mAP may end sooner)."
)
_BATCH = typer.Option(None, "--batch-size", help="Global batch size (split across replicas).")
_SIZE = typer.Option(None, "--image-size", help="Square input size in pixels (default: the model's own).")
_STEPS = typer.Option(None, "--steps-per-epoch", help="Training steps per epoch (default: one pass over train).")
_VAL_STEPS = typer.Option(None, "--validation-steps", help="Validation batches per evaluation (default: all).")
_LR = typer.Option(None, "--learning-rate", help="Peak learning rate after warmup (default: the model's own).")
_WARMUP = typer.Option(None, "--warmup-steps", help="Linear warmup steps before cosine decay (default: 5 %).")
_LOSS = typer.Option(None, "--loss", help="Tag loss: bce (binary cross-entropy) or asl (asymmetric loss).")
_REDUCTION = typer.Option(None, "--loss-reduction", help="Reduce the tag loss over tags by 'mean' or 'sum'.")
_FREQ = typer.Option(None, "--frequency-weighting", help="Weight tags by (max count / count) ** P; 0 turns it off.")
_TOP = typer.Option(None, "--top-tags", help="Learn the N most frequent selected tags (default 5000).")
_PATIENCE = typer.Option(None, "--patience", help="Stop after this many epochs without a better validation mAP.")
_STRATEGY = typer.Option("default", "--strategy", help="tf.distribute strategy: default, mirrored, multi-worker, tpu.")
_TPU = typer.Option(None, "--tpu", help="TPU name or grpc:// address for --strategy tpu.")
_DETERMINISTIC = typer.Option(False, "--deterministic", help="Fixed seeds and ordered input: identical runs.")
_SEED = typer.Option(0, "--seed", help="Seed used in --deterministic mode.")
_VERSION = typer.Option(None, "--resnet-version", help="DeepDanbooru network: v1, v2, v3 (default) or v4.")
_WIDTH = typer.Option(None, "--width", help="Scale the DeepDanbooru channel widths (e.g. 0.25 for a small model).")
_DEPTH = typer.Option(None, "--depth", help="Scale the DeepDanbooru block counts (e.g. 0.1 for a shallow model).")
_INIT = typer.Option(None, "--init-from", help="Start from a DeepDanbooru Keras model file (.h5).")


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
    from acg2vec.cli_common import workspace
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


def predict(
    images: list[Path] = typer.Argument(..., help="Image files or folders of images."),
    model: Path = typer.Option(
        None,
        "--model",
        "-m",
        help="Exported tagger folder (default: <workdir>/models/deepdanbooru, alt_i2v or deepix).",
    ),
    top_k: int = typer.Option(
        None, "--top-k", "-k", help="Print the K best tags instead of those above the tuned thresholds."
    ),
    batch_size: int = typer.Option(32, "--batch-size", help="Images per batch."),
) -> None:
    """Print each image's tags with their scores: those above the model's tuned thresholds, or the top K."""
    from acg2vec.cli_common import workspace
    from acg2vec.deadletter import DeadLetters
    from acg2vec.trainers.image import predict as predict_lib

    model_dir = (
        str(model)
        if model
        else predict_lib.find_model(workspace().models(), predict_lib.TAGGER_PREFERENCE, what="tagger")
    )
    files = predict_lib.expand_inputs(images)
    with DeadLetters(None) as dead:
        results = predict_lib.predict_tags(files, model_dir=model_dir, top_k=top_k, batch_size=batch_size, dead=dead)
    for result in results:
        tags = ", ".join(f"{t.name} ({t.score:.3f})" for t in result.tags) or "(no tag above its threshold)"
        typer.echo(f"{result.path}: {tags}")
    for reason, count in sorted(dead.counts.items()):
        typer.echo(f"skipped {count} file(s): {reason}", err=True)
    if not results and dead.total:
        raise UserError(f"None of the {dead.total} input file(s) could be read as an image.")


def embed_images(*, inputs: list[Path], model: Path | None, out: Path | None, batch_size: int) -> None:
    """Write image vectors with their ids: ``<out>.npy`` and ``<out>.parquet`` (id, path, row, vector)."""
    from acg2vec.cli_common import workspace
    from acg2vec.deadletter import DeadLetters
    from acg2vec.trainers.image import predict as predict_lib

    ws = workspace()
    model_dir = (
        str(model) if model else predict_lib.find_model(ws.models(), predict_lib.EMBEDDER_PREFERENCE, what="image")
    )
    out = out or Path(ws.root) / "embeddings" / f"images-{Path(model_dir).name}"
    files = predict_lib.expand_inputs(inputs)
    with DeadLetters(f"{out}.deadletter.jsonl") as dead:
        written = predict_lib.embed_files(files, model_dir=model_dir, out=str(out), batch_size=batch_size, dead=dead)
    log.info("Embedded %d of %d files (%d skipped: %s)", written, len(files), dead.total, dict(dead.counts))
    typer.echo(
        f"wrote {written} vectors to {out}.npy and {out}.parquet" + (f"; {dead.total} skipped" if dead.total else "")
    )
