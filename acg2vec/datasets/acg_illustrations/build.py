"""Run the ``acg_illustrations`` build: Beam pipeline -> TFRecord shards -> TFDS metadata -> published folder.

Why not TFDS's own Beam writer: it shuffles examples with a group-by, and Beam's local runner holds every
group-by in memory, so a 100,000-image build would need the whole dataset in RAM. Here the posts go through
the bucket passes of :class:`~acg2vec.datasets.acg_illustrations.transforms.BuildImageExamples` (bucket files
under ``<incomplete folder>/_buckets/``, sized by :func:`auto_buckets`, deleted once the pipeline succeeded), and
the images of each split go from its last pass straight into Beam's file sink, which writes one shard per bundle
and starts a new one at ``shard_bytes`` (no group-by: only file names are collected). Dead letters are written
per step, as ``dead_letters/<step>-*.jsonl.gz``. The shard lengths are then read back by TFDS
(``tfds.folder_dataset.compute_split_info``) and written into the dataset's ``dataset_info.json``. Examples
inside a shard keep their bundle order; readers shuffle with ``shuffle_files=True`` and a shuffle buffer.

An interrupted build never looks complete: the build holds the dataset's lock, writes into
``<config>/.incomplete-<version>-<id>/`` and swaps it in for ``<config>/<version>/`` only after the pipeline
succeeded and the metadata was written (:mod:`acg2vec.beam_pipelines.publish`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam

from acg2vec.beam_pipelines import files, publish, raw_io
from acg2vec.beam_pipelines.buckets import bucket_writers
from acg2vec.beam_pipelines.dead_letters import metric_counts
from acg2vec.beam_pipelines.options import (
    RunnerConfig,
    dataflow_dry_run_config,
    describe_dataflow_job,
    pipeline_options,
    worker_stderr_to_log,
)
from acg2vec.beam_pipelines.tfrecord_shards import TFRecordShardSink
from acg2vec.datasets.acg_illustrations.acg_illustrations_dataset_builder import Builder
from acg2vec.datasets.acg_illustrations.metadata import (
    BUILD_COUNTS_FILE,
    MARKER,
    check_counts_add_up,
    write_side_outputs,
    write_tfds_metadata,
)
from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig, record_to_example
from acg2vec.datasets.acg_illustrations.schema import NAME, features_for_size
from acg2vec.datasets.acg_illustrations.transforms import BuildImageExamples
from acg2vec.errors import UserError
from acg2vec.workspace import Workspace

log = logging.getLogger(__name__)

COMMAND = "acg2vec build images"
DEFAULT_SHARD_BYTES = 256 * 1024 * 1024  # TFDS aims at 64 MiB - 1 GiB per shard for streaming
BUCKETS_DIR = "_buckets"  # inside the incomplete folder; deleted before publishing
# One bucket per BUCKET_BYTES of compressed post and pixiv shards (about 10,000 posts): a bucket's records
# then take some tens of MiB in a worker. At most MAX_BUCKETS, since a local worker keeps one file open per
# bucket while it writes them.
BUCKET_BYTES = 4 * 1024 * 1024
MIN_BUCKETS = 4
MAX_BUCKETS = 512
DRY_RUN_BUCKETS = 64  # the dry run reads no input, so it cannot size the buckets


@dataclass(slots=True)
class BuildResult:
    """What a finished build reports."""

    out_dir: str
    counts: dict[str, Any]
    splits: dict[str, int]
    seconds: float
    metrics: dict[str, int] = field(default_factory=dict)
    job_file: str | None = None
    buckets: int = 0


def output_dir(workspace: Workspace, size: int) -> str:
    """``<workdir>/datasets/acg_illustrations/<size>/<version>``."""
    return files.join(workspace.datasets(), NAME, str(size), str(Builder.VERSION))


def auto_buckets(raw_root: str) -> int:
    """The bucket count for this input: grows with the compressed size of the post and pixiv shards."""
    total = 0
    for pattern in (
        raw_io.shard_pattern(files.join(raw_root, "safebooru"), "post"),
        raw_io.shard_pattern(files.join(raw_root, "pixiv"), "illust"),
    ):
        total += sum(size for _, size in files.match(pattern))
    return max(MIN_BUCKETS, min(MAX_BUCKETS, math.ceil(total / BUCKET_BYTES)))


def serialize_example(features, record_and_jpeg) -> bytes:
    return features.serialize_example(record_to_example(*record_and_jpeg))


def build_pipeline(
    pipeline: beam.Pipeline,
    raw_root: str,
    out_dir: str,
    config: ImageBuildConfig,
    shard_bytes: int,
    *,
    num_buckets: int,
    local: bool,
):
    """Add the build to ``pipeline``: examples -> TFRecord shards per split, side outputs into ``out_dir``."""
    # Locally every bucket keeps its file open (a spill would go to an in-memory group-by); a distributed
    # runner keeps Beam's default and shuffles the rest.
    outputs = pipeline | "BuildImageExamples" >> BuildImageExamples(
        raw_root,
        config,
        files.join(out_dir, BUCKETS_DIR),
        num_buckets=num_buckets,
        **bucket_writers(num_buckets, local=local),
    )
    features = features_for_size(config.size)
    for name, images in outputs.images.items():
        label = name.capitalize()
        _ = (
            images
            | f"Serialize{label}" >> beam.Map(lambda ri: serialize_example(features, ri))
            | f"WriteShards{label}"
            >> beam.io.Write(
                TFRecordShardSink(files.join(out_dir, f"{NAME}-{name}.tfrecord"), max_bytes_per_shard=shard_bytes)
            )
        )
    write_side_outputs(outputs, out_dir)
    return outputs


def builder_for(size: int) -> Builder:
    if str(size) not in Builder.builder_configs:
        raise UserError(f"No builder config for size {size}; choose one of {sorted(Builder.builder_configs)}.")
    return Builder(config=str(size))


def run_build(
    workspace: Workspace,
    config: ImageBuildConfig,
    *,
    runner: RunnerConfig | None = None,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    dry_run_dataflow: str | None = None,
    num_buckets: int = 0,
) -> BuildResult:
    """Build ``acg_illustrations/<size>`` from ``workspace``'s raw/ folder and publish it under datasets/.

    ``dry_run_dataflow``: a path; describe the job for Dataflow (with ``runner.args``) into that JSON file
    instead of running anything. ``num_buckets``: 0 sizes the buckets from the input (:func:`auto_buckets`);
    the examples are the same for any count.
    """
    raw_root = workspace.raw()
    posts = raw_io.shard_pattern(files.join(raw_root, "safebooru"), "post")
    builder = builder_for(config.size)
    runner = runner or RunnerConfig()
    final_dir = output_dir(workspace, config.size)
    if dry_run_dataflow:
        return _describe_dataflow_job(
            raw_root, final_dir, config, runner, shard_bytes, dry_run_dataflow, num_buckets or DRY_RUN_BUCKETS
        )
    if not raw_io.has_shards(posts):
        raise UserError(f"No posts to build from: nothing matches {posts}. Run `acg2vec crawl safebooru` first.")
    options = pipeline_options(runner)  # a wrong runner argument fails before anything is written
    start = time.monotonic()
    with publish.DatasetLock(final_dir, f"{COMMAND} --config {config.size}"):
        publish.remove_leftovers(final_dir)
        tmp_dir = publish.incomplete_dir(final_dir)
        num_buckets = num_buckets or auto_buckets(raw_root)
        files.mkdirs(tmp_dir)
        pipeline = beam.Pipeline(options=options)
        build_pipeline(
            pipeline, raw_root, tmp_dir, config, shard_bytes, num_buckets=num_buckets, local=runner.is_local
        )
        log.info(
            "Building %s/%s from %s (runner: %s, %d buckets)", NAME, config.size, raw_root, runner.runner, num_buckets
        )
        with worker_stderr_to_log():
            result = pipeline.run()
            state = result.wait_until_finish()
        if str(state) not in ("DONE", "PipelineState.DONE"):
            raise RuntimeError(f"the Beam pipeline ended in state {state}; {tmp_dir} is left incomplete")
        metrics = metric_counts(result)
        files.delete([files.join(tmp_dir, BUCKETS_DIR)])

        counts = json.loads(files.read_text(files.join(tmp_dir, BUILD_COUNTS_FILE)))
        check_counts_add_up(counts, metrics)
        splits = write_tfds_metadata(tmp_dir, builder.info, config, counts)
        publish.publish(tmp_dir, final_dir, marker=MARKER)
    return BuildResult(
        out_dir=final_dir,
        counts=counts,
        splits=splits,
        seconds=time.monotonic() - start,
        metrics=metrics,
        buckets=num_buckets,
    )


def _describe_dataflow_job(
    raw_root: str,
    final_dir: str,
    config: ImageBuildConfig,
    runner: RunnerConfig,
    shard_bytes: int,
    job_file: str,
    num_buckets: int,
) -> BuildResult:
    """Build the Dataflow job for this build and write its description to ``job_file``; submit nothing."""
    start = time.monotonic()
    pipeline = beam.Pipeline(options=pipeline_options(dataflow_dry_run_config(runner)))
    out_dir = final_dir.rsplit("/", 1)[0] + "/.incomplete-dataflow"
    build_pipeline(pipeline, raw_root, out_dir, config, shard_bytes, num_buckets=num_buckets, local=False)
    describe_dataflow_job(pipeline, job_file, output=final_dir)
    return BuildResult(
        out_dir=final_dir,
        counts={},
        splits={},
        seconds=time.monotonic() - start,
        job_file=job_file,
        buckets=num_buckets,
    )
