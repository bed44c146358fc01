"""The one place readers find a finished ``acg_text_pairs`` corpus: the trainer, the evaluation and the server.

A build publishes its Parquet folder whole, with ``build_metadata.json`` written last, so a folder without it
was made some other way or damaged since; :func:`parquet_root` refuses it in one sentence instead of reading a
part of a corpus. It also checks, cheaply, that the corpus is still what the build wrote (:func:`verify_corpus`):
``CHECKSUMS.json`` when the build recorded one, every part's Parquet footer, and each split's rows against the
count in ``build_metadata.json``. A damaged file is one :class:`~acg2vec.integrity.DamagedFileError` sentence
naming it, the pairs lost and `acg2vec build texts`.
"""

from __future__ import annotations

import json
import os

from acg2vec.beam_pipelines import files
from acg2vec.beam_pipelines.publish import require_complete
from acg2vec.datasets.acg_text_pairs import schema
from acg2vec.datasets.published import parquet_rows, verify_recorded_checksums
from acg2vec.errors import UserError
from acg2vec.integrity import DamagedFileError


def parquet_root(data_dir: str | os.PathLike[str]) -> str:
    """The Parquet folder of a complete corpus (``<split>/part-*.parquet`` + ``build_metadata.json``).

    ``data_dir``: the workdir's ``datasets`` folder (the corpus is ``parquet/acg_text_pairs`` below it), or the
    corpus folder itself.
    """
    root = os.path.expanduser(os.fspath(data_dir)).rstrip("/")
    for candidate in (schema.parquet_dataset_dir(root), f"{root}/{schema.NAME}", root):
        if files.match(f"{candidate}/*/*.parquet"):
            require_complete(candidate, marker=schema.BUILD_METADATA, build_command=schema.BUILD_COMMAND)
            return verify_corpus(candidate)
    raise UserError(
        f"No {schema.NAME} corpus found under {root} (expected parquet/{schema.NAME}/<split>/part-*.parquet); "
        f"build it first with `{schema.BUILD_COMMAND}`."
    )


def parquet_files(data_dir: str | os.PathLike[str], splits: tuple[str, ...] = schema.SPLITS) -> dict[str, list[str]]:
    """The Parquet files of each of ``splits`` of the complete corpus under ``data_dir``, in name order (a split
    the build wrote no rows for has none)."""
    root = parquet_root(data_dir)
    return {split: [path for path, _ in files.match(f"{root}/{split}/*.parquet")] for split in splits}


def verify_corpus(root: str) -> str:
    """``root`` if its files are what the build wrote (see the module doc); else the sentence of the first damaged
    one. Reads ``build_metadata.json`` and each part's footer, never the rows."""
    repair = schema.BUILD_COMMAND
    if "://" not in root:  # an object store's corpus is read through Beam's file systems: footers and rows below
        verify_recorded_checksums(root, what=f"the {schema.NAME} Parquet corpus", repair=repair)
    path = f"{root}/{schema.BUILD_METADATA}"
    data = files.read_bytes(path)
    try:
        metadata = json.loads(data.decode("utf-8"))
        expected = metadata.get("split_rows", {}) if isinstance(metadata, dict) else None
        if not isinstance(expected, dict):
            raise ValueError("not an object")
    except (UnicodeDecodeError, ValueError) as err:
        problem = "it is empty (0 bytes)" if not data else f"not the build's metadata ({err})"
        raise DamagedFileError(path, problem, lost="the corpus cannot be trusted", repair=repair) from None
    for split in schema.SPLITS:
        parts = [p for p, _ in files.match(f"{root}/{split}/*.parquet")]
        rows = sum(parquet_rows(p, repair=repair, lost=f"the {split} pairs in it are lost") for p in parts)
        if split in expected and rows != int(expected[split]):
            raise DamagedFileError(
                f"{root}/{split}",
                f"its {len(parts)} Parquet parts hold {rows:,} rows where the build wrote {int(expected[split]):,}",
                lost=f"{abs(int(expected[split]) - rows):,} {split} pairs are lost or were added since",
                repair=repair,
            )
    return root
