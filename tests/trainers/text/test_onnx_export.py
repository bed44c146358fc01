"""ONNX export of a trained text model: the same vectors as torch, and the int8 variant measured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration


def test_onnx_export_matches_torch_and_measures_int8(trained_tiny, tmp_path: Path) -> None:
    from acg2vec.trainers.text.data import load_pairs
    from acg2vec.trainers.text.evaluators import build_eval_sets
    from acg2vec.trainers.text.onnx_export import OnnxEncoder, export_onnx, measure_onnx_quality

    config, result = trained_tiny
    paths = export_onnx(result.output)
    sets = build_eval_sets(load_pairs(config.data_dir, cache_dir=tmp_path / "cache").splits["validation"])
    quality = measure_onnx_quality(result.output, sets, paths)
    assert set(quality) == {"torch", "onnx_fp32", "onnx_int8"}
    # fp32 ONNX is the same function as the torch model: the same held-out scores.
    for key, value in result.metrics["trained"].items():
        assert quality["torch"][key] == pytest.approx(value, abs=1e-6)
        assert quality["onnx_fp32"][key] == pytest.approx(value, abs=1e-6)
        assert 0.0 <= quality["onnx_int8"][key] <= 1.0
    assert quality["onnx_fp32"]["mean_cosine_to_torch"] > 0.9999
    assert quality["onnx_int8"]["mean_cosine_to_torch"] > 0.95
    assert json.loads((Path(result.output) / "onnx" / "quality.json").read_text()) == quality
    vectors = OnnxEncoder(paths["int8"], result.output).encode(["魔法の騎士", "星的大海", "Sea of Star"], batch_size=2)
    assert vectors.shape[0] == 3 and np.isfinite(vectors).all()
