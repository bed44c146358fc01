"""Item pipelines: each does one job and returns the item or raises ``DropItem`` with a named reason.

1. :class:`ValidationPipeline` — the item must survive ``item_from_dict(item_to_dict(item))`` and basic sanity
   checks; a rejected item is counted under ``acg2vec/dropped/<reason>`` and dead-lettered.
2. :class:`AlreadyHavePipeline` — incremental re-crawls: skips items whose (kind, source_id) is already in
   ``raw/<source>/`` from an earlier run (or earlier in this run), counted under ``acg2vec/skipped/already-have``.
3. :class:`BooruFilesPipeline` — Scrapy's FilesPipeline for booru posts: ``files/<md5[:2]>/<md5>.<ext>``,
   the original (md5 checked against the post's) or the sample rendition. A file that is not an image, does
   not match its md5 or fails to download is never stored; it is counted under ``acg2vec/bad_input/<reason>``
   and dead-lettered, and the post is kept without ``file_path`` (or dropped with
   ``ACG2VEC_DROP_POST_WITHOUT_FILE = True``, counted under ``acg2vec/dropped/no-file``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import zlib
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn
from urllib.parse import urlparse

from scrapy.exceptions import DropItem, NotConfigured
from scrapy.http import Request
from scrapy.http.request import NO_CALLBACK
from scrapy.pipelines.files import FilesPipeline
from scrapy.pipelines.media import FileException

from acg2vec.crawlers.feeds import DEAD_LETTER_FILE, DROPPED, SKIPPED, bookkeeping, raw_dir_of
from acg2vec.crawlers.items import (
    RATINGS,
    TAG_CATEGORIES,
    Illust,
    Item,
    ItemError,
    Post,
    Tag,
    TagTranslation,
    item_from_dict,
    item_to_dict,
)

logger = logging.getLogger(__name__)

_MD5 = re.compile(r"^[0-9a-f]{32}$")
IMAGE_EXTENSIONS = {"jpg", "jpeg", "png", "gif", "webp", "bmp"}


def sanity_problem(item: Item) -> str | None:
    """The named reason why a well-typed item still makes no sense, or None."""
    if not str(item.source_id).strip():
        return "missing-source-id"
    if isinstance(item, Post):
        if item.id <= 0:
            return "bad-id"
        if item.md5 is not None and not _MD5.match(item.md5):
            return "bad-md5"
        if not item.tags:
            return "no-tags"
        if item.rating is not None and item.rating not in RATINGS:
            return "bad-rating"
        if (item.width is not None and item.width < 0) or (item.height is not None and item.height < 0):
            return "bad-size"
    elif isinstance(item, Tag):
        if not item.name.strip():
            return "empty-name"
        if item.category is not None and item.category not in TAG_CATEGORIES:
            return "bad-category"
    elif isinstance(item, TagTranslation):
        if not item.tag.strip():
            return "empty-tag"
    elif isinstance(item, Illust) and item.id <= 0:
        return "bad-id"
    return None


class ValidationPipeline:
    """Rebuilds each item through the item contract; drops what does not fit, with a named reason."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> ValidationPipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Item:
        if not isinstance(item, Item):
            self._drop("not-an-item", repr(item)[:2000], url=None, detail=type(item).__name__)
        record = item_to_dict(item)
        try:
            checked = item_from_dict(record)
        except ItemError as err:
            self._drop(err.reason, record, url=item.url, detail=err.detail)
        problem = sanity_problem(checked)
        if problem:
            self._drop(problem, record, url=item.url, detail=f"{item.kind} {item.source_id}")
        return checked

    def _drop(self, reason: str, record: Any, *, url: str | None, detail: str) -> NoReturn:
        bookkeeping(self.crawler).add(reason, record, url=url, detail=detail, prefix=DROPPED)
        raise DropItem(f"{reason}: {detail} <{url}>")


def existing_keys(raw_dir: str | Path) -> set[str]:
    """``kind \\t source_id`` of every item in the jsonl.gz shards of ``raw_dir`` (unreadable tails are skipped)."""
    keys: set[str] = set()
    root = Path(raw_dir)
    if not root.is_dir():
        return keys
    for path in sorted(root.glob("*.jsonl.gz")):
        if path.name == DEAD_LETTER_FILE:
            continue
        try:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                for line in fh:
                    try:
                        data = json.loads(line)
                        keys.add(f"{data['kind']}\t{data['source_id']}")
                    except (ValueError, KeyError, TypeError):
                        continue
        except (OSError, EOFError, zlib.error) as err:
            # A shard cut short by a hard kill: what was read before the cut still counts.
            logger.warning("shard %s ends early (%s); using the items before the cut", path, err)
    return keys


