"""The TFDS metadata and the dataset card of an ``acg_text_pairs`` build: the shards named and counted
(``dataset_info.json``, features), ``build_metadata.json`` with every count, ``README.md`` and its chart of rows
by pair type. All through Beam's ``FileSystems``.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import asdict
from typing import Any

from acg2vec.beam_pipelines import files, raw_shards
from acg2vec.datasets.acg_text_pairs import schema
from acg2vec.datasets.acg_text_pairs.acg_text_pairs_dataset_builder import (
    DESCRIPTION,
    HOMEPAGE,
    SUPERVISED_KEYS,
    Builder,
    make_features,
)
from acg2vec.datasets.acg_text_pairs.records import TextPairsConfig

SHARD_TEMPLATE = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"


def shard_path(out_dir: str, split: str, index: int, count: int) -> str:
    """A TFRecord shard's name in TFDS's layout (:data:`SHARD_TEMPLATE`)."""
    return f"{out_dir}/{schema.NAME}-{split}.tfrecord-{index:05d}-of-{count:05d}"


def write_tfds_metadata(out_dir: str, stats: list[dict]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Name the bucket files as TFDS shards and record their lengths (dataset_info.json, features.json).

    ``stats``: what each finalised bucket reported. Returns the rows per split and per pair type and source.
    """
    import tensorflow_datasets as tfds

    def template_in(folder: str):
        return tfds.core.ShardedFileTemplate(
            data_dir=folder, template=SHARD_TEMPLATE, dataset_name=schema.NAME, filetype_suffix="tfrecord"
        )

    # Shard names and lengths first, through Beam's file systems; TFDS (which may not know a remote scheme) only
    # writes the metadata, into a local staging folder when the output is remote.
    lengths_by_split: dict[str, tuple[list[int], int]] = {}
    for split in schema.SPLITS:
        shards = sorted((s["bucket"], s["splits"][split]) for s in stats if split in s["splits"])
        for index, (_, shard) in enumerate(shards):
            files.rename(shard["path"], shard_path(out_dir, split, index, len(shards)))
        if not shards:
            # TFDS wants at least one shard per declared split; an empty file is a valid empty TFRecord.
            files.write_bytes(shard_path(out_dir, split, 0, 1), b"")
        lengths = [shard["rows"] for _, shard in shards] or [0]
        lengths_by_split[split] = (lengths, sum(shard["bytes"] for _, shard in shards))
    split_rows = {split: sum(lengths) for split, (lengths, _) in lengths_by_split.items()}

    def write(folder: str) -> None:
        if folder != out_dir:  # TFDS lists the shards by name: empty stand-ins in the staging folder
            for split, (lengths, _) in lengths_by_split.items():
                for index in range(len(lengths)):
                    with open(shard_path(folder, split, index, len(lengths)), "wb"):
                        pass
        template = template_in(folder)
        infos = [
            tfds.core.SplitInfo(name=split, shard_lengths=lengths, num_bytes=num_bytes, filename_template=template)
            for split, (lengths, num_bytes) in lengths_by_split.items()
        ]
        tfds.folder_dataset.write_metadata(
            data_dir=folder,
            features=make_features(),
            split_infos=infos,
            filename_template=template,
            version=str(Builder.VERSION),
            description=DESCRIPTION,
            supervised_keys=SUPERVISED_KEYS,
            homepage=HOMEPAGE,
            check_data=folder == out_dir,  # read back when TensorFlow reads the folder itself
        )

    files.write_locally_then_copy(out_dir, write, keep=lambda name: ".tfrecord-" not in name)
    by_type_source: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in stats:
        for _split, pair_type, source, n in s["counts"]:
            by_type_source[pair_type][source] += n
    return split_rows, {t: dict(sorted(v.items())) for t, v in sorted(by_type_source.items())}


