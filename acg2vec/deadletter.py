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
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

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
                opener = gzip.open if self.path.suffix == ".gz" else open
                self._fh = opener(self.path, "at", encoding="utf-8")
            line = dead_letter_record(reason, record, step=self.step, detail=detail)
            self._fh.write(json.dumps(line, ensure_ascii=False) + "\n")

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
