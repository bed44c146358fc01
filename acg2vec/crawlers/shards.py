"""Raw item shards on disk: written whole, recorded in the crawl manifest, checked by every re-run.

1. **Write.** A shard is written under a temporary name beside it (``.<name>.tmp-<pid>``), fsynced and renamed to
   ``<kind>-<run id>-<batch>.jsonl.gz`` only once it is closed (:class:`ShardStorage`, the feed storage of every
   Scrapy crawl, the pixiv importer included; :class:`ShardFile` for the Bangumi Archive importer). A killed crawl
   never leaves a cut shard under a final name; the next run removes the unfinished ones it left.
2. **Record.** Right after the rename, :func:`add_shard` reads the shard back, writes the ``source_id`` of each
   line to ``shard_ids/<name>.ids.gz`` and records kind, line count, size, SHA-256 and that ids file under the
   shard's name in ``manifest.json`` (the format is in :mod:`acg2vec.crawlers.feeds`).
3. **Check.** Before a run reads what it already has, :func:`check_shards` compares each shard on disk with its
   record (size, then SHA-256), reads the gzip stream of a shard the manifest does not know to its end (and
   records it when whole), and notices recorded shards that are gone. A damaged shard is moved to ``damaged/``
   with its ids file and named in one sentence (logged, in the run report and the manifest's ``damaged``, counted
   under ``damaged-file`` and dead-lettered). Its items are then no longer "already have", so the run fetches them
   again; :meth:`ShardCheck.finish` records how many came back.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from scrapy.extensions.feedexport import FileFeedStorage

from acg2vec.crawlers.feeds import (
    MANIFEST_FILE,
    CrawlReport,
    damage_entry,
    move_aside,
    read_manifest,
    stop_for_full_disk,
    utc_now,
    write_manifest,
)
from acg2vec.deadletter import DeadLetters
from acg2vec.integrity import (
    DAMAGED_FILE,
    DamagedFileError,
    DiskFullError,
    atomic_write_text,
    file_digest,
    fsync_dir,
    is_disk_full,
    read_gzip_lines,
)

logger = logging.getLogger(__name__)

SHARD_SUFFIX = ".jsonl.gz"
IDS_DIR = "shard_ids"
IDS_SUFFIX = ".ids.gz"
TMP_TAG = ".tmp-"
# Where crawls of earlier acg2vec versions kept their dead letters; such a file in raw/<source>/ holds no items.
LEGACY_DEAD_LETTER_FILE = "dead-letters.jsonl.gz"


def shard_files(raw_dir: str | Path) -> list[Path]:
    """The finished item shards of ``raw_dir`` (``*.jsonl.gz`` directly in it), by name."""
    root = Path(raw_dir)
    if not root.is_dir():
        return []
    return [
        p
        for p in sorted(root.glob("*" + SHARD_SUFFIX))
        if p.is_file() and not p.name.startswith(".") and p.name != LEGACY_DEAD_LETTER_FILE
    ]


def ids_file(raw_dir: str | Path, name: str) -> Path:
    """``raw_dir/shard_ids/<shard name without .jsonl.gz>.ids.gz``."""
    return Path(raw_dir, IDS_DIR, name.removesuffix(SHARD_SUFFIX) + IDS_SUFFIX)


def temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}{TMP_TAG}{os.getpid()}")


@dataclass(slots=True)
class ShardContent:
    """What a shard holds: its kind, the ``source_id`` of each line (up to the damage, if any), its line count."""

    kind: str
    ids: list[str]
    lines: int
    error: DamagedFileError | None = None

    def add(self, data: dict[str, Any]) -> None:
        """Note one line as it is written (its item in the form of ``item_to_dict``)."""
        self.lines += 1
        self.kind = self.kind or str(data.get("kind") or "")
        if data.get("source_id") is not None:
            self.ids.append(str(data["source_id"]))


def read_shard(path: str | Path) -> ShardContent:
    """Read a shard's gzip stream to its end; ``error`` says where it is damaged (``ids`` then stop before it)."""
    path = Path(path)
    ids: list[str] = []
    lines = 0
    kind = None
    try:
        for raw in read_gzip_lines(path):
            lines += 1
            try:
                data = json.loads(raw)
                ids.append(str(data["source_id"]))
                kind = kind or data.get("kind")
            except (ValueError, KeyError, TypeError):
                continue  # a bad line holds no id; the already-have scan dead-letters it
    except DamagedFileError as err:
        return ShardContent(kind or path.name.split("-", 1)[0], ids, lines, err)
    return ShardContent(kind or path.name.split("-", 1)[0], ids, lines)


