"""Embed texts with a trained encoder: ``<out>.npy`` (float32, one row per text) + ``<out>.parquet`` (ids, row order).

Inputs are UTF-8 text files, one text per line. A text's id is ``<file name>:<line number>`` (1-based), so a
vector can always be traced back to its line. Blank lines are not embedded: they are counted and written to
``dead_letters/embed-texts.jsonl.gz`` beside ``<out>`` under ``blank-line``, and lines that are not UTF-8 under
``not-utf8`` (read = written + dropped). Texts go through the model folder's own steps (its script normalisation,
its default prompt: ``query: `` for multilingual-e5-small), as ``SentenceTransformer.encode`` applies them; a text
longer than the model's token limit is embedded from its first tokens, and the number of such lines is reported
(``truncated``).

The model folder is checked before it is loaded (a damaged file is one sentence naming it and the command that
rebuilds the model), and both output files are fsynced before either replaces the previous ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from acg2vec.deadletter import DeadLetters, dead_letter_path
from acg2vec.errors import UserError
from acg2vec.integrity import disk_full_is_one_sentence

log = logging.getLogger(__name__)

BLANK_LINE = "blank-line"
NOT_UTF8 = "not-utf8"
STEP = "embed-texts"  # the dead-letter step: dead_letters/embed-texts.jsonl.gz beside the output


@dataclass(slots=True)
class EmbedResult:
    vectors_path: str
    ids_path: str
    read: int
    written: int
    dropped: dict[str, int] = field(default_factory=dict)
    dead_letters: str = ""  # the file the dropped lines were appended to
    truncated: int = 0  # lines longer than the model's token limit, embedded from their first tokens


def read_texts(inputs: list[Path], dead: DeadLetters) -> tuple[list[str], list[str], int]:
    """(ids, texts, lines read) from the input files; unusable lines go to ``dead``."""
    ids, texts, read = [], [], 0
    for path in inputs:
        path = Path(path)
        if path.is_dir():
            raise UserError(f"{path} is a folder; `embed --text` takes text files with one text per line.")
        if not path.exists():
            raise UserError(f"Input file {path} does not exist.")
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                read += 1
                line_id = f"{path.name}:{number}"
                try:
                    text = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as err:
                    dead.add(NOT_UTF8, {"id": line_id, "text": raw}, detail=str(err))
                    continue
                if not text.strip():
                    dead.add(BLANK_LINE, {"id": line_id})
                    continue
                ids.append(line_id)
                texts.append(text)
    return ids, texts, read


def embed_text_files(*, inputs: list[Path], model: Path | str, out: Path | str, batch_size: int = 32) -> EmbedResult:
    """Embed the lines of ``inputs``; ``<out>.npy`` and ``<out>.parquet`` appear together at the end, or neither."""
    if batch_size < 1:
        raise UserError(f"--batch-size must be 1 or more, not {batch_size}.")
    import os

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = Path(model)
    if not (model / "modules.json").exists():
        raise UserError(f"No text model at {model}; train one with `acg2vec train text` or give --model.")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with DeadLetters(dead_letter_path(out.parent, STEP), step=STEP) as dead:
        ids, texts, read = read_texts(inputs, dead)
    from acg2vec.trainers.text.input_module import load_encoder

    encoder = load_encoder(model, device="cpu")  # with the input normalisation saved in the folder
    log.info("Embedding %d texts with %s", len(texts), model)
    vectors = encoder.encode(texts, batch_size=batch_size, show_progress_bar=True, convert_to_numpy=True)
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), encoder.get_embedding_dimension())
    truncated = count_truncated(encoder, texts)
    vectors_path, ids_path = out.with_name(out.name + ".npy"), out.with_name(out.name + ".parquet")
    table = pa.table({"row": pa.array(range(len(ids)), pa.int64()), "id": ids, "text": texts})
    tmp_vectors = out.with_name(f"{out.name}.npy.tmp-{os.getpid()}")
    tmp_ids = out.with_name(f"{out.name}.parquet.tmp-{os.getpid()}")
    try:
        # Both files written and fsynced before either is renamed into place; a full disk is one sentence.
        with disk_full_is_one_sentence(out.parent):
            with tmp_vectors.open("wb") as fh:
                np.save(fh, vectors)
                fh.flush()
                os.fsync(fh.fileno())
            with tmp_ids.open("wb") as fh:
                pq.write_table(table, fh, compression="zstd")
                fh.flush()
                os.fsync(fh.fileno())
        tmp_vectors.replace(vectors_path)
        tmp_ids.replace(ids_path)
    finally:
        tmp_vectors.unlink(missing_ok=True)
        tmp_ids.unlink(missing_ok=True)
    result = EmbedResult(
        str(vectors_path),
        str(ids_path),
        read=read,
        written=len(ids),
        dropped=dict(dead.counts),
        dead_letters=str(dead.path),
        truncated=truncated,
    )
    if truncated:
        log.warning(
            "%d of %d lines are longer than the model's %d tokens: embedded from their first tokens",
            truncated,
            len(texts),
            encoder.max_seq_length,
        )
    if dead.counts:
        log.warning("Skipped %d of %d lines: %s", dead.total, read, dict(dead.counts))
    return result


def count_truncated(encoder, texts: list[str]) -> int:
    """How many ``texts`` have more tokens than ``encoder`` reads, counted on the strings its tokenizer sees."""
    from acg2vec.trainers.text.onnx_export import EncoderInputs

    prepared = EncoderInputs.of_model(encoder).prepare(texts)
    lengths = encoder.tokenizer(prepared, add_special_tokens=True, truncation=False)["input_ids"]
    return sum(len(ids) > encoder.max_seq_length for ids in lengths)
