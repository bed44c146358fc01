"""Noise planted in the sample site's booru with the truth kept: missing and wrong general tags at the chosen rates,
and near-duplicate uploads served as their own files (other md5, own size) that still look like their original."""

from __future__ import annotations

import io
import json

import imagehash
import pytest
from PIL import Image

from acg2vec.sample_site.booru import BooruSite
from acg2vec.sample_site.illustrations import ImageCache
from acg2vec.sample_site.messages import Request
from acg2vec.sample_site.planted import CurationNoise, ReuploadPost, plant_noise, write_truth
from acg2vec.sample_site.world import generate_world


@pytest.fixture(scope="module")
def planted():
    world = generate_world(seed=3, posts=120)
    noise = CurationNoise(missing_rate=0.2, wrong_rate=0.3, near_duplicate_rate=0.1, seed=1)
    return world, *plant_noise(world, noise)


def post_json(site: BooruSite, post_id: int) -> dict:
    request = Request("/index.php", {"page": "dapi", "s": "post", "q": "index", "json": "1", "id": str(post_id)}, {},
                      "http://127.0.0.1/safebooru")  # fmt: skip
    return json.loads(site.handle(request).body)[0]


def test_no_noise_leaves_the_world_as_it_is():
    world = generate_world(seed=3, posts=20)
    same, truth = plant_noise(world, CurationNoise())
    assert same is world and truth["tags"] == {} and truth["near_duplicates"] == []


def test_missing_and_wrong_tags_are_planted_at_their_rates_and_recorded(planted):
    world, noisy, truth = planted
    before = {p.id: set(p.general_tags) for p in world.posts}
    shown = sum(len(tags) for tags in before.values())
    removed = sum(len(t["removed"]) for t in truth["tags"].values())
    added = sum(len(t["added"]) for t in truth["tags"].values())
    assert 0.14 < removed / shown < 0.26 and 20 <= added <= 55
    for post in noisy.posts[: len(world.posts)]:
        change = truth["tags"].get(post.id, {"removed": [], "added": []})
        assert set(post.general_tags) == (before[post.id] - set(change["removed"])) | set(change["added"])
        assert not set(change["added"]) & before[post.id]  # a wrong tag is one the picture does not show
    assert [p.general_tags for p in world.posts] != [p.general_tags for p in noisy.posts[: len(world.posts)]]


def test_near_duplicates_are_served_as_their_own_files(planted, tmp_path):
    world, noisy, truth = planted
    copies = truth["near_duplicates"]
    assert len(copies) == 12 and {c["kind"] for c in copies} == {"reencode", "resize", "crop", "recolour"}
    assert min(c["post"] for c in copies) > max(p.id for p in world.posts)
    site = BooruSite(noisy, ImageCache())
    for copy in copies:
        post = noisy.by_post_id[copy["post"]]
        original = noisy.by_post_id[copy["duplicate_of"]]
        assert isinstance(post, ReuploadPost) and post.tags == original.tags
        answer = post_json(site, post.id)
        data = site.images.original(post).data
        assert answer["hash"] != post_json(site, original.id)["hash"] and answer["image"].endswith(".jpg")
        with Image.open(io.BytesIO(data)) as image:
            assert (answer["width"], answer["height"]) == image.size
            distance = imagehash.phash(image, hash_size=16) - imagehash.phash(
                Image.open(io.BytesIO(site.images.original(original).data)), hash_size=16
            )
        if copy["kind"] != "crop":
            assert distance <= 24, (copy, distance)
    write_truth(str(tmp_path / "truth.json"), truth)
    saved = json.loads((tmp_path / "truth.json").read_text())
    assert saved["noise"]["missing_rate"] == 0.2 and len(saved["near_duplicates"]) == 12
    assert set(saved["tags"]) == {str(k) for k in truth["tags"]}


def test_rates_outside_zero_to_one_are_refused():
    with pytest.raises(ValueError, match="missing_rate must lie in"):
        CurationNoise(missing_rate=1.5)
    with pytest.raises(ValueError, match="re-upload kinds"):
        CurationNoise(kinds=("mirror",))


def test_the_sample_site_command_takes_the_noise_rates(capsys):
    from acg2vec.sample_site.__main__ import parser

    args = parser().parse_args(["--missing-tags", "0.1", "--near-duplicates", "0.05", "--truth", "t.json"])
    assert (args.missing_tags, args.wrong_tags, args.near_duplicates, args.truth) == (0.1, 0.0, 0.05, "t.json")
    with pytest.raises(SystemExit):
        parser().parse_args(["--wrong-tags", "2"])
    assert "must lie between 0 and 1, not 2.0" in capsys.readouterr().err
