"""Training of the image models with Keras ``fit``: strategy, schedule, callbacks, thresholds, export.

One entry point, :func:`train`, for taggers (alt_i2v, deepdanbooru) and deepix (which also exports illust2vec).

The exported model folder (``<model_dir>``) holds only the export, written whole or not at all with its
``CHECKSUMS.json`` (:func:`acg2vec.trainers.image.export.model_folder`); the training state lives beside it in
``<model_dir>.training/``: ``backup/`` (the two newest epoch states a killed run resumes from, checked before it
does: :mod:`acg2vec.trainers.image.checkpoints`), ``checkpoints/`` (the two newest best validation weights) and
``logs/`` (TensorBoard). A model being served is never touched by a run that trains its successor.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field

from acg2vec.datasets.published import crc_checked
from acg2vec.errors import UserError
from acg2vec.integrity import DAMAGED_FILE, disk_full_is_one_sentence
from acg2vec.trainers.image.models import illust2vec

log = logging.getLogger(__name__)

STRATEGIES = ("default", "mirrored", "multi-worker", "tpu")
TRAINING_SUFFIX = ".training"  # <model_dir>.training: the training state, beside the exported model
BACKUP_DIR = "backup"  # BackupAndRestore state: weights + optimizer + epoch, removed after a finished run
TENSORBOARD_DIR = "logs"
CHECKPOINTS_DIR = "checkpoints"  # the two newest best validation weights


def training_dir(model_dir: str) -> str:
    """Where a run that exports to ``model_dir`` keeps its backup, checkpoints and TensorBoard logs."""
    return model_dir.rstrip("/") + TRAINING_SUFFIX


@dataclass(slots=True)
class TrainConfig:
    """Everything one training run needs; every field is a flag of ``acg2vec train``."""

    model: str = "deepdanbooru"
    data_dir: str = "acg2vec-data/datasets"
    dataset: str = "acg_illustrations/512"
    model_dir: str = "acg2vec-data/models/deepdanbooru"
    train_split: str = "train"
    val_split: str = "validation"
    image_size: int | None = None  # None: the model's default (224 alt_i2v, 512 deepdanbooru / deepix)
    batch_size: int = 32
    epochs: int = 10
    steps_per_epoch: int | None = None  # None: one pass over the train split
    validation_steps: int | None = None  # None: the whole validation split
    learning_rate: float | None = None  # None: the model's default (1e-3 taggers, 1e-2 deepix heads)
    warmup_steps: int | None = None  # None: 5 % of all steps
    loss: str = "bce"  # "bce" or "asl"
    loss_reduction: str = "mean"  # over tags: "mean" or "sum"
    frequency_weighting: float = 0.0  # power of the inverse tag frequency weights; 0 = off
    top_tags: int | None = 5000
    patience: int = 3  # epochs without a better validation macro mAP before stopping
    strategy: str = "default"
    tpu: str | None = None  # TPU name or address for --strategy tpu
    deterministic: bool = False
    seed: int = 0
    shuffle_buffer: int = 1024
    crop_scale: tuple[float, float] = (0.5, 1.0)
    colour_jitter: float = 0.1
    model_options: dict = field(default_factory=dict)
    prior_init: bool = True  # start the output offsets at the training priors (see priors.py)
    illust2vec_dir: str | None = None  # deepix only: where the illust2vec encoder is exported


@dataclass(slots=True)
class TrainResult:
    model_dir: str
    metrics: dict
    exported: bool = True  # False on multi-worker workers other than the chief


def make_strategy(name: str, *, tpu: str | None = None):
    """The tf.distribute strategy for ``--strategy``; multi-worker reads the cluster from $TF_CONFIG."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        if not os.environ.get("TF_CONFIG"):
            raise UserError("--strategy multi-worker needs $TF_CONFIG describing the cluster and this worker's task.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise UserError(f"Unknown strategy '{name}'; choose one of {', '.join(STRATEGIES)}.")


def _is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)


def _resumed_epoch(backup_dir: str) -> int:
    import tensorflow as tf

    path = f"{backup_dir}/training_metadata.json"
    if not tf.io.gfile.exists(path):
        return 0
    with tf.io.gfile.GFile(path) as f:
        return int(json.load(f).get("epoch", 0))


