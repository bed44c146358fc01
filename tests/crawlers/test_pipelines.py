"""Item pipelines on a real Scrapy crawler: validation, already-have skipping, the booru files pipeline."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path

import pytest
from PIL import Image
from scrapy import Spider
from scrapy.exceptions import DropItem
from scrapy.http import Request, Response
from scrapy.pipelines.media import FileException
from scrapy.utils.test import get_crawler

from acg2vec.crawlers.feeds import bookkeeping
from acg2vec.crawlers.items import Post, Tag, TagTranslation
from acg2vec.crawlers.pipelines import (
    AlreadyHavePipeline,
    BooruFilesPipeline,
    ValidationPipeline,
    existing_keys,
    file_body_problem,
    file_on_disk,
    image_format,
    sanity_problem,
)

pytestmark = pytest.mark.unit

MD5 = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def crawler_for(workdir: Path, **settings):
    return get_crawler(Spider, {"ACG2VEC_WORKSPACE": str(workdir), "ACG2VEC_SOURCE": "safebooru", **settings})


def post(**kwargs) -> Post:
    fields = {"source": "safebooru", "source_id": "1", "id": 1, "md5": MD5, "tags": ["1girl"],
              "file_url": "http://127.0.0.1/images/1/x.png"}  # fmt: skip
    fields.update(kwargs)
    return Post(**fields)


def dead_letters(workdir: Path) -> list[dict]:
    path = workdir / "raw" / "safebooru" / "dead_letters" / "safebooru.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (post(id=0), "bad-id"),
        (post(md5="not-an-md5"), "bad-md5"),
        (post(tags=[]), "no-tags"),
        (post(rating="safe"), "bad-rating"),
        (post(width=-1), "bad-size"),
        (post(source_id=" "), "missing-source-id"),
        (post(score="high"), "wrong-type"),
        (post(tags="1girl solo"), "wrong-type"),
        (Tag(source="safebooru", source_id="x", name=" "), "empty-name"),
        (Tag(source="safebooru", source_id="x", name="x", category="weird"), "bad-category"),
        (TagTranslation(source="pixiv", source_id="t", tag=""), "empty-tag"),
    ],
)
def test_validation_drops_with_a_named_reason_counted_and_dead_lettered(workdir, item, reason):
    crawler = crawler_for(workdir)
    pipe = ValidationPipeline.from_crawler(crawler)
    with pytest.raises(DropItem, match=reason):
        pipe.process_item(item)
    bookkeeping(crawler).dead_letters.close()
    assert crawler.stats.get_value(f"acg2vec/dropped/{reason}") == 1
    (letter,) = dead_letters(workdir)
    assert letter["reason"] == reason
    assert letter["record"]["data"]["kind"] == item.kind


def test_validation_returns_the_rebuilt_item(workdir):
    pipe = ValidationPipeline.from_crawler(crawler_for(workdir))
    item = post(score="12")  # a numeric string is converted by the item contract
    checked = pipe.process_item(item)
    assert checked.score == 12 and checked.id == 1 and isinstance(checked, Post)
    assert sanity_problem(checked) is None


def write_shard(path: Path, records: list[dict], *, cut: bool = False) -> None:
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())
    path.write_bytes(data[: len(data) // 2] if cut else data)


def test_already_have_skips_items_of_earlier_runs_and_of_this_run(workdir):
    raw = workdir / "raw" / "safebooru"
    raw.mkdir(parents=True)
    write_shard(
        raw / "post-run1-00001.jsonl.gz", [{"kind": "post", "source_id": "1"}, {"kind": "tag", "source_id": "1"}]
    )
    (raw / "dead_letters").mkdir()
    write_shard(raw / "dead_letters" / "safebooru.jsonl.gz", [{"kind": "post", "source_id": "2"}])
    write_shard(raw / "dead-letters.jsonl.gz", [{"kind": "post", "source_id": "2"}])  # earlier versions' place
    crawler = crawler_for(workdir)
    pipe = AlreadyHavePipeline.from_crawler(crawler)
    pipe.open_spider()
    with pytest.raises(DropItem):
        pipe.process_item(post(source_id="1"))
    assert pipe.process_item(post(source_id="2", id=2)).id == 2  # dead letters are not items we have
    with pytest.raises(DropItem):
        pipe.process_item(post(source_id="2", id=2))
    assert crawler.stats.get_value("acg2vec/skipped/already-have") == 2


def test_existing_keys_reads_what_a_cut_shard_holds(workdir):
    many = [{"kind": "post", "source_id": str(i), "pad": "x" * 50} for i in range(200)]
    write_shard(workdir / "post-a-00001.jsonl.gz", many, cut=True)
    keys = existing_keys(workdir)
    assert 0 < len(keys) < 200
    assert "post\t0" in keys


def png(colour=(255, 0, 0)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), colour).save(buf, "PNG")
    return buf.getvalue()


def test_image_format_tells_images_from_html():
    assert image_format(png()) == "PNG"
    assert image_format(b"<html>hotlinking is not allowed</html>") is None
    assert image_format(b"") is None


def files_pipeline(workdir: Path, **settings) -> BooruFilesPipeline:
    crawler = crawler_for(workdir, FILES_STORE=str(workdir / "raw" / "safebooru"), **settings)
    return BooruFilesPipeline.from_crawler(crawler)


def test_files_pipeline_requests_the_chosen_rendition_and_names_files_by_md5(workdir):
    item = post(file_url="http://h/images/1/a.PNG", sample_url="http://h/samples/1/sample_a.jpg")
    (req,) = files_pipeline(workdir).get_media_requests(item, None)
    assert req.url == "http://h/images/1/a.PNG" and req.meta["acg2vec_expected_md5"] == MD5
    pipe = files_pipeline(workdir, ACG2VEC_FILES_RENDITION="sample")
    (req,) = pipe.get_media_requests(item, None)
    assert req.url == "http://h/samples/1/sample_a.jpg" and req.meta["acg2vec_expected_md5"] is None
    assert pipe.file_path(req, item=item) == f"files/0a/{MD5}.jpg"
    assert pipe.file_path(Request("http://h/images/1/a.PNG"), item=item) == f"files/0a/{MD5}.png"
    assert pipe.get_media_requests(post(md5=None), None) == []
    assert pipe.crawler.stats.get_value("acg2vec/posts_without_file_url") == 1
    assert pipe.get_media_requests(Tag(source="s", source_id="t", name="t"), None) == []


def test_files_pipeline_is_off_with_no_files(workdir):
    from scrapy.exceptions import NotConfigured

    with pytest.raises(NotConfigured):
        files_pipeline(workdir, ACG2VEC_DOWNLOAD_FILES=False)


def test_files_pipeline_stores_a_checked_file_and_refuses_a_bad_one(workdir):
    import asyncio

    pipe = files_pipeline(workdir)
    good = png()
    item = post(md5=hashlib.md5(good).hexdigest(), file_url="http://h/images/1/a.png")

    def download(body: bytes, expected: str | None):
        req = Request("http://h/images/1/a.png", meta={"acg2vec_expected_md5": expected})
        resp = Response(req.url, body=body, request=req)
        return asyncio.run(pipe.file_downloaded(resp, req, None, item=item))

    assert download(good, item.md5) == item.md5
    stored = workdir / "raw" / "safebooru" / "files" / item.md5[:2] / f"{item.md5}.png"
    assert stored.read_bytes() == good
    with pytest.raises(FileException, match="not-an-image"):
        download(b"<html>not an image</html>", None)
    with pytest.raises(FileException, match="checksum-mismatch"):
        download(png((0, 255, 0)), item.md5)


def test_files_pipeline_drops_or_keeps_a_post_whose_file_failed(workdir):
    from twisted.python.failure import Failure

    failure = Failure(FileException("not-an-image"))
    pipe = files_pipeline(workdir)
    # By default the post waits for its file: dropped now, fetched again by the next run.
    with pytest.raises(DropItem, match="no-file"):
        pipe.item_completed([(False, failure)], post(), None)
    assert pipe.crawler.stats.get_value("acg2vec/dropped/no-file") == 1
    assert pipe.crawler.stats.get_value("acg2vec/bad_input/file-not-an-image") == 1

    pipe = files_pipeline(workdir, ACG2VEC_DROP_POST_WITHOUT_FILE=False)
    kept = pipe.item_completed([(False, failure)], post(), None)
    assert kept.file_path is None and kept.files == []

    ok = {"url": "u", "path": f"files/0a/{MD5}.png", "checksum": MD5, "status": "downloaded"}
    done = pipe.item_completed([(True, ok)], post(), None)
    assert (done.file_path, done.file_checksum) == (f"files/0a/{MD5}.png", MD5)


def test_file_body_problem_names_html_and_cut_bodies():
    good = png()
    md5 = hashlib.md5(good).hexdigest()
    assert file_body_problem(good, md5) is None and file_body_problem(good, None) is None
    assert file_body_problem(b"<!DOCTYPE html><html>maintenance</html>", md5) == "not-an-image"
    big = io.BytesIO()
    Image.effect_noise((64, 64), 40).save(big, "PNG")
    body = big.getvalue()
    cut = body[: len(body) // 2]  # the header still reads as a PNG: only the md5 tells
    assert file_body_problem(cut, hashlib.md5(body).hexdigest()) == "checksum-mismatch"


def test_a_file_on_disk_counts_only_with_its_md5(workdir):
    import asyncio

    pipe = files_pipeline(workdir)
    good = png()
    item = post(md5=hashlib.md5(good).hexdigest(), file_url="http://h/images/1/a.png")
    (req,) = pipe.get_media_requests(item, None)
    assert asyncio.run(pipe.media_to_download(req, None, item=item)) is None  # nothing on disk
    stored = workdir / "raw" / "safebooru" / pipe.file_path(req, item=item)
    stored.parent.mkdir(parents=True)
    stored.write_bytes(good[:40])  # cut short by an earlier kill
    assert asyncio.run(pipe.media_to_download(req, None, item=item)) is None
    # Damaged: counted under damaged-file, dead-lettered, set aside under damaged/ and downloaded again.
    assert pipe.crawler.stats.get_value("acg2vec/bad_input/damaged-file") == 1
    raw = workdir / "raw" / "safebooru"
    assert not stored.exists() and (raw / "damaged" / pipe.file_path(req, item=item)).read_bytes() == good[:40]
    (entry,) = bookkeeping(pipe.crawler).damaged
    assert (
        entry["sentence"].startswith(f"{stored} is damaged (its bytes hash to md5 ") and "post 1" in entry["sentence"]
    )
    bookkeeping(pipe.crawler).dead_letters.close()
    assert [x["reason"] for x in dead_letters(workdir)] == ["damaged-file"]
    stored.write_bytes(good)
    found = asyncio.run(pipe.media_to_download(req, None, item=item))
    assert found["status"] == "uptodate" and found["checksum"] == item.md5
    assert file_on_disk(workdir / "raw" / "safebooru", pipe.file_path(req, item=item), item.md5)
    assert not file_on_disk(workdir / "raw" / "safebooru", pipe.file_path(req, item=item), MD5)


def test_already_have_sends_a_post_without_its_file_on_disk_to_the_files_pipeline(workdir):
    good = png()
    md5 = hashlib.md5(good).hexdigest()
    raw = workdir / "raw" / "safebooru"
    raw.mkdir(parents=True)
    rows = [
        {"kind": "post", "source_id": "1", "file_path": f"files/{md5[:2]}/{md5}.png"},  # its file is missing
        {"kind": "post", "source_id": "2", "file_path": f"files/{md5[:2]}/{md5}.png"},
        {"kind": "post", "source_id": "3", "file_path": None},  # an earlier run kept it without its file
    ]
    with gzip.open(raw / "post-r1-00001.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    crawler = crawler_for(workdir, FILES_STORE=str(raw))
    have = AlreadyHavePipeline.from_crawler(crawler)
    have.open_spider()
    first = post(source_id="1", id=1, md5=md5, file_url="http://h/images/1/a.png")
    assert have.process_item(first) is first and crawler.acg2vec_recheck == {"post\t1": rows[0]["file_path"]}
    # Once the file is on disk (md5 right), the post is simply skipped.
    (raw / rows[1]["file_path"]).parent.mkdir(parents=True)
    (raw / rows[1]["file_path"]).write_bytes(good)
    with pytest.raises(DropItem, match="already have"):
        have.process_item(post(source_id="2", id=2, md5=md5, file_url="http://h/images/1/a.png"))
    third = post(source_id="3", id=3, md5=MD5, file_url="http://h/images/1/b.png")
    assert have.process_item(third) is third

    # The files pipeline then skips a repaired post whose line names its file, and writes the one that did not.
    pipe = BooruFilesPipeline.from_crawler(crawler)
    ok = {"url": "u", "path": rows[0]["file_path"], "checksum": md5, "status": "downloaded"}
    with pytest.raises(DropItem, match="already have"):
        pipe.item_completed([(True, ok)], first, None)
    assert crawler.stats.get_value("acg2vec/files/repaired") == 1
    ok3 = {"url": "u", "path": f"files/0a/{MD5}.png", "checksum": MD5, "status": "downloaded"}
    assert pipe.item_completed([(True, ok3)], third, None).file_path == f"files/0a/{MD5}.png"
    assert crawler.stats.get_value("acg2vec/skipped/already-have") == 2


def test_a_damaged_sample_rendition_is_found_by_the_md5_it_was_stored_with_and_fetched_again(workdir):
    import asyncio

    from tests.damage import DAMAGES

    sample = png()
    stored_md5 = hashlib.md5(sample).hexdigest()  # a sample is re-encoded: not the post's md5
    raw = workdir / "raw" / "safebooru"
    row = {"kind": "post", "source_id": "1", "file_path": f"files/{MD5[:2]}/{MD5}.png", "file_checksum": stored_md5}
    raw.mkdir(parents=True)
    with gzip.open(raw / "post-r1-00001.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
    (raw / row["file_path"]).parent.mkdir(parents=True)
    crawler = crawler_for(workdir, FILES_STORE=str(raw), ACG2VEC_FILES_RENDITION="sample")
    have = AlreadyHavePipeline.from_crawler(crawler)
    have.open_spider()
    item = post(file_url="http://h/images/1/a.png", sample_url="http://h/samples/1/sample_a.png")
    for damage in ("none", *DAMAGES):
        (raw / row["file_path"]).write_bytes(sample)
        if damage != "none":
            DAMAGES[damage](raw / row["file_path"])
        have.seen, have.file_paths, have.checksums = (
            {"post\t1"},
            {"post\t1": row["file_path"]},
            {"post\t1": stored_md5},
        )
        if damage == "none":
            with pytest.raises(DropItem, match="already have"):
                have.process_item(item)
            continue
        assert have.process_item(item) is item, damage  # sent on to the files pipeline
        pipe = BooruFilesPipeline.from_crawler(crawler)
        (req,) = pipe.get_media_requests(item, None)
        assert req.meta["acg2vec_expected_md5"] is None and req.meta["acg2vec_on_disk_md5"] == stored_md5
        assert asyncio.run(pipe.media_to_download(req, None, item=item)) is None, damage  # downloaded again
        assert not (raw / row["file_path"]).exists()
    assert crawler.stats.get_value("acg2vec/bad_input/damaged-file") == len(DAMAGES)
    assert len(list((raw / "damaged" / "files").rglob("*.png"))) == len(DAMAGES)


def test_a_raw_line_that_is_not_utf8_is_dead_lettered_not_a_crash(workdir):
    raw = workdir / "raw" / "safebooru"
    raw.mkdir(parents=True)
    with gzip.open(raw / "post-r1-00001.jsonl.gz", "wb") as fh:
        fh.write(b'{"kind": "post", "source_id": "1"}\n')
        fh.write(b'{"kind": "post", "source_id": "2", "tags": ["\xff\xfe"]}\n')
        fh.write(b"not json\n")
        fh.write(b'{"kind": "post", "source_id": "3"}\n')
    crawler = crawler_for(workdir)
    have = AlreadyHavePipeline.from_crawler(crawler)
    have.open_spider()
    bookkeeping(crawler).dead_letters.close()
    assert have.seen == {"post\t1", "post\t3"}
    assert crawler.stats.get_value("acg2vec/bad_input/raw-undecodable-utf8") == 1
    assert crawler.stats.get_value("acg2vec/bad_input/raw-bad-json") == 1
    letters = dead_letters(workdir)
    assert sorted(x["reason"] for x in letters) == ["raw-bad-json", "raw-undecodable-utf8"]
    assert "post-r1-00001.jsonl.gz:2" in next(x for x in letters if x["reason"] == "raw-undecodable-utf8")["detail"]
