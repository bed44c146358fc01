"""What recording and checking raw shards costs a crawl (issue #27), against what every re-run already does.

    .venv/bin/python benchmarks/crawl_shard_check.py                       # 40 shards of 5,000 post lines
    .venv/bin/python benchmarks/crawl_shard_check.py --shards 10 --lines 5000

Post lines shaped like a Safebooru crawl's (tags, urls, md5, file path) are written into ``raw/safebooru/``:

1. write: each shard once as a plain gzip file, line by line (the baseline: what the feed exporter wrote
   before) and once through :class:`acg2vec.crawlers.shards.ShardFile` (the ids noted as lines are written;
   temporary name, fsync, rename, SHA-256, the ids file and the manifest record);
2. check on a re-run: :func:`acg2vec.crawlers.pipelines.scan_raw` (the baseline: the already-have scan every re-run
   makes, decompressing every shard), :func:`acg2vec.crawlers.shards.check_shards` against a manifest that knows
   every shard (size and SHA-256), and the same with the manifest gone (every shard read to its end, its ids
   file written again: the rebuild after a damaged manifest).

It prints seconds of each and their ratio to the baseline (best of ``--repeat`` runs), and the bytes of the ids
files against the shards'.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import tempfile
import time
from pathlib import Path

from acg2vec.crawlers.pipelines import scan_raw
from acg2vec.crawlers.shards import IDS_DIR, ShardFile, check_shards, shard_files


def post_line(rng: random.Random, post_id: int) -> tuple[str, dict]:
    md5 = f"{rng.getrandbits(128):032x}"
    tags = [f"tag_{rng.randrange(5000)}" for _ in range(rng.randrange(8, 30))]
    item = {
        "kind": "post", "source": "safebooru", "source_id": str(post_id), "id": post_id, "md5": md5,
        "url": f"https://safebooru.org/index.php?page=post&s=view&id={post_id}", "tags": tags,
        "rating": "general", "score": rng.randrange(100), "width": 1000, "height": 1400,
        "file_url": f"https://safebooru.org/images/{post_id // 1000}/{md5}.jpg",
        "file_path": f"files/{md5[:2]}/{md5}.jpg", "file_checksum": md5,
        "fetched_at": "2026-12-07T22:00:00Z",
    }  # fmt: skip
    return json.dumps(item, ensure_ascii=False) + "\n", item


def best(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shards", type=int, default=40)
    parser.add_argument("--lines", type=int, default=5000, help="post lines per shard (a crawl's default batch)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(0)
    shards = [[post_line(rng, s * args.lines + i + 1) for i in range(args.lines)] for s in range(args.shards)]
    with tempfile.TemporaryDirectory(prefix="acg2vec-shard-check-") as tmp:
        plain, raw = Path(tmp, "plain"), Path(tmp, "raw", "safebooru")
        plain.mkdir(parents=True)
        raw.mkdir(parents=True)

        def write_plain() -> None:
            for n, lines in enumerate(shards, start=1):
                with open(plain / f"post-r1-{n:05d}.jsonl.gz", "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb") as gz:
                    for line, _item in lines:
                        gz.write(line.encode("utf-8"))

        def write_recorded() -> None:
            for n, lines in enumerate(shards, start=1):
                shard = ShardFile(raw / f"post-r1-{n:05d}.jsonl.gz", run_id="r1")
                for line, item in lines:
                    shard.write(line, item=item)
                shard.close()

        # Each shard written whole at once, as the exporter's buffered writes end up; a fresh folder each repeat.
        t_plain = best(args.repeat, write_plain)
        t_recorded = best(args.repeat, lambda: ([p.unlink() for p in raw.glob("*.json*")], write_recorded()))
        t_scan = best(args.repeat, lambda: scan_raw(raw))
        t_check = best(args.repeat, lambda: check_shards(raw, run_id="r2", command="acg2vec crawl safebooru"))

        def rebuild() -> None:
            (raw / "manifest.json").unlink()
            check_shards(raw, run_id="r3", command="acg2vec crawl safebooru")

        t_rebuild = best(args.repeat, rebuild)
        shard_bytes = sum(p.stat().st_size for p in shard_files(raw))
        ids_bytes = sum(p.stat().st_size for p in (raw / IDS_DIR).iterdir())

    items = args.shards * args.lines
    load = os.getloadavg()
    print(f"{args.shards} shards x {args.lines:,} post lines ({items:,} items, {shard_bytes / 2**20:.1f} MiB gzip); "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; best of {args.repeat}")  # fmt: skip
    print(f"{'step':<58}{'seconds':>9}{'ratio':>9}")
    rows = [
        ("write: plain gzip shards (baseline)", t_plain, t_plain),
        ("write: ShardFile (temp, fsync, rename, ids file, record)", t_recorded, t_plain),
        ("re-run: already-have scan of every shard (baseline)", t_scan, t_scan),
        ("re-run: check_shards, manifest knows them (size, SHA-256)", t_check, t_scan),
        ("re-run: check_shards, manifest gone (read all, ids again)", t_rebuild, t_scan),
    ]
    for name, seconds, base in rows:
        print(f"{name:<58}{seconds:>9.3f}{seconds / base:>8.2f}x")
    print(f"ids files: {ids_bytes / 2**10:.0f} KiB, {ids_bytes / shard_bytes:.1%} of the shards' bytes")


if __name__ == "__main__":
    main()
