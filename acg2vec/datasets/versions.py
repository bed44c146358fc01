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


def parse_version(text: str) -> tuple[int, int, int]:
    """``"1.2.3"`` -> ``(1, 2, 3)``; anything else is a ValueError."""
    parts = text.strip().split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a MAJOR.MINOR.PATCH version")
    major, minor, patch = (int(p) for p in parts)
    return major, minor, patch


def next_patch_version(config_dir: str, base: str) -> str:
    """The first ``MAJOR.MINOR.PATCH`` above ``base`` (same major and minor) that no published folder under
    ``config_dir`` uses: a derived version (such as a curated one) never overwrites another. Hidden folders
    (``.incomplete-*`` of an interrupted build) do not count: the next build of that version removes them."""
    import tensorflow as tf

    major, minor, patch = parse_version(base)
    taken = set()
    if tf.io.gfile.isdir(config_dir):
        for name in tf.io.gfile.listdir(config_dir):
            name = name.rstrip("/")
            if name.startswith("."):
                continue
            try:
                taken.add(parse_version(name))
            except ValueError:
                continue
    patch += 1
    while (major, minor, patch) in taken:
        patch += 1
    return f"{major}.{minor}.{patch}"
