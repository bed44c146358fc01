"""Counted drops: every rejected record gets a named reason, a count, and a line in a dead-letter file.

One layout for every stage (crawl, build, train, embed, eval):

- **Record**: one JSON object per line, ``{"reason", "detail", "step", "record"}``. ``reason`` is a short
  kebab-case name (``bad-json``, ``undecodable-utf8``, ``image-truncated`` ...); ``detail`` says what exactly
  (at most 500 characters); ``step`` names the step that dropped it; ``record`` is the dropped input, JSON-ready
  (bytes and long texts cut at 2,000 characters). Build outputs may add ``split``.
- **Files**: ``<output folder>/dead_letters/<step>.jsonl.gz`` from a single process (:class:`DeadLetters`,
  :func:`dead_letter_path`), ``<output folder>/dead_letters/<step>-SSSSS-of-NNNNN.jsonl.gz`` from a Beam step
  (one file per shard of that step).
- **Counters**: ``<step>-<reason>`` (:func:`counter_name`), plus ``<step>-read`` for what a step read; Beam
  steps count in the metrics namespace ``acg2vec``. What a stage reports adds up: read = written + dropped.

Stages outside Beam (crawl pipelines, importers, trainers' readers) use :class:`DeadLetters`; Beam steps use
:func:`acg2vec.beam_pipelines.dead_letters.drop`, which makes the same record.

A crash never costs more than the record being written: :class:`DeadLetters` flushes the gzip stream after each
record, so a killed run leaves a file readable up to its last whole record, and a run appending to a file whose
end a crash cut first rewrites it with its whole records (a warning names it). :func:`read_dead_letters` reads
any dead-letter file that way: a damaged one is a warning naming it and what was lost, never an exception; the
counts a report gives come from the stage's manifest, not from these files.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import threading
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEAD_LETTERS_DIR = "dead_letters"
SUFFIX = ".jsonl.gz"
NAMESPACE = "acg2vec"  # Beam metrics namespace of every counter
MAX_DETAIL = 500
MAX_RECORD = 2000


def counter_name(step: str, reason: str) -> str:
    """The one counter naming scheme: ``<step>-<reason>``, e.g. ``Posts-bad-json`` or ``Lines-read``."""
    return f"{step}-{reason}"


def dead_letter_path(output_dir: str | Path, step: str) -> str:
    """Where one step's dead letters go: ``<output_dir>/dead_letters/<step>.jsonl.gz`` (local or remote)."""
    return f"{str(output_dir).rstrip('/')}/{DEAD_LETTERS_DIR}/{step}{SUFFIX}"


def dead_letter_prefix(output_dir: str | Path, step: str) -> str:
    """The file prefix of a sharded (Beam) step: shards are ``<prefix>-SSSSS-of-NNNNN.jsonl.gz``."""
    return f"{str(output_dir).rstrip('/')}/{DEAD_LETTERS_DIR}/{step}"


def dead_letter_record(reason: str, record: Any = None, *, step: str = "", detail: str = "") -> dict[str, Any]:
    """One dead-letter record; ``record`` is the dropped input (made JSON-ready, long values cut)."""
    return {"reason": reason, "detail": str(detail)[:MAX_DETAIL], "step": step, "record": jsonable(record)}


