"""TextSearcher: dense, lexical and hybrid scorers with an encoder whose right answers are known in advance."""

from __future__ import annotations

import json

import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.evaluation.text_search import FUSION, TextSearcher, fuse, rrf_scores, top_k

TITLES = ["鋼の錬金術師", "涼宮ハルヒの憂鬱", "机动战士高达", "轻音少女", "Magic Knight Rayearth"]
# What each normalised text is about, as a one-hot work id: the fake encoder's whole knowledge.
ABOUT = {
    "钢の炼金术师": 0,
    "钢之炼金术师": 0,
    "凉宫ハルヒの忧郁": 1,
    "凉宫春日的忧郁": 1,
    "机动战士高达": 2,
    "机动战士ガンダム": 2,
    "轻音少女": 3,
    "けいおん!": 3,
    "magic knight rayearth": 4,
    "魔法骑士雷阿斯": 4,
}


class OneHotEncoder:
    """Encodes a text it knows as its work's one-hot vector, anything else as zeros; records what it was given."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts, **kwargs):
        self.seen += list(texts)
        out = np.zeros((len(texts), len(TITLES)), dtype=np.float32)
        for i, text in enumerate(texts):
            if text in ABOUT:
                out[i, ABOUT[text]] = 1.0
        return out


@pytest.mark.unit
def test_dense_finds_translations_and_sees_normalised_text():
    encoder = OneHotEncoder()
    searcher = TextSearcher(TITLES, encoder=encoder, scorer="dense")
    hits = searcher.search(["钢之炼金术师", "けいおん!", "魔法騎士レイアース"], k=2)
    assert [row[0] for row in hits[:2]] == [(0, pytest.approx(1.0)), (3, pytest.approx(1.0))]
    assert hits[2][0][1] == pytest.approx(0.0)  # unknown to the encoder: no signal
    # Both the texts and the queries reached the encoder script-normalised (涼宮 -> 凉宫, casefolded Latin).
    assert "凉宫ハルヒの忧郁" in encoder.seen and "magic knight rayearth" in encoder.seen
    assert "涼宮ハルヒの憂鬱" not in encoder.seen


@pytest.mark.unit
def test_lexical_matches_across_han_scripts_and_plain_does_not():
    normalised = TextSearcher(TITLES, scorer="lexical")
    plain = TextSearcher(TITLES, scorer="lexical", normalization="none")
    assert normalised.scorers == ("lexical",)
    (hit,) = normalised.search(["凉宫春日的忧郁"], k=1)
    assert hit[0][0] == 1 and hit[0][1] > 0.3  # 凉宫 / 忧郁 shared once 涼宮 / 憂鬱 are converted
    (row,) = plain.scores(["凉宫春日的忧郁"])
    assert row[1] < hit[0][1] / 2  # without conversion only the word-boundary padding is shared
    (hit,) = normalised.search(["ＭＡＧＩＣ　ｋｎｉｇｈｔ"], k=1)  # full-width, upper case
    assert hit[0][0] == 4


@pytest.mark.unit
def test_hybrid_rrf_combines_ranks_of_both_scorers():
    searcher = TextSearcher(TITLES, encoder=OneHotEncoder(), scorer="hybrid", fusion="rrf", rrf_k=60)
    dense = searcher.scores(["机动战士ガンダム"], scorer="dense")
    lexical = searcher.scores(["机动战士ガンダム"], scorer="lexical")
    hybrid = searcher.scores(["机动战士ガンダム"])
    assert np.argmax(dense[0]) == np.argmax(lexical[0]) == np.argmax(hybrid[0]) == 2
    assert hybrid[0, 2] == pytest.approx(2 / 61)  # first in both lists
    hits = searcher.search(["机动战士ガンダム"], k=3)[0]
    assert [i for i, _ in hits][0] == 2 and len(hits) == 3
    assert hits[0][1] >= hits[1][1] >= hits[2][1]


@pytest.mark.unit
def test_weighted_fusion_is_the_weighted_sum_and_the_default():
    assert TextSearcher(TITLES).fusion == "weighted"
    searcher = TextSearcher(TITLES, encoder=OneHotEncoder(), fusion="weighted", weight=0.25)
    queries = ["凉宫春日的忧郁", "轻音少女"]
    dense, lexical = searcher.scores(queries, scorer="dense"), searcher.scores(queries, scorer="lexical")
    np.testing.assert_allclose(searcher.scores(queries), 0.25 * dense + 0.75 * lexical, rtol=1e-6)


@pytest.mark.unit
def test_given_embeddings_and_query_embeddings():
    vectors = np.eye(len(TITLES), dtype=np.float32) * 3.0  # not unit length: the searcher normalises
    searcher = TextSearcher(TITLES, embeddings=vectors, scorer="dense")
    hits = searcher.search(["anything"], k=1, query_embeddings=np.eye(len(TITLES), dtype=np.float32)[[4]])
    assert hits == [[(4, pytest.approx(1.0))]]
    with pytest.raises(UserError, match="encoder"):
        searcher.search(["no vectors for this query"], k=1)


@pytest.mark.unit
def test_bad_arguments_are_user_errors():
    with pytest.raises(UserError, match="scorer"):
        TextSearcher(TITLES, scorer="bm25")
    with pytest.raises(UserError, match="fusion"):
        TextSearcher(TITLES, fusion="max")
    with pytest.raises(UserError, match="needs an encoder"):
        TextSearcher(TITLES).search(["轻音"], k=1, scorer="dense")
    with pytest.raises(ValueError, match="embeddings"):
        TextSearcher(TITLES, embeddings=np.ones((2, 3)))


@pytest.mark.unit
def test_top_k_and_rrf_helpers():
    scores = np.array([0.5, 0.9, 0.5, 0.1], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [1, 0, 2]  # ties broken by the lower index
    assert top_k(scores, 10).tolist() == [1, 0, 2, 3]
    fused = rrf_scores([np.array([[3.0, 2.0, 1.0]]), np.array([[1.0, 2.0, 3.0]])], k=1, candidates=2)
    # ranks (1, 2, -) and (-, 2, 1): 1/2, 1/3 + 1/3, 1/2
    np.testing.assert_allclose(fused, [[1 / 2, 2 / 3, 1 / 2]], rtol=1e-6)
    assert TextSearcher(TITLES, scorer="lexical").search(["x"], k=0) == [[]]


@pytest.mark.unit
def test_one_fusion_function_for_the_searcher_and_for_candidate_columns():
    searcher = TextSearcher(TITLES, encoder=OneHotEncoder())
    assert searcher.fusion == FUSION == "weighted"
    queries = ["凉宫春日的忧郁", "机动战士ガンダム"]
    dense, lexical = searcher.scores(queries, scorer="dense"), searcher.scores(queries, scorer="lexical")
    np.testing.assert_allclose(searcher.fuse(dense, lexical), fuse(dense, lexical), rtol=1e-6)
    np.testing.assert_allclose(searcher.scores(queries), fuse(dense, lexical), rtol=1e-6)
    # The server fuses the scores of its candidate rows: weighted fusion is per row, so a column subset agrees.
    rows = np.array([0, 1, 2])
    np.testing.assert_allclose(fuse(dense[:, rows], lexical[:, rows]), fuse(dense, lexical)[:, rows], rtol=1e-6)
    with pytest.raises(UserError, match="fusion"):
        fuse(dense, lexical, fusion="max")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("record", "base", "scorer"),
    [
        ({"acg2vec": {"base_model": "multilingual-e5-small"}}, "pretrained", "dense"),
        (
            {"acg2vec": {"base_model": "sentence-transformers/distiluse-base-multilingual-cased-v2"}},
            "pretrained",
            "dense",
        ),
        ({"acg2vec": {"base_model": "scratch"}}, "scratch", "hybrid"),
        ({"acg2vec": {"base_model": None}}, "scratch", "hybrid"),  # train text's own "nothing given" = scratch
        ({"acg2vec": {"epochs": 2}}, "unrecorded", "hybrid"),
        ("not json {", "unrecorded", "hybrid"),
        (["a", "list"], "unrecorded", "hybrid"),
        (None, "unrecorded", "hybrid"),  # no training_args.json: a folder train text did not write
    ],
)
def test_the_default_scorer_follows_the_base_the_model_folder_records(tmp_path, record, base, scorer):
    from acg2vec.evaluation.text_search import default_scorer, model_base

    if record is not None:
        text = record if isinstance(record, str) else json.dumps(record)
        (tmp_path / "training_args.json").write_text(text, encoding="utf-8")
    assert model_base(str(tmp_path)) == base
    assert default_scorer(str(tmp_path)) == scorer


@pytest.mark.unit
def test_without_a_model_the_default_scorer_is_lexical():
    from acg2vec.evaluation.text_search import default_scorer

    assert default_scorer(None) == default_scorer("") == "lexical"
