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
# Every pair type, with the kind of text on each side (the kind picks the length bounds). A pair type named
# ``title_<lang>-...`` has a work's title in <lang> as its anchor; ``...-title_<lang>`` a title as its positive.
PAIR_TYPES: dict[str, tuple[str, str]] = {
    "title_ja-title_zh": ("title", "title"),
    "title_ja-title_en": ("title", "title"),
    "title_ja-summary": ("title", "text"),
    "title_zh-summary": ("title", "text"),
    "title_en-summary": ("title", "text"),
    "title_zh-tags": ("title", "tags"),
    "title_ja-character": ("title", "name"),
    "title_zh-character": ("title", "name"),
    "va_name_ja-va_name_zh": ("name", "name"),
    "tag_ja-tag_zh": ("name", "name"),
    "heading-section": ("title", "text"),
    "title_heading-section": ("title", "text"),
    "summary-summary": ("text", "text"),
}


BUILD_METADATA = "build_metadata.json"  # written last into both folders: a folder without it is not complete
BUILD_COMMAND = "acg2vec build texts"


def title_pair_langs(pair_type: str) -> tuple[str, str | None] | None:
    """For a pair type whose anchor is a work's title: ``(anchor language, positive language)``, the latter
    None unless the positive is a title too (``title_ja-title_zh`` -> ``("ja", "zh")``, ``title_zh-summary`` ->
    ``("zh", None)``); None for every other pair type (headings, names, tags, summaries)."""
    if pair_type not in PAIR_TYPES:
        return None
    anchor, _, positive = pair_type.partition("-")
    anchor_lang = anchor.removeprefix("title_")
    if not anchor.startswith("title_") or anchor_lang not in LANGS:
        return None
    positive_lang = positive.removeprefix("title_")
    return anchor_lang, positive_lang if positive.startswith("title_") and positive_lang in LANGS else None


def parquet_dataset_dir(datasets_root: str) -> str:
    """``<datasets>/parquet/acg_text_pairs``: one folder per split, and the build's metadata."""
    return f"{datasets_root.rstrip('/')}/parquet/{NAME}"


def parquet_dir(datasets_root: str, split: str) -> str:
    return f"{parquet_dataset_dir(datasets_root)}/{split}"
