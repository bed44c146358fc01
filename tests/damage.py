"""The damaged-file zoo: the ways a file on disk is found damaged, applied to a copy of a real output.

Every test of a file family runs its reader over these cases (see ``DAMAGES``):

- ``cut_short``: a copy or sync that stopped half-way (the file keeps its first part);
- ``zero_bytes``: a disk that filled up before anything was written;
- ``random_middle``: storage that went bad (bytes in the middle replaced by random ones, same size);
- ``wrong_kind``: a file of another kind under this name (a PNG where a model or a shard belongs);
- ``older_format``: a file from another acg2vec version (a JSON document where this reader expects its format).

``full_disk`` runs a block with a small tmpfs mounted (as root) or, where no mount is possible, a file-size limit
in a child process.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

PNG_HEADER = bytes.fromhex("89504e470d0a1a0a0000000d49484452")


def cut_short(path: Path, fraction: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * fraction))] if len(data) > 1 else b"")


def zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def random_middle(path: Path, n: int = 64, seed: int = 0) -> None:
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    mid = len(data) // 2
    start = max(0, mid - n // 2)
    for i in range(start, min(len(data), start + n)):
        data[i] = (data[i] + rng.randrange(1, 256)) % 256  # every byte in the window changes
    path.write_bytes(bytes(data))


def wrong_kind(path: Path) -> None:
    path.write_bytes(PNG_HEADER + bytes(range(256)) * 4)


def older_format(path: Path) -> None:
    path.write_text('{"format": 0, "written_by": "acg2vec 0.0"}\n', encoding="utf-8")


DAMAGES: dict[str, Callable[[Path], None]] = {
    "cut_short": cut_short,
    "zero_bytes": zero_bytes,
    "random_middle": random_middle,
    "wrong_kind": wrong_kind,
    "older_format": older_format,
}


class SmallDisk:
    """A folder on a small tmpfs (as root), or where no mount is possible the same folder under a file-size limit
    (RLIMIT_FSIZE; Python ignores SIGXFSZ, so a write past the limit fails with EFBIG as a full disk's ENOSPC would).

    ``fill(leave)`` takes all the space but ``leave`` bytes (tmpfs: a filler file; limit: files may not grow past
    ``leave`` bytes); ``free()`` gives it back.
    """

    def __init__(self, path: Path, size_mb: int) -> None:
        self.path = path
        self.size_mb = size_mb
        self.mounted = False
        self._limit: tuple[int, int] | None = None

    def __enter__(self) -> SmallDisk:
        import os
        import subprocess

        self.path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m", "tmpfs", str(self.path)],
                capture_output=True,
                check=False,
            )
            self.mounted = done.returncode == 0
        return self

    def fill(self, leave: int = 4096) -> None:
        import os
        import resource

        if self.mounted:
            stat = os.statvfs(self.path)
            free = stat.f_bavail * stat.f_frsize
            with open(self.path / ".filler", "wb") as fh:
                fh.truncate(0)
                block = b"\0" * (1 << 20)
                remaining = free - leave
                while remaining > 0:
                    try:
                        remaining -= fh.write(block[: min(len(block), remaining)])
                    except OSError:
                        break
        else:
            self._limit = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (leave, self._limit[1]))

    def free(self) -> None:
        import resource

        if self.mounted:
            (self.path / ".filler").unlink(missing_ok=True)
        elif self._limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, self._limit)
            self._limit = None

    def __exit__(self, *exc: object) -> None:
        import subprocess

        self.free()
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)
