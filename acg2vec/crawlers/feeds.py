"""Feed output and bookkeeping of a crawl: the jsonl exporter, dead letters, counts, the run report and manifest.

Stats keys every acg2vec crawl keeps (Scrapy's stats collector holds them; the report reads them back):

    acg2vec/written/<kind>     items that reached the feeds
    acg2vec/dropped/<reason>   items rejected by a pipeline (dead-lettered)
    acg2vec/skipped/<reason>   items already in raw/<source>/ from an earlier run (not dead-lettered)
    acg2vec/bad_input/<reason> pages or files rejected (bad body, failed download, error in a callback)

so that for every run ``items read = written + dropped + skipped``. Every dropped item and every bad input is one
line in the crawl's dead-letter file, ``raw/<source>/dead_letters/<spider>.jsonl.gz`` (the layout of
:mod:`acg2vec.deadletter`, step = the spider's name), and the run report counts them under ``<spider>-<reason>``
(``dead_lettered``).

The crawl manifest, ``raw/<source>/manifest.json`` (format 1; written whole with
:func:`acg2vec.integrity.atomic_write_json` after each shard and each run)::

    {
      "format": 1,
      "source": "safebooru",
      "repair": "acg2vec crawl safebooru",       # the command whose re-run restores a lost shard's items
      "items": {"post": 12, "tag": 40},          # items written by every run, cumulative (from "runs")
      "items_in_shards": {"post": 12, ...},      # lines of the shards on disk now, by kind (from "shards")
      "shards": {                                # every finished shard on disk, by file name
        "post-<run id>-00001.jsonl.gz": {
          "kind": "post", "lines": 5, "size": 2345, "sha256": "<hex>",
          "ids": "shard_ids/post-<run id>-00001.ids.gz",   # the source_id of each line, gzip text, one a line
          "run_id": "<run id>", "recorded_at": "2026-12-07T22:00:00Z"
        }
      },
      "damaged": [                               # every damaged file a run found, moved aside (never deleted)
        {"file": "post-...jsonl.gz", "kind": "post", "problem": "...", "sentence": "<the one sentence>",
         "moved_to": "damaged/post-...jsonl.gz", "ids": "damaged/post-....ids.gz", "items_lost": 5,
         "restored": 5, "found_by_run": "<run id>", "found_at": "..."}
      ],
      "runs": [<CrawlReport.to_dict() of each run>]     # damaged files counted under bad_input "damaged-file"
    }

A shard appears under its final name only once it is whole (written under ``.<name>.tmp-<pid>``, fsynced,
renamed) and is recorded right after (:mod:`acg2vec.crawlers.shards`). A reader of the shards (the build) checks
each against its record: a shard of another size or SHA-256 is damaged; a shard the manifest does not know
(written before acg2vec recorded shards) is checked by reading its gzip stream to the end. Files under
``damaged/`` and ``shard_ids/`` are never item shards. A manifest without ``format`` was written before format 1:
its runs are kept and its shards recorded on the next run; any other unreadable manifest is damaged: it is moved
to ``damaged/`` with one sentence and rebuilt from the shards on disk (their ids re-read from whole shards).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.exporters import JsonLinesItemExporter

from acg2vec.crawlers.items import Item, item_to_dict
from acg2vec.deadletter import DeadLetters, counter_name, dead_letter_path
from acg2vec.integrity import DAMAGED_FILE, DamagedFileError, DiskFullError, atomic_write_json, is_disk_full
from acg2vec.workspace import Workspace

logger = logging.getLogger(__name__)

WRITTEN = "acg2vec/written/"
DROPPED = "acg2vec/dropped/"
SKIPPED = "acg2vec/skipped/"
BAD_INPUT = "acg2vec/bad_input/"
MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1
DAMAGED_DIR = "damaged"  # raw/<source>/damaged/: damaged files moved aside, kept for a look, never read by builds


DISK_FULL_STAT = "acg2vec/disk_full"  # the path a write failed on because the disk was full; the crawl stops


class ItemJsonLinesExporter(JsonLinesItemExporter):
    """One item per line in the form of :func:`acg2vec.crawlers.items.item_to_dict` (with its ``kind``)."""

    def __init__(self, file: Any, *, crawler: Any = None, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.crawler = crawler
        # A shard's ids and line count, noted as it is written (ShardStorage hands them over; see shards.py).
        self._shard = getattr(getattr(file, "file", file), "acg2vec_shard", None)

    @classmethod
    def from_crawler(cls, crawler: Any, file: Any, *args: Any, **kwargs: Any) -> ItemJsonLinesExporter:
        return cls(file, *args, crawler=crawler, **kwargs)

    def export_item(self, item: Any) -> None:
        data = item_to_dict(item) if isinstance(item, Item) else dict(self.get_serialized_fields(item))
        try:
            self.file.write((json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8"))
        except OSError as err:
            if self.crawler is None or not is_disk_full(err):
                raise
            stop_for_full_disk(self.crawler, raw_dir_of(self.crawler.settings) or "the feed")
            return
        if self._shard is not None:
            self._shard.add(data)


def stop_for_full_disk(crawler: Any, path: str | Path) -> None:
    """The disk is full: note where (the runner turns it into :class:`~acg2vec.integrity.DiskFullError`) and stop
    the crawl. Shards not yet closed are dropped whole; the shards and files written before stay as they are."""
    if crawler.stats.get_value(DISK_FULL_STAT):
        return
    crawler.stats.set_value(DISK_FULL_STAT, str(path))
    logger.error("%s", DiskFullError(path))
    from scrapy.utils.defer import deferred_from_coro

    try:
        engine = crawler.engine
    except RuntimeError:  # not crawling yet (Scrapy sets the engine when the crawl starts)
        engine = None
    if engine is not None and getattr(engine, "spider", None) is not None:
        deferred_from_coro(engine.close_spider_async(reason="disk-full"))


class CrawlBookkeeping:
    """Scrapy extension: counts written items per kind, owns the dead-letter file, counts callback errors."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        step = crawl_step(crawler)
        raw_dir = raw_dir_of(crawler.settings)
        path = dead_letter_path(raw_dir, step) if raw_dir is not None else None
        self.dead_letters = DeadLetters(path, step=step)
        crawler.signals.connect(self.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        self._cpu_start = 0.0
        self.damaged: list[dict[str, Any]] = []  # damaged files found during the run (downloaded images)

    @classmethod
    def from_crawler(cls, crawler: Any) -> CrawlBookkeeping:
        ext = cls(crawler)
        crawler.acg2vec_bookkeeping = ext
        return ext

    def item_scraped(self, item: Any, response: Any = None, spider: Any = None) -> None:
        kind = getattr(item, "kind", "") or type(item).__name__.lower()
        self.crawler.stats.inc_value(WRITTEN + kind)

    def spider_error(self, failure: Any, response: Any = None, spider: Any = None) -> None:
        url = getattr(response, "url", None)
        body = getattr(response, "text", None) if hasattr(response, "text") else None
        self.add("callback-error", {"body": body[:2000] if body else None}, url=url, detail=repr(failure.value))

    def add(
        self, reason: str, record: Any = None, *, url: str | None = None, detail: str = "", prefix: str = BAD_INPUT
    ):
        """Count ``reason`` under ``prefix`` in the stats and write the record to the dead-letter file."""
        self.crawler.stats.inc_value(prefix + reason)
        try:
            self.dead_letters.add(reason, {"url": url, "data": record}, detail=detail)
        except OSError as err:
            if not is_disk_full(err):
                raise
            stop_for_full_disk(self.crawler, self.dead_letters.path or "the dead letters")

    def damaged_file(self, err: DamagedFileError, *, kind: str, moved_to: Path | None, url: str | None = None) -> None:
        """Count a damaged file under ``damaged-file``, dead-letter it and keep its entry for the run report."""
        self.add(DAMAGED_FILE, err.to_dict(), url=url, detail=str(err))
        raw_dir = raw_dir_of(self.crawler.settings) or str(Path(err.path).parent)
        entry = damage_entry(err, file=Path(err.path).name, kind=kind, moved_to=moved_to, raw_dir=raw_dir)
        entry["found_by_run"] = self.crawler.settings.get("ACG2VEC_RUN_ID")
        self.damaged.append(entry)

    def spider_opened(self, spider: Any = None) -> None:
        self._cpu_start = time.process_time()

    def spider_closed(self, spider: Any = None, reason: str | None = None) -> None:
        # CPU time of the crawl itself (not of the imports before it), for the throughput benchmark.
        self.crawler.stats.set_value("acg2vec/cpu_seconds", round(time.process_time() - self._cpu_start, 3))
        try:
            self.dead_letters.close()
        except OSError as err:
            if not is_disk_full(err):
                raise
            stop_for_full_disk(self.crawler, self.dead_letters.path or "the dead letters")


def bookkeeping(crawler: Any) -> CrawlBookkeeping:
    """The crawl's :class:`CrawlBookkeeping` (created on first use when the extension is not enabled)."""
    ext = getattr(crawler, "acg2vec_bookkeeping", None)
    if ext is None:
        ext = CrawlBookkeeping.from_crawler(crawler)
    return ext


def crawl_step(crawler: Any) -> str:
    """The dead-letter step of a crawl: its spider's name (``safebooru``, ``pixiv`` ...), else its source."""
    spidercls = getattr(crawler, "spidercls", None)
    return getattr(spidercls, "name", None) or crawler.settings.get("ACG2VEC_SOURCE") or "crawl"


def raw_dir_of(settings: Any) -> str | None:
    """``raw/<source>/`` of the running crawl, from the settings the runner sets (None outside the runner)."""
    root, source = settings.get("ACG2VEC_WORKSPACE"), settings.get("ACG2VEC_SOURCE")
    if not root or not source:
        return None
    return Workspace(root).raw(source)


def _by_prefix(stats: dict[str, Any], prefix: str) -> dict[str, int]:
    return {k[len(prefix) :]: int(v) for k, v in sorted(stats.items()) if k.startswith(prefix)}


@dataclass(slots=True)
class CrawlReport:
    """What one crawl run did; also appended to ``raw/<source>/manifest.json``."""

    spider: str
    source: str
    run_id: str
    finish_reason: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    elapsed_s: float = 0.0
    written: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    bad_input: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    responses: int = 0
    errors: int = 0
    retries: int = 0
    files_downloaded: int = 0  # files stored by this run, each checked (an image, with the post's md5)
    files_on_disk: int = 0  # files under raw/<source>/files/ once the run ended
    status_counts: dict[str, int] = field(default_factory=dict)
    # Other acg2vec counters: page retries by reason, Retry-After waits, hosts slowed down, ...
    counters: dict[str, float] = field(default_factory=dict)
    cpu_s: float = 0.0
    # Damaged files this run found and moved aside (the manifest's "damaged" entries), counted in bad_input.
    damaged: list[dict[str, Any]] = field(default_factory=list)

    @property
    def items_written(self) -> int:
        return sum(self.written.values())

    @property
    def items_read(self) -> int:
        """Items the spider yielded: written + dropped + skipped."""
        return self.items_written + sum(self.dropped.values()) + sum(self.skipped.values())

    @property
    def dead_lettered(self) -> dict[str, int]:
        """Lines this run wrote to ``dead_letters/<spider>.jsonl.gz``, by counter (``<spider>-<reason>``).

        Every dropped item and every bad input is dead-lettered once; skipped items are not.
        """
        counts: dict[str, int] = {}
        for reasons in (self.dropped, self.bad_input):
            for reason, n in reasons.items():
                name = counter_name(self.spider, reason)
                counts[name] = counts.get(name, 0) + int(n)
        return dict(sorted(counts.items()))

    @property
    def finished(self) -> bool:
        return self.finish_reason == "finished"

    @classmethod
    def from_stats(cls, stats: dict[str, Any], *, spider: str, source: str, run_id: str) -> CrawlReport:
        def when(key: str) -> str | None:
            value = stats.get(key)
            return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else value

        return cls(
            spider=spider,
            source=source,
            run_id=run_id,
            finish_reason=stats.get("finish_reason"),
            started_at=when("start_time"),
            finished_at=when("finish_time"),
            elapsed_s=round(float(stats.get("elapsed_time_seconds", 0.0)), 3),
            written=_by_prefix(stats, WRITTEN),
            dropped=_by_prefix(stats, DROPPED),
            skipped=_by_prefix(stats, SKIPPED),
            bad_input=_by_prefix(stats, BAD_INPUT),
            requests=int(stats.get("downloader/request_count", 0)),
            responses=int(stats.get("downloader/response_count", 0)),
            errors=int(stats.get("downloader/exception_count", 0)),
            retries=int(stats.get("retry/count", 0)),
            files_downloaded=int(stats.get("acg2vec/files/stored", 0)),
            status_counts=_by_prefix(stats, "downloader/response_status_count/"),
            counters={
                k.removeprefix("acg2vec/"): v
                for k, v in sorted(stats.items())
                if k.startswith("acg2vec/")
                and not k.startswith((WRITTEN, DROPPED, SKIPPED, BAD_INPUT))
                and k != DISK_FULL_STAT
            },
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["items_read"] = self.items_read
        out["dead_lettered"] = self.dead_lettered
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrawlReport:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def move_aside(raw_dir: str | Path, path: str | Path, name: str | None = None) -> Path:
    """Move a damaged file to ``raw_dir/damaged/`` (as ``name``, a number added if taken); returns where it went."""
    folder = Path(raw_dir, DAMAGED_DIR)
    name = name or Path(path).name
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    stem, dot, rest = target.name.partition(".")
    number = 1
    while target.exists():
        number += 1
        target = target.with_name(f"{stem}~{number}{dot}{rest}")
    os.replace(path, target)
    return target


def new_manifest(source: str) -> dict[str, Any]:
    return {"format": MANIFEST_FORMAT, "source": source, "items": {}, "shards": {}, "damaged": [], "runs": []}


def _manifest_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not a crawl manifest"
    if "format" in data and data["format"] != MANIFEST_FORMAT:
        return f"format {data['format']!r}, where this acg2vec writes format {MANIFEST_FORMAT}"
    if not isinstance(data.get("runs"), list):
        return "it has no list of runs"
    if not isinstance(data.get("shards", {}), dict) or not isinstance(data.get("damaged", []), list):
        return "its shards or damaged files are not recorded as a crawl manifest records them"
    return None


def read_manifest(raw_dir: str | Path, *, source: str = "") -> tuple[dict[str, Any], DamagedFileError | None]:
    """``raw_dir/manifest.json`` (a new one when there is none) and, when it was damaged, the error saying so.

    A damaged manifest (not JSON, not a crawl manifest, another format) is moved to ``damaged/`` and a new one is
    returned with the damage as its first ``damaged`` entry; the caller records the shards on disk again
    (:func:`acg2vec.crawlers.shards.check_shards` does). A manifest from before format 1 is upgraded in place.
    """
    path = Path(raw_dir, MANIFEST_FILE)
    source = source or Path(raw_dir).name
    if not path.exists():
        return new_manifest(source), None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        problem = _manifest_problem(data)
    except (ValueError, OSError) as err:  # UnicodeDecodeError is a ValueError
        data, problem = None, f"not readable as JSON: {err}"[:200]
    if problem is None:
        data.setdefault("shards", {})
        data.setdefault("damaged", [])
        data["format"] = MANIFEST_FORMAT
        return data, None
    moved = move_aside(raw_dir, path, f"manifest-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json")
    err = DamagedFileError(
        path,
        problem,
        lost=f"the record of earlier runs is lost (the damaged file is kept at {moved})",
        repair="the record of the shards is rebuilt from the shards on disk, their ids re-read from whole shards",
    )
    logger.warning("%s", err)
    manifest = new_manifest(source)
    manifest["damaged"].append(damage_entry(err, file=MANIFEST_FILE, kind="manifest", moved_to=moved, raw_dir=raw_dir))
    return manifest, err


def damage_entry(
    err: DamagedFileError, *, file: str, kind: str, moved_to: Path | None, raw_dir: str | Path, **more: Any
) -> dict[str, Any]:
    """One entry of the manifest's ``damaged`` list (and of a run report's ``damaged``)."""
    moved = None
    if moved_to is not None:
        try:
            moved = Path(moved_to).relative_to(raw_dir).as_posix()
        except ValueError:
            moved = str(moved_to)
    return {
        "file": file,
        "kind": kind,
        "problem": err.problem,
        "sentence": str(err),
        "moved_to": moved,
        "found_at": utc_now(),
        **more,
    }


def write_manifest(raw_dir: str | Path, manifest: dict[str, Any]) -> None:
    """Write ``raw_dir/manifest.json`` whole (temporary file, fsync, rename), its totals recomputed."""
    totals: dict[str, int] = {}
    for run in manifest.get("runs", []):
        for kind, n in run.get("written", {}).items():
            totals[kind] = totals.get(kind, 0) + int(n)
    manifest["items"] = dict(sorted(totals.items()))
    in_shards: dict[str, int] = {}
    for record in manifest.get("shards", {}).values():
        in_shards[record["kind"]] = in_shards.get(record["kind"], 0) + int(record.get("lines", 0))
    manifest["items_in_shards"] = dict(sorted(in_shards.items()))
    atomic_write_json(Path(raw_dir, MANIFEST_FILE), manifest)


def update_manifest(raw_dir: str | Path, report: CrawlReport) -> dict[str, Any]:
    """Append ``report`` to ``raw_dir/manifest.json`` and recompute the cumulative items per kind."""
    manifest, _damage = read_manifest(raw_dir, source=report.source)
    manifest["runs"].append(report.to_dict())
    write_manifest(raw_dir, manifest)
    return manifest
