"""Small file helpers over Beam's ``FileSystems``: the same calls for local paths, gs://, s3:// and hdfs://.

A local file is written whole or not at all (:func:`acg2vec.integrity.atomic_write`: a temporary file beside it,
fsynced, renamed; a full disk is :class:`~acg2vec.integrity.DiskFullError`); an object store's upload is
already all or nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from apache_beam.io.filesystems import FileSystems

from acg2vec.workspace import is_remote

_CHUNK = 1 << 20


def join(root: str, *parts: str) -> str:
    return FileSystems.join(root, *parts) if parts else root


def match(pattern: str) -> list[tuple[str, int]]:
    """``(path, size in bytes)`` of the files matching ``pattern``, in name order; none for a missing folder."""
    try:
        found = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # noqa: BLE001 - a missing folder matches nothing, on every file system
        return []
    return sorted((m.path, m.size_in_bytes) for m in found)


def exists(path: str) -> bool:
    return FileSystems.exists(path)


@contextlib.contextmanager
def create(path: str) -> Iterator[IO[bytes]]:
    """A binary file to write ``path`` with (a library writer's target: Parquet, TFRecord); it appears whole when
    the block ends without an error, and not at all otherwise (see the module doc)."""
    if not is_remote(path):
        from acg2vec.integrity import atomic_write

        # The bytes as given: atomic_write would gzip them again under a .gz name, so those are written whole
        # under a name beside it first and then renamed.
        staged = f"{path}.whole" if path.endswith(".gz") else path
        with atomic_write(staged, "wb") as fh:
            yield fh
        if staged != path:
            os.replace(staged, path)
        return
    with FileSystems.create(path, mime_type="application/octet-stream", compression_type="uncompressed") as fh:
        yield fh


def write_bytes(path: str, data: bytes) -> None:
    """``data`` as the whole of ``path`` (atomically, see the module doc)."""
    with create(path) as fh:
        fh.write(data)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type="uncompressed") as fh:
        return fh.read()


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def digest(path: str) -> dict[str, Any]:
    """``{"size", "sha256"}`` of a file on any file system (:func:`acg2vec.integrity.file_digest` locally)."""
    if not is_remote(path):
        from acg2vec.integrity import file_digest

        return file_digest(path)
    sha256, size = hashlib.sha256(), 0
    with FileSystems.open(path, compression_type="uncompressed") as fh:
        while chunk := fh.read(_CHUNK):
            sha256.update(chunk)
            size += len(chunk)
    return {"size": size, "sha256": sha256.hexdigest()}


def delete(paths: Iterable[str]) -> None:
    """Delete files or folders (recursively); paths that do not exist are ignored.

    On object stores a folder is only a prefix (it never "exists"): it is deleted as ``<folder>/``, which Beam's
    gs:// and s3:// file systems take as "everything under it".
    """
    present = []
    for path in paths:
        if FileSystems.exists(path):
            present.append(path)
        elif "://" in path and match(path.rstrip("/") + "/**"):
            present.append(path.rstrip("/") + "/")
    if present:
        FileSystems.delete(present)


def mkdirs(path: str) -> None:
    """Create a folder (a no-op on object stores, which have none)."""
    with contextlib.suppress(OSError):  # it exists (local), or the file system has no folders
        FileSystems.mkdirs(path)


def rename(source: str, target: str) -> None:
    FileSystems.rename([source], [target])


def write_locally_then_copy(
    out_dir: str, write: Callable[[str], None], *, keep: Callable[[str], bool] = lambda _name: True
) -> None:
    """Let ``write(folder)`` write files into ``out_dir``; on a remote ``out_dir`` it writes into a local staging
    folder whose files (those whose name ``keep`` accepts) are then copied through ``FileSystems`` (for writers
    that use TensorFlow's own file systems, which may not know the remote scheme)."""
    if "://" not in out_dir:
        write(out_dir)
        return
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="acg2vec-stage-") as stage:
        write(stage)
        for path in sorted(Path(stage).rglob("*")):
            if path.is_file() and keep(path.name):
                write_bytes(f"{out_dir.rstrip('/')}/{path.relative_to(stage).as_posix()}", path.read_bytes())
