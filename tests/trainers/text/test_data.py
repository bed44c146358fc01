"""Reading acg_text_pairs: counted drops, one dataset per pair type, duplicate-free batches, the tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acg2vec.deadletter import DeadLetters
from acg2vec.errors import UserError
from acg2vec.trainers.text.data import by_pair_type, corpus_texts, find_parquet_root, load_pairs
from tests.trainers.text.tiny_corpus import BAD_ROWS, write_tiny_corpus

pytestmark = pytest.mark.unit


def test_drops_are_counted_and_dead_lettered(tiny_corpus: Path, tmp_path: Path) -> None:
    written = write_tiny_corpus(tmp_path / "again", works=40, bad_rows=True)
    dead_path = tmp_path / "dead.jsonl"
    with DeadLetters(dead_path) as dead:
        corpus = load_pairs(tiny_corpus, cache_dir=tmp_path / "cache", dead_letters=dead)
    counts = corpus.counts()
    expected = {}
    for _, reason in BAD_ROWS:
        expected[reason] = expected.get(reason, 0) + 1
    assert counts["train"]["dropped"] == expected
    assert counts["train"]["read"] == written["train"]
    assert counts["train"]["read"] == counts["train"]["kept"] + sum(counts["train"]["dropped"].values())
    assert counts["validation"] == {"read": written["validation"], "kept": written["validation"], "dropped": {}}
    lines = [json.loads(line) for line in dead_path.read_text(encoding="utf-8").splitlines()]
    assert sorted(line["reason"] for line in lines) == sorted(reason for _, reason in BAD_ROWS)
    assert all(line["record"]["split"] == "train" for line in lines)


def test_one_shuffled_dataset_of_texts_and_entity_per_pair_type(tiny_corpus: Path, tmp_path: Path) -> None:
    corpus = load_pairs(tiny_corpus, cache_dir=tmp_path / "cache")
    train = corpus.splits["train"]
    sets = by_pair_type(train, seed=0)
    assert set(sets) == set(train.unique("pair_type"))
    assert sum(len(ds) for ds in sets.values()) == len(train)
    for pair_type, ds in sets.items():
        # The texts the loss trains on and the entity that keys batches (the trainer's collator drops it); any
        # other column would be fed to the loss as a third text.
        assert ds.column_names == ["anchor", "positive", "entity_id"]
        source_order = [r["anchor"] for r in train if r["pair_type"] == pair_type]
        assert sorted(ds["anchor"]) == sorted(source_order)
    assert sets["title_ja-character"]["anchor"] != [
        r["anchor"] for r in train if r["pair_type"] == "title_ja-character"
    ]


def test_entity_sampler_keeps_a_title_out_of_its_own_negatives(tiny_corpus: Path, tmp_path: Path) -> None:
    from acg2vec.trainers.text.batches import EntityBatchSampler

    corpus = load_pairs(tiny_corpus, cache_dir=tmp_path / "cache")
    characters = by_pair_type(corpus.splits["train"], seed=0)["title_ja-character"]
    assert len(set(characters["anchor"])) < len(characters)  # each title comes with two characters
    sampler = EntityBatchSampler(characters, batch_size=8, drop_last=False, seed=0)
    batches = list(sampler)
    assert batches
    for batch in batches:
        texts = [characters[i]["anchor"] for i in batch] + [characters[i]["positive"] for i in batch]
        assert len(texts) == len(set(texts))


def test_missing_corpus_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="No acg_text_pairs corpus found"):
        find_parquet_root(tmp_path)


def test_a_corpus_whose_build_never_finished_is_refused(tiny_corpus: Path) -> None:
    (tiny_corpus / "parquet" / "acg_text_pairs" / "build_metadata.json").unlink()
    with pytest.raises(UserError, match=r"not a complete dataset \(no build_metadata.json\)"):
        find_parquet_root(tiny_corpus)


def test_parquet_root_found_from_datasets_root_or_itself(tiny_corpus: Path) -> None:
    root = find_parquet_root(tiny_corpus)
    assert root == tiny_corpus / "parquet" / "acg_text_pairs"
    assert find_parquet_root(root) == root


def test_tokenizer_splits_cjk_characters_and_keeps_latin_words(tmp_path: Path, tiny_corpus: Path) -> None:
    from acg2vec.trainers.text.base_model import train_tokenizer

    train = load_pairs(tiny_corpus, cache_dir=tmp_path / "cache").splits["train"]
    tok = train_tokenizer(corpus_texts(train), vocab_size=1000, out_dir=tmp_path / "tok")
    ja_title, en_title = next((r["anchor"], r["positive"]) for r in train if r["pair_type"] == "title_ja-title_en")
    # Titles like "魔法の騎士": Han and kana, one token per character.
    assert tok.tokenize(ja_title) == list(ja_title)
    # NFKC and lowercasing: full-width Latin letters become the ASCII words the corpus has, kept whole.
    full_width = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in en_title)
    assert tok.tokenize(full_width) == en_title.lower().split()
    ids = tok(ja_title)["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id


def test_hard_negatives_are_look_alike_titles_of_other_works() -> None:
    from acg2vec.trainers.text.data import mine_hard_negatives

    anchors = ["涼宮ハルヒの憂鬱", "涼宮ハルヒの消失", "機動戦士ガンダム", "けいおん!"]
    positives = ["凉宫春日的忧郁", "凉宫春日的消失", "机动战士高达", "轻音少女"]
    entities = ["w1", "w2", "w3", "w4"]
    negatives = mine_hard_negatives(anchors, positives, entities, per_row=1)
    # Through the script normalisation 涼宮 and 凉宫 are one string: each Haruhi title's look-alike is the other,
    # named with its work (a batch key).
    assert negatives[0] == [("凉宫春日的消失", "w2")] and negatives[1] == [("凉宫春日的忧郁", "w1")]
    assert all(neg != pos for found, pos in zip(negatives, positives, strict=True) for neg, _ in found)
    # The same work's other title is never its negative, whatever it looks like.
    same_work = mine_hard_negatives(anchors[:2], positives[:2], ["w1", "w1"], per_row=1)
    assert same_work == [[], []]
    # A title two works share names two entities: it is no row's negative (a batch could hold either work).
    shared = mine_hard_negatives([*anchors, "涼宮ハルヒの消失"], [*positives, "凉宫春日的消失"], [*entities, "w5"])
    assert "凉宫春日的消失" not in [text for text, _ in shared[0]]


def test_a_pair_without_an_entity_is_counted(tmp_path: Path) -> None:
    from acg2vec.trainers.text.data import MISSING_ENTITY, drop_reason

    assert drop_reason({"anchor": "魔法", "positive": "Magic", "pair_type": "title_ja-title_en", "entity_id": ""}) == (
        MISSING_ENTITY
    )
    assert (
        drop_reason({"anchor": "魔法", "positive": "Magic", "pair_type": "title_ja-title_en", "entity_id": "w"}) == ""
    )


def test_pair_types_of_short_names_get_mined_negatives(tiny_corpus: Path, tmp_path: Path) -> None:
    from acg2vec.trainers.text.data import hard_negative_types

    corpus = load_pairs(tiny_corpus, cache_dir=tmp_path / "cache")
    train = corpus.splits["train"]
    sets = by_pair_type(train, seed=0, hard_negatives=1)
    assert "title_ja-title_zh" in hard_negative_types() and "title_ja-character" not in hard_negative_types()
    titles = sets["title_ja-title_zh"]
    assert titles.column_names == ["anchor", "positive", "negative_1", "entity_id", "negative_1_entity_id"]
    assert all(r["negative_1"] != r["positive"] for r in titles)
    # Every training row is still trained on once: with its negative, or plain where none was found.
    assert sum(len(ds) for ds in sets.values()) == len(train)
    assert sets["title_ja-character"].column_names == ["anchor", "positive", "entity_id"]
