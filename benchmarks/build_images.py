"""Benchmark: the whole ``acg_illustrations`` build against a plain multiprocessing loop, and its peak memory.

    .venv/bin/python benchmarks/build_images.py --images 2000 --scale 10 --workers 2

1. Generates ``--images`` illustration-like JPEGs of 800-1800 px under ``--data`` (default /tmp; reused).
2. Baseline: ``multiprocessing.Pool(workers)`` doing the same read + decode + resize + pad + encode
   (:func:`acg2vec.datasets.acg_illustrations.images.process_file`) on the same files.
3. The build: :func:`acg2vec.datasets.acg_illustrations.build.build` with the local runner (``workers`` processes),
   from parsing posts to a published TFDS folder.
   Each build has its own baseline, run just before it on the same files.
4. The same build on ``--scale`` times fewer posts (the first files), to show peak memory does not grow with
   the dataset: the two sizes are ``--scale`` apart. ``--repeat k`` makes every file appear in k posts (new ids
   and md5s, each decoded on its own) for bigger builds without generating more files, e.g.
   ``--images 2000 --scale 10 --repeat 10`` compares 2,000 with 20,000 posts. The build sizes its buckets
   from the input (the count is printed); peak memory should not depend on it.

Prints images/s of both, their ratio (target >= 0.8), images/s per process, and peak RSS of all processes
(this one and every child) and of the largest single worker, sampled every 50 ms. Writes a PNG plot.

``--runners direct,portable,dask`` builds each size once per runner (docs/runners.md: ``portable`` is Beam's local
job service with its SDK workers in a worker pool's processes, ``dask`` a LocalCluster of ``--workers`` processes)
and prints, per runner, CPU-seconds per image (this process and every child, from ``getrusage`` once the runner's
services are stopped), bytes per example (TFRecord shards / examples), the largest worker's peak RSS and the wall
time as a ratio to the first runner's, with the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import multiprocessing
import os
import random
import shutil
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from acg2vec.crawlers.items import Post, item_to_dict  # noqa: E402
from acg2vec.datasets.acg_illustrations.images import ImageRules, process_file  # noqa: E402

TAGS = [f"tag_{i}" for i in range(300)]


class PeakMemory:
    """Samples the RSS of this process tree; ``total`` is the peak sum, ``worker`` the peak of one child."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.total = 0
        self.worker = 0
        self.cpu_by_pid: dict[int, float] = {}  # CPU seconds of every process of the tree, as last seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                children = me.children(recursive=True)
                rss_children = []
                for child in children:
                    with contextlib.suppress(psutil.Error):  # a child may exit between listing and reading
                        rss_children.append(child.memory_info().rss)
                        times = child.cpu_times()
                        self.cpu_by_pid[child.pid] = times.user + times.system
                total = me.memory_info().rss + sum(rss_children)
                self.total = max(self.total, total)
                self.worker = max([self.worker, *rss_children])
            except psutil.Error:
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def illustration(rng: random.Random, width: int, height: int):
    """A flat-colour drawing with outlines on a gradient: compresses and decodes like an illustration."""
    from PIL import Image, ImageDraw

    top, bottom = [tuple(rng.randrange(256) for _ in range(3)) for _ in range(2)]
    img = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    img = Image.composite(
        Image.new("RGB", (width, height), top), Image.new("RGB", (width, height), bottom), img.convert("L")
    )
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = x0 + rng.randrange(20, width // 2), y0 + rng.randrange(20, height // 2)
        fill = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x0, y0, x1, y1), fill=fill, outline=(20, 20, 20), width=3)
    return img


def generate(data: Path, count: int) -> list[tuple[str, str]]:
    """``count`` JPEGs under ``data/raw/safebooru/files``; returns ``(md5, relative path)`` (cached between runs)."""
    import hashlib

    files = data / "raw" / "safebooru" / "files"
    index = data / "files.json"
    if index.exists():
        entries = json.loads(index.read_text())
        if len(entries) >= count:
            return [tuple(e) for e in entries[:count]]
    rng = random.Random(0)
    entries = []
    for i in range(count):
        img = illustration(rng, rng.randrange(800, 1801), rng.randrange(800, 1801))
        path = files / f"tmp-{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, "JPEG", quality=90)
        md5 = hashlib.md5(path.read_bytes()).hexdigest()
        relative = f"files/{md5[:2]}/{md5}.jpg"
        (data / "raw" / "safebooru" / relative).parent.mkdir(parents=True, exist_ok=True)
        path.rename(data / "raw" / "safebooru" / relative)
        entries.append((md5, relative))
        if (i + 1) % 200 == 0:
            print(f"  generated {i + 1}/{count} images", flush=True)
    index.write_text(json.dumps(entries))
    return entries


