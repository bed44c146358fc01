"""benchmarks/text_quality.py's ablation plan: one factor at a time from the default, and --set combinations."""

from __future__ import annotations

import dataclasses

import pytest

from acg2vec.trainers.text.configs import RECIPES, scratch_recipe  # the recipes the benchmark starts from
from tests.benchmarks.scripts import load_script

pytestmark = pytest.mark.unit


def _script():
    return load_script("text_quality")


def _knobs(module, config, plan) -> dict:
    return {key: module.get_knob(config, key) for _, key, _ in plan}


@pytest.mark.parametrize(("recipe", "plan"), [("scratch", "ABLATION"), ("default", "ABLATION_E5")])
def test_every_ablation_run_changes_exactly_one_knob_of_the_default(recipe, plan):
    module = _script()
    plan = getattr(module, plan)
    assert module.ABLATIONS[recipe] is plan
    base = RECIPES[recipe]()
    runs = module.ablation_runs(base, plan)
    default = _knobs(module, base, plan)
    assert runs[0][0] == "default" and _knobs(module, runs[0][2], plan) == default
    expected = sum(len(choices) - 1 for *_, choices in plan)  # the default's own value is its row
    assert len(runs) == 1 + expected
    for factor, choice, config in runs[1:]:
        changed = {k for k, v in _knobs(module, config, plan).items() if v != default[k]}
        key = next(key for name, key, _ in plan if name == factor)
        # loss@batch is the loss and the batch size together: a batch size change moves both knobs
        assert changed in ({key}, {"loss@batch", "batch_size"}), (factor, choice, changed)
    # The base recipe is not modified by building the runs.
    assert dataclasses.asdict(base) == dataclasses.asdict(RECIPES[recipe]())


def test_the_e5_plan_covers_the_recipe_questions_as_training_config_fields():
    module = _script()
    keys = {key for _, key, _ in module.ABLATION_E5}
    assert {"learning_rate", "epochs", "batch_size", "seed", "hard_negatives"} <= keys
    assert {"max_seq_length", "freeze_embeddings", "freeze_layers", "loss@batch"} <= keys
    config = RECIPES["default"]()
    module.set_knob(config, "loss@batch", "cached-symmetric-mnrl@256")
    assert (config.loss, config.batch_size) == ("cached-symmetric-mnrl", 256)
    assert module.get_knob(config, "loss@batch") == "cached-symmetric-mnrl@256"
    module.set_knob(config, "freeze_layers", 4)
    assert module.recipe_summary(config)["freeze_layers"] == 4


def test_set_changes_the_starting_recipe_with_typed_values():
    module = _script()
    config = scratch_recipe()
    for change in ("epochs=5", "learning_rate=2e-3", "small.vocabulary=corpus", "size=h64 x2", "hard_negatives=1"):
        key, _, value = change.partition("=")
        module.set_knob(config, key, module.parse_value(module.get_knob(config, key), value))
    assert config.epochs == 5 and isinstance(config.epochs, int)
    assert config.learning_rate == 2e-3 and config.hard_negatives == 1
    assert config.small.vocabulary == "corpus"
    assert (config.small.hidden_size, config.small.num_layers, config.small.intermediate_size) == (64, 2, 256)
    assert module.size_of(config) == "h64 x2"


class _CharacterEncoder:
    """A fake encoder whose right answers are known: one dimension per character, so shared characters match."""

    def encode(self, texts, **_):
        import numpy as np

        vectors = np.zeros((len(texts), 0x10000), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text:
                vectors[row, ord(char) % 0x10000] += 1.0
        return vectors


def test_zero_shot_rows_sit_beside_the_baselines_for_both_splits_and_directions():
    module = _script()
    train = ["涼宮ハルヒの憂鬱", "凉宫春日的忧郁", "鋼の錬金術師", "钢之炼金术师"]
    ja, zh = ["鋼の錬金術師", "涼宮ハルヒの憂鬱"], ["钢之炼金术师", "凉宫春日的忧郁"]
    test, validation = module.zero_shot_scores(_CharacterEncoder(), (train, ja, zh), (train, ja[::-1], zh[::-1]))
    fusions = {f"{module.ZERO_SHOT} + fusion (weighted {w})" for w in module.FUSION_WEIGHTS}
    rows = {module.ZERO_SHOT, *fusions, f"{module.ZERO_SHOT}, raw input"}
    assert set(test) == set(validation) == rows
    for figures in (*test.values(), *validation.values()):
        assert set(figures) == {"ja->zh", "zh->ja"}
    # Script-normalised, 鋼 and 钢 are one character: the fake encoder finds every translation.
    assert test[module.ZERO_SHOT]["ja->zh"] == {"acc@1": 1.0, "recall@10": 1.0}
