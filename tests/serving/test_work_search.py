"""Work search in batches: the text batcher encodes a micro-batch's queries together and scores them together."""

from __future__ import annotations

import numpy as np
import pytest

from acg2vec.serving.services import WorkQuery
from tests.serving.fakes import WORKS, backend_services, milvus_client, served_workdir  # noqa: F401 -- fixtures

pytestmark = pytest.mark.integration

QUERIES = ["鋼の錬金術師", "Fullmetal Alchemist", "ハガレン", "钢之炼金术师", "no such work at all"]


def test_a_batch_of_searches_finds_what_each_search_alone_finds(backend_services):  # noqa: F811
    services = backend_services
    search = services.work_search
    vectors = services.text.encode(QUERIES).vectors
    scorers = ["hybrid", "dense", "lexical", None, "hybrid"]
    ks = [1, 5, 3, 100, 2]  # k=100 fetches more rows than the others: searched in its own pass
    together = search.search_many(QUERIES, vectors, ks=ks, scorers=scorers)
    alone = [
        search.search_many([q], v[None, :], ks=[k], scorers=[s])[0]
        for q, v, k, s in zip(QUERIES, vectors, ks, scorers, strict=True)
    ]
    assert together == alone
    assert together[0][0]["titles"]["en"] == "Fullmetal Alchemist"
    assert len(together[1]) == min(5, len(services.works)) and len(together[4]) <= 2


def test_texts_and_work_searches_share_one_encoder_call(backend_services):  # noqa: F811
    services = backend_services
    calls = []
    encode = services.text.encode
    services.text.encode = lambda texts, **kw: calls.append(list(texts)) or encode(texts, **kw)
    try:
        out = services._text_batch(["Fullmetal Alchemist", WorkQuery("鋼の錬金術師", 3, "lexical"), "x"])
    finally:
        del services.text.encode  # the bound method again
    assert calls == [["Fullmetal Alchemist", "鋼の錬金術師", "x"]]
    assert [len(answer) for answer in out] == [2, 3, 2]  # (vector, truncated) and (vector, truncated, works)
    vector, cut, works = out[1]
    assert not cut and np.allclose(vector, encode(["鋼の錬金術師"]).vectors[0], atol=1e-5)
    assert works == services.work_search.search_many(["鋼の錬金術師"], vector[None, :], ks=[3], scorers=["lexical"])[0]
    assert works[0]["titles"]["en"] == "Fullmetal Alchemist"


# -- the served ranking is the evaluated one ------------------------------------------------------------------

PARITY_QUERIES = [
    *(title for work in WORKS for title in work[1:]),
    "ハガレン",
    "钢之炼金",
    "ハルヒ",
    "Alchemist",
    "魔法",
    "no such work at all",
]


def evaluated_works(services, scorer: str, queries: list[str]) -> list[list[tuple[str, str]]]:
    """``eval texts``' ranking of the served title rows (its rankers, model and scorer), grouped into works as the
    server groups them: (entity id, matched title) of each work's best row, best first."""
    from acg2vec.evaluation.text_retrieval import Task, searcher_rankers
    from acg2vec.trainers.text.input_module import load_encoder

    works, titles = services.works, services.works.text_of_row
    model = load_encoder(services.text.path, device="cpu")
    ranker = searcher_rankers(model, titles, (scorer,))[scorer]  # the lexical index fitted on the searched titles
    ranked = ranker(Task("works", queries, titles), len(titles))
    out = []
    for rows in ranked:
        seen: dict[int, str] = {}
        for row in rows.tolist():
            seen.setdefault(int(works.work_of_row[row]), titles[row])
        out.append([(works.works[w]["entity_id"], title) for w, title in seen.items()])
    return out