def write_posts(workdir: Path, files_root: Path, entries: list[tuple[str, str]], scale: int) -> int:
    """A workdir whose posts reference ``entries`` ``scale`` times (each copy under its own id and md5)."""
    safebooru = workdir / "raw" / "safebooru"
    safebooru.mkdir(parents=True, exist_ok=True)
    link = safebooru / "files"
    if not link.exists():
        link.symlink_to(files_root / "raw" / "safebooru" / "files")
    rng = random.Random(1)
    n = 0
    with gzip.open(safebooru / "post-00000.jsonl.gz", "wt", encoding="utf-8") as fh:
        for copy in range(scale):
            for md5, relative in entries:
                n += 1
                post = Post(
                    source="safebooru",
                    source_id=str(n),
                    id=n,
                    md5=md5 if copy == 0 else f"{copy:04x}{md5[4:]}",
                    file_path=relative,
                    rating="general",
                    status="active",
                    width=1000,
                    height=1000,
                    tags=rng.sample(TAGS, 15),
                )
                fh.write(json.dumps(item_to_dict(post)) + "\n")
    return n


def baseline(paths: list[str], workers: int, size: int) -> tuple[float, PeakMemory]:
    rules = ImageRules(size=size)
    start = time.perf_counter()
    with PeakMemory() as mem, multiprocessing.get_context("fork").Pool(workers) as pool:
        for _ in pool.imap_unordered(_process, [(p, rules) for p in paths], chunksize=8):
            pass
    return time.perf_counter() - start, mem


