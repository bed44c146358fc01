"""Script-based language detection of crawled text."""

from __future__ import annotations

import pytest

from acg2vec.crawlers.language import detect_language, script_counts


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("桜が丘高校に入学した平沢唯は、軽音部に入部する。", "ja"),
        ("なにこれかわいい", "ja"),
        ("ネロ・クラウディウス", "ja"),
        ("少女与机器人踏上寻找星星的旅程。", "zh-Hans"),
        # A transliterated name with the katakana middle dot is not Japanese for that dot alone.
        ("尼禄・克劳狄乌斯", "zh-Hans"),
        ("귀여운", "ko"),
        ("incredibly cute", "en"),
        ("Prétear", "en"),
        ("12345 !!", None),
        ("", None),
    ],
)
def test_detect_language(text: str, language: str | None) -> None:
    assert detect_language(text) == language


@pytest.mark.unit
def test_the_chinese_key_is_the_callers() -> None:
    assert detect_language("卧槽美哭", chinese="zh") == "zh"
    assert script_counts("けいおん!K-ON 轻音") == {"kana": 4, "han": 2, "hangul": 0, "latin": 3}


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "declared", "language"),
    [
        ("銀魂", "ja", "ja"),  # Han only: the declared language breaks the tie
        ("銀魂", None, "zh-Hans"),
        ("銀魂", "en", "zh-Hans"),
        ("鋼の錬金術師", None, "ja"),  # one kana makes a title Japanese ...
        # ... but Chinese quoting a Japanese title (a few kana among many Han characters) stays Chinese when the
        # item or the site (Bangumi's summaries) says Chinese.
        ("讲述了少女们组建乐队的故事，改编自同名漫画，原名《けいおん!》，由京都动画制作。", "zh-Hans", "zh-Hans"),
        ("桜が丘高校に入学した平沢唯は、軽音部に入部する。", "zh-Hans", "ja"),
        ("《けいおん!》是由日本漫画家创作的四格漫画作品，讲述了高中轻音部四名少女的日常。", "zh-Hans", "zh-Hans"),
        ("《けいおん!》是由日本漫画家创作的四格漫画作品，讲述了高中轻音部四名少女的日常。", "ja", "ja"),
        ("Shingeki no Kyojin", "ja-Latn", "ja"),  # romaji
        ("Shingeki no Kyojin", "ja", "en"),
    ],
)
def test_a_declared_language_breaks_the_ties_of_the_script(text: str, declared: str | None, language: str) -> None:
    assert detect_language(text, declared=declared) == language


@pytest.mark.unit
def test_one_set_of_character_classes() -> None:
    # The long-vowel mark and the sound marks tell neither language, in full or half width.
    assert script_counts("ー゛゜ｰﾞﾟ・･")["kana"] == 0
    assert script_counts("ｶﾞﾝﾀﾞﾑ")["kana"] == 4  # half-width katakana are kana
    assert script_counts("𠮷野家")["han"] == 3  # CJK extension B counts as Han
