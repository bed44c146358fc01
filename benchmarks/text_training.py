"""acgvoc2vec training throughput and peak memory on CPU: plain vs cached MultipleNegativesRankingLoss.

    .venv/bin/python benchmarks/text_training.py                      # batch 1,024, 3 steps each (a few minutes)
    .venv/bin/python benchmarks/text_training.py --batch-size 256     # quicker

Both runs train the same small from-scratch encoder (2 layers, 128 hidden, corpus-trained tokenizer) with the
real SentenceTransformerTrainer on the same generated ja / zh / en pairs, each in its own process so that its
peak memory is its own. The plain loss is the baseline; the cached loss (gradient caching, --mini-batch-size
rows per forward pass) should hold peak memory well below it at the same batch size, at some cost in speed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

KANA = "あいうえおかきくけこさしすせそたちつてとなにぬねのアイウエオカキクケコサシスセソ"
HAN = "魔法少女战记物语学园骑士星海剑恋猫王国夏夜花冒险忍者宇宙铁道幽灵时间游戏咖啡"
LATIN = "abcdefghijklmnopqrstuvwxyz"


def make_pairs(n: int, *, seed: int = 0) -> dict[str, list[str]]:
    """n distinct (anchor, positive) pairs of title-like strings: ja/zh characters and Latin words."""
    rng = random.Random(seed)
    anchors, positives, seen = [], [], set()
    while len(anchors) < n:
        anchor = "".join(rng.choice(KANA + HAN) for _ in range(rng.randint(4, 10)))
        positive = " ".join(
            "".join(rng.choice(LATIN) for _ in range(rng.randint(3, 8))) for _ in range(rng.randint(1, 3))
        )
        if anchor in seen or positive in seen:
            continue
        seen.update((anchor, positive))
        anchors.append(anchor)
        positives.append(positive)
    return {"anchor": anchors, "positive": positives}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_one(loss_name: str, batch_size: int, steps: int, mini_batch_size: int) -> dict[str, float]:
    """Train ``steps`` steps in this process; report pairs/s and the peak memory added by training."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers

    from acg2vec.trainers.text.base_model import SmallModelConfig, build_small_model
    from acg2vec.trainers.text.losses import make_loss

    pairs = make_pairs(batch_size * (steps + 1))
    train = Dataset.from_dict(pairs)
    with tempfile.TemporaryDirectory() as tmp:
        model = build_small_model(
            pairs["anchor"] + pairs["positive"], out_dir=f"{tmp}/base", config=SmallModelConfig()
        )
        loss = make_loss(loss_name, model, mini_batch_size=mini_batch_size)
        args = SentenceTransformerTrainingArguments(
            output_dir=f"{tmp}/out",
            max_steps=steps + 1,
            per_device_train_batch_size=batch_size,
            learning_rate=5e-5,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            disable_tqdm=True,
            logging_steps=1000,
        )
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train, loss=loss)
        before = peak_rss_mib()
        timings: list[float] = []

        from transformers import TrainerCallback

        class StepTimer(TrainerCallback):
            def on_step_begin(self, *a, **k):
                self.t = time.perf_counter()

            def on_step_end(self, *a, **k):
                timings.append(time.perf_counter() - self.t)

        trainer.add_callback(StepTimer())
        trainer.train()
    # The first step pays for warm-up (allocator, kernels): measured steps are the rest.
    measured = timings[1:]
    return {
        "loss": loss_name,
        "batch_size": batch_size,
        "steps": len(measured),
        "pairs_per_s": batch_size * len(measured) / sum(measured),
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_training_mib": before,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=2, help="Measured steps per loss (after one warm-up step).")
    parser.add_argument("--mini-batch-size", type=int, default=64, help="Cached loss: rows per forward pass.")
    parser.add_argument("--one", choices=["mnrl", "cached-mnrl"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.batch_size, args.steps, args.mini_batch_size)))
        return 0

    results = {}
    for loss_name in ("mnrl", "cached-mnrl"):  # the plain loss first: it is the baseline
        cmd = [sys.executable, __file__, "--one", loss_name, "--batch-size", str(args.batch_size)]
        cmd += ["--steps", str(args.steps), "--mini-batch-size", str(args.mini_batch_size)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return proc.returncode
        results[loss_name] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[loss_name]
        print(
            f"{loss_name:12s} batch {r['batch_size']:5d}: {r['pairs_per_s']:8.1f} pairs/s, "
            f"peak RSS {r['peak_rss_mib']:7.0f} MiB (training added {r['peak_rss_mib'] - r['rss_before_training_mib']:.0f} MiB)"
        )
    plain, cached = results["mnrl"], results["cached-mnrl"]
    added_plain = plain["peak_rss_mib"] - plain["rss_before_training_mib"]
    added_cached = cached["peak_rss_mib"] - cached["rss_before_training_mib"]
    print(
        f"cached / plain: speed {cached['pairs_per_s'] / plain['pairs_per_s']:.2f}x, "
        f"peak RSS {cached['peak_rss_mib'] / plain['peak_rss_mib']:.2f}x, "
        f"memory added by training {added_cached / max(added_plain, 1):.2f}x "
        f"(mini-batch {args.mini_batch_size})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
