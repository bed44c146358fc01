"""A non-local Beam file system for tests: ``acgmem://`` paths kept in this process's memory, like an object store.

It has no folders (``has_dirs`` is False, like gs:// and s3://), so code that works here does not lean on the
local file system. Importing this module registers the scheme with Beam's ``FileSystems``; pipelines that use
it must run in this process (``--mode in_memory``).
"""

from __future__ import annotations

import io
import threading
import time

from apache_beam.io.filesystem import (
    BeamIOError,
    CompressedFile,
    CompressionTypes,
    FileMetadata,
    FileSystem,
)

SCHEME = "acgmem"
STORE: dict[str, bytes] = {}
_LOCK = threading.Lock()


class _Reader(io.BytesIO):
    mode = "rb"  # what Beam's CompressedFile asks


class _Writer(io.BytesIO):
    mode = "wb"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def close(self) -> None:
        if not self.closed:
            with _LOCK:
                STORE[self.path] = self.getvalue()
        super().close()


class MemoryFileSystem(FileSystem):
    """``acgmem://bucket/key`` objects in :data:`STORE`."""

    @classmethod
    def scheme(cls) -> str:
        return SCHEME

    def join(self, basepath: str, *paths: str) -> str:
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path: str) -> tuple[str, str]:
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def mkdirs(self, path: str) -> None:  # no folders in an object store
        return None

    def has_dirs(self) -> bool:
        return False

    def _list(self, dir_or_prefix: str):
        with _LOCK:
            items = [(path, len(data)) for path, data in STORE.items() if path.startswith(dir_or_prefix)]
        for path, size in sorted(items):
            yield FileMetadata(path, size, time.time())

    def _open(self, path: str, mode: str, compression_type: str):
        compression_type = FileSystem._get_compression_type(path, compression_type)
        if mode == "wb":
            raw = _Writer(path)
        else:
            with _LOCK:
                if path not in STORE:
                    raise BeamIOError("Open failed", {path: FileNotFoundError(path)})
                raw = _Reader(STORE[path])
        if compression_type == CompressionTypes.UNCOMPRESSED:
            return raw
        return CompressedFile(raw, compression_type=compression_type)

    def create(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        return self._open(path, "wb", compression_type)

    def open(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        return self._open(path, "rb", compression_type)

    def copy(self, source_file_names, destination_file_names) -> None:
        with _LOCK:
            for source, target in zip(source_file_names, destination_file_names, strict=True):
                for path in [p for p in STORE if p == source or p.startswith(source.rstrip("/") + "/")]:
                    STORE[target + path[len(source) :]] = STORE[path]

    def rename(self, source_file_names, destination_file_names) -> None:
        self.copy(source_file_names, destination_file_names)
        self.delete(source_file_names)

    def exists(self, path: str) -> bool:
        with _LOCK:
            return path in STORE

    def size(self, path: str) -> int:
        with _LOCK:
            return len(STORE[path])

    def last_updated(self, path: str) -> float:
        return time.time()

    def checksum(self, path: str) -> str:
        with _LOCK:
            return str(hash(STORE[path]))

    def metadata(self, path: str) -> FileMetadata:
        return FileMetadata(path, self.size(path), time.time())

    def delete(self, paths) -> None:
        with _LOCK:
            for gone in paths:
                prefix = gone.rstrip("/") + "/"
                for path in [p for p in STORE if p == gone or p.startswith(prefix)]:
                    del STORE[path]


def upload(local_root, url: str) -> None:
    """Copy every file under the local folder ``local_root`` to ``url`` (keeping relative paths)."""
    from pathlib import Path

    for path in sorted(Path(local_root).rglob("*")):
        if path.is_file():
            STORE[f"{url.rstrip('/')}/{path.relative_to(local_root).as_posix()}"] = path.read_bytes()
