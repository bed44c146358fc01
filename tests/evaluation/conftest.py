"""Fixtures of the evaluation tests: a tiny acg_illustrations dataset and a tiny SavedModel whose answers are known."""

from __future__ import annotations

import pytest

from tests.evaluation.fakes import make_illustrations_dataset, make_image_model


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory):
    """(workdir root with datasets/acg_illustrations, path of the alt_i2v SavedModel)."""
    root = tmp_path_factory.mktemp("acg2vec-data")
    make_illustrations_dataset(root)
    model = make_image_model(root / "models" / "alt_i2v")
    return root, model
