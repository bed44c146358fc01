"""Text retrieval on held-out entities: query (anchor) -> target (positive), per pair type.

For every pair type, the queries are the distinct anchors of the held-out splits and the candidates are all the
distinct positives of that pair type; the relevant targets of a query are the positives paired with it. Scores:
accuracy@1, recall@10 (share of a query's targets in its top 10) and MRR@10. Search is exact (inner product on
normalised vectors), so these figures measure the encoder, not the index (the ANN benchmark measures that).

The acgvoc2vec model is scored by each scorer of :class:`~acg2vec.evaluation.text_search.TextSearcher`: ``dense``
(the encoder alone), ``lexical`` (script-normalised character n-gram TF-IDF) and ``hybrid`` (their fusion), beside
the plain TF-IDF index (no script normalisation) and the base model before training: untrained when it was built
from scratch, zero-shot when it is a pretrained model (the default, multilingual-e5-small). The report marks the
model's default scorer (:func:`~acg2vec.evaluation.text_search.default_scorer`: dense for a fine-tuned pretrained
model, hybrid for a from-scratch one), the one ``serve``'s work search answers with when a request names none.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from acg2vec.datasets.acg_text_pairs.readers import parquet_files
from acg2vec.datasets.acg_text_pairs.schema import BUILD_COMMAND, COLUMNS, parquet_dir
from acg2vec.datasets.published import read_parquet
from acg2vec.deadletter import DeadLetters, dead_letter_path
from acg2vec.errors import UserError
from acg2vec.evaluation.report import Section, Table, save_figure
from acg2vec.evaluation.text_search import FUSION, TextSearcher, default_scorer, model_base
from acg2vec.indexes.search import exact_search
from acg2vec.trainers.text.lexical_baseline import CharNgramTfidf, LexicalConfig
from acg2vec.trainers.text.normalize import normalize_text

log = logging.getLogger(__name__)

STEP = "eval-texts"  # dead letters: <out_dir>/dead_letters/eval-texts.jsonl.gz

Encoder = Callable[[list[str]], object]  # texts -> dense [n, d] array (normalised) or sparse rows


DENSE_NAME = "acgvoc2vec"
LEXICAL_NAME = "lexical (normalised char n-gram TF-IDF)"
PLAIN_LEXICAL_NAME = "lexical (char n-gram TF-IDF)"
HYBRID_NAME = "acgvoc2vec + lexical (hybrid)"
UNTRAINED_NAME = "untrained base model"
ZERO_SHOT_NAME = "zero-shot base model (before fine-tuning)"  # a pretrained base, such as multilingual-e5-small
SCORER_NAMES = {"dense": DENSE_NAME, "lexical": LEXICAL_NAME, "hybrid": HYBRID_NAME}


@dataclass(slots=True)
class TextRetrievalConfig:
    splits: tuple[str, ...] = ("validation", "test")  # held-out entities
    k: int = 10
    max_queries_per_type: int = 2000
    batch_size: int = 64
    scorers: tuple[str, ...] = ("dense", "lexical", "hybrid")  # TextSearcher scorers run for the model
    fusion: str = FUSION  # the hybrid scorer's fusion (text_search.FUSION, the measured better one) or another


@dataclass(slots=True)
class Task:
    """One pair type: distinct queries, distinct candidates, and the candidate ids relevant to each query."""

    pair_type: str
    queries: list[str]
    corpus: list[str]
    relevant: list[set[int]] = field(default_factory=list)


def read_pairs(datasets_root: str, splits: tuple[str, ...], *, dead_letters: DeadLetters | None = None) -> list[dict]:
    """Rows of the held-out Parquet splits; rows without anchor, positive or pair type are counted and set aside.
    A damaged part is one sentence naming it and the rebuild (scores on a part of a split would mislead)."""
    rows: list[dict] = []
    # Only a corpus whose build finished (build_metadata.json is written last).
    files = [path for paths in parquet_files(datasets_root, splits).values() for path in paths]
    if not files:
        raise UserError(
            f"no Parquet files of splits {', '.join(splits)} under {parquet_dir(datasets_root, '<split>')}; "
            "run `acg2vec build texts` first."
        )
    for path in files:
        table = read_parquet(path, repair=BUILD_COMMAND, lost="the held-out pairs in it are lost")
        missing = {"anchor", "positive", "pair_type"} - set(table.column_names)
        if missing:
            raise UserError(f"{path} lacks the columns {sorted(missing)} of acg_text_pairs ({', '.join(COLUMNS)}).")
        for row in table.to_pylist():
            if not all(isinstance(row.get(c), str) and row[c].strip() for c in ("anchor", "positive", "pair_type")):
                if dead_letters is not None:
                    dead_letters.add("missing-text", row, detail=os.path.basename(path))
                continue
            rows.append(row)
    return rows


def build_tasks(rows: list[dict], *, max_queries: int | None = None) -> list[Task]:
    """Group rows by pair type into retrieval tasks (queries sorted, so a capped task is reproducible)."""
    by_type: dict[str, dict[str, set[str]]] = {}
    for row in rows:
        by_type.setdefault(row["pair_type"], {}).setdefault(row["anchor"], set()).add(row["positive"])
    tasks = []
    for pair_type in sorted(by_type):
        targets = by_type[pair_type]
        corpus = sorted({p for positives in targets.values() for p in positives})
        position = {text: i for i, text in enumerate(corpus)}
        queries = sorted(targets)[:max_queries] if max_queries else sorted(targets)
        relevant = [{position[p] for p in targets[q]} for q in queries]
        tasks.append(Task(pair_type, queries, corpus, relevant))
    return tasks


def retrieval_metrics(ranked: np.ndarray, relevant: list[set[int]], *, k: int = 10) -> dict:
    """accuracy@1, recall@k and MRR@k of ranked candidate ids ([queries, >= k]) against each query's relevant ids."""
    if len(relevant) == 0:
        return {
            "queries": 0,
            "accuracy_at_1": float("nan"),
            f"recall_at_{k}": float("nan"),
            f"mrr_at_{k}": float("nan"),
        }
    top1 = recall = mrr = 0.0
    for row, targets in zip(ranked, relevant, strict=True):
        row = [int(i) for i in row[:k]]
        top1 += row[0] in targets
        recall += len(targets.intersection(row)) / len(targets)
        mrr += next((1.0 / (rank + 1) for rank, i in enumerate(row) if i in targets), 0.0)
    n = len(relevant)
    return {"queries": n, "accuracy_at_1": top1 / n, f"recall_at_{k}": recall / n, f"mrr_at_{k}": mrr / n}


