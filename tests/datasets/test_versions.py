"""versions: the newest complete dataset folder, versions compared as numbers, unfinished folders never chosen."""

from __future__ import annotations

from pathlib import Path

import pytest

from acg2vec.datasets.versions import complete_dataset_dirs, newest_dataset_dir

pytestmark = pytest.mark.unit


def test_newest_complete_version_by_numbers(tmp_path: Path) -> None:
    root = tmp_path / "acg_illustrations"
    assert newest_dataset_dir(str(root)) is None
    for folder, complete in (
        ("64/1.0.0", True),
        ("64/1.9.0", True),
        ("64/1.10.0", True),
        ("64/2.0.0", False),  # no dataset_info.json: not a finished build
        ("64/.incomplete-3.0.0-abcd", True),  # an interrupted build's folder
        ("224/1.0.0", True),
    ):
        (root / folder).mkdir(parents=True)
        if complete:
            (root / folder / "dataset_info.json").write_text("{}")
    assert newest_dataset_dir(str(root / "64")) == str(root / "64" / "1.10.0")
    assert [Path(p).relative_to(root).as_posix() for p in complete_dataset_dirs(str(root))] == [
        "64/1.0.0",
        "64/1.9.0",
        "64/1.10.0",
        "224/1.0.0",
    ]
    assert newest_dataset_dir(str(root / "224" / "1.0.0")) == str(root / "224" / "1.0.0")