def read_ids(path: str | Path) -> list[str] | None:
    """The ids of an ids file, or None when it is missing or damaged."""
    try:
        return [line.decode("utf-8").rstrip("\n") for line in read_gzip_lines(path)]
    except (DamagedFileError, OSError, UnicodeDecodeError):
        return None


def record_shard(raw_dir: str | Path, path: str | Path, *, run_id: str, content: ShardContent | None = None) -> dict:
    """Write the shard's ids file and return its manifest record (DamagedFileError if it is not whole)."""
    path = Path(path)
    content = content or read_shard(path)
    if content.error is not None:
        raise content.error
    ids = ids_file(raw_dir, path.name)
    atomic_write_text(ids, "".join(f"{i}\n" for i in content.ids))
    return {
        "kind": content.kind or path.name.split("-", 1)[0],
        "lines": content.lines,
        **file_digest(path),
        "ids": ids.relative_to(raw_dir).as_posix(),
        "run_id": run_id,
        "recorded_at": utc_now(),
    }


def add_shard(raw_dir: str | Path, path: str | Path, *, run_id: str, content: ShardContent | None = None) -> dict:
    """Record a shard that has just reached its final name in ``raw_dir/manifest.json`` (``content``: its ids
    and lines as noted while it was written; else it is read back)."""
    record = record_shard(raw_dir, path, run_id=run_id, content=content)
    manifest, _damage = read_manifest(raw_dir)
    manifest["shards"][Path(path).name] = record
    write_manifest(raw_dir, manifest)
    return record


def finish_shard(raw: IO[bytes], tmp: Path, final: Path, *, run_id: str, content: ShardContent | None = None) -> dict:
    """Flush, fsync and close ``raw`` (the file at ``tmp``), rename it to ``final`` and record it."""
    try:
        raw.flush()
        os.fsync(raw.fileno())
        raw.close()
        os.replace(tmp, final)
        fsync_dir(final.parent)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if is_disk_full(err):
            raise DiskFullError(final, err) from None
        raise
    return add_shard(final.parent, final, run_id=run_id, content=content)


class ShardStorage(FileFeedStorage):
    """Scrapy's file feed storage, but a shard reaches its final name only when whole, and is then recorded."""

    def __init__(
        self, uri: str, *, feed_options: dict[str, Any] | None = None, run_id: str = "", crawler: Any = None
    ) -> None:
        super().__init__(uri, feed_options=feed_options)
        self.run_id = run_id
        self.crawler = crawler
        self._tmp: Path | None = None

    @classmethod
    def from_crawler(cls, crawler: Any, uri: str, *, feed_options: dict[str, Any] | None = None) -> ShardStorage:
        run_id = crawler.settings.get("ACG2VEC_RUN_ID", "")
        return cls(uri, feed_options=feed_options, run_id=run_id, crawler=crawler)

    def open(self, spider: Any) -> IO[bytes]:
        final = Path(self.path)
        final.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = temporary_name(final)
        file = open(self._tmp, "wb")  # noqa: SIM115 - Scrapy's exporter writes to it until store()
        file.acg2vec_shard = ShardContent("", [], 0)  # the exporter notes each line's id here
        return file

    def store(self, file: IO[bytes]) -> None:
        assert self._tmp is not None, "store() before open()"
        noted = getattr(file, "acg2vec_shard", None)
        try:
            finish_shard(
                file,
                self._tmp,
                Path(self.path),
                run_id=self.run_id,
                content=noted if noted is not None and noted.lines else None,
            )
        except DiskFullError as err:
            if self.crawler is None:
                raise
            # One sentence and the crawl stops (the runner exits with it), not a traceback per shard.
            self._tmp.unlink(missing_ok=True)
            stop_for_full_disk(self.crawler, err.path)


