"""``acg2vec build images``: raw/safebooru (+ raw/pixiv) -> datasets/acg_illustrations/<size>/<version>/."""

from __future__ import annotations

import typer

from acg2vec.errors import UserError

_RATINGS = "general,sensitive,questionable,explicit"


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def build_images(
    config: str = typer.Option(
        "224", "--config", "--size", help="Builder config: image size (224, 448, 512; 64 for tests)."
    ),
    ratings: str = typer.Option(_RATINGS, help="Ratings to keep, comma-separated."),
    statuses: str = typer.Option("active", help="Post statuses to keep (posts without a status are kept)."),
    min_side: int = typer.Option(256, help="Minimum shorter side of the original image, in pixels."),
    min_general_tags: int = typer.Option(10, help="Minimum general tags a post needs."),
    banned_tags: str = typer.Option("", help="Posts with any of these tags are dropped (comma-separated)."),
    splits: str = typer.Option(
        "train=0-900,validation=900-950,test=950-1000",
        help="Split ranges of post id mod --split-modulus (must cover 0 to the modulus).",
    ),
    split_modulus: int = typer.Option(1000, help="Modulus of the id split (10 suits a crawl of a few hundred ids)."),
    holdout_from_id: int = typer.Option(None, help="Posts with this id or newer go to a 'holdout' split."),
    min_images_per_tag: int = typer.Option(20, help="Vocabulary: a tag needs this many train images."),
    max_general: int = typer.Option(5000, help="Vocabulary cap: general tags."),
    max_character: int = typer.Option(2000, help="Vocabulary cap: character tags."),
    max_copyright: int = typer.Option(500, help="Vocabulary cap: copyright tags."),
    max_artist: int = typer.Option(0, help="Vocabulary cap: artist tags."),
    max_pixels: int = typer.Option(64_000_000, help="Decompression-bomb limit: larger images are dropped."),
    shard_mb: int = typer.Option(256, help="Target TFRecord shard size in MiB."),
    runner: str = typer.Option(
        "direct", help="Beam runner: direct (local, every core), DataflowRunner, FlinkRunner, ..."
    ),
    workers: int = typer.Option(None, help="Local worker processes (default: every core)."),
    mode: str = typer.Option(
        "multi_processing", help="Local running mode: multi_processing, multi_threading, in_memory."
    ),
    dry_run_dataflow: str = typer.Option(
        None, help="Write the Dataflow job description to this JSON file instead of building (submits nothing)."
    ),
    pipeline_args: list[str] = typer.Argument(
        None, help="Extra Beam pipeline options after `--`, e.g. -- --project=p --region=r --temp_location=gs://b/tmp"
    ),
) -> None:
    from acg2vec.beam_pipelines.image_build import run_build
    from acg2vec.beam_pipelines.images import ImageBuildConfig, PostFilters, SplitRules
    from acg2vec.beam_pipelines.options import RunnerConfig
    from acg2vec.beam_pipelines.vocabulary import VocabularyRules
    from acg2vec.cli_common import workspace
    from acg2vec.crawlers.items import RATINGS
    from acg2vec.datasets.acg_illustrations.acg_illustrations_dataset_builder import Builder
    from acg2vec.logs import console

    if config not in Builder.builder_configs:
        raise UserError(f"Unknown config {config!r}; choose one of {', '.join(sorted(Builder.builder_configs))}.")
    unknown = set(_csv(ratings)) - set(RATINGS)
    if unknown:
        raise UserError(f"Unknown rating(s) {', '.join(sorted(unknown))}; choose from {', '.join(RATINGS)}.")
    build_config = ImageBuildConfig(
        size=int(config),
        filters=PostFilters(
            ratings=_csv(ratings),
            statuses=_csv(statuses),
            min_side=min_side,
            min_general_tags=min_general_tags,
            banned_tags=_csv(banned_tags),
        ),
        splits=SplitRules.parse(splits, holdout_from_id, split_modulus),
        vocabulary=VocabularyRules(
            min_images=min_images_per_tag,
            caps={
                "general": max_general,
                "character": max_character,
                "copyright": max_copyright,
                "artist": max_artist,
            },
        ),
        max_pixels=max_pixels,
    )
    runner_config = RunnerConfig(runner=runner, workers=workers, mode=mode, args=tuple(pipeline_args or ()))
    result = run_build(
        workspace(),
        build_config,
        runner=runner_config,
        shard_bytes=shard_mb * 1024 * 1024,
        dry_run_dataflow=dry_run_dataflow,
    )
    if result.job_file:
        console.print(f"Dataflow job description written to {result.job_file} (not submitted).")
        return
    posts = result.counts.get("posts", {})
    console.print(f"acg_illustrations/{config} written to {result.out_dir} in {result.seconds:.1f}s")
    console.print(
        f"posts read {posts.get('lines_read', posts.get('read', 0))} = written {posts.get('written', 0)}"
        f" + dropped {posts.get('dropped', 0)}"
    )
    console.print("examples per split: " + ", ".join(f"{k} {v}" for k, v in result.splits.items()))
    for reason, count in sorted(posts.get("by_reason", {}).items()):
        console.print(f"  dropped {reason}: {count}")
