"""``acg2vec build images|texts``: raw items -> TFDS datasets with Apache Beam.

- images: raw/safebooru (+ raw/pixiv) -> datasets/acg_illustrations/<size>/<version>/
- texts: raw/<every text source> -> datasets/acg_text_pairs/<version>/ + zstd Parquet
"""

from __future__ import annotations

import re

import typer

from acg2vec.commands.state import workspace
from acg2vec.errors import UserError
from acg2vec.vocabularies import RATINGS

_RATINGS = ",".join(RATINGS)

# The runner options, defined once: both builds take exactly these, with the same meaning.
RUNNER = typer.Option(
    "direct", "--runner", help="Beam runner: direct (local, explicit), DataflowRunner, FlinkRunner, SparkRunner ..."
)
WORKERS = typer.Option(0, "--workers", min=0, help="Local worker processes (0 = every core).")
MODE = typer.Option(
    "multi_processing", "--mode", help="Local running mode: multi_processing, multi_threading or in_memory."
)
BUCKETS = typer.Option(
    0, "--buckets", min=0, help="Hash buckets of the flat-memory passes (0 = one per 4 MiB of compressed raw input)."
)
DRY_RUN_DATAFLOW = typer.Option(
    None,
    "--dry-run-dataflow",
    help="Write the Dataflow job description to this JSON file instead of building (submits nothing).",
)
PIPELINE_ARGS = typer.Argument(
    None,
    help="Extra Beam pipeline options after `--`, passed through unchanged, "
    "e.g. -- --project=p --region=r --temp_location=gs://b/tmp",
    show_default=False,
)


