"""Resuming text training from the newest checkpoint that is whole.

Each ``checkpoints/checkpoint-<step>`` the trainer saves gets a ``CHECKSUMS.json`` once its files are written
(:class:`ChecksummedCheckpoints`); the trainer keeps ``save_total_limit`` of them (2 by default). On
``--resume`` the newest one is checked first (:func:`good_checkpoint`): a damaged or unfinished checkpoint is
named in one sentence, moved aside as ``damaged-checkpoint-<step>`` (the trainer never picks it again, and it is
not deleted), counted under ``damaged-file`` in the run's report and dead letters, and training resumes from the
checkpoint before it.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

from transformers import TrainerCallback

from acg2vec.errors import UserError
from acg2vec.integrity import CHECKSUMS_FILE, DamagedFileError, verify_checksums, write_checksums
from acg2vec.trainers.text.model_folder import verify_text_model

log = logging.getLogger(__name__)

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")  # the trainer's own checkpoint folder names
DAMAGED_PREFIX = "damaged-"
TRAINER_STATE = "trainer_state.json"


class ChecksummedCheckpoints(TrainerCallback):
    """Record every file of a checkpoint in its ``CHECKSUMS.json`` right after the trainer saved it."""

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            write_checksums(folder)
        return control


def checkpoint_folders(checkpoints: Path) -> list[Path]:
    """The trainer's checkpoint folders under ``checkpoints``, newest (highest step) first."""
    if not checkpoints.is_dir():
        return []
    found = [p for p in checkpoints.iterdir() if p.is_dir() and CHECKPOINT.match(p.name)]
    return sorted(found, key=lambda p: -int(CHECKPOINT.match(p.name).group(1)))


def verify_checkpoint(folder: Path, *, required: bool) -> list[str]:
    """Check one checkpoint: its ``CHECKSUMS.json`` (``required``: a checkpoint without one did not finish
    saving); one from before checksums were recorded gets the checks that need no record."""
    repair = f"training resumes from the checkpoint before it, and this one is kept as {DAMAGED_PREFIX}{folder.name}"
    checked = verify_checksums(folder, what=folder.name, repair=repair, required=required)
    if not checked:
        state = folder / TRAINER_STATE
        try:
            json.loads(state.read_bytes())
        except (OSError, ValueError) as err:
            raise DamagedFileError(
                state, f"not readable: {err}", lost=f"{folder.name} cannot be used", repair=repair
            ) from None
        verify_text_model(folder, repair=repair)
    return checked


def good_checkpoint(checkpoints: Path, *, output: Path) -> tuple[str, list[DamagedFileError]]:
    """The newest whole checkpoint to resume from, and the damaged newer ones (each named once in the log and
    moved aside). Raises a UserError when there is none."""
    folders = checkpoint_folders(checkpoints)
    if not folders:
        raise UserError(f"Nothing to resume: no checkpoint in {checkpoints}; run without --resume to start.")
    recorded = any((f / CHECKSUMS_FILE).is_file() for f in folders)
    damaged: list[DamagedFileError] = []
    for folder in folders:
        try:
            verify_checkpoint(folder, required=recorded)
        except DamagedFileError as err:
            log.warning("%s", err)
            damaged.append(err)
            aside = folder.with_name(DAMAGED_PREFIX + folder.name)
            shutil.rmtree(aside, ignore_errors=True)
            folder.rename(aside)
            continue
        return str(folder), damaged
    raise UserError(
        f"Every checkpoint in {checkpoints} is damaged (each is named above); start over with "
        f"`acg2vec train text --output {output}` (without --resume)."
    )
