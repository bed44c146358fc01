"""Finding the newest complete version of a dataset under a folder (local or remote, through ``tf.io.gfile``).

A complete TFDS folder holds ``dataset_info.json``; folders of interrupted builds (``.incomplete-*``) and
anything without it are never chosen. Versions compare as numbers (``1.10.0`` is newer than ``1.9.0``).
"""

from __future__ import annotations

TFDS_MARKER = "dataset_info.json"  # the one completion marker of a TFDS folder: written last, read first


def _order(relative: str) -> tuple:
    return tuple(tuple(int(x) if x.isdigit() else 0 for x in part.split(".")) for part in relative.split("/") if part)


def complete_dataset_dirs(folder: str) -> list[str]:
    """Every complete dataset folder at or below ``folder``, oldest first (by config and version numbers)."""
    import tensorflow as tf

    root = folder.rstrip("/")
    if not tf.io.gfile.isdir(root):
        return []
    found = []
    for directory, subdirs, files in tf.io.gfile.walk(root):
        subdirs[:] = [d for d in subdirs if not d.rstrip("/").startswith(".")]  # .incomplete-*, .locks
        if TFDS_MARKER in files:
            found.append(str(directory).rstrip("/"))
    return sorted(found, key=lambda path: _order(path[len(root) :]))


def newest_dataset_dir(folder: str) -> str | None:
    """The newest complete dataset folder at or below ``folder``, or None when there is none."""
    found = complete_dataset_dirs(folder)
    return found[-1] if found else None
