"""``acg2vec build texts``: raw items under <workdir>/raw -> TFDS acg_text_pairs + zstd Parquet shards."""

from __future__ import annotations

import re

import typer

from acg2vec.errors import UserError

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
    from acg2vec.beam_pipelines.pair_extractors import PAIR_TYPES
    from acg2vec.beam_pipelines.texts import DEFAULT_SIDE_BOUNDS

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
    runner: str = typer.Option(
        "direct", "--runner", help="Beam runner: direct (the explicit local runner), DataflowRunner, FlinkRunner ..."
    ),
    workers: int = typer.Option(0, "--workers", min=0, help="Local worker processes (0 = every core)."),
    mode: str = typer.Option(
        "multi_processing", "--mode", help="Local runner mode: multi_processing, multi_threading or in_memory."
    ),
    buckets: int = typer.Option(
        0, "--buckets", min=0, help="Hash buckets (0 = one per 4 MiB of compressed raw input)."
    ),
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
    runner_arg: list[str] = typer.Option(
        None,
        "--runner-arg",
        help="Extra Beam pipeline argument, passed through (repeatable), e.g. --runner-arg=--project=p.",
    ),
) -> None:
    """Build the multilingual text-pair corpus from every source's raw items.

    Writes <workdir>/datasets/acg_text_pairs/<version>/ (TFDS; `tfds.load('acg_text_pairs', data_dir=<workdir>/datasets)`
    after `import acg2vec.datasets.acg_text_pairs`), <workdir>/datasets/parquet/acg_text_pairs/<split>/ (zstd Parquet for
    `datasets.load_dataset('parquet', ...)`), a dataset card, build_metadata.json with every drop count, and
    dead-letter files beside it.
    """
    import logging

    from acg2vec.beam_pipelines.texts import TextPairsConfig, accounting, build_text_pairs
    from acg2vec.commands.state import workspace
    from acg2vec.logs import console

    chosen = tuple(s.strip() for s in sources.split(",") if s.strip())
    if not chosen:
        raise UserError("--sources is empty; name at least one raw source.")
    pair_type_bounds = parse_bounds(bounds)
    for noisy in ("apache_beam", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ws = workspace()
    config = TextPairsConfig(sources=chosen, num_buckets=buckets, near_dup=near_dup, pair_type_bounds=pair_type_bounds)
    report = build_text_pairs(
        ws.raw(),
        ws.datasets(),
        config=config,
        runner=runner,
        runner_args=runner_arg,
        workers=workers or None,
        mode=mode,
        keep_temp=keep_temp,
    )
    balance = accounting(report.counters)
    splits = ", ".join(f"{split} {n}" for split, n in report.split_rows.items())
    console.print(f"acg_text_pairs: {splits} rows in {report.seconds:.0f} s -> {report.out_dir}")
    console.print(
        f"  lines {balance['lines_read']} = items {balance['items_parsed']} + bad {balance['lines_dropped']}; "
        f"pairs {balance['pair_candidates']} = written {balance['pairs_written']} + dropped {balance['pairs_dropped']}"
    )
    console.print(f"  card: {report.out_dir}/README.md; Parquet: {report.parquet_root}/parquet/acg_text_pairs/")