def train(config: TrainConfig) -> TrainResult:
    """Train, tune thresholds on validation, export; resumes from ``<model_dir>.training/backup`` after a kill
    (from the state before it when the newest is damaged)."""
    # 1. Strategy first: multi-worker must be set up before TensorFlow creates any other op.
    strategy = make_strategy(config.strategy, tpu=config.tpu)
    import keras
    import tensorflow as tf

    from acg2vec.trainers.image import callbacks as cb
    from acg2vec.trainers.image import checkpoints, input_pipeline, priors
    from acg2vec.trainers.image.models import registry

    spec = registry.get(config.model)
    if tf.config.list_physical_devices("GPU"):
        # float16 compute only pays off (and is only numerically safe enough) on GPUs with tensor cores.
        keras.mixed_precision.set_global_policy("mixed_float16")
    if config.deterministic:
        keras.utils.set_random_seed(config.seed)
        tf.config.experimental.enable_op_determinism()

    # 2. Data: the dataset, its vocabulary (the most frequent tags), the schedule's sizes, where this worker writes.
    builder = input_pipeline.open_dataset(config.data_dir, config.dataset)
    vocab = input_pipeline.load_vocab(builder).top(config.top_tags)
    train_size = input_pipeline.split_size(builder, config.train_split)
    image_size = config.image_size or spec.image_size
    steps_per_epoch = config.steps_per_epoch or max(train_size // config.batch_size, 1)
    chief = _is_chief(strategy)
    # Workers other than the chief keep their own scratch state; only the chief's files are the result.
    state_dir = training_dir(config.model_dir)
    if not chief:
        state_dir = f"{state_dir}/worker-{strategy.cluster_resolver.task_id}"
    backup_dir = f"{state_dir}/{BACKUP_DIR}"
    if chief:
        _adopt_old_backup(config.model_dir, backup_dir)
    # A damaged newest backup is named once and the previous one (or a fresh start) takes its place.
    damaged = checkpoints.restore_good_backup(backup_dir)
    start_epoch = _resumed_epoch(backup_dir)
    checkpoints.say_damaged(damaged, start_epoch)
    if start_epoch:
        log.info("Resuming %s from epoch %d (backup in %s)", config.model, start_epoch + 1, backup_dir)

    # 3. Input pipelines: training resumes the example stream where the finished epochs left it.
    train_ds, val_ds = _datasets(config, spec, builder, vocab, image_size, skip=start_epoch * steps_per_epoch)

    # 4. Model, in the strategy's scope: new output offsets at the training priors, the loss, the schedule.
    with crc_checked(str(builder.data_dir), config.train_split):
        label_priors = priors.read_priors(builder, config.train_split, vocab, task=spec.task)
    with strategy.scope():
        model = _compiled_model(
            config, spec, vocab, image_size, label_priors, total_steps=steps_per_epoch * config.epochs
        )
        if config.strategy == "multi-worker":
            _multi_worker_workarounds(model, train_ds.element_spec)

    # 5. Train, stopping early on validation macro mAP and at the first NaN loss.
    tag_output = "tags" if spec.task == "deepix" else None
    nan_callback = cb.StopOnNaN()
    # A shard failing its TFRecord CRC while training reads it is one sentence naming it, not a traceback.
    with crc_checked(str(builder.data_dir), config.train_split), disk_full_is_one_sentence(state_dir):
        history = model.fit(
            train_ds,
            epochs=config.epochs,
            steps_per_epoch=steps_per_epoch,
            callbacks=_callbacks(config, state_dir, val_ds, tag_output, nan_callback),
            shuffle=False,  # the pipeline shuffles; Keras cannot shuffle a tf.data stream anyway
            verbose=2,
        )
    if nan_callback.where is not None:
        # A backup of diverged weights would only bring the NaN back on the next run.
        shutil.rmtree(backup_dir, ignore_errors=True)
        raise UserError(
            f"Training stopped: the loss became NaN at {nan_callback.where}; "
            "lower --learning-rate (or check the dataset) and run again."
        )

    # 6. Validate: macro mAP beside the tag-frequency baseline, and the per-tag thresholds tuned on validation.
    metrics: dict = {
        "model": config.model,
        "train_examples": train_size,
        "num_tags": len(vocab),
        "image_size": image_size,
        "epochs_run": len(history.history.get("loss", [])),
        "resumed_from_epoch": start_epoch,
        # The mean tag BCE of the constant predictor at the training frequencies: the loss to get below.
        "constant_predictor_loss": label_priors.constant_bce(),
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
        # Damaged training state found on resume (the run went on without it), by the one reason name.
        "counts": {DAMAGED_FILE: len(damaged)},
        "damaged_files": [err.to_dict() for err in damaged],
    }
    with crc_checked(str(builder.data_dir), config.val_split):
        thresholds = _validate(model, val_ds, tag_output, vocab, metrics)

    # 7. Export (the chief only): SavedModel, tag files, training args, metrics and curves.
    if chief:
        _export(model, spec, config, vocab, thresholds, metrics, image_size)
    else:
        shutil.rmtree(state_dir, ignore_errors=True)
    return TrainResult(config.model_dir, metrics, exported=chief)


def _adopt_old_backup(model_dir: str, backup_dir: str) -> None:
    """A run killed before the training state moved beside the model left its backup in ``<model_dir>/backup``:
    move it to ``backup_dir`` (the export that replaces the model folder would delete it)."""
    old = f"{model_dir.rstrip('/')}/{BACKUP_DIR}"
    if "://" in model_dir or not os.path.isdir(old) or os.path.exists(backup_dir):
        return
    os.makedirs(os.path.dirname(backup_dir), exist_ok=True)
    os.replace(old, backup_dir)
    log.info("Moved the backup of an interrupted run from %s to %s", old, backup_dir)


def _datasets(config: TrainConfig, spec, builder, vocab, image_size: int, *, skip: int):
    """(training stream, validation stream or None when the split is missing or empty)."""
    from acg2vec.trainers.image import input_pipeline

    input_config = input_pipeline.InputConfig(
        image_size=image_size,
        batch_size=config.batch_size,
        shuffle_buffer=config.shuffle_buffer,
        crop_scale=tuple(config.crop_scale),
        colour_jitter=config.colour_jitter,
        deterministic=config.deterministic,
        seed=config.seed,
    )
    train_ds = input_pipeline.make_dataset(
        builder,
        config.train_split,
        vocab,
        config=input_config,
        training=True,
        task=spec.task,
        skip_examples=skip * config.batch_size,
    )
    splits = builder.info.splits
    if config.val_split not in splits or splits[config.val_split].num_examples == 0:
        return train_ds, None
    val_ds = input_pipeline.make_dataset(
        builder, config.val_split, vocab, config=input_config, training=False, task=spec.task
    )
    return train_ds, (val_ds.take(config.validation_steps) if config.validation_steps else val_ds)


def _compiled_model(config: TrainConfig, spec, vocab, image_size: int, label_priors, *, total_steps: int):
    """The model built (or loaded with ``init_from``) and compiled; call inside the strategy's scope."""
    import keras

    from acg2vec.trainers.image import losses, priors, schedules
    from acg2vec.trainers.image.models import registry

    model = registry.make_model(config.model, image_size=image_size, num_tags=len(vocab), **config.model_options)
    # A tagger loaded with its own trained head keeps it; new heads start at the priors.
    loaded_head = bool(config.model_options.get("init_from")) and spec.task == "tags"
    loaded_head = loaded_head and not model.name.endswith("_retagged")
    if config.prior_init and not loaded_head:
        priors.init_output_biases(model, label_priors)
    warmup = config.warmup_steps if config.warmup_steps is not None else total_steps // 20
    learning_rate = config.learning_rate or spec.learning_rate
    schedule = schedules.warmup_cosine(learning_rate, total_steps=total_steps, warmup_steps=warmup)
    weights = (
        losses.frequency_weights(vocab.counts, power=config.frequency_weighting)
        if config.frequency_weighting
        else None
    )
    tag_loss = losses.make_tag_loss(config.loss, reduction=config.loss_reduction, tag_weights=weights)
    loss = tag_loss
    if spec.task == "deepix":
        loss = {
            "tags": tag_loss,
            "rating": keras.losses.SparseCategoricalCrossentropy(),
            "popularity": losses.masked_log_mse,
        }
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, jit_compile=False)
    return model


