"""Jikan v4 JSON into items: titles by language and aliases (the spider's walk is in spiders/test_animelist.py)."""

from __future__ import annotations

import pytest

from acg2vec.crawlers.parsers.jikan import anime_titles


@pytest.mark.unit
def test_titles_fall_back_to_the_flat_fields() -> None:
    titles, aliases = anime_titles(
        {"title": "Naruto", "title_japanese": "ナルト", "title_english": None, "title_synonyms": ["NARUTO"]}
    )
    assert (titles, aliases) == ({"ja-Latn": "Naruto", "ja": "ナルト"}, ["NARUTO"])
