"""selected_tags: the one reader and writer of selected_tags.csv and thresholds.json (names or booru codes as
categories, rows in order, the tuning method recorded)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from acg2vec.datasets.acg_illustrations.selected_tags import (
    TagVocabulary,
    csv_sha256,
    read_thresholds,
    write_thresholds,
)
from acg2vec.errors import UserError

pytestmark = pytest.mark.unit


def test_rows_in_file_order_with_category_names() -> None:
    text = "tag_id,name,category,count\n0,solo,general,50\n1,hatsune_miku,4,30\n2,vocaloid,copyright,12.0\n"
    assert TagVocabulary.parse(text) == TagVocabulary(
        ["solo", "hatsune_miku", "vocaloid"], ["general", "character", "copyright"], [50, 30, 12]
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "it is empty"),
        ("tag_id,name\n0,solo\n", "it lacks the columns category, count"),
        ("tag_id,name,category,count\n", "it has a header and no tags"),
        ("tag_id,name,category,count\n0,solo,general,5\n1,smile", "row 2 has fewer fields than the header"),
        ("tag_id,name,category,count\n0,solo,general,5\n1,smile,general,4", "its last row has no line end"),
        ("tag_id,name,category,count\n0,solo,general,x5\n", "row 1's count 'x5' is not a number"),
    ],
)
def test_empty_cut_or_foreign_vocabularies_are_one_sentence(text: str, problem: str) -> None:
    with pytest.raises(UserError, match="is damaged") as caught:
        TagVocabulary.parse(text, where="models/tagger/selected_tags.csv", repair="acg2vec train tagger")
    message = str(caught.value)
    assert message.startswith(f"models/tagger/selected_tags.csv is damaged ({problem}")
    assert message.endswith("the tag vocabulary cannot be read; repair it with `acg2vec train tagger`.")


def test_read_from_a_path(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="There is no selected_tags.csv"):
        TagVocabulary.read(str(tmp_path / "selected_tags.csv"))
    (tmp_path / "selected_tags.csv").write_text("tag_id,name,category,count\n0,a,0,1\n")
    assert TagVocabulary.read(str(tmp_path / "selected_tags.csv")) == TagVocabulary(["a"], ["general"], [1])


def test_written_file_reads_back_with_row_numbers_and_quoting(tmp_path: Path) -> None:
    vocab = TagVocabulary.from_rows([("star", "general", 9), ('a,"b"', "character", 4)])
    path = vocab.write(str(tmp_path))
    text = Path(path).read_text()
    assert text.splitlines()[:2] == ["tag_id,name,category,count", "0,star,general,9"]
    assert TagVocabulary.read(path) == vocab and TagVocabulary.read(path).names[1] == 'a,"b"'
    assert csv_sha256(text) != csv_sha256(TagVocabulary.from_rows([("star", "general", 9)]).to_csv())


def test_top_keeps_the_most_frequent_in_file_order() -> None:
    vocab = TagVocabulary(["red", "blue", "hero"], ["general", "general", "character"], [3, 5, 1])
    assert vocab.top(2) == TagVocabulary(["red", "blue"], ["general", "general"], [3, 5])
    assert vocab.top(None) is vocab and vocab.top(9) is vocab and len(vocab) == 3


def test_thresholds_round_trip_with_their_method_and_default(tmp_path: Path) -> None:
    assert read_thresholds(str(tmp_path), ["a"]) is None
    write_thresholds(str(tmp_path), method="max_f1_per_tag_on_validation", default=0.4, thresholds={"a": 0.7})
    data = json.loads((tmp_path / "thresholds.json").read_text())
    assert data == {"method": "max_f1_per_tag_on_validation", "default": 0.4, "thresholds": {"a": 0.7}}
    values, method = read_thresholds(str(tmp_path), ["a", "unlisted"])
    assert np.allclose(values, [0.7, 0.4]) and values.dtype == np.float32
    assert method == "max_f1_per_tag_on_validation"


@pytest.mark.parametrize("damage", ["cut_short", "zero_bytes", "random_middle", "wrong_kind", "older_format"])
def test_every_damage_to_a_datasets_vocabulary_names_it_with_the_rebuild(tmp_path: Path, damage: str) -> None:
    from acg2vec.datasets.acg_illustrations.selected_tags import SHA256_SUFFIX
    from tests.damage import DAMAGES

    version = tmp_path / "datasets" / "acg_illustrations" / "64" / "1.0.0"
    version.mkdir(parents=True)
    (version / "dataset_info.json").write_text("{}")
    vocab = TagVocabulary.from_rows([(f"tag_{i}", "general", 100 - i) for i in range(40)])
    path = vocab.write(str(version))
    (version / f"selected_tags.csv{SHA256_SUFFIX}").write_text(csv_sha256(vocab.to_csv()) + "\n")  # as a build does
    assert TagVocabulary.read(path) == vocab
    DAMAGES[damage](Path(path))
    with pytest.raises(UserError) as caught:
        TagVocabulary.read(path)
    message = str(caught.value)
    assert message.startswith(f"{path} is damaged (") and "\n" not in message
    assert message.endswith("repair it with `acg2vec build images --config 64`.")


def test_the_vocabulary_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    from acg2vec.integrity import DiskFullError
    from tests.damage import SmallDisk

    with SmallDisk(tmp_path / "disk", size_mb=1) as disk:
        small = TagVocabulary.from_rows([("solo", "general", 3)])
        path = small.write(str(disk.path))
        disk.fill(leave=4096)
        try:
            with pytest.raises(DiskFullError, match="disk is full"):
                TagVocabulary.from_rows([(f"tag_{i}" * 20, "general", i) for i in range(2000)]).write(str(disk.path))
        finally:
            disk.free()
        assert TagVocabulary.read(path) == small
        assert sorted(p.name for p in disk.path.iterdir() if p.name != ".filler") == ["selected_tags.csv"]
