"""deadletter: the one dead-letter layout (record, file, counter names) shared by every stage."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from acg2vec.deadletter import DeadLetters, counter_name, dead_letter_path, dead_letter_prefix, dead_letter_record

pytestmark = pytest.mark.unit


def test_record_shape_cuts_long_values() -> None:
    record = dead_letter_record("bad-json", b"\xff{", step="Posts", detail="x" * 900)
    assert set(record) == {"reason", "detail", "step", "record"}
    assert record["reason"] == "bad-json" and record["step"] == "Posts" and len(record["detail"]) == 500
    assert record["record"] == "\ufffd{"  # bytes kept readable, bad bytes replaced
    assert len(dead_letter_record("r", "y" * 5000)["record"]) == 2000
    assert dead_letter_record("r", {"a": object()})["record"].startswith("{'a': <object")


def test_paths_and_counter_names() -> None:
    assert dead_letter_path("/w/datasets/x/1.0.0", "Posts") == "/w/datasets/x/1.0.0/dead_letters/Posts.jsonl.gz"
    assert dead_letter_prefix("gs://b/x/", "Lines") == "gs://b/x/dead_letters/Lines"
    assert counter_name("Posts", "bad-json") == "Posts-bad-json"


def test_dead_letters_writes_the_layout_and_counts(tmp_path: Path) -> None:
    path = dead_letter_path(tmp_path, "Embed")
    with DeadLetters(path, step="Embed") as dead:
        dead.add("blank-line", {"line": 3})
        dead.add("blank-line", {"line": 9}, detail="empty")
    assert dead.total == 2 and dead.counters() == {"Embed-blank-line": 2}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh]
    assert lines[1] == {"reason": "blank-line", "detail": "empty", "step": "Embed", "record": {"line": 9}}
    counting = DeadLetters(None)  # count only, as before
    counting.add("x")
    assert counting.counts == {"x": 1}
