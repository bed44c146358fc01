"""Benchmark of the image input pipeline (acg2vec.trainers.image.input_pipeline).

1. Input only: examples/s of ``make_dataset`` (training mode: crop, flip, jitter, labels, batches) against a plain
   Python loop that decodes the same records with the same ops one by one. Ratio target: >= 0.9.
2. Does training wait for input? Keras step time of a small DeepDanbooru fed by the pipeline against the same
   model fed one cached in-memory batch. A ratio near 1.0 means the input keeps up with the model. On a CPU the
   input's threads share the cores with the step, so the ratio also holds that CPU cost; the supply / demand
   line (input-only examples/s over the model's examples/s on cached data) tells waiting apart from sharing.

    .venv/bin/python benchmarks/image_input.py                       # synthetic dataset in a temp dir
    .venv/bin/python benchmarks/image_input.py --data-dir acg2vec-data/datasets --dataset acg_illustrations/224
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

import keras

REPO = Path(__file__).resolve().parents[1]


def synthetic_dataset(root: Path, *, size: int, examples: int) -> str:
    """A learnable synthetic acg_illustrations in the real TFDS format (the tests' writer)."""
    spec = importlib.util.spec_from_file_location("tiny_dataset", REPO / "tests/trainers/image/tiny_dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_tiny_dataset(root, size=size, splits={"train": examples}, shards=4, config="bench")
    return "acg_illustrations/bench"


class StepTimer(keras.callbacks.Callback):
    """Records when each training step ends."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: list[float] = []

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.ends.append(time.perf_counter())


def pipeline_rate(builder, vocab, config, batches: int) -> float:
    from acg2vec.trainers.image.input_pipeline import make_dataset

    ds = make_dataset(builder, "train", vocab, config=config, training=True)
    iterator = iter(ds)
    next(iterator)  # warm-up: graph tracing and the first prefetch
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * config.batch_size / (time.perf_counter() - start)


def plain_loop_rate(builder, vocab, config, examples: int) -> float:
    """The same records and the same ops, one example at a time in a Python loop, batches by np.stack."""
    import numpy as np
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from acg2vec.trainers.image import augment
    from acg2vec.trainers.image.input_pipeline import make_lookup, multi_hot

    table = make_lookup(vocab)
    records = builder.as_dataset(split="train", decoders={"image": tfds.decode.SkipDecoding()}).repeat()
    images, labels, done = [], [], 0
    start = None
    for index, example in enumerate(records):
        if index == 8:  # same warm-up allowance as the pipeline
            start = time.perf_counter()
            done = 0
        seeds = tf.random.experimental.stateless_split(tf.constant([7, index], tf.int64), num=3)
        image = augment.decode_and_random_crop(example["image"], size=config.image_size, seed=seeds[0])
        image = augment.random_flip(image, seed=seeds[1])
        image = augment.colour_jitter(image, seed=seeds[2], strength=config.colour_jitter)
        images.append(image.numpy())
        labels.append(multi_hot(example, table, len(vocab)).numpy())
        if len(images) == config.batch_size:
            np.stack(images), np.stack(labels)
            images, labels = [], []
        done += 1
        if start is not None and done >= examples:
            break
    return done / (time.perf_counter() - start)


def step_times(builder, vocab, config, steps: int) -> tuple[float, float]:
    """Median seconds per training step with the pipeline, and with one cached batch repeated."""
    import numpy as np

    from acg2vec.trainers.image.input_pipeline import make_dataset
    from acg2vec.trainers.image.losses import make_tag_loss
    from acg2vec.trainers.image.models.deepdanbooru import make_model

    ds = make_dataset(builder, "train", vocab, config=config, training=True)
    cached = ds.take(1).cache().repeat()
    model = make_model((config.image_size,) * 2 + (3,), len(vocab), version="v4", width=1 / 8, depth=0.1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=make_tag_loss("bce"), jit_compile=False)
    results = []
    for data in (ds, cached):
        timer = StepTimer()
        # One fit per source, timed per step after a warm-up, so neither tracing nor the pipeline's start-up
        # (opening files, filling the shuffle buffer) is counted.
        model.fit(data, steps_per_epoch=steps + 3, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
        results.append(float(np.median(np.diff(timer.ends[2:]))))
    return results[0], results[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="TFDS data dir (default: a synthetic dataset in a temp dir)")
    parser.add_argument("--dataset", default="acg_illustrations/224")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--examples", type=int, default=512, help="synthetic dataset size")
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()

    from acg2vec.trainers.image.input_pipeline import InputConfig, load_vocab, open_dataset

    with tempfile.TemporaryDirectory() as tmp:
        data_dir, dataset = args.data_dir, args.dataset
        if data_dir is None:
            data_dir = tmp
            dataset = synthetic_dataset(Path(tmp), size=256, examples=args.examples)
        builder = open_dataset(data_dir, dataset)
        vocab = load_vocab(builder)
        config = InputConfig(image_size=args.image_size, batch_size=args.batch_size, shuffle_buffer=256)
        fast = pipeline_rate(builder, vocab, config, args.batches)
        plain = plain_loop_rate(builder, vocab, config, args.batches * args.batch_size)
        print(
            f"input only: pipeline {fast:.1f} examples/s, plain loop {plain:.1f} examples/s, ratio {fast / plain:.2f} (target >= 0.9)"
        )
        real, cached = step_times(builder, vocab, config, args.steps)
        print(
            f"training step: {real * 1000:.0f} ms with the pipeline, {cached * 1000:.0f} ms with a cached batch, "
            f"ratio {real / cached:.2f} (1.0 = the step never waits for input)"
        )
        demand = args.batch_size / cached
        print(
            f"input supply / training demand: {fast:.0f} / {demand:.0f} examples/s = {fast / demand:.1f} "
            "(above 1: batches are ready before the step asks; a step ratio above 1.0 is then the input's "
            "threads sharing the CPU cores with the step, not the step waiting)"
        )


if __name__ == "__main__":
    main()
