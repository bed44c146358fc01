"""``acg2vec demo`` end to end, as a new user runs it: every stage on the sample site, then a re-run.

The demo runs in a child process. Where the machine allows it, that process gets a network namespace of its own
with only the loopback interface, so the test proves the demo needs no internet, not just that it asks for none.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

STAGES = ["crawl", "build images", "build texts", "train tagger", "train deepix", "train text", "eval"]


def _offline_prefix() -> list[str]:
    """``unshare -n`` with loopback up, when this machine lets the test make a network namespace."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not unshare or not ip:
        return []
    probe = subprocess.run([unshare, "-n", ip, "link", "set", "lo", "up"], capture_output=True)
    return [unshare, "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "offline"] if probe.returncode == 0 else []


def _run_demo(workdir: Path, *options: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env["COLUMNS"] = "200"
    command = [*_offline_prefix(), sys.executable, "-m", "acg2vec.cli", "--workdir", str(workdir), "demo", *options]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _example_ids(version_dir: Path) -> dict[str, list[int]]:
    import tensorflow_datasets as tfds

    builder = tfds.builder_from_directory(str(version_dir))
    return {
        split: sorted(int(ex["id"]) for ex in tfds.as_numpy(builder.as_dataset(split=split)))
        for split in builder.info.splits
    }


# Two demo runs, each allowed 900 s by _run_demo: the suite-wide 600 s would cut the test off before either does.
@pytest.mark.timeout(1800)
def test_demo_runs_every_stage_offline_and_a_rerun_is_idempotent(tmp_path):
    workdir = tmp_path / "acg2vec-data"
    first = _run_demo(workdir)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    report = workdir / "eval" / "demo" / "report.html"
    assert f"Report: {report}" in first.stdout.replace("\n", "")
    for stage in STAGES:
        assert f"{stage}:" in first.stdout
    # A quiet console: no TensorFlow start-up lines and no tf.data runtime attribute lines (they go to the log file).
    from acg2vec.native_logs import is_native_noise

    noise = [
        line for line in first.stderr.splitlines() if is_native_noise(line) or line.startswith(("E0000", "I0000"))
    ]
    assert not noise, noise[:5]

    # Crawl: every source wrote items, and the counts add up.
    for source in ("safebooru", "bangumi", "wikipedia", "moegirl", "animelist", "pixiv"):
        runs = _read_json(workdir / "raw" / source / "manifest.json")["runs"]
        assert runs[-1]["finish_reason"] == "finished" and sum(runs[-1]["written"].values()) > 0, source

    # Image dataset: posts read = written + dropped; the splits partition the examples.
    images_dir = next((workdir / "datasets" / "acg_illustrations" / "224").glob("[0-9]*"))
    meta = _read_json(images_dir / "metadata.json")
    posts = meta["counts"]["posts"]
    assert posts["read"] == posts["written"] + posts["dropped"] and posts["written"] > 200
    ids = _example_ids(images_dir)
    assert set(ids) == {"train", "validation", "test"}
    assert sum(len(v) for v in ids.values()) == len(set().union(*map(set, ids.values())))

    # Text corpus: loadable through Hugging Face datasets from the Parquet shards.
    from datasets import load_dataset

    parquet = workdir / "datasets" / "parquet" / "acg_text_pairs"
    corpus = load_dataset("parquet", data_files={"train": str(parquet / "train" / "*.parquet")}, split="train")
    assert len(corpus) > 500 and set(corpus.column_names) >= {"anchor", "positive", "pair_type", "entity_id"}

    # Models: SavedModels with their vocabulary and thresholds; the text model folder.
    for name in ("deepdanbooru", "deepix", "illust2vec"):
        assert (workdir / "models" / name / "saved_model.pb").is_file(), name
    assert (workdir / "models" / "deepdanbooru" / "thresholds.json").is_file()
    assert (workdir / "models" / "acgvoc2vec" / "config_sentence_transformers.json").is_file()

    # acgvoc2vec, fine-tuned for 20 steps from multilingual-e5-small (8 of 12 layers frozen), on the sample corpus:
    # held-out title translation accuracy (ja->zh, zh->ja, ja->en, weighted by pairs) keeps the pretrained model's
    # lead over TF-IDF and does not lose its zero-shot start (one pair one way is about 0.017). On the entity-linked
    # split the brief fine-tuning measured 0.633, level with zero-shot, against TF-IDF 0.417 (30 pairs); before the
    # entity linking, +0.08 over zero-shot. The demo's summary says when fine-tuning does not beat its start.
    from acg2vec.demo import translation_accuracy

    trained_text = _read_json(workdir / "models" / "acgvoc2vec" / "eval_results.json")
    scores = {name: translation_accuracy(m, trained_text["eval_sets"]) for name, m in trained_text["metrics"].items()}
    assert scores["trained"] >= scores["lexical"] + 0.1, scores
    assert scores["trained"] >= scores["untrained"] - 0.07, scores
    assert trained_text["eval_sets"]["translation_ja-zh_pairs"] >= 10

    # The report: every evaluation, its plots, and results that mean something beside their baselines.
    metrics = _read_json(workdir / "eval" / "demo" / "metrics.json")
    # The image models beat the tag-frequency baseline on the test split (about 100 images at 1,000 posts): on
    # micro F1 at P=R and macro mAP, with the micro precision-recall curve above the baseline's over most of the
    # recall range. Margins are those measured (docs/benchmarks.md) less a safety allowance for run-to-run noise.
    for name in ("deepdanbooru", "deepix"):
        tagged = metrics[f"tagger:{name}"]
        model, baseline = tagged["overall"]["model"], tagged["overall"]["baseline"]
        assert tagged["images"] >= 80, tagged["images"]
        assert model["micro_f1_at_p_eq_r"] >= baseline["micro_f1_at_p_eq_r"] + 0.03, (name, model, baseline)
        assert model["macro_map"] >= baseline["macro_map"] + 0.08, (name, model, baseline)
        above = [m >= b for m, b in zip(tagged["micro_pr"]["model"], tagged["micro_pr"]["baseline"], strict=True)]
        assert sum(above) >= 6, (name, tagged["micro_pr"])
    texts = metrics["texts"]["encoders"]
    zero_shot = texts["zero-shot base model (before fine-tuning)"]["overall"]
    assert texts["acgvoc2vec"]["overall"]["mrr_at_10"] > zero_shot["mrr_at_10"]
    assert metrics["texts"]["default_scorer"] == "dense"  # a fine-tuned pretrained model ranks alone
    ann = metrics["ann"]
    assert ann["best"]["recall_at_10"] >= 0.95 and len(ann["settings"]) >= 3
    html = report.read_text(encoding="utf-8")
    assert html.count("<img") >= 5 and "ANN index fidelity" in html
    for row in ("zero-shot base model", "lexical (char n-gram TF-IDF)", "acgvoc2vec (default scorer)"):
        assert row in html, row

    # A re-run of the data stages: the crawl finds nothing new and the builds give the same examples in the same
    # splits; the models and the report of the first run stay.
    second = _run_demo(workdir, "--until", "build")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "build texts:" in second.stdout and "train tagger:" not in second.stdout
    assert "0 new items" in second.stdout and "already in raw/" in second.stdout
    assert _example_ids(images_dir) == ids
    assert report.is_file()