class DeadLetters:
    """Counts drops by reason and appends each dropped record to ``path`` (jsonl, gzip if it ends in .gz).

    ``path`` None: count only. ``step`` goes into every record (see the module doc for the layout; build the
    path with :func:`dead_letter_path`). ``fresh``: remove the file an earlier run left at ``path`` first, for a
    step that rewrites its whole output (so the file holds this run's drops, as its report counts them); without
    it, lines are appended (a crawl or an embed adding to a folder that keeps earlier runs' output).
    """

    def __init__(self, path: str | Path | None, *, step: str = "", fresh: bool = False) -> None:
        self.path = Path(path) if path else None
        if fresh and self.path is not None:
            self.path.unlink(missing_ok=True)
        self.step = step
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._fh = None

    def add(self, reason: str, record: Any = None, *, detail: str = "") -> None:
        with self._lock:
            self.counts[reason] += 1
            if self.path is None:
                return
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if self.path.suffix == ".gz" and self.path.exists():
                    _rewrite_if_cut(self.path)  # appending after a cut member would make the rest unreadable
                opener = gzip.open if self.path.suffix == ".gz" else open
                self._fh = opener(self.path, "at", encoding="utf-8")
            line = dead_letter_record(reason, record, step=self.step, detail=detail)
            self._fh.write(json.dumps(line, ensure_ascii=False) + "\n")
            # A sync flush per record: the bytes on disk decompress up to this record even if the run is killed.
            self._fh.flush()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def counters(self) -> dict[str, int]:
        """The counts under the one naming scheme (``<step>-<reason>``)."""
        return {counter_name(self.step, reason): n for reason, n in sorted(self.counts.items())}

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> DeadLetters:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _whole_lines(path: Path) -> tuple[list[bytes], str]:
    """The complete lines of a gzip file of one or more members, and what stopped the read ("" when whole).

    Unlike :mod:`gzip`, a member without its end (a writer killed after a sync flush) gives every line it holds."""
    lines: list[bytes] = []
    pending = b""
    problem = ""
    with open(path, "rb") as fh:
        data = fh.read(1 << 20)
        if not data:
            return [], "it is empty (0 bytes)"
        inflate = zlib.decompressobj(wbits=31)
        while data:
            try:
                pending += inflate.decompress(data)
            except zlib.error as err:
                problem = f"its gzip data is corrupt ({err})"
                break
            if inflate.eof:  # a member ended; the next may start in its unused bytes
                data = inflate.unused_data or fh.read(1 << 20)
                if data:
                    inflate = zlib.decompressobj(wbits=31)
                continue
            data = fh.read(1 << 20)
            if not data:
                problem = "its last gzip member has no end: a run stopped while writing it"
        *complete, pending = pending.split(b"\n")
        lines.extend(complete)
    if pending:
        problem = problem or "its last record has no line end"
    return lines, problem


def _rewrite_if_cut(path: Path) -> None:
    """Rewrite a gzip dead-letter file a crash cut (or damaged) with its whole records, so records appended to it
    stay readable; a warning names the file and what was lost."""
    lines, problem = _whole_lines(path)
    if not problem:
        return
    kept = path.with_name(path.name + ".damaged")  # the damaged bytes stay for whoever wants to look at them
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw, mtime=0) as fh:
            fh.writelines(line + b"\n" for line in lines)
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(path, kept)
    os.replace(tmp, path)
    log.warning(
        "%s was damaged (%s); its %d whole records are kept and this run appends after them (the damaged file is "
        "kept as %s)",
        path,
        problem,
        len(lines),
        kept.name,
    )


def read_dead_letters(path: str | Path) -> list[dict[str, Any]]:
    """The records of a dead-letter file (``.jsonl.gz`` or ``.jsonl``). A damaged file (cut short, bytes changed,
    another kind of file) gives the records before the damage and a warning naming it: a report that shows dead
    letters never fails on them (its counts come from the stage's manifest)."""
    path = Path(path)
    if path.suffix == ".gz":
        lines, problem = _whole_lines(path)
    else:
        data = path.read_bytes()
        lines, problem = data.split(b"\n"), ""
        if lines[-1]:
            problem = "its last record has no line end"
        lines = lines[:-1]
    records, bad = [], 0
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            bad += 1
    if bad:
        problem = (problem + "; " if problem else "") + f"{bad} lines are not dead-letter records"
    if problem:
        log.warning("%s is damaged (%s); read the %d whole records before the damage", path, problem, len(records))
    return records


def jsonable(record: Any) -> Any:
    """``record`` as JSON can hold it: bytes decoded (bad bytes replaced), long strings cut, others as repr."""
    if isinstance(record, bytes):
        return record[:MAX_RECORD].decode("utf-8", errors="replace")
    if isinstance(record, str):
        return record[:MAX_RECORD]
    try:
        json.dumps(record, ensure_ascii=False)
        return record
    except (TypeError, ValueError):
        return repr(record)[:MAX_RECORD]