def rank(query_vectors, corpus_vectors, k: int) -> np.ndarray:
    """Top-``k`` candidate ids by inner product: FAISS exact search for dense rows, chunked products for sparse."""
    k = min(k, corpus_vectors.shape[0])
    if hasattr(query_vectors, "tocsr"):  # scipy sparse (the lexical baseline)
        out = np.empty((query_vectors.shape[0], k), dtype=np.int64)
        corpus_t = corpus_vectors.T.tocsc()
        for start in range(0, query_vectors.shape[0], 256):
            scores = (query_vectors[start : start + 256] @ corpus_t).toarray()
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
            out[start : start + 256] = np.take_along_axis(top, order, axis=1)
        return out
    _, ids = exact_search(np.asarray(corpus_vectors), np.asarray(query_vectors), k, metric="ip")
    return ids


def evaluate_encoder(encode: Encoder, tasks: list[Task], *, k: int = 10) -> dict:
    """Scores of one encoder: per pair type, and over all queries (micro average)."""
    per_type = {}
    ranked_all, relevant_all = [], []
    for task in tasks:
        ranked = rank(encode(task.queries), encode(task.corpus), k)
        per_type[task.pair_type] = retrieval_metrics(ranked, task.relevant, k=k)
        ranked_all += list(ranked)
        relevant_all += task.relevant
    padded = (
        np.array([np.pad(r, (0, k - len(r)), constant_values=-1) for r in ranked_all])
        if ranked_all
        else np.empty((0, k))
    )
    return {"overall": retrieval_metrics(padded, relevant_all, k=k), "per_pair_type": per_type}


def evaluate_ranker(ranker: Callable[[Task, int], np.ndarray], tasks: list[Task], *, k: int = 10) -> dict:
    """Like :func:`evaluate_encoder` for a ``ranker(task, k) -> [queries, k] candidate ids``."""
    return evaluate_rankers({"ranker": ranker}, tasks, k=k)["ranker"]


