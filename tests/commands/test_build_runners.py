"""Both builds through Beam's portable path (a job server, SDK workers in their own processes) and on Dask, with the
same examples, splits, vocabulary and counts as the default local runner (docs/runners.md).

The portable test runs ``acg2vec build`` as a user does, against Beam's local job service started in a process of
its own (``--runner portable --job-endpoint localhost:PORT``); acg2vec starts the worker pool its SDK workers run
in. The Dask test runs on a ``LocalCluster`` of 2 worker processes.
"""

from __future__ import annotations

import gzip
import json
import shutil
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acg2vec.beam_pipelines import runners
from acg2vec.beam_pipelines.options import BuildOptions, RunnerConfig
from acg2vec.beam_pipelines.publish import BuildResult
from acg2vec.cli import app
from acg2vec.datasets.acg_illustrations import build as image_build
from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig, PostFilters
from acg2vec.datasets.acg_illustrations.schema import BUILD_COUNTS_FILE, SELECTED_TAGS_FILE
from acg2vec.datasets.acg_illustrations.vocabulary import VocabularyRules
from acg2vec.datasets.acg_text_pairs import build as text_build
from acg2vec.datasets.acg_text_pairs import schema as text_schema
from acg2vec.workspace import Workspace

IMAGES_RAW = Path(image_build.__file__).resolve().parent / "dummy_data"
TEXTS_RAW = Path(text_build.__file__).resolve().parent / "dummy_data"
IMAGE_CONFIG = ImageBuildConfig(
    size=64, filters=PostFilters(min_side=32, min_general_tags=1), vocabulary=VocabularyRules(min_images=1)
)
IMAGE_ARGS = ["--config", "64", "--min-side", "32", "--min-general-tags", "1", "--min-images-per-tag", "1"]
LOCAL = BuildOptions(runner=RunnerConfig(mode="in_memory"))


def _workdir(root: Path, raw: Path) -> Path:
    shutil.copytree(raw, root / "raw")
    return root


def _records(path: Path) -> list[bytes]:
    """The examples of one TFRecord file (framing: length, its CRC, the record, its CRC), each serialized again
    deterministically: a tf.train.Example's feature map has no fixed order from one process to another."""
    from tensorflow.core.example.example_pb2 import Example

    data, out, offset = path.read_bytes(), [], 0
    while offset < len(data):
        (length,) = struct.unpack("<Q", data[offset : offset + 8])
        record = Example.FromString(data[offset + 12 : offset + 12 + length])
        out.append(record.SerializeToString(deterministic=True))
        offset += 12 + length + 4
    return out


def image_outputs(out_dir: str, workdir: Path) -> dict:
    """What must not depend on the runner: the serialized examples per split, the vocabulary, the counts."""
    folder = Path(out_dir)
    examples: dict[str, list[bytes]] = {}
    for shard in folder.glob("*.tfrecord-*"):
        split = shard.name.split("-", 1)[1].split(".tfrecord", 1)[0]
        examples.setdefault(split, []).extend(_records(shard))
    info = json.loads((folder / "dataset_info.json").read_text())
    return {
        "examples": {split: sorted(records) for split, records in examples.items()},
        "vocabulary": (folder / SELECTED_TAGS_FILE).read_text(),
        "counts": json.loads((folder / BUILD_COUNTS_FILE).read_text()),
        "splits": {s["name"]: sum(int(n) for n in s.get("shardLengths", [])) for s in info["splits"]},
        "dead_letters": _dead_letters(folder, workdir),
    }


def text_outputs(out_dir: str, parquet_dir: str, workdir: Path) -> dict:
    import pyarrow.parquet as pq

    folder = Path(out_dir)
    meta = json.loads((folder / text_schema.BUILD_METADATA).read_text())
    rows = {}
    for split in text_schema.SPLITS:
        table = pq.read_table(Path(parquet_dir) / split)
        rows[split] = sorted(zip(*(table.column(c).to_pylist() for c in text_schema.COLUMNS), strict=True))
    tfrecords = {
        split: sorted(r for shard in folder.glob(f"*-{split}.tfrecord-*") for r in _records(shard))
        for split in text_schema.SPLITS
    }
    return {
        "rows": rows,
        "tfrecords": tfrecords,
        "split_rows": meta["split_rows"],
        "counters": meta["counters"],
        "by_pair_type_and_source": meta["counts_by_pair_type_and_source"],
        "dead_letters": _dead_letters(folder, workdir),
    }


