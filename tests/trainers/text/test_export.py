"""The exported text model folder reloads and encodes as it did before export."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration


def test_export_reload_encode_round_trip(trained_tiny, tmp_path: Path) -> None:
    from acg2vec.trainers.text.embed import embed_text_files
    from acg2vec.trainers.text.evaluators import build_eval_sets, evaluate_model
    from acg2vec.trainers.text.input_module import load_encoder

    config, result = trained_tiny
    model = load_encoder(result.output)  # with the input normalisation saved in the folder
    # The reloaded model scores exactly what the trained one scored on the held-out sets.
    from acg2vec.trainers.text.data import load_pairs

    validation = load_pairs(config.data_dir, cache_dir=tmp_path / "cache").splits["validation"]
    reloaded = evaluate_model(model, build_eval_sets(validation))
    for key, value in result.metrics["trained"].items():
        assert reloaded[key] == pytest.approx(value, abs=1e-6), key
    texts = tmp_path / "titles.txt"
    texts.write_text("魔法の騎士\n\n魔法的骑士\nKnight of Magic\n", encoding="utf-8")
    embedded = embed_text_files(inputs=[texts], model=result.output, out=tmp_path / "vectors", batch_size=2)
    assert (embedded.read, embedded.written, embedded.dropped) == (4, 3, {"blank-line": 1})
    assert embedded.dead_letters == str(tmp_path / "dead_letters" / "embed-texts.jsonl.gz")
    with gzip.open(embedded.dead_letters, "rt", encoding="utf-8") as fh:
        (letter,) = [json.loads(line) for line in fh]
    assert (letter["step"], letter["reason"], letter["record"]) == (
        "embed-texts",
        "blank-line",
        {"id": "titles.txt:2"},
    )
    vectors = np.load(embedded.vectors_path)
    import pyarrow.parquet as pq

    ids = pq.read_table(embedded.ids_path).to_pylist()
    assert [r["id"] for r in ids] == ["titles.txt:1", "titles.txt:3", "titles.txt:4"]
    expected = model.encode(["魔法の騎士", "魔法的骑士", "Knight of Magic"])
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    # The folder names its input normalisation; embed and the reloaded model applied it alike (above).
    saved = json.loads((Path(result.output) / "sentence_bert_config.json").read_text())
    assert saved["text_normalization"] == "acg-script-v1"
