"""What ``serve`` does with ``index/`` before it loads: every folder checked, a damaged one rebuilt, or one sentence.

1. **Check** (:func:`check_folder`, cheap): the files against the folder's ``CHECKSUMS.json`` (sizes and SHA-256;
   required where ``meta.json`` says the folder was written with one), ``meta.json`` itself, the Parquet footers,
   and for a vector folder ``vectors.npy`` and ``ids.npy`` against the recorded vector count and dimension. The
   FAISS index's own ``ntotal`` is checked when the store loads it (:func:`acg2vec.indexes.files.load_index`).
2. **Repair** (:func:`repair`): damage confined to the search index (``index.faiss``, ``index_choice.json``) with
   whole vectors is rebuilt from the kept vectors (:func:`~acg2vec.serving.indexing.reindex_from_vectors`); any
   other damage rebuilds the folder from its source with the function ``acg2vec index`` runs. Either way one
   sentence says what was damaged and what was done.
3. **Or say it**: when neither is possible (the vectors are damaged too and the dataset or the model is gone or
   damaged), :class:`~acg2vec.integrity.DamagedFileError` names the file, what is wrong, the vectors lost and the
   repair command, and ``serve`` exits with it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from acg2vec.errors import UserError
from acg2vec.indexes.files import CHOICE_FILE, IDS_FILE, INDEX_FILE
from acg2vec.integrity import CHECKSUMS_FILE, DamagedFileError, file_digest, verify_checksums
from acg2vec.serving.stores.base import META_FILE, VECTORS_FILE, check_vectors, read_meta, repair_command

log = logging.getLogger(__name__)

# Files serve writes again from the kept vectors, without the dataset or the model.
FROM_VECTORS = (INDEX_FILE, CHOICE_FILE)


@dataclass(slots=True)
class IndexPart:
    """One folder of ``index/`` as ``serve`` keeps it: how to build it from its source (the same call as
    ``acg2vec index``; None when the workdir lacks the source, ``missing_source`` saying what is missing) and
    whether the folder on disk is current."""

    name: str  # the folder's name: images, works, tags
    folder: str
    what: str  # "image index", "work index", "tag list"
    build: Callable[[], object] | None
    current: Callable[[], bool]
    source: str  # what it is built from, for the sentences
    missing_source: str = ""
    vectors: bool = True  # a vector folder (vectors.npy, ids.npy, index.faiss)


def check_folder(folder: str, *, vectors: bool = True) -> DamagedFileError | None:
    """The first damage found in an index folder, or None when it is whole or was never written (no ``meta.json``
    nor ``CHECKSUMS.json``: it is built, not repaired)."""
    sums = os.path.join(folder, CHECKSUMS_FILE)
    has_sums = os.path.isfile(sums)
    if not has_sums and not os.path.isfile(os.path.join(folder, META_FILE)):
        return None
    repair = repair_command(folder)
    try:
        if has_sums:
            verify_checksums(folder, what=f"the index {folder}", repair=repair)
        # index/entities/ (a copy of the table) has no meta.json: its CHECKSUMS.json does not list one
        listed = not has_sums or os.path.isfile(os.path.join(folder, META_FILE))
        meta = read_meta(folder) if listed else {}
        if not has_sums and meta.get("checksums"):
            raise DamagedFileError(sums, "missing", lost=f"the index {folder} cannot be verified", repair=repair)
        _check_parquet_footers(folder, repair)
        if vectors:
            check_vectors(folder, meta, repair)
    except DamagedFileError as err:
        return err
    return None


def _check_parquet_footers(folder: str, repair: str) -> None:
    """Every Parquet file's footer reads (a file cut short or of another kind fails here, before its rows)."""
    import pyarrow.parquet as pq

    for name in sorted(os.listdir(folder)):
        if name.endswith(".parquet"):
            path = os.path.join(folder, name)
            try:
                pq.read_metadata(path)
            except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
                lost = f"the index {folder} cannot be used"
                raise DamagedFileError(path, f"not a readable Parquet file: {err}", lost=lost, repair=repair) from None


