"""dead_letters: the one drop helper (counter + record) and the per-step dead-letter writer."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from acg2vec.beam_pipelines.dead_letters import DEAD, WriteDeadLetters, drop, metric_counts
from acg2vec.deadletter import dead_letter_record
from tests.beam_pipelines.image_fakes import local_test_pipeline


class _Keep(beam.DoFn):
    def process(self, n: int):
        if n % 2:
            yield drop("Odd", "odd-number", {"n": n}, detail=f"{n} is odd", split="train")
        else:
            yield n


@pytest.mark.integration
def test_drop_counts_and_makes_the_one_record_shape() -> None:
    p = local_test_pipeline()
    out = p | beam.Create([1, 2, 3, 4]) | beam.ParDo(_Keep()).with_outputs(DEAD, main="kept")
    assert_that(out.kept, equal_to([2, 4]), label="Kept")
    assert_that(
        out[DEAD],
        equal_to(
            [
                {"reason": "odd-number", "detail": "1 is odd", "step": "Odd", "record": {"n": 1}, "split": "train"},
                {"reason": "odd-number", "detail": "3 is odd", "step": "Odd", "record": {"n": 3}, "split": "train"},
            ]
        ),
        label="Dead",
    )
    result = p.run()
    result.wait_until_finish()
    assert metric_counts(result) == {"Odd-odd-number": 2}


@pytest.mark.integration
def test_write_dead_letters_round_trip(tmp_path: Path) -> None:
    records = [dead_letter_record("bad-json", "{", step="Posts"), dead_letter_record("no-file", {"id": 7}, step="F")]
    with local_test_pipeline() as p:
        _ = p | beam.Create(records) | WriteDeadLetters(str(tmp_path), "Posts")
    lines = []
    for shard in sorted((tmp_path / "dead_letters").glob("Posts-*-of-*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as fh:
            lines += [json.loads(line) for line in fh]
    assert sorted(lines, key=lambda d: d["reason"]) == records