def _runner_config(runner: str, workers: int, mode: str, pipeline_args: list[str] | None):
    from acg2vec.beam_pipelines.options import RunnerConfig

    return RunnerConfig(runner=runner, workers=workers or None, mode=mode, args=tuple(pipeline_args or ()))


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def build_images(
    config: str = typer.Option(
        "224", "--config", "--size", help="Builder config: image size (224, 448, 512; 64 for tests)."
    ),
    ratings: str = typer.Option(_RATINGS, help="Ratings to keep, comma-separated."),
    statuses: str = typer.Option("active", help="Post statuses to keep (posts without a status are kept)."),
    min_side: int = typer.Option(256, min=1, help="Minimum shorter side of the original image, in pixels."),
    min_general_tags: int = typer.Option(10, min=0, help="Minimum general tags a post needs."),
    banned_tags: str = typer.Option("", help="Posts with any of these tags are dropped (comma-separated)."),
    splits: str = typer.Option(
        "train=0-900,validation=900-950,test=950-1000",
        help="Split ranges of post id mod --split-modulus (must cover 0 to the modulus).",
    ),
    split_modulus: int = typer.Option(
        1000, min=1, help="Modulus of the id split (10 suits a crawl of a few hundred ids)."
    ),
    holdout_from_id: int = typer.Option(None, min=0, help="Posts with this id or newer go to a 'holdout' split."),
    min_images_per_tag: int = typer.Option(20, min=1, help="Vocabulary: a tag needs this many train images."),
    max_general: int = typer.Option(5000, min=0, help="Vocabulary cap: general tags."),
    max_character: int = typer.Option(2000, min=0, help="Vocabulary cap: character tags."),
    max_copyright: int = typer.Option(500, min=0, help="Vocabulary cap: copyright tags."),
    max_artist: int = typer.Option(0, min=0, help="Vocabulary cap: artist tags."),
    max_pixels: int = typer.Option(64_000_000, min=1, help="Decompression-bomb limit: larger images are dropped."),
    shard_mb: int = typer.Option(256, min=1, help="Target TFRecord shard size in MiB."),
    runner: str = RUNNER,
    workers: int = WORKERS,
    mode: str = MODE,
    buckets: int = BUCKETS,
    dry_run_dataflow: str = DRY_RUN_DATAFLOW,
    pipeline_args: list[str] = PIPELINE_ARGS,
) -> None:
    """Build the image/tag dataset acg_illustrations/<size> from raw/safebooru (+ raw/pixiv popularity).

    Writes <workdir>/datasets/acg_illustrations/<size>/<version>/ (TFDS: TFRecord shards, dataset_info.json,
    selected_tags.csv, metadata with every drop count, a dataset card, dead letters in dead_letters/).
    """
    from acg2vec.datasets.acg_illustrations.acg_illustrations_dataset_builder import Builder
    from acg2vec.datasets.acg_illustrations.build import run_build
    from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig, PostFilters, SplitRules
    from acg2vec.datasets.acg_illustrations.vocabulary import VocabularyRules
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
    result = run_build(
        workspace(),
        build_config,
        runner=_runner_config(runner, workers, mode, pipeline_args),
        shard_bytes=shard_mb * 1024 * 1024,
        dry_run_dataflow=dry_run_dataflow,
        num_buckets=buckets,
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


_RANGE = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")
BOUNDS_FORMAT = "PAIR_TYPE=MIN:MAX (positive side) or PAIR_TYPE=MIN:MAX,MIN:MAX (anchor, positive)"


def _range(text: str, value: str) -> tuple[int, int]:
    match = _RANGE.match(text)
    if not match:
        raise UserError(f"--bounds {value!r}: {text.strip()!r} is not MIN:MAX; expected {BOUNDS_FORMAT}.")
    low, high = int(match.group(1)), int(match.group(2))
    if low > high:
        raise UserError(f"--bounds {value!r}: the minimum {low} is above the maximum {high}.")
    return low, high


def parse_bounds(values: list[str] | None) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
    """``--bounds`` values -> ``TextPairsConfig.pair_type_bounds``; a malformed value is a one-line UserError.

    One range bounds the positive side (the one that is usually long) and leaves the anchor at its side kind's
    default, so ``title_ja-summary=10:800`` means what it reads as: summaries of 10 to 800 characters.
    """
    from acg2vec.datasets.acg_text_pairs.records import DEFAULT_SIDE_BOUNDS
    from acg2vec.datasets.acg_text_pairs.schema import PAIR_TYPES

    bounds: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {}
    for value in values or []:
        pair_type, sep, ranges = value.partition("=")
        pair_type = pair_type.strip()
        if not sep or not pair_type or not ranges.strip():
            raise UserError(f"--bounds {value!r} is malformed; expected {BOUNDS_FORMAT}.")
        if pair_type not in PAIR_TYPES:
            raise UserError(f"--bounds {value!r}: unknown pair type {pair_type!r} (known: {', '.join(PAIR_TYPES)}).")
        if pair_type in bounds:
            raise UserError(f"--bounds gives {pair_type} twice; give each pair type once.")
        parts = ranges.split(",")
        if len(parts) > 2:
            raise UserError(f"--bounds {value!r} has {len(parts)} ranges; expected {BOUNDS_FORMAT}.")
        if len(parts) == 1:
            anchor = DEFAULT_SIDE_BOUNDS[PAIR_TYPES[pair_type][0]]
            positive = _range(parts[0], value)
        else:
            anchor, positive = _range(parts[0], value), _range(parts[1], value)
        bounds[pair_type] = (anchor, positive)
    return bounds


def build_texts(
    near_dup: bool = typer.Option(
        True, "--near-dup/--no-near-dup", help="MinHash near-duplicate removal of summaries."
    ),
    sources: str = typer.Option(
        ",".join(("bangumi", "animelist", "wikipedia", "moegirl", "pixiv")),
        help="Comma-separated raw sources to read.",
    ),
    keep_temp: bool = typer.Option(False, "--keep-temp", help="Keep the intermediate bucket files (for debugging)."),
    bounds: list[str] = typer.Option(
        None,
        "--bounds",
        help="Length bounds of one pair type in characters, repeatable: "
        "title_ja-summary=10:800 (positive side) or title_ja-title_en=1:50,1:80 (anchor, positive).",
    ),
    runner: str = RUNNER,
    workers: int = WORKERS,
    mode: str = MODE,
    buckets: int = BUCKETS,
    dry_run_dataflow: str = DRY_RUN_DATAFLOW,
    pipeline_args: list[str] = PIPELINE_ARGS,
) -> None:
    """Build the multilingual text-pair corpus from every source's raw items.

    Writes <workdir>/datasets/acg_text_pairs/<version>/ (TFDS; `tfds.load('acg_text_pairs', data_dir=<workdir>/datasets)`
    after `import acg2vec.datasets.acg_text_pairs`), <workdir>/datasets/parquet/acg_text_pairs/<split>/ (zstd Parquet for
    `datasets.load_dataset('parquet', ...)`), a dataset card, build_metadata.json with every drop count, and
    dead-letter files beside it.
    """
    from acg2vec.datasets.acg_text_pairs.build import accounting, build_text_pairs
    from acg2vec.datasets.acg_text_pairs.records import TextPairsConfig
    from acg2vec.logs import console

    chosen = tuple(s.strip() for s in sources.split(",") if s.strip())
    if not chosen:
        raise UserError("--sources is empty; name at least one raw source.")
    pair_type_bounds = parse_bounds(bounds)
    ws = workspace()
    config = TextPairsConfig(sources=chosen, num_buckets=buckets, near_dup=near_dup, pair_type_bounds=pair_type_bounds)
    report = build_text_pairs(
        ws.raw(),
        ws.datasets(),
        config=config,
        runner=_runner_config(runner, workers, mode, pipeline_args),
        keep_temp=keep_temp,
        dry_run_dataflow=dry_run_dataflow,
    )
    if report.job_file:
        console.print(f"Dataflow job descriptions written to {report.job_file} (not submitted).")
        return
    balance = accounting(report.counters)
    splits = ", ".join(f"{split} {n}" for split, n in report.split_rows.items())
    console.print(f"acg_text_pairs: {splits} rows in {report.seconds:.0f} s -> {report.out_dir}")
    console.print(
        f"  lines {balance['lines_read']} = items {balance['items_parsed']} + bad {balance['lines_dropped']}; "
        f"pairs {balance['pair_candidates']} = written {balance['pairs_written']} + dropped {balance['pairs_dropped']}"
    )
    console.print(f"  card: {report.out_dir}/README.md; Parquet: {report.parquet_root}/parquet/acg_text_pairs/")
