"""Normalisation, markup removal, language tags and boilerplate rules of the text-pair build."""

from __future__ import annotations

import unicodedata

import pytest

from acg2vec.datasets.acg_text_pairs import clean_text

pytestmark = pytest.mark.unit


def test_gundam_stays_gundam() -> None:
    assert clean_text.nfkc_clean("機動戦士ガンダム") == "機動戦士ガンダム"
    # Half-width katakana with separate voicing marks composes to the same full-width word.
    assert clean_text.nfkc_clean("ｶﾞﾝﾀﾞﾑ") == "ガンダム"
    # A decomposed ガ (カ + combining dakuten) is composed, never stripped to カ.
    assert clean_text.nfkc_clean("カ\u3099ンダム") == "ガンダム"
    assert clean_text.nfkc_clean("Pokémon") == "Pokémon"
    assert clean_text.nfkc_clean(unicodedata.normalize("NFD", "Pokémon")) == "Pokémon"


def test_whitespace_and_invisible_characters() -> None:
    assert clean_text.nfkc_clean("  銀魂\u3000\n\tGintama\u200b  ") == "銀魂 Gintama"
    assert clean_text.nfkc_clean("ＡＢＣ１２３") == "ABC123"  # NFKC folds full-width Latin
    assert clean_text.nfkc_clean("\u200b\ufeff ") == ""


def test_dedup_key_casefolds_and_drops_spaces() -> None:
    assert clean_text.dedup_key("Attack on Titan") == clean_text.dedup_key("ATTACK ON  TITAN") == "attackontitan"
    assert clean_text.dedup_key("ガンダム") != clean_text.dedup_key("カンタム")


@pytest.mark.parametrize(
    ("text", "declared", "expected"),
    [
        ("進撃の巨人", "ja", "ja"),
        ("進撃の巨人", "zh-Hans", "ja"),  # kana wins over a wrong declaration
        ("銀魂", "ja", "ja"),  # kana-free Japanese title, declared Japanese
        ("攻殻機動隊", "ja", "ja"),
        ("银魂", "zh-Hans", "zh"),
        ("銀魂", None, "zh"),  # Han only and nothing declared: Chinese
        ("鋼の錬金術師", None, "ja"),
        ("艾伦·耶格尔", "zh", "zh"),  # the Chinese middle dot is not kana
        ("Attack on Titan", "en", "en"),
        ("Shingeki no Kyojin", "ja-Latn", "ja"),
        ("CLANNAD", "ja", "en"),  # Latin script: the script decides
        ("진격의 거인", "ko", "und"),
        ("2019", None, "und"),
        ("東方Project", "ja", "ja"),
        ("ソードアート・オンライン", None, "ja"),
        # Chinese that quotes a Japanese title stays Chinese; Japanese text filed under zh is still Japanese.
        ("《けいおん!》是由日本漫画家创作的四格漫画作品，讲述了高中轻音部四名少女的日常生活。", "zh-Hans", "zh"),
        ("けいおん!", "zh-Hans", "ja"),
        ("桜が丘高校に入学した平沢唯は、軽音部に入部することになる。", "zh-Hans", "ja"),
    ],
)
def test_tag_language(text: str, declared: str | None, expected: str) -> None:
    assert clean_text.tag_language(text, declared) == expected


def test_strip_markup_uses_the_wiki_parser() -> None:
    text = "'''银魂'''是[[空知英秋]]的漫画<ref>{{cite web|url=http://x}}</ref>。[[File:a.png|thumb|图]]{{Infobox|a=b}}"
    plain = clean_text.strip_markup(text)
    assert "银魂是空知英秋的漫画" in plain
    for junk in ("<ref", "cite web", "File:", "Infobox", "'''", "[["):
        assert junk not in plain
    assert clean_text.strip_markup("no markup here") == "no markup here"


def test_truncate_cuts_at_a_sentence_end() -> None:
    text = "第一句话很长很长。第二句话也很长很长。第三句话"
    assert clean_text.truncate(text, 20) == "第一句话很长很长。第二句话也很长很长。"
    assert clean_text.truncate("abc", 10) == "abc"
    assert len(clean_text.truncate("x" * 50, 10)) == 10


def test_boilerplate_headings() -> None:
    assert clean_text.is_boilerplate_heading("External links")
    assert clean_text.is_boilerplate_heading("参考文献")
    assert not clean_text.is_boilerplate_heading("Plot")


def test_title_key_folds_width_case_spaces_and_one_qualifier() -> None:
    assert clean_text.strip_qualifier("銀魂 (アニメ)") == "銀魂"
    assert clean_text.strip_qualifier("Gintama (TV series)") == "Gintama"
    assert clean_text.strip_qualifier("(仮)") == "(仮)"  # nothing would be left
    assert (
        clean_text.title_key("銀魂（アニメ）") == clean_text.title_key("銀魂") == "銀魂"
    )  # full-width brackets become ASCII first
    assert clean_text.title_key("ｶｳﾎﾞｰｲ ﾋﾞﾊﾞｯﾌﾟ") == clean_text.title_key("カウボーイビバップ")
    assert clean_text.title_key("ＧＵＮＤＡＭ") == "gundam"
    assert clean_text.title_key("ガンダム") != clean_text.title_key("カンタム")
