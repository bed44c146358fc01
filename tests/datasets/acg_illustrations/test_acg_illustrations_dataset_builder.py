"""The TFDS builder on its dummy data (TFDS DatasetBuilderTestCase), through TFDS's own Beam path."""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from unittest import mock

import pytest
import tensorflow_datasets as tfds

from acg2vec.beam_pipelines.options import RunnerConfig, pipeline_options
from acg2vec.datasets.acg_illustrations import Builder

pytestmark = [pytest.mark.integration]


class AcgIllustrationsTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["64"]
    EXAMPLE_DIR = Path(__file__).resolve().parents[3] / "acg2vec" / "datasets" / "acg_illustrations" / "dummy_data"
    # dummy_data: 10 posts + 1 broken line; a duplicate md5, a post without file and the broken line are dropped.
    SPLITS = {"train": 4, "validation": 2, "test": 2}
    SKIP_CHECKSUMS = True

    def _download_and_prepare_as_dataset(self, builder):
        # The local runner chosen explicitly (Beam's default would first try a runner that downloads a binary).
        config = functools.partial(
            tfds.download.DownloadConfig, beam_options=pipeline_options(RunnerConfig(mode="in_memory"))
        )
        with mock.patch.object(tfds.download, "DownloadConfig", config):
            super()._download_and_prepare_as_dataset(builder)
        self._check_side_files(builder)

    def _check_side_files(self, builder) -> None:
        data_dir = Path(builder.data_dir)
        counts = json.loads((data_dir / "build_counts.json").read_text())
        assert counts["posts"]["read"] == 11
        assert counts["posts"]["written"] == 8
        assert counts["posts"]["by_reason"] == {"bad-json": 1, "duplicate-md5": 1, "no-file": 1}
        assert builder.info.metadata["counts"]["posts"]["dropped"] == 3
        vocabulary = (data_dir / "selected_tags.csv").read_text().splitlines()
        assert vocabulary[0] == "tag_id,name,category,count"
        assert vocabulary[1:5] == [
            "0,1girl,general,4",
            "1,long_hair,general,4",
            "2,smile,general,4",
            "3,solo,general,4",
        ]
        reasons = []
        for shard in sorted(data_dir.glob("dead_letters/*-*.jsonl.gz")):
            with gzip.open(shard, "rt") as fh:
                reasons += [json.loads(line)["reason"] for line in fh]
        assert sorted(reasons) == ["bad-json", "duplicate-md5", "no-file"]
        assert not (data_dir / "_buckets").exists()  # the bucket files of the passes are gone
