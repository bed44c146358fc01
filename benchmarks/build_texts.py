"""Benchmark of `acg2vec build texts`: wall time, pairs/s per core and peak memory (all processes) at two sizes.

For each size, raw items are generated once (benchmarks/generate_text_items.py) under --root, then the build
runs in a fresh process on the local runner while this script samples the summed RSS of that process and all
its children. The baseline is a plain single-process loop over the same raw lines doing the same per-pair
work (parse, validate, normalise, tag, hash for de-duplication and split, serialise as a TFDS example), timed
in the same run; the ratio compares the build's pairs/s per core with it. Memory staying flat between the
two sizes is the point of the bucket design.

    .venv/bin/python benchmarks/build_texts.py --sizes 1000000,5000000 --workers 2

``--runners direct,portable,dask`` builds the first size once per runner (docs/runners.md) and prints, per runner,
CPU-seconds per pair (the build process and every child, from ``getrusage`` once the runner's services stopped),
bytes per example (TFRecord shards / rows), the largest single process's peak RSS and the wall time as a ratio
to the first runner's, with the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

BUILD = """
import json, logging, sys, time
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
for noisy in ("apache_beam", "absl"):
    logging.getLogger(noisy).setLevel(logging.ERROR)
from acg2vec.beam_pipelines.options import BuildOptions, RunnerConfig
from acg2vec.datasets.acg_text_pairs.build import build
from acg2vec.workspace import Workspace
from acg2vec.beam_pipelines import runners
from pathlib import Path
started = time.time()
runner = sys.argv[3] if len(sys.argv) > 3 else "direct"
with runners.services():  # stopped (and waited for) before the CPU time is read
    result = build(Workspace.at(sys.argv[1]), options=BuildOptions(runner=RunnerConfig(runner=runner, workers=int(sys.argv[2]), mode="multi_processing")))
shard_bytes = sum(p.stat().st_size for p in Path(result.out_dir).glob("*.tfrecord-*"))
import resource
cpu = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) for f in ("ru_utime", "ru_stime"))
print(json.dumps({"seconds": time.time() - started, "cpu_seconds": cpu, "rows": result.splits, "buckets": result.buckets, "shard_bytes": shard_bytes,
                  "accounting": result.counts["accounting"]}))
