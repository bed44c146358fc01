"""Raw crawl shards checked whole before a build reads a line of them.

A gzip shard changed in the middle decompresses to changed lines before its CRC fails at the end, and one cut
short reads as a last half line (a "malformed" line) and nothing after it: a line-by-line reader cannot tell
damage from bad input. So every build (``build images``, ``build texts``, ``build entities``) first checks each
shard it is about to read, in the driver (the same on every runner, local paths and gs:// / s3:// alike):

- with the crawl's record of the shard in ``raw/<source>/manifest.json`` (size and SHA-256, its line count): the
  size and the checksum must match;
- without one (a crawl from before the record, a hand-made folder): a ``.gz`` shard is decompressed to its end
  (stream end and CRC, :func:`acg2vec.integrity.check_gzip`); a plain ``.jsonl`` must end with a line end;
- a shard the crawl recorded that is no longer there (a copy or sync that stopped half-way) is damaged too.

:func:`check_raw_shards` refuses the first damaged shard in one sentence (:class:`~acg2vec.integrity.DamagedFileError`:
the shard, what is wrong, the lines lost, the repair ``acg2vec crawl <source>`` or ``--skip-damaged``); with
``skip_damaged`` it returns the good shards and a :class:`ShardCheck` whose :meth:`~ShardCheck.record` the build
puts in its metadata and card under ``damaged-file`` (found = read + damaged, the lines lost where known) and whose
:meth:`~ShardCheck.dead_letters` it writes beside its other dead letters.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from apache_beam.io.filesystems import FileSystems

from acg2vec import integrity
from acg2vec.beam_pipelines import files
from acg2vec.deadletter import dead_letter_path
from acg2vec.integrity import DAMAGED_FILE, DamagedFileError
from acg2vec.workspace import is_remote

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"  # the crawl's, in raw/<source>/ (acg2vec.crawlers.feeds)
STEP = "RawShards"  # the dead-letter step and counter prefix of shards a build went on without
CHECK_THREADS = 4  # decompression and hashing release the GIL; a few shards at once keep a remote store busy


def source_of(path: str) -> str:
    """The crawl source of ``raw/<source>/<kind>-*.jsonl.gz`` (its folder's name)."""
    return path.rstrip("/").rsplit("/", 2)[-2]


def shard_name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def manifest_records(source_dir: str) -> dict[str, dict[str, Any]]:
    """The crawl's per-shard records in ``<source_dir>/manifest.json``, by file name: ``size``, ``sha256`` and the
    ``lines`` (items) it wrote. None recorded (an older crawl, no manifest, an unreadable one): empty."""
    path = f"{source_dir.rstrip('/')}/{MANIFEST_FILE}"
    try:
        with FileSystems.open(path, compression_type="uncompressed") as fh:
            manifest = json.loads(fh.read().decode("utf-8"))
    except Exception:  # noqa: BLE001 - no manifest (any file system), or one that is not JSON: no records
        return {}
    shards = manifest.get("shards") if isinstance(manifest, dict) else None
    if isinstance(shards, list):
        shards = {str(r.get("file") or r.get("name") or r.get("path", "")).rsplit("/", 1)[-1]: r for r in shards}
    if not isinstance(shards, dict):
        return {}
    return {name.rsplit("/", 1)[-1]: r for name, r in shards.items() if isinstance(r, dict)}


def _recorded_lines(record: dict[str, Any] | None) -> int | None:
    if not record:
        return None
    for key in ("lines", "line_count", "items"):
        if isinstance(record.get(key), int):
            return record[key]
    return None


def repair_for(path: str, command: str) -> str:
    """The repair a damaged shard's sentence names: the crawl that re-fetches it, or ``command --skip-damaged``."""
    return (
        f"re-fetch its items with `acg2vec crawl {source_of(path)}`, or build without it with "
        f"`{command} --skip-damaged`"
    )


def _lost(record: dict[str, Any] | None, readable: int | None) -> tuple[str, int | None]:
    lines = _recorded_lines(record)
    if lines is not None:
        return f"its {lines:,} lines (items, as the crawl counted them) are lost", lines
    if readable:
        return f"its lines from line {readable + 1:,} on are lost (how many, the crawl did not record)", None
    return "every line of it is lost (how many, the crawl did not record)", None


def _gzip_lines(path: str, size: int) -> int:
    """Lines of a gzip shard read to its end (stream end and CRC checked); raises ``DamagedFileError`` (problem
    only: the caller words the loss)."""
    if not is_remote(path):
        return integrity.check_gzip(path)
    if size == 0:
        raise DamagedFileError(path, "it is empty (0 bytes), not even a gzip header")
    lines = 0
    try:
        with FileSystems.open(path, compression_type="uncompressed") as raw, gzip.GzipFile(fileobj=raw) as fh:
            for _ in fh:
                lines += 1
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        problem = integrity._gzip_problem(err)  # noqa: SLF001 - the one wording of gzip damage
        raise DamagedFileError(path, problem, lost=f"after {lines:,} lines") from None
    return lines


def _plain_lines(path: str, size: int) -> int:
    """A plain ``.jsonl`` shard without a record: only a missing last line end is seen (a cut copy)."""
    if size == 0:
        return 0
    lines, last = 0, b""
    with FileSystems.open(path, compression_type="uncompressed") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        raise DamagedFileError(path, "its last line has no line end: the file was cut short")
    return lines


def check_shard(path: str, size: int, record: dict[str, Any] | None, *, command: str) -> int | None:
    """Check one shard (see the module doc); returns its line count where known, else raises the sentence."""
    repair = repair_for(path, command)
    problem, readable = None, None
    if record and isinstance(record.get("size"), int) and record["size"] != size:
        problem = f"{size:,} bytes where the crawl wrote {record['size']:,}"
    elif record and isinstance(record.get("sha256"), str):
        if files.digest(path)["sha256"] != record["sha256"]:
            problem = "its content differs from what the crawl wrote (checksum mismatch)"
        else:
            return _recorded_lines(record)
    else:
        try:
            lines = _gzip_lines(path, size) if path.endswith(".gz") else _plain_lines(path, size)
        except DamagedFileError as err:
            problem = err.problem
            readable = _readable_before(err)
        else:
            recorded = _recorded_lines(record)
            if recorded is not None and recorded != lines:
                problem = f"{lines:,} lines where the crawl wrote {recorded:,}"
            else:
                return lines
    lost, _ = _lost(record, readable)
    raise DamagedFileError(path, problem, lost=lost, repair=repair)


def _readable_before(err: DamagedFileError) -> int | None:
    """The lines :func:`acg2vec.integrity.read_gzip_lines` read before it found the damage (in its ``lost``)."""
    import re

    found = re.search(r"after ([\d,]+) lines", err.lost or "")
    return int(found.group(1).replace(",", "")) if found else None


@dataclass(slots=True)
class ShardCheck:
    """What :func:`check_raw_shards` found: the shards to read (``(path, size)``) and the damaged ones skipped."""

    good: list[tuple[str, int]] = field(default_factory=list)
    damaged: list[DamagedFileError] = field(default_factory=list)
    lines_lost: dict[str, int | None] = field(default_factory=dict)  # by path: recorded lines, None: unknown

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.good]

    def restrict(self, patterns: Iterable[str]) -> ShardCheck:
        """The same check for the shards matching ``patterns`` (another build reading some of them)."""
        patterns = list(patterns)

        def kept(path: str) -> bool:
            return any(fnmatchcase(path, pattern) for pattern in patterns)

        return ShardCheck(
            good=[g for g in self.good if kept(g[0])],
            damaged=[d for d in self.damaged if kept(d.path)],
            lines_lost={p: n for p, n in self.lines_lost.items() if kept(p)},
        )

    def record(self) -> dict[str, Any]:
        """For build metadata and the card: shards found = read + ``damaged-file``; each skipped shard with its
        problem and the lines lost (None where the crawl recorded no count)."""
        known = [n for n in self.lines_lost.values() if n is not None]
        return {
            "found": len(self.good) + len(self.damaged),
            "read": len(self.good),
            DAMAGED_FILE: len(self.damaged),
            "lines_lost": sum(known) if len(known) == len(self.damaged) else None,
            "skipped": [
                {
                    "shard": err.path,
                    "problem": err.problem,
                    "lines_lost": self.lines_lost.get(err.path),
                    "repair": f"acg2vec crawl {source_of(err.path)}",
                }
                for err in self.damaged
            ],
        }

    def dead_letters(self) -> list[dict[str, Any]]:
        """One dead-letter record per skipped shard (reason ``damaged-file``, step :data:`STEP`)."""
        return [integrity.damaged_file_record(err, step=STEP) for err in self.damaged]


