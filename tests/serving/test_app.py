"""Every endpoint of the app on the tiny served workdir, with the FAISS and the Milvus (milvus-lite) store."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from tests.evaluation.fakes import colour_image, jpeg_bytes
from tests.serving.fakes import WORKS, backend_services, milvus_client, served_workdir  # noqa: F401 -- fixtures

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(backend_services):  # noqa: F811
    from acg2vec.serving.app import create_app

    with TestClient(create_app(backend_services.config, services=backend_services)) as test_client:
        yield test_client


def upload(colour: str = "red", seed: int = 99) -> dict:
    return {"file": (f"{colour}.jpg", jpeg_bytes(colour_image(colour, seed)), "image/jpeg")}


def test_health_ready_and_docs(client, backend_services):  # noqa: F811
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["missing"] == []
    assert ready["vectors"] == backend_services.config.vectors
    assert ready["images"] == {"count": 12, "dim": 3}
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/tags", "/v1/illust2vec", "/v1/similar", "/v1/posts/{post_id}", "/v1/text/embed",
                 "/v1/works/search", "/v1/tags/complete"):  # fmt: skip
        assert path in paths
    assert "multipart/form-data" in paths["/v1/tags"]["post"]["requestBody"]["content"]


@pytest.mark.parametrize("colour", ["red", "green", "blue"])
def test_tags_of_an_upload(client, colour):
    answer = client.post("/v1/tags", files=upload(colour)).json()
    names = [t["name"] for t in answer["tags"]]
    # The colour tagger scores the dominant channel above its 0.5 threshold, the series tag at 0.9.
    assert set(names) == {colour, "sample_series"}
    assert answer["categories"] == {"copyright": ["sample_series"], "general": [colour]}
    assert answer["selection"] == "tuned" and answer["rating"] is None
    assert all(0 <= t["score"] <= 1 for t in answer["tags"])


def test_tags_top_k_threshold_category_and_base64(client):
    image = jpeg_bytes(colour_image("blue", 5))
    top = client.post("/v1/tags?top_k=3", files={"file": ("b.jpg", image, "image/jpeg")}).json()
    assert [t["name"] for t in top["tags"]][:2] == ["sample_series", "blue"] and len(top["tags"]) == 3
    low = client.post("/v1/tags?threshold=0.05", json={"image_base64": base64.b64encode(image).decode()}).json()
    assert {t["name"] for t in low["tags"]} >= {"blue", "red", "green", "sample_series"}
    assert "monochrome" not in {t["name"] for t in low["tags"]}  # scores 0.01
    only = client.post("/v1/tags?category=copyright", files={"file": ("b.jpg", image, "image/jpeg")}).json()
    assert [t["name"] for t in only["tags"]] == ["sample_series"]
    raw = client.post("/v1/tags", content=image, headers={"content-type": "image/jpeg"}).json()
    assert {t["name"] for t in raw["tags"]} == {"blue", "sample_series"}


def test_illust2vec_feature(client):
    answer = client.post("/v1/illust2vec", files=upload("green")).json()
    assert answer["dim"] == 3 and len(answer["vector"]) == 3
    r, g, b = answer["vector"]  # the fake embedding is the mean colour
    assert g > r and g > b


def test_similar_to_an_upload_with_filters(client, backend_services):  # noqa: F811
    answer = client.post("/v1/similar?k=4", files=upload("red")).json()
    assert answer["backend"] == backend_services.config.vectors
    assert [p["tags"][0] for p in answer["results"]] == ["red"] * 4
    assert all({"id", "score", "tags", "rating", "source_url", "thumbnail_url"} <= set(p) for p in answer["results"])
    smiling = client.post("/v1/similar?k=4&tag=smile", files=upload("red")).json()["results"]
    # Half the posts of each colour smile: the filter reaches past the other red posts to the other colours.
    assert len(smiling) == 4 and all("smile" in p["tags"] for p in smiling)
    assert [p["tags"][0] for p in smiling][:2] == ["red", "red"]
    none = client.post("/v1/similar?k=4&rating=explicit", files=upload("red")).json()
    assert none["results"] == [] and none["filters"]["rating"] == ["explicit"]


def test_post_by_id_thumbnail_and_similar_posts(client):
    post = client.get("/v1/posts/5").json()
    assert post["id"] == 5 and post["tags"][0] == "green" and post["rating"] == "general"
    thumb = client.get(post["thumbnail_url"])
    assert thumb.headers["content-type"] == "image/jpeg" and thumb.content[:2] == b"\xff\xd8"
    similar = client.get("/v1/posts/5/similar?k=3").json()
    ids = [p["id"] for p in similar["results"]]
    assert 5 not in ids and len(ids) == 3 and all(5 <= i <= 8 for i in ids)  # posts 5-8 are the green ones


def test_text_feature_single_and_batch(client):
    one = client.post("/v1/text/embed", json={"text": "鋼の錬金術師"}).json()
    assert one["dim"] == 16 and len(one["vector"]) == 16 and one["truncated"] == [False]
    assert abs(sum(x * x for x in one["vector"]) - 1) < 1e-4
    batch = client.post("/v1/text/embed", json={"texts": ["鋼の錬金術師", "Fullmetal Alchemist"]}).json()
    assert len(batch["vectors"]) == 2 and "vector" not in batch
    assert batch["vectors"][0] == pytest.approx(one["vector"], abs=1e-5)


@pytest.mark.parametrize("scorer", [None, "dense", "lexical", "hybrid"])
@pytest.mark.parametrize("work", WORKS)
def test_work_search_in_every_language(client, scorer, work):
    entity, ja, zh, en = work
    for query in (ja, zh, en):
        params = {"q": query, "k": 3} | ({"scorer": scorer} if scorer else {})
        answer = client.get("/v1/works/search", params=params).json()
        best = answer["results"][0]
        if scorer != "dense":  # the untrained one-layer encoder is no judge of meaning; the exact title is found
            assert best["entity_id"] == entity, (query, answer)
        assert set(best["titles"]) <= {"ja", "zh", "en"}
    answer = client.get("/v1/works/search", params={"q": zh, "k": 3, "scorer": scorer or "hybrid"}).json()
    hit = next(w for w in answer["results"] if w["entity_id"] == entity)
    assert hit["titles"] == {"ja": ja, "zh": zh, "en": en}


def test_work_search_exact_title_dense(client):
    # A title that is indexed verbatim is its own nearest neighbour, whatever the encoder learned.
    for entity, ja, _, _ in WORKS:
        best = client.get("/v1/works/search", params={"q": ja, "k": 1, "scorer": "dense"}).json()["results"][0]
        assert best["entity_id"] == entity and best["matched"] == ja and best["score"] == pytest.approx(1, abs=1e-4)


def test_work_aliases(client):
    answer = client.get("/v1/works/search", params={"q": "ハガレン", "k": 1, "scorer": "lexical"}).json()
    assert answer["results"][0]["entity_id"] == "bangumi:2" and answer["results"][0]["aliases"] == ["ハガレン"]


def test_tag_autocomplete_with_translations(client):
    pixiv = client.get("/v1/tags/complete", params={"prefix": "初音"}).json()["results"]
    assert pixiv == [
        {"name": "初音ミク", "category": "pixiv", "count": 1, "source": "pixiv", "translations": {"zh": ["初音未来"]}}
    ]
    # The Chinese translation finds the Japanese tag too.
    assert client.get("/v1/tags/complete", params={"prefix": "初音未"}).json()["results"][0]["name"] == "初音ミク"
    booru = client.get("/v1/tags/complete", params={"prefix": "SAMPLE ser"}).json()["results"]
    assert [t["name"] for t in booru] == ["sample_series"] and booru[0]["category"] == "copyright"
    ranked = client.get("/v1/tags/complete", params={"prefix": "r"}).json()["results"]
    assert ranked[0]["name"] == "red"


def test_metrics_count_requests_latencies_and_batches(client):
    client.post("/v1/tags", files=upload("red"))
    client.get("/v1/posts/424242")
    text = client.get("/metrics").text
    assert 'acg2vec_http_requests_total{method="POST",route="/v1/tags",status="200"}' in text
    assert 'acg2vec_http_requests_total{method="GET",route="/v1/posts/{post_id}",status="404"}' in text
    assert 'acg2vec_http_request_seconds_bucket{le="0.1",route="/v1/tags"}' in text
    assert 'acg2vec_model_batch_size_count{model="tags"}' in text


# -- bad input: a 4xx JSON sentence each, and the server keeps serving ------------------------------------------


def one_sentence(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail.endswith(".") and "\n" not in detail
    for word in words:
        assert word in detail, detail


def test_bad_images_are_4xx_and_awkward_ones_are_converted(client):
    from tests.serving.images import animated_gif, cmyk_jpeg, grey16_png, palette_png, png_bomb, truncated_jpeg

    def post(data: bytes, name: str = "x.png", path: str = "/v1/tags"):
        return client.post(path, files={"file": (name, data, "application/octet-stream")})

    one_sentence(post(b"hello, I am text", "notes.txt"), 415, "not an image")
    one_sentence(post(truncated_jpeg(), "cut.jpg"), 422, "truncated")
    one_sentence(post(png_bomb(30_000), "bomb.png"), 413, "pixels")
    one_sentence(post(b"", "empty.png"), 400, "empty")
    gif = post(animated_gif("red", "blue"), "anim.gif").json()
    assert {t["name"] for t in gif["tags"]} == {"red", "sample_series"} and "first frame" in gif["image"]["notes"][0]
    cmyk = post(cmyk_jpeg("red"), "cmyk.jpg").json()
    assert "red" in {t["name"] for t in cmyk["tags"]} and "CMYK" in cmyk["image"]["notes"][0]
    palette = post(palette_png("green"), "p.png").json()
    assert "green" in {t["name"] for t in palette["tags"]}
    grey = post(grey16_png(40_000), "grey16.png", "/v1/illust2vec").json()
    assert grey["vector"] == pytest.approx([40_000 / 65_535] * 3, abs=0.01)  # scaled, not clipped to white


def test_large_uploads_are_decoded_in_a_worker_thread_with_the_same_checks(client):
    from acg2vec.serving.uploads import INLINE_DECODE_PIXELS

    large = jpeg_bytes(colour_image("blue", 7, size=800))  # 640,000 pixels: over the inline limit
    assert INLINE_DECODE_PIXELS < 800 * 800
    answer = client.post("/v1/tags", files={"file": ("big.jpg", large, "image/jpeg")}).json()
    assert {t["name"] for t in answer["tags"]} == {"blue", "sample_series"}
    assert answer["image"]["width"] == 800
    cut = client.post("/v1/tags", files={"file": ("cut.jpg", large[: len(large) // 2], "image/jpeg")})
    one_sentence(cut, 422, "truncated")


def test_tag_selection_keeps_the_order_categories_cut_and_k():
    import numpy as np

    from acg2vec.serving.routes.images import select_tags

    probs = np.array([0.2, 0.9, 0.6, 0.9, 0.05], np.float32)
    categories = np.array(["general", "character", "general", "general", "copyright"], dtype=object)

    def pick(**kwargs) -> list[int]:
        return select_tags(
            probs, categories=categories, **{"cut": 0.5, "wanted": None, "top_k": None, **kwargs}
        ).tolist()

    assert pick() == [1, 3, 2]  # best first, ties in output order
    assert pick(top_k=2) == [1, 3]
    assert pick(wanted=["general"]) == [3, 2]
    assert pick(wanted=["general", "copyright"], cut=None) == [3, 2, 0, 4]
    assert pick(cut=np.array([0.1, 0.95, 0.5, 0.5, 0.0], np.float32)) == [3, 2, 0, 4]  # per-tag thresholds
    assert pick(cut=None, top_k=1, wanted=["copyright"]) == [4]
    assert pick(wanted=["meta"]) == []


def test_oversized_bodies_are_refused(client):
    big = b"\xff\xd8" + b"\0" * (21 * 1024 * 1024)
    one_sentence(client.post("/v1/tags", files={"file": ("big.jpg", big, "image/jpeg")}), 413, "20 MB")

    def chunks():
        for _ in range(30):
            yield b"\0" * (1024 * 1024)

    one_sentence(client.post("/v1/tags", content=chunks(), headers={"content-type": "image/jpeg"}), 413, "limit")


def test_bad_requests_are_one_sentence(client):
    one_sentence(client.post("/v1/tags", content=b"abc", headers={"content-type": "text/plain"}), 415, "text/plain")
    one_sentence(client.post("/v1/text/embed", data={"text": "x"}), 415, "application/json")
    one_sentence(
        client.post("/v1/text/embed", content=b'{"text": "x",', headers={"content-type": "application/json"}),
        400, "not valid JSON",
    )  # fmt: skip
    one_sentence(
        client.post("/v1/tags", content=b"{oops", headers={"content-type": "application/json"}), 400, "not valid JSON"
    )
    one_sentence(client.post("/v1/tags", json={"image_base64": "***"}), 400, "base64")
    one_sentence(client.post("/v1/tags", json={"image_url": "http://example.com/a.png"}), 400, "never fetches URLs")
    one_sentence(client.post("/v1/text/embed", json={"text": "   "}), 422, "empty")
    one_sentence(client.post("/v1/text/embed", json={"texts": ["ok", ""]}), 422, "Text 2", "empty")
    one_sentence(client.post("/v1/text/embed", json={"words": "x"}), 422, "'text'")
    one_sentence(client.get("/v1/works/search", params={"q": " "}), 422, "empty")
    one_sentence(client.get("/v1/works/search", params={"q": "x", "scorer": "magic"}), 422, "scorer")
    one_sentence(client.get("/v1/posts/424242"), 404, "424242")
    one_sentence(client.get("/v1/posts/424242/similar"), 404, "424242")
    one_sentence(client.get("/v1/posts/abc"), 422, "post_id")
    for k in (0, -3, 101):
        one_sentence(client.get("/v1/posts/1/similar", params={"k": k}), 422, "'k'")
        one_sentence(client.post(f"/v1/similar?k={k}", files=upload()), 422, "'k'")
        one_sentence(client.get("/v1/works/search", params={"q": "x", "k": k}), 422, "'k'")
    one_sentence(client.get("/v1/posts/1/similar", params={"rating": "nsfw"}), 422, "rating")
    one_sentence(client.get("/v1/tags/complete", params={"prefix": ""}), 422, "prefix")


def test_long_text_is_truncated_by_the_tokenizer_and_said_so(client):
    text = ("red green blue " * 700)[:10_000]
    answer = client.post("/v1/text/embed", json={"text": text}).json()
    assert answer["truncated"] == [True] and len(answer["vector"]) == 16
    assert "read only the first" in answer["notices"][0]
    found = client.get("/v1/works/search", params={"q": text}).json()
    assert found["notices"] and found["results"]


def test_the_server_keeps_serving_after_bad_input(client):
    import resource

    from tests.serving.images import png_bomb, truncated_jpeg

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(3):
        client.post("/v1/tags", files={"file": ("bomb.png", png_bomb(30_000), "image/png")})
        client.post("/v1/similar", files={"file": ("cut.jpg", truncated_jpeg(), "image/jpeg")})
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # kB
    assert client.get("/healthz").status_code == 200
    assert client.post("/v1/tags", files=upload("red")).status_code == 200


def test_with_an_api_key_the_docs_offer_it_and_the_api_wants_it(backend_services):  # noqa: F811
    import dataclasses

    from acg2vec.serving.app import create_app

    config = dataclasses.replace(backend_services.config, api_key="k3y")
    with TestClient(create_app(config, services=backend_services)) as keyed:
        assert keyed.get("/v1/posts/1").status_code == 401
        assert keyed.get("/v1/posts/1", headers={"X-API-Key": "k3y"}).json()["id"] == 1
        assert keyed.get("/docs").status_code == 200 and keyed.get("/").status_code == 200
        schema = keyed.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"


def test_ready_only_once_loaded_and_missing_pieces_are_named(served_workdir, tmp_path):  # noqa: F811
    import shutil
    import time

    from acg2vec.serving.app import create_app
    from acg2vec.serving.services import ServeConfig

    # A workdir with the text side only: the image endpoints say what is missing, the rest is served.
    workdir = tmp_path / "acg2vec-data"
    for part in ("models/acgvoc2vec", "index/works", "index/tags"):
        shutil.copytree(served_workdir / part, workdir / part)
    with TestClient(create_app(ServeConfig(workdir=str(workdir)))) as loading:
        first = loading.get("/readyz")
        assert first.status_code == 503 and first.json()["status"] == "loading"
        one_sentence(loading.post("/v1/tags", files=upload()), 503, "still loading")
        assert loading.get("/healthz").status_code == 200
        deadline = time.monotonic() + 120
        while (ready := loading.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        missing = " ".join(ready.json()["missing"])
        assert "no tagger" in missing and "no image index" in missing
        one_sentence(loading.post("/v1/tags", files=upload()), 503, "This server has no tagger")
        assert (
            loading.get("/v1/works/search", params={"q": "鋼の錬金術師"}).json()["results"][0]["entity_id"]
            == "bangumi:2"
        )
