"""The label-issue sections of a curation run's report (``curation/<run>/report.md`` / ``report.html``), written
with evaluation's report writer so curation and eval reports look alike: counts per kind and category, the tags
with the most issues, thumbnails of the top issues per kind and per tag, and, where the truth is known, the
precision of the flags over confidence."""

from __future__ import annotations

import io
import os
from collections import Counter

import numpy as np

from acg2vec.curation.run import LabelIssueResult
from acg2vec.curation.truth import without_curves
from acg2vec.datasets.acg_illustrations.curation_files import ISSUE_KINDS, MISSING, WRONG
from acg2vec.evaluation.report import Section, Table

TITLE = "acg2vec curation"
THUMBS_PER_KIND = 12
TAGS_SHOWN = 6
THUMBS_PER_TAG = 6


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def thumbnail_grid(items: list[tuple[bytes, str]], path: str, *, title: str, columns: int = 6) -> str | None:
    """A grid of thumbnails (encoded images) with a caption under each; None when there is nothing to show."""
    from PIL import Image

    if not items:
        return None
    plt = _plt()
    rows = (len(items) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 2.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (data, caption) in zip(axes.ravel(), items, strict=False):
        ax.imshow(Image.open(io.BytesIO(data)).convert("RGB"))
        ax.set_title(caption, fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _caption(post_id: int, tag: str, kind: str, confidence: float) -> str:
    sign = "+" if kind == MISSING else "-"
    return f"#{post_id} {sign}{tag}\n{confidence:.2f}"


def _thumbnails(result: LabelIssueResult, run_dir: str) -> list[str]:
    """One grid per kind (the most confident issues of any tag) and one of the tags with the most issues."""
    images = {int(i): b for s in result.splits.values() for i, b in zip(s.ids, s.images, strict=True)}
    plots = []
    for kind in ISSUE_KINDS:
        top = [r for r in result.rows if r["kind"] == kind]
        top.sort(key=lambda r: -r["confidence"])
        items = [
            (images[r["post_id"]], _caption(r["post_id"], r["tag"], kind, r["confidence"]))
            for r in top[:THUMBS_PER_KIND]
        ]
        label = "missing tags (+: the post should carry it)" if kind == MISSING else "wrong tags (-: remove)"
        path = thumbnail_grid(items, os.path.join(run_dir, f"issues_{kind}.png"), title=f"Most confident {label}")
        plots += [path] if path else []
    by_tag = Counter(r["tag"] for r in result.rows)
    items = []
    for tag, _ in by_tag.most_common(TAGS_SHOWN):
        top = sorted((r for r in result.rows if r["tag"] == tag), key=lambda r: -r["confidence"])[:THUMBS_PER_TAG]
        items += [(images[r["post_id"]], _caption(r["post_id"], tag, r["kind"], r["confidence"])) for r in top]
    path = thumbnail_grid(items, os.path.join(run_dir, "issues_by_tag.png"),
                          title=f"Top issues of the {min(TAGS_SHOWN, len(by_tag))} tags with the most issues")  # fmt: skip
    return plots + ([path] if path else [])


def _counts_table(result: LabelIssueResult) -> Table:
    categories = list(dict.fromkeys(result.tags.categories))
    rows = []
    for split, scores in result.splits.items():
        per = Counter((r["kind"], r["category"]) for r in result.rows if r["split"] == split)
        for kind in ISSUE_KINDS:
            rows.append([split, kind, *[per[(kind, c)] for c in categories], sum(per[(kind, c)] for c in categories)])
        rows.append(
            [split, "posts / labels", len(scores.ids), *[""] * (len(categories) - 1), int(scores.labels.sum())]
        )
    return Table(["split", "kind", *categories, "all"], rows, caption="Label issues per split, kind and tag category")


def _tags_table(result: LabelIssueResult, limit: int = 20) -> Table:
    train = result.splits["train"]
    positives = train.labels.sum(axis=0)
    index = {name: i for i, name in enumerate(result.tags.names)}
    per = Counter((r["tag"], r["kind"]) for r in result.rows)
    ranked = Counter(r["tag"] for r in result.rows).most_common(limit)
    rows = [
        [tag, result.tags.categories[index[tag]], int(positives[index[tag]]), per[(tag, MISSING)], per[(tag, WRONG)]]
        for tag, _ in ranked
    ]
    return Table(["tag", "category", "training posts", "missing", "wrong"], rows,
                 caption=f"The {len(rows)} tags with the most issues")  # fmt: skip


def label_issue_section(result: LabelIssueResult, run_dir: str, *, parameters: dict) -> Section:
    """The report section of the label-issue pass."""
    train = result.splits["train"].issues.counts
    text = (
        f"Out-of-sample tag probabilities from {parameters['folds']}-fold cross-fitting of a head on the frozen "
        f"embeddings of {parameters['model']}; cleanlab ({parameters['filter_by']}) flags per tag. "
        f"{train['tags_scored']} tags of the categories {parameters['categories'] or 'all'} scored; "
        f"{train['tags_too_rare']} had fewer than {parameters['min_positives']} training posts and "
        f"{train['tags_of_other_categories']} were of other categories, not scored. Confidence is the out-of-sample "
        "probability of the other label. "
        f"CPU seconds: {', '.join(f'{k} {v:.1f}' for k, v in result.seconds.items())}."
    )
    return Section(
        key="labels",
        title="Label issues",
        text=text,
        tables=[_counts_table(result), _tags_table(result)],
        plots=_thumbnails(result, run_dir),
        metrics={"counts": result.counts, "cpu_seconds": result.seconds, "parameters": parameters},
    )


def plot_flag_precision(quality: dict, path: str, *, title: str = "Label issues against the true tags") -> str:
    """Precision-recall over confidence, per kind: the flagged issues and every candidate label."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(quality), figsize=(5.5 * len(quality), 4.2), squeeze=False)
    for ax, (kind, q) in zip(axes[0], quality.items(), strict=True):
        for name, style in (("any_threshold", {"color": "C1", "linestyle": "--"}), ("flagged", {"color": "C0"})):
            c = q["curves"][name]
            if len(c["recall"]):
                label = "cleanlab flags, by confidence" if name == "flagged" else "every label, by confidence"
                ax.plot(c["recall"], c["precision"], label=label, **style)
        if q["flagged"]:
            ax.scatter([q["recall"]], [q["precision"]], color="black", zorder=3, label="all flags")
        ax.set(xlabel="recall (of true errors)", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
               title=f"{kind} tags: {q['true_errors']} true, {q['flagged']} flagged")  # fmt: skip
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def truth_section(quality_by_split: dict[str, dict], run_dir: str) -> Section:
    """Precision and recall of the flags against the known true tags, with their curves."""
    rows, plots = [], []
    for split, quality in quality_by_split.items():
        for kind, q in quality.items():
            rows.append([split, kind, q["true_errors"], q["flagged"], q["right"], _f(q["precision"]), _f(q["recall"]),
                         _f(q["precision_at_recall_0.5_flagged"]), _f(q["precision_at_recall_0.5_any_threshold"])])  # fmt: skip
        plots.append(plot_flag_precision(quality, os.path.join(run_dir, f"flag_precision_{split}.png"),
                                         title=f"Label issues of '{split}' against the true tags"))  # fmt: skip
    columns = ["split", "kind", "true errors", "flagged", "right", "precision", "recall",
               "precision @recall 0.5 (flags)", "precision @recall 0.5 (any threshold)"]  # fmt: skip
    return Section(
        key="labels:truth",
        title="Label issues against the true tags",
        text="Where the true tags are known: a missing flag is right when the post truly shows the tag, a wrong "
        "flag when it does not. Recall is over every (post, tag) of the scored tags whose label differs from the truth.",
        tables=[Table(columns, rows)],
        plots=plots,
        metrics={split: without_curves(q) for split, q in quality_by_split.items()},
    )


def _f(value: float) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.3f}"


GROUPS_SHOWN = 8


def duplicates_section(found, labels: LabelIssueResult, run_dir: str) -> Section:
    """Near-duplicate counts, the split leak, and thumbnails of the first groups (each group on its own row)."""
    counts = found.counts
    table = Table(
        [
            "groups",
            "posts in groups",
            "posts beyond one per group",
            "pairs across splits",
            "train-test pairs",
            "pairs by hash / window / embedding / both",
            "undecodable",
        ],  # fmt: skip
        [
            [
                counts["groups"],
                counts["posts"],
                counts["extra_posts"],
                counts["cross_split_pairs"],
                counts["train_test_pairs"],
                " / ".join(str(counts["pairs"].get(m, 0)) for m in ("hash", "window", "embedding", "both")),
                counts["undecodable"],
            ]
        ],  # fmt: skip
        caption="Near-duplicate groups and the split leak they cause",
    )
    images = {int(i): b for s in labels.splits.values() for i, b in zip(s.ids, s.images, strict=True)}
    members = found.members
    items: list[tuple[bytes, str]] = []
    for _, group in list(members.groupby("group_id"))[:GROUPS_SHOWN]:
        for _, m in group.head(4).iterrows():
            items.append((images[int(m["post_id"])], f"g{int(m['group_id'])} #{int(m['post_id'])} {m['split']}\n"
                          f"{m.get('method', '')} d={m['distance']:.3f}"))  # fmt: skip
    path = thumbnail_grid(items, os.path.join(run_dir, "duplicate_groups.png"), columns=4,
                          title=f"The first {min(GROUPS_SHOWN, counts['groups'])} near-duplicate groups")  # fmt: skip
    return Section(
        key="duplicates",
        title="Near-duplicates",
        text="Groups of the same picture re-encoded, resized, cropped or recoloured, linked by perceptual hash or "
        "embedding cosine (see the run's manifest for the thresholds). A pair across train and test leaks the "
        "test picture into training.",
        tables=[table],
        plots=[path] if path else [],
        metrics={k: v for k, v in counts.items()},
    )
