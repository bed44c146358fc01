"""Named recipes: each one a config with defaults and a docstring giving its command."""

from __future__ import annotations

import pytest

from acg2vec.errors import UserError
from acg2vec.trainers.text.base_model import E5, SCRATCH
from acg2vec.trainers.text.configs import (
    DEMO_MAX_SEQ_LENGTH,
    RECIPES,
    TextTrainConfig,
    recipe,
    resolved_base_cache_dir,
    resolved_learning_rate,
)
from acg2vec.trainers.text.train import check_config

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_is_a_valid_config_with_its_command(name):
    config = recipe(name)
    assert isinstance(config, TextTrainConfig)
    check_config(config)  # no recipe fails the trainer's own checks
    assert "acg2vec train text" in RECIPES[name].__doc__


def test_default_recipe_fine_tunes_multilingual_e5_normalised_ranking_both_ways():
    config = recipe("default")
    assert config.base_model == E5 == TextTrainConfig().base_model
    assert config.small.normalization == "acg-script-v1"
    assert config.loss == "symmetric-mnrl" and config.hard_negatives == 0  # measured: not worth their cost
    assert resolved_learning_rate(config) == 1e-4 and config.epochs == 2  # measured on the dev set
    assert resolved_learning_rate(TextTrainConfig(base_model="some/hub-model")) == 5e-5  # other bases
    assert recipe("original").hard_negatives == 0 and recipe("original").loss == "mnrl"


def test_scratch_swapped_into_the_default_recipe_builds_the_scratch_model_at_its_rate():
    config = recipe("default")
    config.base_model = SCRATCH
    assert config.small == recipe("scratch").small and resolved_learning_rate(config) == 5e-4


def test_scratch_recipe_is_the_one_chosen_on_the_validation_seasons():
    # docs/benchmarks.md, "Recipe ablation": hidden 256 for 20 epochs over an every-Han-and-kana vocabulary.
    config = recipe("scratch")
    assert config.base_model == SCRATCH and recipe("demo_scratch").base_model == SCRATCH
    assert (config.small.hidden_size, config.small.num_layers, config.small.num_heads) == (256, 2, 4)
    assert config.small.vocabulary == "all-cjk" and config.small.tokenizer == "cjk-char"
    assert (config.epochs, config.learning_rate, config.batch_size) == (20, 5e-4, 64)
    assert recipe("tiny").base_model == SCRATCH


def test_imported_base_models_are_cached_in_the_workspace():
    config = TextTrainConfig(output="/w/models/acgvoc2vec", cache_dir="/w/cache/hf_datasets")
    assert resolved_base_cache_dir(config) == "/w/cache/base_models"
    config.base_cache_dir = "/elsewhere"
    assert resolved_base_cache_dir(config) == "/elsewhere"
    assert resolved_base_cache_dir(TextTrainConfig(output="/m")) == "/m/cache/base_models"


def test_unknown_recipe_is_a_user_error():
    with pytest.raises(UserError, match="Unknown text recipe 'huge'; choose one of default, scratch, original, tiny"):
        recipe("huge")


def test_demo_recipe_fine_tunes_multilingual_e5_briefly_with_the_default_recipes_choices():
    demo, default = recipe("demo"), recipe("default")
    assert demo.base_model == E5 and demo.max_steps > 0  # a few steps, not epochs: the demo's minutes
    assert resolved_learning_rate(demo) == resolved_learning_rate(default) == 1e-4
    assert (demo.loss, demo.hard_negatives, demo.small.normalization) == (
        default.loss,
        default.hard_negatives,
        default.small.normalization,
    )
    assert demo.eval_steps >= demo.max_steps  # evaluated before and after, not in between
    # Its texts are short: capped well below the model's 512 tokens (the default recipe keeps the model's own).
    assert demo.max_seq_length == DEMO_MAX_SEQ_LENGTH < 512 and default.max_seq_length is None
    assert 0 < demo.freeze_layers < 12  # the lower layers keep the pretrained model's cross-lingual alignment
    assert (default.freeze_embeddings, default.freeze_layers) == (False, 0)