def _dead_letters(folder: Path, workdir: Path) -> list[str]:
    """Every dead-letter record, with the workdir (in the image paths they name) written as ``<workdir>``."""
    lines = []
    for shard in folder.glob("dead_letters/*.jsonl.gz"):
        with gzip.open(shard, "rt", encoding="utf-8") as fh:
            lines += [line.replace(str(workdir), "<workdir>") for line in fh if line.strip()]
    return sorted(lines)


@pytest.fixture(scope="module")
def default_runner(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Both builds on the default local runner: the outputs every other runner must match."""
    image_root = _workdir(tmp_path_factory.mktemp("img-default"), IMAGES_RAW)
    text_root = _workdir(tmp_path_factory.mktemp("txt-default"), TEXTS_RAW)
    images = image_build.build(Workspace.at(image_root), IMAGE_CONFIG, options=LOCAL)
    texts = text_build.build(Workspace.at(text_root), options=LOCAL)
    return {"images": _image_result(images, image_root), "texts": _text_result(texts, text_root)}


def _image_result(result: BuildResult, workdir: Path) -> dict:
    out = image_outputs(result.out_dir, workdir)
    assert out["examples"] and all(out["examples"].values()), "the dummy data must give examples in every split"
    return {**out, "result": (result.splits, result.balances, result.drops)}


def _text_result(result: BuildResult, workdir: Path) -> dict:
    out = text_outputs(result.out_dir, result.outputs["Parquet"], workdir)
    assert all(out["rows"].values())
    return {**out, "result": (result.splits, result.balances)}


def _assert_same(got: dict, expected: dict) -> None:
    for key in expected:
        assert got[key] == expected[key], key


@pytest.mark.integration
def test_both_builds_through_a_job_server_match_the_default_runner(tmp_path: Path, default_runner: dict) -> None:
    """``acg2vec build ... --runner portable --job-endpoint localhost:PORT`` against Beam's local job service in a
    process of its own; the SDK workers run in the worker pool's processes (never in this one)."""
    job_service = runners.start_job_service()
    try:
        with runners.services():
            for build, args, raw in (("images", IMAGE_ARGS, IMAGES_RAW), ("texts", [], TEXTS_RAW)):
                workdir = _workdir(tmp_path / build, raw)
                cli = ["-w", str(workdir), "build", build, *args, "--runner", "portable"]
                result = CliRunner().invoke(app, [*cli, "--job-endpoint", job_service.address])
                assert result.exit_code == 0, result.output
            pools = [s for s in runners._SERVICES.values() if isinstance(s, runners.LocalProcess)]
            assert len(pools) == 1 and pools[0].process.poll() is None  # one pool served all four jobs
    finally:
        job_service.close()
    log = Path(job_service.log_path).read_text(errors="replace")
    assert log.count("Completed job") == 4 and "state DONE" in log  # 1 image pass + 3 text passes
    images = image_outputs(str(tmp_path / "images/datasets/acg_illustrations/64/1.0.0"), tmp_path / "images")
    _assert_same(images, {k: v for k, v in default_runner["images"].items() if k != "result"})
    texts_dir = tmp_path / "texts/datasets"
    texts = text_outputs(
        str(texts_dir / "acg_text_pairs/1.0.0"), str(texts_dir / "parquet/acg_text_pairs"), tmp_path / "texts"
    )
    _assert_same(texts, {k: v for k, v in default_runner["texts"].items() if k != "result"})


@pytest.mark.slow  # the costs: docs/benchmark-runs/2026-12-07-build-runners.md; the Dask gaps run in CI in test_runners
@pytest.mark.integration
def test_both_builds_on_a_dask_cluster_match_the_default_runner(tmp_path: Path, default_runner: dict) -> None:
    """``--runner dask`` without an address: a LocalCluster of 2 worker processes, started and stopped here."""
    options = BuildOptions(runner=RunnerConfig(runner="dask"))
    with runners.services():
        image_root, text_root = _workdir(tmp_path / "img", IMAGES_RAW), _workdir(tmp_path / "txt", TEXTS_RAW)
        images = image_build.build(Workspace.at(image_root), IMAGE_CONFIG, options=options)
        texts = text_build.build(Workspace.at(text_root), options=options)
        (cluster,) = runners._SERVICES.values()
        assert len(cluster.workers) == 2
    _assert_same(_image_result(images, image_root), default_runner["images"])
    _assert_same(_text_result(texts, text_root), default_runner["texts"])
