"""readers: a finished corpus is found from the datasets root or its own folder; a folder without its metadata is
refused in one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from acg2vec.datasets.acg_text_pairs import readers, schema
from acg2vec.errors import UserError

pytestmark = pytest.mark.unit


def part(path: Path, rows: int = 1) -> None:
    """A real (tiny) Parquet part of ``rows`` pairs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"anchor": ["a"] * rows, "positive": ["b"] * rows}), path)


def test_parquet_folder_needs_its_build_metadata(tmp_path: Path) -> None:
    datasets = tmp_path / "datasets"
    split_dir = Path(schema.parquet_dir(str(datasets), "train"))
    with pytest.raises(UserError, match="No acg_text_pairs corpus found under .*`acg2vec build texts`"):
        readers.parquet_files(str(datasets))
    split_dir.mkdir(parents=True)
    part(split_dir / "part-00000.parquet")
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
            part(corpus / split / f"part-{index:05d}.parquet")
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


def corpus_with_metadata(root: Path, *, checksums: bool = False) -> Path:
    """A corpus as a build publishes it: parts of each split, build_metadata.json with the rows of each split."""
    import json

    corpus = Path(schema.parquet_dataset_dir(str(root / "datasets")))
    rows = {"train": 300, "validation": 200, "test": 100}
    for split, n in rows.items():
        (corpus / split).mkdir(parents=True)
        part(corpus / split / "part-00000.parquet", n // 2)
        part(corpus / split / "part-00001.parquet", n - n // 2)
    (corpus / schema.BUILD_METADATA).write_text(json.dumps({"dataset": schema.NAME, "split_rows": rows}))
    if checksums:
        from acg2vec.integrity import write_checksums

        write_checksums(corpus)
    return corpus


@pytest.mark.parametrize("damage", ["cut_short", "zero_bytes", "random_middle", "wrong_kind", "older_format"])
def test_every_damage_to_a_part_names_it_and_the_rebuild(tmp_path: Path, damage: str) -> None:
    from acg2vec.integrity import DamagedFileError
    from tests.damage import DAMAGES

    # Changed bytes in the middle keep the footer: the build's CHECKSUMS.json finds them; the footer the rest.
    corpus = corpus_with_metadata(tmp_path, checksums=damage == "random_middle")
    assert len(readers.parquet_files(corpus)["validation"]) == 2
    target = corpus / "validation" / "part-00001.parquet"
    DAMAGES[damage](target)
    with pytest.raises(DamagedFileError) as caught:
        readers.parquet_files(corpus)
    message = str(caught.value)
    assert message.startswith(f"{target} is damaged (") and message.endswith("repair it with `acg2vec build texts`.")


def test_a_missing_part_or_damaged_metadata_is_named(tmp_path: Path) -> None:
    from acg2vec.integrity import DamagedFileError

    corpus = corpus_with_metadata(tmp_path)
    (corpus / "test" / "part-00001.parquet").unlink()
    with pytest.raises(DamagedFileError, match=r"test is damaged \(its 1 Parquet parts hold 50 rows where the build"):
        readers.parquet_files(corpus)
    (corpus / schema.BUILD_METADATA).write_bytes(b"")
    with pytest.raises(DamagedFileError, match=r"build_metadata.json is damaged \(it is empty"):
        readers.parquet_files(corpus)