"""


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a worker may exit between listing and reading
            total += p.memory_info().rss
    return total


def run_build(workdir: Path, workers: int, runner: str = "direct") -> dict:
    """Run the build of ``workdir`` (raw/ -> datasets/) in a fresh process; sample the summed RSS of its process
    tree every 0.2 s."""
    proc = subprocess.Popen(
        [sys.executable, "-c", BUILD, str(workdir), str(workers), runner], stdout=subprocess.PIPE, text=True
    )
    ps = psutil.Process(proc.pid)
    samples: list[tuple[float, int]] = []
    started = time.time()

    loads: list[float] = []
    cpu_by_pid: dict[int, float] = {}
    largest: list[int] = [0]

    def sample() -> None:
        while proc.poll() is None:
            samples.append((time.time() - started, tree_rss(ps)))
            loads.append(psutil.getloadavg()[0])
            with contextlib.suppress(psutil.Error):
                for p in [ps, *ps.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        times = p.cpu_times()
                        cpu_by_pid[p.pid] = times.user + times.system
                        largest[0] = max(largest[0], p.memory_info().rss)
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    stdout, _ = proc.communicate()
    thread.join()
    if proc.returncode != 0:
        raise SystemExit(f"build failed with exit code {proc.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.time() - started
    result["peak_rss_bytes"] = max(rss for _, rss in samples)
    result["rss_samples"] = samples
    result["load_average"] = sum(loads) / max(1, len(loads))
    # Cross-check of the rusage total: CPU seen by sampling every process of the tree (misses each one's last 0.2 s).
    result["cpu_seconds_sampled"] = sum(cpu_by_pid.values())
    result["processes"] = len(cpu_by_pid)
    result["largest_process_rss_bytes"] = largest[0]
    return result


def runner_rows(workdir: Path, workers: int, names: list[str]) -> None:
    """The build of ``workdir`` once per runner: CPU-s per pair, bytes per example, peak RSS, wall-time ratio."""
    print(f"{'runner':>9} {'wall s':>7} {'ratio':>6} {'CPU s':>7} {'CPU ms/pair':>11} {'bytes/example':>13} "
          f"{'process MiB':>11} {'all MiB':>8} {'load':>5}")  # fmt: skip
    first = None
    for name in names:
        r = run_build(workdir, workers, name)
        rows, pairs = sum(r["rows"].values()), r["accounting"]["pair_candidates"]
        first = first or r["wall_seconds"]
        # getrusage misses processes nobody waits for (Beam's worker pool never reaps its SDK workers).
        cpu = max(r["cpu_seconds"], r["cpu_seconds_sampled"])
        print(
            f"{name:>9} {r['wall_seconds']:>7.1f} {r['wall_seconds'] / first:>6.2f} {cpu:>7.1f} "
            f"{1000 * cpu / pairs:>11.3f} {r['shard_bytes'] / rows:>13,.0f} "
            f"{r['largest_process_rss_bytes'] / 2**20:>11.0f} {r['peak_rss_bytes'] / 2**20:>8.0f} {r['load_average']:>5.1f}",
            flush=True,
        )
    print(f"  ({workers} workers; per pair = per candidate pair; ratio = wall time / {names[0]}'s)")


def baseline(raw: Path, max_pairs: int) -> dict:
    """Plain loop, one process: the same per-pair work as the build, on the first ``max_pairs`` pairs."""
    from acg2vec.beam_pipelines.raw_io import read_lines
    from acg2vec.datasets.acg_text_pairs import clean_text
    from acg2vec.datasets.acg_text_pairs.records import (
        TextPairsConfig,
        example_serializer,
        process_line,
        raw_files,
        split_of,
        stable_hash,
    )

    config = TextPairsConfig()
    serialize = example_serializer()
    files = [path for path, _ in raw_files(str(raw), config)]
    # Interleave kinds so the sample has the build's mix of items.
    readers = [iter(read_lines(f, "Lines", lambda *_: None)) for f in files]
    pairs = 0
    started = time.perf_counter()
    cpu_started = time.process_time()
    while pairs < max_pairs and readers:
        for reader in list(readers):
            line = next(reader, None)
            if line is None:
                readers.remove(reader)
                continue
            for row in process_line(line, config).rows:
                stable_hash(clean_text.dedup_key(row[0]) + clean_text.dedup_key(row[1]))
                split_of(row[4])
                serialize(row)
                pairs += 1
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {
        "pairs": pairs,
        "seconds": seconds,
        "pairs_per_second": pairs / seconds,
        "pairs_per_cpu_second": pairs / cpu,
    }


def plot(results: dict[int, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for size, result in results.items():
        xs, ys = zip(*result["rss_samples"], strict=True)
        ax.plot(xs, [y / 2**30 for y in ys], label=f"{size:,} pairs target")
    ax.axhline(4, color="red", linestyle="--", label="4 GB bound")
    ax.set_xlabel("seconds")
    ax.set_ylabel("RSS of all processes (GiB)")
    ax.set_title("acg2vec build texts: memory over time")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/acg-text-bench"))
    parser.add_argument("--sizes", default="1000000,5000000", help="comma-separated pair targets")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-pairs", type=int, default=200_000)
    parser.add_argument("--runners", default="", help="e.g. direct,portable,dask: compare runners on the first size")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from generate_text_items import generate

    if args.runners:
        size = int(args.sizes.split(",")[0])
        raw = args.root / f"pairs-{size}" / "raw"
        if not raw.exists():
            generate(raw, size)
        runner_rows(raw.parent, args.workers, args.runners.split(","))
        return
    results: dict[int, dict] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        raw = args.root / f"pairs-{size}" / "raw"
        if not raw.exists():
            print(f"generating ~{size:,} pairs of raw items in {raw} ...", flush=True)
            generate(raw, size)
        print(f"building {raw} ...", flush=True)
        results[size] = run_build(raw.parent, args.workers)
    largest = max(results)
    base = baseline(args.root / f"pairs-{largest}" / "raw", args.baseline_pairs)
    print()
    print(
        f"baseline (plain loop, 1 process): {base['pairs_per_cpu_second']:,.0f} pairs per CPU-second "
        f"({base['pairs']:,} pairs; {base['pairs_per_second']:,.0f} pairs/s wall)"
    )
    header = (
        "target",
        "rows",
        "buckets",
        "wall s",
        "CPU s",
        "2-core s",
        "pairs/CPU-s",
        "ratio",
        "peak GiB",
        "load",
        "adds up",
    )
    print("{:>10} {:>10} {:>7} {:>7} {:>7} {:>8} {:>11} {:>6} {:>8} {:>5} {:>7}".format(*header))
    for size, r in results.items():
        rows = sum(r["rows"].values())
        candidates = r["accounting"]["pair_candidates"]
        # Per core = per CPU-second used: fair on a shared machine, where wall time depends on the neighbours.
        per_core = candidates / r["cpu_seconds"]
        r["pairs_per_cpu_second"] = per_core
        r["ratio_vs_baseline"] = per_core / base["pairs_per_cpu_second"]
        r["projected_seconds_on_free_cores"] = r["cpu_seconds"] / args.workers
        adds_up = r["accounting"]["pairs_add_up"] and r["accounting"]["lines_add_up"]
        print(
            f"{size:>10,} {rows:>10,} {r['buckets']:>7} {r['wall_seconds']:>7.0f} {r['cpu_seconds']:>7.0f} {r['cpu_seconds_sampled']:>7.0f} "
            f"{r['projected_seconds_on_free_cores']:>8.0f} {per_core:>11,.0f} {r['ratio_vs_baseline']:>6.2f} "
            f"{r['peak_rss_bytes'] / 2**30:>8.2f} {r['load_average']:>5.1f} {str(adds_up):>7}"
        )
    print(
        "pairs = candidate pairs (the per-pair work done); ratio = build pairs per CPU-second / baseline's; "
        f"2-core s = CPU s / {args.workers} (wall time with {args.workers} free cores); load = 1-min load average during the build"
    )
    tag = args.sizes.replace(",", "_")
    plot(results, args.root / f"build_texts_memory-{tag}.png")
    summary = {str(k): {kk: vv for kk, vv in v.items() if kk != "rss_samples"} for k, v in results.items()}
    summary["baseline"] = base
    (args.root / f"build_texts_results-{tag}.json").write_text(json.dumps(summary, indent=2))
    print(f"plot: {args.root}/build_texts_memory-{tag}.png; results: {args.root}/build_texts_results-{tag}.json")


if __name__ == "__main__":
    main()
