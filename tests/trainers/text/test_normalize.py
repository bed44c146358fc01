"""Script normalisation: one form for the spellings a reader calls the same, and nothing else merged."""

from __future__ import annotations

import pytest

from acg2vec.trainers.text.normalize import NORMALIZATION, normalize_text, normalizer

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("涼宮ハルヒの憂鬱", "凉宫ハルヒの忧郁"),  # Japanese / Simplified forms of the same Han characters
        ("鋼の錬金術師", "钢の炼金术师"),  # shinjitai 錬 goes through Traditional 鍊 to Simplified 炼
        ("進撃の巨人", "進擊の巨人"),  # shinjitai and kyūjitai
        ("ＡＢＣ　ｄｅｆ", "abc def"),  # width and case
        ("ｺﾝﾋﾟｭｰﾀ", "コンピュータ"),  # half-width katakana
        ("コンピューター", "コンピュータ"),  # long-vowel mark
        ("ちょっと", "ちよつと"),  # small kana
    ],
)
def test_same_text_in_other_forms_normalises_alike(a, b):
    assert normalize_text(a) == normalize_text(b)


def test_distinct_texts_stay_distinct_and_marks_are_kept():
    assert normalize_text("ガンダム") != normalize_text("カンタム")  # voicing marks are never stripped
    assert normalize_text("ハルヒ") != normalize_text("はるひ")  # hiragana and katakana are not folded
    assert normalize_text("ー") == "ー"  # a text of only the mark keeps it rather than becoming empty
    assert normalize_text("  multiple   spaces ") == "multiple spaces"


def test_idempotent_on_mixed_text():
    for text in ["鋼の錬金術師 FULLMETAL ALCHEMIST", "凉宫春日的忧郁", "けいおん!!", "ソードアート・オンライン"]:
        once = normalize_text(text)
        assert normalize_text(once) == once


def test_normalizer_by_name():
    assert normalizer("none")("涼宮") == "涼宮"
    assert normalizer(NORMALIZATION)("涼宮") == "凉宫"
    with pytest.raises(ValueError, match="Unknown text normalization"):
        normalizer("kana-only")