def vectors_whole(folder: str) -> bool:
    """The kept vectors and ids are the ones written (by their recorded checksums where the folder has them) and
    agree with ``meta.json``: the search index can be rebuilt from them."""
    sums = os.path.join(folder, CHECKSUMS_FILE)
    try:
        if os.path.isfile(sums):
            with open(sums, encoding="utf-8") as fh:
                files = json.load(fh)["files"]
            for name in (VECTORS_FILE, IDS_FILE, META_FILE):
                if file_digest(os.path.join(folder, name)) != files[name]:
                    return False
        check_vectors(folder, read_meta(folder), repair="")
    except (DamagedFileError, OSError, ValueError, KeyError, TypeError):
        return False
    return True


def recorded_count(folder: str) -> int | None:
    """The vector (or tag) count ``meta.json`` recorded, when it can still be read."""
    try:
        return int(read_meta(folder)["count"])
    except (UserError, KeyError, TypeError, ValueError):
        return None


def repair(part: IndexPart, damage: DamagedFileError, *, say: Callable[[str], None]) -> None:
    """Rebuild ``part``'s damaged folder (from its kept vectors where only the search index is damaged, else from its
    source) and say so in one sentence; raise :class:`DamagedFileError` naming the loss when neither is possible."""
    from acg2vec.serving import indexing

    start = time.monotonic()
    count = recorded_count(part.folder)
    damaged = f"{damage.path} was damaged ({damage.problem})"
    if part.vectors and os.path.basename(damage.path) in FROM_VECTORS and vectors_whole(part.folder):
        indexing.reindex_from_vectors(part.folder)
        say(f"{damaged}: rebuilt the {part.what} from its {count:,} kept vectors in {time.monotonic() - start:.1f} s.")
        return
    cause = part.missing_source
    if part.build is not None:
        try:
            part.build()
        except UserError as err:  # the dataset or the model is damaged or unusable too
            cause = str(err).rstrip(".")
        else:
            say(f"{damaged}: rebuilt the {part.what} from {part.source} in {time.monotonic() - start:.1f} s.")
            return
    items = "tags" if part.name == "tags" else "vectors"
    lost = (
        f"the {count:,} {items} of the {part.what}" if count is not None else f"every {items[:-1]} of the {part.what}"
    )
    raise DamagedFileError(
        damage.path,
        damage.problem,
        lost=f"{lost} cannot be served and serve cannot rebuild them ({cause})",
        repair=damage.repair or repair_command(part.folder),
    )


def ensure(
    part: IndexPart,
    *,
    say: Callable[[str], None],
    rebuild: bool = True,
    starting: Callable[[IndexPart, str, bool], None] | None = None,
) -> bool:
    """Check ``part``'s folder; repair it when damaged (or raise the damage when not ``rebuild``), build it when
    missing or stale and its source is there. ``starting(part, what it does, whether it repairs)`` is told before a
    rebuild or a build begins. Returns whether the folder was written."""
    damage = check_folder(part.folder, vectors=part.vectors)
    if damage is not None:
        if not rebuild:
            raise damage
        if starting is not None:
            starting(part, f"rebuilding its {part.what} ({damage.path} is damaged)", True)
        repair(part, damage, say=say)
        return True
    if rebuild and part.build is not None and not part.current():
        if starting is not None:
            starting(part, f"still building its {part.what}", False)
        part.build()
        return True
    return False


def part_of(path: str, parts: list[IndexPart]) -> IndexPart | None:
    """The part whose folder holds ``path`` (a damaged file found while loading), if any."""
    real = os.path.realpath(path)
    for part in parts:
        if real.startswith(os.path.realpath(part.folder) + os.sep):
            return part
    return None
