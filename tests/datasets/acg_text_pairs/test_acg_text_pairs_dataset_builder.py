"""The TFDS builder on its dummy data (hand-made raw items of every source; see make_dummy_data.py)."""

from __future__ import annotations

import pytest
import tensorflow_datasets as tfds

from acg2vec.datasets.acg_text_pairs import acg_text_pairs_dataset_builder

pytestmark = pytest.mark.integration


class AcgTextPairsTest(tfds.testing.DatasetBuilderTestCase):
    """Prepares the dataset in one process from dummy_data/ (its manual dir) and checks the split sizes."""

    DATASET_CLASS = acg_text_pairs_dataset_builder.Builder
    # From the dummy data: 10 + 1 works with characters, voice actors, MyAnimeList, Wikipedia, moegirl and pixiv
    # items, after cleaning, de-duplication and the split by entity (the linked entities of acg_entities).
    SPLITS = {"train": 73, "validation": 18, "test": 7}
    SKIP_CHECKSUMS = True


def test_builder_is_registered_under_its_name() -> None:
    import acg2vec.datasets.acg_text_pairs  # noqa: F401

    assert "acg_text_pairs" in tfds.list_builders(with_community_datasets=False)
    assert tfds.builder_cls("acg_text_pairs") is acg_text_pairs_dataset_builder.Builder
