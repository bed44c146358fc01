"""Image retrieval by tag overlap: every validation image queries all the others.

Two images are relevant to each other when the Jaccard overlap of their label sets (tags, characters,
copyrights, artists) reaches ``min_jaccard``. Scores: precision@k and mAP@k, where AP@k divides by
min(k, number of relevant images). Search is exact inner product on normalised vectors, so the figures measure
the embedding; index fidelity is the ANN benchmark's job. Baselines: colour histograms, and chance
(the share of relevant images, what a random ranking scores on precision@k).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from acg2vec.deadletter import DeadLetters, dead_letter_path
from acg2vec.errors import UserError
from acg2vec.evaluation.image_data import dead_letter_bad_images, read_images
from acg2vec.evaluation.report import Section, Table, save_figure
from acg2vec.indexes.files import save_index
from acg2vec.indexes.index_choice import build_chosen_index
from acg2vec.indexes.search import exact_search
from acg2vec.logs import progress_task
from acg2vec.trainers.image.image_model import load_image_model

log = logging.getLogger(__name__)

STEP = "eval-images"  # dead letters: <out_dir>/dead_letters/eval-images.jsonl.gz


@dataclass(slots=True)
class ImageRetrievalConfig:
    k: int = 10
    min_jaccard: float = 0.3
    split: str = "validation"
    max_images: int | None = 5000
    batch_size: int = 32
    histogram_bins: int = 8  # per channel: 8^3 = 512 colour bins


def relevance(labels: list[set[str]], *, min_jaccard: float) -> np.ndarray:
    """[n, n] bool: label sets with Jaccard overlap >= ``min_jaccard`` (the diagonal is False)."""
    vocab = {t: i for i, t in enumerate(sorted({t for s in labels for t in s}))}
    onehot = np.zeros((len(labels), max(len(vocab), 1)), dtype=np.float32)
    for row, tags in enumerate(labels):
        onehot[row, [vocab[t] for t in tags]] = 1.0
    inter = onehot @ onehot.T
    sizes = onehot.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - inter
    rel = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0) >= min_jaccard
    np.fill_diagonal(rel, False)
    return rel


def normalised(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32, C-contiguous): inner product on them is cosine similarity."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def retrieval_at_k(embeddings: np.ndarray, relevant: np.ndarray, *, k: int = 10) -> dict:
    """precision@k and mAP@k of every item querying all the others (itself excluded).

    Items with no relevant other item are left out of both means and counted as ``queries_without_relevant``.
    """
    vectors = normalised(embeddings)
    n = len(vectors)
    k = min(k, n - 1)
    if k < 1:
        raise UserError("image retrieval needs at least two images.")
    _, ids = exact_search(vectors, vectors, k + 1, metric="ip")
    precisions, aps = [], []
    for i in range(n):
        row = [j for j in ids[i] if j != i and j >= 0][:k]
        total = int(relevant[i].sum())
        if total == 0:
            continue
        hits = relevant[i, row].astype(np.float64)
        precisions.append(hits.sum() / k)
        cumulative = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        aps.append(float((cumulative * hits).sum() / min(k, total)))
    return {
        "queries": len(precisions),
        "queries_without_relevant": n - len(precisions),
        "k": k,
        "precision_at_k": float(np.mean(precisions)) if precisions else float("nan"),
        "map_at_k": float(np.mean(aps)) if aps else float("nan"),
        "precision_curve": _precision_curve(ids, relevant, k),
    }


def _precision_curve(ids: np.ndarray, relevant: np.ndarray, k: int) -> list[float]:
    """Mean precision@j for j = 1..k over queries that have relevant items."""
    rows = []
    for i in range(len(ids)):
        if relevant[i].any():
            row = [j for j in ids[i] if j != i and j >= 0][:k]
            rows.append(relevant[i, row])
    if not rows:
        return []
    hits = np.array(rows, dtype=np.float64)
    return (np.cumsum(hits, axis=1) / np.arange(1, k + 1)).mean(axis=0).tolist()


def chance(relevant: np.ndarray) -> float:
    """Expected precision@k of a random ranking: the mean share of relevant items among the others."""
    n = len(relevant)
    has = relevant.any(axis=1)
    return float((relevant[has].sum(axis=1) / (n - 1)).mean()) if has.any() else float("nan")


def colour_histograms(
    images: list[bytes], *, bins: int = 8, dead_letters: DeadLetters | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """RGB histograms (``bins`` per channel, square-rooted so inner product is the Bhattacharyya coefficient).

    Returns (histograms of the images that decoded, their mask); the others are counted as ``undecodable-image``.
    """
    from PIL import Image, UnidentifiedImageError

    rows, mask = [], []
    for i, data in enumerate(images):
        try:
            with Image.open(io.BytesIO(data)) as image:
                pixels = np.asarray(image.convert("RGB").resize((64, 64)), dtype=np.int64)
        except (UnidentifiedImageError, OSError) as err:
            if dead_letters is not None:
                dead_letters.add("undecodable-image", {"index": i, "bytes": len(data)}, detail=str(err)[:300])
            mask.append(False)
            continue
        q = pixels * bins // 256
        codes = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
        hist = np.bincount(codes.ravel(), minlength=bins**3).astype(np.float32)
        rows.append(np.sqrt(hist / hist.sum()))
        mask.append(True)
    return (np.stack(rows) if rows else np.empty((0, bins**3), np.float32)), np.array(mask, dtype=bool)


def evaluate_image_retrieval(
    model_dir: str | None,
    data_dir: str,
    out_dir: str | None = None,
    *,
    config: ImageRetrievalConfig | None = None,
    embed: Callable[[list[bytes]], np.ndarray] | None = None,
) -> dict:
    """precision@k and mAP@k of the model's ``embed`` signature (or ``embed``) beside colour histograms and chance.

    Every method is scored on the same images: those that both the model and the histogram could read.
    """
    cfg = config or ImageRetrievalConfig()
    records = read_images(data_dir, split=cfg.split, max_images=cfg.max_images)
    if len(records.ids) < 2:
        raise UserError(f"image retrieval needs at least two images in '{cfg.split}' of {data_dir}.")
    dead_path = dead_letter_path(out_dir, STEP) if out_dir else None
    with DeadLetters(dead_path, step=STEP, fresh=True) as dead:  # a rerun of the run replaces its report
        if embed is None:
            if not model_dir:
                raise UserError("give an image model folder to evaluate.")
            model = load_image_model(model_dir)
            if not model.has_embedding:
                raise UserError(f"{model_dir} ({model.kind}) gives no image vectors to retrieve with.")
            with progress_task("Computing embeddings", total=len(records.images)) as advance:
                vectors, model_mask = model.embed_robust(
                    records.images,
                    dead_letter_bad_images(dead, records.images, records.ids),
                    batch_size=cfg.batch_size,
                    advance=advance,
                )
        else:
            vectors, model_mask = np.asarray(embed(records.images), dtype=np.float32), np.ones(len(records.ids), bool)
        histograms, hist_mask = colour_histograms(records.images, bins=cfg.histogram_bins)
        # Every method is scored on the same images: one the model read but PIL cannot is set aside too, counted.
        for i in np.flatnonzero(model_mask & ~hist_mask):
            dead.add("histogram-undecodable-image", {"id": records.ids[i]}, detail="decoded for the model, not by PIL")
    keep = model_mask & hist_mask
    model_vectors = vectors[keep[model_mask]]
    hist_vectors = histograms[keep[hist_mask]]
    labels = [lab for lab, ok in zip(records.labels, keep, strict=True) if ok]
    rel = relevance(labels, min_jaccard=cfg.min_jaccard)
    name = os.path.basename(os.path.normpath(model_dir)) if model_dir else "model"
    methods = {
        name: retrieval_at_k(model_vectors, rel, k=cfg.k),
        "colour histogram": retrieval_at_k(hist_vectors, rel, k=cfg.k),
    }
    metrics = {
        "model": name,
        "split": cfg.split,
        "images_read": len(records.ids),
        "images_used": int(keep.sum()),
        "images_dropped": dict(dead.counts),
        "k": cfg.k,
        "min_jaccard": cfg.min_jaccard,
        "relevant_pairs_share": chance(rel),
        "methods": methods,
    }
    if out_dir:
        metrics["plot"] = plot_precision_curves(metrics, os.path.join(out_dir, f"images_precision_{name}.png"))
        ids = [i for i, ok in zip(records.ids, keep, strict=True) if ok]
        metrics["index"] = keep_index(model_vectors, ids, os.path.join(out_dir, f"images_{name}"))
    return metrics


def keep_index(vectors: np.ndarray, ids: list[int], folder: str) -> dict:
    """Keep the searched vectors as the index the policy chooses (exact ``Flat`` below 20,000 images), in the one
    layout of :mod:`acg2vec.indexes.files`: ``index.faiss``, ``index_choice.json`` and the post id of each row in
    ``ids.npy``.

    ``acg2vec.indexes.files.load_index(folder)`` answers queries of the same (L2-normalised) embedding with the
    tuned search parameters applied. Inner product on normalised vectors = cosine similarity.
    """
    index, chosen = build_chosen_index(normalised(vectors), metric="ip", progress=False)
    save_index(
        folder, index, chosen, ids=np.asarray(ids, dtype=np.int64), built_from={"command": "acg2vec eval images"}
    )
    return {"path": folder, "factory": chosen.factory, "params": chosen.params, "reason": chosen.reason}


def plot_precision_curves(metrics: dict, path: str) -> str:
    """precision@j for j = 1..k, one line per method, chance as a flat line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, result in metrics["methods"].items():
        curve = result["precision_curve"]
        ax.plot(range(1, len(curve) + 1), curve, marker="o", label=name)
    ax.axhline(metrics["relevant_pairs_share"], color="grey", linestyle="--", label="chance (random ranking)")
    ax.set_xlabel("k")
    ax.set_ylabel(f"precision@k (relevant: tag Jaccard >= {metrics['min_jaccard']:.2f})")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Image retrieval on '{metrics['split']}' ({metrics['images_used']} images)")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def images_section(metrics: dict) -> Section:
    """The report section of an image retrieval run."""
    k = metrics["k"]
    rows = []
    for name, result in metrics["methods"].items():
        rows.append([name, result["queries"], f"{result['precision_at_k']:.3f}", f"{result['map_at_k']:.3f}"])
    rows.append(["chance (random ranking)", "-", f"{metrics['relevant_pairs_share']:.3f}", "-"])
    dropped = sum(metrics["images_dropped"].values())
    text = (
        f"{metrics['images_used']} images of '{metrics['split']}' used of {metrics['images_read']} read "
        f"({dropped} set aside: {metrics['images_dropped'] or 'none'}). Relevant: label Jaccard >= "
        f"{metrics['min_jaccard']}. Exact search on normalised vectors; queries without any relevant image are "
        "left out of the means."
    )
    return Section(
        key=f"images:{metrics['model']}",
        title=f"Image retrieval: {metrics['model']}",
        text=text,
        tables=[Table(["method", "queries", f"precision@{k}", f"mAP@{k}"], rows)],
        plots=[metrics["plot"]] if metrics.get("plot") else [],
        metrics=metrics,
    )
