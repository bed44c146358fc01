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


@pytest.mark.parametrize("name", ["part-00000.parquet", "Dead.jsonl.gz"])
def test_a_local_file_is_whole_or_absent_and_its_bytes_are_as_given(tmp_path: Path, name: str) -> None:
    path = str(tmp_path / name)
    files.write_bytes(path, b"\x1f\x8b first")
    with pytest.raises(RuntimeError), files.create(path) as fh:
        fh.write(b"half of the next")
        raise RuntimeError("the writer failed")
    assert Path(path).read_bytes() == b"\x1f\x8b first"  # the old file, whole; no gzip added to a .gz name
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary left


def test_a_full_disk_writing_a_file_is_one_sentence(tmp_path: Path) -> None:
    from acg2vec.integrity import DiskFullError
    from tests.damage import SmallDisk

    with SmallDisk(tmp_path / "disk", 4) as disk:
        path = str(tmp_path / "disk" / "build_metadata.json")
        files.write_text(path, "{}")
        disk.fill(leave=1024)
        try:
            with pytest.raises(DiskFullError, match="disk is full"):
                files.write_bytes(path, b"x" * (1 << 20))
        finally:
            disk.free()
        assert Path(path).read_text() == "{}"


def test_digest_is_the_same_on_every_file_system(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"acg2vec" * 1000)
    memfs.upload(tmp_path, "acgmem://bucket/digest")
    assert files.digest(str(tmp_path / "a.bin")) == files.digest("acgmem://bucket/digest/a.bin")
