"""readers: finished builds are found; a folder without its metadata is refused in one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from acg2vec.datasets.acg_text_pairs import readers, schema
from acg2vec.errors import UserError

pytestmark = pytest.mark.unit


def test_parquet_folder_needs_its_build_metadata(tmp_path: Path) -> None:
    datasets = tmp_path / "datasets"
    split_dir = Path(schema.parquet_dir(str(datasets), "train"))
    with pytest.raises(UserError, match="No dataset at .*build it with `acg2vec build texts`"):
        readers.parquet_split_dir(str(datasets), "train")
    split_dir.mkdir(parents=True)
    (split_dir / "part-00000.parquet").write_bytes(b"PAR1")
    with pytest.raises(UserError, match=r"not a complete dataset \(no build_metadata.json\)") as err:
        readers.parquet_split_dir(str(datasets), "train")
    assert "\n" not in str(err.value)
    (split_dir.parent / schema.BUILD_METADATA).write_text("{}")
    assert readers.parquet_split_dir(str(datasets), "train") == str(split_dir)


def test_tfds_folder_is_the_newest_complete_version(tmp_path: Path) -> None:
    root = tmp_path / "datasets" / schema.NAME
    with pytest.raises(UserError, match="No acg_text_pairs dataset"):
        readers.tfds_dir(str(tmp_path / "datasets"))
    for version, complete in (("1.0.0", True), ("1.10.0", True), ("2.0.0", False), (".incomplete-3.0.0-x", True)):
        (root / version).mkdir(parents=True)
        if complete:
            (root / version / "dataset_info.json").write_text("{}")
    assert readers.tfds_dir(str(tmp_path / "datasets")) == str(root / "1.10.0")
