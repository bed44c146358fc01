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
    path = workdir / "raw" / "safebooru" / "dead-letters.jsonl.gz"
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
    write_shard(raw / "dead-letters.jsonl.gz", [{"kind": "post", "source_id": "2"}])
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


def test_files_pipeline_keeps_or_drops_a_post_whose_file_failed(workdir):
    from twisted.python.failure import Failure

    failure = Failure(FileException("not-an-image"))
    pipe = files_pipeline(workdir)
    kept = pipe.item_completed([(False, failure)], post(), None)
    assert kept.file_path is None and kept.files == []
    assert pipe.crawler.stats.get_value("acg2vec/bad_input/file-not-an-image") == 1

    pipe = files_pipeline(workdir, ACG2VEC_DROP_POST_WITHOUT_FILE=True)
    with pytest.raises(DropItem, match="no-file"):
        pipe.item_completed([(False, failure)], post(), None)
    assert pipe.crawler.stats.get_value("acg2vec/dropped/no-file") == 1

    ok = {"url": "u", "path": f"files/0a/{MD5}.png", "checksum": MD5, "status": "downloaded"}
    done = pipe.item_completed([(True, ok)], post(), None)
    assert (done.file_path, done.file_checksum) == (f"files/0a/{MD5}.png", MD5)
