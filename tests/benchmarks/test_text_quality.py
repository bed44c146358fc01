"""benchmarks/text_quality.py's ablation plan: one factor at a time from the default, and --set combinations."""

from __future__ import annotations

import dataclasses

import pytest

from acg2vec.trainers.text.configs import RECIPES, scratch_recipe  # the recipes the benchmark starts from
from tests.benchmarks.scripts import load_script

pytestmark = pytest.mark.unit


def _script():
    return load_script("text_quality")


def _knobs(module, config, plan, tweaks=None) -> dict:
    return {key: module.get_knob(config, key, tweaks) for _, key, _ in plan}


@pytest.mark.parametrize(("recipe", "plan"), [("scratch", "ABLATION"), ("default", "ABLATION_E5")])
def test_every_ablation_run_changes_exactly_one_knob_of_the_default(recipe, plan):
    module = _script()
    plan = getattr(module, plan)
    assert module.ABLATIONS[recipe] is plan
    base = RECIPES[recipe]()
    runs = module.ablation_runs(base, plan)
    default = _knobs(module, base, plan)
    assert runs[0][0] == "default" and _knobs(module, runs[0][2], plan, runs[0][3]) == default
    expected = sum(len(choices) - 1 for *_, choices in plan)  # the default's own value is its row
    assert len(runs) == 1 + expected
    for factor, choice, config, tweaks in runs[1:]:
        changed = {k for k, v in _knobs(module, config, plan, tweaks).items() if v != default[k]}
        key = next(key for name, key, _ in plan if name == factor)
        assert changed == {key}, (factor, choice, changed)
    # Neither the base recipe nor the shared default tweaks are modified by building the runs.
    assert dataclasses.asdict(base) == dataclasses.asdict(RECIPES[recipe]())
    assert module.MODEL_TWEAKS == {"model.max_seq_length": None, "model.freeze_embeddings": False}


def test_the_e5_plan_covers_the_fine_tuning_choices_and_the_base_model_tweaks_apply():
    module = _script()
    keys = {key for _, key, _ in module.ABLATION_E5}
    assert {"learning_rate", "epochs", "batch_size", "seed"} <= keys
    assert {"model.max_seq_length", "model.freeze_embeddings"} <= keys
    config = RECIPES["default"]()
    with pytest.raises(KeyError):
        module.set_knob(config, "model.freeze_embeddings", True)  # a base-model knob needs the run's tweaks


class _FakeSentenceModel:
    """What the tweaks touch: ``max_seq_length`` and the first module's ``auto_model`` (a tiny BERT)."""

    def __init__(self, *_args, **_kwargs):  # called as load_base_model(base_model, ...)
        from types import SimpleNamespace

        from transformers import BertConfig, BertModel

        config = BertConfig(
            vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16
        )
        self.modules = [SimpleNamespace(auto_model=BertModel(config))]
        self.max_seq_length = 512

    def __getitem__(self, index):
        return self.modules[index]


def test_tweaked_base_models_freeze_the_embeddings_and_cap_the_sequence_length_only_inside_the_context():
    from acg2vec.trainers.text import train as trainer

    module = _script()
    original = trainer.load_base_model
    trainer.load_base_model = _FakeSentenceModel
    try:
        with module.tweaked_base_models({"model.max_seq_length": 32, "model.freeze_embeddings": True}):
            tweaked = trainer.load_base_model("any")
        assert trainer.load_base_model is _FakeSentenceModel
        with module.tweaked_base_models(dict(module.MODEL_TWEAKS)):
            untouched = trainer.load_base_model("any")
    finally:
        trainer.load_base_model = original
    bert = tweaked[0].auto_model
    assert tweaked.max_seq_length == 32
    assert not any(p.requires_grad for p in bert.embeddings.parameters())
    assert all(p.requires_grad for p in bert.encoder.parameters())
    assert untouched.max_seq_length == 512
    assert all(p.requires_grad for p in untouched[0].auto_model.parameters())


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
