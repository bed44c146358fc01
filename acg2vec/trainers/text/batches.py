"""Training batches that never hold two pairs of one entity, built from sentence-transformers' own machinery.

MultipleNegativesRankingLoss treats every other row of a batch as a negative. Two pairs of one work (its Bangumi
title pair and its Wikipedia title pair, a title paired with two of its characters) in one batch would teach the
model that the work is not itself. So every training dataset keeps its ``entity_id`` column (and, beside a mined
negative, the entity that negative names), and:

- :class:`EntityBatchSampler` is the library's ``NoDuplicatesBatchSampler`` over those key columns as well as the
  texts: a row whose entity (or text) is already in the batch waits for a later batch. It is handed to the trainer
  as ``SentenceTransformerTrainingArguments(batch_sampler=EntityBatchSampler)``.
- :class:`EntityKeyedTrainer` is the library's trainer whose data collator leaves the key columns out, so the loss
  sees only the texts (anchor, positive, negatives).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sentence_transformers import SentenceTransformerTrainer
from sentence_transformers.base.sampler import NoDuplicatesBatchSampler
from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator

from acg2vec.trainers.text.data import ENTITY_COLUMN


def is_key_column(name: str) -> bool:
    """``entity_id``, ``negative_1_entity_id``, ...: the columns that key batches, never trained on."""
    return name.endswith(ENTITY_COLUMN)


class EntityBatchSampler(NoDuplicatesBatchSampler):
    """No two rows of one entity, and no text twice, in a batch.

    The library sampler's duplicate check compares every value of a row with every value already in the batch, so
    keeping ``entity_id`` (and each negative's entity) among the columns it reads makes it refuse a second row of an
    entity exactly as it refuses a repeated text. Values are hashed once up front (xxhash), so a row that waits for
    a later batch is not re-read from the table on every pass.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: Any = None,
        seed: int = 0,
    ) -> None:
        if ENTITY_COLUMN not in dataset.column_names:
            raise ValueError(
                f"EntityBatchSampler needs an {ENTITY_COLUMN!r} column; the dataset has {dataset.column_names}."
            )
        super().__init__(
            dataset,
            batch_size=batch_size,
            drop_last=drop_last,
            valid_label_columns=valid_label_columns,
            generator=generator,
            seed=seed,
            precompute_hashes=True,
            precompute_num_proc=1,  # hashing is cheap; worker processes would cost more than they save
        )


@dataclass
class EntityKeyedCollator(SentenceTransformerDataCollator):
    """The library's collator, after dropping the key columns: they decide batches, the loss never sees them."""

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        return super().__call__([{k: v for k, v in row.items() if not is_key_column(k)} for row in features])


class EntityKeyedTrainer(SentenceTransformerTrainer):
    """``SentenceTransformerTrainer`` with :class:`EntityKeyedCollator`; give it ``batch_sampler=EntityBatchSampler``."""

    data_collator_class = EntityKeyedCollator
