"""Drops in Beam steps: one helper counts a drop and makes its dead-letter record; one writer puts them on disk.

The record, file and counter layout is the one of :mod:`acg2vec.deadletter` (every stage shares it):
``drop(step, reason, record)`` increments the Beam counter ``acg2vec:<step>-<reason>`` and returns the record on
the :data:`DEAD` output; :class:`WriteDeadLetters` writes a step's records to
``<output>/dead_letters/<step>-SSSSS-of-NNNNN.jsonl.gz``.
"""

from __future__ import annotations

import json
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from acg2vec.deadletter import NAMESPACE, counter_name, dead_letter_prefix, dead_letter_record

DEAD = "dead"  # tag of the dead-letter output of every DoFn in acg2vec


def count(step: str, name: str, n: int = 1) -> None:
    """Increment the Beam counter ``acg2vec:<step>-<name>`` (a drop reason or an outcome such as ``read``)."""
    Metrics.counter(NAMESPACE, counter_name(step, name)).inc(n)


def drop(step: str, reason: str, record: Any, *, detail: str = "", **extra: Any) -> beam.pvalue.TaggedOutput:
    """Count one drop and return its dead-letter record on the :data:`DEAD` output (``extra``: e.g. ``split``)."""
    count(step, reason)
    return beam.pvalue.TaggedOutput(DEAD, {**dead_letter_record(reason, record, step=step, detail=detail), **extra})


def to_json(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


class WriteDeadLetters(beam.PTransform):
    """Dead-letter records of one step -> ``<output_dir>/dead_letters/<step>-SSSSS-of-NNNNN.jsonl.gz``."""

    def __init__(self, output_dir: str, step: str) -> None:
        super().__init__()
        self.prefix = dead_letter_prefix(output_dir, step)

    def expand(self, dead: beam.PCollection) -> beam.pvalue.PDone:
        return (
            dead
            | "DeadLetterToJson" >> beam.Map(to_json)
            | "WriteDeadLetterShards" >> beam.io.WriteToText(self.prefix, file_name_suffix=".jsonl.gz")
        )


def write_dead_letters_by_step(output_dir: str, dead: dict[str, beam.PCollection]) -> None:
    """Each step's dead letters written inside that step's stage.

    A flatten across steps would make the local runner buffer them all (and a filter can drop most of a crawl).
    """
    for step, records in dead.items():
        _ = records | f"WriteDeadLetters{step}" >> WriteDeadLetters(output_dir, step)


def metric_counts(result) -> dict[str, int]:
    """The committed ``acg2vec`` counters of a finished pipeline, by name (summed over steps)."""
    from apache_beam.metrics.metric import MetricsFilter

    out: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        out[counter.key.metric.name] = out.get(counter.key.metric.name, 0) + int(value or 0)
    return dict(sorted(out.items()))
