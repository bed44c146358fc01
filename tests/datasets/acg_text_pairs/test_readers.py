"""readers: a finished corpus is found from the datasets root or its own folder; a folder without its metadata is
refused in one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from acg2vec.datasets.acg_text_pairs import readers, schema
from acg2vec.errors import UserError

pytestmark = pytest.mark.unit


def test_parquet_folder_needs_its_build_metadata(tmp_path: Path) -> None:
    datasets = tmp_path / "datasets"
    split_dir = Path(schema.parquet_dir(str(datasets), "train"))
    with pytest.raises(UserError, match="No acg_text_pairs corpus found under .*`acg2vec build texts`"):
        readers.parquet_files(str(datasets))
    split_dir.mkdir(parents=True)
    (split_dir / "part-00000.parquet").write_bytes(b"PAR1")
    with pytest.raises(UserError, match=r"not a complete dataset \(no build_metadata.json\)") as err:
        readers.parquet_files(str(datasets), ("train",))
    assert "\n" not in str(err.value)
    (split_dir.parent / schema.BUILD_METADATA).write_text("{}")
    assert readers.parquet_files(str(datasets), ("train",)) == {"train": [str(split_dir / "part-00000.parquet")]}


def test_the_corpus_folder_itself_and_splits_without_rows(tmp_path: Path) -> None:
    corpus = Path(schema.parquet_dataset_dir(str(tmp_path / "datasets")))
    for split, parts in (("validation", 2), ("test", 1)):
        (corpus / split).mkdir(parents=True)
        for index in reversed(range(parts)):
            (corpus / split / f"part-{index:05d}.parquet").write_bytes(b"PAR1")
    (corpus / schema.BUILD_METADATA).write_text("{}")
    assert readers.parquet_root(corpus) == readers.parquet_root(tmp_path / "datasets") == str(corpus)
    found = readers.parquet_files(corpus)
    assert list(found) == list(schema.SPLITS) and found["train"] == []
    assert [Path(p).name for p in found["validation"]] == ["part-00000.parquet", "part-00001.parquet"]


def test_title_pair_langs_reads_the_pair_type_names() -> None:
    assert schema.title_pair_langs("title_ja-title_zh") == ("ja", "zh")
    assert schema.title_pair_langs("title_zh-summary") == ("zh", None)
    assert schema.title_pair_langs("title_ja-character") == ("ja", None)
    for pair_type in ("heading-section", "title_heading-section", "summary-summary", "tag_ja-tag_zh", "x"):
        assert schema.title_pair_langs(pair_type) is None
    titled = {t for t in schema.PAIR_TYPES if schema.title_pair_langs(t)}
    assert titled == {t for t in schema.PAIR_TYPES if t.startswith(("title_ja-", "title_zh-", "title_en-"))}
