"""Finding the newest complete version of a dataset under a folder (local or remote, through ``tf.io.gfile``).

A complete TFDS folder holds ``dataset_info.json``; folders of interrupted builds (``.incomplete-*``) and
anything without it are never chosen. Versions compare as numbers (``1.10.0`` is newer than ``1.9.0``).
"""

from __future__ import annotations

import json
from typing import Any

from acg2vec.errors import UserError
from acg2vec.integrity import DamagedFileError

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


def read_bytes_if_present(path: str) -> bytes | None:
    """The file's bytes, None when it is not there (remote paths through ``tf.io.gfile``)."""
    if "://" in path:
        import tensorflow as tf

        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path, "rb") as fh:
            return fh.read()
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def json_problem(data: bytes, err: Exception) -> str:
    """What is wrong with bytes that do not parse as JSON, for the damaged-file sentence."""
    if not data:
        return "it is empty (0 bytes)"
    if isinstance(err, UnicodeDecodeError):
        return "it is not text: it holds bytes of another kind of file, or bytes inside it changed"
    return f"it is not whole JSON ({err}): the file was cut short or bytes inside it changed"


def read_dataset_info(dataset_dir: str, *, repair: str) -> dict[str, Any]:
    """``dataset_info.json`` of a version, checked to be a TFDS info of a known format (a name, a version and splits
    that list their shards): the one reader of that file. Missing: a :class:`UserError` saying to build it; anything
    else wrong: a :class:`DamagedFileError` with ``repair``."""
    folder = dataset_dir.rstrip("/")
    path = f"{folder}/{TFDS_MARKER}"
    data = read_bytes_if_present(path)
    if data is None:
        raise UserError(f"{folder} is not a complete dataset (no {TFDS_MARKER}); build it with `{repair}`.")
    lost = "the whole version cannot be read"
    try:
        info = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise DamagedFileError(path, json_problem(data, err), lost=lost, repair=repair) from None
    problem = _info_problem(info)
    if problem:
        raise DamagedFileError(path, problem, lost=lost, repair=repair)
    return info


def _info_problem(info: Any) -> str:
    """Why ``info`` is not a TFDS ``dataset_info.json`` acg2vec can read ("" when it is one)."""
    if not isinstance(info, dict):
        return f"it is JSON but not a TFDS dataset info (a {type(info).__name__}, not an object)"
    missing = [key for key in ("name", "version", "splits") if key not in info]
    if missing:
        return (
            f"it is JSON but not a TFDS dataset info of a known format (no {', '.join(missing)}): "
            "written by another program or an older acg2vec"
        )
    if info.get("fileFormat", "tfrecord") != "tfrecord":
        return f"its shards are {info['fileFormat']!r}, which acg2vec does not read (it writes tfrecord)"
    splits = info["splits"]
    if not isinstance(splits, list) or not all(isinstance(s, dict) and "name" in s for s in splits):
        return "its splits are not a list of named splits"
    for split in splits:
        try:
            [int(n) for n in split.get("shardLengths", [])]
            int(split.get("numBytes", 0))
        except (TypeError, ValueError):
            return f"split {split.get('name')!r} has shard lengths or bytes that are not numbers"
    return ""
