"""Curation benchmark: does ``acg2vec curate`` find the missing and wrong tags, and does fixing them help a tagger?

The learnability world (``acg2vec/sample_site/pictures.py``) knows each post's true tags (what it drew) beside its
noisy labels (a chosen share of visible general tags missing, a few wrong tags). For each size and missing-tag
rate the benchmark, in one process:

1. writes the noisy ``acg_illustrations`` version (train, validation, test) as the image benchmark does;
2. trains the noisy tagger (DeepDanbooru, small; the image benchmark's recipe) and times its CPU;
3. curates the noisy version with that tagger's frozen embeddings (``acg2vec.curation.stage.curate``), times its
   CPU, and scores the flags against the truth: precision / recall of flagged missing and wrong tags, and the
   precision-recall curve over confidence; beside it the same cleanlab filter on the tagger's own in-sample
   probabilities (what cross-fitting buys), cleanlab's defaults (``min_positives`` 1, every category, its
   ranking) and cleanlab's ranking of wrong tags (the image probability alone, without the co-occurrence);
4. applies the fixes at ``--min-confidence`` to train and validation (missing tags added, wrong ones removed) and
   writes the curated version with the same vocabulary;
5. trains taggers on the curated and the noisy versions (``--seeds``: the run-to-run noise) and scores each on the
   test split against its TRUE labels, its noisy labels and its curated labels (the run's fixes of test posts, what
   ``eval tagger`` on a curated version scores against): micro-F1 at P=R, macro mAP.

It prints a table, writes ``results.json``, ``report.md`` and plots under ``--out``. Run (serialised with other
benchmarks on a shared machine):

    nohup flock /tmp/acg2vec-bench.lock .venv/bin/python benchmarks/curation.py --sizes 5000 \
        --missing-rates 0.1 --seeds 0 1 --out /tmp/curation > /tmp/curation.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the image benchmark beside this file

from image_quality import example, render, train_model  # noqa: E402

from acg2vec.sample_site.pictures import Picture, make_picture, make_world  # noqa: E402

log = logging.getLogger("curation")
DD_OPTIONS = {"version": "v4", "width": 1 / 4, "depth": 0.05, "bn_momentum": 0.9, "head_batch_norm": False}


def write_version(data_dir: Path, splits: dict[str, list[Picture]], labels: dict[int, dict[str, str]], world,
                  size: int, vocabulary: list | None = None, min_images: int = 10) -> tuple[Path, list]:  # fmt: skip
    """A version whose posts carry ``labels`` (post id -> tag -> category); the vocabulary from the training labels
    unless given (the curated version keeps the noisy one's, so both taggers answer the same tags)."""
    from acg2vec.datasets.acg_illustrations.tiny_dataset import vocabulary_by_count, write_tiny_dataset

    def fields(p: Picture) -> dict:
        by_cat = {"general": [], "character": [], "copyright": [], "artist": []}
        for tag, cat in labels[p.id].items():
            by_cat[cat].append(tag)
        return {"tags": sorted(by_cat["general"]), "characters": sorted(by_cat["character"]),
                "copyrights": sorted(by_cat["copyright"]), "artists": sorted(by_cat["artist"])}  # fmt: skip

    if vocabulary is None:
        vocabulary = vocabulary_by_count((fields(p) for p in splits["train"]), min_images=min_images)
    examples = {
        name: ({**example(p, world, size), **fields(p)} for p in pictures) for name, pictures in splits.items()
    }
    return write_tiny_dataset(data_dir, examples, vocabulary, size=size), vocabulary


def apply_fixes(labels: dict[int, dict[str, str]], issues, categories: dict[str, str]) -> dict[int, dict[str, str]]:
    """The labels with each issue applied: a missing tag added, a wrong one removed."""
    fixed = {post: dict(tags) for post, tags in labels.items()}
    for post, tag, kind in zip(issues["post_id"], issues["tag"], issues["kind"], strict=True):
        if int(post) not in fixed:
            continue
        if kind == "missing":
            fixed[int(post)][tag] = categories[tag]
        else:
            fixed[int(post)].pop(tag, None)
    return fixed


def score_tagger(model_dir: str, test: list[Picture], world, size: int, label_sets: dict[str, dict]) -> dict:
    """micro-F1 at P=R and macro mAP of the tagger on ``test`` against each named label set (post id -> tags)."""
    from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary
    from acg2vec.evaluation.tagging_metrics import tagging_metrics
    from acg2vec.trainers.image.image_model import load_image_model

    model = load_image_model(model_dir)
    info = TagVocabulary(model.tag_names, model.tag_categories, model.tag_counts)
    scores = np.concatenate([model.tag_probabilities([render(p, world, size) for p in test[s : s + 64]])
                             for s in range(0, len(test), 64)])  # fmt: skip
    column = {t: i for i, t in enumerate(info.names)}
    out = {}
    for name, labels in label_sets.items():
        y = np.zeros(scores.shape, bool)
        for r, p in enumerate(test):
            for t in labels[p.id]:
                if t in column:
                    y[r, column[t]] = True
        m = tagging_metrics(y, scores, info)["overall"]["model"]
        out[name] = {"micro_f1_at_p_eq_r": m["micro_f1_at_p_eq_r"], "macro_map": m["macro_map"],
                     **under_prediction(y, scores, np.asarray(info.categories) == "general")}  # fmt: skip
    return out


def under_prediction(y: np.ndarray, scores: np.ndarray, general: np.ndarray) -> dict:
    """How much a tagger under-predicts general tags (what missing labels teach it), beside the ranking scores:
    its summed probabilities over the positives, the mean probability of a positive, and precision / recall / F1
    at the fixed threshold 0.5. micro-F1 at P=R and mAP rank the posts and hardly see a uniform under-prediction."""
    y, p = y[:, general], scores[:, general]
    hit = p >= 0.5
    tp, fp, fn = int((hit & y).sum()), int((hit & ~y).sum()), int((~hit & y).sum())
    return {
        "mass_over_positives": float(p.sum() / max(int(y.sum()), 1)),
        "mean_p_of_positives": float(p[y].mean()) if y.any() else float("nan"),
        "precision_at_0.5": tp / max(tp + fp, 1),
        "recall_at_0.5": tp / max(tp + fn, 1),
        "f1_at_0.5": 2 * tp / max(2 * tp + fp + fn, 1),
    }


def in_sample_quality(model_dir: str, outcome, truth: dict, issue_config) -> dict:
    """The same cleanlab filter on the tagger's own (in-sample) training probabilities, against the truth."""
    from acg2vec.curation.label_issues import find_tag_issues
    from acg2vec.curation.truth import flag_quality, truth_matrix, without_curves
    from acg2vec.trainers.image.image_model import load_image_model

    train = outcome.labels.splits["train"]
    model = load_image_model(model_dir)
    column = {t: i for i, t in enumerate(model.tag_names)}
    order = [column[t] for t in outcome.labels.tags.names]
    probs = np.concatenate([model.tag_probabilities(train.images[s : s + 64])[:, order]
                            for s in range(0, len(train.images), 64)])  # fmt: skip
    issues = find_tag_issues(train.labels, probs, issue_config, categories=outcome.labels.tags.categories)
    true = truth_matrix(train.ids, truth, outcome.labels.tags.names)
    return without_curves(flag_quality(train.labels, probs, issues, true))


def variant_quality(outcome, truth: dict, issue_config) -> dict:
    """cleanlab with another issue config on the run's cross-fitted probabilities, against the truth."""
    from acg2vec.curation.label_issues import find_tag_issues
    from acg2vec.curation.truth import flag_quality, truth_matrix, without_curves

    train = outcome.labels.splits["train"]
    issues = find_tag_issues(train.labels, train.probs, issue_config, categories=outcome.labels.tags.categories)
    true = truth_matrix(train.ids, truth, outcome.labels.tags.names)
    return without_curves(flag_quality(train.labels, train.probs, issues, true))


def save_scores(outcome, truth: dict, path: Path) -> None:
    """Each split's ids, noisy labels, true labels, cross-fitted probabilities and embeddings (for study later)."""
    from acg2vec.curation.truth import truth_matrix

    arrays = {"tags": np.asarray(outcome.labels.tags.names)}
    for split, scores in outcome.labels.splits.items():
        arrays.update({f"{split}_ids": scores.ids, f"{split}_labels": scores.labels, f"{split}_probs": scores.probs,
                       f"{split}_true": truth_matrix(scores.ids, truth, outcome.labels.tags.names),
                       f"{split}_embeddings": scores.embeddings})  # fmt: skip
    np.savez_compressed(path, **arrays)


def run_one(args, n: int, rate: float, out: Path, save) -> dict:
    from acg2vec.curation.label_issues import IssueConfig
    from acg2vec.curation.pred_probs import HeadConfig
    from acg2vec.curation.stage import curate
    from acg2vec.curation.truth import without_curves
    from acg2vec.datasets.acg_illustrations.curation_files import read_label_issues

    world = make_world(args.seed)
    pictures = {
        "train": [make_picture(i + 1, args.seed, world, missing_rate=rate) for i in range(n)],
        "validation": [make_picture(10_000_000 + i, args.seed, world, missing_rate=rate) for i in range(args.val)],
        "test": [make_picture(20_000_000 + i, args.seed, world, missing_rate=rate) for i in range(args.test)],
    }
    everyone = [p for ps in pictures.values() for p in ps]
    noisy = {p.id: dict(p.labels) for p in everyone}
    truth = {p.id: set(p.visible) for p in everyone}
    categories = {t: c for p in everyone for t, c in {**p.visible, **p.labels}.items()}
    row: dict = {"posts": n, "missing_rate": rate, "load_at_start": os.getloadavg()}
    size = args.image_size
    # 1. the noisy version
    noisy_dir = out / "noisy" / "datasets"
    shutil.rmtree(noisy_dir, ignore_errors=True)
    folder, vocabulary = write_version(noisy_dir, pictures, noisy, world, size)
    # 2. the noisy tagger (seed 0), its CPU time
    models = out / "models"
    taggers: dict[str, list[dict]] = {"noisy": [], "curated": []}

    def train_and_score(kind: str, data_dir: Path, seed: int, label_sets: dict) -> dict:
        name = f"{kind}-seed{seed}"
        cpu = time.process_time()
        r = train_model("deepdanbooru", data_dir, models / name, size=size, epochs=args.epochs, batch=args.batch_size,
                        options=DD_OPTIONS, lr=3e-3, extra={"seed": seed})  # fmt: skip
        r["train_cpu_seconds"] = time.process_time() - cpu
        r["scores"] = score_tagger(str(models / name / "deepdanbooru"), pictures["test"], world, size, label_sets)
        r["seed"] = seed
        log.info("n=%d rate=%.2f %s: %s (%.0f CPU s)", n, rate, name, r["scores"], r["train_cpu_seconds"])
        return r

    label_sets = {"true": truth, "noisy": noisy}
    if args.noisy_model:  # a noisy tagger trained earlier on this same world and recipe (first seed)
        noisy_model = args.noisy_model
        first = {"seed": args.seeds[0], "reused": noisy_model}
        first["scores"] = score_tagger(noisy_model, pictures["test"], world, size, label_sets)
        taggers["noisy"].append(first)
    else:
        taggers["noisy"].append(train_and_score("noisy", noisy_dir, args.seeds[0], label_sets))
        noisy_model = str(models / f"noisy-seed{args.seeds[0]}" / "deepdanbooru")
    row["taggers"] = taggers
    # 3. curation, its CPU time and its flags against the truth
    issue_config = IssueConfig(min_positives=args.min_positives, filter_by=args.filter_by)
    head = HeadConfig(folds=args.folds)
    cpu = time.process_time()
    outcome = curate(str(noisy_dir / "acg_illustrations"), str(out / "curation" / "run"), noisy_model,
                     head=head, issues=issue_config, truth=truth)  # fmt: skip
    row["curation_cpu_seconds"] = time.process_time() - cpu
    row["curation_cpu_by_step"] = outcome.labels.seconds
    row["flags"] = {split: without_curves(q) for split, q in outcome.quality.items()}
    row["curves"] = {k: {c: {a: v.tolist()[:: max(1, len(v) // 400)] for a, v in curve.items()}
                         for c, curve in q["curves"].items()} for k, q in outcome.quality["train"].items()}  # fmt: skip
    save_scores(outcome, truth, out / "scores.npz")
    row["in_sample_flags"] = in_sample_quality(noisy_model, outcome, truth, issue_config)
    row["cleanlab_defaults_flags"] = variant_quality(
        outcome, truth, IssueConfig(min_positives=1, categories=None, wrong_ranking="self_confidence")
    )
    row["cleanlab_ranking_flags"] = variant_quality(  # wrong tags ranked by the image probability alone
        outcome,
        truth,
        IssueConfig(min_positives=args.min_positives, filter_by=args.filter_by, wrong_ranking="self_confidence"),
    )
    log.info("n=%d rate=%.2f curation %s", n, rate, row["flags"]["train"])
    # 4. the curated version: fixes at --min-confidence on train and validation; test keeps its noisy labels
    issues = read_label_issues(outcome.run_dir, min_confidence=args.min_confidence, kinds=args.kinds)
    # The test split's curated labels: what `eval tagger` on a version built with --apply-curation scores against.
    label_sets["curated"] = apply_fixes(noisy, issues[issues["split"] == "test"], categories)
    taggers["noisy"][0]["scores"] = score_tagger(noisy_model, pictures["test"], world, size, label_sets)
    issues = issues[issues["split"].isin(["train", "validation"])]
    curated = apply_fixes(noisy, issues, categories)
    row["fixes"] = {
        "added": int((issues["kind"] == "missing").sum()),
        "removed": int((issues["kind"] == "wrong").sum()),
    }
    curated_dir = out / "curated" / "datasets"
    shutil.rmtree(curated_dir, ignore_errors=True)
    write_version(curated_dir, pictures, curated, world, size, vocabulary=vocabulary)
    # 5. taggers on both versions, every seed, scored on the test split's true and noisy labels
    for seed in args.seeds:
        taggers["curated"].append(train_and_score("curated", curated_dir, seed, label_sets))
        if seed != args.seeds[0]:
            taggers["noisy"].append(train_and_score("noisy", noisy_dir, seed, label_sets))
        # The CPU of one tagger's training on the noisy version: the first one trained in this process.
        trained = [t for t in taggers["noisy"] + taggers["curated"] if "train_cpu_seconds" in t]
        row["one_tagger_cpu_seconds"] = trained[0]["train_cpu_seconds"]
        row["curation_over_training_cpu"] = row["curation_cpu_seconds"] / row["one_tagger_cpu_seconds"]
        row["load_at_end"] = os.getloadavg()
        save(row)
    return row


def summary(row: dict) -> dict:
    """Means and spreads of the taggers' scores; the curated-minus-noisy margin."""
    out = {}
    for against in ("true", "noisy", "curated"):
        for metric in ("micro_f1_at_p_eq_r", "macro_map", "f1_at_0.5", "recall_at_0.5", "mean_p_of_positives"):
            if any(metric not in t["scores"][against] for ts in row["taggers"].values() for t in ts):
                continue
            vals = {k: [t["scores"][against][metric] for t in ts] for k, ts in row["taggers"].items()}
            out[f"{against}:{metric}"] = {
                k: {"mean": float(np.mean(v)), "spread": float(np.ptp(v)) if len(v) > 1 else float("nan"), "runs": v}
                for k, v in vals.items()
            }
            out[f"{against}:{metric}"]["margin"] = out[f"{against}:{metric}"]["curated"]["mean"] - out[
                f"{against}:{metric}"]["noisy"]["mean"]  # fmt: skip
    return out


def report(results: dict) -> str:
    lines = ["# Curation benchmark", "", f"Arguments: `{results['args']}`.", ""]
    lines += ["| posts | missing rate | kind | true errors | flagged | precision | recall | P @R0.5 (flags) | P @R0.5 (any threshold) | in-sample P / R | cleanlab defaults P / R | P @R0.5 (flags) with cleanlab's ranking |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for _key, row in results["runs"].items():
        for kind, q in row["flags"]["train"].items():
            ins, dflt = row["in_sample_flags"][kind], row["cleanlab_defaults_flags"][kind]
            ranked = (
                row.get("cleanlab_ranking_flags", {})
                .get(kind, {})
                .get("precision_at_recall_0.5_flagged", float("nan"))
            )
            lines.append(
                f"| {row['posts']} | {row['missing_rate']:.2f} | {kind} | {q['true_errors']} | {q['flagged']} "
                f"| {q['precision']:.3f} | {q['recall']:.3f} | {q['precision_at_recall_0.5_flagged']:.3f} "
                f"| {q['precision_at_recall_0.5_any_threshold']:.3f} | {ins['precision']:.3f} / {ins['recall']:.3f} "
                f"| {dflt['precision']:.3f} / {dflt['recall']:.3f} | {ranked:.3f} |"
            )
    lines += ["", "| posts | missing rate | scored on | metric | noisy tagger (spread) | curated tagger (spread) | margin |",
              "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for _key, row in results["runs"].items():
        for name, s in row["summary"].items():
            against, metric = name.split(":")
            lines.append(
                f"| {row['posts']} | {row['missing_rate']:.2f} | {against} labels | {metric} "
                f"| {s['noisy']['mean']:.4f} ({s['noisy']['spread']:.4f}) | {s['curated']['mean']:.4f} "
                f"({s['curated']['spread']:.4f}) | {s['margin']:+.4f} |"
            )
    lines += ["", "| posts | missing rate | curation CPU s | one tagger's training CPU s | ratio | fixes added / removed | load start / end |",
              "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for _key, row in results["runs"].items():
        lines.append(
            f"| {row['posts']} | {row['missing_rate']:.2f} | {row['curation_cpu_seconds']:.0f} "
            f"| {row['one_tagger_cpu_seconds']:.0f} | {row['curation_over_training_cpu']:.3f} "
            f"| {row['fixes']['added']} / {row['fixes']['removed']} "
            f"| {row['load_at_start'][0]:.1f} / {row['load_at_end'][0]:.1f} |"
        )
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (key, row) in enumerate(results["runs"].items()):
        for ax, kind in zip(axes, ("missing", "wrong"), strict=True):
            for curve, style in (("flagged", "-"), ("any_threshold", "--")):
                c = row["curves"][kind][curve]
                ax.plot(c["recall"], c["precision"], style, color=f"C{i}", label=f"{key} ({curve})")
    for ax, kind in zip(axes, ("missing", "wrong"), strict=True):
        ax.set(title=f"flagged {kind} tags vs truth (over confidence)", xlabel="recall", ylabel="precision",
               xlim=(0, 1), ylim=(0, 1.02))  # fmt: skip
        ax.axvline(0.5, color="grey", linestyle=":")
        ax.axhline(0.8, color="grey", linestyle=":")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000], help="training posts")
    parser.add_argument("--missing-rates", type=float, nargs="+", default=[0.1, 0.3])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="tagger seeds (run-to-run noise)")
    parser.add_argument("--val", type=int, default=400)
    parser.add_argument("--test", type=int, default=800)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--min-positives", type=int, default=5)
    parser.add_argument("--filter-by", default="prune_by_noise_rate")
    parser.add_argument("--min-confidence", type=float, default=0.0, help="fixes applied at this confidence or more")
    parser.add_argument("--kinds", nargs="+", default=["missing", "wrong"], help="issue kinds applied")
    parser.add_argument("--seed", type=int, default=0, help="the world's seed")
    parser.add_argument(
        "--noisy-model",
        help="An exported noisy tagger trained earlier on the same world, size, rate and recipe with the first seed "
        "(saves one training on a busy machine; the training CPU is then the next tagger's)",
    )
    parser.add_argument("--out", default="/tmp/curation")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("tensorflow", "absl", "acg2vec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"args": vars(args), "runs": {}}
    for n in args.sizes:
        for rate in args.missing_rates:
            key = f"n{n}-missing{rate:g}"

            def save(row: dict, key: str = key) -> None:  # after each tagger: a long run reports as it goes
                row["summary"] = summary(row)
                results["runs"][key] = row
                (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
                plot(results, out / "flag_precision.png")
                (out / "report.md").write_text(report(results))

            run_one(args, n, rate, out / key, save)
    print(report(results))


if __name__ == "__main__":
    main()
