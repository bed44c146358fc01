"""``acg2vec build images|texts|entities``: raw items -> TFDS datasets with Apache Beam, and the entity table.

- images: raw/safebooru (+ raw/pixiv) -> datasets/acg_illustrations/<size>/<version>/
- texts: raw/<every text source> -> datasets/acg_text_pairs/<version>/ + zstd Parquet

Every option defaults to None: the build's config dataclass (``ImageBuildConfig``, ``TextPairsConfig``) and
``BuildOptions`` own the values, and an option the user gives overrides its field
(:func:`acg2vec.commands.options.apply_overrides`). Both commands print the build's ``BuildResult.summary``.
"""

from __future__ import annotations

import re

import typer

from acg2vec.commands.options import apply_overrides
from acg2vec.commands.state import workspace
from acg2vec.errors import UserError
from acg2vec.vocabularies import RATINGS

app = typer.Typer(help="Build TFDS datasets from raw crawl items with Apache Beam.", no_args_is_help=True)

# The runner options, defined once: both builds take exactly these, with the same meaning (BuildOptions).
RUNNER = typer.Option(
    None,
    "--runner",
    help="Beam runner: direct (local, explicit; the default), portable (a Beam job server: Flink, Spark, Beam's "
    "local one), dask (a Dask cluster), DataflowRunner, FlinkRunner, SparkRunner ... (docs/runners.md)",
)
JOB_ENDPOINT = typer.Option(
    None, "--job-endpoint", help="--runner portable: the job server, HOST:PORT (default: Beam's local job service)."
)
DASK_ADDRESS = typer.Option(
    None,
    "--dask-address",
    help="--runner dask: the distributed scheduler, e.g. tcp://HOST:8786 (default: a local cluster of --workers, 2).",
)
WORKERS = typer.Option(None, "--workers", min=0, help="Local worker processes (default or 0: every core).")
MODE = typer.Option(
    None, "--mode", help="Local running mode: multi_processing (the default), multi_threading or in_memory."
)
BUCKETS = typer.Option(
    None,
    "--buckets",
    min=0,
    help="Hash buckets of the flat-memory passes (default or 0: one per 4 MiB of compressed raw input).",
)
DRY_RUN_DATAFLOW = typer.Option(
    None,
    "--dry-run-dataflow",
    help="Write the Dataflow job description to this JSON file instead of building (submits nothing).",
)
KEEP_TEMP = typer.Option(False, "--keep-temp", help="Keep the intermediate bucket files (for debugging).")
SKIP_DAMAGED = typer.Option(
    False,
    "--skip-damaged",
    help="Build without the raw shards found damaged (cut short, changed, not gzip) instead of refusing them; the "
    "dataset card and metadata list each one with the lines lost. `acg2vec crawl <source>` re-fetches them.",
)
PIPELINE_ARGS = typer.Argument(
    None,
    help="Extra Beam pipeline options after `--`, passed through unchanged, "
    "e.g. -- --project=p --region=r --temp_location=gs://b/tmp",
    show_default=False,
)


def build_options(
    *,
    runner: str | None,
    workers: int | None,
    mode: str | None,
    buckets: int | None,
    dry_run_dataflow: str | None,
    keep_temp: bool,
    pipeline_args: list[str] | None,
    job_endpoint: str | None = None,
    dask_address: str | None = None,
    skip_damaged: bool = False,
):
    """The shared runner options as :class:`~acg2vec.beam_pipelines.options.BuildOptions`."""
    from acg2vec.beam_pipelines.options import BuildOptions, RunnerConfig

    runner_config = apply_overrides(
        RunnerConfig(), runner=runner, workers=workers or None, mode=mode, args=tuple(pipeline_args or ()) or None
    )
    apply_overrides(runner_config, job_endpoint=job_endpoint, dask_address=dask_address)
    return apply_overrides(
        BuildOptions(runner=runner_config),
        buckets=buckets,
        dry_run_dataflow=dry_run_dataflow,
        keep_temp=keep_temp,
        skip_damaged=skip_damaged or None,
    )


