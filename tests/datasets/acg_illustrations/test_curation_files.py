"""The curation run's files: label issues and duplicate groups round-trip through parquet, a run names the dataset
version and content it was made for, and a run for another version (or another build) is one clear sentence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from acg2vec.datasets.acg_illustrations import curation_files as cf
from acg2vec.datasets.acg_illustrations.tiny_dataset import write_tiny_dataset
from acg2vec.errors import UserError


def example(post_id: int, tags: list[str]) -> dict:
    return {
        "id": post_id,
        "md5": f"{post_id:032x}",
        "image": np.full((8, 8, 3), post_id * 10 % 256, np.uint8),
        "tags": tags,
        "characters": [],
        "copyrights": [],
        "artists": [],
        "rating": "general",
        "score": -1,
        "pixiv_id": -1,
        "pixiv_views": -1,
        "pixiv_bookmarks": -1,
        "pixiv_likes": -1,
        "pixiv_sanity_level": -1,
    }


def tiny(tmp_path, tags_of_3: list[str], *, config: str | None = None):
    train = [example(1, ["red"]), example(2, ["red", "blue"]), example(3, tags_of_3)]
    vocabulary = [("red", "general", 3), ("blue", "general", 1)]
    return str(
        write_tiny_dataset(
            tmp_path, {"train": train, "test": [example(4, ["red"])]}, vocabulary, size=8, config=config
        )
    )


def test_label_issues_round_trip_sorted_with_extra_columns_and_filtered_by_confidence(tmp_path):
    run = str(tmp_path / "run")
    rows = [
        {"post_id": 1, "tag": "blue", "kind": "missing", "confidence": 0.4, "fold": 0},
        {"post_id": 2, "tag": "blue", "kind": "missing", "confidence": 0.9, "fold": 1},
        {"post_id": 2, "tag": "red", "kind": "wrong", "confidence": 0.7, "fold": 1},
    ]
    cf.write_label_issues(run, rows)

    everything = cf.read_label_issues(run)
    assert everything[["post_id", "tag", "kind"]].values.tolist() == [
        [2, "blue", "missing"],
        [1, "blue", "missing"],
        [2, "red", "wrong"],
    ]
    assert everything["fold"].tolist() == [1, 0, 1]
    assert str(everything["post_id"].dtype) == "int64"
    sure = cf.read_label_issues(run, min_confidence=0.5)
    assert sure["post_id"].tolist() == [2, 2]
    assert cf.read_label_issues(run, kinds=["wrong"])["tag"].tolist() == ["red"]
    assert cf.label_issue_counts(everything) == {"missing": 2, "wrong": 1}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"post_id": 1, "tag": "a", "kind": "odd", "confidence": 0.5}, "unknown label issue kind"),
        ({"post_id": 1, "tag": "a", "kind": "wrong", "confidence": 1.5}, r"\[0, 1\]"),
        ({"post_id": 1, "tag": "a", "kind": "wrong"}, "confidence"),
    ],
)
def test_bad_label_issues_are_refused_when_written(tmp_path, row, message):
    with pytest.raises(ValueError, match=message):
        cf.write_label_issues(str(tmp_path), [row])


def test_a_repeated_post_and_tag_is_refused(tmp_path):
    row = {"post_id": 1, "tag": "a", "kind": "wrong", "confidence": 0.5}
    with pytest.raises(ValueError, match="twice"):
        cf.write_label_issues(str(tmp_path), [row, {**row, "kind": "missing"}])


def test_duplicates_round_trip_and_count_the_split_leak(tmp_path):
    run = str(tmp_path / "run")
    members = [
        {"group_id": 0, "post_id": 5, "distance": 0.0, "split": "train"},
        {"group_id": 0, "post_id": 9, "distance": 2.0, "split": "test"},
        {"group_id": 0, "post_id": 7, "distance": 1.0, "split": "train"},
        {"group_id": 1, "post_id": 3, "distance": 0.5, "split": "validation"},
        {"group_id": 1, "post_id": 4, "distance": 0.5, "split": "validation"},
    ]
    cf.write_duplicates(run, members)
    frame = cf.read_duplicates(run)
    assert frame["post_id"].tolist() == [5, 7, 9, 3, 4]
    assert cf.duplicate_counts(frame) == {
        "groups": 2,
        "posts": 5,
        "extra_posts": 3,
        "cross_split_pairs": 2,  # 5-9 and 7-9
        "train_test_pairs": 2,
    }


def test_a_post_in_two_groups_or_a_group_of_one_is_refused(tmp_path):
    one = {"group_id": 0, "post_id": 5, "distance": 0.0, "split": "train"}
    with pytest.raises(ValueError, match="single post"):
        cf.write_duplicates(str(tmp_path), [one])
    with pytest.raises(ValueError, match="two duplicate groups"):
        cf.write_duplicates(str(tmp_path), [one, {**one, "post_id": 6}, {**one, "group_id": 1}])


def test_a_run_without_a_file_reads_empty_but_a_listed_missing_file_is_an_error(tmp_path):
    dataset = tiny(tmp_path, ["red"])
    run = str(tmp_path / "run")
    manifest = cf.CurationManifest(run="run", dataset=cf.DatasetRef.from_dir(dataset), files=[cf.LABEL_ISSUES_FILE])
    cf.write_manifest(run, manifest)
    empty = cf.read_duplicates(run)
    assert empty.empty and list(empty.columns) == list(cf.DUPLICATE_COLUMNS)
    with pytest.raises(UserError, match=r"is damaged \(missing, though the run's manifest lists it\)"):
        cf.read_label_issues(run)


def test_the_manifest_names_the_dataset_and_round_trips(tmp_path):
    dataset = tiny(tmp_path, ["red"])
    run = cf.curation_dir(str(tmp_path), "first")
    ref = cf.DatasetRef.from_dir(dataset)
    assert (ref.name, ref.config, ref.version) == ("acg_illustrations", "8", "1.0.0")
    manifest = cf.CurationManifest(
        run="first", dataset=ref, parameters={"folds": 4}, counts={"missing": 1}, files=[cf.DUPLICATES_FILE]
    )
    path = cf.write_manifest(run, manifest)
    assert path == str(tmp_path / "curation" / "first" / "manifest.json")
    read = cf.read_manifest(run)
    assert read == manifest and read.created_at and read.format_version == cf.FORMAT_VERSION
    assert cf.check_run_for(run, dataset) == read


def test_the_content_hash_follows_the_content_not_the_shards(tmp_path):
    one = tiny(tmp_path / "a", ["red"])
    same = tiny(tmp_path / "b", ["red"])
    other = tiny(tmp_path / "c", ["red", "blue"])
    assert cf.dataset_content_hash(one) == cf.dataset_content_hash(same)
    assert cf.dataset_content_hash(one) != cf.dataset_content_hash(other)


def test_a_run_for_another_version_or_build_is_one_clear_sentence(tmp_path):
    dataset = tiny(tmp_path / "a", ["red"])
    other_config = tiny(tmp_path / "b", ["red"], config="bench")
    other_build = tiny(tmp_path / "c", ["red", "blue"])
    run = str(tmp_path / "run")
    cf.write_manifest(run, cf.CurationManifest(run="run", dataset=cf.DatasetRef.from_dir(dataset)))

    with pytest.raises(UserError, match="made for acg_illustrations/8/1.0.0, not for acg_illustrations/bench/1.0.0"):
        cf.check_run_for(run, other_config)
    with pytest.raises(UserError, match="another build of acg_illustrations/8/1.0.0"):
        cf.check_run_for(run, other_build)
    with pytest.raises(UserError, match="is not a curation run"):
        cf.check_run_for(str(tmp_path / "nowhere"), dataset)
    with pytest.raises(UserError, match="not a complete dataset"):
        cf.check_run_for(run, str(tmp_path / "nowhere"))


def test_damaged_files_are_one_clear_sentence(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / cf.MANIFEST_FILE).write_text(json.dumps({"run": "x"}))
    with pytest.raises(UserError, match="is not the manifest of a curation run"):
        cf.read_manifest(str(run))
    (run / cf.MANIFEST_FILE).unlink()  # tables written by hand, without a manifest, are read as they are
    (run / cf.LABEL_ISSUES_FILE).write_bytes(b"not parquet")
    with pytest.raises(UserError, match="is not a readable parquet file"):
        cf.read_label_issues(str(run))
    import pandas as pd

    pd.DataFrame({"post_id": [1]}).to_parquet(run / cf.DUPLICATES_FILE)
    with pytest.raises(UserError, match="lacks the column"):
        cf.read_duplicates(str(run))


# -- damaged runs: the zoo through the one reader -------------------------------------------------------------------


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory):
    """A run as `acg2vec curate` writes it: both tables, then the manifest with their digests."""
    root = tmp_path_factory.mktemp("curation")
    dataset = tiny(root, ["red"])
    run = cf.curation_dir(str(root), "main")
    issues = [{"post_id": i, "tag": "blue", "kind": "missing", "confidence": 0.5 + i / 100} for i in range(40)]
    cf.write_label_issues(run, issues)
    members = [{"group_id": i // 2, "post_id": i, "distance": 0.0, "split": "train"} for i in range(40)]
    cf.write_duplicates(run, members)
    files = [cf.LABEL_ISSUES_FILE, cf.DUPLICATES_FILE]
    cf.write_manifest(run, cf.CurationManifest(run="main", dataset=cf.DatasetRef.from_dir(dataset), files=files))
    return dataset, run


def _read_everything(run: str, dataset: str) -> None:
    """What `build images --apply-curation` reads of a run (and `eval tagger` through the version it wrote)."""
    cf.check_run_for(run, dataset)
    cf.read_label_issues(run)
    cf.read_duplicates(run)


@pytest.mark.unit
@pytest.mark.parametrize("name", [cf.MANIFEST_FILE, cf.LABEL_ISSUES_FILE, cf.DUPLICATES_FILE])
@pytest.mark.parametrize("damage", ["cut_short", "zero_bytes", "random_middle", "wrong_kind", "older_format"])
def test_every_damage_to_a_run_file_is_one_sentence_with_the_repair(whole_run, tmp_path, name, damage):
    import shutil

    from tests.damage import DAMAGES

    dataset, original = whole_run
    run = str(tmp_path / "curation" / "main")
    shutil.copytree(original, run)
    _read_everything(run, dataset)  # whole, the copy reads
    DAMAGES[damage](tmp_path / "curation" / "main" / name)
    with pytest.raises(UserError) as caught:
        _read_everything(run, dataset)
    message = str(caught.value)
    assert message.startswith(f"{run}/{name} is damaged (") and "\n" not in message
    # The repair curates the version the run was made for again (read from the manifest while it is whole).
    on = "" if name == cf.MANIFEST_FILE else f"{tmp_path}/datasets/acg_illustrations/8/1.0.0 "
    assert message.endswith(f"repair it with `acg2vec curate {on}--run main`.")
    _read_everything(original, dataset)  # nothing else is touched


@pytest.mark.unit
def test_a_run_stopped_before_its_manifest_is_not_read_as_the_old_run(whole_run, tmp_path):
    import shutil

    dataset, original = whole_run
    run = str(tmp_path / "main")
    shutil.copytree(original, run)
    cf.write_label_issues(run, [{"post_id": 1, "tag": "red", "kind": "wrong", "confidence": 0.9}])  # no manifest yet
    with pytest.raises(UserError, match=r"label_issues.parquet is damaged \(.* where the run wrote"):
        cf.read_label_issues(run)
    # A table the manifest does not list is an earlier run's leftover: never read as this run's.
    manifest = cf.read_manifest(run)
    manifest.files = [cf.LABEL_ISSUES_FILE]
    cf.write_manifest(run, manifest)
    assert cf.read_duplicates(run).empty and len(cf.read_label_issues(run)) == 1
    assert sorted(p.name for p in (tmp_path / "main").iterdir()) == sorted(
        [cf.MANIFEST_FILE, cf.LABEL_ISSUES_FILE, cf.DUPLICATES_FILE]
    )  # written atomically: no temporary files left


@pytest.mark.unit
def test_a_full_disk_while_writing_a_run_is_one_sentence_and_the_previous_table_stays(tmp_path):
    from acg2vec.integrity import DiskFullError
    from tests.damage import SmallDisk

    with SmallDisk(tmp_path / "disk", size_mb=1) as disk:
        run = str(disk.path / "main")
        cf.write_label_issues(run, [{"post_id": 1, "tag": "red", "kind": "wrong", "confidence": 0.9}])
        many = [{"post_id": i, "tag": f"tag_{i}" * 30, "kind": "missing", "confidence": 0.5} for i in range(20_000)]
        disk.fill(leave=4096)
        try:
            with pytest.raises(DiskFullError, match="disk is full"):
                cf.write_label_issues(run, many)
        finally:
            disk.free()
        assert cf.read_label_issues(run)["post_id"].tolist() == [1]
        assert [p.name for p in (disk.path / "main").iterdir()] == [cf.LABEL_ISSUES_FILE]


@pytest.mark.integration
def test_build_apply_curation_names_a_damaged_run_and_exits_3(workdir):
    """Through the CLI: `build images --apply-curation` on a run whose label issues were cut short."""
    from typer.testing import CliRunner

    from acg2vec.cli import app
    from acg2vec.integrity import DamagedFileError
    from tests.damage import cut_short
    from tests.evaluation.fakes import make_illustrations_dataset

    version = make_illustrations_dataset(workdir)  # acg_illustrations/64/1.0.0
    run = cf.curation_dir(str(workdir), "main")
    cf.write_label_issues(run, [{"post_id": i, "tag": "red", "kind": "missing", "confidence": 0.9} for i in range(50)])
    ref = cf.DatasetRef.from_dir(str(version))
    parameters = {"model": "/w/models/deepdanbooru"}
    manifest = cf.CurationManifest(run="main", dataset=ref, parameters=parameters, files=[cf.LABEL_ISSUES_FILE])
    cf.write_manifest(run, manifest)
    cut_short(workdir / "curation" / "main" / cf.LABEL_ISSUES_FILE)
    args = ["--workdir", str(workdir), "--quiet", "build", "images", "--apply-curation", "main", "--config", "64"]
    result = CliRunner().invoke(app, args)
    error = result.exception
    assert isinstance(error, DamagedFileError) and error.exit_code == 3
    assert str(error).startswith(f"{run}/{cf.LABEL_ISSUES_FILE} is damaged (")
    repair = f"acg2vec curate {version} --model /w/models/deepdanbooru --run main"
    assert str(error).endswith(f"the run's label issues cannot be applied or scored; repair it with `{repair}`.")
    assert sorted(p.name for p in version.parent.iterdir()) == ["1.0.0"]  # no curated version was written