def evaluate_rankers(rankers: dict[str, Callable[[Task, int], np.ndarray]], tasks: list[Task], *, k: int = 10):
    """:func:`evaluate_ranker` of each named ranker, task by task: every ranker runs on a task before the next
    task, so rankers sharing one searcher per task (:func:`searcher_rankers`) encode its texts once."""
    per_type: dict[str, dict] = {name: {} for name in rankers}
    ranked_all: dict[str, list] = {name: [] for name in rankers}
    relevant_all: list[set[int]] = []
    for task in tasks:
        for name, ranker in rankers.items():
            log.debug("text retrieval: %s on %s", name, task.pair_type)
            ranked = ranker(task, k)
            per_type[name][task.pair_type] = retrieval_metrics(ranked, task.relevant, k=k)
            ranked_all[name] += [np.pad(r, (0, k - len(r)), constant_values=-1) for r in ranked]
        relevant_all += task.relevant
    out = {}
    for name in rankers:
        padded = np.array(ranked_all[name]) if ranked_all[name] else np.empty((0, k))
        out[name] = {"overall": retrieval_metrics(padded, relevant_all, k=k), "per_pair_type": per_type[name]}
    return out


def searcher_rankers(
    model, fit_texts: list[str], scorers: tuple[str, ...], *, fusion: str = FUSION, batch_size: int = 64
) -> dict[str, Callable[[Task, int], np.ndarray]]:
    """One ranker per scorer of a TextSearcher over each task's candidates (one searcher, one encoding, per task)."""
    lexical = CharNgramTfidf().fit(fit_texts)  # one IDF for every task, as the trainer's baseline fits it
    cache: dict[str, tuple[TextSearcher, np.ndarray | None]] = {}

    def searcher(task: Task) -> tuple[TextSearcher, np.ndarray | None]:
        if task.pair_type not in cache:
            s = TextSearcher(
                task.corpus, encoder=model, lexical=lexical, fusion=fusion, batch_size=batch_size, scorer="lexical"
            )
            q = s.encode(task.queries) if model is not None else None
            cache.clear()  # one task's vectors at a time
            cache[task.pair_type] = (s, q)
        return cache[task.pair_type]

    def make(scorer: str):
        def ranker(task: Task, k: int) -> np.ndarray:
            s, q = searcher(task)
            hits = s.search(task.queries, k, scorer=scorer, query_embeddings=q)
            return [np.array([i for i, _ in row], dtype=np.int64) for row in hits]

        return ranker

    return {name: make(name) for name in scorers}


