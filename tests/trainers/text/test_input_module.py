"""The normalising input module travels with the model folder and loads without trust_remote_code."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.trainers.text.base_model import SmallModelConfig, build_small_model
from acg2vec.trainers.text.input_module import NormalizedTransformer, encoder_normalization, load_encoder

pytestmark = pytest.mark.integration

TEXTS = ["鋼の錬金術師", "钢之炼金术师", "涼宮ハルヒの憂鬱", "凉宫春日的忧郁", "Magic Knight"] * 3
SMALL = SmallModelConfig(vocab_size=200, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)


def test_saved_folder_names_the_module_and_reloads_it(tmp_path):
    model = build_small_model(TEXTS, out_dir=tmp_path / "base", config=SMALL)
    model.save(str(tmp_path / "model"))
    modules = json.loads((tmp_path / "model" / "modules.json").read_text())
    assert modules[0]["type"] == "acg2vec.trainers.text.input_module.NormalizedTransformer"
    config = json.loads((tmp_path / "model" / "sentence_bert_config.json").read_text())
    assert config["text_normalization"] == "acg-script-v1"

    loaded = load_encoder(tmp_path / "model")
    assert isinstance(loaded[0], NormalizedTransformer) and encoder_normalization(loaded) == "acg-script-v1"
    assert loaded.max_seq_length == model.max_seq_length
    texts = ["鋼の錬金術師", "钢の炼金术师", "Magic Knight"]
    np.testing.assert_allclose(loaded.encode(texts), model.encode(texts), atol=1e-6)
    # The same Han characters in Japanese and Simplified forms are one input to the encoder.
    vectors = loaded.encode(texts[:2])
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)


def test_plain_loading_asks_for_trust_and_no_normalisation_loads_plainly(tmp_path):
    from sentence_transformers import SentenceTransformer

    model = build_small_model(TEXTS, out_dir=tmp_path / "base", config=SMALL)
    model.save(str(tmp_path / "model"))
    with pytest.raises(ValueError, match="trust_remote_code"):
        SentenceTransformer(str(tmp_path / "model"), device="cpu")
    trusted = SentenceTransformer(str(tmp_path / "model"), device="cpu", trust_remote_code=True)
    assert isinstance(trusted[0], NormalizedTransformer)

    raw = build_small_model(
        TEXTS, out_dir=tmp_path / "raw-base", config=dataclasses.replace(SMALL, normalization="none")
    )
    raw.save(str(tmp_path / "raw"))
    vectors = load_encoder(tmp_path / "raw").encode(["鋼の錬金術師", "钢の炼金术师"])
    assert not np.allclose(vectors[0], vectors[1])


def test_a_folder_naming_foreign_code_is_refused(tmp_path):
    model = build_small_model(TEXTS, out_dir=tmp_path / "base", config=SMALL)
    model.save(str(tmp_path / "model"))
    spec_path = tmp_path / "model" / "modules.json"
    spec = json.loads(spec_path.read_text())
    spec.append({"idx": 2, "name": "2", "path": "", "type": "somewhere.Evil"})
    spec_path.write_text(json.dumps(spec))
    with pytest.raises(UserError, match="somewhere.Evil'.*which acg2vec does not load"):  # a refusal, not damage
        load_encoder(tmp_path / "model")


def test_the_prompt_saved_with_a_normalising_model_is_applied_after_loading(tmp_path):
    model = build_small_model(TEXTS, out_dir=tmp_path / "base", config=SMALL)
    model.prompts = {"query": "query: ", "document": "query: "}
    model.default_prompt_name = "query"
    model.save(str(tmp_path / "model"))

    loaded = load_encoder(tmp_path / "model")
    assert isinstance(loaded[0], NormalizedTransformer)
    assert loaded.default_prompt_name == "query" and loaded.prompts["document"] == "query: "
    spelled_out = loaded.encode(["query: 鋼の錬金術師"], prompt="")
    np.testing.assert_allclose(loaded.encode(["鋼の錬金術師"]), spelled_out, atol=1e-6)
    np.testing.assert_allclose(loaded.encode_document(["鋼の錬金術師"]), spelled_out, atol=1e-6)
    assert not np.allclose(loaded.encode(["鋼の錬金術師"], prompt=""), spelled_out)
