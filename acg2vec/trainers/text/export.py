"""Export the trained encoder: a sentence-transformers folder plus what a reader needs to trust it.

Written into the folder :func:`~acg2vec.trainers.text.model_folder.text_model_writer` yields, so the model
replaces the previous one whole, with its files recorded in ``CHECKSUMS.json``.

<output>/                 loadable with SentenceTransformer(<output>)
  CHECKSUMS.json          size and SHA-256 of every model file (not checkpoints/, dead_letters/, cache/, onnx/)
  README.md               model card: data, pair types, metrics beside the baselines (then the library's card)
  training_args.json      the acg2vec config and the trainer's arguments
  eval_results.json       lexical / untrained / trained metrics, data counts, steps, time
  training_curves.png     held-out metrics over training steps, baselines as dashed lines
  checkpoints/            trainer checkpoints (for --resume)
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acg2vec.trainers.text.base_model import E5, is_scratch
from acg2vec.trainers.text.configs import resolved_learning_rate
from acg2vec.trainers.text.e5_import import HUB_ID, SOURCE_PACKAGE
from acg2vec.trainers.text.evaluators import tidy_metrics

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from acg2vec.trainers.text.configs import TextTrainConfig

log = logging.getLogger(__name__)

CARD_MARKER = "<!-- acg2vec card end -->"


def export_model(
    model: SentenceTransformer,
    output: str | Path,
    *,
    result: dict[str, Any],
    config: TextTrainConfig,
    training_args: dict[str, Any],
    log_history: list[dict[str, Any]],
) -> None:
    output = Path(output)
    model.model_card_data.language = ["ja", "zh", "en"]
    model.model_card_data.model_name = "acgvoc2vec"
    model.save(str(output))
    (output / "training_args.json").write_text(
        json.dumps(
            {"acg2vec": _jsonable(asdict(config)), "trainer": _jsonable(training_args)}, indent=2, ensure_ascii=False
        )
    )
    (output / "eval_results.json").write_text(
        json.dumps({**result, "log_history": log_history}, indent=2, ensure_ascii=False)
    )
    plot_curves(log_history, result["metrics"], output / "training_curves.png")
    library_card = (output / "README.md").read_text(encoding="utf-8") if (output / "README.md").exists() else ""
    (output / "README.md").write_text(model_card(result, config) + "\n" + library_card, encoding="utf-8")


def model_card(result: dict[str, Any], config: TextTrainConfig) -> str:
    """The acg2vec part of the card: what it was trained on and how it scores against its baselines."""
    metrics = result["metrics"]
    names = sorted(set().union(*(m.keys() for m in metrics.values())))
    names = [n for n in names if n.endswith("mean_accuracy") or n.startswith("ir_")]
    lines = [
        "# acgvoc2vec",
        "",
        "A multilingual (ja / zh / en) sentence encoder for anime, comics and games names, titles and summaries,",
        "trained by acg2vec on the `acg_text_pairs` corpus with in-batch negatives.",
        "",
        "```python",
        "from sentence_transformers import SentenceTransformer",
        'model = SentenceTransformer("path/to/this/folder")',
        "```",
        "",
        "## Training data",
        "",
        f"{result['train_pairs']} training pairs (held-out works are in the validation split). Pair types:",
        "",
        "| pair type | pairs |",
        "|---|---:|",
        *(f"| {pt} | {n} |" for pt, n in result["pair_types"].items()),
        "",
        f"Base model: {base_model_description(config.base_model)}; "
        f"loss {config.loss}, batch {config.batch_size}, learning rate {resolved_learning_rate(config)}, "
        f"{result['global_step']} steps, {result['seconds']} s.",
        *_damaged_lines(result),
        "",
        "## Held-out evaluation",
        "",
        "Translation accuracy is the mean of both directions; retrieval ranks every validation positive for each anchor.",
        "",
        "| metric | lexical (char n-gram TF-IDF) | base model before training | trained |",
        "|---|---:|---:|---:|",
        *(
            f"| {n} | {_fmt(metrics.get('lexical', {}).get(n))} | {_fmt(metrics.get('untrained', {}).get(n))} "
            f"| {_fmt(metrics.get('trained', {}).get(n))} |"
            for n in names
        ),
        "",
        CARD_MARKER,
    ]
    return "\n".join(lines) + "\n"


def _damaged_lines(result: dict[str, Any]) -> list[str]:
    """The files the run went on without (damaged checkpoints it resumed past), as the card states them."""
    files = result.get("damaged_files") or []
    if not files:
        return []
    return [
        "",
        f"Resumed from {Path(result['resumed_from'] or '').name}; damaged-file: {len(files)} "
        f"({', '.join(f['path'] for f in files)}).",
    ]


def base_model_description(base_model: str | None) -> str:
    if is_scratch(base_model):
        return "small BERT built from scratch with a corpus-trained tokenizer"
    if base_model == E5:
        return f"{HUB_ID}, imported offline from the {SOURCE_PACKAGE} package's 4-bit file"
    return str(base_model)


def plot_curves(log_history: list[dict[str, Any]], metrics: dict[str, dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Eval log entries carry the evaluators' raw names ("eval_ir_cosine_mrr@10"): tidy them like the results.
    evals = [(e["step"], tidy_metrics(e)) for e in log_history if any(k.startswith("eval_") for k in e)]
    keys = [k for k in ("translation_ja-zh_mean_accuracy", "ir_mrr@10") if any(k in m for _, m in evals)]
    fig, axes = plt.subplots(1, max(len(keys), 1), figsize=(5 * max(len(keys), 1), 3.5), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=False):
        points = [(step, m[key]) for step, m in evals if key in m]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label="training")
        for name, label, style in (("lexical", "lexical", "--"), ("untrained", "before training", ":")):
            if key in metrics.get(name, {}):
                ax.axhline(metrics[name][key], linestyle=style, color="grey", label=label)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
