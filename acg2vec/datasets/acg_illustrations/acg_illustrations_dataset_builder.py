"""TFDS builder ``acg_illustrations``: booru illustrations with tags, rating and pixiv popularity targets.

Two ways to build it, giving the same examples:

- ``acg2vec build images`` (the usual way): the Beam pipeline of :mod:`acg2vec.datasets.acg_illustrations.transforms`
  writing TFRecord shards without a group-by, so memory stays flat at any size (see
  :mod:`acg2vec.datasets.acg_illustrations.build`); this builder's ``info`` describes the result.
- ``tfds.builder('acg_illustrations/224').download_and_prepare(download_config=DownloadConfig(manual_dir=<workdir>/raw))``:
  TFDS's own Beam path with the same transform. TFDS shuffles examples with a group-by, which the local runner
  holds in memory: fine for small crawls and tests, use the CLI (or a distributed runner) for large ones.
"""

from __future__ import annotations

import dataclasses
import json

import tensorflow_datasets as tfds

from acg2vec.beam_pipelines import files
from acg2vec.beam_pipelines.buckets import BUCKETS_DIR
from acg2vec.datasets.acg_illustrations import schema as features_lib
from acg2vec.datasets.acg_illustrations.card import dataset_metadata, write_dataset_card
from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig, record_to_example
from acg2vec.datasets.acg_illustrations.transforms import BuildImageExamples, bucket_count, write_side_outputs

VERSION_NOTES = {"1.0.0": "First release: safebooru posts, pixiv popularity joined through source URLs."}
TINY_SIZE = 64  # the builder config with tiny images and loose rules (ImageBuildConfig.tiny)


@dataclasses.dataclass(eq=False)
class IllustrationsConfig(tfds.core.BuilderConfig):
    """A builder config: the image size. The TFDS path builds with :class:`ImageBuildConfig`'s rules (the tiny
    config with :meth:`ImageBuildConfig.tiny`'s); the CLI takes the user's."""

    size: int = 224


def _config(size: int) -> IllustrationsConfig:
    return IllustrationsConfig(
        name=str(size),
        size=size,
        description=f"Images resized (longest side) and padded to a white {size}x{size} square, JPEG.",
    )


def build_config_for(size: int) -> ImageBuildConfig:
    """The build rules of the TFDS path for a builder config."""
    return ImageBuildConfig.tiny() if size == TINY_SIZE else ImageBuildConfig(size=size)


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for acg_illustrations."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = VERSION_NOTES
    BUILDER_CONFIGS = [
        _config(224),
        _config(448),
        _config(512),
        _config(TINY_SIZE),  # tiny images and loose rules: for tests and small crawls
    ]
    DEFAULT_CONFIG_NAME = "224"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Crawl first (`acg2vec crawl safebooru`, optionally `acg2vec crawl pixiv`), then pass the workdir's raw/ "
        "folder as manual_dir; or simply run `acg2vec build images`."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=features_lib.features_for_size(self.builder_config.size),
            supervised_keys=None,
            homepage="https://github.com/acg2vec/acg2vec",
            metadata=tfds.core.MetadataDict(),
        )

    def _build_config(self) -> ImageBuildConfig:
        return build_config_for(self.builder_config.size)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager, pipeline):
        raw_root = str(dl_manager.manual_dir)
        # Bucket files go into TFDS's incomplete folder and are deleted once the pipeline finished.
        outputs = pipeline | "BuildImageExamples" >> BuildImageExamples(
            raw_root,
            self._build_config(),
            str(self.data_path / BUCKETS_DIR),
            num_buckets=bucket_count(raw_root),
        )
        # Side files (vocabulary, counts, dead letters) go beside the shards; self.data_path is TFDS's
        # incomplete folder until the build succeeds.
        write_side_outputs(outputs, str(self.data_path))
        generate = tfds.core.lazy_imports.apache_beam.ptransform_fn(self._generate_examples)
        return {name: images | f"Examples{name.capitalize()}" >> generate() for name, images in outputs.images.items()}

    def _generate_examples(self, images):
        beam = tfds.core.lazy_imports.apache_beam
        return images | beam.Map(lambda ri: (str(ri[0].id), record_to_example(ri[0], ri[1])))

    def _process_pipeline_result(self, pipeline_result) -> None:
        files.delete([str(self.data_path / BUCKETS_DIR)])
        counts = json.loads((self.data_path / features_lib.BUILD_COUNTS_FILE).read_text())
        self.info.metadata.update(dataset_metadata(str(self.data_path), counts, self._build_config()))
        write_dataset_card(str(self.data_path))
