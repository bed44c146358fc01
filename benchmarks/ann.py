"""ANN benchmark: the index the chooser picks by measurement against exact search, in one run.

    .venv/bin/python benchmarks/ann.py --generator latent --budget-gb 1    # the harder data: 1M x 512, 1 GiB
    .venv/bin/python benchmarks/ann.py                                     # 1M x 512 clustered (48-d latent)
    .venv/bin/python benchmarks/ann.py --n 100000                          # smaller, a few minutes
    .venv/bin/python benchmarks/ann.py --vectors embeddings.npy --metric ip   # real vectors (`acg2vec embed`)

Generators: ``clustered`` (Zipf-sized clusters in a 48-d latent space, the easy case) and ``latent`` (2,000 broad
Gaussian clusters in a 256-d latent space, randomly projected, plus noise, unit length: neighbours spread over many
IVF lists and product quantization loses more). ``--latent-dim`` and ``--spread`` set the intrinsic dimension and
the cluster spread. Generated vectors are cached under --out as .npy (float32).

Target: recall@10 >= 0.95 at >= 100x the exact single-thread QPS within the memory budget. The chooser's measured
curve of every candidate and the chosen index's curve on the held-out queries are printed and plotted either way.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import numpy as np

from acg2vec.evaluation.ann_benchmark import AnnConfig, ann_section, run_ann_benchmark
from acg2vec.evaluation.report import write_report
from acg2vec.indexes.candidates import GIB, ChooserConfig
from acg2vec.indexes.index_choice import MeasureConfig
from acg2vec.indexes.synthetic import clustered_vectors, latent_clusters


def load_vectors(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    """Base vectors, held-out queries and a description of where they came from."""
    if args.vectors:
        data = np.load(args.vectors, mmap_mode="r")
        if data.ndim != 2 or len(data) < 20:
            raise SystemExit(f"{args.vectors} must hold a 2-d array of at least 20 vectors, not shape {data.shape}.")
        data = np.asarray(data, dtype=np.float32)
        if args.metric == "ip":  # the acg2vec encoders are compared by cosine
            data = data / np.maximum(np.linalg.norm(data, axis=1, keepdims=True), 1e-12)
        # Queries are a random sample held out of the file (its rows may be ordered by post or by work).
        rng = np.random.default_rng(args.seed)
        nq = min(args.queries, max(1, len(data) // 10))
        held = np.zeros(len(data), dtype=bool)
        held[rng.choice(len(data), size=nq, replace=False)] = True
        return data[~held], data[held], f"{args.vectors} ({len(data):,} x {data.shape[1]})"
    total = args.n + args.queries
    if args.generator == "latent":
        name = f"latent{args.latent_dim}-c{args.clusters}-s{args.spread:g}-{total}x{args.dim}-seed{args.seed}.npy"
    else:
        name = f"clustered-{total}x{args.dim}-seed{args.seed}.npy"
    cache = os.path.join(args.out, name)
    if os.path.exists(cache):
        data = np.load(cache, mmap_mode="r")
    elif args.generator == "latent":
        data = latent_clusters(
            total, args.dim, latent_dim=args.latent_dim, n_clusters=args.clusters, spread=args.spread, seed=args.seed
        )
        np.save(cache, data)
    else:
        data = clustered_vectors(total, args.dim, seed=args.seed)
        np.save(cache, data)
    return np.asarray(data[: args.n]), np.asarray(data[args.n :]), f"{args.generator} generator ({cache})"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="Number of vectors (queries come on top).")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--generator", choices=["clustered", "latent"], default="clustered")
    parser.add_argument("--latent-dim", type=int, default=256, help="Intrinsic dimension of the latent generator.")
    parser.add_argument("--clusters", type=int, default=2000, help="Clusters of the latent generator.")
    parser.add_argument("--spread", type=float, default=1.0, help="Cluster spread of the latent generator.")
    parser.add_argument("--vectors", default=None, help="A .npy float array (n, dim) of real embeddings instead.")
    parser.add_argument("--metric", choices=["l2", "ip"], default=None, help="Default: ip for unit vectors, else l2.")
    parser.add_argument("--budget-gb", type=float, default=4.0, help="Memory budget of the index in GiB.")
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument("--target-speedup", type=float, default=100.0)
    parser.add_argument("--max-ms", type=float, default=None, help="Latency target (single-thread ms per query).")
    parser.add_argument("--extra", action="append", default=[], help="Another factory string to compare (repeatable).")
    parser.add_argument("--screen-n", type=int, default=200_000, help="Vectors the candidates are compared on.")
    parser.add_argument("--seconds-per-candidate", type=float, default=30.0, help="Time budget of each sweep.")
    parser.add_argument("--no-opq", dest="opq", action="store_false", help="Leave out the OPQ-rotated candidates.")
    parser.add_argument(
        "--flat-max", type=int, default=None, help="Exact search below this many vectors (0: always measure IVF)."
    )
    parser.add_argument("--hnsw-max", type=int, default=None, help="HNSW32 candidate up to this many vectors.")
    parser.add_argument("--out", default="/tmp/acg2vec-ann", help="Folder for the cached vectors, plot and report.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.metric is None:
        args.metric = "ip" if args.generator == "latent" or args.vectors else "l2"
    return args


def ann_config(args: argparse.Namespace, n_queries: int) -> AnnConfig:
    """The benchmark's settings from the command line (the chooser's thresholds only where given)."""
    return AnnConfig(
        n_queries=n_queries,
        memory_budget=int(args.budget_gb * GIB),
        target_recall=args.target_recall,
        target_speedup=args.target_speedup,
        max_ms_per_query=args.max_ms,
        extra_factories=tuple(args.extra),
        metric=args.metric,
        seed=args.seed,
        measure=MeasureConfig(
            screen_n=args.screen_n,
            seconds_per_candidate=args.seconds_per_candidate,
            opq=args.opq,
            chooser=ChooserConfig(
                **{
                    key: value
                    for key, value in (("flat_max", args.flat_max), ("hnsw_max", args.hnsw_max))
                    if value is not None
                }
            ),
        ),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    vectors, queries, source = load_vectors(args)
    print(f"data: {len(vectors):,} x {vectors.shape[1]} + {len(queries):,} queries from {source}", end=" ")
    print(f"in {time.perf_counter() - start:.1f} s; load: {os.getloadavg()[0]:.1f} (1-min average)")
    config = ann_config(args, len(queries))
    result = run_ann_benchmark(vectors, queries, config=config, out_dir=args.out)
    section = ann_section(result, plot=os.path.join(args.out, "ann_recall_qps.png"))
    paths = write_report(args.out, [section], title="acg2vec ANN benchmark")
    print_tables(section)
    print_verdict(result)
    print(f"report: {paths['markdown']}")
    return 0


def print_tables(section) -> None:
    for table in section.tables:
        widths = [max(len(str(c)), *(len(str(r[i])) for r in table.rows)) for i, c in enumerate(table.columns)]
        print("  ".join(str(c).ljust(w) for c, w in zip(table.columns, widths, strict=True)))
        for row in table.rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
        print()


def print_verdict(result) -> None:
    best, chooser = result.best, result.chooser
    print(
        f"chosen: {chooser['factory']} {chooser['params']} ({chooser['reason']}); built in "
        f"{chooser['build_seconds']:.0f} s"
    )
    print(
        f"exact single-thread QPS {result.exact.qps_single:.1f} (mean of "
        f"{', '.join(f'{q:.1f}' for q in result.exact_qps_single_runs)}, at the start and the end); chosen "
        f"{best.index} {best.params} on the held-out queries: recall@10 {best.recall_at_10:.3f}, "
        f"{best.qps_single:,.0f} QPS, ratio {result.speedup:.1f}x exact; {best.bytes / GIB:.2f} GiB. "
        f"Target ({result.target}): {'met' if result.target_met else 'NOT met'}; load {os.getloadavg()[0]:.1f}."
    )


if __name__ == "__main__":
    sys.exit(main())
