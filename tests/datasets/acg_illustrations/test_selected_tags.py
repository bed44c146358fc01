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


@pytest.mark.parametrize("text", ["", "tag_id,name\n0,solo\n"])
def test_empty_or_missing_columns_is_one_sentence(text: str) -> None:
    with pytest.raises(UserError, match="is empty or lacks the columns"):
        TagVocabulary.parse(text)


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
