"""The whole image build: published TFDS folder, counts that add up, dead letters, read-back, re-runs, failures."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from acg2vec.beam_pipelines.options import BuildOptions, RunnerConfig
from acg2vec.datasets.acg_illustrations import build as image_build
from acg2vec.datasets.acg_illustrations import transforms
from acg2vec.datasets.acg_illustrations.build import build
from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig, PostFilters
from acg2vec.datasets.acg_illustrations.selected_tags import csv_sha256
from acg2vec.datasets.acg_illustrations.vocabulary import VocabularyRules
from acg2vec.errors import UserError
from acg2vec.workspace import Workspace
from tests.beam_pipelines.image_fakes import make_illust, make_post, save_file, simple_raw, write_shard, zoo_files

pytestmark = pytest.mark.integration
CONFIG = ImageBuildConfig(
    size=64,
    filters=PostFilters(min_side=32, min_general_tags=3),
    vocabulary=VocabularyRules(min_images=2),
    max_pixels=4_000_000,
)
LOCAL = BuildOptions(runner=RunnerConfig(mode="in_memory"))


def make_raw(root: Path) -> dict[str, str | None]:
    """Good posts, the bad-file zoo (all in train), a duplicate, a post without file, pixiv popularity."""
    good = simple_raw(root, 8)
    safebooru = root / "raw" / "safebooru"
    posts, expected = [], {}
    for i, (name, (data, ext, reason)) in enumerate(sorted(zoo_files().items())):
        post_id = 100_000 + i * 1000 + 7  # train
        if data is None:
            md5, rel = "0" * 31 + str(i % 10), f"files/00/{name}.{ext}"
        else:
            md5, rel = save_file(safebooru, data, ext)
        posts.append(make_post(post_id, md5, rel, source_url=f"https://www.pixiv.net/artworks/{post_id}"))
        expected[str(post_id)] = reason
    posts.append(make_post(900_005, good[0].md5, good[0].file_path))  # duplicate of the first good post
    posts.append(make_post(900_006, "e" * 32, None))
    write_shard(safebooru / "post-00001.jsonl.gz", posts, extra_lines=['{"kind": "post"'])
    write_shard(root / "raw" / "pixiv" / "illust-00000.jsonl.gz", [make_illust(100_007, views=1234)])
    return expected


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("images-build")
    expected = make_raw(root)
    result = build(Workspace.at(root), CONFIG, options=LOCAL)
    return root, expected, result


def _dead_letters(out_dir: str) -> list[dict]:
    records = []
    for shard in sorted(Path(out_dir).glob("dead_letters/*-*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as fh:
            records += [json.loads(line) for line in fh]
    return records


def test_counts_add_up_and_are_stored(built) -> None:
    root, expected, result = built
    posts = result.counts["posts"]
    n_good, n_zoo = 8, len(expected)
    ok_zoo = sum(1 for r in expected.values() if r is None)
    assert posts["lines_read"] == n_good + n_zoo + 3 == posts["written"] + posts["dropped"]
    assert posts["written"] == n_good + ok_zoo == sum(result.splits.values())
    assert result.splits == {"train": 4 + ok_zoo, "validation": 2, "test": 2}
    metadata = json.loads((Path(result.out_dir) / "metadata.json").read_text())
    assert metadata["counts"]["posts"]["dropped"] == posts["dropped"]
    assert metadata["build_config"]["size"] == 64
    assert result.metrics["Posts-read"] == posts["lines_read"]


def test_the_result_summary_gives_splits_and_every_drop(built) -> None:
    _, _, result = built
    posts = result.counts["posts"]
    assert result.summary().startswith("acg_illustrations/64: train ")
    assert all(f"{split} {n}" in result.summary() for split, n in result.splits.items())
    assert result.summary().endswith(f"images; dropped {posts['dropped']} posts")
    detailed = result.summary(detailed=True)
    assert f"posts read {posts['lines_read']} = kept {posts['written']} + dropped {posts['dropped']}" in detailed
    for reason, n in posts["by_reason"].items():
        assert f"  dropped {reason}: {n}" in detailed
    assert f"card: {result.out_dir}/README.md" in detailed


def test_the_dataset_card_gives_this_builds_splits_drops_and_vocabulary(built) -> None:
    _, _, result = built
    card = (Path(result.out_dir) / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# acg_illustrations") and "## This build" in card
    posts = result.counts["posts"]
    assert f"Posts read {posts['read']} = written {posts['written']} + dropped {posts['dropped']}." in card
    for split, n in result.splits.items():
        assert f"| {split} | {n} |" in card
    for reason in posts["by_reason"]:
        assert f"| {reason} |" in card
    metadata = json.loads((Path(result.out_dir) / "metadata.json").read_text())
    assert metadata["selected_tags_sha256"] in card


def test_every_drop_is_dead_lettered_with_its_reason(built) -> None:
    _, expected, result = built
    dead = _dead_letters(result.out_dir)
    by_id = {
        str(d["record"]["id"]): d["reason"] for d in dead if isinstance(d["record"], dict) and "id" in d["record"]
    }
    for post_id, reason in expected.items():
        assert by_id.get(post_id) == reason, post_id
    assert by_id["900005"] == "duplicate-md5" and by_id["900006"] == "no-file"
    reasons = {}
    for d in dead:
        reasons[d["reason"]] = reasons.get(d["reason"], 0) + 1
    assert reasons == result.counts["posts"]["by_reason"]


def test_vocabulary_and_hash_are_shipped(built) -> None:
    _, _, result = built
    out = Path(result.out_dir)
    text = (out / "selected_tags.csv").read_text()
    assert text.startswith("tag_id,name,category,count\n0,")
    assert (out / "selected_tags.csv.sha256").read_text().strip() == csv_sha256(text)
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["selected_tags_sha256"] == csv_sha256(text)
    assert ",hatsune_miku,character," in text and ",vocaloid,copyright," in text
    assert (out / "README.md").read_text().startswith("# acg_illustrations")


def test_read_back_through_tfds_and_tf_data(built) -> None:
    import tensorflow as tf
    import tensorflow_datasets as tfds

    import acg2vec.datasets.acg_illustrations  # noqa: F401  (registers the builder)

    root, expected, result = built
    ds = tfds.load("acg_illustrations/64", data_dir=str(root / "datasets"), split="train", shuffle_files=False)
    examples = list(ds.as_numpy_iterator())
    ids = sorted(int(e["id"]) for e in examples)
    assert ids == sorted([5, 1120, 4005, 5120] + [int(k) for k, r in expected.items() if r is None])
    for example in examples:
        assert example["image"].shape == (64, 64, 3) and example["image"].dtype == "uint8"
        assert example["rating"] == 0  # general
    by_id = {int(e["id"]): e for e in examples}
    joined = by_id[100_007]  # the first zoo post (animated gif, decodable) has pixiv popularity
    assert (joined["pixiv_id"], joined["pixiv_views"], joined["pixiv_bookmarks"]) == (100_007, 1234, 100)
    assert by_id[5]["pixiv_id"] == -1 and by_id[5]["pixiv_views"] == -1
    assert [t.decode() for t in by_id[5]["characters"]] == ["hatsune_miku"]
    builder = tfds.builder_from_directory(result.out_dir)
    assert builder.info.name == "acg_illustrations" and builder.info.config_name == "64"
    batch = next(
        iter(
            builder.as_dataset(split="validation")
            .map(lambda e: tf.image.convert_image_dtype(e["image"], tf.float32))
            .batch(2)
        )
    )
    assert batch.shape == (2, 64, 64, 3)


def test_rerun_is_idempotent(built) -> None:
    import tensorflow_datasets as tfds

    root, _, first = built
    again = build(Workspace.at(root), CONFIG, options=LOCAL)
    assert again.out_dir == first.out_dir and again.splits == first.splits
    assert again.counts["posts"]["by_split"] == first.counts["posts"]["by_split"]

    def ids(split: str) -> list[int]:
        builder = tfds.builder_from_directory(again.out_dir)
        return sorted(int(e["id"]) for e in builder.as_dataset(split=split).as_numpy_iterator())

    assert ids("test") == [3960, 7960] and ids("validation") == [2910, 6910]
    assert not list(Path(first.out_dir).parent.glob(".incomplete-*"))


def test_interrupted_build_never_looks_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow_datasets as tfds

    import acg2vec.datasets.acg_illustrations  # noqa: F401

    simple_raw(tmp_path, 4)
    ws = Workspace.at(tmp_path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(image_build, "write_tfds_metadata", crash)
    with pytest.raises(KeyboardInterrupt):
        build(ws, CONFIG, options=LOCAL)
    builder = tfds.builder("acg_illustrations/64", data_dir=str(tmp_path / "datasets"))
    assert not builder.is_prepared()
    assert not list((tmp_path / "datasets").rglob("dataset_info.json"))

    def broken_decoder(path, rules, md5=None):
        raise RuntimeError("disk went away")

    monkeypatch.undo()
    monkeypatch.setattr(transforms, "process_file", broken_decoder)
    with pytest.raises(Exception, match="disk went away"):
        build(ws, CONFIG, options=LOCAL)
    assert not tfds.builder("acg_illustrations/64", data_dir=str(tmp_path / "datasets")).is_prepared()


def test_missing_posts_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="acg2vec crawl safebooru"):
        build(Workspace.at(tmp_path), CONFIG, options=LOCAL)


def _dry_run(tmp_path: Path, *extra: str) -> dict:
    from typer.testing import CliRunner

    from acg2vec.cli import app

    job = tmp_path / "job.json"
    result = CliRunner().invoke(
        app,
        ["-w", "gs://my-bucket/acg2vec", "build", "images", "--config", "224", "--dry-run-dataflow", str(job),
         "--", "--project=my-project", "--region=europe-west4", *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(job.read_text())


def test_cli_describes_a_dataflow_job_without_submitting(workdir: Path, tmp_path: Path) -> None:
    description = _dry_run(tmp_path)
    assert description["output"] == "gs://my-bucket/acg2vec/datasets/acg_illustrations/224/1.0.0"
    assert description["pipeline_options"]["project"] == "my-project"
    assert description["pipeline_options"]["runner"] == "DataflowRunner"
    assert description["job"]["type"] == "JOB_TYPE_BATCH"
    assert {"BuildImageExamples", "WriteShardsTrain", "WriteVocabulary", "WriteDeadLettersPosts"} <= set(
        description["steps"]
    )


@pytest.mark.slow
def test_dry_run_stages_the_acg2vec_package_for_workers(workdir: Path, tmp_path: Path) -> None:
    pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
    description = _dry_run(tmp_path, f"--setup_file={pyproject}")
    assert description["pipeline_options"]["setup_file"] == str(pyproject)
    assert "workflow.tar.gz" in json.dumps(description["environments"])  # the acg2vec sdist the workers install


def _examples(out_dir: str) -> dict[str, list[tuple]]:
    import tensorflow_datasets as tfds

    builder = tfds.builder_from_directory(out_dir)
    return {
        split: sorted(
            (int(e["id"]), e["md5"].decode(), int(e["pixiv_views"]), e["image"].tobytes())
            for e in builder.as_dataset(split=split).as_numpy_iterator()
        )
        for split in builder.info.splits
    }


def test_bucket_count_changes_nothing_and_duplicates_across_shards_go(tmp_path: Path) -> None:
    good = simple_raw(tmp_path, 8)
    safebooru = tmp_path / "raw" / "safebooru"
    # Copies of the same md5 in another shard, with higher and lower ids than the original (post 5).
    write_shard(
        safebooru / "post-00001.jsonl.gz",
        [
            make_post(9005, good[0].md5, good[0].file_path),
            make_post(3, good[0].md5, good[0].file_path, source_url="https://www.pixiv.net/artworks/3"),
        ],
    )
    write_shard(tmp_path / "raw" / "pixiv" / "illust-00000.jsonl.gz", [make_illust(3, views=77)])
    ws = Workspace.at(tmp_path)
    builds = {}
    for buckets in (1, 7):
        result = build(ws, CONFIG, options=BuildOptions(runner=LOCAL.runner, buckets=buckets))
        assert result.buckets == buckets
        assert not list(Path(result.out_dir).glob("_buckets*"))  # the bucket files are not published
        dead = sorted((d["record"]["id"], d["reason"]) for d in _dead_letters(result.out_dir))
        vocabulary = (Path(result.out_dir) / "selected_tags.csv").read_text()
        builds[buckets] = (_examples(result.out_dir), result.counts["posts"], dead, vocabulary)
    assert builds[1] == builds[7]
    examples, posts, dead, _ = builds[1]
    assert dead == [(5, "duplicate-md5"), (9005, "duplicate-md5")]  # post 3 (lowest id) is kept
    train_ids = [e[0] for e in examples["train"]]
    assert 3 in train_ids and 5 not in train_ids and 9005 not in train_ids
    assert next(e for e in examples["train"] if e[0] == 3)[2] == 77  # pixiv joined in its bucket
    assert posts["read"] == 10 == posts["written"] + posts["dropped"]


def test_bucket_count_grows_with_the_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    simple_raw(tmp_path, 2)
    raw = str(tmp_path / "raw")
    assert transforms.bucket_count(raw) == transforms.MIN_BUCKETS  # a few hundred bytes
    monkeypatch.setattr(transforms, "BUCKET_BYTES", 10)
    assert transforms.bucket_count(raw) > transforms.MIN_BUCKETS
    monkeypatch.setattr(transforms, "BUCKET_BYTES", 1)
    monkeypatch.setattr(transforms, "MAX_BUCKETS", 50)
    assert transforms.bucket_count(raw) == 50  # capped: a local worker keeps one file open per bucket
