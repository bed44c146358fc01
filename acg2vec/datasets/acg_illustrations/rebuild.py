"""The command that makes a damaged version of ``acg_illustrations`` again, as the sentence naming the damage gives it.

A version built from ``raw/`` is rebuilt with the rules it was built with: its ``metadata.json`` records them
(``build_config``), and every rule that differs from what ``acg2vec build images --config <size>`` would use
becomes a flag, so the rebuild writes the same examples. A curated version is written again from the curation run
and the version it was made for. When ``metadata.json`` cannot be read, the command is the plain rebuild of the
config, with a note that the original rules are unknown.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig

METADATA_FILE = "metadata.json"
COMMAND = "acg2vec build images"
_MIB = 1024 * 1024


def config_of(version_dir: str) -> str:
    """The config folder's name of ``.../acg_illustrations/<config>/<version>`` ("224" when the path says none)."""
    parts = version_dir.rstrip("/").replace("\\", "/").split("/")
    if "acg_illustrations" in parts[:-1]:
        at = len(parts) - 1 - parts[::-1].index("acg_illustrations")
        if at + 2 < len(parts):
            return parts[at + 1]
    return "224"


def _metadata(version_dir: str) -> dict[str, Any] | None:
    path = f"{version_dir.rstrip('/')}/{METADATA_FILE}"
    try:
        if "://" in path:
            import tensorflow as tf

            if not tf.io.gfile.exists(path):
                return None
            with tf.io.gfile.GFile(path, "rb") as fh:
                data = json.loads(fh.read())
        else:
            with open(path, "rb") as fh:
                data = json.loads(fh.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def rebuild_command(version_dir: str, *, config: str | None = None) -> str:
    """The command that writes the version at ``version_dir`` again (see the module doc)."""
    config = config or config_of(version_dir)
    metadata = _metadata(version_dir)
    if metadata is None:
        return f"{COMMAND} --config {config}"
    curation = metadata.get("curation") or {}
    try:
        run_dir, source = str(curation["run_dir"]), str(curation["made_for"]["version"])
        return f"{COMMAND} --apply-curation {run_dir} --config {config} --from-version {source}"
    except (KeyError, TypeError):
        pass
    recorded = metadata.get("build_config")
    flags = build_flags(recorded, config) if isinstance(recorded, dict) else []
    return " ".join([f"{COMMAND} --config {config}", *flags])


def build_flags(recorded: dict[str, Any], config: str) -> list[str]:
    """The ``build images`` flags that turn the defaults of ``--config <config>`` into the ``recorded`` rules."""
    try:
        default = json.loads(json.dumps(asdict(ImageBuildConfig(size=int(config)))))
    except ValueError:
        default = json.loads(json.dumps(asdict(ImageBuildConfig())))

    def get(tree: dict[str, Any], *keys: str) -> Any:
        for key in keys:
            tree = tree.get(key) if isinstance(tree, dict) else None
        return tree

    flags: list[str] = []

    def flag(name: str, *keys: str, show=str) -> None:
        value = get(recorded, *keys)
        if value is not None and value != get(default, *keys):
            flags.append(f"--{name} {show(value)}")

    def csv(values: list[str]) -> str:
        return ",".join(values) if values else '""'

    flag("ratings", "filters", "ratings", show=csv)
    flag("statuses", "filters", "statuses", show=csv)
    flag("min-side", "filters", "min_side")
    flag("min-general-tags", "filters", "min_general_tags")
    flag("banned-tags", "filters", "banned_tags", show=csv)
    flag("splits", "splits", "ranges", show=lambda r: ",".join(f"{n}={lo}-{hi}" for n, (lo, hi) in r.items()))
    flag("split-modulus", "splits", "modulus")
    flag("holdout-from-id", "splits", "holdout_from_id")
    flag("min-images-per-tag", "vocabulary", "min_images")
    for category in ("general", "character", "copyright", "artist"):
        flag(f"max-{category}", "vocabulary", "caps", category)
    flag("max-pixels", "max_pixels")
    flag("shard-mb", "shard_bytes", show=lambda b: str(max(1, int(b) // _MIB)))
    return flags
