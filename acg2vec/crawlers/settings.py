"""Scrapy settings shared by every acg2vec spider.

The module-level names are the defaults (load them with ``Settings().setmodule(...)``); :func:`run_settings`
adds what depends on one run: where the feeds, files, job state and HTTP cache of a source go.

Feeds: one feed per item kind, written by Scrapy's feed exporter as gzip jsonl shards
``raw/<source>/<kind>-<run id>-<batch>.jsonl.gz`` (``item_classes`` filter, ``batch_item_count``, the gzip
post-processing plugin). The run id keeps a re-crawl or a resumed run from overwriting earlier shards. Each shard is
written under a temporary name and renamed when closed, then recorded in ``raw/<source>/manifest.json``
(:class:`acg2vec.crawlers.shards.ShardStorage`).
"""

from __future__ import annotations

from typing import Any

from acg2vec import __version__
from acg2vec.crawlers.items import ITEM_CLASSES
from acg2vec.workspace import Workspace, is_remote

BOT_NAME = "acg2vec"
# The pixiv importer is a spider too (it reads saved files through file:// requests), kept beside the crawlers.
SPIDER_MODULES = ["acg2vec.crawlers.spiders", "acg2vec.crawlers.pixiv"]
NEWSPIDER_MODULE = "acg2vec.crawlers.spiders"

# Sites ask crawlers to say who they are; an operator adds a contact by overriding USER_AGENT (Bangumi asks for one).
USER_AGENT = f"acg2vec/{__version__} (open-source ACG dataset crawler; python-scrapy)"
ROBOTSTXT_OBEY = True

# Politeness: few parallel requests per host, and AutoThrottle adapts the delay to the server's latency.
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
LOGSTATS_INTERVAL = 30.0
# A dropped item is expected (counted and dead-lettered); one log line at INFO is enough.
DEFAULT_DROPITEM_LOG_LEVEL = "INFO"
DEFAULT_REQUEST_HEADERS = {
    "Accept": "application/json,application/xml;q=0.9,text/html;q=0.8,*/*;q=0.5",
    "Accept-Language": "en,ja;q=0.8,zh;q=0.7",
}

# Retries with exponential backoff that honour Retry-After (replaces Scrapy's RetryMiddleware in place).
RETRY_ENABLED = True
RETRY_TIMES = 5
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
ACG2VEC_BACKOFF_BASE = 1.0  # seconds before the first retry; doubled on each further retry
ACG2VEC_BACKOFF_MAX = 120.0  # no single wait longer than this, whatever Retry-After says
DOWNLOADER_MIDDLEWARES = {
    # File hosts named by a public site must be public too (resolved before the request).
    "acg2vec.crawlers.middlewares.FileHostGuardMiddleware": 50,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    # Also retries a file body that is not an image or fails its md5 (a cut body, an HTML page with status 200).
    "acg2vec.crawlers.middlewares.BackoffRetryMiddleware": 550,
}

EXTENSIONS = {
    "acg2vec.crawlers.feeds.CrawlBookkeeping": 10,
}

ITEM_PIPELINES = {
    "acg2vec.crawlers.pipelines.ValidationPipeline": 100,
    "acg2vec.crawlers.pipelines.AlreadyHavePipeline": 200,
    "acg2vec.crawlers.pipelines.BooruFilesPipeline": 300,
}
# Booru files: the original file (checksum checked against the post's md5) or the smaller sample rendition.
ACG2VEC_FILES_RENDITION = "original"  # or "sample"
# A post whose file still fails after the retries (not an image, checksum mismatch, download error) is dropped
# (dead-lettered as no-file) so that the next run fetches it again; set False to keep it without file_path.
# The file failure is counted and dead-lettered either way.
ACG2VEC_DROP_POST_WITHOUT_FILE = True
ACG2VEC_DOWNLOAD_FILES = True
# Incremental re-crawls: skip items whose (kind, source_id) is already in raw/<source>/ (keys held in memory).
ACG2VEC_SKIP_EXISTING = True
FILES_EXPIRES = 3650  # files are content-addressed by md5: never re-download one we have (with the right md5)

FEED_EXPORTERS = {"acg2vec-jsonl": "acg2vec.crawlers.feeds.ItemJsonLinesExporter"}
# Local feeds: a shard reaches its final name only when closed, then is recorded in the manifest (see shards.py).
FEED_STORAGES = {"": "acg2vec.crawlers.shards.ShardStorage", "file": "acg2vec.crawlers.shards.ShardStorage"}
FEED_EXPORT_ENCODING = "utf-8"
FEED_STORE_EMPTY = False
ACG2VEC_FEED_BATCH_ITEMS = 5000

HTTPCACHE_ENABLED = False  # turn on for development with run_settings(http_cache=True)
HTTPCACHE_IGNORE_HTTP_CODES = [408, 429, 500, 502, 503, 504, 522, 524]
HTTPCACHE_GZIP = True


def feeds_for(raw_dir: str, *, run_id: str, batch_items: int) -> dict[str, dict[str, Any]]:
    """One gzip jsonl feed per item kind under ``raw_dir``, split into batches of ``batch_items``."""
    feeds: dict[str, dict[str, Any]] = {}
    for kind, cls in ITEM_CLASSES.items():
        uri = f"{raw_dir.rstrip('/')}/{kind}-{run_id}-%(batch_id)05d.jsonl.gz"
        feeds[uri] = {
            "format": "acg2vec-jsonl",
            "item_classes": [f"{cls.__module__}.{cls.__qualname__}"],
            "batch_item_count": batch_items,
            "postprocessing": ["scrapy.extensions.postprocessing.GzipPlugin"],
            "encoding": "utf-8",
            "store_empty": False,
        }
    return feeds


def run_settings(
    *,
    workspace: Workspace,
    source: str,
    run_id: str,
    batch_items: int | None = None,
    http_cache: bool = False,
    throttle: bool = True,
    resume: bool = True,
    quiet: bool = False,
) -> dict[str, Any]:
    """The per-run settings of one source: feeds, dead letters, files store, job dir, cache, logging."""
    raw_dir = workspace.raw(source)
    settings: dict[str, Any] = {
        "ACG2VEC_WORKSPACE": workspace.root,
        "ACG2VEC_SOURCE": source,
        "ACG2VEC_RUN_ID": run_id,
        "FEEDS": feeds_for(raw_dir, run_id=run_id, batch_items=batch_items or ACG2VEC_FEED_BATCH_ITEMS),
        "FILES_STORE": raw_dir,
        "LOG_LEVEL": "WARNING" if quiet else "INFO",
    }
    if resume and not is_remote(workspace.root):
        settings["JOBDIR"] = job_dir(workspace, source)
    if http_cache:
        settings["HTTPCACHE_ENABLED"] = True
        settings["HTTPCACHE_DIR"] = workspace.cache(f"http/{source}")
    if not throttle:
        settings.update(
            AUTOTHROTTLE_ENABLED=False,
            DOWNLOAD_DELAY=0,
            CONCURRENT_REQUESTS_PER_DOMAIN=16,
            ACG2VEC_BACKOFF_BASE=0.05,
        )
    return settings


def job_dir(workspace: Workspace, source: str) -> str:
    """Scrapy's JOBDIR for a source: the pending requests and spider state of an unfinished crawl."""
    return workspace.jobs(source)
