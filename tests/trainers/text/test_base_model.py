"""The from-scratch base model's tokenizers: which pieces each kind cuts a mixed-script title into."""

from __future__ import annotations

from pathlib import Path

import pytest

from acg2vec.errors import UserError
from acg2vec.trainers.text.base_model import train_tokenizer

pytestmark = pytest.mark.unit

TITLES = ["涼宮ハルヒの憂鬱 Haruhi Suzumiya", "Code Geass 反叛的鲁路修", "けいおん! K-On!", "Haruhi Haruhi Code"] * 5


def test_char_tokenizer_cuts_every_script_into_characters(tmp_path: Path) -> None:
    tok = train_tokenizer(TITLES, vocab_size=500, out_dir=tmp_path / "char", kind="char")
    assert tok.tokenize("Haruhi 涼宮") == ["h", "a", "r", "u", "h", "i", "涼", "宮"]


def test_cjk_char_tokenizer_keeps_latin_words_whole(tmp_path: Path) -> None:
    tok = train_tokenizer(TITLES, vocab_size=500, out_dir=tmp_path / "cjk", kind="cjk-char")
    assert tok.tokenize("Haruhi 涼宮") == ["haruhi", "涼", "宮"]


def test_unigram_tokenizer_learns_multi_character_pieces(tmp_path: Path) -> None:
    # A run of characters shared by many titles (ハルヒ) earns a piece of its own.
    titles = [f"涼宮ハルヒの{a}{b}" for a in "一二三四五六七八九十" for b in "春夏秋冬朝昼夜空海山"]
    tok = train_tokenizer(titles, vocab_size=200, out_dir=tmp_path / "uni", kind="unigram")
    pieces = tok.tokenize("涼宮ハルヒの憂鬱")
    assert "".join(pieces).replace("▁", "") == "涼宮ハルヒの憂鬱"
    assert any(len(p.replace("▁", "")) > 1 for p in pieces)


def test_all_cjk_vocabulary_has_a_token_for_han_and_kana_the_corpus_never_used(tmp_path: Path) -> None:
    corpus_only = train_tokenizer(TITLES, vocab_size=500, out_dir=tmp_path / "corpus")
    full = train_tokenizer(TITLES, vocab_size=500, out_dir=tmp_path / "full", vocabulary="all-cjk")
    assert corpus_only.tokenize("龍ゑ haruhi") == ["[UNK]", "[UNK]", "haruhi"]
    assert full.tokenize("龍ゑ haruhi") == ["龍", "ゑ", "haruhi"]
    # The corpus's own text is cut the same way.
    assert all(full.tokenize(t) == corpus_only.tokenize(t) for t in TITLES)
    with pytest.raises(UserError, match="needs a character tokenizer"):
        train_tokenizer(TITLES, vocab_size=500, out_dir=tmp_path / "u", kind="unigram", vocabulary="all-cjk")


def test_unknown_tokenizer_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="Unknown tokenizer 'bpe'"):
        train_tokenizer(TITLES, vocab_size=100, out_dir=tmp_path / "x", kind="bpe")


def _tiny_pretrained_like(tmp_path: Path):
    from acg2vec.trainers.text.base_model import SmallModelConfig, build_small_model

    small = SmallModelConfig(vocab_size=200, hidden_size=16, num_layers=3, num_heads=2, intermediate_size=32)
    return build_small_model(TITLES, out_dir=tmp_path / "base", config=small)


def _trainable(module) -> bool:
    return any(p.requires_grad for p in module.parameters())


def _frozen(module) -> bool:
    return not any(p.requires_grad for p in module.parameters())


def test_prepare_pretrained_base_caps_tokens_and_freezes_the_embeddings_and_the_lowest_layers(tmp_path: Path):
    from acg2vec.trainers.text.base_model import prepare_pretrained_base

    model = prepare_pretrained_base(_tiny_pretrained_like(tmp_path), max_seq_length=8, freeze_layers=2)
    bert = model[0].auto_model
    assert model.max_seq_length == 8
    assert len(model.tokenize(["涼宮ハルヒの憂鬱 Haruhi Suzumiya Code Geass"])["input_ids"][0]) == 8
    assert _frozen(bert.embeddings) and _frozen(bert.encoder.layer[0]) and _frozen(bert.encoder.layer[1])
    assert _trainable(bert.encoder.layer[2])

    only_embeddings = prepare_pretrained_base(_tiny_pretrained_like(tmp_path / "b"), freeze_embeddings=True)
    assert _frozen(only_embeddings[0].auto_model.embeddings)
    assert all(_trainable(layer) for layer in only_embeddings[0].auto_model.encoder.layer)

    untouched = prepare_pretrained_base(_tiny_pretrained_like(tmp_path / "c"))
    assert untouched.max_seq_length == 128 and all(p.requires_grad for p in untouched.parameters())


def test_freezing_more_layers_than_the_base_has_is_one_sentence(tmp_path: Path) -> None:
    from acg2vec.trainers.text.base_model import prepare_pretrained_base

    with pytest.raises(UserError, match="freeze_layers is 4, but the base model has only 3 layers"):
        prepare_pretrained_base(_tiny_pretrained_like(tmp_path), freeze_layers=4)
    with pytest.raises(UserError, match="at least 2 tokens"):
        prepare_pretrained_base(_tiny_pretrained_like(tmp_path / "b"), max_seq_length=1)
