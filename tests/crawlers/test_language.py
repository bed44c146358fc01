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
        # Chinese quoting a Japanese title: a few kana among many Han characters.
        ("讲述了少女们组建乐队的故事，改编自同名漫画，原名《けいおん!》，由京都动画制作。", "zh-Hans"),
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
