"""``acg2vec build texts``: raw items under <workdir>/raw -> TFDS acg_text_pairs + zstd Parquet shards."""

from __future__ import annotations

import typer

from acg2vec.errors import UserError


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
    from acg2vec.cli_common import workspace
    from acg2vec.logs import console

    chosen = tuple(s.strip() for s in sources.split(",") if s.strip())
    if not chosen:
        raise UserError("--sources is empty; name at least one raw source.")
    for noisy in ("apache_beam", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ws = workspace()
    config = TextPairsConfig(sources=chosen, num_buckets=buckets, near_dup=near_dup)
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
