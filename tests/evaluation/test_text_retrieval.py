"""Text retrieval on held-out pairs with a fake encoder whose right answers are known, the lexical baseline,
and a tiny real sentence-transformers folder."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from acg2vec.errors import UserError
from acg2vec.evaluation.report import write_report
from acg2vec.evaluation.text_retrieval import (
    TextRetrievalConfig,
    build_tasks,
    evaluate_text_retrieval,
    retrieval_metrics,
    texts_section,
)

# Four works; each has a ja title, a zh title and a summary. The fake encoder knows which work a text is about.
WORKS = {
    "w1": ("魔法少女まどか☆マギカ", "魔法少女小圆", "A girl makes a contract with Kyubey."),
    "w2": ("涼宮ハルヒの憂鬱", "凉宫春日的忧郁", "A high school girl founds the SOS Brigade."),
    "w3": ("機動戦士ガンダム", "机动战士高达", "Amuro pilots the Gundam in the One Year War."),
    "w4": ("けいおん!", "轻音少女", "Four girls form a light music club band."),
}


def rows_for(works: dict) -> list[dict]:
    rows = []
    for entity, (ja, zh, summary) in works.items():
        rows.append(
            dict(
                anchor=ja,
                positive=zh,
                pair_type="title_ja-title_zh",
                source="bangumi",
                entity_id=entity,
                anchor_lang="ja",
                positive_lang="zh",
            )
        )
        rows.append(
            dict(
                anchor=ja,
                positive=summary,
                pair_type="title_ja-summary",
                source="bangumi",
                entity_id=entity,
                anchor_lang="ja",
                positive_lang="en",
            )
        )
    return rows


def write_parquet(root, split: str, rows: list[dict]) -> None:
    folder = root / "parquet" / "acg_text_pairs" / split
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "part-00000.parquet")
    (folder.parent / "build_metadata.json").write_text(
        "{}", encoding="utf-8"
    )  # marks the corpus complete, as a build does


def oracle_encoder(texts: list[str]) -> np.ndarray:
    """One dimension per work: every text about work i is the unit vector e_i."""
    owner = {text: i for i, work in enumerate(WORKS.values()) for text in work}
    out = np.zeros((len(texts), len(WORKS)), dtype=np.float32)
    out[np.arange(len(texts)), [owner[t] for t in texts]] = 1.0
    return out


def reversed_encoder(texts: list[str]) -> np.ndarray:
    """Anchors point at the next work: every top-1 is wrong, the right answer is never in a top 2."""
    owner = {text: i for i, work in enumerate(WORKS.values()) for text in work}
    out = np.zeros((len(texts), len(WORKS)), dtype=np.float32)
    for row, text in enumerate(texts):
        shift = 1 if text == WORKS[f"w{owner[text] + 1}"][0] else 0
        out[row, (owner[text] + shift) % len(WORKS)] = 1.0
    return out


@pytest.mark.unit
def test_retrieval_metrics_hand_computed():
    ranked = np.array([[3, 1, 2], [0, 2, 1], [5, 6, 7]])
    relevant = [{3}, {1}, {9}]
    m = retrieval_metrics(ranked, relevant, k=3)
    assert m["accuracy_at_1"] == pytest.approx(1 / 3)
    assert m["recall_at_3"] == pytest.approx(2 / 3)
    assert m["mrr_at_3"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    # Two targets, one found: recall counts the share of targets.
    assert retrieval_metrics(np.array([[1, 4]]), [{1, 2}], k=2)["recall_at_2"] == pytest.approx(0.5)


@pytest.mark.unit
def test_tasks_group_by_pair_type():
    tasks = build_tasks(rows_for(WORKS))
    assert [t.pair_type for t in tasks] == ["title_ja-summary", "title_ja-title_zh"]
    task = tasks[1]
    assert len(task.queries) == 4 and len(task.corpus) == 4
    for query, relevant in zip(task.queries, task.relevant, strict=True):
        (target,) = relevant
        work = next(w for w in WORKS.values() if w[0] == query)
        assert task.corpus[target] == work[1]


@pytest.mark.integration
def test_evaluate_with_known_answers_and_dead_letters(tmp_path):
    datasets = tmp_path / "datasets"
    rows = rows_for(WORKS)
    bad = dict(rows[0], positive="  ", entity_id="bad")
    write_parquet(datasets, "validation", rows[:4] + [bad])
    write_parquet(datasets, "test", rows[4:])
    # The lexical baseline fits its vocabulary on the train split, as the text trainer does.
    write_parquet(
        datasets, "train", rows_for({"w9": ("魔法少女と機動戦士", "魔法少女 机动战士", "A girl pilots a mecha.")})
    )
    out = tmp_path / "eval"
    metrics = evaluate_text_retrieval(
        None, str(datasets), str(out), encoders={"oracle": oracle_encoder, "reversed": reversed_encoder}
    )
    assert metrics["rows_read"] == 9 and metrics["rows_used"] == 8 and metrics["rows_dropped"] == {"missing-text": 1}
    with gzip.open(out / "dead_letters" / "eval-texts.jsonl.gz", "rt", encoding="utf-8") as fh:
        (letter,) = [json.loads(line) for line in fh]
    assert (letter["reason"], letter["step"], letter["record"]["entity_id"]) == ("missing-text", "eval-texts", "bad")
    oracle = metrics["encoders"]["oracle"]["overall"]
    assert oracle == {"queries": 8, "accuracy_at_1": 1.0, "recall_at_10": 1.0, "mrr_at_10": 1.0}
    reverse = metrics["encoders"]["reversed"]["overall"]
    assert reverse["accuracy_at_1"] == 0.0 and reverse["mrr_at_10"] < 0.5
    lexical = metrics["encoders"]["lexical (char n-gram TF-IDF)"]["per_pair_type"]
    # 魔法少女 (and 士) join two ja titles to their zh titles; the others share nothing the vocabulary knows.
    assert 0.25 <= lexical["title_ja-title_zh"]["accuracy_at_1"] <= 0.75
    assert (out / "texts_pair_types.png").stat().st_size > 1000

    paths = write_report(out, [texts_section(metrics)])
    report = Path(paths["markdown"]).read_text()
    assert "oracle" in report and "title_ja-summary" in report and "texts_pair_types.png" in report


@pytest.mark.unit
def test_missing_parquet_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="acg2vec build texts"):
        evaluate_text_retrieval(None, str(tmp_path), config=TextRetrievalConfig())


@pytest.mark.unit
def test_a_corpus_whose_build_never_finished_is_refused(tmp_path):
    write_parquet(tmp_path, "test", rows_for(WORKS))
    (tmp_path / "parquet" / "acg_text_pairs" / "build_metadata.json").unlink()
    with pytest.raises(UserError, match=r"not a complete dataset \(no build_metadata.json\).*acg2vec build texts"):
        evaluate_text_retrieval(None, str(tmp_path), config=TextRetrievalConfig())


@pytest.mark.integration
def test_sentence_transformers_folder(tmp_path):
    from .fakes import make_sentence_transformer

    datasets = tmp_path / "datasets"
    write_parquet(datasets, "validation", rows_for(WORKS))
    model_dir = make_sentence_transformer(tmp_path / "acgvoc2vec", texts=[t for w in WORKS.values() for t in w])
    metrics = evaluate_text_retrieval(str(model_dir), str(datasets), base_model_dir=str(model_dir))
    model = metrics["encoders"]["acgvoc2vec"]["overall"]
    assert model["queries"] == 8 and 0.0 <= model["mrr_at_10"] <= 1.0
    assert metrics["encoders"]["untrained base model"]["overall"] == model  # the same folder scores the same
    # Every TextSearcher scorer is reported, beside the plain (not script-normalised) TF-IDF.
    assert metrics["scorers"] == {
        "dense": "acgvoc2vec",
        "lexical": "lexical (normalised char n-gram TF-IDF)",
        "hybrid": "acgvoc2vec + lexical (hybrid)",
    }
    for name in [*metrics["scorers"].values(), "lexical (char n-gram TF-IDF)"]:
        assert metrics["encoders"][name]["overall"]["queries"] == 8
    lexical_only = evaluate_text_retrieval(
        str(model_dir), str(datasets), config=TextRetrievalConfig(scorers=("lexical",))
    )
    assert (
        lexical_only["encoders"]["lexical (normalised char n-gram TF-IDF)"]
        == (metrics["encoders"]["lexical (normalised char n-gram TF-IDF)"])
    )
    assert "acgvoc2vec" not in lexical_only["encoders"]
    # A folder train text did not write: the fusion is its default scorer, as serve answers with it.
    assert metrics["default_scorer"] == "hybrid" and metrics["model_base"] == "unrecorded"
    # A model train text fine-tuned from a pretrained base: the encoder alone, and the report says which and why.
    record = {"acg2vec": {"base_model": "multilingual-e5-small"}}
    (model_dir / "training_args.json").write_text(json.dumps(record), encoding="utf-8")
    tuned = evaluate_text_retrieval(str(model_dir), str(datasets), config=TextRetrievalConfig(scorers=("dense",)))
    assert tuned["default_scorer"] == "dense"
    section = texts_section(tuned)
    names = [row[0] for row in section.tables[0].rows]
    assert names[0] == "acgvoc2vec (default scorer)" and "lexical (char n-gram TF-IDF)" in names
    assert "default scorer of this model" in section.text and "is dense: a model fine-tuned" in section.text


@pytest.mark.unit
def test_untrained_model_is_found_where_the_text_trainer_leaves_it(tmp_path):
    from acg2vec.evaluation.text_retrieval import find_untrained_model

    model = tmp_path / "acgvoc2vec"
    model.mkdir()
    assert find_untrained_model(str(model)) is None
    base = tmp_path / "base"
    base.mkdir()
    (model / "training_args.json").write_text(json.dumps({"acg2vec": {"base_model": str(base)}}), encoding="utf-8")
    assert find_untrained_model(str(model)) == str(base)
    scratch = model / "checkpoints" / "scratch-base"
    scratch.mkdir(parents=True)
    (scratch / "modules.json").write_text("[]", encoding="utf-8")
    assert find_untrained_model(str(model)) == str(scratch)


@pytest.mark.unit
def test_lexical_baseline_ranks_by_shared_characters():
    from acg2vec.evaluation.text_retrieval import lexical_encoder, rank

    encode = lexical_encoder(["魔法少女と機動戦士", "魔法少女 机动战士", "light music club"])
    corpus = ["凉宫春日的忧郁", "机动战士高达", "轻音少女", "魔法少女小圆"]
    ranked = rank(encode(["魔法少女まどか☆マギカ", "a light music club"]), encode(corpus), 2)
    assert ranked[0].tolist() == [3, 2]  # 魔法少女 shared, then 少女
    assert ranked.shape == (2, 2)


@pytest.mark.unit
def test_every_scorer_of_a_task_shares_one_encoding_of_its_texts():
    from acg2vec.evaluation.text_retrieval import Task, evaluate_rankers, searcher_rankers

    from .test_text_search import OneHotEncoder

    encoder = OneHotEncoder()
    tasks = [
        Task(
            "title_ja-title_zh", ["鋼の錬金術師", "涼宮ハルヒの憂鬱"], ["钢之炼金术师", "凉宫春日的忧郁"], [{0}, {1}]
        ),
        Task("title_zh-title_ja", ["轻音少女"], ["けいおん!", "機動戦士ガンダム"], [{0}]),
    ]
    rankers = searcher_rankers(encoder, ["鋼の錬金術師", "钢之炼金术师"], ("dense", "lexical", "hybrid"))
    results = evaluate_rankers(rankers, tasks, k=2)
    # Each task's queries and candidates were encoded once for the three scorers, not once per scorer.
    assert len(encoder.seen) == sum(len(t.queries) + len(t.corpus) for t in tasks)
    assert results["dense"]["overall"]["accuracy_at_1"] == 1.0
    assert set(results) == {"dense", "lexical", "hybrid"}
    assert set(results["hybrid"]["per_pair_type"]) == {"title_ja-title_zh", "title_zh-title_ja"}
