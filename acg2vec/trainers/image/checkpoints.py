"""Training state that survives a damaged file: Keras' BackupAndRestore and ModelCheckpoint, each keeping its last
two saves with their sizes and SHA-256, and the check a resumed run makes before Keras loads anything.

- :class:`CheckedBackupAndRestore` is Keras' ``BackupAndRestore`` with ``double_checkpoint`` (the newest training
  state and the one before it: weights, optimizer, epoch) that records the digests of both in
  ``<backup>/checksums.json`` with every save (before the epoch metadata, so a kill never leaves a newest state
  that is whole but unrecorded).
- :func:`restore_good_backup` runs before ``fit`` resumes: a newest state whose files differ from what was written
  is named once (:class:`acg2vec.integrity.DamagedFileError`'s sentence) and the previous state takes its place;
  when neither is good the backup is removed and training starts over, saying so.
- :class:`KeepTwoCheckpoint` is Keras' ``ModelCheckpoint`` of the best validation weights, one file per improving
  epoch, keeping the two newest with their ``CHECKSUMS.json``.

A save that meets a full disk is :class:`acg2vec.integrity.DiskFullError`; the state saved before it stays whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import keras

from acg2vec.integrity import (
    DamagedFileError,
    atomic_write_json,
    atomic_write_text,
    disk_full_is_one_sentence,
    file_digest,
    write_checksums,
)

log = logging.getLogger(__name__)

RECORD_FILE = "checksums.json"
RECORD_FORMAT = 1
WEIGHTS = "latest.weights.h5"  # the names Keras' BackupAndRestore gives its files
METADATA = "training_metadata.json"
PREVIOUS = ".bkp"  # Keras' suffix for the state before the newest (double_checkpoint)
KEEP = 2


class CheckedBackupAndRestore(keras.callbacks.BackupAndRestore):
    """BackupAndRestore at every epoch's end, keeping two states, each recorded in ``checksums.json``."""

    def __init__(self, backup_dir: str) -> None:
        super().__init__(backup_dir, save_freq="epoch", double_checkpoint=True, delete_checkpoint=True)

    def _save_model(self) -> None:
        """Keras' save with the record written between the weights and the epoch metadata: a run killed at any
        point leaves the metadata of a state whose files match the record, or the previous state to go back to."""
        if "://" in self.backup_dir:
            super()._save_model()
            return
        folder = Path(self.backup_dir)
        with disk_full_is_one_sentence(folder):
            folder.mkdir(parents=True, exist_ok=True)
            for name in (WEIGHTS, METADATA):  # the newest state becomes the previous one (double_checkpoint)
                if (folder / name).is_file():
                    shutil.copyfile(folder / name, folder / f"{name}{PREVIOUS}")
            self.model.save_weights(filepath=str(folder / WEIGHTS), overwrite=True)
            metadata = json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen})
            newest = {
                WEIGHTS: file_digest(folder / WEIGHTS),
                METADATA: {"size": len(metadata.encode()), "sha256": hashlib.sha256(metadata.encode()).hexdigest()},
                "epoch": self._current_epoch,
            }
            try:
                states = _read_record(folder).get("states", [])
            except DamagedFileError:  # a record damaged during the run: start a new one with this state
                states = []
            atomic_write_json(folder / RECORD_FILE, {"format": RECORD_FORMAT, "states": [newest, *states][:KEEP]})
            atomic_write_text(folder / METADATA, metadata)


def _read_record(folder: Path) -> dict:
    path = folder / RECORD_FILE
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("format") != RECORD_FORMAT or not isinstance(record.get("states"), list):
            raise ValueError(f"format {record.get('format')!r}")
    except (ValueError, AttributeError, UnicodeDecodeError) as err:
        raise DamagedFileError(
            path,
            f"not a readable checksum list: {str(err)[:120]}",
            lost="the backup's files cannot be checked",
            repair="training starts over from epoch 1",
        ) from None
    return record


def _difference(path: Path, expected: dict) -> str:
    """What is wrong with ``path`` against its recorded digest ("" when it matches)."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != expected["size"]:
        return f"{size:,} bytes where {expected['size']:,} were written"
    if file_digest(path)["sha256"] != expected["sha256"]:
        return "its content differs from what was written (checksum mismatch)"
    return ""


def _matching_state(folder: Path, suffix: str, states: list[dict]) -> tuple[dict | None, str, str]:
    """(the recorded state these files match, or None; else the first damaged file and what is wrong with it,
    measured against the state expected at this place)."""
    for state in states:
        if not any(_difference(folder / f"{name}{suffix}", state[name]) for name in (WEIGHTS, METADATA)):
            return state, "", ""
    expected = states[0 if not suffix else min(1, len(states) - 1)]
    for name in (WEIGHTS, METADATA):
        problem = _difference(folder / f"{name}{suffix}", expected[name])
        if problem:
            return None, str(folder / f"{name}{suffix}"), problem
    return None, str(folder / f"{WEIGHTS}{suffix}"), "it matches no recorded training state"


def restore_good_backup(backup_dir: str) -> list[DamagedFileError]:
    """Leave ``backup_dir`` holding a good newest training state for Keras to resume from; returns the damaged
    files found (each already logged once as a warning). A backup written before acg2vec recorded checksums is
    left to Keras' own checks; a remote one is not checked."""
    folder = Path(backup_dir)
    if "://" in backup_dir or not folder.is_dir():
        return []
    try:
        states = _read_record(folder).get("states", [])
    except DamagedFileError as err:
        log.warning("%s", err)
        shutil.rmtree(folder, ignore_errors=True)
        return [err]
    if not states:
        return []
    damaged: list[DamagedFileError] = []
    for suffix in ("", PREVIOUS):
        if not (folder / f"{WEIGHTS}{suffix}").exists() and not (folder / f"{METADATA}{suffix}").exists():
            continue
        state, path, problem = _matching_state(folder, suffix, states)
        if state is not None:
            if suffix:  # the previous state becomes the one Keras loads
                for name in (WEIGHTS, METADATA):
                    shutil.copyfile(folder / f"{name}{suffix}", folder / name)
            return damaged
        epoch = states[0 if not suffix else min(1, len(states) - 1)]["epoch"]
        damaged.append(DamagedFileError(path, problem, lost=f"the training state after epoch {epoch} is lost"))
    shutil.rmtree(folder, ignore_errors=True)
    return damaged


def say_damaged(damaged: list[DamagedFileError], resumed_epoch: int) -> None:
    """Each damaged file once, as a warning that says where training goes on from."""
    where = (
        f"training resumes from the state after epoch {resumed_epoch}"
        if resumed_epoch
        else ("no good training state is left, so training starts over from epoch 1")
    )
    for err in damaged:
        log.warning("%s; %s.", str(err).rstrip("."), where)


class KeepTwoCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint of the best weights (``<folder>/epoch-NNN.weights.h5`` on every improving epoch), keeping
    the two newest files and their ``CHECKSUMS.json``."""

    def __init__(self, folder: str, *, monitor: str, mode: str) -> None:
        self.folder = folder
        super().__init__(
            f"{folder}/epoch-{{epoch:03d}}.weights.h5",
            monitor=monitor,
            mode=mode,
            save_best_only=True,
            save_weights_only=True,
        )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        with disk_full_is_one_sentence(self.folder):
            super().on_epoch_end(epoch, logs)
            folder = Path(self.folder)
            if "://" in self.folder or not folder.is_dir():
                return
            for old in sorted(folder.glob("epoch-*.weights.h5"))[:-KEEP]:
                old.unlink()
            write_checksums(folder)
