"""``acg2vec build images|texts``: the shared runner options, mistakes as one line, remote workdirs, one build per
dataset at a time, a quiet console, and a killed ``build texts`` that leaves the previous dataset loadable."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from acg2vec.beam_pipelines.publish import DatasetLock
from acg2vec.beam_pipelines.tfrecord_shards import count_records
from acg2vec.cli import app
from acg2vec.datasets.acg_text_pairs import schema
from acg2vec.errors import UserError
from tests.beam_pipelines import memory_filesystem as memfs
from tests.beam_pipelines.image_fakes import simple_raw

DUMMY_RAW = Path(schema.__file__).resolve().parent / "dummy_data"
IMAGE_RULES = ["--config", "64", "--min-side", "32", "--min-general-tags", "3", "--min-images-per-tag", "2"]
NOISE = (
    "oneDNN custom operations are on",
    "All log messages before absl::InitializeLog()",
    "No semi_persistent_directory found",
)


def _acg2vec(*args: str, workdir: Path, **popen) -> subprocess.Popen:
    """``acg2vec`` as a user runs it (through ``acg2vec.cli.main``), in a subprocess."""
    code = "import sys; from acg2vec.cli import main; sys.argv[0] = 'acg2vec'; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "-w", str(workdir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["build", "images", "--workers", "-3"], "--workers"),
        (["build", "texts", "--workers", "-3"], "--workers"),
        (["build", "images", "--shard-mb", "0"], "--shard-mb"),
        (["build", "images", "--min-side", "-1"], "--min-side"),
        (["build", "images", "--min-general-tags", "-2"], "--min-general-tags"),
        (["build", "texts", "--buckets", "-1"], "--buckets"),
    ],
)
def test_a_bad_number_is_one_line_and_a_non_zero_exit(tmp_path: Path, args: list[str], option: str) -> None:
    out, err = _acg2vec(*args, workdir=tmp_path / "w").communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert (
        lines[0].startswith(f"acg2vec {' '.join(args[:2])}: Invalid value for '{option}'") and "Traceback" not in err
    )
    assert not (tmp_path / "w").exists()  # refused before anything is written


@pytest.mark.unit
def test_both_builds_take_the_same_runner_options() -> None:
    import typer

    build = typer.main.get_command(app).commands["build"]

    def runner_options(name: str) -> dict:
        params = {p.name: p for p in build.commands[name].params}
        shared = ("runner", "workers", "mode", "buckets", "dry_run_dataflow", "keep_temp", "pipeline_args")
        return {n: (params[n].opts, params[n].default, params[n].help) for n in shared}

    assert runner_options("images") == runner_options("texts")
    assert runner_options("texts")["workers"][1] is None  # BuildOptions owns the default (every core), in both


@pytest.mark.integration
def test_build_texts_on_a_remote_file_system(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # nothing of a remote workdir may land in the local working directory
    root = "acgmem://bucket/texts"
    memfs.upload(DUMMY_RAW, f"{root}/raw")
    result = CliRunner().invoke(app, ["-w", root, "build", "texts", "--mode", "in_memory"])
    assert result.exit_code == 0, result.output
    assert list(tmp_path.iterdir()) == []
    entities = [p for p in memfs.STORE if p.startswith(f"{root}/datasets/acg_entities/")]
    assert any(p.endswith("dead_letters/Entities.jsonl.gz") for p in entities), entities
    version = f"{root}/datasets/acg_text_pairs/1.0.0"
    info = json.loads(memfs.STORE[f"{version}/dataset_info.json"])
    meta = json.loads(memfs.STORE[f"{version}/build_metadata.json"])
    shards = [p for p in memfs.STORE if p.startswith(f"{version}/acg_text_pairs-")]
    by_split = {s["name"]: sum(int(n) for n in s["shardLengths"]) for s in info["splits"]}
    assert by_split == meta["split_rows"] and sum(by_split.values()) > 0
    assert sum(count_records(p) for p in shards) == sum(by_split.values())  # the shards are there and readable
    for split, rows in meta["split_rows"].items():
        parts = [p for p in memfs.STORE if p.startswith(f"{schema.parquet_dir(root + '/datasets', split)}/")]
        tables = [pq.read_table(memfs.io.BytesIO(memfs.STORE[p])) for p in parts]
        assert sum(t.num_rows for t in tables) == rows
    assert f"{root}/datasets/parquet/acg_text_pairs/build_metadata.json" in memfs.STORE
    assert any(p.startswith(f"{version}/dead_letters/") for p in memfs.STORE)
    assert not [p for p in memfs.STORE if p.startswith(root) and (".incomplete-" in p or "/_work-" in p)]


@pytest.mark.integration
def test_build_images_on_a_remote_file_system(tmp_path: Path) -> None:
    root = "acgmem://bucket/images"
    simple_raw(tmp_path, 8)
    memfs.upload(tmp_path / "raw", f"{root}/raw")
    result = CliRunner().invoke(app, ["-w", root, "build", "images", *IMAGE_RULES, "--mode", "in_memory"])
    assert result.exit_code == 0, result.output
    version = f"{root}/datasets/acg_illustrations/64/1.0.0"
    info = json.loads(memfs.STORE[f"{version}/dataset_info.json"])
    by_split = {s["name"]: sum(int(n) for n in s["shardLengths"]) for s in info["splits"]}
    assert by_split == {"train": 4, "validation": 2, "test": 2}
    shards = [p for p in memfs.STORE if p.startswith(f"{version}/acg_illustrations-")]
    assert sum(count_records(p) for p in shards) == 8
    assert memfs.STORE[f"{version}/selected_tags.csv"].startswith(b"tag_id,name,category,count")
    assert not [p for p in memfs.STORE if p.startswith(root) and (".incomplete-" in p or "/_buckets/" in p)]


@pytest.mark.integration
def test_a_second_build_of_the_same_dataset_refuses(workdir: Path) -> None:
    shutil.copytree(DUMMY_RAW, workdir / "raw")
    with DatasetLock(str(workdir / "datasets" / "acg_text_pairs" / "1.0.0"), "acg2vec build texts"):
        result = CliRunner().invoke(app, ["build", "texts", "--mode", "in_memory"])
    assert isinstance(result.exception, UserError)
    assert "Another build is writing this dataset (`acg2vec build texts`, pid" in str(result.exception)
    assert not (workdir / "datasets" / "acg_text_pairs" / "1.0.0").exists()


def _rows(data_dir: Path) -> dict[str, int]:
    import tensorflow_datasets as tfds

    import acg2vec.datasets.acg_text_pairs  # noqa: F401  (registers the builder)

    return {
        split: sum(1 for _ in tfds.load("acg_text_pairs", split=split, data_dir=str(data_dir), download=False))
        for split in schema.SPLITS
    }


def _kill_when(proc: subprocess.Popen, marker: str, delay: float) -> bool:
    """SIGKILL ``proc`` ``delay`` seconds after ``marker`` shows on its stderr; False if it ended first."""
    for line in proc.stderr:
        if marker in line:
            time.sleep(delay)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
    proc.wait()
    return False


def _chaos(workdir: Path, kills: list[tuple[str, float]]) -> None:
    shutil.copytree(DUMMY_RAW, workdir / "raw")
    first = _acg2vec("build", "texts", "--mode", "in_memory", workdir=workdir)
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    data_dir = workdir / "datasets"
    before = _rows(data_dir)
    parquet_meta = data_dir / "parquet" / "acg_text_pairs" / "build_metadata.json"
    parquet_rows = json.loads(parquet_meta.read_text())["split_rows"]
    for marker, delay in kills:
        proc = _acg2vec("build", "texts", "--mode", "in_memory", workdir=workdir, start_new_session=True)
        assert _kill_when(proc, marker, delay), f"the build ended before {marker!r}"
        assert _rows(data_dir) == before, marker  # the previous dataset, whole
        # A complete Parquet folder (the previous one, or a new one a kill came too late to stop) with the same rows.
        assert json.loads(parquet_meta.read_text())["split_rows"] == parquet_rows
    assert list(data_dir.rglob(".incomplete-*"))  # the killed runs' leftovers ...
    again = _acg2vec("build", "texts", "--mode", "in_memory", workdir=workdir)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err  # ... the dead process's lock is taken over
    assert not list(data_dir.rglob(".incomplete-*"))  # ... and cleaned by the next run
    assert _rows(data_dir) == before


@pytest.mark.integration
def test_build_texts_killed_mid_pipeline_leaves_the_previous_dataset(workdir: Path) -> None:
    _chaos(workdir, [("acg_text_pairs 2/3", 0.0)])


@pytest.mark.slow
@pytest.mark.integration
def test_build_texts_killed_at_every_stage_leaves_the_previous_dataset(workdir: Path) -> None:
    _chaos(
        workdir,
        [
            ("acg_text_pairs: ", 0.0),  # the lock taken, the incomplete folders made
            ("acg_text_pairs 1/3", 1.0),  # extracting
            ("acg_text_pairs 3/3", 0.5),  # writing shards and Parquet files
            ("acg_text_pairs 3/3 done", 0.0),  # naming shards, writing the metadata, publishing
        ],
    )


@pytest.mark.integration
def test_a_build_console_shows_results_and_no_worker_noise(workdir: Path) -> None:
    shutil.copytree(DUMMY_RAW, workdir / "raw")
    proc = _acg2vec("build", "texts", "--workers", "2", "--buckets", "2", "--sources", "bangumi", workdir=workdir)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "acg_text_pairs: train" in err and "pairs " in err  # the results stay
    for noise in NOISE:
        assert noise not in err, noise


@pytest.mark.integration
def test_build_texts_describes_its_dataflow_jobs_without_submitting(workdir: Path, tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    result = CliRunner().invoke(
        app,
        ["-w", "gs://my-bucket/acg2vec", "build", "texts", "--dry-run-dataflow", str(job),
         "--", "--project=my-project", "--region=europe-west4"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    description = json.loads(job.read_text())
    assert description["output"] == "gs://my-bucket/acg2vec/datasets/acg_text_pairs/1.0.0"
    passes = description["passes"]
    assert list(passes) == ["extract", "join", "finalize"]
    assert all(p["pipeline_options"]["project"] == "my-project" for p in passes.values())
    assert {"Lines", "Extract", "WritePairBuckets", "WriteDeadLines"} <= set(passes["extract"]["steps"])
    assert "Finalize" in passes["finalize"]["steps"]


@pytest.mark.unit
def test_the_config_dataclasses_own_the_defaults_and_options_override_them(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from acg2vec.beam_pipelines.options import BuildOptions, RunnerConfig
    from acg2vec.beam_pipelines.publish import BuildResult
    from acg2vec.datasets.acg_illustrations import build as image_build
    from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig
    from acg2vec.datasets.acg_text_pairs import build as text_build
    from acg2vec.datasets.acg_text_pairs.records import TextPairsConfig

    calls = []

    def fake_build(ws, config, *, options):
        calls.append((config, options))
        return BuildResult(dataset="x", out_dir=str(ws.datasets()), splits={"train": 1})

    monkeypatch.setattr(image_build, "build", fake_build)
    monkeypatch.setattr(text_build, "build", fake_build)
    runner = CliRunner()
    for args in (["build", "images"], ["build", "texts"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert calls == [(ImageBuildConfig(), BuildOptions()), (TextPairsConfig(), BuildOptions())]
    calls.clear()
    images = ["build", "images", "--size", "64", "--min-side", "32", "--max-artist", "7", "--split-modulus", "10",
              "--splits", "train=0-8,validation=8-9,test=9-10", "--shard-mb", "1", "--workers", "2", "--buckets", "3"]  # fmt: skip
    assert runner.invoke(app, images).exit_code == 0
    texts = ["build", "texts", "--no-near-dup", "--sources", "bangumi", "--mode", "in_memory", "--keep-temp"]
    assert runner.invoke(app, texts).exit_code == 0
    (image_config, image_options), (text_config, text_options) = calls
    assert (image_config.size, image_config.filters.min_side, image_config.shard_bytes) == (64, 32, 1 << 20)
    assert image_config.filters.min_general_tags == ImageBuildConfig().filters.min_general_tags
    assert image_config.vocabulary.caps == {**ImageBuildConfig().vocabulary.caps, "artist": 7}
    assert image_config.splits.modulus == 10 and image_config.splits.split_of(19) == "test"
    assert image_options == BuildOptions(runner=RunnerConfig(workers=2), buckets=3)
    assert (text_config.near_dup, text_config.sources) == (False, ("bangumi",))
    assert text_options == BuildOptions(runner=RunnerConfig(mode="in_memory"), keep_temp=True)


@pytest.mark.integration
def test_a_full_disk_during_a_build_is_one_sentence_and_the_published_version_stays_whole(workdir: Path) -> None:
    import tensorflow_datasets as tfds

    from acg2vec.integrity import DiskFullError, file_digest, verify_checksums, write_checksums
    from tests.damage import SmallDisk
    from tests.trainers.image.tiny_dataset import write_tiny_dataset

    simple_raw(workdir, 8)
    with SmallDisk(workdir / "datasets", 16) as disk:
        # The version published before (written directly: the build under test is the next one).
        version = write_tiny_dataset(workdir / "datasets", splits={"train": 8, "validation": 4})
        write_checksums(version)
        before = {p.relative_to(version): file_digest(p) for p in version.rglob("*") if p.is_file()}
        disk.fill(leave=8 * 1024)  # room for the lock and a few small files, not for the shards
        try:
            full = CliRunner().invoke(app, ["build", "images", *IMAGE_RULES, "--mode", "in_memory"])
        finally:
            disk.free()
        assert isinstance(full.exception, DiskFullError), full.output
        said = str(full.exception)
        assert full.exception.exit_code == 4 and "\n" not in said and "Traceback" not in said
        assert said.startswith(f"Writing {version} failed because the disk is full")
        # The previous version: every file as it was, its checksums right, and loadable.
        assert {p.relative_to(version): file_digest(p) for p in version.rglob("*") if p.is_file()} == before
        assert verify_checksums(version, what="the dataset", repair="", required=True)
        builder = tfds.builder_from_directory(str(version))
        assert sum(1 for _ in builder.as_dataset(split="train")) == builder.info.splits["train"].num_examples == 8
