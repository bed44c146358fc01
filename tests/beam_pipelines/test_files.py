"""files: the FileSystems helpers, the same on local paths and on an object store without folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from acg2vec.beam_pipelines import files
from tests.beam_pipelines import memory_filesystem as memfs

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("remote", [False, True])
def test_write_read_match_delete(tmp_path: Path, remote: bool) -> None:
    root = "acgmem://bucket/files" if remote else str(tmp_path)
    files.mkdirs(files.join(root, "d"))
    files.write_text(files.join(root, "d", "a.json"), "銀魂")
    if remote:  # an object store takes a key below a folder that was never made
        files.write_bytes(files.join(root, "d", "sub", "b.bin"), b"\x00\x01")
    assert files.read_text(files.join(root, "d", "a.json")) == "銀魂"
    assert [p.rsplit("/", 1)[1] for p, _ in files.match(files.join(root, "d", "*.json"))] == ["a.json"]
    assert files.match(files.join(root, "missing", "*")) == []
    files.delete([files.join(root, "d"), files.join(root, "never")])
    assert files.match(files.join(root, "d", "**")) == []


def test_write_locally_then_copy_stages_for_remote_folders(tmp_path: Path) -> None:
    def write(folder: str) -> None:
        Path(folder, "dataset_info.json").write_text("{}")
        Path(folder, "x.tfrecord-00000-of-00001").write_bytes(b"")

    files.write_locally_then_copy(str(tmp_path), write)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset_info.json", "x.tfrecord-00000-of-00001"]
    files.write_locally_then_copy("acgmem://bucket/stage", write, keep=lambda name: name.endswith(".json"))
    assert [p for p in memfs.STORE if p.startswith("acgmem://bucket/stage/")] == [
        "acgmem://bucket/stage/dataset_info.json"
    ]
