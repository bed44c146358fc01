"""Near-duplicate search of ``acg2vec curate`` measured on planted re-uploads of the learnability world.

The learnability world (:mod:`acg2vec.sample_site.pictures`) draws ``--posts`` pictures; a share of them
(``--reupload-rate``) is uploaded again, each as one of the re-upload kinds (re-encoded, resized, lightly cropped,
recoloured: :mod:`acg2vec.sample_site.reuploads`), a tenth of those twice, under new post ids. Splits follow the
dataset's id rule (``id mod 1000``: train 0-900, validation 900-950, test 950-1000), so some copies land in another
split than their original: the train / test leak the build's md5 de-duplication cannot see.

The figures, all against the planted truth (pairs of posts showing the same picture):

- pair precision and recall of :func:`acg2vec.curation.duplicates.find_duplicates` (the pairs inside its groups),
  overall and per kind, and the same for three baselines run in the same process on the same images: exact md5
  de-duplication (what ``build images`` does), a 64-bit perceptual hash, and the 256-bit hash without its
  sub-window hashes (``hash_only``: what curation did before it looked for crops);
- a precision-recall sweep over the hash distance threshold, and one over the sub-window distance threshold
  (crop recall against overall precision) (the plot);
- the train / test leak: planted pairs across train and test, found ones, and what is left after keeping one post
  per found group (the rule of ``build images --apply-curation --drop-duplicates``);
- CPU seconds and posts per second, and the machine's load.

``--model DIR`` adds embedding search with that image model (an illust2vec or tagger export), as ``acg2vec curate``
does. Without it only the hashes run: crops then stay unfound, as the hash's design note says.

    python benchmarks/near_duplicates.py --posts 5000 20000 --out /tmp/near-duplicates
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import os
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd

from acg2vec.curation.duplicates import DuplicateConfig, embedding_pairs, find_duplicates, group_pairs
from acg2vec.curation.perceptual_hash import hash_images, hash_pairs
from acg2vec.datasets.acg_illustrations.curated import curation_edits
from acg2vec.datasets.acg_illustrations.records import SplitRules
from acg2vec.sample_site.picture_drawing import draw_picture
from acg2vec.sample_site.pictures import make_picture, make_reupload, make_world
from acg2vec.sample_site.reuploads import REUPLOAD_KINDS

log = logging.getLogger("near_duplicates")
TARGET_KINDS = ("reencode", "resize")  # the issue's target: recall >= 0.95 at precision >= 0.95 on these


def plant(n: int, rate: float, seed: int, size: int):
    """``n`` pictures and their planted re-uploads: ids, splits, JPEG bytes, and the truth as ``{copy id: (original
    id, kind)}``."""
    world = make_world(seed)
    pictures = [make_picture(i, seed, world) for i in range(1, n + 1)]
    rng = random.Random(f"{seed}:reuploads")
    originals = rng.sample(pictures, round(rate * n))
    copies, truth = [], {}
    next_id = n + 1
    for k, original in enumerate(originals):
        for repeat in range(2 if k % 10 == 9 else 1):
            kind = REUPLOAD_KINDS[(k + repeat) % len(REUPLOAD_KINDS)]
            next_id += rng.randint(1, 5)  # gaps, so copies fall into every split
            copies.append(make_reupload(original, next_id, kind))
            truth[next_id] = (original.id, kind)
    everything = pictures + copies
    splits = SplitRules()
    ids = [p.id for p in everything]
    return ids, [splits.split_of(i) for i in ids], [draw_picture(p, world, size) for p in everything], truth


def truth_pairs(truth: dict[int, tuple[int, str]]) -> dict[tuple[int, int], str]:
    """Every pair of posts showing the same picture, with the kind of the re-upload(s) in it ("a+b" for two)."""
    by_original: dict[int, list[tuple[int, str]]] = {}
    for copy, (original, kind) in truth.items():
        by_original.setdefault(original, []).append((copy, kind))
    pairs = {}
    for original, copies in by_original.items():
        for copy, kind in copies:
            pairs[tuple(sorted((original, copy)))] = kind
        for (a, ka), (b, kb) in itertools.combinations(copies, 2):
            pairs[tuple(sorted((a, b)))] = "+".join(sorted((ka, kb)))
    return pairs


def group_pairs_of(members) -> set[tuple[int, int]]:
    """All pairs inside the found groups (a group of k posts: k(k-1)/2 pairs)."""
    found = set()
    for _, group in members.groupby("group_id"):
        found.update(itertools.combinations(sorted(int(p) for p in group["post_id"]), 2))
    return found


def scores(found: set, truth: dict[tuple[int, int], str]) -> dict:
    """Pair precision and recall, overall, per kind and on the target kinds."""
    hits = found & set(truth)
    out = {
        "found_pairs": len(found),
        "true_pairs": len(truth),
        "precision": len(hits) / len(found) if found else 1.0,
        "recall": len(hits) / len(truth) if truth else 1.0,
        "by_kind": {},
    }
    for kind in sorted(set(truth.values())):
        wanted = {p for p, k in truth.items() if k == kind}
        out["by_kind"][kind] = {"pairs": len(wanted), "recall": len(wanted & found) / len(wanted)}
    target = {p for p, k in truth.items() if k in TARGET_KINDS}
    others = {p for p, k in truth.items() if k not in TARGET_KINDS}
    # Precision on the target: found pairs that are wrong count against it; pairs of other kinds are left out.
    found_target = found - others
    out["target"] = {
        "pairs": len(target),
        "recall": len(target & found) / len(target) if target else 1.0,
        "precision": len(found_target & target) / len(found_target) if found_target else 1.0,
    }
    return out


def md5_baseline(ids, images) -> set[tuple[int, int]]:
    """Exact duplicates by md5, as ``build images`` removes them."""
    by_md5: dict[str, list[int]] = {}
    for post_id, data in zip(ids, images, strict=True):
        by_md5.setdefault(hashlib.md5(data).hexdigest(), []).append(post_id)
    return {pair for group in by_md5.values() for pair in itertools.combinations(sorted(group), 2)}


def leak(ids, splits, pairs: set[tuple[int, int]], kept: set[int] | None = None) -> int:
    """Pairs across train and test among the posts ``kept`` (all when None)."""
    split_of = dict(zip(ids, splits, strict=True))
    return sum(
        1
        for a, b in pairs
        if {split_of[a], split_of[b]} == {"train", "test"} and (kept is None or (a in kept and b in kept))
    )


def sweep(ids, images, truth, *, hash_size: int, distances: list[int]) -> list[dict]:
    """Pair precision and recall of hash pairs alone (no grouping) at each distance threshold."""
    hashes = hash_images(images, hash_size=hash_size).full
    pairs, dist = hash_pairs(hashes, max(distances))
    ids = np.asarray(ids)
    rows = []
    for d in distances:
        keep = ids[pairs[dist <= d]]
        rows.append({"max_distance": d, **scores({tuple(sorted(p)) for p in keep.tolist()}, truth)})
    return rows


def window_sweep(ids, splits, images, truth, *, distances: list[int]) -> list[dict]:
    """Pair precision and recall of the groups (full hash at its default, plus sub-window pairs) at each window
    distance threshold: one search at the largest, groups re-formed from its pairs for each smaller one."""
    config = DuplicateConfig(max_window_distance=max(distances))
    pairs = find_duplicates(ids, splits, images, config=config).pairs
    ids = np.asarray(ids)
    row_of = {int(post): row for row, post in enumerate(ids)}
    rows = []
    for d in distances:
        keep = pairs[(pairs["hash_distance"] >= 0) | (pairs["window_distance"].between(0, d))]
        linked = np.array(
            [[row_of[int(a)], row_of[int(b)]] for a, b in zip(keep["post_a"], keep["post_b"], strict=True)]
        )
        groups = group_pairs(len(ids), linked.reshape(-1, 2))
        members = pd.DataFrame({"group_id": groups, "post_id": ids})
        rows.append({"max_window_distance": d, **scores(group_pairs_of(members[members["group_id"] >= 0]), truth)})
    return rows


def embedding_sweep(ids, vectors: np.ndarray, truth, *, cosines: list[float]) -> list[dict]:
    """Pair precision and recall of embedding pairs alone (no grouping) at each cosine threshold."""
    pairs, cos = embedding_pairs(vectors, min(cosines))
    ids = np.asarray(ids)
    rows = []
    for c in cosines:
        keep = ids[pairs[cos >= c]]
        rows.append({"min_cosine": c, **scores({tuple(sorted(p)) for p in keep.tolist()}, truth)})
    return rows


def embed(model_dir: str, images) -> np.ndarray:
    from acg2vec.trainers.image.image_model import load_image_model

    model = load_image_model(model_dir)
    vectors, ok = model.embed_robust(list(images), lambda i, drop: None, batch_size=64)
    out = np.zeros((len(images), vectors.shape[1]), dtype=np.float32)
    out[ok] = vectors
    return out


def run_size(n: int, args) -> dict:
    t = time.perf_counter()
    ids, splits, images, truth = plant(n, args.reupload_rate, args.seed, args.size)
    truth_ids = truth_pairs(truth)
    row: dict = {"posts": len(ids), "planted_copies": len(truth), "draw_seconds": time.perf_counter() - t}
    log.info("n=%d: %d posts drawn (%d re-uploads) in %.0f s", n, len(ids), len(truth), row["draw_seconds"])
    # 1. Baselines, same process, same images.
    c = time.process_time()
    row["md5"] = {**scores(md5_baseline(ids, images), truth_ids), "cpu_seconds": time.process_time() - c}
    c = time.process_time()
    small = find_duplicates(
        ids, splits, images, config=DuplicateConfig(hash_size=8, max_hash_distance=4, crop_margins=())
    )
    row["phash64"] = {**scores(group_pairs_of(small.members), truth_ids), "cpu_seconds": time.process_time() - c}
    c = time.process_time()
    full_only = find_duplicates(ids, splits, images, config=DuplicateConfig(crop_margins=()))
    row["hash_only"] = {**scores(group_pairs_of(full_only.members), truth_ids), "cpu_seconds": time.process_time() - c}
    # 2. The curate stage's finder (hash, and embeddings with --model).
    embeddings = embed(args.model, images) if args.model else None
    c, w = time.process_time(), time.perf_counter()
    result = find_duplicates(ids, splits, images, embeddings=embeddings, config=DuplicateConfig())
    cpu, wall = time.process_time() - c, time.perf_counter() - w
    found = group_pairs_of(result.members)
    row["curate"] = {
        **scores(found, truth_ids),
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "posts_per_second": len(ids) / wall,
        "counts": result.counts,
        "seconds": result.seconds,
        "with_embeddings": embeddings is not None,
    }
    row["curate"]["cpu_vs_md5"] = cpu / max(row["md5"]["cpu_seconds"], 1e-9)
    # 3. The leak, before and after keeping one post per found group.
    no_issues = pd.DataFrame({"post_id": [], "tag": [], "kind": []})
    edits, _ = curation_edits(no_issues, result.members, {})
    kept = set(ids) - set(edits.drop)
    row["leak"] = {
        "planted_train_test_pairs": leak(ids, splits, set(truth_ids)),
        "found_train_test_pairs": result.counts["train_test_pairs"],
        "planted_left_after_drop": leak(ids, splits, set(truth_ids), kept),
        "posts_dropped": len(edits.drop),
    }
    # 4. The threshold sweep of the 256-bit hash.
    row["sweep"] = sweep(ids, images, truth_ids, hash_size=16, distances=list(range(0, 97, 4)))
    if n <= args.window_sweep_max_posts:  # one more search with the sub-windows: long at 20,000 posts
        row["window_sweep"] = window_sweep(ids, splits, images, truth_ids, distances=list(range(8, 25, 2)))
    if embeddings is not None:
        cosines = [0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995]
        row["embedding_sweep"] = embedding_sweep(ids, embeddings, truth_ids, cosines=cosines)
    row["load"] = os.getloadavg()
    log.info("n=%d: %s", n, brief(row))
    return row


def brief(row: dict) -> str:
    cur = row["curate"]
    return (
        f"curate P {cur['precision']:.3f} R {cur['recall']:.3f} (re-encode/resize P {cur['target']['precision']:.3f}"
        f" R {cur['target']['recall']:.3f}, crop R {cur['by_kind'].get('crop', {}).get('recall', 0):.3f}); hash only P "
        f"{row['hash_only']['precision']:.3f} crop R {row['hash_only']['by_kind'].get('crop', {}).get('recall', 0):.3f}; md5 R {row['md5']['recall']:.3f}; phash64 P "
        f"{row['phash64']['precision']:.3f} R {row['phash64']['recall']:.3f}; leak {row['leak']}"
    )


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    for n, row in results["sizes"].items():
        xs = [r["max_distance"] for r in row["sweep"]]
        axes[0].plot(xs, [r["precision"] for r in row["sweep"]], marker=".", label=f"precision, {n} posts")
        axes[0].plot(xs, [r["target"]["recall"] for r in row["sweep"]], marker=".", ls="--",
                     label=f"recall re-encode/resize, {n} posts")  # fmt: skip
        for kind in ("crop", "recolour"):
            axes[0].plot(xs, [r["by_kind"].get(kind, {}).get("recall", np.nan) for r in row["sweep"]], ls=":",
                         label=f"recall {kind}, {n} posts")  # fmt: skip
        axes[1].plot([r["recall"] for r in row["sweep"]], [r["precision"] for r in row["sweep"]], marker=".",
                     label=f"{n} posts")  # fmt: skip
    axes[0].axvline(DuplicateConfig().max_hash_distance, color="grey", lw=0.8)
    axes[0].set(xlabel="max Hamming distance (of 256 bits)", ylabel="pair precision / recall", ylim=(0, 1.02))
    axes[0].legend(fontsize=6.5)
    axes[1].set(xlabel="recall (all kinds)", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02),
                title="hash pairs over the threshold")  # fmt: skip
    axes[1].legend(fontsize=7)
    for n, row in results["sizes"].items():
        xs = [r["max_window_distance"] for r in row.get("window_sweep", [])]
        axes[2].plot(
            xs, [r["precision"] for r in row.get("window_sweep", [])], marker=".", label=f"precision, {n} posts"
        )
        axes[2].plot(xs, [r["by_kind"].get("crop", {}).get("recall", np.nan) for r in row.get("window_sweep", [])],
                     marker=".", ls="--", label=f"recall crop, {n} posts")  # fmt: skip
    axes[2].axvline(DuplicateConfig().max_window_distance, color="grey", lw=0.8)
    axes[2].set(xlabel="max distance to a sub-window hash (of 256 bits)", ylabel="pair precision / recall",
                ylim=(0, 1.02), title="sub-window hashes (light crops)")  # fmt: skip
    axes[2].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def report(results: dict) -> str:
    lines = [
        "| posts | method | pair precision | pair recall | re-encode/resize P | re-encode/resize R | crop R | "
        "recolour R | CPU s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["sizes"].values():
        for name in ("md5", "phash64", "hash_only", "curate"):
            m = row[name]
            kinds = m["by_kind"]
            lines.append(
                f"| {row['posts']} | {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['target']['precision']:.3f}"
                f" | {m['target']['recall']:.3f} | {kinds.get('crop', {}).get('recall', 0):.3f} | "
                f"{kinds.get('recolour', {}).get('recall', 0):.3f} | {m['cpu_seconds']:.1f} |"
            )
    lines += ["", "| posts | planted train-test pairs | found | left after --drop-duplicates | posts dropped | load |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for row in results["sizes"].values():
        lk = row["leak"]
        load = ", ".join(f"{x:.1f}" for x in row["load"])
        lines.append(
            f"| {row['posts']} | {lk['planted_train_test_pairs']} | {lk['found_train_test_pairs']} | "
            f"{lk['planted_left_after_drop']} | {lk['posts_dropped']} | {load} |"
        )
    lines += ["", "| posts | max window distance | pair precision | pair recall | re-encode/resize P | crop R | pairs found |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in results["sizes"].values():
        for r in row.get("window_sweep", []):
            lines.append(
                f"| {row['posts']} | {r['max_window_distance']} | {r['precision']:.3f} | {r['recall']:.3f} | "
                f"{r['target']['precision']:.3f} | {r['by_kind'].get('crop', {}).get('recall', 0):.3f} | {r['found_pairs']} |"
            )
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--posts", type=int, nargs="+", default=[5000, 20000], help="pictures before the re-uploads")
    parser.add_argument("--reupload-rate", type=float, default=0.05, help="share of pictures uploaded again")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (the tiny dataset config's)")
    parser.add_argument("--model", help="an image model export for embedding search (default: hashes only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--window-sweep-max-posts", type=int, default=6000, help="sweep the window distance only up to this size"
    )
    parser.add_argument("--out", default="/tmp/near-duplicates")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"args": vars(args), "load_at_start": os.getloadavg(), "sizes": {}}
    for n in sorted(args.posts):
        results["sizes"][n] = run_size(n, args)
        (out / "results.json").write_text(json.dumps(results, indent=2, default=float))
    plot(results, out / "near_duplicates.png")
    (out / "report.md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
