"""The picture world: tags are what the picture shows, characters are fixed attribute combinations, the label
noise is booru-like and frequencies are long-tailed."""

from __future__ import annotations

from collections import Counter

import pytest

from acg2vec.sample_site.pictures import make_picture, make_world


@pytest.fixture(scope="module")
def pictures():
    world = make_world(0)
    return world, [make_picture(i + 1, 0, world) for i in range(3000)]


def test_a_post_is_the_same_for_the_same_id_and_seed():
    world = make_world(0)
    a, b = make_picture(7, 0, world), make_picture(7, 0, world)
    assert a.labels == b.labels and a.visible == b.visible and a.seed == b.seed
    assert make_picture(7, 1, world).seed != a.seed


def test_character_tags_are_their_designs_attributes(pictures):
    (_, series, designs), posts = pictures
    seen = 0
    for p in posts:
        for f in p.figures:
            if f.character is None:
                continue
            d = designs[f.character]
            seen += 1
            assert (f.hair, f.eyes, f.accessory, f.held) == (d.hair, d.eyes, d.accessory, d.held)
            assert p.visible[d.tag] == "character" and p.visible[series[d.series].tag] == "copyright"
            assert f"{d.hair}_hair" in p.visible and f"{d.eyes}_eyes" in p.visible
    assert seen > 1000
    assert len({(d.hair, d.eyes, d.accessory) for d in designs}) == len(designs)  # no two characters look alike


def test_counts_and_solo_follow_the_figures(pictures):
    _, posts = pictures
    for p in posts:
        count = {1: "1girl", 2: "2girls"}.get(len(p.figures), "multiple_girls")
        assert p.visible[count] == "general"
        assert ("solo" in p.visible) == (len(p.figures) == 1)


def test_label_noise_is_booru_like(pictures):
    _, posts = pictures
    general_visible = sum(1 for p in posts for c in p.visible.values() if c == "general")
    missing = sum(1 for p in posts for t, c in p.visible.items() if c == "general" and t not in p.labels)
    wrong_posts = sum(1 for p in posts if set(p.labels) - set(p.visible))
    assert 0.08 < missing / general_visible < 0.12  # about 10 % of visible general tags left out
    assert 0.02 < wrong_posts / len(posts) < 0.07  # a few posts carry a tag the picture does not show
    for p in posts:  # character, copyright and artist tags are never dropped
        assert all(t in p.labels for t, c in p.visible.items() if c != "general")


def test_tag_frequencies_are_long_tailed(pictures):
    _, posts = pictures
    counts = sorted(Counter(t for p in posts for t in p.labels).values(), reverse=True)
    assert len(counts) > 60
    median = counts[len(counts) // 2]
    assert counts[0] > 5 * median  # the head is far above the median tag ...
    assert median > 4 * counts[-1]  # ... and the tail far below it
