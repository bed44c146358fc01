"""The main job: every stage end to end, offline, on the bundled sample site.

``acg2vec demo`` starts the sample site on 127.0.0.1, crawls every source from it, builds both datasets, trains
the taggers, deepix / illust2vec and the text encoder briefly, evaluates them, writes the report and stops the
site. Each stage reads the previous stage's files under the workdir, exactly as the separate commands do; the
demo only chooses small settings so the whole run fits in a few minutes on a laptop CPU.

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


@dataclass(slots=True)
class DemoConfig:
    """Small settings that keep the demo within a few minutes on 2 CPU cores."""

    seed: int = 0
    # 1,000 posts give a test split of about 100 images (8 / 1 / 1 tenths), enough for the tagger's figures
    # beside the baseline to mean something; 300 left 27 test images.
    posts: int = 1000
    image_size: int = 128
    tagger: str = "deepdanbooru"
    tagger_epochs: int = 8
    deepix_epochs: int = 3
    batch_size: int = 32
    text_epochs: int = 4
    text_batch_size: int = 32
    ann_vectors: int = 20_000
    run_name: str = "demo"
    # The last stage group to run: "crawl", "build", "train" or "eval" (all of them).
    until: str = "eval"


# The demo's stage groups in order; `acg2vec demo --until build` stops once both datasets are published.
STAGE_GROUPS = ("crawl", "build", "train", "eval")


# The smallest acg_illustrations builder config; the trainers resize to DemoConfig.image_size on the fly.
DATASET_SIZE = 224


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
    ("bangumi", "bangumi", {"subject_type": 2, "characters": "1"}),
    ("wikipedia", "wikipedia/zh", {"lang": "zh"}),
    ("wikipedia", "wikipedia/ja", {"lang": "ja"}),
    ("wikipedia", "wikipedia/en", {"lang": "en"}),
    ("moegirl", "moegirl", {}),
    ("animelist", "jikan", {"mode": "jikan", "characters": "1"}),
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


def build_images(ws: Workspace, config: DemoConfig) -> tuple[str, str, dict[str, Any]]:
    """acg_illustrations/224 from the crawled posts, with rules sized for a few hundred sample posts."""
    from acg2vec.datasets.acg_illustrations.build import build
    from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig, PostFilters, SplitRules
    from acg2vec.datasets.acg_illustrations.vocabulary import VocabularyRules

    build_config = ImageBuildConfig(
        size=DATASET_SIZE,
        # The sample posts carry 6-40 general tags and ids 1..posts: a modulus of 10 gives 8 / 1 / 1 tenths.
        filters=PostFilters(min_general_tags=6),
        splits=SplitRules(ranges={"train": (0, 8), "validation": (8, 9), "test": (9, 10)}, modulus=10),
        vocabulary=VocabularyRules(min_images=5),
    )
    result = build(ws, build_config)
    return result.out_dir, result.summary(), {"splits": result.splits, "posts": result.counts.get("posts", {})}


def build_texts(ws: Workspace) -> tuple[str, str, dict[str, Any]]:
    """acg_text_pairs (TFDS + Parquet) from every text source's raw items."""
    from acg2vec.datasets.acg_text_pairs.build import build

    result = build(ws)
    return result.out_dir, result.summary(), {"splits": result.splits, "accounting": result.counts["accounting"]}


def _image_config(name: str, ws: Workspace, config: DemoConfig, epochs: int):
    from acg2vec.trainers.image import configs

    train_config = configs.CONFIGS[name]()
    train_config.data_dir = ws.datasets()
    train_config.dataset = f"acg_illustrations/{DATASET_SIZE}"
    train_config.image_size = config.image_size
    train_config.batch_size = config.batch_size
    train_config.epochs = epochs
    # Early stopping needs a few epochs of patience to mean anything; the demo trains for a fixed budget.
    train_config.patience = epochs
    train_config.deterministic = True
    train_config.seed = config.seed
    return train_config


def train_tagger(ws: Workspace, config: DemoConfig) -> tuple[str, str, dict[str, Any]]:
    """A small DeepDanbooru tagger (the sample_tiny experiment) at the demo's image size."""
    from acg2vec.trainers.image.train import train

    train_config = _image_config("sample_tiny", ws, config, config.tagger_epochs)
    train_config.model_dir = ws.models(train_config.model)
    with native_stderr_filtered():
        result = train(train_config)
    m = result.metrics
    summary = (
        f"validation macro mAP {m.get('val_macro_map', float('nan')):.3f} "
        f"(tag-frequency baseline {m.get('baseline_macro_map', float('nan')):.3f})"
    )
    return result.model_dir, summary, dict(m)


