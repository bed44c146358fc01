"""The row contract of ``acg_text_pairs``, shared by the builder, the Parquet writer and the text trainer.

TFDS: ``<workdir>/datasets/acg_text_pairs/<version>/`` with splits train / validation / test.
Parquet (zstd, for Hugging Face ``datasets``): ``<workdir>/datasets/parquet/acg_text_pairs/<split>/part-*.parquet``.
Split is decided by ``entity_id``: every pair about one work or character lands in one split.
"""

from __future__ import annotations

NAME = "acg_text_pairs"
SPLITS = ("train", "validation", "test")
COLUMNS = ("anchor", "positive", "pair_type", "source", "entity_id", "anchor_lang", "positive_lang")
# Language tags: "ja", "zh", "en", or "und" when the script says nothing.
LANGS = ("ja", "zh", "en", "und")


BUILD_METADATA = "build_metadata.json"  # written last into both folders: a folder without it is not complete
TFDS_MARKER = "dataset_info.json"
BUILD_COMMAND = "acg2vec build texts"


def parquet_dataset_dir(datasets_root: str) -> str:
    """``<datasets>/parquet/acg_text_pairs``: one folder per split, and the build's metadata."""
    return f"{datasets_root.rstrip('/')}/parquet/{NAME}"


def parquet_dir(datasets_root: str, split: str) -> str:
    return f"{parquet_dataset_dir(datasets_root)}/{split}"