def raw_shard_balance(record: dict[str, Any] | None) -> dict[str, tuple[int, int, int]]:
    """For a :class:`~acg2vec.beam_pipelines.publish.BuildResult`'s balances: the raw shards found = read +
    damaged, when some were skipped (nothing otherwise, so a clean build's summary stays as it was)."""
    if not record or not record.get(DAMAGED_FILE):
        return {}
    return {f"raw shards ({DAMAGED_FILE})": (record["found"], record["read"], record[DAMAGED_FILE])}


def write_dead_letters(out_dir: str, check: ShardCheck) -> None:
    """``<out_dir>/dead_letters/RawShards.jsonl.gz``: one record per skipped shard (nothing when none was)."""
    if not check.damaged:
        return
    lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in check.dead_letters())
    files.write_bytes(dead_letter_path(out_dir, STEP), gzip.compress(lines.encode("utf-8"), mtime=0))


def card_section(record: dict[str, Any]) -> str:
    """Markdown for a dataset card: the raw shards this build went on without (empty when none)."""
    if not record.get(DAMAGED_FILE):
        return ""
    lost = record.get("lines_lost")
    lines = [
        "## Damaged raw shards skipped (`--skip-damaged`)",
        "",
        f"Raw shards found {record['found']} = read {record['read']} + {DAMAGED_FILE} {record[DAMAGED_FILE]}; "
        + (f"{lost:,} lines lost." if lost is not None else "lines lost: not all recorded by the crawl.")
        + f" Each is in `dead_letters/{STEP}.jsonl.gz`; the repair command re-fetches its items.",
        "",
        "| shard | problem | lines lost | repair |",
        "|---|---|---:|---|",
        *(
            f"| {s['shard']} | {s['problem']} | {'unknown' if s['lines_lost'] is None else s['lines_lost']} "
            f"| `{s['repair']}` |"
            for s in record["skipped"]
        ),
        "",
    ]
    return "\n".join(lines)


