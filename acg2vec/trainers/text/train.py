"""Fine-tune acgvoc2vec: numbered steps, the baselines measured before training and reported beside the result.

Multi-process (one copy of the model per process, gradients averaged; on CPU use torchrun, gloo)::

    torchrun --standalone --nproc_per_node 2 -m acg2vec.cli train text --max-steps 200
    accelerate launch --multi_gpu --num_processes 2 -m acg2vec.cli train text --max-steps 200   # GPUs

Each process reads the same memory-mapped corpus; the trainer gives each its share of every batch. Only the
first process measures baselines and writes the model folder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from acg2vec.deadletter import DeadLetters, dead_letter_path
from acg2vec.errors import UserError
from acg2vec.integrity import DAMAGED_FILE, DiskFullError, atomic_write_json, disk_full_is_one_sentence
from acg2vec.trainers.text.base_model import base_model_folder, is_scratch, load_base_model, prepare_pretrained_base
from acg2vec.trainers.text.configs import (
    LOSSES,
    SAMPLING,
    TextTrainConfig,
    resolved_base_cache_dir,
    resolved_learning_rate,
)
from acg2vec.trainers.text.evaluators import build_eval_sets, evaluate_model, make_evaluator, tidy_metrics
from acg2vec.trainers.text.export import export_model
from acg2vec.trainers.text.lexical_baseline import lexical_baseline_metrics
from acg2vec.trainers.text.losses import make_loss
from acg2vec.trainers.text.model_folder import text_model_writer
from acg2vec.trainers.text.onnx_export import export_onnx, measure_onnx_quality
from acg2vec.trainers.text.resume import ChecksummedCheckpoints, good_checkpoint

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
BASELINES_FILE = "baselines.json"  # in the checkpoints folder, so a resumed run reports the same baselines
SCRATCH_BASE = "scratch-base"
LEXICAL_FIT_TEXTS = 400_000  # the baseline's IDF needs a sample, not the whole corpus in memory
DEAD_LETTER_STEP = "train-text"  # corpus pairs the trainer drops: <output>/dead_letters/train-text.jsonl.gz


@dataclass(slots=True)
class TrainResult:
    output: str
    metrics: dict[str, dict[str, float]]  # {"lexical": ..., "untrained": ..., "trained": ...}
    global_step: int
    resumed_from: str | None
    train_pairs: int
    pair_types: dict[str, int]
    data_counts: dict[str, Any]
    seconds: float
    world_size: int = 1
    onnx: dict[str, dict[str, float]] = field(default_factory=dict)
    eval_sets: dict[str, int] = field(default_factory=dict)
    # Files the run went on without, under the reason damaged-file: {"damaged-file": n} and each file's sentence
    damaged: dict[str, int] = field(default_factory=dict)
    damaged_files: list[dict[str, str]] = field(default_factory=list)


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def check_config(config: TextTrainConfig) -> None:
    if config.loss not in LOSSES:
        raise UserError(f"Unknown loss {config.loss!r}; choose one of {', '.join(LOSSES)}.")
    if config.sampling not in SAMPLING:
        raise UserError(f"Unknown sampling {config.sampling!r}; choose one of {', '.join(SAMPLING)}.")
    if config.batch_size < 2:
        raise UserError("The batch size must be at least 2: in-batch negatives need a second pair.")
    if config.max_steps <= 0 and config.epochs <= 0:
        raise UserError("Give a positive number of epochs or --max-steps.")


def train_text_model(config: TextTrainConfig, *, batch_sampler: type | None = None) -> TrainResult:
    """Train on ``config.data_dir``'s acg_text_pairs and export to ``config.output``.

    ``batch_sampler``: the trainer's batch sampler class, :class:`~acg2vec.trainers.text.batches.EntityBatchSampler`
    unless a benchmark measures another against it. A full disk at any write (the base model, a checkpoint, the
    model folder) is :class:`~acg2vec.integrity.DiskFullError`; the previous model folder stays whole."""
    output = Path(config.output)
    try:
        with disk_full_is_one_sentence(output):
            return _train_text_model(config, batch_sampler)
    except (OSError, RuntimeError) as err:
        # torch's checkpoint writer says only "file write failed": ask the file system whether it is full.
        if no_space_left(output):
            raise DiskFullError(output, None) from err
        raise


def no_space_left(path: Path, *, below: int = 1 << 20) -> bool:
    """True when the file system holding ``path`` (or its nearest existing parent) has less than ``below`` bytes
    free for this user."""
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < below


def _train_text_model(config: TextTrainConfig, batch_sampler: type | None) -> TrainResult:
    import torch
    from sentence_transformers import SentenceTransformerTrainingArguments

    from acg2vec.trainers.text.batches import EntityBatchSampler, EntityKeyedTrainer
    from acg2vec.trainers.text.data import by_pair_type, corpus_texts, load_pairs, pair_type_counts
    from acg2vec.trainers.text.input_module import load_encoder

    check_config(config)
    started = time.perf_counter()
    output = Path(config.output)
    checkpoints = output / CHECKPOINTS
    # The newest checkpoint that is whole; damaged newer ones are named once, moved aside and counted.
    resume_from, damaged = good_checkpoint(checkpoints, output=output) if config.resume else (None, [])
    # 1. Data: memory-mapped Arrow tables; one training set per pair type; held-out entities for evaluation.
    cache_dir = Path(config.cache_dir) if config.cache_dir else output / "cache"
    dead_path = dead_letter_path(output, DEAD_LETTER_STEP) if is_main_process() else None
    # fresh: this run's drops only (a resumed run re-reads the corpus)
    with DeadLetters(dead_path, step=DEAD_LETTER_STEP, fresh=True) as dead:
        for err in damaged:
            dead.add(DAMAGED_FILE, err.to_dict(), detail=str(err))
        corpus = load_pairs(config.data_dir, cache_dir=cache_dir, dead_letters=dead)
    train_all, validation = corpus.splits["train"], corpus.splits["validation"]
    if not config.resume and checkpoints.exists() and is_main_process():
        # A fresh start, once the corpus has been read: an old tokenizer, baselines or checkpoints must not leak
        # into this run.
        log.warning("Starting over: removing the previous run's checkpoints in %s", checkpoints)
        shutil.rmtree(checkpoints)
    if len(validation) == 0:
        raise UserError(
            "The validation split has no usable pairs, so the model cannot be evaluated on held-out works."
        )
    # Hard negatives: look-alike titles of other works, mined from the lexical index (the baseline's confusions).
    train_sets = by_pair_type(train_all, seed=config.seed, hard_negatives=config.hard_negatives)
    eval_sets = build_eval_sets(validation, max_pairs=config.eval_max_pairs, max_queries=config.eval_max_queries)
    log.info("Training pairs by type: %s", pair_type_counts(train_all))
    log.info("Held-out eval sets: %s", eval_sets.summary())

    # 2. Arguments, early: they start the process group when launched by torchrun / accelerate.
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        learning_rate=resolved_learning_rate(config),
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        # No two pairs of one entity (nor one text twice) in a batch: a work's Bangumi and Wikipedia title pairs,
        # or its title paired with ten characters, must never be each other's in-batch negatives.
        batch_sampler=batch_sampler or EntityBatchSampler,
        multi_dataset_batch_sampler=config.sampling,
        eval_strategy="steps",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        ddp_backend="gloo" if world_size > 1 else None,
        disable_tqdm=config.quiet,
        dataloader_num_workers=0,
    )

    # 3. Model: the checkpoint being resumed, the given base model (multilingual-e5-small by default, imported
    # into the workspace cache on first use), or a small one built from scratch.
    base_cache = resolved_base_cache_dir(config)
    if resume_from:
        model = load_encoder(resume_from, device="cpu" if args.use_cpu else None)
    else:
        # The first process trains the tokenizer or imports the base model; the others load its files.
        with args.main_process_first(desc="building the base model"):
            scratch = checkpoints / SCRATCH_BASE
            if is_scratch(config.base_model) and (scratch / "modules.json").exists():
                model = load_encoder(scratch, device="cpu" if args.use_cpu else None)
            else:
                model = load_base_model(
                    config.base_model,
                    corpus_texts=corpus_texts(train_all),
                    scratch_dir=scratch / "transformer",
                    small=config.small,
                    device="cpu" if args.use_cpu else None,
                    cache_dir=base_cache,
                )
                if is_scratch(config.base_model) and is_main_process():
                    with text_model_writer(scratch, carry=("transformer",)) as folder:
                        model.save(str(folder))
    if not is_scratch(config.base_model):
        prepare_pretrained_base(
            model, **{k: getattr(config, k) for k in ("max_seq_length", "freeze_embeddings", "freeze_layers")}
        )
        folder = base_model_folder(config.base_model, cache_dir=base_cache)
        config.base_model_dir = str(folder) if folder else ""  # the zero-shot model eval texts reports
    # A model with a default prompt (E5's "query: ") is trained on prompted texts, as it is used.
    prompt = model.prompts.get(model.default_prompt_name or "", "")
    if prompt:
        args.prompts = prompt
        log.info("Training with the model's default prompt %r on every text", prompt)

    # 4. Loss.
    guide = (
        load_base_model(config.guide_model, corpus_texts=[], scratch_dir=output, cache_dir=base_cache)
        if config.guide_model
        else None
    )
    loss = make_loss(
        config.loss, model, mini_batch_size=config.mini_batch_size, guide=guide, matryoshka_dims=config.matryoshka_dims
    )

    # 5. Evaluator, and the baselines measured before any training step.
    evaluator = make_evaluator(eval_sets, batch_size=min(config.batch_size, 128))
    baselines_path = checkpoints / BASELINES_FILE
    if resume_from and baselines_path.exists():
        baselines = json.loads(baselines_path.read_text())
    elif not is_main_process():
        baselines = {}  # measured and reported by the first process
    else:
        baselines = {
            "lexical": lexical_baseline_metrics(list(corpus_texts(train_all, limit=LEXICAL_FIT_TEXTS)), eval_sets),
            "untrained": evaluate_model(model, eval_sets, batch_size=min(config.batch_size, 128)),
        }
        atomic_write_json(baselines_path, baselines)
    for name, metrics in baselines.items():
        log.info("Baseline %s: %s", name, _brief(metrics))

    # 6. Train (the trainer's collator feeds the loss the texts; the entity columns only key the batches).
    trainer = EntityKeyedTrainer(model=model, args=args, train_dataset=train_sets, loss=loss, evaluator=evaluator)
    trainer.add_callback(ChecksummedCheckpoints())  # each checkpoint's files recorded, for a resume to check
    if config.quiet:
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # it prints every log line even without progress bars
    if resume_from:
        log.info("Resuming from %s", resume_from)
    trainer.train(resume_from_checkpoint=resume_from)

    # 7. Evaluate the trained model on the same held-out sets.
    trained = tidy_metrics(evaluator(model))
    log.info("Trained: %s", _brief(trained))
    metrics = {**baselines, "trained": trained}

    # 8. Save: the sentence-transformers folder, its card, training args, eval results and curves.
    result = TrainResult(
        output=str(output),
        metrics=metrics,
        global_step=trainer.state.global_step,
        resumed_from=resume_from,
        train_pairs=len(train_all),
        pair_types=pair_type_counts(train_all),
        data_counts=corpus.counts(),
        seconds=round(time.perf_counter() - started, 1),
        world_size=world_size,
        eval_sets=eval_sets.summary(),
        damaged={DAMAGED_FILE: len(damaged)} if damaged else {},
        damaged_files=[err.to_dict() for err in damaged],
    )
    if trainer.is_world_process_zero():
        # The new folder replaces the previous model only when complete (a full disk leaves the old one whole).
        with text_model_writer(output) as folder:
            export_model(
                model,
                folder,
                result=asdict(result),
                config=config,
                # to_dict leaves out a sampler given as a class: name it, so the folder says how batches were drawn
                training_args={
                    **args.to_dict(),
                    "batch_sampler": f"{args.batch_sampler.__module__}.{args.batch_sampler.__name__}",
                },
                log_history=trainer.state.log_history,
            )
            if config.export_onnx:
                result.onnx = measure_onnx_quality(folder, eval_sets, export_onnx(folder))
                saved = json.loads((folder / "eval_results.json").read_text())
                atomic_write_json(folder / "eval_results.json", {**saved, "onnx": result.onnx})
                log.info("ONNX: %s", {name: _brief(m) for name, m in result.onnx.items()})
        log.info("Saved the acgvoc2vec model to %s", output)
    return result


def _brief(metrics: dict[str, float]) -> str:
    keys = [k for k in metrics if k.endswith("mean_accuracy")] + ["ir_accuracy@1", "ir_mrr@10"]
    return ", ".join(f"{k}={metrics[k]:.3f}" for k in keys if k in metrics)
