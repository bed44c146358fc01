"""``acg2vec eval tagger|images|texts|ann``: each adds its section to ``eval/<run>/report.md`` (+ html, metrics.json)
and prints a short table. Heavy libraries are imported inside the commands so ``--help`` stays fast."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from acg2vec.commands.options import apply_overrides
from acg2vec.commands.state import workspace
from acg2vec.errors import UserError
from acg2vec.integrity import atomic_write_json

app = typer.Typer(no_args_is_help=True)

RUN_HELP = "Name of the run: its report is eval/<run>/ in the workdir; evaluations into one run share one report."


def _model_path(value: str) -> str:
    """A model given by name (a folder under models/) or by path."""
    if os.sep in value or os.path.exists(value):
        return str(Path(value).expanduser().resolve())
    return workspace().models(value)


def _image_models(*, taggers_only: bool = False) -> list[str]:
    """Image models in the workdir's model folders, in the order serve and embed take them (the registry's
    EMBEDDER_PREFERENCE, which names every image model); with ``taggers_only`` just those that predict tags."""
    from acg2vec.trainers.image.models.registry import EMBEDDER_PREFERENCE
    from acg2vec.trainers.image.predict import image_models

    ws = workspace()
    found = image_models(ws.models(), EMBEDDER_PREFERENCE, taggers_only=taggers_only)
    if not found:
        kind = "tagger" if taggers_only else "image model"
        raise UserError(
            f"no exported {kind} in {ws.models()} ({', '.join(EMBEDDER_PREFERENCE)}); train one with "
            "`acg2vec train tagger`, or pass --model."
        )
    return found


def _has_taggers() -> bool:
    try:
        return bool(_image_models(taggers_only=True))
    except UserError:
        return False


def _finish(run: str, sections: list, *, summary: list[str], rows: list[list]) -> None:
    from rich.console import Console
    from rich.table import Table

    from acg2vec.evaluation.report import write_report

    run_dir = workspace().eval(run)
    paths = write_report(run_dir, sections)
    table = Table(*summary, title=f"eval/{run}")
    for row in rows:
        table.add_row(*[str(c) for c in row])
    out = Console()
    out.print(table)
    out.print(f"report: {paths['markdown']}\n        {paths['html']}\nmetrics: {paths['metrics']}", highlight=False)


def _fmt(value: float) -> str:
    return "-" if value != value else f"{value:.3f}"  # NaN != NaN


@app.command("tagger", help="Tagging metrics of image taggers on a split of acg_illustrations, with PR curves.")
def tagger(
    model: list[str] = typer.Option(
        None,
        "--model",
        "-m",
        help="Model name under models/ or a path (repeatable; default: every exported image model).",
    ),
    dataset: Path = typer.Option(None, "--dataset", "-d", help="acg_illustrations folder (default: the workdir's)."),
    split: str = typer.Option(
        "test", help="Split to evaluate (not validation: the trainers tune thresholds.json on validation)."
    ),
    max_images: int = typer.Option(None, min=1, help="Evaluate at most this many images."),
    batch_size: int = typer.Option(32, min=1, help="Images per model call."),
    run: str = typer.Option("main", help=RUN_HELP),
    release: list[Path] = typer.Option(
        None,
        "--release",
        help="A released tagger's folder as its authors ship it (DeepDanbooru project; WD-style model.onnx + "
        "selected_tags.csv), scored as an extra row beside the project's models (repeatable).",
    ),
) -> None:
    from acg2vec.evaluation.tagger import evaluate_tagger, tagger_section

    ws = workspace()
    if model:
        models = [_model_path(m) for m in model]
    elif release:
        # Releases alone are fine; the project's own models join them when there are any.
        models = _image_models(taggers_only=True) if _has_taggers() else []
    else:
        models = _image_models(taggers_only=True)
    models += [str(Path(r).expanduser().resolve()) for r in release or []]
    data_dir = str(dataset) if dataset else os.path.join(ws.datasets(), "acg_illustrations")
    sections, rows = [], []
    for model_dir in models:
        metrics = evaluate_tagger(
            model_dir, data_dir, ws.eval(run), split=split, batch_size=batch_size, max_images=max_images
        )
        sections.append(tagger_section(metrics))
        m, b = metrics["overall"]["model"], metrics["overall"]["baseline"]
        kind = metrics.get("model_kind", "acg2vec")
        rows.append(
            [
                metrics["model"] if kind == "acg2vec" else f"{metrics['model']} ({kind} release)",
                metrics["images"],
                _fmt(m["micro_f1_at_p_eq_r"]),
                _fmt(m["macro_f1_tuned"]),
                _fmt(m["macro_map"]),
                _fmt(b["macro_map"]),
            ]
        )
    _finish(
        run,
        sections,
        summary=["model", "images", "micro F1 @P=R", "macro F1 tuned", "macro mAP", "baseline mAP"],
        rows=rows,
    )


@app.command("images", help="Image retrieval with the model's embeddings (precision@k, mAP@k by tag overlap).")
def images(
    model: str = typer.Option(
        None, "--model", "-m", help="Model name or path (default: illust2vec, else deepix, deepdanbooru, alt_i2v)."
    ),
    dataset: Path = typer.Option(None, "--dataset", "-d", help="acg_illustrations folder (default: the workdir's)."),
    split: str = typer.Option(None, help="Split to evaluate (default validation)."),
    k: int = typer.Option(None, "-k", min=1, help="Ranks scored (default 10)."),
    min_jaccard: float = typer.Option(
        None, help="Two images are relevant when their label sets overlap this much (default 0.3)."
    ),
    max_images: int = typer.Option(
        None, min=2, help="Evaluate at most this many images (every one queries all others; default 5000)."
    ),
    run: str = typer.Option("main", help=RUN_HELP),
) -> None:
    from acg2vec.evaluation.image_retrieval import ImageRetrievalConfig, evaluate_image_retrieval, images_section

    ws = workspace()
    model_dir = _model_path(model) if model else _image_models()[0]
    data_dir = str(dataset) if dataset else os.path.join(ws.datasets(), "acg_illustrations")
    config = apply_overrides(ImageRetrievalConfig(), k=k, min_jaccard=min_jaccard, split=split, max_images=max_images)
    metrics = evaluate_image_retrieval(model_dir, data_dir, ws.eval(run), config=config)
    rows = [[name, _fmt(r["precision_at_k"]), _fmt(r["map_at_k"])] for name, r in metrics["methods"].items()]
    rows.append(["chance", _fmt(metrics["relevant_pairs_share"]), "-"])
    summary = ["method", f"precision@{config.k}", f"mAP@{config.k}"]
    _finish(run, [images_section(metrics)], summary=summary, rows=rows)


@app.command("texts", help="Text retrieval on held-out entities: accuracy@1, recall@10, MRR@10 per pair type.")
def texts(
    model: str = typer.Option(
        "acgvoc2vec", "--model", "-m", help="sentence-transformers folder: name under models/ or a path."
    ),
    base_model: str = typer.Option(
        None, help="The untrained base model's folder (default: where `acg2vec train text` left it, if it did)."
    ),
    splits: list[str] = typer.Option(
        None, "--split", help="Held-out splits (repeatable; default validation and test)."
    ),
    max_queries: int = typer.Option(None, min=1, help="Queries per pair type at most (default 2000)."),
    scorers: list[str] = typer.Option(
        None,
        "--scorer",
        help="Search scorers to run (repeatable; default all): dense (the encoder), lexical (script-normalised "
        "char n-gram TF-IDF), hybrid (their fusion). The plain TF-IDF baseline always runs. The model's default "
        "scorer, the one serve answers with, is marked: dense for a fine-tuned pretrained model, hybrid for one "
        "trained from scratch.",
    ),
    fusion: str = typer.Option(
        None,
        "--fusion",
        help="The hybrid scorer's fusion: weighted (score sum; default, as serve fuses) or rrf (reciprocal rank).",
    ),
    run: str = typer.Option("main", help=RUN_HELP),
) -> None:
    from acg2vec.evaluation.text_retrieval import (
        TextRetrievalConfig,
        encoder_label,
        evaluate_text_retrieval,
        texts_section,
    )
    from acg2vec.evaluation.text_search import FUSIONS, SCORERS

    config = apply_overrides(
        TextRetrievalConfig(),
        splits=tuple(splits) if splits else None,
        max_queries_per_type=max_queries,
        scorers=tuple(dict.fromkeys(scorers)) if scorers else None,
        fusion=fusion,
    )
    checks = [("scorer", s, SCORERS) for s in config.scorers] + [("fusion", config.fusion, FUSIONS)]
    for name, value, allowed in checks:
        if value not in allowed:
            raise UserError(f"Unknown {name} {value!r}; choose one of {', '.join(allowed)}.")
    ws = workspace()
    metrics = evaluate_text_retrieval(
        _model_path(model),
        ws.datasets(),
        ws.eval(run),
        base_model_dir=_model_path(base_model) if base_model else None,
        config=config,
    )
    rows = []
    for name, result in metrics["encoders"].items():
        o = result["overall"]
        rows.append(
            [
                encoder_label(name, metrics),
                o["queries"],
                _fmt(o["accuracy_at_1"]),
                _fmt(o["recall_at_10"]),
                _fmt(o["mrr_at_10"]),
            ]
        )
    _finish(
        run, [texts_section(metrics)], summary=["encoder", "queries", "accuracy@1", "recall@10", "MRR@10"], rows=rows
    )


@app.command("ann", help="FAISS index benchmark: recall@1/@10 against exact search, QPS, build time, bytes.")
def ann(
    vectors: Path = typer.Option(
        None,
        "--vectors",
        help="A .npy float array of shape (n, dim) (e.g. from `acg2vec embed`); default: generated clustered vectors.",
    ),
    n: int = typer.Option(100_000, min=20, help="Generated vectors (without --vectors)."),
    generator: str = typer.Option(
        "clustered", help="clustered (48-d latent, easy) or latent (2,000 broad clusters in 256-d, unit length)."
    ),
    dim: int = typer.Option(512, min=1, help="Dimension of generated vectors."),
    queries: int = typer.Option(None, min=1, help="Queries held out of the vectors (default 1000)."),
    budget_gb: float = typer.Option(None, help="Memory budget of the index in GiB (default 4)."),
    target_recall: float = typer.Option(None, help="Recall@10 the tuned setting must reach (default 0.95)."),
    target_speedup: float = typer.Option(None, help="Single-thread speed-up over exact search to reach (default 30)."),
    max_ms: float = typer.Option(
        None, "--max-ms", help="Latency target (single-thread ms per query) the chosen setting must meet."
    ),
    factory: list[str] = typer.Option(None, "--factory", help="Another FAISS factory string to compare (repeatable)."),
    metric: str = typer.Option(None, help="l2 (default), or ip (inner product; normalise vectors for cosine)."),
    run: str = typer.Option("main", help=RUN_HELP),
) -> None:
    import numpy as np

    from acg2vec.evaluation.ann_benchmark import AnnConfig, ann_section, run_ann_benchmark
    from acg2vec.indexes.candidates import GIB
    from acg2vec.indexes.files import CHOICE_FILE
    from acg2vec.indexes.synthetic import clustered_vectors, latent_clusters

    config = apply_overrides(
        AnnConfig(),
        n_queries=queries,
        memory_budget=int(budget_gb * GIB) if budget_gb is not None else None,
        target_recall=target_recall,
        target_speedup=target_speedup,
        max_ms_per_query=max_ms,
        extra_factories=tuple(factory) if factory else None,
        metric=metric,
    )
    if vectors is not None:
        if not vectors.is_file():
            raise UserError(f"no vectors file at {vectors}.")
        try:
            data = np.load(vectors, mmap_mode="r")
        except ValueError as err:
            raise UserError(f"{vectors} is not a .npy array ({err}).") from err
        if data.ndim != 2 or len(data) < 20:
            raise UserError(f"{vectors} must hold a 2-d array of at least 20 vectors, not shape {data.shape}.")
    elif generator == "latent":
        data = latent_clusters(n + config.n_queries, dim)
    elif generator == "clustered":
        data = clustered_vectors(n + config.n_queries, dim)
    else:
        raise UserError(f"unknown generator {generator!r}; use clustered or latent.")
    out_dir = workspace().eval(run)
    result = run_ann_benchmark(np.asarray(data, dtype=np.float32), config=config, out_dir=out_dir)
    section = ann_section(result, plot=os.path.join(out_dir, "ann_recall_qps.png"))
    # The choice with every candidate's measured curve, as `acg2vec index` keeps it beside a built index.
    atomic_write_json(os.path.join(out_dir, f"ann_{CHOICE_FILE}"), result.chooser)
    rows = [
        [
            s.index,
            s.params or "-",
            _fmt(s.recall_at_10),
            f"{s.qps_single:,.0f}",
            f"{s.qps_single / result.exact.qps_single:.1f}x",
        ]
        for s in [result.exact, *result.settings]
    ]
    _finish(run, [section], summary=["index", "params", "recall@10", "QPS 1 thread", "vs exact"], rows=rows)
    typer.echo(f"chosen {result.chooser['factory']} {result.chooser['params']}: {result.chooser['reason']}")
    typer.echo(f"target ({result.target}): {'met' if result.target_met else 'NOT met'}")
