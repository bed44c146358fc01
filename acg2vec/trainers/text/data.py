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

from acg2vec.datasets.acg_text_pairs.readers import parquet_root
from acg2vec.datasets.acg_text_pairs.schema import BUILD_COMMAND, COLUMNS, NAME, PAIR_TYPES
from acg2vec.deadletter import DeadLetters
from acg2vec.errors import UserError
from acg2vec.integrity import DamagedFileError
from acg2vec.trainers.text.lexical_baseline import CharNgramTfidf

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict

log = logging.getLogger(__name__)

TEXT_COLUMNS = ["anchor", "positive"]
ENTITY_COLUMN = "entity_id"
# Drop reasons, in the order they are checked.
MISSING_TEXT = "missing-text"
SELF_PAIR = "self-pair"  # anchor == positive: a row that is its own in-batch duplicate teaches nothing
MISSING_PAIR_TYPE = "missing-pair-type"
MISSING_ENTITY = "missing-entity"  # batches and splits are keyed by entity: a pair without one has no place


def negative_entity_column(n: int) -> str:
    """The batch-key column naming the entity of mined negative ``n`` (1-based)."""
    return f"negative_{n}_{ENTITY_COLUMN}"


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
    """The folder holding ``<split>/part-*.parquet`` of a finished build: given the datasets root or that folder."""
    return Path(parquet_root(data_dir))


def drop_reason(row: dict[str, Any]) -> str:
    """The named reason a row cannot be trained on, or "" when it is fine."""
    anchor, positive = row.get("anchor"), row.get("positive")
    if not isinstance(anchor, str) or not isinstance(positive, str) or not anchor.strip() or not positive.strip():
        return MISSING_TEXT
    if anchor.strip() == positive.strip():
        return SELF_PAIR
    if not row.get("pair_type"):
        return MISSING_PAIR_TYPE
    if not isinstance(row.get("entity_id"), str) or not row["entity_id"].strip():
        return MISSING_ENTITY
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
    from datasets.exceptions import DatasetGenerationError

    try:
        raw = load_dataset("parquet", data_files=data_files, cache_dir=str(cache_dir) if cache_dir else None)
    except DatasetGenerationError as err:
        # A page changed inside a part whose footer is whole (a corpus without CHECKSUMS.json): name the part.
        raise damaged_part(data_files) or err from err
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


