"""Streaming ``tf.data`` input for the image models, read straight from the TFDS files of ``acg_illustrations``.

Nothing here loads a split into memory: records stream from the shards (local or gs:// / s3://), and only a
shuffle buffer of still-encoded JPEGs is held at any time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from acg2vec.datasets.acg_illustrations.schema import NAME
from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary
from acg2vec.datasets.published import read_vocabulary
from acg2vec.datasets.versions import TFDS_MARKER, newest_dataset_dir
from acg2vec.errors import UserError

# Features whose strings can be vocabulary entries (the vocabulary may take characters and copyrights).
TAG_FEATURES = ("tags", "characters", "copyrights", "artists")
# Popularity targets for deepix, in this order; -1 in the data means unknown and is masked out of the loss.
POPULARITY_FEATURES = ("score", "pixiv_views", "pixiv_bookmarks")


@dataclass(slots=True)
class InputConfig:
    """Knobs of the input pipeline; defaults suit a CPU laptop and scale with the flags of ``acg2vec train``."""

    image_size: int = 224
    batch_size: int = 32
    shuffle_buffer: int = 1024
    crop_scale: tuple[float, float] = (0.5, 1.0)
    flip: bool = True
    colour_jitter: float = 0.1
    deterministic: bool = False
    seed: int = 0
    parallel_reads: int | None = None  # None: let tf.data tune it
    extra: dict = field(default_factory=dict)


def dataset_dir(data_dir: str, dataset: str) -> str:
    """The version folder of ``dataset`` ("acg_illustrations/<config>[/<version>]") under ``data_dir``.

    Without a version, the newest one present is used. A missing dataset is a UserError.
    """
    import tensorflow as tf

    parts = dataset.strip("/").split("/")
    if parts[0] != NAME or len(parts) not in (2, 3):
        raise UserError(f"--dataset must look like {NAME}/<config>[/<version>], got '{dataset}'.")
    config_dir = "/".join([data_dir.rstrip("/"), *parts[:2]])
    if len(parts) == 3:
        path = f"{config_dir}/{parts[2]}"
    else:
        path = newest_dataset_dir(config_dir)
        if path is None:
            raise UserError(
                f"No dataset {dataset} under {data_dir}; build it first with `acg2vec build images` "
                "or point --data-dir at the folder holding it."
            )
    if not tf.io.gfile.exists(f"{path}/{TFDS_MARKER}"):
        raise UserError(
            f"No TFDS dataset at {path} (dataset_info.json is missing); build it with `acg2vec build images`."
        )
    return path


def open_dataset(data_dir: str, dataset: str):
    """The TFDS builder reading the files of ``dataset`` under ``data_dir`` (no builder code needed), after the cheap
    checks of :func:`~acg2vec.datasets.published.verify_published` (a damaged version is one sentence)."""
    from acg2vec.datasets.published import open_published

    return open_published(dataset_dir(data_dir, dataset))


def load_vocab(builder) -> TagVocabulary:
    """``selected_tags.csv`` shipped in the dataset's version folder."""
    return read_vocabulary(str(builder.data_dir))  # damaged: the sentence with the version's rebuild command


def split_size(builder, split: str) -> int:
    if split not in builder.info.splits:
        raise UserError(f"The dataset has no split '{split}' (it has {sorted(builder.info.splits)}).")
    return builder.info.splits[split].num_examples


def make_lookup(vocab: TagVocabulary):
    """A static hash table from tag name to output index; unknown tags map to -1."""
    import tensorflow as tf

    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(vocab.names, tf.string), tf.range(len(vocab.names), dtype=tf.int64)
        ),
        default_value=-1,
    )


def multi_hot(example: dict, table, num_tags: int):
    """Multi-hot float32 [num_tags] from all tag-like features of one example (unselected tags are ignored)."""
    import tensorflow as tf

    names = tf.concat([example[key] for key in TAG_FEATURES if key in example], axis=0)
    ids = table.lookup(names)
    # one_hot of -1 is an all-zero row, so unselected tags vanish without a mask.
    return tf.minimum(tf.reduce_sum(tf.one_hot(ids, num_tags, dtype=tf.float32), axis=0), 1.0)


