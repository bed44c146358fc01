"""benchmarks/text_recipe.py: how a variant of the demo's text recipe is written on the command line."""

from __future__ import annotations

import pytest

from tests.benchmarks.scripts import load_script

pytestmark = pytest.mark.unit


def test_a_variant_names_typed_changes_to_the_demo_recipe():
    module = load_script("text_recipe")
    assert module.parse_variant("demo recipe:") == ("demo recipe", {})
    name, fields = module.parse_variant("frozen, slower: freeze_layers=8, learning_rate=5e-5,max_seq_length=none")
    assert name == "frozen, slower" and fields == {"freeze_layers": 8, "learning_rate": 5e-5, "max_seq_length": None}
    assert module.parse_variant("x:freeze_embeddings=true,loss=mnrl")[1] == {"freeze_embeddings": True, "loss": "mnrl"}
    with pytest.raises(ValueError, match="not key=value"):
        module.parse_variant("x:freeze_layers")