def accounting(counters: dict[str, int]) -> dict[str, Any]:
    """The two balances of a build: lines read = items + bad lines; candidates = written + dropped."""
    line_drops = sum(
        v for k, v in counters.items() if k.startswith("Lines-") and k not in ("Lines-read", "Lines-parsed")
    )
    pair_drops = sum(
        v
        for k, v in counters.items()
        if k.startswith(("Pairs-", "Dedup-")) and k not in ("Pairs-candidates", "Pairs-cleaned")
    )
    written = sum(v for k, v in counters.items() if k.startswith("Written-"))
    lines = counters.get("Lines-read", 0)
    parsed = counters.get("Lines-parsed", 0)
    candidates = counters.get("Pairs-candidates", 0)
    return {
        "lines_read": lines,
        "items_parsed": parsed,
        "lines_dropped": line_drops,
        "lines_add_up": lines == parsed + line_drops,
        "pair_candidates": candidates,
        "pairs_written": written,
        "pairs_dropped": pair_drops,
        "pairs_add_up": candidates == written + pair_drops,
    }


def build_metadata(
    *,
    split_rows: dict[str, int],
    counters: dict[str, int],
    counts_by_type_source: dict[str, dict[str, int]],
    raw_files: int,
    buckets: int,
    seconds: float,
    config: TextPairsConfig,
) -> dict[str, Any]:
    """``build_metadata.json``: what the build read, wrote and dropped, and the config it ran with."""
    return {
        "dataset": schema.NAME,
        "version": str(Builder.VERSION),
        "raw_files": raw_files,
        "buckets": buckets,
        "seconds": round(seconds, 1),
        "split_rows": split_rows,
        "accounting": accounting(counters),
        "counters": counters,
        "counts_by_pair_type_and_source": counts_by_type_source,
        "config": asdict(config),
    }


def write_card(out_dir: str, meta: dict[str, Any]) -> None:
    """``README.md`` (:func:`dataset_card`) and ``pair_types.png`` (:func:`plot_counts`) into ``out_dir``."""
    files.write_text(f"{out_dir}/README.md", dataset_card(meta))
    files.write_bytes(f"{out_dir}/pair_types.png", plot_counts(meta["counts_by_pair_type_and_source"]))


COUNTED_PREFIXES = ("Lines-", "Items-", "Pairs-", "Dedup-", "Joins-character-work")
NOT_DROPS = ("Lines-read", "Lines-parsed", "Pairs-candidates", "Pairs-cleaned")


def dataset_card(meta: dict[str, Any]) -> str:
    """The dataset card of one build: splits, counts by pair type and source, drops by reason."""
    lines = [
        f"# {schema.NAME} {meta['version']}",
        "",
        "Multilingual ACG text pairs built by `acg2vec build texts`. Split by entity_id (stable hash).",
        "",
        *(
            [
                f"entity_id is the id of the linked entity in {meta['entities']['table']} "
                f"({meta['entities']['linked_records']} records linked): one work from every site is one entity.",
                "",
            ]
            if meta.get("entities")
            else []
        ),
        "| split | rows |",
        "|---|---:|",
        *[f"| {s} | {n} |" for s, n in meta["split_rows"].items()],
        "",
        "## Pairs by type and source",
        "",
        "| pair type | source | rows |",
        "|---|---|---:|",
    ]
    for pair_type, sources in meta["counts_by_pair_type_and_source"].items():
        lines += [f"| {pair_type} | {src} | {n} |" for src, n in sources.items()]
    lines += ["", "## Drops by reason", "", "| reason | count |", "|---|---:|"]
    lines += [
        f"| {k} | {v} |" for k, v in meta["counters"].items() if k.startswith(COUNTED_PREFIXES) and k not in NOT_DROPS
    ]
    acc = meta["accounting"]
    lines += [
        "",
        f"Lines read {acc['lines_read']} = items {acc['items_parsed']} + bad lines {acc['lines_dropped']}; "
        f"candidate pairs {acc['pair_candidates']} = written {acc['pairs_written']} + dropped {acc['pairs_dropped']}.",
        "",
    ]
    damaged = raw_shards.card_section(meta.get("raw_shards", {}))
    return "\n".join(lines) + ("\n" + damaged if damaged else "")


def plot_counts(counts_by_type_source: dict[str, dict[str, int]]) -> bytes:
    """A PNG bar chart of the rows of each pair type."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = list(counts_by_type_source)
    totals = [sum(counts_by_type_source[t].values()) for t in types]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(types) + 1.5))
    ax.barh(types, totals)
    ax.set_xlabel("rows")
    ax.set_title(f"{schema.NAME}: rows by pair type")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
    return out.getvalue()
