"""benchmarks/text_quality.py's ablation plan: one factor at a time from the default, and --set combinations."""

from __future__ import annotations

import dataclasses

import pytest

from acg2vec.trainers.text.configs import default_recipe
from tests.benchmarks.scripts import load_script

pytestmark = pytest.mark.unit


def _script():
    return load_script("text_quality")


def _knobs(module, config) -> dict:
    return {key: module.get_knob(config, key) for _, key, _ in module.ABLATION}


def test_every_ablation_run_changes_exactly_one_knob_of_the_default():
    module = _script()
    base = default_recipe()
    runs = module.ablation_runs(base)
    assert runs[0][0] == "default" and _knobs(module, runs[0][2]) == _knobs(module, base)
    expected = sum(len(choices) - 1 for *_, choices in module.ABLATION)  # the default's own value is its row
    assert len(runs) == 1 + expected
    for factor, choice, config in runs[1:]:
        changed = {k for k, v in _knobs(module, config).items() if v != module.get_knob(base, k)}
        key = next(key for name, key, _ in module.ABLATION if name == factor)
        assert changed == {key}, (factor, choice, changed)
    # The base recipe is never modified by building the runs.
    assert dataclasses.asdict(base) == dataclasses.asdict(default_recipe())


def test_set_changes_the_starting_recipe_with_typed_values():
    module = _script()
    config = default_recipe()
    for change in ("epochs=5", "learning_rate=2e-3", "small.vocabulary=corpus", "size=h64 x2", "hard_negatives=1"):
        key, _, value = change.partition("=")
        module.set_knob(config, key, module.parse_value(module.get_knob(config, key), value))
    assert config.epochs == 5 and isinstance(config.epochs, int)
    assert config.learning_rate == 2e-3 and config.hard_negatives == 1
    assert config.small.vocabulary == "corpus"
    assert (config.small.hidden_size, config.small.num_layers, config.small.intermediate_size) == (64, 2, 256)
    assert module.size_of(config) == "h64 x2"