@pytest.mark.parametrize("scorer", ["dense", "lexical", "hybrid", None])
def test_a_served_work_search_ranks_as_eval_texts_does(backend_services, scorer):  # noqa: F811
    from fastapi.testclient import TestClient

    from acg2vec.evaluation.text_search import TextSearcher, default_scorer
    from acg2vec.serving.app import create_app

    services = backend_services
    k = len(services.works)
    asked, scorer = scorer, scorer or default_scorer(services.text.path)  # None: the model's default, as eval marks it
    expected = evaluated_works(services, scorer, PARITY_QUERIES)
    # The lexical scorer answers only works sharing an n-gram with the query (score > 0); eval ranks every row.
    lexical = TextSearcher(services.works.text_of_row, scorer="lexical").scores(PARITY_QUERIES)
    with TestClient(create_app(services.config, services=services)) as client:
        for query, want, scores in zip(PARITY_QUERIES, expected, lexical, strict=True):
            params = {"q": query, "k": k, **({"scorer": asked} if asked else {})}
            answer = client.get("/v1/works/search", params=params).json()
            assert answer["scorer"] == scorer
            got = [(work["entity_id"], work["matched"]) for work in answer["results"]]
            if scorer == "lexical":
                matching = {int(services.works.work_of_row[row]) for row in np.flatnonzero(scores > 0)}
                want = want[: len(matching)]
            assert got == want, (query, answer)
    assert services.work_search.searcher.fusion == "weighted"  # the measured default of text_search.FUSION


@pytest.mark.unit
def test_hybrid_over_candidates_scores_each_row_as_the_full_fusion(tmp_path):
    """With more title rows than candidates, every hybrid hit carries the exact fused score of its row (dense
    cosine from the index's vectors, lexical cosine), hits come best first, and the best rows are found even
    where the store's dense neighbours miss them (a title written exactly, far from the query's vector)."""
    from acg2vec.evaluation.text_search import TextSearcher
    from acg2vec.serving.catalog import Works
    from acg2vec.serving.stores.base import Hit
    from acg2vec.serving.work_search import MIN_CANDIDATES, WorkSearch

    rng = np.random.default_rng(0)
    chars = rng.permutation(np.arange(0x4E00, 0x4E00 + 9 * MIN_CANDIDATES)).reshape(-1, 3)
    titles = ["".join(map(chr, row)) for row in chars]  # 300 titles sharing no character
    vectors = rng.normal(size=(len(titles), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    np.save(tmp_path / "vectors.npy", vectors)

    class ExactStore:  # brute force, as FAISS's Flat index answers
        index_dir, count = str(tmp_path), len(titles)

        def search(self, queries, k):
            scores = queries @ vectors.T
            return [[Hit(int(i), float(row[i])) for i in np.argsort(-row, kind="stable")[:k]] for row in scores]

    works = Works.__new__(Works)  # one work per title row
    works.works = [{"entity_id": f"w{i}", "titles": {"zh": t}, "aliases": []} for i, t in enumerate(titles)]
    works.work_of_row, works.text_of_row = np.arange(len(titles)), titles
    search = WorkSearch(ExactStore(), works)
    query_vectors = rng.normal(size=(3, 8)).astype(np.float32)
    far = int(np.argsort(-(vectors @ query_vectors[0]))[MIN_CANDIDATES + 20])  # not among the dense candidates
    queries = [titles[far], titles[5][:2], titles[9][0] + titles[40][1]]
    found = search.search_many(queries, query_vectors, ks=[5, 5, 5], scorers=["hybrid"] * 3)
    full = TextSearcher(titles, embeddings=vectors).scores(queries, query_embeddings=query_vectors)
    assert search.fetch(5) == MIN_CANDIDATES < len(titles)
    assert found[0][0]["entity_id"] == f"w{far}"
    for answer, row_scores in zip(found, full, strict=True):
        rows = [int(work["entity_id"][1:]) for work in answer]
        assert [work["score"] for work in answer] == pytest.approx(row_scores[rows].tolist(), abs=1e-5)
        assert rows == np.argsort(-row_scores, kind="stable")[:5].tolist()
