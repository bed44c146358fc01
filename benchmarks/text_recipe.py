"""The demo's text stage under recipe changes: CPU-seconds, peak memory and its held-out figures, in one run.

    acg2vec --workdir /tmp/d demo --until build            # once: the demo's datasets (crawl + build)
    nice -n 10 .venv/bin/python benchmarks/text_recipe.py --workdir /tmp/d \\
        [--variant "uncapped:max_seq_length=none" --variant "lr 5e-5:learning_rate=5e-5" ...] [--threads 1] [--json OUT]

Each variant runs the demo's own text stage (``acg2vec.demo.train_text``: the ``demo`` recipe fine-tuning
multilingual-e5-small, its evaluations before and after, the model folder written) in a fresh process, with the
variant's changes applied to the ``demo`` recipe, so that its peak RSS is its own. The first variant is the
baseline: every other one is printed as a ratio of CPU-seconds and peak memory to it. Measured per variant:

- the process's CPU-seconds (user + system, every thread, and children), and wall seconds;
- its peak resident memory (``ru_maxrss``);
- the demo's held-out title translation accuracy (``acg2vec.demo.translation_accuracy``) of TF-IDF, the zero-shot
  model and the fine-tuned one, and the number of held-out pairs behind it.

The E5 import into the workspace's ``cache/base_models`` is done once up front, outside the measured processes
(a fresh demo run pays it once, about 8 CPU-seconds). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# The committed demo recipe first (the baseline every ratio is against), then the recipe as it was before the
# token cap (the model's own 512).
DEFAULT_VARIANTS = ("demo recipe:", "no token cap:max_seq_length=none")


def parse_variant(text: str) -> tuple[str, dict[str, object]]:
    """``"name:key=value,key=value"`` -> (name, {key: value}); values are JSON (numbers, true / false) or ``none``."""
    name, _, changes = text.partition(":")
    fields: dict[str, object] = {}
    for change in filter(None, (c.strip() for c in changes.split(","))):
        key, sep, value = change.partition("=")
        if not sep:
            raise ValueError(f"{change!r} in variant {name!r} is not key=value")
        try:
            fields[key] = None if value.lower() == "none" else json.loads(value)
        except json.JSONDecodeError:
            fields[key] = value
    return name.strip(), fields


def run_child(workdir: str, fields: dict[str, object], threads: int) -> dict[str, object]:
    """In this process: the demo's text stage with ``fields`` changed in its recipe; the measurements."""
    import torch

    from acg2vec.demo import DemoConfig, train_text, translation_accuracy
    from acg2vec.trainers.text import configs
    from acg2vec.workspace import Workspace

    torch.set_num_threads(threads)
    original = configs.RECIPES["demo"]

    def changed() -> configs.TextTrainConfig:
        config = original()
        for key, value in fields.items():
            if not hasattr(config, key):
                raise KeyError(f"the text recipe has no field {key!r}")
            setattr(config, key, value)
        return config

    configs.RECIPES["demo"] = changed
    ws = Workspace(workdir)
    wall = time.perf_counter()
    cpu = time.process_time()
    output, summary, details = train_text(ws, DemoConfig(), quiet=True)
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    eval_sets, metrics = details["eval_sets"], details["metrics"]
    return {
        "cpu_seconds": round(cpu, 1),
        "wall_seconds": round(wall, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "steps": details["steps"],
        "translation_pairs": sum(
            v for k, v in eval_sets.items() if k.startswith("translation_") and k.endswith("_pairs")
        ),
        "accuracy": {name: round(translation_accuracy(metrics.get(name, {}), eval_sets), 3) for name in metrics},
        "ir_accuracy@1": {name: round(m.get("ir_accuracy@1", float("nan")), 3) for name, m in metrics.items()},
        "summary": summary,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="A demo workdir after `demo --until build`.")
    parser.add_argument("--variant", action="append", default=[], help='"name:key=value,..." (the first: baseline)')
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (1: less lost to contention)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # JSON fields: run one variant here
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.child is not None:
        print("RESULT " + json.dumps(run_child(str(args.workdir), json.loads(args.child), args.threads)))
        return 0
    if not (args.workdir / "datasets").is_dir():
        print(f"{args.workdir} has no datasets/: run `acg2vec --workdir {args.workdir} demo --until build`.")
        return 2
    from acg2vec.trainers.text.base_model import imported_e5
    from acg2vec.workspace import Workspace

    imported_e5(Workspace(str(args.workdir)).cache("base_models"))  # once, outside the measured runs
    variants = [parse_variant(v) for v in (args.variant or DEFAULT_VARIANTS)]
    report: dict[str, object] = {"threads": args.threads, "cpus": os.cpu_count(), "runs": {}}
    for name, fields in variants:
        load = os.getloadavg()[0]
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--workdir",
                str(args.workdir),
                "--threads",
                str(args.threads),
                "--child",
                json.dumps(fields),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        line = next((ln for ln in child.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if child.returncode or line is None:
            print(f"{name}: failed\n{child.stderr[-3000:]}", file=sys.stderr)
            return 1
        result = {
            "fields": fields,
            **json.loads(line.removeprefix("RESULT ")),
            "load": [round(load, 2), round(os.getloadavg()[0], 2)],
        }
        report["runs"][name] = result
        print(name, json.dumps(result, ensure_ascii=False), flush=True)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print_table(report)
    return 0


def print_table(report: dict) -> None:
    runs = report["runs"]
    base = next(iter(runs.values()))
    print(f"\nThe demo's text stage, {report['threads']} torch thread(s); ratios to the first row, in one run")
    print(
        "| variant | changes | steps | CPU s | x CPU | peak RSS MiB | x RSS | TF-IDF | zero-shot | fine-tuned "
        "| pairs | load |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, r in runs.items():
        acc = r["accuracy"]
        changes = ", ".join(f"{k}={v}" for k, v in r["fields"].items()) or "-"
        print(
            f"| {name} | {changes} | {r['steps']} | {r['cpu_seconds']} | {r['cpu_seconds'] / base['cpu_seconds']:.2f} "
            f"| {r['peak_rss_mib']} | {r['peak_rss_mib'] / base['peak_rss_mib']:.2f} | {acc.get('lexical', '')} "
            f"| {acc.get('untrained', '')} | {acc.get('trained', '')} | {r['translation_pairs']} "
            f"| {r['load'][0]} -> {r['load'][1]} |"
        )


if __name__ == "__main__":
    sys.exit(main())
