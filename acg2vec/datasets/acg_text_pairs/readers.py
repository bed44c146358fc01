"""The one place readers find a finished ``acg_text_pairs`` corpus: the trainer, the evaluation and the server.

A build publishes its Parquet folder whole, with ``build_metadata.json`` written last, so a folder without it
was made some other way or damaged since; :func:`parquet_root` refuses it in one sentence instead of reading a
part of a corpus.
"""

from __future__ import annotations

import os

from acg2vec.beam_pipelines import files
from acg2vec.beam_pipelines.publish import require_complete
from acg2vec.datasets.acg_text_pairs import schema
from acg2vec.errors import UserError


def parquet_root(data_dir: str | os.PathLike[str]) -> str:
    """The Parquet folder of a complete corpus (``<split>/part-*.parquet`` + ``build_metadata.json``).

    ``data_dir``: the workdir's ``datasets`` folder (the corpus is ``parquet/acg_text_pairs`` below it), or the
    corpus folder itself.
    """
    root = os.path.expanduser(os.fspath(data_dir)).rstrip("/")
    for candidate in (schema.parquet_dataset_dir(root), f"{root}/{schema.NAME}", root):
        if files.match(f"{candidate}/*/*.parquet"):
            return require_complete(candidate, marker=schema.BUILD_METADATA, build_command=schema.BUILD_COMMAND)
    raise UserError(
        f"No {schema.NAME} corpus found under {root} (expected parquet/{schema.NAME}/<split>/part-*.parquet); "
        f"build it first with `{schema.BUILD_COMMAND}`."
    )


def parquet_files(data_dir: str | os.PathLike[str], splits: tuple[str, ...] = schema.SPLITS) -> dict[str, list[str]]:
    """The Parquet files of each of ``splits`` of the complete corpus under ``data_dir``, in name order (a split
    the build wrote no rows for has none)."""
    root = parquet_root(data_dir)
    return {split: [path for path, _ in files.match(f"{root}/{split}/*.parquet")] for split in splits}