def _callbacks(config: TrainConfig, state_dir: str, val_ds, tag_output: str | None, nan_callback) -> list:
    """Validation macro mAP first (the others read it from the same logs), the NaN stop, early stopping and the
    best weights on that mAP, the backup a killed run resumes from, TensorBoard."""
    import keras

    from acg2vec.trainers.image import callbacks as cb
    from acg2vec.trainers.image import checkpoints

    callbacks = [nan_callback]
    if val_ds is not None:
        callbacks = [
            cb.MacroMAP(val_ds, output=tag_output),
            nan_callback,
            keras.callbacks.EarlyStopping(
                monitor=cb.MAP_KEY, mode="max", patience=config.patience, restore_best_weights=True, verbose=1
            ),
            checkpoints.KeepTwoCheckpoint(f"{state_dir}/{CHECKPOINTS_DIR}", monitor=cb.MAP_KEY, mode="max"),
        ]
    return callbacks + [
        checkpoints.CheckedBackupAndRestore(f"{state_dir}/{BACKUP_DIR}"),
        keras.callbacks.TensorBoard(f"{state_dir}/{TENSORBOARD_DIR}", update_freq="epoch"),
    ]


def _validate(model, val_ds, tag_output: str | None, vocab, metrics: dict) -> dict:
    """Adds the validation figures to ``metrics``; returns the contents of ``thresholds.json`` (0.5 everywhere,
    method "fixed", without a validation split)."""
    from acg2vec.trainers.image import callbacks as cb
    from acg2vec.trainers.image import metrics as tagging

    if val_ds is None:
        return {"method": "fixed", "default": 0.5, "thresholds": dict.fromkeys(vocab.names, 0.5)}
    y_true, y_score = cb.collect_predictions(model, val_ds, output=tag_output)
    metrics["val_examples"] = int(len(y_true))
    metrics["val_macro_map"] = tagging.macro_map(y_true, y_score)
    metrics["baseline_macro_map"] = tagging.macro_map(y_true, tagging.frequency_baseline(vocab.counts, len(y_true)))
    log.info(
        "Validation macro mAP %.4f (tag-frequency baseline %.4f)",
        metrics["val_macro_map"],
        metrics["baseline_macro_map"],
    )
    return tagging.thresholds_json(y_true, y_score, vocab.names)


