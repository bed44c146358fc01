"""vocabulary: which tags are selected, their CSV and its hash."""

from __future__ import annotations

import pytest

from acg2vec.datasets.acg_illustrations.vocabulary import (
    SelectedTag,
    VocabularyRules,
    choose_vocabulary,
    csv_sha256,
    read_vocabulary_csv,
    vocabulary_csv,
)

pytestmark = pytest.mark.unit


def test_vocabulary_rules_min_count_caps_and_order() -> None:
    counts = [
        (("general", "solo"), 50),
        (("general", "smile"), 50),
        (("general", "hat"), 40),
        (("general", "rare"), 2),
        (("character", "miku"), 30),
        (("character", "rin"), 25),
        (("copyright", "vocaloid"), 45),
        (("artist", "someone"), 90),
        (("meta", "highres"), 99),
    ]
    rules = VocabularyRules(min_images=10, caps={"general": 2, "character": 5, "copyright": 5, "artist": 0})
    tags = choose_vocabulary(counts, rules)
    assert [(t.tag_id, t.name, t.category, t.count) for t in tags] == [
        (0, "smile", "general", 50),
        (1, "solo", "general", 50),
        (2, "miku", "character", 30),
        (3, "rin", "character", 25),
        (4, "vocaloid", "copyright", 45),
    ]
    text = vocabulary_csv(tags)
    assert text.splitlines()[:2] == ["tag_id,name,category,count", "0,smile,general,50"]
    assert read_vocabulary_csv(text) == tags
    assert csv_sha256(text) != csv_sha256(vocabulary_csv(tags[:1]))
    assert read_vocabulary_csv(vocabulary_csv([SelectedTag(0, 'a,"b"', "general", 1)]))[0].name == 'a,"b"'