def _process(args: tuple[str, ImageRules]) -> int:
    return len(process_file(*args))


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have exited (and been waited for)."""
    import resource

    return sum(
        getattr(resource.getrusage(who), field)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for field in ("ru_utime", "ru_stime")
    )


def build(workdir: Path, workers: int, size: int, runner: str = "direct"):
    from acg2vec.beam_pipelines import runners
    from acg2vec.beam_pipelines.options import BuildOptions, RunnerConfig
    from acg2vec.datasets.acg_illustrations.build import build as build_images
    from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig, PostFilters
    from acg2vec.datasets.acg_illustrations.vocabulary import VocabularyRules
    from acg2vec.workspace import Workspace

    config = ImageBuildConfig(
        size=size, filters=PostFilters(min_general_tags=10), vocabulary=VocabularyRules(min_images=5)
    )
    start, cpu = time.perf_counter(), cpu_seconds()
    own = psutil.Process().cpu_times()
    cpu_before_self = own.user + own.system
    with PeakMemory() as mem, runners.services():  # the runner's services stop (and are waited for) inside
        result = build_images(
            Workspace.at(workdir), config, options=BuildOptions(runner=RunnerConfig(runner=runner, workers=workers))
        )
    # getrusage misses processes nobody waits for (Beam's worker pool never reaps its SDK workers): the larger of
    # it and the sampled CPU of every process seen (which misses each child's last 50 ms).
    own = psutil.Process().cpu_times()
    sampled = sum(mem.cpu_by_pid.values()) + own.user + own.system - cpu_before_self
    mem.cpu_seconds = max(cpu_seconds() - cpu, sampled)
    return time.perf_counter() - start, mem, result


def runner_rows(workdir: Path, n: int, workers: int, size: int, names: list[str]) -> None:
    """The build of ``workdir`` once per runner: CPU-s per image, bytes per example, peak RSS, wall-time ratio."""
    first = None
    print(f"{'runner':>9} {'wall s':>7} {'ratio':>6} {'CPU s':>7} {'CPU s/image':>11} {'bytes/example':>13} "
          f"{'worker MiB':>10} {'all MiB':>8} {'load':>5}")  # fmt: skip
    for name in names:
        shutil.rmtree(workdir / "datasets", ignore_errors=True)
        seconds, mem, result = build(workdir, workers, size, name)
        written = result.counts["posts"]["written"]
        shard_bytes = sum(p.stat().st_size for p in Path(result.out_dir).glob("*.tfrecord-*"))
        first = first or seconds
        print(
            f"{name:>9} {seconds:>7.1f} {seconds / first:>6.2f} {mem.cpu_seconds:>7.1f} "
            f"{mem.cpu_seconds / written:>11.4f} {shard_bytes / written:>13,.0f} {mem.worker / 2**20:>10.0f} "
            f"{mem.total / 2**20:>8.0f} {os.getloadavg()[0]:>5.1f}",
            flush=True,
        )
    print(f"  ({n} posts, {workers} workers; ratio = wall time / {names[0]}'s; load = 1-min average at the end)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--scale", type=int, default=10, help="second build: this many times fewer posts (0: skip)")
    parser.add_argument("--repeat", type=int, default=1, help="posts per generated file in the builds")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--data", type=Path, default=Path("/tmp/acg2vec-bench-images"))
    parser.add_argument("--plot", type=Path, default=Path("/tmp/acg2vec-bench-images/build_images.png"))
    parser.add_argument(
        "--runners", default="", help="e.g. direct,portable,dask: compare the runners instead (docs/runners.md)"
    )
    args = parser.parse_args()

    print(f"generating {args.images} illustration-like JPEGs (800-1800 px) under {args.data}", flush=True)
    entries = generate(args.data, args.images)
    paths = [str(args.data / "raw" / "safebooru" / rel) for _, rel in entries]

    if args.runners:
        count = len(entries)
        workdir = args.data / f"workdir-{count}x{args.repeat}"
        n = write_posts(workdir, args.data, entries, args.repeat)
        runner_rows(workdir, n, args.workers, args.size, args.runners.split(","))
        return
    rows = []
    sizes = ([len(entries) // args.scale] if args.scale > 1 else []) + [len(entries)]
    for count in sizes:
        workdir = args.data / f"workdir-{count}x{args.repeat}"
        shutil.rmtree(workdir / "datasets", ignore_errors=True)
        n = write_posts(workdir, args.data, entries[:count], args.repeat)
        # The baseline runs right before each build on the same files: on a shared machine the load changes
        # from minute to minute, so a ratio is only fair between neighbours.
        base_s, base_mem = baseline(paths[:count] * args.repeat, args.workers, args.size)
        base_rate = n / base_s
        print(
            f"baseline multiprocessing.Pool({args.workers}) on the same {n} files: {base_rate:.1f} images/s "
            f"({base_rate / args.workers:.1f} per process), peak RSS all processes {base_mem.total / 2**20:.0f} MiB, "
            f"largest worker {base_mem.worker / 2**20:.0f} MiB",
            flush=True,
        )
        seconds, mem, result = build(workdir, args.workers, args.size)
        written = result.counts["posts"]["written"]
        rate = written / seconds
        rows.append((n, rate, mem.total, mem.worker, base_rate, base_mem.total))
        print(
            f"build: {n} posts, {written} examples, {result.buckets} buckets, in {seconds:.1f}s = {rate:.1f} images/s "
            f"({rate / args.workers:.1f} per process); ratio to baseline {rate / base_rate:.2f} (target >= 0.8); "
            f"peak RSS all processes {mem.total / 2**20:.0f} MiB, largest worker {mem.worker / 2**20:.0f} MiB",
            flush=True,
        )
    if len(rows) == 2:
        print(
            f"peak memory ratio {rows[1][0]} / {rows[0][0]} posts: {rows[1][2] / rows[0][2]:.2f} (flat = 1.0) "
            f"for {rows[1][0] / rows[0][0]:.0f}x the images"
        )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    x = np.arange(len(rows))
    for ax, build_col, base_col, unit, label in (
        (ax1, 1, 4, 1, "images / s"),
        (ax2, 2, 5, 2**20, "peak RSS, all processes (MiB)"),
    ):
        ax.bar(x - 0.2, [r[base_col] / unit for r in rows], 0.4, label="multiprocessing baseline")
        ax.bar(x + 0.2, [r[build_col] / unit for r in rows], 0.4, label="acg2vec build")
        ax.set_xticks(x, [f"{r[0]} images" for r in rows])
        ax.set_ylabel(label)
    ax1.legend()
    fig.tight_layout()
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.plot)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
