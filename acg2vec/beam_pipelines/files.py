"""Small file helpers over Beam's ``FileSystems``: the same calls for local paths, gs://, s3:// and hdfs://."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

from apache_beam.io.filesystems import FileSystems


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


def write_bytes(path: str, data: bytes) -> None:
    with FileSystems.create(path, mime_type="application/octet-stream", compression_type="uncompressed") as fh:
        fh.write(data)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type="uncompressed") as fh:
        return fh.read()


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


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
