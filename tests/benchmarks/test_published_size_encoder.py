"""benchmarks/published_size_encoder.py: the stand-in of the published acgvoc2vec's architecture loads where a
trained acgvoc2vec does, keeps the source model's tokenizer and script normalisation, and embeds to the Dense
layer's width."""

from __future__ import annotations

import json

import numpy as np
import pytest

from acg2vec.trainers.text.base_model import SmallModelConfig, build_small_model
from tests.benchmarks.scripts import load_script

pytestmark = pytest.mark.integration

TEXTS = ["鋼の錬金術師", "钢之炼金术师", "涼宮ハルヒの憂鬱", "凉宫春日的忧郁", "Magic Knight"] * 3


def _script():
    return load_script("published_size_encoder")


def test_the_published_shape_is_distiluse_multilingual():
    assert _script().PUBLISHED == {"dim": 768, "layers": 6, "heads": 12, "hidden": 3072, "out_dim": 512}


def test_built_encoder_serves_like_a_trained_one(tmp_path, monkeypatch):
    from acg2vec.serving.models import TextModel

    small = SmallModelConfig(vocab_size=200, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    source = tmp_path / "work" / "models" / "acgvoc2vec"
    build_small_model(TEXTS, out_dir=tmp_path / "base", config=small).save(str(source))
    for name in ("datasets", "raw"):
        (tmp_path / "work" / name).mkdir()
    (tmp_path / "work" / "models" / "deepdanbooru").mkdir()
    bench = _script()
    shape = {"dim": 48, "layers": 2, "heads": 4, "hidden": 96, "out_dim": 24}
    out = tmp_path / "out"
    bench.build(source, out / "models" / "acgvoc2vec", shape=shape)

    model = TextModel(str(out / "models" / "acgvoc2vec"))
    config = json.loads((out / "models" / "acgvoc2vec" / "config.json").read_text())
    assert config["model_type"] == "distilbert" and config["n_layers"] == 2 and config["dim"] == 48
    assert model.dim == 24  # the Dense layer's width, as the published model's 512
    assert model.model.tokenizer.get_vocab() == TextModel(str(source)).model.tokenizer.get_vocab()
    encoded = model.encode(["鋼の錬金術師", "钢の炼金术师", "Magic Knight"])
    assert encoded.vectors.shape == (3, 24)
    np.testing.assert_allclose(np.linalg.norm(encoded.vectors, axis=1), 1.0, rtol=1e-5)
    # The source's script normalisation travels along: the Japanese and Simplified forms are one input.
    np.testing.assert_allclose(encoded.vectors[0], encoded.vectors[1], atol=1e-6)
    assert not np.allclose(encoded.vectors[0], encoded.vectors[2])

    # The command: a new workdir linking everything but acgvoc2vec to the source.
    monkeypatch.setattr(bench, "PUBLISHED", shape)
    assert bench.main(["--workdir", str(tmp_path / "work"), "--out", str(tmp_path / "w2")]) == 0
    w2 = tmp_path / "w2"
    assert (w2 / "datasets").resolve() == (tmp_path / "work" / "datasets").resolve()
    assert (w2 / "models" / "deepdanbooru").is_symlink() and not (w2 / "models" / "acgvoc2vec").is_symlink()
    assert TextModel(str(w2 / "models" / "acgvoc2vec")).dim == 24


def test_a_workdir_without_acgvoc2vec_is_one_sentence(tmp_path):
    with pytest.raises(SystemExit, match="no acgvoc2vec under"):
        _script().main(["--workdir", str(tmp_path), "--out", str(tmp_path / "out")])
