"""benchmarks/text_quality.py's ablation plan: one factor at a time from the default, and --set combinations."""

from __future__ import annotations

import dataclasses

import pytest

from acg2vec.trainers.text.configs import scratch_recipe  # the recipe the benchmark starts from
from tests.benchmarks.scripts import load_script

pytestmark = pytest.mark.unit


def _script():
    return load_script("text_quality")


def _knobs(module, config) -> dict:
    return {key: module.get_knob(config, key) for _, key, _ in module.ABLATION}


def test_every_ablation_run_changes_exactly_one_knob_of_the_default():
    module = _script()
    base = scratch_recipe()
    runs = module.ablation_runs(base)
    assert runs[0][0] == "default" and _knobs(module, runs[0][2]) == _knobs(module, base)
    expected = sum(len(choices) - 1 for *_, choices in module.ABLATION)  # the default's own value is its row
    assert len(runs) == 1 + expected
    for factor, choice, config in runs[1:]:
        changed = {k for k, v in _knobs(module, config).items() if v != module.get_knob(base, k)}
        key = next(key for name, key, _ in module.ABLATION if name == factor)
        assert changed == {key}, (factor, choice, changed)
    # The base recipe is never modified by building the runs.
    assert dataclasses.asdict(base) == dataclasses.asdict(scratch_recipe())


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
    rows = {module.ZERO_SHOT, f"{module.ZERO_SHOT} + fusion (weighted 0.5)", f"{module.ZERO_SHOT}, raw input"}
    assert set(test) == set(validation) == rows
    for figures in (*test.values(), *validation.values()):
        assert set(figures) == {"ja->zh", "zh->ja"}
    # Script-normalised, 鋼 and 钢 are one character: the fake encoder finds every translation.
    assert test[module.ZERO_SHOT]["ja->zh"] == {"acc@1": 1.0, "recall@10": 1.0}
