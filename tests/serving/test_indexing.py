"""The index folders ``serve`` answers from: what ``serving/indexing.py`` writes, reads and counts."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest

from acg2vec.serving import indexing
from tests.serving.fakes import ALIASES, TAG_PAIRS, WORKS, make_text_pairs, served_workdir  # noqa: F401 -- fixture


def read_parquet(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


# -- stale or current ------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_an_index_is_current_only_for_the_model_it_was_built_with(tmp_path):
    model = tmp_path / "models" / "acgvoc2vec"
    model.mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"1")
    os.utime(model / "weights.bin", (1_700_000_000, 1_700_000_000))
    assert indexing.fingerprint(str(model)) == "acgvoc2vec@1700000000"
    assert indexing.fingerprint(str(tmp_path / "nowhere")) == "nowhere@0"

    out = tmp_path / "index" / "works"
    assert not indexing.is_current(str(out), None)  # no meta.json: not built, or killed half-way
    out.mkdir(parents=True)
    (out / "meta.json").write_text(json.dumps({"model_fingerprint": indexing.fingerprint(str(model))}))
    assert indexing.is_current(str(out), str(model)) and indexing.is_current(str(out), None)
    os.utime(model / "weights.bin", (1_700_000_500, 1_700_000_500))  # the model was trained again
    assert not indexing.is_current(str(out), str(model))


# -- source URLs -----------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_source_urls_come_from_the_raw_posts_first_seen_first(tmp_path):
    lines = [
        {"id": 1, "url": "https://safebooru.org/index.php?page=post&s=view&id=1"},
        {"id": "2", "source_url": "https://example.org/2"},
        {"id": 1, "url": "https://elsewhere.org/1"},  # a later copy does not replace the first
        {"id": 3, "url": ""},  # no URL: left out
        {"no_id": True},
    ]
    folder = tmp_path / "raw" / "safebooru"
    folder.mkdir(parents=True)
    with gzip.open(folder / "post-00000.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(line) for line in lines) + "\n{not json\n")
    with gzip.open(folder / "tag-00000.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": 9, "url": "https://safebooru.org/tag/9"}) + "\n")  # not a post file
    assert indexing.source_urls(str(tmp_path / "raw")) == {
        1: "https://safebooru.org/index.php?page=post&s=view&id=1",
        2: "https://example.org/2",
    }
    assert indexing.source_urls(str(tmp_path / "empty")) == {}


# -- works and tags from the text corpus ----------------------------------------------------------------------


@pytest.mark.unit
def test_works_gather_every_title_by_language_with_aliases(tmp_path):
    make_text_pairs(tmp_path)
    works = {w["entity_id"]: w for w in indexing.read_works(str(tmp_path / "datasets"))}
    assert sorted(works) == [entity for entity, *_ in WORKS]  # tags and people are no works
    for entity, ja, zh, en in WORKS:
        assert works[entity]["titles"] == {"ja": ja, "zh": zh, "en": en}
    # ハガレン is paired with the Chinese title as a second Japanese title: the less frequent one is an alias.
    assert works["bangumi:2"]["aliases"] == [ALIASES["bangumi:2"]]
    assert works["bangumi:1"]["aliases"] == []


@pytest.mark.unit
def test_a_corpus_without_parquet_is_one_sentence(tmp_path):
    from acg2vec.errors import UserError

    with pytest.raises(UserError, match="acg2vec build texts"):
        indexing.read_works(str(tmp_path / "datasets"))


@pytest.mark.unit
def test_pixiv_tag_pairs_and_the_tag_table(tmp_path):
    make_text_pairs(tmp_path)
    datasets = str(tmp_path / "datasets")
    assert indexing.read_tag_pairs(datasets) == {ja: {zh: 1} for ja, zh in TAG_PAIRS}

    class Tagger:  # a tagger's vocabulary as load_image_model exposes it
        has_tags = True
        path = str(tmp_path / "models" / "deepdanbooru")
        tag_names = ["hagane_no_renkinjutsushi", "Fullmetal_Alchemist", "smile"]
        tag_categories = ["copyright", "copyright", "general"]
        tag_counts = [5, 7, 900]

    works = indexing.read_works(datasets)
    out = tmp_path / "index" / "tags"
    assert indexing.build_tags_table(out_dir=str(out), tagger=Tagger(), datasets_root=datasets, works=works) == 5
    rows = {row["name"]: row for row in read_parquet(out / indexing.TAGS_FILE)}
    # A booru tag that spells a work's title (case, width and _ aside) gets the work's other titles.
    alchemist = json.loads(rows["Fullmetal_Alchemist"]["translations"])
    assert alchemist == {"ja": ["鋼の錬金術師"], "zh": ["钢之炼金术师"]}
    assert json.loads(rows["smile"]["translations"]) == {} and rows["smile"]["count"] == 900
    assert rows["smile"]["key"] == "smile" and rows["Fullmetal_Alchemist"]["key"] == "fullmetal alchemist"
    assert json.loads(rows["初音ミク"]["translations"]) == {"zh": ["初音未来"]}
    assert (rows["初音ミク"]["category"], rows["初音ミク"]["source"]) == ("pixiv", "pixiv")
    meta = json.loads((out / "meta.json").read_text())
    assert meta["count"] == 5 and meta["model"] == Tagger.path and meta["model_fingerprint"] == "deepdanbooru@0"
    # Without a tagger or a corpus the table is empty but readable.
    assert indexing.build_tags_table(out_dir=str(tmp_path / "empty")) == 0
    assert read_parquet(tmp_path / "empty" / indexing.TAGS_FILE) == []


@pytest.mark.unit
def test_tag_keys_ignore_case_width_and_underscores():
    assert indexing.tag_key("Hatsune_Miku") == indexing.tag_key("ｈａｔｓｕｎｅ  miku") == "hatsune miku"


# -- the built folders (the served workdir's, built by build_missing) -----------------------------------------


@pytest.mark.integration
def test_the_works_index_has_one_row_per_distinct_title(served_workdir):  # noqa: F811
    folder = served_workdir / "index" / "works"
    works = read_parquet(folder / indexing.WORKS_FILE)
    titles = read_parquet(folder / indexing.TITLES_FILE)
    assert [w["entity_id"] for w in works] == [entity for entity, *_ in WORKS]
    assert [t["row"] for t in titles] == list(range(len(titles))) == np.load(folder / "ids.npy").tolist()
    by_work = {}
    for t in titles:
        by_work.setdefault(works[t["work"]]["entity_id"], []).append((t["lang"], t["text"]))
    assert by_work["bangumi:2"] == [("ja", "鋼の錬金術師"), ("zh", "钢之炼金术师"), ("en", "Fullmetal Alchemist"),
                                    ("alias", "ハガレン")]  # fmt: skip
    vectors = np.load(folder / "vectors.npy")
    assert vectors.shape == (len(titles), 16)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["kind"] == "works" and meta["works"] == 3 and meta["count"] == len(titles) and meta["metric"] == "ip"
    assert meta["model_fingerprint"] == indexing.fingerprint(str(served_workdir / "models" / "acgvoc2vec"))


@pytest.mark.integration
def test_the_image_index_holds_each_post_once_with_its_thumbnail(served_workdir):  # noqa: F811
    folder = served_workdir / "index" / "images"
    posts = read_parquet(folder / indexing.POSTS_FILE)
    # The tiny dataset has the same 12 posts in validation and test: each is indexed once.
    assert sorted(p["id"] for p in posts) == list(range(1, 13))
    assert sorted(np.load(folder / "ids.npy").tolist()) == list(range(1, 13))
    thumbnails = (folder / indexing.THUMBNAILS_FILE).read_bytes()
    for post in posts:
        jpeg = thumbnails[post["thumb_offset"] : post["thumb_offset"] + post["thumb_size"]]
        assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
    red = next(p for p in posts if p["id"] == 1)
    assert red["tags"][0] == "red" and red["rating"] == "general" and red["source_url"] is None
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["posts"] == meta["count"] == 12 and meta["dropped"] == {} and meta["dim"] == 3


@pytest.mark.integration
def test_an_image_the_model_cannot_decode_is_set_aside_and_counted(served_workdir, tmp_path, monkeypatch):  # noqa: F811
    from acg2vec.imaging import ImageDrop
    from acg2vec.trainers.image import image_model

    real_load = image_model.load_image_model
    bad = {}

    class Refuses:
        """The real colour model, refusing the first image it is given (and that image whenever it comes again)."""

        def __init__(self, model) -> None:
            self.model = model
            self.has_embedding = model.has_embedding

        def embed(self, images: list[bytes]):
            bad.setdefault("image", images[0])
            if bad["image"] in images:
                raise ImageDrop("image-corrupt", "not an image")
            return self.model.embed(images)

        embed_robust = image_model.ImageModel.embed_robust  # the real retry, over this embed

    monkeypatch.setattr(image_model, "load_image_model", lambda path: Refuses(real_load(path)))
    out = tmp_path / "images"
    meta = indexing.build_image_index(
        dataset_dir=str(served_workdir / "datasets" / "acg_illustrations"),
        model_path=str(served_workdir / "models" / "deepdanbooru"),
        out_dir=str(out),
        batch_size=5,
    )
    assert meta["posts"] == 12 and meta["count"] == 11 and meta["dropped"] == {"undecodable-image": 1}
    assert len(np.load(out / "ids.npy")) == 11 and len(read_parquet(out / indexing.POSTS_FILE)) == 12
    assert (out / "dead_letters" / "index-images.jsonl.gz").is_file()
