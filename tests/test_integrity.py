"""The one vocabulary of damaged files: atomic writes, checksums, gzip stream checks and the one sentence."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from acg2vec.integrity import (
    CHECKSUMS_FILE,
    DAMAGED_FILE,
    DamagedFileError,
    DiskFullError,
    atomic_folder,
    atomic_write_bytes,
    atomic_write_json,
    check_gzip,
    damaged_file_record,
    read_gzip_lines,
    verify_checksums,
)
from tests.damage import DAMAGES, SmallDisk


def _jsonl_gz(path: Path, n: int) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": i, "text": "x" * (i % 50)}) + "\n")


def test_a_whole_gzip_file_reads_every_line(tmp_path: Path) -> None:
    path = tmp_path / "post-00000.jsonl.gz"
    _jsonl_gz(path, 300)
    assert check_gzip(path) == 300


@pytest.mark.parametrize("damage", ["cut_short", "zero_bytes", "random_middle", "wrong_kind", "older_format"])
def test_every_damage_to_a_gzip_shard_is_named_with_what_was_lost(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "post-00000.jsonl.gz"
    _jsonl_gz(path, 3000)
    DAMAGES[damage](path)
    good: list[bytes] = []
    with pytest.raises(DamagedFileError) as caught:
        good.extend(read_gzip_lines(path, repair="acg2vec crawl safebooru"))
    err = caught.value
    message = str(err)
    assert message.startswith(f"{path} is damaged (") and message.endswith("`acg2vec crawl safebooru`.")
    assert "\n" not in message
    assert f"found after {len(good):,} lines" in message or "every line of it is lost" in message
    assert len(good) < 3000
    if damage == "cut_short":  # no line handed out is a cut one
        assert [json.loads(line)["id"] for line in good] == list(range(len(good)))


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.json"
    atomic_write_json(path, {"a": 1})
    with pytest.raises(RuntimeError):
        from acg2vec.integrity import atomic_write

        with atomic_write(path, "w") as fh:
            fh.write('{"a": ')
            raise RuntimeError("stopped half-way")
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["thresholds.json"]


def test_a_full_disk_is_one_sentence_and_the_previous_file_is_whole(tmp_path: Path) -> None:
    with SmallDisk(tmp_path / "disk", size_mb=2) as disk:
        path = disk.path / "index.faiss"
        atomic_write_bytes(path, b"old" * 100)
        disk.fill(leave=8192)
        try:
            with pytest.raises(DiskFullError) as caught:
                atomic_write_bytes(path, b"n" * 200_000)
        finally:
            disk.free()
        assert "disk is full" in str(caught.value) and str(path) in str(caught.value)
        assert path.read_bytes() == b"old" * 100
        assert sorted(p.name for p in disk.path.iterdir() if p.name != ".filler") == ["index.faiss"]


def test_atomic_folder_records_checksums_and_replaces_the_old_folder_only_when_whole(tmp_path: Path) -> None:
    final = tmp_path / "models" / "tagger"
    with atomic_folder(final) as tmp:
        (tmp / "saved_model.pb").write_bytes(b"v1")
        (tmp / "variables").mkdir()
        (tmp / "variables" / "variables.data-00000-of-00001").write_bytes(b"w" * 1000)
    assert verify_checksums(final, what="the model", repair="acg2vec train tagger") == [
        "saved_model.pb",
        "variables/variables.data-00000-of-00001",
    ]
    with pytest.raises(ValueError), atomic_folder(final) as tmp:
        (tmp / "saved_model.pb").write_bytes(b"v2")
        raise ValueError("training stopped")
    assert (final / "saved_model.pb").read_bytes() == b"v1"
    assert sorted(p.name for p in final.parent.iterdir()) == ["tagger"]


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_verify_checksums_names_the_damaged_file_of_a_folder(tmp_path: Path, damage: str) -> None:
    final = tmp_path / "model"
    with atomic_folder(final) as tmp:
        (tmp / "model.safetensors").write_bytes(bytes(range(256)) * 40)
    DAMAGES[damage](final / "model.safetensors")
    with pytest.raises(DamagedFileError) as caught:
        verify_checksums(final, what="the text model", repair="acg2vec train text")
    assert str(final / "model.safetensors") in str(caught.value)
    record = damaged_file_record(caught.value, step="load-model")
    assert record["reason"] == DAMAGED_FILE and record["record"]["path"] == str(final / "model.safetensors")


def test_a_damaged_checksum_list_is_itself_named(tmp_path: Path) -> None:
    with atomic_folder(tmp_path / "m") as tmp:
        (tmp / "a").write_bytes(b"a")
    (tmp_path / "m" / CHECKSUMS_FILE).write_bytes(b"\x00\x01")
    with pytest.raises(DamagedFileError, match="not a readable checksum list"):
        verify_checksums(tmp_path / "m", what="x", repair="acg2vec train text")


def test_a_full_disk_inside_a_wrapped_writer_keeps_its_own_sentence(tmp_path: Path) -> None:
    from acg2vec.integrity import disk_full_is_one_sentence

    inner = tmp_path / "datasets" / "part-0.parquet"
    with pytest.raises(DiskFullError) as caught, disk_full_is_one_sentence(tmp_path / "datasets"):
        raise DiskFullError(inner)
    assert caught.value.path == str(inner)


def test_a_full_disk_inside_an_atomic_folder_names_the_file_by_its_final_place(tmp_path: Path) -> None:
    final = tmp_path / "index" / "images"
    with pytest.raises(DiskFullError) as caught, atomic_folder(final) as tmp:
        raise DiskFullError(tmp / "thumbnails.bin")
    assert caught.value.path == str(final / "thumbnails.bin")
    assert not final.exists() and list(final.parent.iterdir()) == []