def _lexical_fit_texts(datasets_root: str, tasks: list[Task], *, limit: int = 200_000) -> list[str]:
    """Training-split texts for the TF-IDF vocabulary, as the text trainer fits it; the evaluated texts without one."""
    if glob.glob(os.path.join(parquet_dir(datasets_root, "train"), "*.parquet")):
        rows = read_pairs(datasets_root, ("train",))[: limit // 2]
        return [r["anchor"] for r in rows] + [r["positive"] for r in rows]
    log.info("no train split: the lexical baseline's vocabulary is fit on the evaluated texts")
    return [t for task in tasks for t in task.queries + task.corpus]


def sentence_transformer_encoder(model_dir: str, *, batch_size: int = 64) -> Encoder:
    """Encode with a sentence-transformers folder, normalised so inner product is cosine.

    Inputs are script-normalised first, as :class:`~acg2vec.evaluation.text_search.TextSearcher` does for every
    encoder (idempotent, so a model that normalises inside sees the same strings)."""
    if not os.path.isdir(model_dir):
        raise UserError(f"no sentence-transformers model at {model_dir}; train one with `acg2vec train text`.")
    from acg2vec.trainers.text.input_module import load_encoder

    model = load_encoder(model_dir, device="cpu")

    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(
            [normalize_text(t) for t in texts],
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32)

    return encode


def lexical_encoder(fit_texts: list[str], *, normalization: str | None = None) -> Encoder:
    """The text trainer's character n-gram TF-IDF baseline, fit on ``fit_texts``; rows are L2-normalised.

    ``normalization`` defaults to the script normalisation the encoder applies; "none" gives the plain index."""
    config = LexicalConfig() if normalization is None else LexicalConfig(normalization=normalization)
    return CharNgramTfidf(config).fit(fit_texts).transform


def find_untrained_model(model_dir: str) -> str | None:
    """The encoder before fine-tuning, where the text trainer left it: its from-scratch base in
    ``checkpoints/scratch-base``, or the local base-model folder named in ``training_args.json`` (the folder it
    loaded the base from, such as the imported multilingual-e5-small, or the ``--base-model`` folder)."""
    import json

    scratch = os.path.join(model_dir, "checkpoints", "scratch-base")
    if os.path.isfile(os.path.join(scratch, "modules.json")):
        return scratch
    args_path = os.path.join(model_dir, "training_args.json")
    if os.path.isfile(args_path):
        try:
            with open(args_path, encoding="utf-8") as fh:
                args = json.load(fh).get("acg2vec") or {}
        except (OSError, ValueError):
            return None
        for base in (args.get("base_model_dir"), args.get("base_model")):
            if isinstance(base, str) and base and os.path.isdir(base):
                return base
    return None


def untrained_model_name(model_dir: str | None, base_model_dir: str) -> str:
    """The report's name for the base model: a pretrained one the trainer started from is measured zero-shot."""
    if not model_dir:
        return UNTRAINED_NAME
    found = find_untrained_model(model_dir)
    built_here = os.path.join(model_dir, "checkpoints", "scratch-base")
    return ZERO_SHOT_NAME if found == base_model_dir and found != built_here else UNTRAINED_NAME


def evaluate_text_retrieval(
    model_dir: str | None,
    datasets_root: str,
    out_dir: str | None = None,
    *,
    base_model_dir: str | None = None,
    encoders: dict[str, Encoder] | None = None,
    config: TextRetrievalConfig | None = None,
) -> dict:
    """Held-out text retrieval of the acgvoc2vec model beside the lexical baseline and the untrained base model.

    ``datasets_root`` is the workdir's ``datasets`` folder (Parquet under ``parquet/acg_text_pairs/<split>``).
    ``encoders`` adds or replaces encoders by name (the demo and the tests pass their own). With ``out_dir``
    the per-pair-type bar plot and the dead letters are written there.
    """
    cfg = config or TextRetrievalConfig()
    dead_path = dead_letter_path(out_dir, STEP) if out_dir else None
    with DeadLetters(dead_path, step=STEP, fresh=True) as dead:  # a rerun of the run replaces its report
        rows = read_pairs(datasets_root, cfg.splits, dead_letters=dead)
    tasks = build_tasks(rows, max_queries=cfg.max_queries_per_type)
    if not tasks:
        raise UserError(f"the held-out splits {', '.join(cfg.splits)} have no usable text pairs.")
    fit_texts = _lexical_fit_texts(datasets_root, tasks)
    results = {}
    scorers = tuple(cfg.scorers)
    if model_dir:
        if not os.path.isdir(model_dir):
            raise UserError(f"no sentence-transformers model at {model_dir}; train one with `acg2vec train text`.")
        from acg2vec.trainers.text.input_module import load_encoder

        model = load_encoder(model_dir, device="cpu")
        base_model_dir = base_model_dir or find_untrained_model(model_dir)
    else:
        model, scorers = None, tuple(s for s in scorers if s == "lexical")
    rankers = searcher_rankers(model, fit_texts, scorers, fusion=cfg.fusion, batch_size=cfg.batch_size)
    log.info("text retrieval: %s scorers on %d pair types", ", ".join(rankers), len(tasks))
    for scorer, result in evaluate_rankers(rankers, tasks, k=cfg.k).items():
        results[SCORER_NAMES[scorer]] = result
    named: dict[str, Encoder] = {}
    if base_model_dir:
        named[untrained_model_name(model_dir, base_model_dir)] = sentence_transformer_encoder(
            base_model_dir, batch_size=cfg.batch_size
        )
    named[PLAIN_LEXICAL_NAME] = lexical_encoder(fit_texts, normalization="none")
    named.update(encoders or {})
    for name, encode in named.items():
        log.info("text retrieval: %s on %d pair types", name, len(tasks))
        results[name] = evaluate_encoder(encode, tasks, k=cfg.k)
    metrics = {
        "rows_read": len(rows) + dead.total,
        "rows_used": len(rows),
        "rows_dropped": dict(dead.counts),
        "pair_types": {t.pair_type: {"queries": len(t.queries), "candidates": len(t.corpus)} for t in tasks},
        "encoders": results,
        "untrained_model": base_model_dir or None,
        "scorers": {scorer: SCORER_NAMES[scorer] for scorer in scorers},
        "fusion": cfg.fusion,
        # The scorer serve's work search answers with for this model when a request names none.
        "default_scorer": default_scorer(model_dir),
        "model_base": model_base(model_dir),
    }
    if out_dir:
        metrics["plot"] = plot_pair_type_bars(results, os.path.join(out_dir, "texts_pair_types.png"), k=cfg.k)
    return metrics


def plot_pair_type_bars(results: dict, path: str, *, k: int = 10) -> str:
    """MRR@k per pair type, one bar per encoder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    names = list(results)
    types = sorted({t for r in results.values() for t in r["per_pair_type"]})
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(types) + 2), 4.5))
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        values = [results[name]["per_pair_type"].get(t, {}).get(f"mrr_at_{k}", 0.0) for t in types]
        ax.bar(np.arange(len(types)) + i * width, values, width, label=name)
    ax.set_xticks(np.arange(len(types)) + width * (len(names) - 1) / 2)
    ax.set_xticklabels(types, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"MRR@{k}")
    ax.set_ylim(0, 1)
    ax.set_title("Held-out text retrieval per pair type")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


DEFAULT_MARK = " (default scorer)"
WHY_DEFAULT = {
    "pretrained": "a model fine-tuned from a pretrained base ranks best alone: on the real zh / ja titles the fusion "
    "with TF-IDF is level with it or below (docs/benchmark-runs/2026-12-07-text-default-scorer.md)",
    "scratch": "a model trained from scratch ranks better fused with the lexical index, as measured on the real zh / "
    "ja titles (docs/benchmark-runs/2026-12-07-text-default-scorer.md)",
    "unrecorded": "the model folder has no training_args.json of `acg2vec train text` naming its base, and the "
    "fusion helped both a from-scratch model and the pretrained base before fine-tuning on validation",
    "none": "there is no model",
}


def encoder_label(name: str, metrics: dict) -> str:
    """A result's name in the report, marked when it is the model's default scorer (the one serve answers with)."""
    default = metrics.get("default_scorer")
    return name + DEFAULT_MARK if default and metrics.get("scorers", {}).get(default) == name else name


def texts_section(metrics: dict, *, k: int = 10) -> Section:
    """The report section of a text retrieval run."""
    columns = ["encoder", "queries", "accuracy@1", f"recall@{k}", f"MRR@{k}"]
    rows = []
    for name, result in metrics["encoders"].items():
        o = result["overall"]
        rows.append(
            [
                encoder_label(name, metrics),
                o["queries"],
                f"{o['accuracy_at_1']:.3f}",
                f"{o[f'recall_at_{k}']:.3f}",
                f"{o[f'mrr_at_{k}']:.3f}",
            ]
        )
    type_rows = []
    for pair_type, sizes in metrics["pair_types"].items():
        cells = [pair_type, sizes["queries"], sizes["candidates"]]
        cells += [f"{r['per_pair_type'][pair_type][f'mrr_at_{k}']:.3f}" for r in metrics["encoders"].values()]
        type_rows.append(cells)
    dropped = sum(metrics["rows_dropped"].values())
    text = (
        f"{metrics['rows_used']} held-out pairs used of {metrics['rows_read']} read ({dropped} set aside: "
        f"{metrics['rows_dropped'] or 'none'}). "
        + ("" if metrics["untrained_model"] else "No untrained base model was given, so it is not compared. ")
        + "Exact search; the candidates of a query are all targets of its pair type. "
        + f"The hybrid scorer fuses acgvoc2vec and the normalised lexical index by {metrics.get('fusion', 'weighted')}."
        + (
            f" The default scorer of this model, the one `acg2vec serve` answers work searches with, is "
            f"{metrics['default_scorer']}: {WHY_DEFAULT[metrics['model_base']]}."
            if metrics.get("default_scorer")
            else ""
        )
    )
    return Section(
        key="texts",
        title="Text retrieval on held-out entities (acgvoc2vec)",
        text=text,
        tables=[
            Table(columns, rows, caption="All pair types together (micro average over queries)."),
            Table(
                ["pair type", "queries", "candidates"] + [f"MRR@{k} {n}" for n in metrics["encoders"]],
                type_rows,
                caption="Per pair type.",
            ),
        ],
        plots=[metrics["plot"]] if metrics.get("plot") else [],
        metrics=metrics,
    )
