"""Work search in batches: the text batcher encodes a micro-batch's queries together and scores them together."""

from __future__ import annotations

import numpy as np
import pytest

from acg2vec.serving.services import WorkQuery
from tests.serving.fakes import backend_services, milvus_client, served_workdir  # noqa: F401 -- fixtures

pytestmark = pytest.mark.integration

QUERIES = ["鋼の錬金術師", "Fullmetal Alchemist", "ハガレン", "钢之炼金术师", "no such work at all"]


def test_a_batch_of_searches_finds_what_each_search_alone_finds(backend_services):  # noqa: F811
    services = backend_services
    search = services.work_search
    vectors = services.text.encode(QUERIES).vectors
    scorers = ["hybrid", "dense", "lexical", None, "hybrid"]
    ks = [1, 5, 3, 100, 2]  # k=100 fetches more rows than the others: searched in its own pass
    together = search.search_many(QUERIES, vectors, ks=ks, scorers=scorers)
    alone = [search.search(q, v, k=k, scorer=s) for q, v, k, s in zip(QUERIES, vectors, ks, scorers, strict=True)]
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
    assert works == services.work_search.search("鋼の錬金術師", vector, k=3, scorer="lexical")
    assert works[0]["titles"]["en"] == "Fullmetal Alchemist"