def _multi_worker_workarounds(model, element_spec) -> None:
    """Two fixes for Keras 3.15 ``fit`` under MultiWorkerMirroredStrategy (call inside the strategy scope).

    Keras builds the compiled loss and metrics from a first batch that it averages across replicas with
    ``strategy.reduce``, which fails on an (images, labels) tuple: build them from the element spec instead and
    skip Keras' attempt. Keras then averages each step's scalar logs with ``strategy.reduce(..., axis=0)``, which
    fails on scalars: give the logs a leading axis of one, so that the reduction is the mean over replicas.
    """
    import tensorflow as tf

    model._symbolic_build(data_batch=element_spec)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    train_step = model.train_step

    def train_step_with_vector_logs(data):
        return {name: tf.reshape(value, [1]) for name, value in train_step(data).items()}

    model.train_step = train_step_with_vector_logs


def _export(model, spec, config: TrainConfig, vocab, thresholds: dict, metrics: dict, image_size: int) -> None:
    """Each exported folder is written whole under a temporary name, with its CHECKSUMS.json, and only then
    replaces the previous one (:func:`export.model_folder`)."""
    from acg2vec.datasets.acg_illustrations.selected_tags import write_thresholds
    from acg2vec.trainers.image import export

    args = {**asdict(config), "image_size": image_size, "num_tags": len(vocab)}
    if spec.task == "deepix":
        embed_model = illust2vec.from_deepix(model)
        i2v_dir = config.illust2vec_dir or f"{config.model_dir.rstrip('/').rsplit('/', 1)[0]}/illust2vec"
        with export.model_folder(i2v_dir) as out:
            export.export_image_model(out, image_size=image_size, embed_model=embed_model)
            export.write_json(f"{out}/{export.TRAINING_ARGS_FILE}", {**args, "exported_from": config.model_dir})
            export.write_json(f"{out}/metrics.json", {"embedding_dim": int(embed_model.output.shape[-1]), **metrics})
    with export.model_folder(config.model_dir) as out:
        if spec.task == "deepix":
            export.export_image_model(
                out,
                image_size=image_size,
                embed_model=embed_model,
                tag_model=model,
                tag_output="tags",
                heads={"rating": "rating", "popularity": "popularity"},
            )
        else:
            embed_model = export.embedding_model(model, spec.feature_tensor(model))
            export.export_image_model(out, image_size=image_size, embed_model=embed_model, tag_model=model)
            if config.model == "deepdanbooru":
                # The Keras file too, so the tagger can start deepix (`acg2vec train deepix --init-from`).
                model.save(f"{out}/{export.KERAS_MODEL_FILE}")
        vocab.write(out)
        write_thresholds(out, **thresholds)
        export.write_json(f"{out}/{export.TRAINING_ARGS_FILE}", args)
        export.write_json(f"{out}/metrics.json", metrics)
        _plot_history(metrics, f"{out}/training.png")
    log.info("Exported %s to %s", config.model, config.model_dir)


def _plot_history(metrics: dict, path: str) -> None:
    """Loss and validation macro mAP per epoch, with the tag-frequency baseline for comparison."""
    if "://" in path:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = metrics["history"]
    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(range(1, len(history.get("loss", [])) + 1), history.get("loss", []), marker="o")
    ax_loss.set(title="training loss", xlabel="epoch")
    if "val_macro_map" in history:
        ax_map.plot(
            range(1, len(history["val_macro_map"]) + 1), history["val_macro_map"], marker="o", label=metrics["model"]
        )
        if "baseline_macro_map" in metrics:
            ax_map.axhline(metrics["baseline_macro_map"], color="grey", linestyle="--", label="tag-frequency baseline")
        ax_map.legend()
    ax_map.set(title="validation macro mAP", xlabel="epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
