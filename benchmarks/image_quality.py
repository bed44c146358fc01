"""Learnability benchmark: do the image trainers learn what the pictures show? A world with a known ceiling.

The picture world (``acg2vec/sample_site/pictures.py``, drawn by ``picture_drawing.py``) gives illustrations
whose tags are visible in the picture — figures with hair and eye colours,
accessories, held items, animals, backgrounds, one to three figures — under the nuisances real illustrations
have (position, scale, rotation, partial occlusion, clutter, palette shifts, JPEG quality). Characters are fixed
combinations of visible attributes, copyrights are style families (an emblem and a dress palette the series'
characters share), artists are drawing styles (outline width and colour, shading). Tag frequencies are
long-tailed (Zipf-like), about 10 % of visible general tags are missing from a post and a few posts carry a
wrong tag; ratings and popularity follow visible content plus noise. The generator knows which tags it drew,
so the report states the ceiling: an oracle that outputs exactly the drawn tags, scored against the noisy labels.

It writes ``acg_illustrations/<size>`` datasets in the exact TFDS format the trainers read (one shared
validation and test split, training splits of growing size), then, for each size, trains DeepDanbooru (small),
alt-i2v (small), deepix (from that DeepDanbooru, with its illust2vec) on CPU and evaluates each on the test split
beside its baseline: tag frequency for taggers, majority class / mean for deepix's heads, colour histograms and
random vectors for illust2vec retrieval (relevant = shares a character or copyright tag; backgrounds, clutter and
palette shifts randomise the colours of every picture). It prints a table, writes ``results.json``, a markdown
note and a learning-curve plot.

Run (serialised with other benchmarks on a shared machine):

    nohup flock /tmp/acg2vec-bench.lock .venv/bin/python benchmarks/image_quality.py \
        --sizes 2000 5000 20000 --out /tmp/image-quality > /tmp/image-quality.log 2>&1 &

(about 50 minutes on 2 quiet cores; at 20,000 posts each model trains in about 15 minutes)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np

from acg2vec.sample_site.picture_drawing import draw_picture
from acg2vec.sample_site.pictures import RATINGS, Picture, make_picture, make_world

log = logging.getLogger("image_quality")
_RENDERED: dict[tuple[int, int], bytes] = {}  # (post id, size) -> JPEG: every picture is drawn once per run


def render(p: Picture, world, size: int) -> bytes:
    """The post's JPEG at ``size`` px (drawn once, then served from the run's cache)."""
    key = (p.id, size)
    if key not in _RENDERED:
        _RENDERED[key] = draw_picture(p, world, size)
    return _RENDERED[key]


# ------------------------------------------------------------------------------------------------ datasets


def tag_fields(p: Picture) -> dict[str, list[str]]:
    """The post's noisy labels in the example's tag fields, one per category."""
    by_cat: dict[str, list[str]] = {"general": [], "character": [], "copyright": [], "artist": []}
    for tag, cat in p.labels.items():
        by_cat[cat].append(tag)
    return {
        "tags": sorted(by_cat["general"]),
        "characters": sorted(by_cat["character"]),
        "copyrights": sorted(by_cat["copyright"]),
        "artists": sorted(by_cat["artist"]),
    }


def example(p: Picture, world, size: int) -> dict:
    """The post as an ``acg_illustrations`` example, its picture decoded."""
    import tensorflow as tf

    return {
        "id": p.id,
        "md5": f"{p.id:032x}",
        "image": tf.io.decode_jpeg(render(p, world, size)).numpy(),
        **tag_fields(p),
        "rating": p.rating,
        "score": p.score,
        "pixiv_id": p.id if p.views >= 0 else -1,
        "pixiv_views": p.views,
        "pixiv_bookmarks": p.bookmarks,
        "pixiv_likes": -1,
        "pixiv_sanity_level": -1,
    }


def write_dataset(data_dir: Path, *, train: list[Picture], val: list[Picture], test: list[Picture], world,
                  size: int, min_images: int = 10) -> Path:  # fmt: skip
    """``data_dir/acg_illustrations/<size>/1.0.0`` in the TFDS format; the vocabulary from the training labels."""
    from acg2vec.datasets.acg_illustrations.tiny_dataset import vocabulary_by_count, write_tiny_dataset

    vocabulary = vocabulary_by_count((tag_fields(p) for p in train), min_images=min_images)
    # Examples are made as they are written, so a large split is never held decoded in memory.
    splits = {
        name: (example(p, world, size) for p in pictures)
        for name, pictures in (("train", train), ("validation", val), ("test", test))
    }
    return write_tiny_dataset(data_dir, splits, vocabulary, size=size)


# ------------------------------------------------------------------------------------------------ evaluation


def oracle_ceiling(test: list[Picture], data_dir: Path) -> dict:
    """Scores of an oracle that outputs exactly the drawn tags, against the noisy labels: the ceiling."""
    from acg2vec.evaluation.image_data import read_tag_info
    from acg2vec.evaluation.tagging_metrics import tagging_metrics

    version_dir = data_dir / "acg_illustrations"
    folder = next(version_dir.glob("*/1.0.0"))
    info = read_tag_info(str(folder))
    col = {t: i for i, t in enumerate(info.names)}
    y_true = np.zeros((len(test), len(info.names)), bool)
    y_score = np.zeros((len(test), len(info.names)), np.float32)
    for r, p in enumerate(test):
        for t in p.labels:
            if t in col:
                y_true[r, col[t]] = True
        for t in p.visible:
            if t in col:
                y_score[r, col[t]] = 1.0
    m = tagging_metrics(y_true, y_score, info, thresholds=np.full(len(info.names), 0.5))
    rating_acc = float(np.mean([p.rating == p.rating_clean for p in test]))
    from scipy.stats import spearmanr

    rho = float(spearmanr([p.score_clean for p in test], [p.score for p in test]).statistic)
    return {
        "micro_f1_at_p_eq_r": m["overall"]["model"]["micro_f1_at_p_eq_r"],
        "macro_map": m["overall"]["model"]["macro_map"],
        "rating_accuracy": rating_acc,
        "score_spearman": rho,
    }


def deepix_heads(model_dir: str, test: list[Picture], world, size: int) -> dict:
    import tensorflow as tf
    from scipy.stats import spearmanr

    loaded = tf.saved_model.load(model_dir)
    heads = loaded.signatures["heads"]
    ratings, pops = [], []
    for start in range(0, len(test), 64):
        chunk = [render(p, world, size) for p in test[start : start + 64]]
        out = heads(image_bytes=tf.constant(chunk))
        ratings.append(out["rating"].numpy())
        pops.append(out["popularity"].numpy())
    rating_pred = np.concatenate(ratings).argmax(axis=1)
    score_pred = np.concatenate(pops)[:, 0]
    truth = np.array([RATINGS.index(p.rating) for p in test])
    majority = Counter(truth.tolist()).most_common(1)[0][0]
    scores = np.array([p.score for p in test], dtype=np.float64)
    return {
        "rating_accuracy": float(np.mean(rating_pred == truth)),
        "rating_majority_baseline": float(np.mean(truth == majority)),
        "score_spearman": float(spearmanr(score_pred, scores).statistic),
        "score_mean_baseline_spearman": 0.0,  # a constant prediction ranks nothing
    }


def retrieval(i2v_dir: str, data_dir: Path, test: list[Picture], seed: int) -> dict:
    """mAP@10 / precision@10 where relevant = shares a character or copyright tag; queries: such images."""
    from acg2vec.evaluation.image_data import read_images
    from acg2vec.evaluation.image_retrieval import colour_histograms, retrieval_at_k
    from acg2vec.trainers.image.image_model import load_image_model

    records = read_images(str(data_dir / "acg_illustrations"), split="test")
    keys = [{t for t in labels if t.startswith(("character_", "series_"))} for labels in records.labels]
    keep = np.array([bool(k) for k in keys])
    keys = [k for k, ok in zip(keys, keep, strict=True) if ok]
    images = [b for b, ok in zip(records.images, keep, strict=True) if ok]
    n = len(images)
    rel = np.zeros((n, n), bool)
    for i in range(n):
        for j in range(n):
            rel[i, j] = i != j and bool(keys[i] & keys[j])
    model = load_image_model(i2v_dir)
    vectors = np.concatenate([model.embed(images[s : s + 64]) for s in range(0, n, 64)])
    hist, _ = colour_histograms(images, bins=8)
    rand = np.random.default_rng(seed).normal(size=(n, 64)).astype(np.float32)
    out = {"queries": n, "relevant_share": float(rel.sum() / max(n * (n - 1), 1))}
    for name, vec in (("illust2vec", vectors), ("colour histogram", hist), ("random", rand)):
        r = retrieval_at_k(vec, rel, k=10)
        out[name] = {"map_at_10": r["map_at_k"], "precision_at_10": r["precision_at_k"]}
    return out


# ------------------------------------------------------------------------------------------------ training


def train_model(name: str, data_dir: Path, models_dir: Path, *, size: int, epochs: int, batch: int,
                options: dict, lr: float, extra: dict | None = None) -> dict:  # fmt: skip
    from acg2vec.trainers.image.train import TrainConfig, train

    model_dir = models_dir / name
    shutil.rmtree(model_dir, ignore_errors=True)
    config = TrainConfig(
        model=name if name != "alt_i2v" else "alt_i2v",
        data_dir=str(data_dir),
        dataset=f"acg_illustrations/{size}",
        model_dir=str(model_dir),
        image_size=size,
        batch_size=batch,
        epochs=epochs,
        learning_rate=lr,
        top_tags=None,
        patience=epochs,
        crop_scale=(1.0, 1.0),
        colour_jitter=0.0,
        deterministic=True,
        model_options=options,
        illust2vec_dir=str(models_dir / "illust2vec") if name == "deepix" else None,
        **(extra or {}),
    )
    start = time.perf_counter()
    result = train(config)
    m = result.metrics
    return {
        "train_seconds": time.perf_counter() - start,
        # deepix's total loss adds its rating and popularity heads; its tag loss is the one to compare.
        "final_loss": m["history"].get("tags_loss", m["history"]["loss"])[-1],
        "constant_predictor_loss": m["constant_predictor_loss"],
        "val_macro_map": m.get("val_macro_map"),
    }


def tagger_figures(model_dir: str, data_dir: Path) -> dict:
    from acg2vec.evaluation.tagger import evaluate_tagger

    m = evaluate_tagger(model_dir, str(data_dir / "acg_illustrations"), None, split="test")
    out = {}
    for who in ("model", "baseline"):
        o = m["overall"][who]
        out[who] = {"micro_f1_at_p_eq_r": o["micro_f1_at_p_eq_r"], "macro_map": o["macro_map"]}
    out["per_category"] = {
        c: {w: {"micro_f1_at_p_eq_r": g[w]["micro_f1_at_p_eq_r"], "macro_map": g[w]["macro_map"]} for w in ("model", "baseline")}
        for c, g in m["per_category"].items()
    }  # fmt: skip
    out["test_images"] = m["images"]
    return out


# ------------------------------------------------------------------------------------------------ main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 20000], help="training posts")
    parser.add_argument("--val", type=int, default=400)
    parser.add_argument("--test", type=int, default=800)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=12, help="epochs of the taggers at every size")
    parser.add_argument("--deepix-epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--models", nargs="+", default=["deepdanbooru", "alt_i2v", "deepix"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--missing-rate", type=float, default=0.10, help="share of shown general tags left off")
    parser.add_argument("--wrong-rate", type=float, default=0.05, help="share of posts with one wrong general tag")
    parser.add_argument("--out", default="/tmp/image-quality")
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="RESULTS_JSON",
        help="Only combine the results.json of earlier runs (same world and test split, other sizes) into one "
        "report and plot under --out.",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.merge:
        merged = merge_results([json.loads(Path(p).read_text()) for p in args.merge])
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "results.json").write_text(json.dumps(merged, indent=2, default=float))
        plot(merged, Path(args.out) / "learning_curve.png")
        (Path(args.out) / "report.md").write_text(report(merged))
        print(report(merged))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("tensorflow", "absl", "acg2vec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    world = make_world(args.seed)
    # One validation and test set for every size, drawn from their own id ranges, so the curve compares like with like.
    noise = {"missing_rate": args.missing_rate, "wrong_rate": args.wrong_rate}
    val = [make_picture(10_000_000 + i, args.seed, world, **noise) for i in range(args.val)]
    test = [make_picture(20_000_000 + i, args.seed, world, **noise) for i in range(args.test)]
    pool = [make_picture(i + 1, args.seed, world, **noise) for i in range(max(args.sizes))]
    results: dict = {"args": vars(args), "load_at_start": os.getloadavg(), "sizes": {}}
    size = args.image_size
    dd_options = {"version": "v4", "width": 1 / 4, "depth": 0.05, "bn_momentum": 0.9, "head_batch_norm": False}
    for n in sorted(args.sizes):
        t0 = time.perf_counter()
        data_dir = out / f"n{n}" / "datasets"
        shutil.rmtree(data_dir, ignore_errors=True)
        write_dataset(data_dir, train=pool[:n], val=val, test=test, world=world, size=size)
        row: dict = {"write_seconds": time.perf_counter() - t0}
        if "ceiling" not in results:
            results["ceiling"] = oracle_ceiling(test, data_dir)
            results["test_split"] = _split_stats(test)
            log.info("ceiling %s", results["ceiling"])
        models_dir = out / f"n{n}" / "models"
        if "deepdanbooru" in args.models or "deepix" in args.models:
            row["deepdanbooru"] = train_model("deepdanbooru", data_dir, models_dir, size=size, epochs=args.epochs,
                                              batch=args.batch_size, options=dd_options, lr=3e-3)  # fmt: skip
            row["deepdanbooru"].update(tagger_figures(str(models_dir / "deepdanbooru"), data_dir))
            log.info("n=%d deepdanbooru %s", n, _brief(row["deepdanbooru"]))
        if "alt_i2v" in args.models:
            row["alt_i2v"] = train_model("alt_i2v", data_dir, models_dir, size=size, epochs=args.epochs,
                                         batch=args.batch_size, options={"width": 1 / 8, "hidden": 256}, lr=3e-3)  # fmt: skip
            row["alt_i2v"].update(tagger_figures(str(models_dir / "alt_i2v"), data_dir))
            log.info("n=%d alt_i2v %s", n, _brief(row["alt_i2v"]))
        if "deepix" in args.models:
            options = {
                "init_from": str(models_dir / "deepdanbooru" / "model.keras"),
                "encoder_layer": _last_activation(models_dir / "deepdanbooru" / "model.keras"),
                "head_filters": 64,
                "encoder_learning_rate": 3e-4,
            }
            row["deepix"] = train_model("deepix", data_dir, models_dir, size=size, epochs=args.deepix_epochs,
                                        batch=args.batch_size, options=options, lr=3e-3)  # fmt: skip
            row["deepix"].update(tagger_figures(str(models_dir / "deepix"), data_dir))
            # An evaluation that fails is reported, not allowed to end the run: the other figures still count.
            row["deepix"]["heads"] = _guarded(deepix_heads, str(models_dir / "deepix"), test, world, size)
            row["illust2vec"] = _guarded(retrieval, str(models_dir / "illust2vec"), data_dir, test, args.seed)
            log.info("n=%d deepix %s heads %s", n, _brief(row["deepix"]), row["deepix"]["heads"])
            log.info("n=%d illust2vec %s", n, row["illust2vec"])
        row["seconds"] = time.perf_counter() - t0
        row["load"] = os.getloadavg()
        results["sizes"][n] = row
        (out / "results.json").write_text(json.dumps(results, indent=2, default=float))
    plot(results, out / "learning_curve.png")
    (out / "report.md").write_text(report(results))
    print(report(results))


def merge_results(runs: list[dict]) -> dict:
    """One results dict from runs of the same world and test split at different sizes (the first run's header)."""
    # The ceiling is scored over the vocabulary of the run's smallest size; the largest run's covers most tags.
    largest = max(runs, key=lambda r: max(int(n) for n in r["sizes"]))
    merged = {**largest, "sizes": {}, "runs": [r["args"] for r in runs]}
    merged["ceilings_by_run"] = {str(min(int(n) for n in r["sizes"])): r["ceiling"] for r in runs}
    for run in runs:
        if run["test_split"]["images"] != largest["test_split"]["images"]:
            raise SystemExit("the runs to merge have different test splits.")
        merged["sizes"].update({str(n): row for n, row in run["sizes"].items()})
    return merged


def _guarded(fn, *args) -> dict:
    try:
        return fn(*args)
    except Exception as err:  # noqa: BLE001 - the benchmark reports the failure and goes on
        log.exception("%s failed", fn.__name__)
        return {"error": f"{type(err).__name__}: {err}"}


def _split_stats(test: list[Picture]) -> dict:
    counts = Counter(t for p in test for t in p.labels)
    return {"images": len(test), "positives_per_tag_median": float(np.median(list(counts.values()))),
            "positives_per_tag_min": min(counts.values()), "tags": len(counts)}  # fmt: skip


def _last_activation(keras_file: Path) -> str:
    """The deepix cut: the last activation of the trunk before the tag head (the deepest shared features)."""
    import keras

    model = keras.models.load_model(str(keras_file), compile=False)
    names = [layer.name for layer in model.layers if layer.name.startswith("activation")]
    return names[-1]


def _brief(row: dict) -> str:
    m, b = row["model"], row["baseline"]
    return (
        f"micro-F1@P=R {m['micro_f1_at_p_eq_r']:.3f} (baseline {b['micro_f1_at_p_eq_r']:.3f}), "
        f"macro mAP {m['macro_map']:.3f} (baseline {b['macro_map']:.3f}), loss {row['final_loss']:.3f} "
        f"(constant {row['constant_predictor_loss']:.3f}), {row['train_seconds']:.0f} s"
    )


def _size_ticks(ax, sizes: list[int]) -> None:
    """One labelled tick per measured size on the log axis, none in between."""
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(int(n) for n in results["sizes"])
    rows = [results["sizes"][n] if n in results["sizes"] else results["sizes"][str(n)] for n in sizes]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for key, ax, title in (
        ("micro_f1_at_p_eq_r", axes[0], "tagger micro-F1 @P=R"),
        ("macro_map", axes[1], "macro mAP"),
    ):
        for model in ("deepdanbooru", "alt_i2v", "deepix"):
            ys = [r[model]["model"][key] for r in rows if model in r]
            if ys:
                ax.plot(sizes[: len(ys)], ys, marker="o", label=model)
        base = [r["deepdanbooru"]["baseline"][key] for r in rows if "deepdanbooru" in r]
        ax.plot(sizes[: len(base)], base, "k--", label="tag frequency")
        ax.axhline(results["ceiling"][key], color="grey", linestyle=":", label="ceiling (oracle)")
        ax.set(title=title, xlabel="training posts", xscale="log")
        _size_ticks(ax, sizes)
        ax.legend(fontsize=7)
    ax = axes[2]
    for name in ("illust2vec", "colour histogram", "random"):
        ys = [r["illust2vec"][name]["map_at_10"] for r in rows if name in r.get("illust2vec", {})]
        if ys:
            ax.plot(sizes[: len(ys)], ys, marker="o", label=name)
    ax.set(title="retrieval mAP@10 (same character / copyright)", xlabel="training posts", xscale="log")
    _size_ticks(ax, sizes)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(results: dict) -> str:
    c = results["ceiling"]
    lines = [
        "# Image learnability benchmark",
        "",
        f"Test split: {results['test_split']}. Ceiling (oracle of drawn tags vs noisy labels): micro-F1@P=R "
        f"{c['micro_f1_at_p_eq_r']:.3f}, macro mAP {c['macro_map']:.3f}, rating accuracy {c['rating_accuracy']:.3f}, "
        f"score Spearman {c['score_spearman']:.3f}.",
        "",
        "| posts | model | micro-F1@P=R (baseline) | macro mAP (baseline) | character mAP (baseline) | copyright mAP (baseline) | artist mAP (baseline) | final loss (constant) | train s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n, row in sorted(results["sizes"].items(), key=lambda kv: int(kv[0])):
        for model in ("deepdanbooru", "alt_i2v", "deepix"):
            if model not in row:
                continue
            r = row[model]
            cats = r["per_category"]

            def cat(name, cats=cats):
                g = cats.get(name)
                return f"{g['model']['macro_map']:.3f} ({g['baseline']['macro_map']:.3f})" if g else "-"

            lines.append(
                f"| {n} | {model} | {r['model']['micro_f1_at_p_eq_r']:.3f} ({r['baseline']['micro_f1_at_p_eq_r']:.3f}) "
                f"| {r['model']['macro_map']:.3f} ({r['baseline']['macro_map']:.3f}) | {cat('character')} "
                f"| {cat('copyright')} | {cat('artist')} | {r['final_loss']:.3f} ({r['constant_predictor_loss']:.3f}) "
                f"| {r['train_seconds']:.0f} |"
            )
    lines += [
        "",
        "Final loss: the mean tag BCE on training batches (deepix rows measured before it was split out "
        "report the sum of its three heads' losses), beside the constant predictor's.",
    ]
    lines += ["", "| posts | deepix rating acc (majority) | score Spearman (mean: 0) | illust2vec mAP@10 | colour hist | random |",
              "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for n, row in sorted(results["sizes"].items(), key=lambda kv: int(kv[0])):
        if "deepix" not in row:
            continue
        h, i = row["deepix"]["heads"], row["illust2vec"]
        if "error" in h or "error" in i:
            lines.append(f"| {n} | {h.get('error', '')} | | {i.get('error', '')} | | |")
            continue
        lines.append(
            f"| {n} | {h['rating_accuracy']:.3f} ({h['rating_majority_baseline']:.3f}) | {h['score_spearman']:.3f} "
            f"| {i['illust2vec']['map_at_10']:.3f} | {i['colour histogram']['map_at_10']:.3f} | {i['random']['map_at_10']:.3f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