class ShardFile:
    """One gzip jsonl shard written outside Scrapy: a temporary name until :meth:`close` renames and records it."""

    def __init__(self, path: str | Path, *, run_id: str) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self._tmp = temporary_name(self.path)
        self._raw = open(self._tmp, "wb")  # noqa: SIM115 - open across writes until close()
        self._gzip = gzip.GzipFile(filename=self.path.name, mode="wb", fileobj=self._raw, mtime=0)
        self._content: ShardContent | None = ShardContent("", [], 0)

    def write(self, line: str, *, item: dict[str, Any] | None = None) -> None:
        """Write one line; ``item``, its item as a dict, is noted for the record (without it, the shard is read
        back when closed)."""
        if item is None:
            self._content = None
        elif self._content is not None:
            self._content.add(item)
        try:
            self._gzip.write(line.encode("utf-8"))
        except OSError as err:
            if is_disk_full(err):
                self.discard()
                raise DiskFullError(self.path, err) from None
            raise

    def close(self) -> dict | None:
        if self._raw.closed:  # discarded
            return None
        try:
            self._gzip.close()
        except OSError as err:
            if is_disk_full(err):
                self.discard()
                raise DiskFullError(self.path, err) from None
            raise
        return finish_shard(self._raw, self._tmp, self.path, run_id=self.run_id, content=self._content)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._gzip.close()
        with contextlib.suppress(OSError):
            self._raw.close()
        self._tmp.unlink(missing_ok=True)


@dataclass(slots=True)
class ShardCheck:
    """What :func:`check_shards` found: the damaged files (errors and manifest entries, in step) and the keys
    (``kind \\t source_id``) each damaged shard lost."""

    raw_dir: Path
    run_id: str
    errors: list[DamagedFileError] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    lost: list[set[str]] = field(default_factory=list)
    recorded: int = 0  # whole shards the manifest did not know, recorded now
    unfinished_removed: int = 0  # temporary shards a killed run left

    def dead_letter(self, path: str | Path, *, step: str) -> None:
        """One dead letter per damaged file (reason ``damaged-file``) in the run's dead-letter file."""
        if not self.errors:
            return
        with DeadLetters(path, step=step) as dead:
            for err in self.errors:
                dead.add(DAMAGED_FILE, err.to_dict(), detail=str(err))

    def finish(self, report: CrawlReport, more: Sequence[dict[str, Any]] = ()) -> None:
        """After the run: count the damage in ``report`` (with ``more`` damaged files the run found, e.g. images),
        and record how many of each shard's lost items this run wrote again, in the report and the manifest."""
        report.bad_input[DAMAGED_FILE] = report.bad_input.get(DAMAGED_FILE, 0) + len(self.errors)
        if not report.bad_input[DAMAGED_FILE]:
            del report.bad_input[DAMAGED_FILE]
        if not self.entries and not more:
            return
        manifest, _damage = read_manifest(self.raw_dir)
        written: set[str] = set()
        for record in manifest["shards"].values():
            if record.get("run_id") == self.run_id:
                ids = read_ids(Path(self.raw_dir, record["ids"])) or []
                written.update(f"{record['kind']}\t{i}" for i in ids)
        for entry, lost in zip(self.entries, self.lost, strict=True):
            if entry.get("items_lost") is not None:
                entry["restored"] = len(lost & written)
        by_place = {(e.get("found_by_run"), e.get("moved_to")): e for e in self.entries}
        manifest["damaged"] = [
            by_place.get((e.get("found_by_run"), e.get("moved_to")), e) for e in manifest["damaged"]
        ]
        manifest["damaged"].extend(more)
        write_manifest(self.raw_dir, manifest)
        report.damaged = [*self.entries, *more]


def _remove_unfinished(root: Path) -> int:
    """Remove the temporary shards and ids files a killed run left (their items were never recorded)."""
    leftovers = [
        *root.glob(f".*{SHARD_SUFFIX}{TMP_TAG}*"),
        *root.glob(f".{MANIFEST_FILE}{TMP_TAG}*"),
        *root.joinpath(IDS_DIR).glob(f".*{TMP_TAG}*"),
    ]
    for path in leftovers:
        path.unlink(missing_ok=True)
    if leftovers:
        logger.info("removed %d unfinished shard file(s) a killed crawl left in %s", len(leftovers), root)
    return len(leftovers)


def _against_record(path: Path, record: dict[str, Any]) -> str | None:
    size = path.stat().st_size
    if size != record.get("size"):
        return f"{size:,} bytes where {record.get('size', 0):,} were written"
    if file_digest(path)["sha256"] != record.get("sha256"):
        return "its content differs from what was written (SHA-256 mismatch)"
    return None