def check_raw_shards(
    found: list[tuple[str, int]], *, command: str, skip_damaged: bool = False, patterns: Iterable[str] = ()
) -> ShardCheck:
    """Check every shard of ``found`` (``(path, size)``, as :func:`acg2vec.beam_pipelines.files.match` lists them).

    ``patterns``: the globs ``found`` was listed with; a shard the crawl recorded under one of them that is not on
    disk any more is damaged too ("missing"). A damaged shard raises its
    :class:`~acg2vec.integrity.DamagedFileError` (the first in name order) unless ``skip_damaged``; ``command`` is
    the build's own (``acg2vec build texts``), for the sentence's repair.
    """
    patterns = list(patterns)
    folders = {path.rstrip("/").rsplit("/", 1)[0] for path, _ in found}
    folders |= {pattern.rsplit("/", 1)[0] for pattern in patterns}
    records = {folder: manifest_records(folder) for folder in sorted(folders)}
    on_disk = {path for path, _ in found}
    missing = sorted(
        f"{folder}/{name}"
        for folder, recorded in records.items()
        for name in recorded
        if f"{folder}/{name}" not in on_disk and any(fnmatchcase(f"{folder}/{name}", p) for p in patterns)
    )

    def one(item: tuple[str, int]) -> tuple[str, int, DamagedFileError | None, int | None]:
        path, size = item
        record = records[path.rstrip("/").rsplit("/", 1)[0]].get(shard_name(path))
        try:
            check_shard(path, size, record, command=command)
        except DamagedFileError as err:
            return path, size, err, _recorded_lines(record)
        return path, size, None, None

    check = ShardCheck()
    for path in missing:
        record = records[path.rsplit("/", 1)[0]][shard_name(path)]
        lost, lines = _lost(record, None)
        check.damaged.append(
            DamagedFileError(path, "missing: the crawl recorded it", lost=lost, repair=repair_for(path, command))
        )
        check.lines_lost[path] = lines
    ordered = sorted(found)
    with ThreadPoolExecutor(max_workers=max(1, min(CHECK_THREADS, len(ordered)))) as pool:
        for number, (path, size, err, lines) in enumerate(pool.map(one, ordered), 1):
            if err is None:
                check.good.append((path, size))
            else:
                check.damaged.append(err)
                check.lines_lost[path] = lines
            if number % 100 == 0 or number == len(ordered):
                log.info("checked %d of %d raw shards (%d damaged)", number, len(ordered), len(check.damaged))
    check.damaged.sort(key=lambda err: err.path)
    if check.damaged and not skip_damaged:
        first = check.damaged[0]
        if len(check.damaged) == 1:
            raise first
        others = ", ".join(shard_name(err.path) for err in check.damaged[1:])
        more = f"{first.lost}; {len(check.damaged) - 1} more shards are damaged ({others})"
        raise DamagedFileError(first.path, first.problem, lost=more, repair=first.repair)
    for err in check.damaged:
        log.warning("%s Building without it (--skip-damaged).", err)
    return check