def damaged_part(data_files: dict[str, list[str]]) -> DamagedFileError | None:
    """The first Parquet part whose pages cannot be read, as the one sentence; None when every part reads (only
    called after reading failed: it reads every part whole)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for split, paths in data_files.items():
        for path in paths:
            try:
                pq.read_table(path)
            except (OSError, ValueError, pa.ArrowException) as err:
                detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
                return DamagedFileError(
                    path,
                    f"a page of it cannot be read: {detail}",
                    lost=f"the {split} pairs in it are lost",
                    repair=BUILD_COMMAND,
                )
    return None


def by_pair_type(ds: Dataset, *, seed: int, hard_negatives: int = 0) -> DatasetDict:
    """One shuffled (anchor, positive[, negative_1 ..], entity_id[, negative_1_entity_id ..]) dataset per pair type.

    The texts are what the loss trains on; the ``*entity_id`` key columns only decide batches (see
    :mod:`acg2vec.trainers.text.batches`: no two rows of one entity in a batch, the trainer's collator drops them).
    With ``hard_negatives``, pair types of short names (:func:`hard_negative_types`) carry that many mined
    look-alikes per row; the rows mining found too few for stay as plain pairs in ``<pair type>-plain``.
    """
    from datasets import DatasetDict

    plain = [*TEXT_COLUMNS, ENTITY_COLUMN]
    out = {}
    mined = hard_negative_types() if hard_negatives > 0 else frozenset()
    for pair_type in sorted(set(ds.unique("pair_type"))):
        part = ds.filter(lambda r, pt=pair_type: r["pair_type"] == pt, desc=f"Selecting {pair_type}")
        if pair_type in mined and len(part) > hard_negatives + 1:
            with_negatives = add_hard_negatives(part, per_row=hard_negatives)
            negatives = [f"negative_{n + 1}" for n in range(hard_negatives)]
            keys = [negative_entity_column(n + 1) for n in range(hard_negatives)]
            out[pair_type] = with_negatives.select_columns([*TEXT_COLUMNS, *negatives, ENTITY_COLUMN, *keys]).shuffle(
                seed=seed
            )
            if len(with_negatives) < len(part):
                got = set(zip(with_negatives["anchor"], with_negatives["positive"], strict=True))
                rest = part.filter(lambda r, got=got: (r["anchor"], r["positive"]) not in got, desc="Unmined rows")
                out[f"{pair_type}-plain"] = rest.select_columns(plain).shuffle(seed=seed)
            log.info(
                "%s: %d of %d pairs with %d mined negative(s)",
                pair_type,
                len(with_negatives),
                len(part),
                hard_negatives,
            )
            continue
        # A global shuffle (an index permutation over the memory-mapped table), so batches mix works and sources.
        out[pair_type] = part.select_columns(plain).shuffle(seed=seed)
    return DatasetDict({k: v for k, v in out.items() if len(v)})


def hard_negative_types() -> frozenset[str]:
    """Pair types whose two sides are short names of one thing in two languages: titles, names, tags.

    A look-alike there is a real confusion (another work's similar title); a title -> character or summary pair
    has no look-alike of that kind."""
    short = {"title", "name"}
    return frozenset(t for t, kinds in PAIR_TYPES.items() if set(kinds) <= short and not t.endswith("-character"))


def mine_hard_negatives(
    anchors: list[str], positives: list[str], entities: list[str], *, per_row: int = 1, chunk: int = 256
) -> list[list[tuple[str, str]]]:
    """For each row, the ``per_row`` positives of *other* entities that look most like its anchor, as
    ``(text, entity_id)``.

    "Look like" is the script-normalised character n-gram TF-IDF of the lexical baseline, fitted on the
    positives: exactly the confusions a lexical index makes (涼宮ハルヒの憂鬱 -> 凉宫春日的消失 of another work).
    Rows of the same entity and the row's own positive are never its negatives; nor is a text that two entities
    share (the same title of two works): batches are kept free of the negative's entity, and it would have two.
    A row without enough candidates gets fewer (its list is shorter).
    """
    import numpy as np

    docs = sorted(set(positives))
    doc_entities: dict[str, set[str]] = {}
    for text, entity in zip(positives, entities, strict=True):
        doc_entities.setdefault(text, set()).add(entity)
    index = CharNgramTfidf().fit(docs)
    doc_rows = index.transform(docs).T.tocsc()
    want = min(len(docs), per_row + 8)  # a few spare: the best matches are often the row's own work
    out: list[list[tuple[str, str]]] = []
    for start in range(0, len(anchors), chunk):
        scores = (index.transform(anchors[start : start + chunk]) @ doc_rows).toarray()
        top = np.argpartition(-scores, want - 1, axis=1)[:, :want] if want < len(docs) else None
        for i, row in enumerate(scores):
            candidates = top[i] if top is not None else np.arange(len(docs))
            ranked = candidates[np.argsort(-row[candidates], kind="stable")]
            own_entity, own_positive = entities[start + i], positives[start + i]
            picked = []
            for j in ranked:
                text = docs[int(j)]
                owners = doc_entities[text]
                if text != own_positive and own_entity not in owners and len(owners) == 1 and row[j] > 0:
                    picked.append((text, next(iter(owners))))
                    if len(picked) == per_row:
                        break
            out.append(picked)
    return out


def add_hard_negatives(ds: Dataset, *, per_row: int) -> Dataset:
    """``ds`` with columns ``negative_1`` .. ``negative_<per_row>`` mined lexically, and beside each the entity it
    names (``negative_<n>_entity_id``, a batch key); rows that got fewer are dropped.

    Rows are dropped here (not counted as bad input): every row keeps its plain pair in the no-negative dataset
    built beside it when mining finds too few look-alikes (see ``by_pair_type``)."""
    negatives = mine_hard_negatives(ds["anchor"], ds["positive"], ds[ENTITY_COLUMN], per_row=per_row)
    keep = [i for i, found in enumerate(negatives) if len(found) == per_row]
    out = ds.select(keep)
    for n in range(per_row):
        out = out.add_column(f"negative_{n + 1}", [negatives[i][n][0] for i in keep])
        out = out.add_column(negative_entity_column(n + 1), [negatives[i][n][1] for i in keep])
    return out


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
