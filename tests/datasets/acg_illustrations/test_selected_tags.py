"""selected_tags: the one reader of selected_tags.csv (names or booru codes as categories, rows in order)."""

from __future__ import annotations

from pathlib import Path

import pytest

from acg2vec.datasets.acg_illustrations.selected_tags import TagRow, parse_selected_tags, read_selected_tags
from acg2vec.errors import UserError

pytestmark = pytest.mark.unit


def test_rows_in_file_order_with_category_names() -> None:
    text = "tag_id,name,category,count\n0,solo,general,50\n1,hatsune_miku,4,30\n2,vocaloid,copyright,12.0\n"
    assert parse_selected_tags(text) == [
        TagRow("solo", "general", 50),
        TagRow("hatsune_miku", "character", 30),
        TagRow("vocaloid", "copyright", 12),
    ]


@pytest.mark.parametrize("text", ["", "tag_id,name\n0,solo\n"])
def test_empty_or_missing_columns_is_one_sentence(text: str) -> None:
    with pytest.raises(UserError, match="is empty or lacks the columns"):
        parse_selected_tags(text)


def test_read_from_a_path(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="There is no selected_tags.csv"):
        read_selected_tags(str(tmp_path / "selected_tags.csv"))
    (tmp_path / "selected_tags.csv").write_text("tag_id,name,category,count\n0,a,0,1\n")
    assert read_selected_tags(str(tmp_path / "selected_tags.csv")) == [TagRow("a", "general", 1)]
