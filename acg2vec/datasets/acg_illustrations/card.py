"""The TFDS metadata and the dataset card of an ``acg_illustrations`` build (``dataset_info.json``, features,
``metadata.json`` and ``README.md``), written once the shards are; all through Beam's ``FileSystems``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from acg2vec.beam_pipelines import files, raw_shards
from acg2vec.beam_pipelines.tfrecord_shards import count_records, split_shards
from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig
from acg2vec.datasets.acg_illustrations.schema import NAME, SELECTED_TAGS_FILE
from acg2vec.datasets.acg_illustrations.selected_tags import csv_sha256


def write_dataset_card(out_dir: str, splits: dict[str, int] | None = None, metadata: dict | None = None) -> None:
    """The dataset card: the builder's README.md, then this build's figures (splits, drops, vocabulary, rules)."""
    from importlib import resources

    card = resources.files("acg2vec.datasets.acg_illustrations").joinpath("README.md").read_text(encoding="utf-8")
    if splits is not None and metadata is not None:
        card = card.rstrip("\n") + "\n\n" + build_card_section(splits, metadata)
        if metadata.get("curation"):
            card = card.rstrip("\n") + "\n\n" + curation_card_section(metadata["curation"], metadata["counts"])
    files.write_text(files.join(out_dir, "README.md"), card)


def build_card_section(splits: dict[str, int], metadata: dict) -> str:
    """Markdown of one build: examples per split, posts dropped per reason and split, the vocabulary, the rules."""
    posts = metadata.get("counts", {}).get("posts", {})
    lines = [
        "## This build",
        "",
        f"Posts read {posts.get('read', 0)} = written {posts.get('written', 0)} + dropped {posts.get('dropped', 0)}.",
        "",
        "| split | examples |",
        "|---|---|",
        *(f"| {name} | {n} |" for name, n in sorted(splits.items())),
        "",
    ]
    by_split = posts.get("by_split", {})
    reasons = sorted({r for counts in by_split.values() for r in counts if r != "written"})
    if reasons:
        names = sorted(by_split)
        lines += [
            "Posts dropped, by reason and split (dead letters in `dead_letters/`):",
            "",
            "| reason | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
            *(f"| {r} | " + " | ".join(str(by_split[n].get(r, 0)) for n in names) + " |" for r in reasons),
            "",
        ]
    damaged = raw_shards.card_section(metadata.get("counts", {}).get("raw_shards", {}))
    if damaged:
        lines += [damaged]
    rules = metadata.get("build_config", {})
    lines += [
        f"Vocabulary: {metadata.get('selected_tags_count', 0)} tags in `{SELECTED_TAGS_FILE}` "
        f"(sha256 `{metadata.get('selected_tags_sha256', '')}`), chosen by {json.dumps(rules.get('vocabulary', {}))}.",
        "",
        f"Post filters: {json.dumps(rules.get('filters', {}))}; splits: {json.dumps(rules.get('splits', {}))}.",
        "",
    ]
    return "\n".join(lines)


def curation_card_section(curation: dict, counts: dict) -> str:
    """Markdown of a curated version: the run and what it was made for, the thresholds, the tags added and removed
    by field and split, the posts dropped as near-duplicates and the split leak before and after."""
    made_for = curation.get("made_for", {})
    tags = counts.get("tags", {})
    splits = list(counts.get("posts", {}).get("by_split", {})) or sorted(
        {s for by_field in tags.values() for per in by_field.values() for s in per}
    )
    changed = any(by_field for by_field in tags.values())
    lines = [
        "## Curation",
        "",
        f"This version is `{made_for.get('name')}/{made_for.get('config')}/{made_for.get('version')}` "
        f"(content hash `{str(made_for.get('content_hash', ''))[:16]}`) with the fixes of the curation run "
        f"`{curation.get('run')}` applied: label issues of confidence >= {curation.get('min_confidence')} "
        f"(kinds: {', '.join(curation.get('kinds', []))}); near-duplicates "
        + (
            "dropped, one post kept per group (the earliest split, then the lowest id)."
            if curation.get("drop_duplicates")
            else "kept."
        )
        + f" The run's parameters: {json.dumps(curation.get('run_parameters', {}), sort_keys=True)}.",
        "",
    ]
    if changed:
        lines += ["| change | field | " + " | ".join(splits) + " | total |", "|---|---|" + "---|" * (len(splits) + 1)]
        for kind in ("added", "removed"):
            for name, per in sorted(tags.get(kind, {}).items()):
                row = [str(per.get(s, 0)) for s in splits]
                lines.append(f"| tags {kind} | {name} | " + " | ".join(row) + f" | {sum(per.values())} |")
        lines.append("")
    else:
        lines += ["No tag was added or removed.", ""]
    dropped = counts.get("posts", {}).get("by_reason", {}).get("near-duplicate", 0)
    leak = curation.get("leak", {})
    lines += [
        f"Posts dropped as near-duplicates: {dropped}. Near-duplicate pairs across train and test: "
        f"{leak.get('train_test_pairs_before', 0)} before, {leak.get('train_test_pairs_after', 0)} after; "
        f"across any two splits: {leak.get('cross_split_pairs_before', 0)} before, "
        f"{leak.get('cross_split_pairs_after', 0)} after.",
        "",
    ]
    if curation.get("skipped"):
        lines += [f"Label issues not applied: {json.dumps(curation['skipped'], sort_keys=True)}.", ""]
    return "\n".join(lines)


def dataset_metadata(
    out_dir: str, counts: dict[str, Any], config: ImageBuildConfig | dict, *, curation: dict | None = None
) -> dict[str, Any]:
    """What goes into the dataset's ``metadata.json``: counts, vocabulary hash and the build config (``config``: a
    dict when it is copied from the version a curated one derives from), and the curation applied, if any."""
    vocabulary = files.read_text(files.join(out_dir, SELECTED_TAGS_FILE))
    return {
        "counts": counts,
        "selected_tags_file": SELECTED_TAGS_FILE,
        "selected_tags_sha256": csv_sha256(vocabulary),
        "selected_tags_count": max(0, len(vocabulary.splitlines()) - 1),
        "build_config": _config_dict(config),
        **({"curation": curation} if curation else {}),
    }


def _config_dict(config: ImageBuildConfig | dict) -> dict[str, Any]:
    if isinstance(config, dict):
        return json.loads(json.dumps(config))
    data = asdict(config)
    data["splits"]["ranges"] = {k: list(v) for k, v in config.splits.ranges.items()}
    return json.loads(json.dumps(data))


def write_tfds_metadata(
    out_dir: str,
    info,
    config: ImageBuildConfig | dict,
    counts: dict[str, Any],
    *,
    curation: dict | None = None,
) -> dict[str, int]:
    """Compute the split infos from the shards and write dataset_info.json (``info``: the builder's), features.json,
    metadata.json and the dataset card. ``curation``: what a curated version applied (metadata and a section of the card)."""
    import tensorflow_datasets as tfds

    # Shard lengths read through Beam's file systems; TFDS (which may not know a remote scheme) only writes the
    # metadata, into a local staging folder when the output is remote.
    shards = {
        split: ([count_records(path) for path, _ in found], sum(size for _, size in found))
        for split, found in sorted(split_shards(out_dir, NAME).items())
    }
    metadata = dataset_metadata(out_dir, counts, config, curation=curation)

    def write(folder: str) -> None:
        template = tfds.core.ShardedFileTemplate(
            data_dir=folder,
            template=tfds.core.naming.DEFAULT_FILENAME_TEMPLATE,
            dataset_name=NAME,
            filetype_suffix="tfrecord",
        )
        split_infos = [
            tfds.core.SplitInfo(name=split, shard_lengths=lengths, num_bytes=num_bytes, filename_template=template)
            for split, (lengths, num_bytes) in shards.items()
        ]
        info.set_file_format("tfrecord", override=True)
        info.set_splits(tfds.core.SplitDict(split_infos))
        info.metadata.update(metadata)
        info.write_to_directory(folder)

    files.write_locally_then_copy(out_dir, write)
    splits = {split: sum(lengths) for split, (lengths, _) in shards.items()}
    write_dataset_card(out_dir, splits, metadata)
    return splits
