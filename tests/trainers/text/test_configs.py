"""Named recipes: each one a config with defaults and a docstring giving its command."""

from __future__ import annotations

import pytest

from acg2vec.errors import UserError
from acg2vec.trainers.text.configs import RECIPES, TextTrainConfig, recipe
from acg2vec.trainers.text.train import check_config

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_is_a_valid_config_with_its_command(name):
    config = recipe(name)
    assert isinstance(config, TextTrainConfig)
    check_config(config)  # no recipe fails the trainer's own checks
    assert "acg2vec train text" in RECIPES[name].__doc__


def test_default_recipe_normalises_and_ranks_both_ways():
    config = recipe("default")
    assert config.base_model is None and config.small.normalization == "acg-script-v1"
    assert config.loss == "symmetric-mnrl" and config.hard_negatives == 0  # measured: not worth their cost
    assert recipe("original").hard_negatives == 0 and recipe("original").loss == "mnrl"


def test_default_recipe_is_the_one_chosen_on_the_validation_seasons():
    # docs/benchmarks.md, "Recipe ablation": hidden 256 for 20 epochs over an every-Han-and-kana vocabulary.
    config = recipe("default")
    assert (config.small.hidden_size, config.small.num_layers, config.small.num_heads) == (256, 2, 4)
    assert config.small.vocabulary == "all-cjk" and config.small.tokenizer == "cjk-char"
    assert (config.epochs, config.learning_rate, config.batch_size) == (20, 5e-4, 64)


def test_unknown_recipe_is_a_user_error():
    with pytest.raises(UserError, match="Unknown text recipe 'huge'; choose one of default, original, tiny"):
        recipe("huge")
