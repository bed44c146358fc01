"""Fixtures for the text trainer tests: a tiny corpus on disk and one tiny trained model shared by several tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trainers.text.tiny_corpus import tiny_config, write_tiny_corpus


@pytest.fixture
def tiny_corpus(workdir: Path) -> Path:
    """<workdir>/datasets with 40 works (4 held out) and 3 bad training rows."""
    root = workdir / "datasets"
    write_tiny_corpus(root, works=40, bad_rows=True)
    return root


@pytest.fixture(scope="session")
def trained_tiny(tmp_path_factory: pytest.TempPathFactory):
    """One 4-step training run on the tiny corpus: (config, TrainResult)."""
    from acg2vec.trainers.text.train import train_text_model

    base = tmp_path_factory.mktemp("trained_tiny")
    write_tiny_corpus(base / "datasets", works=40, bad_rows=True)
    config = tiny_config(base / "datasets", base / "models" / "acgvoc2vec")
    return config, train_text_model(config)
