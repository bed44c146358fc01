"""Where readers find a finished ``acg_text_pairs`` build, refusing a folder whose build never finished.

A build publishes its TFDS folder (complete with ``dataset_info.json``) and its Parquet folder (complete with
``build_metadata.json``) whole, so these checks only fail on a folder made some other way or damaged since;
they say so in one sentence instead of reading a part of a corpus.
"""

from __future__ import annotations

from acg2vec.beam_pipelines.publish import require_complete
from acg2vec.datasets.acg_text_pairs import schema
from acg2vec.datasets.versions import newest_dataset_dir
from acg2vec.errors import UserError


def tfds_dir(datasets_root: str) -> str:
    """The newest complete TFDS folder ``<datasets>/acg_text_pairs/<version>``."""
    found = newest_dataset_dir(f"{datasets_root.rstrip('/')}/{schema.NAME}")
    if found is None:
        raise UserError(f"No {schema.NAME} dataset under {datasets_root}; build it with `{schema.BUILD_COMMAND}`.")
    return found


def parquet_split_dir(datasets_root: str, split: str) -> str:
    """``<datasets>/parquet/acg_text_pairs/<split>`` of a complete build (its ``build_metadata.json`` present)."""
    require_complete(
        schema.parquet_dataset_dir(datasets_root), marker=schema.BUILD_METADATA, build_command=schema.BUILD_COMMAND
    )
    return schema.parquet_dir(datasets_root, split)
