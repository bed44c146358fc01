"""Damaged raw shards, image files and crawl manifests (issue #27): each case of the zoo through a re-run.

One Safebooru crawl of the sample site (20 posts, shards of 3) is made once for the module and copied per test;
the Bangumi Archive import runs in-process on the hand-made dump.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acg2vec.cli import app
from acg2vec.crawlers.bangumi_archive import import_archive
from acg2vec.crawlers.runner import run_spider
from acg2vec.crawlers.shards import ShardFile, ShardStorage, check_shards, shard_files
from acg2vec.integrity import DiskFullError
from acg2vec.sample_site import start_sample_site
from acg2vec.workspace import Workspace
from tests.crawlers.test_bangumi_archive import make_zip, read_kind
from tests.damage import DAMAGES, SmallDisk

POSTS = 20


def ids_in(raw: Path, kind: str = "post") -> list[str]:
    ids = []
    for path in shard_files(raw):
        if path.name.startswith(f"{kind}-"):
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                ids += [json.loads(line)["source_id"] for line in fh]
    return ids


def manifest_of(raw: Path) -> dict:
    return json.loads((raw / "manifest.json").read_text(encoding="utf-8"))


def dead_letter_reasons(raw: Path, step: str) -> list[str]:
    with gzip.open(raw / "dead_letters" / f"{step}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line)["reason"] for line in fh]


@pytest.fixture(scope="module")
def site():
    with start_sample_site(posts=POSTS) as running:
        yield running


@pytest.fixture(scope="module")
def first_crawl(site, tmp_path_factory) -> Path:
    """A workdir holding one whole crawl: 7 post shards of at most 3 posts, their tags and 20 image files."""
    workdir = tmp_path_factory.mktemp("first") / "acg2vec-data"
    report = run_spider("safebooru", workspace=Workspace.at(workdir), base_url=site.url_for("safebooru"),
                        spider_args={"page_size": 5}, batch_items=3, throttle=False, quiet=True, timeout=120)  # fmt: skip
    assert report.written["post"] == POSTS
    return workdir


@pytest.fixture
def crawled(first_crawl, tmp_path) -> Path:
    workdir = tmp_path / "acg2vec-data"
    shutil.copytree(first_crawl, workdir)
    return workdir


@pytest.mark.integration
def test_every_damage_to_shards_and_images_is_named_set_aside_and_exactly_what_it_lost_is_fetched_again(crawled, site):
    raw = crawled / "raw" / "safebooru"
    before = sorted(ids_in(raw))
    manifest = manifest_of(raw)
    post_shards = [p for p in shard_files(raw) if p.name.startswith("post-")]
    assert len(post_shards) == 7 and all(manifest["shards"][p.name]["lines"] <= 3 for p in post_shards)
    for path in shard_files(raw):  # the ids noted while each shard was written are the ids it holds
        noted = gzip.decompress((raw / manifest["shards"][path.name]["ids"]).read_bytes()).decode().split()
        assert noted == ids_in_file(path), path.name
    # One shard per damage; one image file per damage among the posts of the two shards left whole.
    damaged = dict(zip(DAMAGES, post_shards[:5], strict=True))
    lost = {name: ids_in_file(path) for name, path in damaged.items()}
    kept_files = sorted({raw / row["file_path"] for p in post_shards[5:] for row in rows_in(p)})
    images = dict(zip(DAMAGES, kept_files, strict=True))
    for name, damage in DAMAGES.items():
        damage(damaged[name])
        damage(images[name])

    args = ["--workdir", str(crawled), "--quiet", "crawl", "safebooru", "--base-url", site.url_for("safebooru")]
    result = CliRunner().invoke(app, [*args, "--no-throttle"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())

    # Exactly what the damaged shards held was written again; every other item was skipped, no file fetched twice.
    run = manifest_of(raw)["runs"][-1]
    assert run["written"] == {"post": sum(len(v) for v in lost.values())}
    assert sorted(ids_in(raw)) == before
    assert run["bad_input"] == {"damaged-file": 10} and run["files_downloaded"] == 5
    assert dead_letter_reasons(raw, "safebooru").count("damaged-file") == 10
    problems = {
        "cut_short": "bytes where",
        "zero_bytes": "(0 bytes where",
        "random_middle": "SHA-256 mismatch",
        "wrong_kind": "bytes where",
        "older_format": "bytes where",
    }
    entries = {e["file"]: e for e in manifest_of(raw)["damaged"]}
    for name, path in damaged.items():
        entry = entries[path.name]
        sentence = entry["sentence"]
        assert sentence.startswith(f"{path} is damaged (") and problems[name] in sentence, sentence
        assert "this run of `acg2vec crawl safebooru` fetches them again" in sentence
        assert entry["items_lost"] == entry["restored"] == len(lost[name])
        assert not path.exists() and (raw / entry["moved_to"]).is_file() and (raw / entry["ids"]).is_file()
        assert f"{sentence} This run wrote {len(lost[name])} of its {len(lost[name])} items again." in output
    for name, path in images.items():
        assert hashlib.md5(path.read_bytes()).hexdigest() == path.stem, name  # downloaded again, whole
        entry = entries[path.name]
        assert entry["sentence"].startswith(f"{path} is damaged (its bytes hash to md5 ")
        assert (raw / entry["moved_to"]).is_file() and entry["sentence"] in output
    # The re-run leaves a manifest that knows every shard on disk again.
    assert sorted(manifest_of(raw)["shards"]) == [p.name for p in shard_files(raw)]


def rows_in(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def ids_in_file(path: Path) -> list[str]:
    return [row["source_id"] for row in rows_in(path)]


@pytest.mark.integration
def test_a_damaged_manifest_is_named_and_rebuilt_and_a_shard_it_no_longer_knows_is_checked_by_its_gzip_stream(
    crawled, site
):
    raw = crawled / "raw" / "safebooru"
    before = sorted(ids_in(raw))
    shard = next(p for p in shard_files(raw) if p.name.startswith("post-"))
    lost = ids_in_file(shard)
    DAMAGES["cut_short"](raw / "manifest.json")
    DAMAGES["random_middle"](shard)  # same size: without its record only the gzip CRC can tell
    report = run_spider("safebooru", workspace=Workspace.at(crawled), base_url=site.url_for("safebooru"),
                        throttle=False, quiet=True, timeout=120)  # fmt: skip

    assert report.bad_input == {"damaged-file": 2} and report.written == {"post": len(lost)}
    assert sorted(ids_in(raw)) == before
    manifest_entry, shard_entry = report.damaged
    assert manifest_entry["sentence"].startswith(f"{raw / 'manifest.json'} is damaged (not readable as JSON")
    assert "the record of the shards is rebuilt from the shards on disk" in manifest_entry["sentence"]
    assert (raw / manifest_entry["moved_to"]).read_bytes() != b""  # kept for a look
    assert shard_entry["file"] == shard.name and "gzip" in shard_entry["problem"]
    # Its ids file outlived the manifest: what it lost is known exactly.
    assert shard_entry["items_lost"] == shard_entry["restored"] == len(lost)
    manifest = manifest_of(raw)
    assert sorted(manifest["shards"]) == [p.name for p in shard_files(raw)]
    assert len(manifest["runs"]) == 1 and [e["file"] for e in manifest["damaged"]] == ["manifest.json", shard.name]


# -- the Bangumi Archive importer: the same checks in-process, every damage of the zoo --------------------------


@pytest.fixture
def imported(tmp_path) -> tuple[Workspace, Path]:
    ws = Workspace.at(tmp_path / "ws")
    dump = make_zip(tmp_path)
    import_archive(dump, workspace=ws)
    return ws, dump


@pytest.mark.unit
@pytest.mark.parametrize("damage", DAMAGES)
def test_a_reimport_restores_a_damaged_shard(imported, damage):
    ws, dump = imported
    raw = Path(ws.raw("bangumi"))
    works = sorted(w["source_id"] for w in read_kind(raw, "work"))
    (shard,) = raw.glob("work-*.jsonl.gz")
    DAMAGES[damage](shard)
    result = CliRunner().invoke(app, ["--workdir", str(ws.root), "crawl", "bangumi", "--archive", str(dump)])
    assert result.exit_code == 0, result.output
    assert sorted(w["source_id"] for w in read_kind(raw, "work")) == works
    run = manifest_of(raw)["runs"][-1]
    assert run["written"] == {"work": 2} and run["bad_input"]["damaged-file"] == 1
    (entry,) = run["damaged"]
    assert entry["sentence"].startswith(f"{shard} is damaged (") and entry["restored"] == entry["items_lost"] == 2
    assert f"`acg2vec crawl bangumi --archive {dump}` fetches them again" in entry["sentence"]
    assert entry["sentence"] in " ".join(result.output.split())
    assert dead_letter_reasons(raw, "bangumi-archive").count("damaged-file") == 1


@pytest.mark.unit
@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_manifest_is_one_sentence_and_rebuilt_from_the_shards_on_disk(imported, damage):
    ws, dump = imported
    raw = Path(ws.raw("bangumi"))
    records = manifest_of(raw)["shards"]
    DAMAGES[damage](raw / "manifest.json")
    result = CliRunner().invoke(app, ["--workdir", str(ws.root), "crawl", "bangumi", "--archive", str(dump)])
    assert result.exit_code == 0, result.output
    manifest = manifest_of(raw)
    # Counted, named, kept for a look; every shard recorded again with the same content; nothing re-imported.
    assert manifest["runs"][-1]["bad_input"]["damaged-file"] == 1 and manifest["runs"][-1]["written"] == {}
    (entry,) = manifest["damaged"]
    assert entry["file"] == "manifest.json" and (raw / entry["moved_to"]).is_file()
    assert entry["sentence"].startswith(f"{raw / 'manifest.json'} is damaged (") and entry["sentence"] in " ".join(
        result.output.split()
    )
    assert {n: (r["sha256"], r["lines"]) for n, r in manifest["shards"].items()} == {
        n: (r["sha256"], r["lines"]) for n, r in records.items()
    }


# -- writes: a shard is under its final name only when whole; a full disk is one sentence --------------------------


@pytest.mark.unit
def test_a_shard_is_renamed_into_place_when_closed_and_a_killed_runs_leftover_is_removed(tmp_path):
    raw = tmp_path / "raw" / "safebooru"
    final = raw / "post-r1-00001.jsonl.gz"
    storage = ShardStorage(str(final), run_id="r1")
    fh = storage.open(None)
    with gzip.GzipFile(fileobj=fh, mode="wb") as gz:
        gz.write(b'{"kind": "post", "source_id": "7"}\n')
    assert not final.exists() and [p.name for p in raw.iterdir()] == [f".{final.name}.tmp-{os.getpid()}"]
    storage.store(fh)
    assert shard_files(raw) == [final] and manifest_of(raw)["shards"][final.name]["lines"] == 1

    killed = ShardStorage(str(raw / "post-r2-00001.jsonl.gz"), run_id="r2").open(None)
    killed.write(b"\x1f\x8b half a shard")  # the crawl dies here: never renamed, never recorded
    killed.close()
    check = check_shards(raw, run_id="r3", command="acg2vec crawl safebooru")
    assert check.unfinished_removed == 1 and not check.errors and shard_files(raw) == [final]


@pytest.mark.unit
def test_a_full_disk_while_writing_a_shard_or_an_image_is_one_sentence_and_leaves_earlier_files_whole(tmp_path):
    from io import BytesIO

    from acg2vec.crawlers.pipelines import AtomicFilesStore

    with SmallDisk(tmp_path / "disk", size_mb=1) as disk:
        raw = disk.path / "raw" / "bangumi"
        raw.mkdir(parents=True)
        first = ShardFile(raw / "work-r1-00001.jsonl.gz", run_id="r1")
        first.write('{"kind": "work", "source_id": "1"}\n')
        first.close()
        store = AtomicFilesStore(str(raw))
        store.persist_file("files/ab/abc.jpg", BytesIO(b"old image"), None)
        disk.fill(leave=2048)
        try:
            with pytest.raises(DiskFullError, match="the disk is full"):
                store.persist_file("files/ab/abc.jpg", BytesIO(bytes(range(256)) * 64), None)
            with pytest.raises(DiskFullError, match=r"work-r1-00002\.jsonl\.gz failed because the disk is full"):
                second = ShardFile(raw / "work-r1-00002.jsonl.gz", run_id="r1")
                for i in range(2000):
                    second.write(json.dumps({"kind": "work", "source_id": str(i), "pad": "x" * 200 + str(i)}) + "\n")
                second.close()
        finally:
            disk.free()
        assert (raw / "files/ab/abc.jpg").read_bytes() == b"old image"
        assert shard_files(raw) == [raw / "work-r1-00001.jsonl.gz"]
        assert not check_shards(raw, run_id="r2", command="acg2vec crawl bangumi").errors


@pytest.mark.unit
def test_a_recorded_shard_that_is_gone_is_named_with_what_it_held_and_an_old_manifest_is_upgraded(tmp_path):
    raw = tmp_path / "raw" / "bangumi"
    raw.mkdir(parents=True)
    for n in (1, 2):
        shard = ShardFile(raw / f"work-r1-0000{n}.jsonl.gz", run_id="r1")
        shard.write(json.dumps({"kind": "work", "source_id": str(n)}) + "\n")
        shard.close()
    (raw / "work-r1-00002.jsonl.gz").unlink()
    check = check_shards(raw, run_id="r2", command="acg2vec crawl bangumi")
    (err,) = check.errors
    assert str(err).startswith(f"{raw / 'work-r1-00002.jsonl.gz'} is damaged (missing: the file is gone); ")
    assert "its 1 work items are gone with it" in str(err) and check.lost == [{"work\t2"}]

    # A manifest from before shard records (no "format"): its runs are kept, its shards recorded, no damage.
    old = {"source": "bangumi", "runs": [{"spider": "bangumi", "written": {"work": 1}}], "items": {"work": 1}}
    (raw / "manifest.json").write_text(json.dumps(old))
    check = check_shards(raw, run_id="r3", command="acg2vec crawl bangumi")
    manifest = manifest_of(raw)
    assert not check.errors and check.recorded == 1 and manifest["runs"] == old["runs"]
    assert (
        list(manifest["shards"]) == ["work-r1-00001.jsonl.gz"]
        and manifest["shards"]["work-r1-00001.jsonl.gz"]["run_id"] == "r1"
    )


@pytest.mark.slow
@pytest.mark.integration
def test_a_full_disk_stops_the_crawl_in_one_sentence_keeps_what_was_written_and_the_next_run_fills_the_gaps(tmp_path):
    from acg2vec.errors import UserError

    with SmallDisk(tmp_path / "disk", size_mb=2) as disk, start_sample_site(posts=30) as site:
        ws = Workspace.at(disk.path / "w")
        raw = Path(ws.raw("safebooru"))
        crawl = {"base_url": site.url_for("safebooru"), "throttle": False, "quiet": True, "timeout": 120}
        run_spider("safebooru", workspace=ws, spider_args={"limit": 5}, batch_items=3, **crawl)
        before = sorted(ids_in(raw))
        # Images of the sample site are 10-25 kB: the next run cannot store them all.
        disk.fill(leave=64 * 1024 if disk.mounted else 8 * 1024)
        try:
            with pytest.raises(UserError, match="failed because the disk is full") as refused:
                run_spider("safebooru", workspace=ws, batch_items=3, **crawl)
        finally:
            disk.free()
        assert refused.value.exit_code == DiskFullError.exit_code
        # What earlier runs wrote is whole and recorded; nothing cut sits under a final name.
        assert set(before) <= set(ids_in(raw))
        assert not check_shards(raw, run_id="look", command="acg2vec crawl safebooru").errors
        for row in (r for p in shard_files(raw) if p.name.startswith("post-") for r in rows_in(p)):
            assert hashlib.md5((raw / row["file_path"]).read_bytes()).hexdigest() == row["md5"]
        again = run_spider("safebooru", workspace=ws, batch_items=3, **crawl)
        assert again.finished and sorted(ids_in(raw)) == sorted(str(p.id) for p in site.world.posts)


@pytest.mark.unit
def test_a_full_disk_under_the_feed_exporter_or_the_dead_letters_stops_the_crawl_once(tmp_path):
    from scrapy import Spider
    from scrapy.utils.test import get_crawler

    from acg2vec.crawlers.feeds import DISK_FULL_STAT, ItemJsonLinesExporter, bookkeeping
    from acg2vec.crawlers.items import Work

    with SmallDisk(tmp_path / "disk", size_mb=1) as disk:
        settings = {"ACG2VEC_WORKSPACE": str(disk.path / "w"), "ACG2VEC_SOURCE": "bangumi"}
        crawler = get_crawler(Spider, settings)
        book = bookkeeping(crawler)
        shard = open(disk.path / "shard.jsonl", "wb", buffering=0)  # noqa: SIM115 - closed below
        exporter = ItemJsonLinesExporter.from_crawler(crawler, shard)
        disk.fill(leave=4096)
        try:
            for i in range(200):  # some 20 kB of lines: past what is left
                exporter.export_item(Work(source="bangumi", source_id=str(i), titles={"ja": "x" * 80}))
            at_feed = crawler.stats.get_value(DISK_FULL_STAT)
            crawler.stats.set_value(DISK_FULL_STAT, None)
            for i in range(100):  # 150 kB of gzip: random text does not compress away
                book.add("bad-json", os.urandom(1000).hex(), detail=str(i))
            at_dead_letters = crawler.stats.get_value(DISK_FULL_STAT)
        finally:
            disk.free()
            shard.close()
        with contextlib.suppress(OSError):
            book.dead_letters.close()
    assert at_feed == str(disk.path / "w" / "raw" / "bangumi")
    assert at_dead_letters == str(book.dead_letters.path)
    assert crawler.stats.get_value("acg2vec/bad_input/bad-json") == 100  # counted even when it could not be written
