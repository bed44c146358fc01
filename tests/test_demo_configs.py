"""The demo's settings are named configs a user can run by name; the demo only adds its workdir and seed."""

from __future__ import annotations

import pytest

from acg2vec.demo import DemoConfig, _image_config, demo_models
from acg2vec.workspace import Workspace

pytestmark = pytest.mark.unit


def test_the_demo_trains_named_image_configs_with_its_workdir_seed_and_size(tmp_path):
    ws = Workspace.at(str(tmp_path))
    tagger = _image_config("demo_tagger", ws, DemoConfig())
    assert (tagger.model, tagger.image_size, tagger.batch_size, tagger.epochs, tagger.patience) == (
        "deepdanbooru", 128, 32, 8, 8,
    )  # fmt: skip
    assert tagger.deterministic and tagger.data_dir == ws.datasets() and tagger.model_dir == ws.models("deepdanbooru")
    deepix = _image_config("demo_deepix", ws, DemoConfig(image_size=96, seed=3))
    assert deepix.model_options == {"encoder_layer": "activation_36", "head_filters": 32}
    assert (deepix.image_size, deepix.seed, deepix.epochs, deepix.model_dir) == (96, 3, 3, ws.models("deepix"))
    assert demo_models() == ("deepdanbooru", "deepix", "illust2vec", "acgvoc2vec")


def test_the_demo_text_recipe_and_build_rules_are_named():
    from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig
    from acg2vec.trainers.text.base_model import E5
    from acg2vec.trainers.text.configs import DEMO_STEPS, recipe

    text = recipe("demo")  # multilingual-e5-small for a few steps: the demo's report has zero-shot and fine-tuned rows
    assert (text.base_model, text.batch_size, text.max_steps, text.eval_steps) == (E5, 32, DEMO_STEPS, DEMO_STEPS)
    build = ImageBuildConfig.demo()
    assert build.size == 224 and build.filters.min_general_tags == 6 and build.vocabulary.min_images == 5
    assert build.splits.modulus == 10 and build.splits.ranges["test"] == (9, 10)