def make_dataset(
    builder,
    split: str,
    vocab: TagVocabulary,
    *,
    config: InputConfig,
    training: bool,
    task: str = "tags",
    input_context=None,
    with_ids: bool = False,
    skip_examples: int = 0,
):
    """Batches of ``(images, targets)``: images float32 [B, S, S, 3] in [0, 1].

    ``task="tags"``: targets are multi-hot [B, num_tags]. ``task="deepix"``: a dict with ``tags``, ``rating``
    (int [B]) and ``popularity`` (float [B, 3]; -1 = unknown). Training data repeats forever; evaluation data is
    one pass in file order. ``with_ids`` adds the post id as a third element (evaluation and embedding).
    ``skip_examples`` continues a deterministic stream after that many examples (resuming a killed run).
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from acg2vec.trainers.image import augment

    split_size(builder, split)
    options = tf.data.Options()
    options.deterministic = config.deterministic
    # The pipeline shards its own files per worker through input_context; a second sharding by tf.distribute
    # would drop data, so element-level sharding is the fallback only when no context is given.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF
        if input_context is not None
        else tf.data.experimental.AutoShardPolicy.DATA
    )
    read_config = tfds.ReadConfig(
        options=options,
        # File-level shuffle is free (it reorders file names) and decorrelates neighbouring records that were
        # written together; the seed makes the order reproducible in deterministic mode.
        shuffle_seed=config.seed if config.deterministic else None,
        # Interleave reads several shards at once: on remote storage one stream cannot saturate the link.
        interleave_cycle_length=config.parallel_reads or tf.data.AUTOTUNE,
        interleave_block_length=1 if training else 16,
        input_context=input_context,
        # Caching a split in memory is what this pipeline exists to avoid.
        try_autocache=False,
    )
    ds = builder.as_dataset(
        split=split,
        shuffle_files=training,
        read_config=read_config,
        # Keep the JPEG encoded: the shuffle buffer then holds compressed bytes (~10x smaller than pixels), and
        # decoding can be fused with the random crop below.
        decoders={"image": tfds.decode.SkipDecoding()},
    )
    if training:
        # Shuffle before repeat so that every epoch is a full permutation and epochs do not blend.
        ds = ds.shuffle(config.shuffle_buffer, seed=config.seed if config.deterministic else None)
        ds = ds.repeat()
    # Enumerate after repeat: every element of every epoch gets its own counter, which seeds the stateless
    # augmentations (new crops each epoch, identical crops across runs in deterministic mode).
    ds = ds.enumerate()
    if skip_examples:
        # Skipped before decoding, so resuming costs a read of the records but no image work.
        ds = ds.skip(skip_examples)
    table = make_lookup(vocab)
    num_tags = len(vocab)
    base_seed = config.seed if config.deterministic else random.randrange(2**31)

    def parse(index, example):
        if training:
            seeds = tf.random.experimental.stateless_split(tf.stack([tf.cast(base_seed, tf.int64), index]), num=3)
            image = augment.decode_and_random_crop(
                example["image"], size=config.image_size, seed=seeds[0], scale=config.crop_scale
            )
            if config.flip:
                image = augment.random_flip(image, seed=seeds[1])
            image = augment.colour_jitter(image, seed=seeds[2], strength=config.colour_jitter)
        else:
            image = augment.decode_and_resize(example["image"], size=config.image_size)
        image = tf.ensure_shape(image, [config.image_size, config.image_size, 3])
        tags = multi_hot(example, table, num_tags)
        if task == "tags":
            target = tags
        elif task == "deepix":
            popularity = tf.stack([tf.cast(example[key], tf.float32) for key in POPULARITY_FEATURES])
            target = {"tags": tags, "rating": example["rating"], "popularity": popularity}
        else:
            raise ValueError(f"unknown task {task!r}")
        if with_ids:
            return image, target, example["id"]
        return image, target

    # Decode and augment in parallel: this is the CPU-heavy step, and it runs after the shuffle so the buffer
    # stays small. deterministic=False lets a slow image not hold back the whole batch.
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=config.deterministic)
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(config.batch_size)
    else:
        batch_size = config.batch_size
    # Static batch shapes in training (drop_remainder) keep one compiled graph and are required by TPUs.
    ds = ds.batch(batch_size, drop_remainder=training)
    # Prefetch last, so that decoding the next batches overlaps the training step on the current one.
    return ds.prefetch(tf.data.AUTOTUNE)
