"""publish: whole-or-nothing dataset folders, leftovers of killed builds, readers' check, one build per dataset."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from acg2vec.beam_pipelines import publish
from acg2vec.errors import UserError
from tests.beam_pipelines import memory_filesystem as memfs

pytestmark = pytest.mark.unit


def _folder(path: Path, marker: str | None = "dataset_info.json", text: str = "x") -> Path:
    path.mkdir(parents=True)
    (path / "shard").write_text(text)
    if marker:
        (path / marker).write_text("{}")
    return path


def test_publish_swaps_in_a_complete_folder_and_replaces_the_old(tmp_path: Path) -> None:
    final = str(tmp_path / "ds" / "1.0.0")
    first = publish.incomplete_dir(final)
    assert Path(first).parent == tmp_path / "ds" and Path(first).name.startswith(".incomplete-1.0.0-")
    publish.publish(str(_folder(Path(first), text="old")), final, marker="dataset_info.json")
    second = publish.incomplete_dir(final)
    publish.publish(str(_folder(Path(second), text="new")), final, marker="dataset_info.json")
    assert (Path(final) / "shard").read_text() == "new"
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == ["1.0.0"]


def test_leftovers_of_killed_builds_are_removed(tmp_path: Path) -> None:
    final = str(tmp_path / "ds" / "1.0.0")
    _folder(Path(publish.incomplete_dir(final)), marker=None)
    _folder(Path(publish.incomplete_dir(final)), marker=None)
    other = _folder(tmp_path / "ds" / ".incomplete-2.0.0-abcd", marker=None)  # another version's: not ours
    assert len(publish.remove_leftovers(final)) == 2
    assert [p for p in (tmp_path / "ds").iterdir()] == [other]


def test_leftovers_and_publish_on_an_object_store() -> None:
    final = "acgmem://bucket/ds/1.0.0"
    memfs.STORE[f"{final}/dataset_info.json"] = b"old"
    memfs.STORE["acgmem://bucket/ds/.incomplete-1.0.0-dead/a/b"] = b"left by a killed run"
    assert publish.remove_leftovers(final) == ["acgmem://bucket/ds/.incomplete-1.0.0-dead"]
    tmp = publish.incomplete_dir(final)
    memfs.STORE[f"{tmp}/shard"] = b"new"
    memfs.STORE[f"{tmp}/dataset_info.json"] = b"{}"
    publish.publish(tmp, final, marker="dataset_info.json")
    assert memfs.STORE[f"{final}/shard"] == b"new" and memfs.STORE[f"{final}/dataset_info.json"] == b"{}"
    assert not [p for p in memfs.STORE if p.startswith("acgmem://bucket/ds/.incomplete")]


def test_readers_refuse_a_folder_without_its_metadata(tmp_path: Path) -> None:
    done = _folder(tmp_path / "done")
    assert publish.require_complete(str(done), marker="dataset_info.json", build_command="b") == str(done)
    half = _folder(tmp_path / "half", marker=None)
    with pytest.raises(UserError, match=r"not a complete dataset \(no dataset_info.json\).*run `acg2vec build texts`"):
        publish.require_complete(str(half), marker="dataset_info.json", build_command="acg2vec build texts")
    with pytest.raises(UserError, match="No dataset at .*; build it with `b`"):
        publish.require_complete(str(tmp_path / "none"), marker="dataset_info.json", build_command="b")


def test_a_second_build_of_the_same_dataset_refuses_naming_the_first(tmp_path: Path) -> None:
    final = str(tmp_path / "ds" / "1.0.0")
    with publish.DatasetLock(final, "acg2vec build texts"):
        with pytest.raises(UserError) as err, publish.DatasetLock(final, "acg2vec build texts"):
            pass
        message = str(err.value)
        assert "`acg2vec build texts`" in message and "pid " in message and "\n" not in message
    with publish.DatasetLock(final, "again"):  # released on exit
        pass


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    final = str(tmp_path / "ds" / "1.0.0")
    holder = (
        "import sys, time; from acg2vec.beam_pipelines.publish import DatasetLock; "
        f"lock = DatasetLock({final!r}, 'killed build'); lock.__enter__(); print('locked', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match="killed build"), publish.DatasetLock(final, "mine"):
            pass
    finally:
        proc.kill()  # SIGKILL: no clean-up runs, the lock file stays
        proc.wait()
    lock_file = tmp_path / "ds" / ".1.0.0.lock"
    assert "killed build" in lock_file.read_text()
    with publish.DatasetLock(final, "mine"):
        assert json.loads(lock_file.read_text())["command"] == "mine"


def test_build_result_summary_is_one_line_or_the_details() -> None:
    result = publish.BuildResult(
        dataset="acg_text_pairs",
        out_dir="/w/datasets/acg_text_pairs/1.0.0",
        unit="pairs",
        splits={"train": 8, "validation": 1},
        balances={"lines": (12, 10, 2), "pairs": (30, 9, 21)},
        drops={"Pairs-too-short": 21},
        outputs={"Parquet": "/w/datasets/parquet/acg_text_pairs"},
        seconds=2.5,
        buckets=4,
    )
    assert result.summary() == "acg_text_pairs: train 8, validation 1 pairs; dropped 2 lines, 21 pairs"
    assert result.summary(detailed=True).splitlines() == [
        result.summary(),
        "  written to /w/datasets/acg_text_pairs/1.0.0 in 2.5 s (4 buckets)",
        "  lines read 12 = kept 10 + dropped 2",
        "  pairs read 30 = kept 9 + dropped 21",
        "  dropped Pairs-too-short: 21",
        "  Parquet: /w/datasets/parquet/acg_text_pairs",
    ]
    dry = publish.BuildResult(dataset="acg_illustrations/224", out_dir="gs://b/x", job_file="job.json")
    assert (
        dry.summary(detailed=True)
        == "acg_illustrations/224: Dataflow job description written to job.json (not submitted)."
    )


@pytest.mark.parametrize("remote", [False, True])
def test_a_published_folder_records_every_file_in_its_checksums(tmp_path: Path, remote: bool) -> None:
    from acg2vec.beam_pipelines import files
    from acg2vec.integrity import CHECKSUMS_FILE, DamagedFileError, verify_checksums

    local_final = tmp_path / "ds" / "1.0.0"
    final = "acgmem://bucket/checksums/ds/1.0.0" if remote else str(local_final)
    tmp = publish.incomplete_dir(final)
    files.write_text(f"{tmp}/shard-00000", "rows")
    files.write_text(f"{tmp}/dead_letters/Step.jsonl", "dead")
    files.write_text(f"{tmp}/dataset_info.json", "{}")
    publish.publish(tmp, final, marker="dataset_info.json")
    recorded = json.loads(files.read_text(f"{final}/{CHECKSUMS_FILE}"))["files"]
    assert sorted(recorded) == ["dataset_info.json", "dead_letters/Step.jsonl", "shard-00000"]
    assert recorded["shard-00000"] == files.digest(f"{final}/shard-00000")
    if not remote:
        assert verify_checksums(local_final, what="the dataset", repair="", required=True) == sorted(recorded)
        (local_final / "shard-00000").write_text("rowz")  # a bit gone bad on the disk, same size
        with pytest.raises(DamagedFileError, match="checksum mismatch"):
            verify_checksums(local_final, what="the dataset", repair="")
