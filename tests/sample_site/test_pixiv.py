"""The sample site's Jikan API, MyAnimeList pages and pixiv exports; one world across every site."""

from __future__ import annotations

import json

import pytest

from acg2vec.sample_site.conformance import shape_mismatches
from acg2vec.sample_site.pixiv import pixiv_tag


def real_body(shared_fixtures, name: str) -> dict:
    capture = json.loads((shared_fixtures / "jikan" / name).read_text(encoding="utf-8"))
    body = capture["body"]
    return json.loads(body) if isinstance(body, str) else body


@pytest.mark.integration
def test_pixiv_exports_match_booru_sources_and_the_real_shape(sample_site, shared_fixtures, tmp_path):
    files = sample_site.write_pixiv_exports(tmp_path)
    world = sample_site.world
    assert len(files) == len(world.pixiv_posts) >= 5
    real = json.loads((shared_fixtures / "pixiv" / "test-image-info-32039274.json").read_text(encoding="utf-8"))
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        body = data["body"]
        post = next(p for p in world.pixiv_posts if str(p.pixiv_id) == body["illustId"] == path.stem)
        assert post.source == f"https://www.pixiv.net/artworks/{body['id']}"
        assert list(body) == list(real["body"])
        # userIllusts is keyed by the author's other illust ids: its keys differ by nature.
        assert shape_mismatches(data, {**real, "body": {**real["body"], "userIllusts": {}}}) == []
        translated = {t["translation"]["en"] for t in body["tags"]["tags"] if "translation" in t}
        for tag in post.general_tags:
            known = pixiv_tag(tag)
            if known:
                assert known[1] in translated
        assert body["xRestrict"] == (1 if post.rating in ("questionable", "explicit") else 0)
        assert body["viewCount"] > body["bookmarkCount"] > 0
