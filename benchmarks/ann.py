"""ANN benchmark on generated clustered vectors: the chosen FAISS index against exact search, in one run.

    .venv/bin/python benchmarks/ann.py                 # 1,000,000 x 512, 4 GiB budget (several minutes)
    .venv/bin/python benchmarks/ann.py --n 100000      # smaller, about a minute

Target: recall@10 >= 0.95 at >= 30x the exact single-thread QPS within the memory budget; the whole
recall-QPS curve is printed and plotted either way. Vectors are cached under --out as .npy (float32).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import numpy as np

from acg2vec.evaluation.ann_benchmark import AnnConfig, ann_section, clustered_vectors, run_ann_benchmark
from acg2vec.evaluation.faiss_index import GIB, choose_index, nlist_for, pq_m_for
from acg2vec.evaluation.report import write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="Number of vectors (queries come on top).")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--budget-gb", type=float, default=4.0, help="Memory budget of the index in GiB.")
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument("--target-speedup", type=float, default=30.0)
    parser.add_argument("--max-ms", type=float, default=None, help="Latency target: best recall within it.")
    parser.add_argument(
        "--extra", action="append", default=None, help="Another factory string to compare (repeatable)."
    )
    parser.add_argument("--only-chosen", action="store_true", help="Measure the chosen index alone (no comparison).")
    parser.add_argument("--out", default="/tmp/acg2vec-ann", help="Folder for the cached vectors, plot and report.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.makedirs(args.out, exist_ok=True)

    cache = os.path.join(args.out, f"clustered-{args.n + args.queries}x{args.dim}-seed{args.seed}.npy")
    start = time.perf_counter()
    if os.path.exists(cache):
        data = np.load(cache, mmap_mode="r")
    else:
        data = clustered_vectors(args.n + args.queries, args.dim, seed=args.seed)
        np.save(cache, data)
    print(
        f"data: {data.shape[0]:,} x {data.shape[1]} clustered vectors in {time.perf_counter() - start:.1f} s ({cache})"
    )
    vectors, queries = np.asarray(data[: args.n]), np.asarray(data[args.n :])

    budget = int(args.budget_gb * GIB)
    extra = args.extra
    if args.only_chosen:
        extra = []
    elif extra is None:
        # By default compare the chosen index with the other family of the rules at this size.
        chosen = choose_index(args.n, args.dim, memory_budget=budget).factory
        nlist = nlist_for(args.n)
        candidates = [f"IVF{nlist},PQ{pq_m_for(args.dim, 2)}x4fs,RFlat", f"IVF{nlist},Flat"]
        if args.n <= 200_000:
            candidates.append("HNSW32")
        extra = [c for c in candidates if c != chosen][:1]
    config = AnnConfig(
        n_queries=args.queries,
        memory_budget=budget,
        target_recall=args.target_recall,
        target_speedup=args.target_speedup,
        max_ms_per_query=args.max_ms,
        extra_factories=tuple(extra),
        seed=args.seed,
    )
    result = run_ann_benchmark(vectors, queries, config=config, out_dir=args.out)
    section = ann_section(result, plot=os.path.join(args.out, "ann_recall_qps.png"))
    paths = write_report(args.out, [section], title="acg2vec ANN benchmark")

    table = section.tables[0]
    widths = [max(len(str(c)), *(len(str(r[i])) for r in table.rows)) for i, c in enumerate(table.columns)]
    print("  ".join(str(c).ljust(w) for c, w in zip(table.columns, widths, strict=True)))
    for row in table.rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    best = result.best
    print(
        f"\nexact single-thread QPS {result.exact.qps_single:.1f} (mean of "
        f"{', '.join(f'{q:.1f}' for q in result.exact_qps_single_runs)}, at the start and the end); best {best.index} {best.params}: "
        f"recall@10 {best.recall_at_10:.3f}, {best.qps_single:,.0f} QPS, ratio {result.speedup:.1f}x exact; "
        f"{best.bytes / GIB:.2f} GiB. Target ({result.target}): {'met' if result.target_met else 'NOT met'}."
    )
    print(f"report: {paths['markdown']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
