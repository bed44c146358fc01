"""Dead letters: counted by reason and written one JSON line each."""

from __future__ import annotations

import gzip
import json

import pytest

from acg2vec.deadletter import DeadLetters

pytestmark = pytest.mark.unit


def test_dead_letters_count_and_write(tmp_path):
    path = tmp_path / "dead" / "rejects.jsonl.gz"
    with DeadLetters(path) as dead:
        dead.add("bad-json", b"{oops", detail="line 3")
        dead.add("bad-json", "x")
        dead.add("too-small", {"id": 1})
    assert dead.counts == {"bad-json": 2, "too-small": 1}
    assert dead.total == 3
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh]
    assert [line["reason"] for line in lines] == ["bad-json", "bad-json", "too-small"]
    assert lines[0]["detail"] == "line 3"