class AlreadyHavePipeline:
    """Skips items already written to ``raw/<source>/`` (by an earlier run, or earlier in this one)."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.enabled = crawler.settings.getbool("ACG2VEC_SKIP_EXISTING", True)
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Any) -> AlreadyHavePipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        raw_dir = raw_dir_of(self.crawler.settings)
        if self.enabled and raw_dir:
            self.seen = existing_keys(raw_dir)
            if self.seen:
                logger.info("%d items already in %s will be skipped", len(self.seen), raw_dir)

    def process_item(self, item: Item) -> Item:
        key = f"{item.kind}\t{item.source_id}"
        if key in self.seen:
            self.crawler.stats.inc_value(SKIPPED + "already-have")
            raise DropItem(f"already have {item.kind} {item.source_id}", log_level="DEBUG")
        self.seen.add(key)
        return item


def file_extension(url: str, default: str = "jpg") -> str:
    """The lower-case extension of a file URL's path (``jpeg`` kept as the site names it)."""
    suffix = PurePosixPath(urlparse(url).path).suffix.lower().lstrip(".")
    return suffix if suffix in IMAGE_EXTENSIONS else default


def image_format(body: bytes) -> str | None:
    """The image format Pillow reads from the header of ``body``, or None when it is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(BytesIO(body)) as img:
            return img.format
    except (UnidentifiedImageError, OSError, ValueError):
        return None


class BooruFilesPipeline(FilesPipeline):
    """Downloads each post's image into ``files/<md5[:2]>/<md5>.<ext>`` under ``raw/<source>/``."""

    @classmethod
    def from_crawler(cls, crawler: Any) -> BooruFilesPipeline:
        if not crawler.settings.getbool("ACG2VEC_DOWNLOAD_FILES", True) or not crawler.settings.get("FILES_STORE"):
            raise NotConfigured("file downloads are off")
        pipe = super().from_crawler(crawler)
        pipe.rendition = crawler.settings.get("ACG2VEC_FILES_RENDITION", "original")
        if pipe.rendition not in ("original", "sample"):
            raise NotConfigured(f"unknown ACG2VEC_FILES_RENDITION {pipe.rendition!r}")
        pipe.drop_without_file = crawler.settings.getbool("ACG2VEC_DROP_POST_WITHOUT_FILE", False)
        return pipe

    def get_media_requests(self, item: Any, info: Any) -> list[Request]:
        if not isinstance(item, Post):
            return []
        url = item.file_url
        expected = item.md5
        if self.rendition == "sample" and item.sample_url and item.sample_url != item.file_url:
            # A sample is re-encoded by the site: no published checksum to compare with.
            url, expected = item.sample_url, None
        if not url or not item.md5:
            # Some sites hide the file of a post from anonymous users; the post is still worth its tags.
            self.crawler.stats.inc_value("acg2vec/posts_without_file_url")
            return []
        item.file_urls = [url]
        return [Request(url, callback=NO_CALLBACK, meta={"acg2vec_expected_md5": expected})]

    def file_path(self, request: Request, response: Any = None, info: Any = None, *, item: Any = None) -> str:
        md5 = item.md5 if isinstance(item, Post) and item.md5 else hashlib.sha1(request.url.encode()).hexdigest()
        return f"files/{md5[:2]}/{md5}.{file_extension(request.url)}"

    async def file_downloaded(self, response: Any, request: Request, info: Any, *, item: Any = None) -> str:
        body = response.body
        if image_format(body) is None:
            raise FileException("not-an-image")
        checksum = hashlib.md5(body).hexdigest()  # noqa: S324 - the sites publish md5
        expected = request.meta.get("acg2vec_expected_md5")
        if expected and checksum != expected:
            raise FileException("checksum-mismatch")
        path = self.file_path(request, response=response, info=info, item=item)
        await _maybe_await(self.store.persist_file(path, BytesIO(body), info))
        return checksum

    def media_failed(self, failure: Any, request: Request, info: Any) -> Any:
        # A named FileException raised while checking the file keeps its name (the base class would replace
        # it with a bare one), so item_completed can count it under that reason.
        if isinstance(failure.value, FileException) and str(failure.value):
            raise failure.value
        return super().media_failed(failure, request, info)

    def item_completed(self, results: list[tuple[bool, Any]], item: Any, info: Any) -> Any:
        if not isinstance(item, Post):
            return item
        item.files = [x for ok, x in results if ok]
        failures = [x for ok, x in results if not ok]
        if item.files:
            item.file_path = item.files[0]["path"]
            item.file_checksum = item.files[0]["checksum"]
        book = bookkeeping(self.crawler)
        for failure in failures:
            message = str(getattr(failure, "value", failure)) or "download-error"
            reason = "file-" + (message if re.fullmatch(r"[a-z-]+", message) else "download-error")
            book.add(reason, {"post": item.id, "file_urls": item.file_urls}, url=item.url, detail=message[:200])
        if failures and self.drop_without_file:
            book.add("no-file", item_to_dict(item), url=item.url, detail=f"post {item.id}", prefix=DROPPED)
            raise DropItem(f"no-file: post {item.id}")
        return item


async def _maybe_await(value: Any) -> Any:
    from scrapy.utils.defer import ensure_awaitable

    if value is None:
        return None
    return await ensure_awaitable(value)


__all__ = [
    "AlreadyHavePipeline",
    "BooruFilesPipeline",
    "ValidationPipeline",
    "existing_keys",
    "image_format",
    "sanity_problem",
]
