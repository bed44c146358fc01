"""Applying a curation run: a new version beside the old one, tags added and removed above the threshold, one post
kept per near-duplicate group (train first, so test holds no copy of a training picture), the card and metadata
naming the run, and a run for another version refused in one sentence."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from acg2vec.beam_pipelines.options import BuildOptions, RunnerConfig
from acg2vec.datasets.acg_illustrations import curation_files as cf
from acg2vec.datasets.acg_illustrations.build import CurationChoice, apply_curation
from acg2vec.datasets.acg_illustrations.curated import CurationEdits, curation_edits, edit_example
from acg2vec.datasets.acg_illustrations.schema import features_for_size
from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary
from acg2vec.datasets.acg_illustrations.tiny_dataset import write_tiny_dataset
from acg2vec.datasets.versions import next_patch_version
from acg2vec.errors import UserError
from acg2vec.workspace import Workspace

LOCAL = BuildOptions(runner=RunnerConfig(mode="in_memory"))
SIZE = 8


def example(post_id: int, tags: list[str], characters: list[str] = (), *, size: int = SIZE) -> dict:
    return {
        "id": post_id,
        "md5": f"{post_id:032x}",
        "image": np.full((size, size, 3), post_id * 10 % 256, np.uint8),
        "tags": tags,
        "characters": list(characters),
        "copyrights": [],
        "artists": [],
        "rating": "general",
        "score": post_id,
        "pixiv_id": -1,
        "pixiv_views": -1,
        "pixiv_bookmarks": -1,
        "pixiv_likes": -1,
        "pixiv_sanity_level": -1,
    }


VOCABULARY = [("red", "general", 4), ("blue", "general", 2), ("hero", "character", 1)]


def write_dataset(workdir, size: int = SIZE) -> None:
    """Train posts 1-4 and test posts 11-12 in ``workdir/datasets/acg_illustrations/<size>/1.0.0``."""
    train = [example(1, ["red"], size=size), example(2, ["red", "blue"], size=size),
             example(3, ["blue"], ["hero"], size=size), example(4, ["red"], size=size)]  # fmt: skip
    test = [example(11, ["red"], size=size), example(12, ["blue"], size=size)]
    write_tiny_dataset(workdir / "datasets", {"train": train, "test": test}, VOCABULARY, size=size)


@pytest.fixture
def workdir(tmp_path):
    write_dataset(tmp_path)
    return tmp_path


def write_run(workdir, name: str = "first", *, size: int = SIZE) -> str:
    """A run made for version 1.0.0: five label issues (one below 0.5, one outside the vocabulary) and two duplicate
    groups ({4 train, 11 test}, {1, 2} train)."""
    dataset = str(workdir / "datasets" / "acg_illustrations" / str(size) / "1.0.0")
    run = cf.curation_dir(str(workdir), name)
    cf.write_label_issues(
        run,
        [
            {"post_id": 1, "tag": "blue", "kind": "missing", "confidence": 0.9},
            {"post_id": 2, "tag": "blue", "kind": "wrong", "confidence": 0.8},
            {"post_id": 3, "tag": "red", "kind": "missing", "confidence": 0.3},  # below the threshold
            {"post_id": 4, "tag": "hero", "kind": "missing", "confidence": 0.95},  # a character
            {"post_id": 12, "tag": "sparkles", "kind": "missing", "confidence": 0.99},  # not in the vocabulary
        ],
    )
    cf.write_duplicates(
        run,
        [
            {"group_id": 0, "post_id": 11, "distance": 0.0, "split": "test"},
            {"group_id": 0, "post_id": 4, "distance": 0.0, "split": "train"},
            {"group_id": 1, "post_id": 2, "distance": 0.1, "split": "train"},
            {"group_id": 1, "post_id": 1, "distance": 0.1, "split": "train"},
        ],
    )
    manifest = cf.CurationManifest(
        run=name,
        dataset=cf.DatasetRef.from_dir(dataset),
        parameters={"max_hash_distance": 24},
        files=[cf.LABEL_ISSUES_FILE, cf.DUPLICATES_FILE],
    )
    cf.write_manifest(run, manifest)
    return run


def read_split(folder: str, split: str) -> dict[int, dict]:
    import tensorflow_datasets as tfds

    builder = tfds.builder_from_directory(folder)
    return {int(r["id"]): r for r in tfds.as_numpy(builder.as_dataset(split=split))}


def names(values) -> list[str]:
    return sorted(v.decode() for v in values)


@pytest.mark.integration
def test_a_curated_version_applies_the_fixes_and_keeps_the_source(workdir):
    run = write_run(workdir)
    source = workdir / "datasets" / "acg_illustrations" / str(SIZE) / "1.0.0"
    before = {p.name: p.read_bytes() for p in source.iterdir()}
    choice = CurationChoice(run, min_confidence=0.5, drop_duplicates=True)

    result = apply_curation(Workspace.at(workdir), choice, config=str(SIZE), options=LOCAL)

    assert result.out_dir.endswith("/acg_illustrations/8/1.0.1")
    assert {p.name: p.read_bytes() for p in source.iterdir()} == before  # the source is never changed
    train, test = read_split(result.out_dir, "train"), read_split(result.out_dir, "test")
    assert sorted(train) == [1, 3, 4]  # 2 dropped: a copy of 1 (the lowest id of the group's train posts)
    assert sorted(test) == [12]  # 11 dropped: a copy of train post 4
    assert names(train[1]["tags"]) == ["blue", "red"]  # missing blue added
    assert names(train[3]["tags"]) == ["blue"]  # below the threshold: unchanged
    assert names(train[4]["characters"]) == ["hero"]  # a character goes into its own field
    assert names(test[12]["tags"]) == ["blue"]
    assert result.balances == {"posts": (6, 4, 2)}
    assert result.drops == {"near-duplicate": 2}
    assert result.splits == {"train": 3, "test": 1}

    metadata = json.loads((source.parent / "1.0.1" / "metadata.json").read_text())
    curation = metadata["curation"]
    assert curation["run"] == "first" and curation["min_confidence"] == 0.5
    assert curation["made_for"]["version"] == "1.0.0"
    assert curation["skipped"] == {"issues_outside_vocabulary": 1}
    assert curation["leak"]["train_test_pairs_before"] == 1 and curation["leak"]["train_test_pairs_after"] == 0
    assert metadata["counts"]["tags"] == {"added": {"tags": {"train": 1}, "characters": {"train": 1}}, "removed": {}}
    card = (source.parent / "1.0.1" / "README.md").read_text()
    assert "## Curation" in card and "`first`" in card and "confidence >= 0.5" in card
    assert "| change | field | train | test | total |" in card
    assert "| tags added | characters | 1 | 0 | 1 |" in card
    assert "Posts dropped as near-duplicates: 2" in card and "1 before, 0 after" in card
    vocabulary = TagVocabulary.read(str(source.parent / "1.0.1" / "selected_tags.csv"))
    assert vocabulary.names == ["red", "blue", "hero"]  # the source's tags, in its order
    assert vocabulary.counts == [2, 2, 2]  # train 1 (red, blue), 3 (blue, hero), 4 (red, hero added): recounted
    info = json.loads((source.parent / "1.0.1" / "dataset_info.json").read_text())
    assert info["version"] == "1.0.1"
    dead = list((source.parent / "1.0.1" / "dead_letters").glob("ApplyCuration*"))
    assert dead
    # The run was made for 1.0.0: the newest version is now 1.0.1, and the run does not apply to it.
    with pytest.raises(UserError, match="made for acg_illustrations/8/1.0.0, not for acg_illustrations/8/1.0.1"):
        apply_curation(Workspace.at(workdir), choice, config=str(SIZE), options=LOCAL)


@pytest.mark.integration
def test_keeping_duplicates_into_the_next_free_version(workdir):
    run = write_run(workdir)
    (workdir / "datasets" / "acg_illustrations" / str(SIZE) / "1.0.1").mkdir()  # taken (say, by another run)
    choice = CurationChoice(run, min_confidence=0.0, drop_duplicates=False, kinds=("wrong",))
    result = apply_curation(Workspace.at(workdir), choice, config=str(SIZE), version="1.0.0", options=LOCAL)
    assert result.out_dir.endswith("/1.0.2")
    train = read_split(result.out_dir, "train")
    assert sorted(train) == [1, 2, 3, 4]
    assert names(train[2]["tags"]) == ["red"]  # wrong blue removed
    assert names(train[1]["tags"]) == ["red"]  # only wrong tags were asked for
    assert result.drops == {}


def test_a_missing_dataset_or_a_bad_threshold_is_one_clear_sentence(workdir):
    run = write_run(workdir)
    with pytest.raises(UserError, match="No dataset at .*1.2.0"):
        apply_curation(Workspace.at(workdir), CurationChoice(run, 0.5), config=str(SIZE), version="1.2.0")
    with pytest.raises(UserError, match="No dataset acg_illustrations/224"):
        apply_curation(Workspace.at(workdir), CurationChoice(run, 0.5), config="224", options=LOCAL)
    with pytest.raises(UserError, match="between 0 and 1"):
        apply_curation(Workspace.at(workdir), CurationChoice(run, 1.5), config=str(SIZE), options=LOCAL)


def test_edits_keep_the_earliest_split_then_the_lowest_id_and_skip_unknown_tags():
    issues = pd.DataFrame(
        {"post_id": [1, 1, 2], "tag": ["a", "zz", "b"], "kind": ["missing", "missing", "wrong"], "confidence": 1.0}
    )
    members = pd.DataFrame(
        {"group_id": [0, 0, 0, 1, 1], "post_id": [9, 5, 7, 3, 2], "split": ["train", "test", "train", "test", "test"]}
    )
    edits, skipped = curation_edits(issues, members, {"a": "general", "b": "character"})
    assert edits.add == {1: (("tags", "a"),)} and edits.remove == {2: (("characters", "b"),)}
    assert edits.drop == {5: 7, 9: 7, 3: 2}
    assert skipped == {"issues_outside_vocabulary": 1, "issues_unknown_category": 0}


def test_an_edit_changes_only_the_tag_lists_and_counts_what_changed():
    features = features_for_size(SIZE)
    data = features.serialize_example(example(1, ["red"], ["hero"]))
    edits = CurationEdits(add={1: (("tags", "blue"), ("tags", "red"))}, remove={1: (("characters", "hero"),)})
    post_id, edited, changes = edit_example(data, edits)
    assert post_id == 1 and changes == {"added-tags": 1, "removed-characters": 1}  # red was there already
    decoded = features.deserialize_example_np(edited)
    assert names(decoded["tags"]) == ["blue", "red"] and list(decoded["characters"]) == []
    assert decoded["score"] == 1 and decoded["md5"] == f"{1:032x}".encode()
    assert edit_example(data, CurationEdits()) == (1, data, {})
    assert edit_example(data, CurationEdits(drop={1: 0}))[1] is None


def test_the_next_patch_version_skips_published_folders_only(tmp_path):
    for name in ("1.0.0", "1.0.1", ".incomplete-1.0.2-abcd", "2.0.0", "notes"):
        (tmp_path / name).mkdir()
    assert next_patch_version(str(tmp_path), "1.0.0") == "1.0.2"
    assert next_patch_version(str(tmp_path), "2.0.0") == "2.0.1"
    assert next_patch_version(str(tmp_path / "missing"), "1.0.0") == "1.0.1"
