"""Entity-keyed batches through the real trainer's dataloader: no batch holds two pairs of one entity.

The corpus is a few works, each described by several sources under different spellings (so no text repeats and a
text-only duplicate check lets two pairs of one work share a batch), in one pair type, as ``by_pair_type`` hands it
to the trainer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from acg2vec.trainers.text.data import by_pair_type

pytestmark = pytest.mark.unit

WORKS = 10
ROWS_PER_WORK = 6
BATCH = 4


def many_rows_per_entity():
    """WORKS works x ROWS_PER_WORK title pairs each (one per source spelling), every text distinct."""
    from datasets import Dataset

    rows = []
    for w in range(WORKS):
        for r in range(ROWS_PER_WORK):
            rows.append(
                {
                    "anchor": f"作品{w}の題名{r}",
                    "positive": f"作品{w}的标题{r}",
                    "pair_type": "title_ja-title_zh",
                    "entity_id": f"work:{w:012x}",
                }
            )
    return Dataset.from_list(rows)


def make_trainer(tmp_path: Path, train_sets):
    from sentence_transformers import SentenceTransformerTrainingArguments

    from acg2vec.trainers.text.base_model import SmallModelConfig, build_small_model
    from acg2vec.trainers.text.batches import EntityBatchSampler, EntityKeyedTrainer
    from acg2vec.trainers.text.losses import make_loss

    texts = [t for ds in train_sets.values() for t in [*ds["anchor"], *ds["positive"]]]
    small = SmallModelConfig(vocab_size=300, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    model = build_small_model(texts, out_dir=tmp_path / "base", config=small)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=BATCH,
        batch_sampler=EntityBatchSampler,
        seed=0,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    return EntityKeyedTrainer(model=model, args=args, train_dataset=train_sets, loss=make_loss("mnrl", model))


def sampled_rows(loader) -> list[list[dict]]:
    """The rows of every batch the trainer's dataloader draws, read from the dataset it indexes."""
    return [[loader.dataset[i] for i in batch] for batch in loader.batch_sampler]


def test_no_batch_holds_two_pairs_of_one_entity(tmp_path: Path) -> None:
    from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

    train_sets = by_pair_type(many_rows_per_entity(), seed=0)
    assert train_sets["title_ja-title_zh"].column_names == ["anchor", "positive", "entity_id"]
    trainer = make_trainer(tmp_path, train_sets)
    loader = trainer.get_train_dataloader()
    batches = sampled_rows(loader)
    assert len(batches) >= WORKS * ROWS_PER_WORK // BATCH
    for batch in batches:
        entities = [row["entity_id"] for row in batch]
        assert len(entities) == len(set(entities)), entities
    # Every pair is trained on in the epoch.
    seen = {(row["anchor"], row["positive"]) for batch in batches for row in batch}
    assert len(seen) == WORKS * ROWS_PER_WORK
    # What the loss gets: the two texts of each row, tokenised; the key column never reaches it.
    collated = list(loader)
    assert [len(b["anchor_input_ids"]) for b in collated] == [len(b) for b in batches]
    assert {k.split("_input_ids")[0] for b in collated for k in b if k.endswith("_input_ids")} == {
        "anchor",
        "positive",
    }

    # The control: the library's duplicate check on the texts alone (the trainer's datasets before entity keys)
    # lets two pairs of one work share a batch here.
    titles = train_sets["title_ja-title_zh"]
    text_only = NoDuplicatesBatchSampler(titles.select_columns(["anchor", "positive"]), BATCH, False, seed=0)
    assert any(len({titles[i]["entity_id"] for i in b}) < len(b) for b in text_only)


def test_a_mined_negatives_entity_stays_out_of_its_batch(tmp_path: Path) -> None:
    from datasets import concatenate_datasets

    # Work titles that look alike across works ("作品1の題名2" vs "作品2の題名2"): each row gets a mined negative
    # from another work, whose own rows must not sit in the same batch (its title would be a negative there).
    train_sets = by_pair_type(many_rows_per_entity(), seed=0, hard_negatives=1)
    titles = train_sets["title_ja-title_zh"]
    assert titles.column_names == ["anchor", "positive", "negative_1", "entity_id", "negative_1_entity_id"]
    assert all(r["negative_1_entity_id"] != r["entity_id"] for r in titles)
    trainer = make_trainer(tmp_path, train_sets)
    loader = trainer.get_train_dataloader()
    for batch in sampled_rows(loader):
        keys = [row[k] for row in batch for k in row if k.endswith("entity_id")]
        assert len(keys) == len(set(keys)), keys
    collated = next(iter(loader))
    assert {k for k in collated if k.endswith("_input_ids")} == {
        "anchor_input_ids",
        "positive_input_ids",
        "negative_1_input_ids",
    }
    assert len(concatenate_datasets(list(train_sets.values()))) == WORKS * ROWS_PER_WORK


def test_a_dataset_without_entities_is_refused() -> None:
    from datasets import Dataset

    from acg2vec.trainers.text.batches import EntityBatchSampler

    with pytest.raises(ValueError, match="needs an 'entity_id' column"):
        EntityBatchSampler(Dataset.from_dict({"anchor": ["a"], "positive": ["b"]}), batch_size=2, drop_last=False)
