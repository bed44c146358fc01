"""The items contract: round trip, validation reasons, ratings as words and letters."""

from __future__ import annotations

import json

import pytest

from acg2vec.crawlers.items import ItemError, Post, Work, item_from_dict, item_to_dict, normalize_rating

pytestmark = pytest.mark.unit


def test_item_round_trip_and_validation():
    post = Post(source="safebooru", source_id="7", id=7, tags=["1girl", "solo"], rating="general", score=None)
    data = json.loads(json.dumps(item_to_dict(post)))
    assert data["kind"] == "post"
    assert item_from_dict(data) == post
    data["id"] = "8"  # numeric strings are accepted for ints
    assert item_from_dict(data).id == 8
    with pytest.raises(ItemError) as err:
        item_from_dict({**data, "tags": "1girl solo"})
    assert err.value.reason == "wrong-type"
    with pytest.raises(ItemError) as err:
        item_from_dict({"kind": "post", "source": "safebooru", "source_id": "1"})
    assert err.value.reason == "missing-field"
    with pytest.raises(ItemError) as err:
        item_from_dict({"kind": "spaceship"})
    assert err.value.reason == "unknown-kind"
    work = item_from_dict(
        {"kind": "work", "source": "bangumi", "source_id": "1", "titles": {"ja": "x"}, "aliases": None}
    )
    assert isinstance(work, Work) and work.aliases == []


def test_ratings_words_and_letters():
    assert normalize_rating("General") == "general"
    assert normalize_rating("q") == "questionable"
    assert normalize_rating("s") == "sensitive"
    assert normalize_rating("s", legacy_letters=True) == "general"
    assert normalize_rating("safe") == "general"
    assert normalize_rating("weird") is None
    assert normalize_rating(None) is None
