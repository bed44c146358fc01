"""Item pipelines: each does one job and returns the item or raises ``DropItem`` with a named reason.

1. :class:`ValidationPipeline` — the item must survive ``item_from_dict(item_to_dict(item))`` and basic sanity
   checks; a rejected item is counted under ``acg2vec/dropped/<reason>`` and dead-lettered.
2. :class:`AlreadyHavePipeline` — incremental re-crawls: skips items whose (kind, source_id) is already in
   ``raw/<source>/`` from an earlier run (or earlier in this run), counted under ``acg2vec/skipped/already-have``.
   A post it already has whose file is missing on disk (or fails its md5 there) goes on to the files pipeline
   first, so a re-run repairs what an earlier run missed; a raw line that is not UTF-8 or not JSON is
   dead-lettered (``raw-undecodable-utf8``, ``raw-bad-json``), never a crash.
3. :class:`BooruFilesPipeline` — Scrapy's FilesPipeline for booru posts: ``files/<md5[:2]>/<md5>.<ext>``,
   the original (md5 checked against the post's) or the sample rendition. A body that is not an image or does
   not match its md5 is retried with backoff like an HTTP error (see
   :class:`~acg2vec.crawlers.middlewares.BackoffRetryMiddleware`); a file that still fails is never stored: it is
   counted under ``acg2vec/bad_input/<reason>`` and dead-lettered, and the post is dropped (counted under
   ``acg2vec/dropped/no-file``) so that the next run fetches it again; with
   ``ACG2VEC_DROP_POST_WITHOUT_FILE = False`` it is kept without ``file_path`` instead. A file already on disk
   counts only when its md5 is right; the crawl's ``acg2vec/files/*`` counters say what is on disk.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn
from urllib.parse import urlparse

from scrapy.exceptions import DropItem, NotConfigured
from scrapy.http import Request
from scrapy.http.request import NO_CALLBACK
from scrapy.pipelines.files import FilesPipeline, FSFilesStore
from scrapy.pipelines.media import FileException
from twisted.python.failure import Failure

from acg2vec.crawlers.feeds import (
    BAD_INPUT,
    DROPPED,
    SKIPPED,
    bookkeeping,
    move_aside,
    raw_dir_of,
    stop_for_full_disk,
)
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
from acg2vec.crawlers.shards import shard_files
from acg2vec.integrity import DamagedFileError, DiskFullError, atomic_write_bytes

logger = logging.getLogger(__name__)

_MD5 = re.compile(r"^[0-9a-f]{32}$")
IMAGE_EXTENSIONS = {"jpg", "jpeg", "png", "gif", "webp", "bmp"}
# Request meta of a file download: the md5 the body must have (None for a sample rendition).
EXPECTED_MD5_META = "acg2vec_expected_md5"
# ... and the md5 a copy already on disk must have (a re-checked sample: the md5 it had when it was stored).
ON_DISK_MD5_META = "acg2vec_on_disk_md5"
FILE_META = "acg2vec_file"


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


def scan_raw(
    raw_dir: str | Path,
    on_bad_line: Callable[[str, bytes, str], None] | None = None,
    *,
    checksums: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """``kind \\t source_id`` -> the item's ``file_path`` (None when it has none) for every item in ``raw_dir``;
    ``checksums``, when given, gets each item's ``file_checksum`` (the md5 of the file as it was stored).

    Lines are decoded one at a time: a line that is not UTF-8 or not a JSON item is passed to ``on_bad_line``
    (reason, raw bytes, detail) and skipped; a shard cut short by a hard kill counts what was read before the cut.
    """
    found: dict[str, Any] = {}
    for path in shard_files(raw_dir):  # dead letters live in dead_letters/, not among the shards
        try:
            with gzip.open(path, "rb") as fh:
                for number, raw in enumerate(fh, start=1):
                    where = f"{path.name}:{number}"
                    try:
                        data = json.loads(raw.decode("utf-8"))
                        found[f"{data['kind']}\t{data['source_id']}"] = data.get("file_path")
                        if checksums is not None and data.get("file_checksum"):
                            checksums[f"{data['kind']}\t{data['source_id']}"] = data["file_checksum"]
                    except UnicodeDecodeError as err:
                        if on_bad_line is not None:
                            on_bad_line("raw-undecodable-utf8", raw, f"{where}: {err}")
                    except (ValueError, KeyError, TypeError, AttributeError) as err:
                        if raw.strip() and on_bad_line is not None:
                            on_bad_line("raw-bad-json", raw, f"{where}: {err!r}"[:300])
        except (OSError, EOFError, zlib.error) as err:
            # check_shards moved damaged shards aside before this scan; one damaged since is used up to the damage.
            logger.warning("shard %s ends early (%s); using the items before the cut", path, err)
    return found


def existing_keys(raw_dir: str | Path, on_bad_line: Callable[[str, bytes, str], None] | None = None) -> set[str]:
    """``kind \\t source_id`` of every item in the jsonl.gz shards of ``raw_dir`` (see :func:`scan_raw`)."""
    return set(scan_raw(raw_dir, on_bad_line))


def file_on_disk(raw_dir: str | Path, relative: str, md5: str | None) -> bool:
    """Whether ``raw_dir/relative`` exists and, when ``md5`` is given, has that md5."""
    path = Path(raw_dir, relative)
    if not path.is_file():
        return False
    if not md5:
        return True
    digest = hashlib.md5()  # noqa: S324 - the sites publish md5
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == md5


class AlreadyHavePipeline:
    """Skips items already written to ``raw/<source>/`` (by an earlier run, or earlier in this one).

    With file downloads on, a post it already has goes on to the files pipeline when its file is not on disk
    with the right md5; that pipeline fetches the file and then skips the post (or writes it again when the
    earlier line had no ``file_path``). Such posts are held in ``crawler.acg2vec_recheck``.
    """

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.enabled = crawler.settings.getbool("ACG2VEC_SKIP_EXISTING", True)
        self.check_files = crawler.settings.getbool("ACG2VEC_DOWNLOAD_FILES", True) and bool(
            crawler.settings.get("FILES_STORE")
        )
        self.seen: set[str] = set()
        self.file_paths: dict[str, str | None] = {}
        self.checksums: dict[str, str | None] = {}  # the md5 each post's file had when it was stored
        crawler.acg2vec_recheck = {}
        crawler.acg2vec_recheck_md5 = {}  # what the files pipeline checks a re-checked file on disk against

    @classmethod
    def from_crawler(cls, crawler: Any) -> AlreadyHavePipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        raw_dir = raw_dir_of(self.crawler.settings)
        if self.enabled and raw_dir:
            book = bookkeeping(self.crawler)

            def bad_line(reason: str, raw: bytes, detail: str) -> None:
                book.add(reason, raw, url=None, detail=detail, prefix=BAD_INPUT)

            found = scan_raw(raw_dir, bad_line, checksums=self.checksums)
            self.seen = set(found)
            self.file_paths = {k: v for k, v in found.items() if k.startswith("post\t")}
            if self.seen:
                logger.info("%d items already in %s will be skipped", len(self.seen), raw_dir)

    def process_item(self, item: Item) -> Item:
        key = f"{item.kind}\t{item.source_id}"
        if key in self.seen:
            if isinstance(item, Post) and key in self.file_paths and self._file_missing(item, key):
                # Already written, but its file is not on disk as it should be: fetch the file again.
                self.crawler.acg2vec_recheck[key] = self.file_paths.pop(key)
                self.crawler.acg2vec_recheck_md5[key] = self.checksums.pop(key, None)
                return item
            self.file_paths.pop(key, None)
            self.checksums.pop(key, None)
            self.crawler.stats.inc_value(SKIPPED + "already-have")
            raise DropItem(f"already have {item.kind} {item.source_id}", log_level="DEBUG")
        self.seen.add(key)
        return item

    def _file_missing(self, post: Post, key: str) -> bool:
        if not self.check_files or not post.md5 or not post.file_url:
            return False
        raw_dir = raw_dir_of(self.crawler.settings) or self.crawler.settings.get("FILES_STORE")
        known = self.file_paths.get(key)
        if known:
            # The md5 the file had when stored (a sample rendition, re-encoded by the site, has its own); lines
            # from before file_checksum was kept: the post's md5 for the original, presence only for a sample.
            expected = self.checksums.get(key)
            if not expected and Path(known).suffix.lstrip(".") == file_extension(post.file_url):
                expected = post.md5
            return not file_on_disk(raw_dir, known, expected)
        return True


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


class AtomicFilesStore(FSFilesStore):
    """Scrapy's file store, each file written whole: a temporary name beside it, fsync, rename (a full disk is
    :class:`~acg2vec.integrity.DiskFullError` and leaves no part of the file)."""

    def persist_file(self, path: Any, buf: BytesIO, info: Any, meta: Any = None, headers: Any = None) -> None:
        atomic_write_bytes(self._get_filesystem_path(path), buf.getvalue())


class BooruFilesPipeline(FilesPipeline):
    """Downloads each post's image into ``files/<md5[:2]>/<md5>.<ext>`` under ``raw/<source>/``.

    A file already on disk whose bytes no longer hash to the md5 of its name (cut short, emptied, overwritten,
    another file) is damaged: it is moved to ``damaged/files/``, named in one sentence, counted under
    ``damaged-file`` and downloaded again. A sample rendition (re-encoded by the site) is checked against the md5
    it had when it was stored, its post line's ``file_checksum``.
    """

    STORE_SCHEMES = {**FilesPipeline.STORE_SCHEMES, "": AtomicFilesStore, "file": AtomicFilesStore}

    @classmethod
    def from_crawler(cls, crawler: Any) -> BooruFilesPipeline:
        if not crawler.settings.getbool("ACG2VEC_DOWNLOAD_FILES", True) or not crawler.settings.get("FILES_STORE"):
            raise NotConfigured("file downloads are off")
        pipe = super().from_crawler(crawler)
        pipe.rendition = crawler.settings.get("ACG2VEC_FILES_RENDITION", "original")
        if pipe.rendition not in ("original", "sample"):
            raise NotConfigured(f"unknown ACG2VEC_FILES_RENDITION {pipe.rendition!r}")
        pipe.drop_without_file = crawler.settings.getbool("ACG2VEC_DROP_POST_WITHOUT_FILE", True)
        for name in ("scrapy.pipelines.media", "scrapy.pipelines.files"):
            logging.getLogger(name).addFilter(_named_file_failure_without_traceback)
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
        # Files are stored content-addressed under files/: the HTTP cache (a development option) would only hold a
        # second copy, and a cached bad body would defeat the retries.
        meta = {EXPECTED_MD5_META: expected, FILE_META: True, "dont_cache": True}
        stored = getattr(self.crawler, "acg2vec_recheck_md5", {}).get(f"{item.kind}\t{item.source_id}")
        meta[ON_DISK_MD5_META] = expected or stored
        return [Request(url, callback=NO_CALLBACK, meta=meta)]

    def file_path(self, request: Request, response: Any = None, info: Any = None, *, item: Any = None) -> str:
        md5 = item.md5 if isinstance(item, Post) and item.md5 else hashlib.sha1(request.url.encode()).hexdigest()
        return f"files/{md5[:2]}/{md5}.{file_extension(request.url)}"

    async def media_to_download(self, request: Request, info: Any, *, item: Any = None) -> dict[str, Any] | None:
        """A file already on disk counts only with the right md5 (files are content-addressed: no expiry)."""
        path = self.file_path(request, info=info, item=item)
        try:
            stat = await _maybe_await(self.store.stat_file(path, info))
        except Exception:  # noqa: BLE001 - a store that cannot answer means "download it"
            return None
        checksum = (stat or {}).get("checksum")
        if not checksum:
            return None
        expected = request.meta.get(EXPECTED_MD5_META) or request.meta.get(ON_DISK_MD5_META)
        if expected and checksum != expected:
            # Damaged on disk (a copy cut short, a bad disk, another file): set it aside and fetch it again.
            self._damaged_on_disk(path, checksum, expected, request=request, item=item)
            return None
        self.inc_stats("uptodate")
        self.crawler.stats.inc_value("acg2vec/files/uptodate")
        return {"url": request.url, "path": path, "checksum": checksum, "status": "uptodate"}

    def _damaged_on_disk(self, path: str, checksum: str, expected: str, *, request: Request, item: Any) -> None:
        raw_dir = Path(self.store.basedir)
        full = raw_dir / path
        what = f"the image of post {item.id}" if isinstance(item, Post) else "the file"
        try:
            moved = move_aside(raw_dir, full, path)
            held = f"{what} was set aside as {moved}"
        except OSError:
            moved, held = None, f"{what} cannot be used"
        err = DamagedFileError(
            full,
            f"its bytes hash to md5 {checksum}, not to the {expected} of its name",
            lost=held,
            repair="this run downloads it again",
        )
        logger.warning("%s", err)
        bookkeeping(self.crawler).damaged_file(err, kind="file", moved_to=moved, url=request.url)

    async def file_downloaded(self, response: Any, request: Request, info: Any, *, item: Any = None) -> str:
        body = response.body
        problem = file_body_problem(body, request.meta.get(EXPECTED_MD5_META))
        if problem:
            raise FileException(problem)
        path = self.file_path(request, response=response, info=info, item=item)
        try:
            await _maybe_await(self.store.persist_file(path, BytesIO(body), info))
        except DiskFullError as err:
            stop_for_full_disk(self.crawler, err.path)
            raise FileException("disk-full") from None
        self.crawler.stats.inc_value("acg2vec/files/stored")
        return hashlib.md5(body).hexdigest()  # noqa: S324 - the sites publish md5

    def media_failed(self, failure: Any, request: Request, info: Any) -> Any:
        # A named FileException raised while checking the file keeps its name (the base class would replace
        # it with a bare one), so item_completed can count it under that reason.
        if isinstance(failure.value, FileException) and str(failure.value):
            raise failure.value
        reason = getattr(failure.value, "reason", None)
        if isinstance(reason, str) and re.fullmatch(r"[a-z-]+", reason):
            raise FileException(reason)  # e.g. host-refused from the file host guard
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
        recheck = getattr(self.crawler, "acg2vec_recheck", {})
        key = f"{item.kind}\t{item.source_id}"
        if key in recheck:
            earlier_path = recheck.pop(key)
            if item.files and item.files[0].get("status") != "uptodate":
                self.crawler.stats.inc_value("acg2vec/files/repaired")
            if item.files and not earlier_path:
                return item  # the earlier line has no file_path: this one, with it, supersedes it
            self.crawler.stats.inc_value(SKIPPED + "already-have")
            raise DropItem(f"already have {item.kind} {item.source_id}", log_level="DEBUG")
        if failures and self.drop_without_file:
            book.add("no-file", item_to_dict(item), url=item.url, detail=f"post {item.id}", prefix=DROPPED)
            raise DropItem(f"no-file: post {item.id}")
        return item


def _named_file_failure_without_traceback(record: logging.LogRecord) -> bool:
    """A file failure with a named reason is counted and dead-lettered: one log line, not a traceback."""
    value = record.exc_info[1] if record.exc_info else None
    if value is None and isinstance(record.msg, Failure):
        value = record.msg.value
    if isinstance(value, FileException) and re.fullmatch(r"[a-z-]+", str(value)):
        record.exc_info = None
        record.exc_text = None
        if isinstance(record.msg, Failure):
            record.msg, record.args = "file failed: %s", (str(value),)
    return True


def file_body_problem(body: bytes, expected_md5: str | None) -> str | None:
    """Why a downloaded file body is unusable (``not-an-image``, ``checksum-mismatch``), or None."""
    if image_format(body) is None:
        return "not-an-image"
    if expected_md5 and hashlib.md5(body).hexdigest() != expected_md5:  # noqa: S324 - the sites publish md5
        return "checksum-mismatch"
    return None


async def _maybe_await(value: Any) -> Any:
    from scrapy.utils.defer import ensure_awaitable

    if value is None:
        return None
    return await ensure_awaitable(value)


__all__ = [
    "AlreadyHavePipeline",
    "AtomicFilesStore",
    "BooruFilesPipeline",
    "ValidationPipeline",
    "existing_keys",
    "file_body_problem",
    "file_on_disk",
    "image_format",
    "scan_raw",
    "sanity_problem",
]
