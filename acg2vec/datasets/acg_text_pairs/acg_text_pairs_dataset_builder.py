"""TFDS builder ``acg_text_pairs``: multilingual ACG text pairs (anchor, positive) with their type and entity.

``acg2vec build texts`` writes this dataset at scale with a Beam pipeline (hash buckets, no global shuffle) and
records its metadata with ``tfds.folder_dataset.write_metadata``; once written, it loads with
``tfds.load('acg_text_pairs', data_dir=<workdir>/datasets)`` (after importing this package) or
``tfds.builder_from_directory``. The builder can also prepare itself in one process from a small raw folder
(``download_and_prepare`` with ``manual_dir=<workdir>/raw``): same rows, for small crawls and tests.
"""

from __future__ import annotations

import tensorflow_datasets as tfds

from acg2vec.datasets.acg_text_pairs import schema
from acg2vec.datasets.acg_text_pairs.records import row_key, rows_in_memory

DESCRIPTION = """\
Multilingual (ja / zh / en) anime, comics and games text pairs for training sentence encoders: titles across
languages, titles with summaries, tags, characters and voice actors, wiki section headings with their text,
pixiv tag translations. Split by entity (every pair about one work lands in one split)."""
HOMEPAGE = "https://github.com/acg2vec/acg2vec"
SUPERVISED_KEYS = ("anchor", "positive")


def make_features() -> tfds.features.FeaturesDict:
    """The features of one row: every column of :data:`schema.COLUMNS` as text."""
    return tfds.features.FeaturesDict({name: tfds.features.Text() for name in schema.COLUMNS})


class Builder(tfds.core.GeneratorBasedBuilder):
    """acg_text_pairs: (anchor, positive) pairs with pair_type, source, entity_id and both languages."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Every pair type of the design; split by entity; exact and MinHash de-duplication."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Crawl first (`acg2vec crawl ...`); manual_dir is the workdir's raw/ folder."

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=DESCRIPTION,
            features=make_features(),
            supervised_keys=SUPERVISED_KEYS,
            homepage=HOMEPAGE,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        rows = rows_in_memory(str(dl_manager.manual_dir))
        return {split: self._generate_examples(rows.get(split, [])) for split in schema.SPLITS}

    def _generate_examples(self, rows: list[tuple[str, ...]]):
        for row in rows:
            yield row_key(row), dict(zip(schema.COLUMNS, row, strict=True))
