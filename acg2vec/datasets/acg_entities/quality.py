"""How well linked entities agree with known true identities: pairwise precision and recall, and the entities
merged or split wrongly. Used by ``benchmarks/entity_linking.py`` (the sample world knows the truth) and the tests.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass


@dataclass(slots=True)
class LinkQuality:
    """Over record pairs: ``true_pairs`` (same true entity), ``linked_pairs`` (same predicted entity), their
    overlap; ``wrongly_merged``: predicted entities holding records of several true entities; ``wrongly_split``:
    true entities whose records sit in several predicted entities."""

    records: int
    true_entities: int
    predicted_entities: int
    true_pairs: int
    linked_pairs: int
    correct_pairs: int
    wrongly_merged: int
    wrongly_split: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.linked_pairs if self.linked_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    def as_dict(self) -> dict:
        return {**asdict(self), "precision": round(self.precision, 5), "recall": round(self.recall, 5)}


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def link_quality(predicted: dict[str, str], truth: dict[str, str | None]) -> LinkQuality:
    """``predicted`` and ``truth``: record id -> entity; records whose truth is None are about nothing known
    (each counts as its own true entity)."""
    truth = {r: (t if t is not None else f"unknown:{r}") for r, t in truth.items() if r in predicted}
    by_true: dict[str, list[str]] = defaultdict(list)
    by_predicted: dict[str, list[str]] = defaultdict(list)
    by_both: dict[tuple[str, str], int] = defaultdict(int)
    for record, true in truth.items():
        by_true[true].append(record)
        by_predicted[predicted[record]].append(record)
        by_both[(true, predicted[record])] += 1
    return LinkQuality(
        records=len(truth),
        true_entities=len(by_true),
        predicted_entities=len(by_predicted),
        true_pairs=sum(_pairs(len(v)) for v in by_true.values()),
        linked_pairs=sum(_pairs(len(v)) for v in by_predicted.values()),
        correct_pairs=sum(_pairs(n) for n in by_both.values()),
        wrongly_merged=sum(1 for v in by_predicted.values() if len({truth[r] for r in v}) > 1),
        wrongly_split=sum(1 for v in by_true.values() if len({predicted[r] for r in v}) > 1),
    )
