"""The one on-disk layout of a chosen index, written by ``acg2vec index`` and ``acg2vec eval images`` and read by
``acg2vec serve``::

    <folder>/index.faiss          the FAISS index
    <folder>/index_choice.json    the :class:`ChosenIndex`: factory, tuned search parameters, why, measured curve;
                                  and under ``written`` what was written: the vector count (``ntotal``), the
                                  dimension, the factory, the ids' count and where the vectors came from
    <folder>/ids.npy              optional: the id of every row (int64)
    <folder>/CHECKSUMS.json       size and SHA-256 of every file (:func:`acg2vec.integrity.atomic_folder`)

:func:`save_index` writes the folder whole or not at all (temporary folder, fsync, rename); a full disk is
:class:`~acg2vec.integrity.DiskFullError` and the previous folder stays. :func:`load_index` checks the folder before
FAISS reads it (sizes and checksums, then the index's ``ntotal`` and dimension against what was written and the
ids' length against ``ntotal``) and names a damaged file with :class:`~acg2vec.integrity.DamagedFileError`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

import numpy as np

from acg2vec.errors import UserError
from acg2vec.indexes.search import apply_params
from acg2vec.integrity import (
    DamagedFileError,
    atomic_folder,
    atomic_write,
    atomic_write_json,
    disk_full_is_one_sentence,
    verify_checksums,
)

log = logging.getLogger(__name__)

INDEX_FILE = "index.faiss"
CHOICE_FILE = "index_choice.json"
IDS_FILE = "ids.npy"
WRITTEN = "written"  # the key of index_choice.json recording what was written


@dataclass(slots=True)
class ChosenIndex:
    """What index was chosen and why, with the measured recall-QPS curve of every candidate (JSON-serialisable).

    ``qps`` is queries per second on one thread at ``params``, timed over batches of the leave-one-out queries (a
    loop of one query per call adds per-call overhead: benchmarks/ann.py measures that on held-out queries);
    ``curve`` holds every measured point: ``factory``, ``params``, ``recall`` (recall@k against exact search),
    ``qps``, ``ms``, ``stage`` (``screen``: compared on a sample of the vectors; ``final``: the chosen index,
    re-tuned on all of them).
    """

    factory: str
    params: str
    reason: str
    metric: str
    n: int
    dim: int
    recall_target: float
    measured_recall: float
    qps: float
    bytes: int
    build_seconds: float
    curve: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_json(cls, d: dict) -> ChosenIndex:
        missing = [name for name in cls.__slots__ if name not in d and name != "curve"]
        if missing:
            raise UserError(f"the index choice is missing {', '.join(missing)}; rebuild the index.")
        return cls(**{name: d[name] for name in cls.__slots__ if name in d})


def write_index_files(
    folder: str, index, chosen: ChosenIndex, *, ids: np.ndarray | None = None, built_from: dict | None = None
) -> dict:
    """Write ``index.faiss``, ``index_choice.json`` (with what was written) and, given ``ids``, ``ids.npy`` into
    ``folder``, a folder being written (inside :func:`~acg2vec.integrity.atomic_folder`: :func:`save_index`, or a serving folder's
    writer). ``built_from`` says how to rebuild the index (its vectors file, or the model and
    dataset it was embedded from). Returns the ``written`` record."""
    import faiss

    path = os.path.join(folder, INDEX_FILE)
    with disk_full_is_one_sentence(path):
        faiss.write_index(index, path)
    written = {
        "ntotal": int(index.ntotal),
        "dim": int(index.d),
        "factory": chosen.factory,
        "ids": None if ids is None else len(ids),
        "built_from": built_from or {},
    }
    atomic_write_json(os.path.join(folder, CHOICE_FILE), {**chosen.to_json(), WRITTEN: written})
    if ids is not None:
        with atomic_write(os.path.join(folder, IDS_FILE)) as fh:
            np.save(fh, np.asarray(ids, dtype=np.int64))
    return written


def save_index(
    out_dir: str, index, chosen: ChosenIndex, *, ids: np.ndarray | None = None, built_from: dict | None = None
) -> None:
    """``out_dir`` as a folder of its own holding the index files (:func:`write_index_files`) and their
    ``CHECKSUMS.json``, replacing the previous one only once whole."""
    with atomic_folder(out_dir) as tmp:
        write_index_files(str(tmp), index, chosen, ids=ids, built_from=built_from)


def read_choice(out_dir: str, *, repair: str) -> tuple[ChosenIndex, dict]:
    """``index_choice.json``: the :class:`ChosenIndex` and the ``written`` record (empty for an index written
    before acg2vec recorded it); an unreadable one or one of another format is :class:`DamagedFileError`."""
    path = os.path.join(out_dir, CHOICE_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if not isinstance(data, dict):
            raise ValueError(f"a JSON {type(data).__name__}, not an object")
        chosen = ChosenIndex.from_json(data)
    except (ValueError, TypeError, UserError) as err:
        problem = str(err).split(";")[0] if isinstance(err, UserError) else f"not a readable index choice: {err}"
        raise DamagedFileError(path, problem, lost=f"the index {out_dir} cannot be used", repair=repair) from None
    written = data.get(WRITTEN) or {}
    return chosen, written if isinstance(written, dict) else {}


def check_index_folder(out_dir: str, *, repair: str) -> list[str]:
    """Sizes and SHA-256 of the folder's files against its ``CHECKSUMS.json`` (a folder written without one, by an
    older version or by a writer outside :func:`save_index`, passes); returns the files checked."""
    count = _recorded(out_dir, "ntotal")
    what = f"the {count:,} vectors of the index {out_dir}" if isinstance(count, int) else f"the index {out_dir}"
    return verify_checksums(out_dir, what=what, repair=repair)


def load_index(out_dir: str, *, mmap: bool = True, repair: str = "", checked: bool = False):
    """Read an index written by :func:`save_index` with its tuned parameters applied: ``(index, ChosenIndex)``.

    The folder is checked first (:func:`check_index_folder`, unless the caller already did: ``checked``), then the
    index's vector count and dimension against what was written, and the ids' length against the vector count; a
    damaged file raises :class:`DamagedFileError` whose repair is ``repair``. With ``mmap`` the file is
    memory-mapped read-only where FAISS supports it (the inverted lists of IVF indexes), so several server processes
    share one copy of the codes through the page cache; index types FAISS cannot map are read into memory.
    """
    path, choice_path = os.path.join(out_dir, INDEX_FILE), os.path.join(out_dir, CHOICE_FILE)
    repair = repair or _recorded_command(out_dir)
    if not checked:
        check_index_folder(out_dir, repair=repair)
    for required in (path, choice_path):
        if not os.path.isfile(required):
            raise UserError(f"no {os.path.basename(required)} in {out_dir}; build the index first.")
    chosen, written = read_choice(out_dir, repair=repair)
    expected = int(written.get("ntotal", chosen.n))
    lost = f"the {expected:,} vectors of the index {out_dir} cannot be searched"
    index = _read_index(path, mmap=mmap, lost=lost, repair=repair)
    if index.ntotal != expected:
        problem = f"it holds {index.ntotal:,} vectors where {expected:,} were written"
        raise DamagedFileError(path, problem, lost=lost, repair=repair)
    if index.d != int(written.get("dim", chosen.dim)):
        problem = f"its vectors have dimension {index.d} where {written.get('dim', chosen.dim)} was written"
        raise DamagedFileError(path, problem, lost=lost, repair=repair)
    if os.path.isfile(os.path.join(out_dir, IDS_FILE)):
        load_ids(out_dir, expected, repair=repair)
    apply_params(index, chosen.params)
    return index, chosen


def _recorded(out_dir: str, key: str):
    """``written[key]`` of ``index_choice.json`` where it can be read (``built_from`` nested keys as ``a.b``)."""
    try:
        with open(os.path.join(out_dir, CHOICE_FILE), encoding="utf-8") as fh:
            value = json.load(fh)[WRITTEN]
        for part in key.split("."):
            value = value[part]
        return value
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _recorded_command(out_dir: str) -> str:
    """The command ``index_choice.json`` says wrote the folder (``built_from.command``), where it can be read."""
    command = _recorded(out_dir, "built_from.command")
    if isinstance(command, str) and command.startswith("acg2vec "):
        return command
    return f"write {out_dir} again with the command that wrote it"


def load_ids(out_dir: str, count: int, *, repair: str) -> np.ndarray:
    """``ids.npy``: one int64 id per indexed vector (``count``), else :class:`DamagedFileError`."""
    path = os.path.join(out_dir, IDS_FILE)
    lost = f"the {count:,} vectors of the index {out_dir} cannot be told apart"
    try:
        ids = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DamagedFileError(path, f"not a readable id array: {err}", lost=lost, repair=repair) from None
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise DamagedFileError(path, f"a {ids.dtype} array of shape {ids.shape}, not ids", lost=lost, repair=repair)
    if len(ids) != count:
        problem = f"it holds {len(ids):,} ids for {count:,} indexed vectors"
        raise DamagedFileError(path, problem, lost=lost, repair=repair)
    return ids


def _read_index(path: str, *, mmap: bool, lost: str, repair: str):
    import faiss

    if mmap:
        try:
            return faiss.read_index(path, faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError as err:  # index types FAISS cannot map (e.g. HNSW graphs) are read into memory
            log.info("%s cannot be memory-mapped (%s); reading it into memory", path, str(err).splitlines()[0])
    try:
        return faiss.read_index(path)
    except (RuntimeError, MemoryError) as err:
        problem = f"FAISS cannot read it: {str(err).splitlines()[-1].strip() or type(err).__name__}"
        raise DamagedFileError(path, problem, lost=lost, repair=repair) from None