def _csv(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(part.strip() for part in text.split(",") if part.strip())


def image_build_config(*, filters: dict, splits: dict, vocabulary: dict, caps: dict, **fields):
    """``ImageBuildConfig()`` with the values the user gave (None: not given) in it and its nested rules."""
    from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig, SplitRules

    config = apply_overrides(ImageBuildConfig(), **fields)
    apply_overrides(config.filters, **filters)
    if any(value is not None for value in splits.values()):
        default = config.splits
        ranges = splits["ranges"]
        if ranges is None:
            ranges = ",".join(f"{name}={lo}-{hi}" for name, (lo, hi) in default.ranges.items())
        modulus = splits["modulus"] if splits["modulus"] is not None else default.modulus
        config.splits = SplitRules.parse(ranges, splits["holdout_from_id"], modulus)
    apply_overrides(config.vocabulary, **vocabulary)
    config.vocabulary.caps.update({category: cap for category, cap in caps.items() if cap is not None})
    return config


@app.command("images", help="Build the image/tag dataset acg_illustrations (sharded TFRecord).")
def build_images(
    config: str = typer.Option(
        None,
        "--config",
        "--size",
        help="Builder config of acg_illustrations, named by its image size: 224, 448, 512; 64 for tests.",
    ),
    ratings: str = typer.Option(None, help=f"Ratings to keep, comma-separated (default: all of {','.join(RATINGS)})."),
    statuses: str = typer.Option(None, help="Post statuses to keep (posts without a status are kept)."),
    min_side: int = typer.Option(None, min=1, help="Minimum shorter side of the original image, in pixels."),
    min_general_tags: int = typer.Option(None, min=0, help="Minimum general tags a post needs."),
    banned_tags: str = typer.Option(None, help="Posts with any of these tags are dropped (comma-separated)."),
    splits: str = typer.Option(
        None,
        help="Split ranges of post id mod --split-modulus, covering 0 to the modulus, "
        "e.g. train=0-900,validation=900-950,test=950-1000.",
    ),
    split_modulus: int = typer.Option(
        None, min=1, help="Modulus of the id split (10 suits a crawl of a few hundred ids)."
    ),
    holdout_from_id: int = typer.Option(None, min=0, help="Posts with this id or newer go to a 'holdout' split."),
    min_images_per_tag: int = typer.Option(None, min=1, help="Vocabulary: a tag needs this many train images."),
    max_general: int = typer.Option(None, min=0, help="Vocabulary cap: general tags."),
    max_character: int = typer.Option(None, min=0, help="Vocabulary cap: character tags."),
    max_copyright: int = typer.Option(None, min=0, help="Vocabulary cap: copyright tags."),
    max_artist: int = typer.Option(None, min=0, help="Vocabulary cap: artist tags."),
    max_pixels: int = typer.Option(None, min=1, help="Decompression-bomb limit: larger images are dropped."),
    shard_mb: int = typer.Option(None, min=1, help="Target TFRecord shard size in MiB."),
    apply_curation: str = typer.Option(
        None,
        "--apply-curation",
        help="Write a new version of the dataset with the fixes of this curation run (a folder, or a run name "
        "under <workdir>/curation/) instead of building from raw/; the run must be made for that version.",
    ),
    min_confidence: float = typer.Option(
        0.5, "--min-confidence", min=0.0, max=1.0, help="With --apply-curation: apply label issues at least this sure."
    ),
    drop_duplicates: bool = typer.Option(
        False, "--drop-duplicates", help="With --apply-curation: keep one post per near-duplicate group (train first)."
    ),
    from_version: str = typer.Option(
        None, "--from-version", help="With --apply-curation: the version to curate (default: the newest)."
    ),
    curation_kinds: str = typer.Option(
        "missing",
        "--curation-kinds",
        help="With --apply-curation: the kinds of label issue to apply, comma-separated: missing, wrong (default "
        "missing: on the learnability world flagged wrong tags were mostly right, docs/curation.md).",
    ),
    runner: str = RUNNER,
    job_endpoint: str = JOB_ENDPOINT,
    dask_address: str = DASK_ADDRESS,
    workers: int = WORKERS,
    mode: str = MODE,
    buckets: int = BUCKETS,
    dry_run_dataflow: str = DRY_RUN_DATAFLOW,
    keep_temp: bool = KEEP_TEMP,
    skip_damaged: bool = SKIP_DAMAGED,
    pipeline_args: list[str] = PIPELINE_ARGS,
) -> None:
    """Build the image/tag dataset acg_illustrations/<size> from raw/safebooru (+ raw/pixiv popularity).

    Writes <workdir>/datasets/acg_illustrations/<size>/<version>/ (TFDS: TFRecord shards, dataset_info.json,
    selected_tags.csv, metadata with every drop count, a dataset card, dead letters in dead_letters/).
    With --apply-curation, writes the next version instead: an existing version with a curation run's fixes.
    """
    from acg2vec.datasets.acg_illustrations.acg_illustrations_dataset_builder import Builder
    from acg2vec.datasets.acg_illustrations.build import build
    from acg2vec.logs import console

    if config is not None and config not in Builder.builder_configs:
        raise UserError(f"Unknown config {config!r}; choose one of {', '.join(sorted(Builder.builder_configs))}.")
    if apply_curation is not None:
        rules = {"--ratings": ratings, "--statuses": statuses, "--min-side": min_side, "--splits": splits,
                 "--min-general-tags": min_general_tags, "--banned-tags": banned_tags, "--shard-mb": shard_mb,
                 "--min-images-per-tag": min_images_per_tag, "--holdout-from-id": holdout_from_id}  # fmt: skip
        given = [name for name, value in rules.items() if value is not None]
        if given:
            raise UserError(f"--apply-curation keeps the rules of the version it curates; drop {', '.join(given)}.")
        options = build_options(runner=runner, workers=workers, mode=mode, buckets=None, dry_run_dataflow=None,
                                keep_temp=False, pipeline_args=pipeline_args, job_endpoint=job_endpoint,
                                dask_address=dask_address)  # fmt: skip
        kinds = tuple(_csv(curation_kinds) or ())
        if not kinds or set(kinds) - {"missing", "wrong"}:
            raise UserError(f"--curation-kinds {curation_kinds!r}: name missing, wrong or both, comma-separated.")
        choice = (min_confidence, drop_duplicates, kinds)
        console.print(_apply_curation(apply_curation, config, choice, from_version, options))
        return
    unknown = set(_csv(ratings) or ()) - set(RATINGS)
    if unknown:
        raise UserError(f"Unknown rating(s) {', '.join(sorted(unknown))}; choose from {', '.join(RATINGS)}.")
    build_config = image_build_config(
        size=None if config is None else int(config),
        max_pixels=max_pixels,
        shard_bytes=None if shard_mb is None else shard_mb * 1024 * 1024,
        filters=dict(
            ratings=_csv(ratings),
            statuses=_csv(statuses),
            min_side=min_side,
            min_general_tags=min_general_tags,
            banned_tags=_csv(banned_tags),
        ),
        splits=dict(ranges=splits, modulus=split_modulus, holdout_from_id=holdout_from_id),
        vocabulary=dict(min_images=min_images_per_tag),
        caps={"general": max_general, "character": max_character, "copyright": max_copyright, "artist": max_artist},
    )
    options = build_options(
        runner=runner,
        workers=workers,
        mode=mode,
        buckets=buckets,
        dry_run_dataflow=dry_run_dataflow,
        keep_temp=keep_temp,
        pipeline_args=pipeline_args,
        job_endpoint=job_endpoint,
        dask_address=dask_address,
        skip_damaged=skip_damaged,
    )
    console.print(build(workspace(), build_config, options=options).summary(detailed=True))


def _apply_curation(run: str, config: str | None, choice: tuple, version: str | None, options):
    """``build images --apply-curation``: the run folder resolved, the curated version written, its summary."""
    from acg2vec.beam_pipelines import files
    from acg2vec.datasets.acg_illustrations.build import CurationChoice, apply_curation
    from acg2vec.datasets.acg_illustrations.curation_files import curation_dir

    ws = workspace()
    # As given, else inside the workdir (curation/<run>), else a run name under <workdir>/curation/.
    found = [p for p in (run, files.join(ws.root, run), curation_dir(ws.root, run)) if files.exists(p)]
    run_dir = found[0] if found else run
    min_confidence, drop, kinds = choice
    choice = CurationChoice(run_dir, min_confidence=min_confidence, drop_duplicates=drop, kinds=kinds)
    result = apply_curation(ws, choice, config=config or "224", version=version, options=options)
    return result.summary(detailed=True)


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


@app.command("texts", help="Build the multilingual text-pair corpus acg_text_pairs (TFDS + Parquet).")
def build_texts(
    near_dup: bool = typer.Option(
        None, "--near-dup/--no-near-dup", help="MinHash near-duplicate removal of summaries."
    ),
    sources: str = typer.Option(None, help="Comma-separated raw sources to read (default: every text source)."),
    bounds: list[str] = typer.Option(
        None,
        "--bounds",
        help="Length bounds of one pair type in characters, repeatable: "
        "title_ja-summary=10:800 (positive side) or title_ja-title_en=1:50,1:80 (anchor, positive).",
    ),
    runner: str = RUNNER,
    job_endpoint: str = JOB_ENDPOINT,
    dask_address: str = DASK_ADDRESS,
    workers: int = WORKERS,
    mode: str = MODE,
    buckets: int = BUCKETS,
    dry_run_dataflow: str = DRY_RUN_DATAFLOW,
    keep_temp: bool = KEEP_TEMP,
    skip_damaged: bool = SKIP_DAMAGED,
    pipeline_args: list[str] = PIPELINE_ARGS,
) -> None:
    """Build the multilingual text-pair corpus from every source's raw items.

    Writes <workdir>/datasets/acg_text_pairs/<version>/ (TFDS; `tfds.load('acg_text_pairs', data_dir=<workdir>/datasets)`
    after `import acg2vec.datasets.acg_text_pairs`), <workdir>/datasets/parquet/acg_text_pairs/<split>/ (zstd Parquet for
    `datasets.load_dataset('parquet', ...)`), a dataset card, build_metadata.json with every drop count, and
    dead-letter files beside it.
    """
    from acg2vec.datasets.acg_text_pairs.build import build
    from acg2vec.datasets.acg_text_pairs.records import TextPairsConfig
    from acg2vec.logs import console

    chosen = _csv(sources)
    if chosen is not None and not chosen:
        raise UserError("--sources is empty; name at least one raw source.")
    config = apply_overrides(
        TextPairsConfig(), sources=chosen, near_dup=near_dup, pair_type_bounds=parse_bounds(bounds) or None
    )
    options = build_options(
        runner=runner,
        workers=workers,
        mode=mode,
        buckets=buckets,
        dry_run_dataflow=dry_run_dataflow,
        keep_temp=keep_temp,
        pipeline_args=pipeline_args,
        job_endpoint=job_endpoint,
        dask_address=dask_address,
        skip_damaged=skip_damaged,
    )
    console.print(build(workspace(), config, options=options).summary(detailed=True))


@app.command("entities", help="Link works, characters and people across every site into acg_entities (Parquet).")
def build_entities(skip_damaged: bool = SKIP_DAMAGED) -> None:
    """Link the raw works, characters and people of every source into one entity each (also the first step of
    `acg2vec build texts`). Writes <workdir>/datasets/acg_entities/<version>/ (entities.parquet, tag_links.parquet,
    a card, dead letters); see docs/entities.md."""
    from acg2vec.datasets.acg_entities.build import build
    from acg2vec.logs import console

    folder, linked = build(workspace(), skip_damaged=skip_damaged)
    by_kind = {k: v for k, v in sorted(linked.counts.items()) if k.endswith(("-records", "-entities"))}
    console.print(f"acg_entities: {len(linked.result.entities)} entities -> {folder}\n{by_kind}")
