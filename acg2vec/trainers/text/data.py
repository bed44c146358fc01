"""Read ``acg_text_pairs`` (zstd Parquet) memory-mapped through Hugging Face ``datasets``.

Training data is one dataset per pair type (a ``DatasetDict``), so the trainer's multi-dataset sampler can draw
from them round-robin or in proportion to their size, each batch from a single pair type. Rows that cannot train
anything are counted under a named reason and written to a dead-letter file; read = kept + dropped per split.
"""

from __future__ import annotations

import glob
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acg2vec.datasets.acg_text_pairs.schema import COLUMNS, NAME, SPLITS
from acg2vec.deadletter import DeadLetters
from acg2vec.errors import UserError

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict

log = logging.getLogger(__name__)

TEXT_COLUMNS = ["anchor", "positive"]
# Drop reasons, in the order they are checked.
MISSING_TEXT = "missing-text"
SELF_PAIR = "self-pair"  # anchor == positive: a row that is its own in-batch duplicate teaches nothing
MISSING_PAIR_TYPE = "missing-pair-type"


@dataclass(slots=True)
class PairCorpus:
    """The splits as Arrow-backed datasets (all columns), with the drop counts of reading them."""

    splits: dict[str, Dataset]
    read: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)

    def counts(self) -> dict[str, Any]:
        return {
            split: {"read": self.read[split], "kept": len(ds), "dropped": self.dropped.get(split, {})}
            for split, ds in self.splits.items()
        }


def find_parquet_root(data_dir: str | Path) -> Path:
    """The folder holding ``<split>/part-*.parquet``: given the datasets root or that folder itself."""
    data_dir = Path(data_dir).expanduser()
    for candidate in (data_dir / "parquet" / NAME, data_dir / NAME, data_dir):
        if glob.glob(str(candidate / "train" / "*.parquet")):
            return candidate
    raise UserError(
        f"No {NAME} corpus found under {data_dir} (expected parquet/{NAME}/train/part-*.parquet); "
        "build it first with `acg2vec build texts`."
    )


def drop_reason(row: dict[str, Any]) -> str:
    """The named reason a row cannot be trained on, or "" when it is fine."""
    anchor, positive = row.get("anchor"), row.get("positive")
    if not isinstance(anchor, str) or not isinstance(positive, str) or not anchor.strip() or not positive.strip():
        return MISSING_TEXT
    if anchor.strip() == positive.strip():
        return SELF_PAIR
    if not row.get("pair_type"):
        return MISSING_PAIR_TYPE
    return ""


def _reasons(batch: dict[str, list[Any]]) -> dict[str, list[str]]:
    rows = [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)]
    return {"_drop_reason": [drop_reason(row) for row in rows]}


def load_pairs(
    data_dir: str | Path,
    *,
    splits: tuple[str, ...] = ("train", "validation"),
    cache_dir: str | Path | None = None,
    dead_letters: DeadLetters | None = None,
) -> PairCorpus:
    """Load the Parquet splits (Arrow cache files are memory-mapped, never read whole into memory)."""
    from datasets import load_dataset

    root = find_parquet_root(data_dir)
    data_files = {}
    for split in splits:
        files = sorted(glob.glob(str(root / split / "*.parquet")))
        if not files:
            raise UserError(
                f"The {NAME} corpus at {root} has no {split!r} split; rebuild it with `acg2vec build texts`."
            )
        data_files[split] = files
    raw = load_dataset("parquet", data_files=data_files, cache_dir=str(cache_dir) if cache_dir else None)
    corpus = PairCorpus(splits={})
    for split in splits:
        ds = raw[split]
        missing = [c for c in COLUMNS if c not in ds.column_names]
        if missing:
            raise UserError(f"The {NAME} {split} split at {root} lacks columns {missing}; it is not an {NAME} corpus.")
        ds = ds.map(_reasons, batched=True, desc=f"Checking {split} pairs")
        rejected = ds.filter(lambda r: r["_drop_reason"] != "", desc=f"Finding dropped {split} pairs")
        counts: Counter[str] = Counter()
        for row in rejected:
            reason = row.pop("_drop_reason")
            counts[reason] += 1
            if dead_letters is not None:
                dead_letters.add(reason, {"split": split, **row})
        kept = ds.filter(lambda r: r["_drop_reason"] == "", desc=f"Keeping {split} pairs").remove_columns(
            "_drop_reason"
        )
        corpus.splits[split] = kept
        corpus.read[split] = len(ds)
        corpus.dropped[split] = dict(counts)
        if counts:
            log.warning("%s: dropped %d of %d pairs: %s", split, sum(counts.values()), len(ds), dict(counts))
        log.info("%s: %d pairs", split, len(kept))
    if len(corpus.splits[splits[0]]) == 0:
        raise UserError(f"The {NAME} {splits[0]} split at {root} has no usable pairs.")
    return corpus


def by_pair_type(ds: Dataset, *, seed: int) -> DatasetDict:
    """One shuffled (anchor, positive) dataset per pair type.

    Only the two text columns are kept: the trainer feeds every other column to the loss as an input.
    """
    from datasets import DatasetDict

    out = {}
    for pair_type in sorted(set(ds.unique("pair_type"))):
        part = ds.filter(lambda r, pt=pair_type: r["pair_type"] == pt, desc=f"Selecting {pair_type}")
        # A global shuffle (an index permutation over the memory-mapped table), so batches mix works and sources.
        out[pair_type] = part.select_columns(TEXT_COLUMNS).shuffle(seed=seed)
    return DatasetDict(out)


def corpus_texts(ds: Dataset, *, limit: int | None = None) -> Iterator[str]:
    """Every anchor and positive (at most ``limit``), streamed batch by batch from the memory-mapped table."""
    count = 0
    for batch in ds.select_columns(TEXT_COLUMNS).iter(batch_size=4096):
        for col in TEXT_COLUMNS:
            for text in batch[col]:
                if limit is not None and count >= limit:
                    return
                count += 1
                yield text


def pair_type_counts(ds: Dataset) -> dict[str, int]:
    return dict(sorted(Counter(ds["pair_type"]).items()))


def splits_available(data_dir: str | Path) -> list[str]:
    root = find_parquet_root(data_dir)
    return [s for s in SPLITS if glob.glob(str(root / s / "*.parquet"))]
