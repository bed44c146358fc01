"""What checking raw shards whole costs a build (issue #27), against reading them once as the build does.

    .venv/bin/python benchmarks/build_shard_check.py                  # about 300,000 pairs' worth of raw items
    .venv/bin/python benchmarks/build_shard_check.py --pairs 1000000 --repeat 3

Raw text items are generated once (benchmarks/generate_text_items.py) into a temporary folder, then timed, each
the best of ``--repeat`` runs in this process:

1. baseline: every line of every shard read once through :func:`acg2vec.beam_pipelines.raw_io.read_lines` (the
   build's own reader outside Beam: decompress, split lines, decode UTF-8), the least any build pays for its input;
2. :func:`acg2vec.beam_pipelines.raw_shards.check_raw_shards` with no crawl record (every gzip stream read to its
   end: stream end and CRC);
3. the same with the crawl's record of every shard in ``manifest.json`` (size and SHA-256 compared).

It prints the seconds of each, their ratio to the baseline, the raw bytes checked and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate_text_items import generate  # noqa: E402

from acg2vec.beam_pipelines import files  # noqa: E402
from acg2vec.beam_pipelines.raw_io import read_lines  # noqa: E402
from acg2vec.beam_pipelines.raw_shards import MANIFEST_FILE, check_raw_shards  # noqa: E402


def best(repeat: int, run) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="acg2vec-shard-check-") as tmp:
        raw = Path(tmp) / "raw"
        generate(raw, args.pairs, lines_per_shard=20_000)
        found = sorted(files.match(str(raw / "*" / "*.jsonl.gz")))
        total = sum(size for _, size in found)

        def read_all() -> None:
            for path, _ in found:
                for _line in read_lines(path, "Lines", lambda *_: None):
                    pass

        def check() -> None:
            check_raw_shards(found, command="acg2vec build texts")

        baseline = best(args.repeat, read_all)
        gzip_check = best(args.repeat, check)
        for folder in sorted({Path(p).parent for p, _ in found}):
            shards = {Path(p).name: files.digest(p) for p, _ in found if Path(p).parent == folder}
            (folder / MANIFEST_FILE).write_text(json.dumps({"format": 1, "shards": shards}))
        recorded_check = best(args.repeat, check)
    print(f"{len(found)} shards, {total / 2**20:.1f} MiB compressed; load average {os.getloadavg()[0]:.1f}")
    print(f"read every line once (baseline): {baseline:.2f} s")
    print(f"check, gzip stream to its end:   {gzip_check:.2f} s = {gzip_check / baseline:.2f}x the baseline")
    print(f"check, crawl's size and SHA-256: {recorded_check:.2f} s = {recorded_check / baseline:.2f}x the baseline")


if __name__ == "__main__":
    main()
