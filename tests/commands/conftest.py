"""Fixtures of the command tests: the tiny datasets the stage tests build, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trainers.image.tiny_dataset import write_tiny_dataset
from tests.trainers.text.tiny_corpus import write_tiny_corpus


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<dir>/acg_illustrations/64/1.0.0`` with 48 train and 24 validation images; returns ``<dir>``."""
    data_dir = tmp_path_factory.mktemp("datasets")
    write_tiny_dataset(data_dir)
    return data_dir


@pytest.fixture
def tiny_corpus(workdir: Path) -> Path:
    """<workdir>/datasets with 40 works (4 held out) and 3 bad training rows."""
    root = workdir / "datasets"
    write_tiny_corpus(root, works=40, bad_rows=True)
    return root
