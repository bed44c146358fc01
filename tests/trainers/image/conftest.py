"""Fixtures of the image trainer tests: a tiny acg_illustrations dataset in the real TFDS format."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tiny_dataset import write_tiny_dataset

# Small model options shared by the tests: a DeepDanbooru v4 at 1/32 width and minimal depth.
TINY_DEEPDANBOORU = {"version": "v4", "width": 1 / 32, "depth": 0.05}


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<dir>/acg_illustrations/64/1.0.0`` with 48 train and 24 validation images; returns ``<dir>``."""
    data_dir = tmp_path_factory.mktemp("datasets")
    write_tiny_dataset(data_dir)
    return data_dir