# Where the demo cuts its DeepDanbooru tagger (sample_tiny: resnet v3 at depth 0.05, one block per stage) for
# deepix: its last activation, the features its own tag head reads, so the deepix heads start from everything the
# tagger learned (an earlier 4x4 map left deepix level with the tag-frequency baseline).
DEEPIX_CUT = "activation_36"


def train_deepix(ws: Workspace, config: DemoConfig) -> tuple[str, str, dict[str, Any]]:
    """deepix (tags, rating and popularity heads on one encoder) and its illust2vec encoder.

    As in the original recipe, the encoder is the trained DeepDanbooru tagger cut at a layer, learning slowly
    (1e-5) while the heads learn fast (1e-2).
    """
    from acg2vec.trainers.image.export import KERAS_MODEL_FILE
    from acg2vec.trainers.image.train import train

    train_config = _image_config("sample_deepix_tiny", ws, config, config.deepix_epochs)
    train_config.model_options = {
        "init_from": f"{ws.models('deepdanbooru')}/{KERAS_MODEL_FILE}",
        "encoder_layer": DEEPIX_CUT,
        "head_filters": 32,
    }
    train_config.model_dir = ws.models("deepix")
    train_config.illust2vec_dir = ws.models("illust2vec")
    with native_stderr_filtered():
        result = train(train_config)
    m = result.metrics
    summary = (
        f"validation macro mAP {m.get('val_macro_map', float('nan')):.3f} "
        f"(baseline {m.get('baseline_macro_map', float('nan')):.3f}); illust2vec in {ws.models('illust2vec')}"
    )
    return result.model_dir, summary, dict(m)


def train_text(ws: Workspace, config: DemoConfig, *, quiet: bool) -> tuple[str, str, dict[str, Any]]:
    """acgvoc2vec from scratch (no download): the default recipe at demo size (a 128-wide BERT, a few epochs)."""
    import dataclasses

    from acg2vec.trainers.text.base_model import SmallModelConfig
    from acg2vec.trainers.text.configs import default_recipe
    from acg2vec.trainers.text.train import train_text_model

    # Script normalisation, the symmetric loss and mined look-alike negatives as in the default recipe; the
    # model and the epochs are cut to the demo's minutes.
    text_config = dataclasses.replace(
        default_recipe(),
        data_dir=ws.datasets(),
        output=ws.models("acgvoc2vec"),
        cache_dir=str(Path(ws.root) / "cache" / "hf_datasets"),
        small=SmallModelConfig(),
        batch_size=config.text_batch_size,
        epochs=config.text_epochs,
        learning_rate=1e-3,
        eval_steps=50,
        save_steps=50,
        seed=config.seed,
        quiet=quiet,
    )
    result = train_text_model(text_config)
    shown = ", ".join(
        f"{name} {translation_accuracy(result.metrics.get(name, {}), result.eval_sets):.3f}"
        for name in ("lexical", "untrained", "trained")
    )
    summary = f"held-out title translation accuracy: {shown}" if shown else f"{result.global_step} steps"
    return result.output, summary, {"metrics": result.metrics, "steps": result.global_step}


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
    for name in ("deepdanbooru", "deepix"):
        # The test split: the trainers tuned thresholds.json on validation.
        metrics = evaluate_tagger(ws.models(name), images_dir, run_dir, split="test")
        sections.append(tagger_section(metrics))
        details[f"tagger:{name}"] = metrics["overall"]["model"]["macro_map"]
    image_metrics = evaluate_image_retrieval(
        ws.models("illust2vec"), images_dir, run_dir, config=ImageRetrievalConfig(split="validation")
    )
    sections.append(images_section(image_metrics))
    text_metrics = evaluate_text_retrieval(
        ws.models("acgvoc2vec"), ws.datasets(), run_dir, config=TextRetrievalConfig(max_queries_per_type=500)
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
        run.run_stage("build images", lambda: build_images(ws, config))
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


DEMO_MODELS = ("deepdanbooru", "deepix", "illust2vec", "acgvoc2vec")


def clean_demo_outputs(ws: Workspace, run_name: str = "demo") -> None:
    """Remove what an earlier demo run trained and reported, so a re-run trains from scratch.

    Only the demo's own outputs go (its four model folders and eval/<run_name>); raw/ is kept and reused,
    and anything else under models/ or eval/ is left alone.
    """
    for path in (*(ws.models(name) for name in DEMO_MODELS), ws.eval(run_name)):
        shutil.rmtree(path, ignore_errors=True)
