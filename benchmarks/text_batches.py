"""Entity-keyed training batches against the text-only duplicate check: false in-batch negatives, then quality.

    .venv/bin/python benchmarks/text_batches.py --data <workdir>/datasets            # batches only (seconds)
    .venv/bin/python benchmarks/text_batches.py --data <workdir>/datasets --train    # and train the recipe twice

The baseline is what ``train text`` drew before: the library's ``NoDuplicatesBatchSampler`` over the texts alone,
so two pairs of one work with different texts (its Bangumi and its Wikipedia title pair, a title with two of its
characters under another spelling) may share a batch and be each other's negative. Against it,
:class:`acg2vec.trainers.text.batches.EntityBatchSampler`, keyed by ``entity_id`` as well.

1. Batches: one epoch of the trainer's batches of every pair type of the training split, at the recipe's batch
   size, under each sampler: batches, rows drawn, and the rows that had another row of their own entity in their
   batch (each such row is trained with a false negative).
2. ``--train``: the recipe (``--recipe``, default ``demo``) trained once per sampler with the same seed; the
   held-out (validation split) figures of each, the text-only run first as the baseline, and the difference.

What "one entity" means is the corpus's ``entity_id``: with the acg_entities table, one work across every site.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sentence_transformers.base.sampler import NoDuplicatesBatchSampler  # noqa: E402

from acg2vec.trainers.text.batches import EntityBatchSampler, is_key_column  # noqa: E402


class TextOnlyBatchSampler(NoDuplicatesBatchSampler):
    """The baseline: the library sampler reading the texts only (the key columns removed from its view). At module
    level: the trainer pickles its arguments, this class with them, into every checkpoint."""

    def __init__(self, dataset, batch_size, drop_last, valid_label_columns=None, generator=None, seed=0):
        keys = [c for c in dataset.column_names if is_key_column(c)]
        super().__init__(
            dataset.remove_columns(keys),
            batch_size=batch_size,
            drop_last=drop_last,
            valid_label_columns=valid_label_columns,
            generator=generator,
            seed=seed,
            precompute_hashes=True,
            precompute_num_proc=1,
        )


def batch_figures(train_sets, sampler_class, batch_size: int, seed: int) -> dict[str, int]:
    """One epoch of batches of every pair type: batches, rows, rows sharing their batch with their own entity."""
    import torch

    out = Counter()
    for ds in train_sets.values():
        entities = ds["entity_id"]
        sampler = sampler_class(ds, batch_size, False, generator=torch.Generator(), seed=seed)
        for batch in sampler:
            counts = Counter(entities[i] for i in batch)
            out["batches"] += 1
            out["rows"] += len(batch)
            out["rows_with_own_entity"] += sum(n for n in counts.values() if n > 1)
            out["full_batches"] += len(batch) == batch_size
    return dict(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="A workdir's datasets folder (acg_text_pairs).")
    parser.add_argument("--recipe", default="demo", help="The train text recipe (default: demo).")
    parser.add_argument("--train", action="store_true", help="Also train the recipe once per sampler.")
    parser.add_argument(
        "--only", choices=["text-only", "entity"], default=None, help="With --train: train with this sampler only."
    )
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    parser.add_argument("--out", type=Path, default=None, help="Keep the trained models here (default: a temp dir).")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from acg2vec.trainers.text.configs import recipe
    from acg2vec.trainers.text.data import by_pair_type, load_pairs

    config = recipe(args.recipe)
    samplers = {"text-only": TextOnlyBatchSampler, "entity": EntityBatchSampler}
    figures: dict = {"load": os.getloadavg(), "recipe": args.recipe, "batch_size": config.batch_size}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = load_pairs(args.data, cache_dir=Path(tmp) / "cache")
        train_sets = by_pair_type(corpus.splits["train"], seed=config.seed, hard_negatives=config.hard_negatives)
        entities = len(set(corpus.splits["train"]["entity_id"]))
        figures["train_pairs"], figures["train_entities"] = len(corpus.splits["train"]), entities
        figures["batches"] = {
            name: batch_figures(train_sets, cls, config.batch_size, config.seed) for name, cls in samplers.items()
        }
        print(f"{figures['train_pairs']} training pairs of {entities} entities; batch {config.batch_size}")
        print(f"{'sampler':<10} {'batches':>8} {'full':>6} {'rows':>6} {'rows with own entity':>21}")
        for name, b in figures["batches"].items():
            print(
                f"{name:<10} {b['batches']:>8} {b['full_batches']:>6} {b['rows']:>6} {b['rows_with_own_entity']:>21}"
            )
        if args.train:
            figures["trained"] = train_both(args, config, samplers, args.out or Path(tmp))
    figures["load_after"] = os.getloadavg()
    print(f"load average before {figures['load'][0]:.1f}, after {figures['load_after'][0]:.1f} (2 shared cores)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    return 0


def train_both(args, config, samplers, tmp: Path) -> dict:
    """The recipe once per sampler, same seed; validation figures, the text-only run first (the baseline)."""
    import dataclasses

    from acg2vec.trainers.text.train import train_text_model

    trained = {}
    for name, sampler in samplers.items():
        if args.only and name != args.only:
            continue
        run = dataclasses.replace(config, data_dir=str(args.data), output=str(tmp / name), quiet=True)
        started = time.perf_counter()
        result = train_text_model(run, batch_sampler=sampler)
        trained[name] = {
            "seconds": round(time.perf_counter() - started, 1),
            "untrained": result.metrics["untrained"],
            "trained": result.metrics["trained"],
        }
    if len(trained) < 2:
        print(json.dumps(trained, indent=1))
        return trained
    keys = [k for k in trained["entity"]["trained"] if k.endswith("mean_accuracy") or k.startswith("ir_")]
    print(f"{'validation metric':<40} {'untrained':>9} {'text-only':>9} {'entity':>9} {'diff':>7}")
    for key in sorted(keys):
        base, new = trained["text-only"]["trained"].get(key), trained["entity"]["trained"].get(key)
        zero = trained["entity"]["untrained"].get(key)
        if base is None or new is None:
            continue
        print(
            f"{key:<40} {zero if zero is not None else float('nan'):>9.3f} {base:>9.3f} {new:>9.3f} {new - base:>+7.3f}"
        )
    print("seconds: " + ", ".join(f"{name} {t['seconds']}" for name, t in trained.items()))
    return trained


if __name__ == "__main__":
    sys.exit(main())