def check_shards(raw_dir: str | Path, *, run_id: str, command: str) -> ShardCheck:
    """Check every shard of ``raw_dir`` against the manifest before a run; move the damaged ones aside.

    ``command`` is the crawl or import command that restores a lost shard's items (recorded as the manifest's
    ``repair``). Returns what was found; the manifest is written with the shards' records brought up to date.
    """
    root = Path(raw_dir)
    check = ShardCheck(root, run_id)
    manifest, manifest_damage = read_manifest(root)
    if manifest_damage is not None:
        manifest["damaged"][-1]["found_by_run"] = run_id
        check.errors.append(manifest_damage)
        check.entries.append(manifest["damaged"][-1])
        check.lost.append(set())
    manifest["repair"] = command
    check.unfinished_removed = _remove_unfinished(root)
    shards: dict[str, dict[str, Any]] = manifest["shards"]
    on_disk = shard_files(root)
    for path in on_disk:
        record = shards.get(path.name)
        if record is not None:
            problem = _against_record(path, record)
            if problem is not None:
                _set_aside(check, manifest, path, problem, kind=record.get("kind"), command=command)
            continue
        content = read_shard(path)
        if content.error is not None:
            _set_aside(check, manifest, path, content.error.problem, kind=content.kind, command=command, read=content)
            continue
        shards[path.name] = record_shard(root, path, run_id=_run_of(path.name), content=content)
        check.recorded += 1
    for name in sorted(set(shards) - {p.name for p in on_disk}):
        kind = shards[name].get("kind")
        _set_aside(check, manifest, root / name, "missing: the file is gone", kind=kind, command=command)
    if check.recorded:
        logger.info("recorded %d shard(s) of %s that the manifest did not know", check.recorded, root)
    write_manifest(root, manifest)
    return check


def _run_of(name: str) -> str:
    """The run id in a shard name ``<kind>-<run id>-<batch>.jsonl.gz`` (empty when the name has another form)."""
    parts = name.removesuffix(SHARD_SUFFIX).split("-")
    return "-".join(parts[1:-1])


def _set_aside(
    check: ShardCheck,
    manifest: dict[str, Any],
    path: Path,
    problem: str,
    *,
    kind: str | None,
    command: str,
    read: ShardContent | None = None,
) -> None:
    """Move a damaged (or missing) shard and its ids file to ``damaged/``; name it once; remember what it lost."""
    root = check.raw_dir
    kind = kind or path.name.split("-", 1)[0]
    manifest["shards"].pop(path.name, None)
    ids_path = ids_file(root, path.name)
    ids = read_ids(ids_path) if ids_path.exists() else None
    partial = ids is None and read is not None
    if partial:
        ids = read.ids  # the lines before the damage: at least these were lost
    moved = move_aside(root, path) if path.exists() else None
    moved_ids = move_aside(root, ids_path) if ids_path.exists() else None
    held = f"were set aside with it as {moved}" if moved is not None else "are gone with it"
    if ids is None:
        lost = f"its {kind} items (how many is not known: no record of their ids) {held}"
    elif partial:
        lost = f"at least {len(ids):,} {kind} items (those before the damage) {held}"
    else:
        lost = f"its {len(ids):,} {kind} items {held} (their ids in {moved_ids})"
    err = DamagedFileError(root / path.name, problem, lost=lost, repair=f"this run of `{command}` fetches them again")
    logger.warning("%s", err)
    entry = damage_entry(
        err,
        file=path.name,
        kind=kind,
        moved_to=moved,
        raw_dir=root,
        ids=moved_ids.relative_to(root).as_posix() if moved_ids is not None else None,
        items_lost=None if ids is None else len(ids),
        restored=None,
        found_by_run=check.run_id,
    )
    manifest["damaged"].append(entry)
    check.errors.append(err)
    check.entries.append(entry)
    check.lost.append({f"{kind}\t{i}" for i in ids or ()})


__all__ = [
    "LEGACY_DEAD_LETTER_FILE",
    "ShardCheck",
    "ShardFile",
    "ShardStorage",
    "add_shard",
    "check_shards",
    "ids_file",
    "read_ids",
    "read_shard",
    "record_shard",
    "shard_files",
]
