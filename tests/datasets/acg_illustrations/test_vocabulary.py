"""vocabulary: which tags are selected (the file is :mod:`selected_tags`'s)."""

from __future__ import annotations

import pytest

from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary
from acg2vec.datasets.acg_illustrations.vocabulary import VocabularyRules, choose_vocabulary

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
    assert list(zip(tags.names, tags.categories, tags.counts, strict=True)) == [
        ("smile", "general", 50),
        ("solo", "general", 50),
        ("miku", "character", 30),
        ("rin", "character", 25),
        ("vocaloid", "copyright", 45),
    ]
    text = tags.to_csv()
    assert text.splitlines()[:2] == ["tag_id,name,category,count", "0,smile,general,50"]
    assert TagVocabulary.parse(text) == tags
