"""Counted drops: every rejected record gets a named reason, a count, and a line in a dead-letter file.

Used by stages that run outside Beam (crawl pipelines, importers, trainers' readers). Beam stages use
Beam metrics and a tagged dead-letter output with the same record shape: ``{"reason", "detail", "record"}``.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any


class DeadLetters:
    """Counts drops by reason and appends each dropped record to ``path`` (jsonl, gzip if it ends in .gz)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
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
            line = {"reason": reason, "detail": detail, "record": _jsonable(record)}
            self._fh.write(json.dumps(line, ensure_ascii=False) + "\n")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> DeadLetters:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _jsonable(record: Any) -> Any:
    if isinstance(record, bytes):
        return record[:2000].decode("utf-8", errors="replace")
    try:
        json.dumps(record, ensure_ascii=False)
        return record
    except (TypeError, ValueError):
        return repr(record)[:2000]
