"""Candidate records: match keys, romaji folding, seasons, years, and the records the linker refuses."""

from __future__ import annotations

import pytest

from acg2vec.crawlers.items import Character, Work
from acg2vec.datasets.acg_entities.candidates import (
    CandidateError,
    from_item,
    match_key,
    romaji_key,
    season_of,
    year_of,
)


def test_keys_fold_script_width_qualifiers_and_transliteration():
    assert match_key("銀魂 (アニメ)") == match_key("银魂") == match_key("銀魂")
    assert match_key("ＳＴＡＲ☆ＬＩＧＨＴ ２") == match_key("STAR LIGHT 2")
    assert match_key("ガンダム") != match_key("カンタム")  # dakuten are never stripped
    assert romaji_key("Sanada, Shota") == romaji_key("Shouta Sanada") == romaji_key("SANADA Shōta".replace("ō", "ou"))
    assert romaji_key("Mahou Shoujo") == romaji_key("Maho Shojo")
    assert season_of("放課後約束 第2期") == ("放課後約束", 2)
    assert season_of("Galaxy Detective 2nd Season") == ("Galaxy Detective", 2)
    assert season_of("银河侦探 第二季") == ("银河侦探", 2)
    assert season_of("銀魂") == ("銀魂", 1)
    assert year_of(None, "2019年のアニメ") == 2019 and year_of("2009-04-05") == 2009 and year_of("第3話") is None


def test_a_work_record_in_comparable_form():
    work = Work(
        source="wikipedia", source_id="ja:星の約束 (2019年のアニメ)", titles={"ja": "星の約束 (2019年のアニメ)", "en": "Star Promise"},
        type="anime", ids={"wiki:ja": "星の約束 (2019年のアニメ)", "wiki:zh": "星之约定 (2019年动画)", "mal": "12"},
    )  # fmt: skip
    candidate = from_item(work)
    assert candidate.unique_id == "work:wikipedia:ja:星の約束 (2019年のアニメ)"
    assert candidate.ja_key == match_key("星の約束") and candidate.year == 2019 and candidate.medium == "anime"
    assert sorted(candidate.links) == ["work:animelist:12", "work:wikipedia:zh:星之约定 (2019年动画)"]
    character = from_item(
        Character(source="animelist", source_id="5", names={"ja-Latn": "Hoshino, Akari"}, work_ids=["12"])
    )
    assert character.work_ids == ["work:animelist:12"] and character.romaji_key == romaji_key("Akari Hoshino")


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (Work(source="bangumi", source_id="1", titles={"ja": " "}), "no-title"),
        (Character(source="bangumi", source_id="2", names={}), "no-title"),
        (Work(source="bangumi", source_id="3", titles={"ja": "銀魂"}, ids={"bangumi": "4"}), "id-contradicts-source"),
        (
            Work(source="wikipedia", source_id="ja:銀魂", titles={"ja": "銀魂"}, ids={"wiki:ja": "進撃の巨人"}),
            "id-contradicts-source",
        ),
    ],
)
def test_bad_records_are_refused_with_a_reason(item, reason):
    with pytest.raises(CandidateError) as raised:
        from_item(item)
    assert raised.value.reason == reason
