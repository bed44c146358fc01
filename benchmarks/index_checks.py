"""What checking an index folder at ``serve`` start-up costs, against loading it, and what a repair from the kept
vectors costs against the first write, in one run.

    .venv/bin/python benchmarks/index_checks.py                     # 19,999 x 768 (exact Flat; 123 MB)
    .venv/bin/python benchmarks/index_checks.py --n 1000000 --dim 512 --memory-budget-gb 1

One image-index-shaped folder (vectors.npy, ids.npy, the chosen FAISS index, meta.json, CHECKSUMS.json, written
whole by ``atomic_folder``) is written once; then, each repeated ``--rounds`` times and the median kept:

- baseline: ``open_store`` (what ``serve`` does anyway: the FAISS index read, memory-mapped where it can, the ids);
- the start-up check (:func:`acg2vec.serving.startup.check_folder`: sizes and SHA-256 of every file, meta.json,
  the vectors' and ids' shapes);
- the repair of a damaged ``index.faiss`` from the kept vectors (:func:`reindex_from_vectors`), against the first
  write (embedding excluded: the vectors are given).

Printed as ratios to the baseline (check / load) and to the first write (repair / write), with the hashing rate.
Run it with the machine's load (``uptime``) noted beside the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np


def timed(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    from acg2vec.indexes.synthetic import clustered_vectors
    from acg2vec.integrity import atomic_folder
    from acg2vec.serving.indexing import reindex_from_vectors, write_vectors
    from acg2vec.serving.startup import check_folder
    from acg2vec.serving.stores import open_store

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=19_999)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-budget-gb", type=float, default=None)
    parser.add_argument("--out", default=None, help="Folder to write in (default: a temporary one).")
    args = parser.parse_args()
    budget = None if args.memory_budget_gb is None else int(args.memory_budget_gb * 1024**3)
    root = args.out or tempfile.mkdtemp(prefix="index-checks-")
    folder = os.path.join(root, "images")
    vectors = clustered_vectors(args.n, args.dim, seed=0).astype(np.float32)
    meta = {"kind": "images", "model": "synthetic", "dataset": "synthetic", "checksums": "CHECKSUMS.json"}

    def write() -> None:
        with atomic_folder(folder) as tmp:
            write_vectors(str(tmp), np.arange(args.n), vectors, meta, memory_budget=budget)

    start = time.perf_counter()
    write()
    first_write = time.perf_counter() - start
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    load = timed(lambda: open_store(folder).close(), args.rounds)
    check = timed(lambda: check_folder(folder), args.rounds)
    assert check_folder(folder) is None
    repair = timed(lambda: reindex_from_vectors(folder), 1)
    factory = open_store(folder).meta["factory"]
    print(f"folder: {args.n:,} x {args.dim} ({factory}), {size / 1e6:,.0f} MB on disk, in {root}")
    print(f"load (open_store, baseline): {load:.3f} s")
    print(
        f"start-up check (check_folder): {check:.3f} s = {check / load:.2f}x the load; hashing {size / check / 1e6:,.0f} MB/s"
    )
    print(f"first write (index chosen and written, vectors given): {first_write:.2f} s")
    print(
        f"repair from the kept vectors (reindex_from_vectors): {repair:.2f} s = {repair / first_write:.2f}x the first write"
    )


if __name__ == "__main__":
    main()
