"""Publishing a dataset folder whole or not at all, and one build at a time per dataset.

A build writes everything into ``<parent>/.incomplete-<name>-<id>/`` (:func:`incomplete_dir`) and
:func:`publish` swaps it in for ``<parent>/<name>/`` only when it is complete; the folder a reader opens is
therefore always a finished build, the old one or the new one. Leftovers of killed runs are removed by the next
build of the same dataset (:func:`remove_leftovers`), under its lock. Readers check with :func:`require_complete`
that a folder has its metadata file (TFDS: ``dataset_info.json``) and refuse it in one sentence otherwise.

:class:`DatasetLock` is an ``fcntl.flock`` on ``<parent>/.<name>.lock``: a second build of the same dataset
refuses with a sentence naming the running one; the kernel releases the lock when its process dies, so a stale
lock file of a killed build is simply taken over. On a remote workdir (gs://, s3://) there is no shared lock:
the build then relies on the incomplete folder alone.

:class:`BuildResult` is what both builds return once they published (or described a Dataflow job): the command
and the demo print its :meth:`~BuildResult.summary`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from acg2vec import integrity
from acg2vec.beam_pipelines import files
from acg2vec.errors import UserError
from acg2vec.workspace import is_remote

log = logging.getLogger(__name__)

INCOMPLETE = ".incomplete-"


@dataclass(slots=True)
class BuildResult:
    """What a finished build reports, the same for every dataset.

    ``dataset``: its name as ``tfds.load`` takes it (``acg_illustrations/224``, ``acg_text_pairs``). ``splits``:
    examples per split. ``balances``: per kind of input, ``(read, kept, dropped)`` with read = kept + dropped
    (posts; lines and candidate pairs). ``drops``: dropped inputs by reason (when few enough to print).
    ``counts``: the dataset's own counts (as in its metadata). ``metrics``: the Beam counters. ``outputs``: other
    places the build wrote (card, Parquet folder). ``job_file``: set by a Dataflow dry run, which builds nothing.
    """

    dataset: str
    out_dir: str
    unit: str = "examples"
    splits: dict[str, int] = field(default_factory=dict)
    balances: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    buckets: int = 0
    job_file: str | None = None

    def summary(self, *, detailed: bool = False) -> str:
        """One line (examples per split, inputs dropped); ``detailed`` adds where it went, the balances, the drops
        by reason and the other outputs, one per line."""
        if self.job_file:
            return f"{self.dataset}: Dataflow job description written to {self.job_file} (not submitted)."
        splits = ", ".join(f"{name} {n}" for name, n in self.splits.items()) or "no"
        dropped = ", ".join(f"{d} {what}" for what, (_, _, d) in self.balances.items())
        line = f"{self.dataset}: {splits} {self.unit}" + (f"; dropped {dropped}" if dropped else "")
        if not detailed:
            return line
        lines = [line, f"  written to {self.out_dir} in {self.seconds:.1f} s ({self.buckets} buckets)"]
        lines += [f"  {what} read {r} = kept {k} + dropped {d}" for what, (r, k, d) in self.balances.items()]
        lines += [f"  dropped {reason}: {n}" for reason, n in sorted(self.drops.items())]
        lines += [f"  {what}: {path}" for what, path in self.outputs.items()]
        return "\n".join(lines)


def split_parent(folder: str) -> tuple[str, str]:
    parent, _, name = folder.rstrip("/").rpartition("/")
    return parent, name


def incomplete_dir(final_dir: str) -> str:
    """A fresh ``<parent>/.incomplete-<name>-<id>`` beside ``final_dir``."""
    parent, name = split_parent(final_dir)
    return f"{parent}/{INCOMPLETE}{name}-{uuid.uuid4().hex[:8]}"


def leftovers(final_dir: str) -> list[str]:
    """Incomplete folders of earlier, interrupted builds of ``final_dir``."""
    parent, name = split_parent(final_dir)
    prefix = f"{parent}/{INCOMPLETE}{name}-"
    if is_remote(parent):  # object stores list files, not folders: keep the top folder of each
        found = files.match(f"{prefix}*/**")
        return sorted({prefix + path[len(prefix) :].split("/", 1)[0] for path, _ in found})
    import glob

    return sorted(glob.glob(glob.escape(prefix) + "*"))


def remove_leftovers(final_dir: str) -> list[str]:
    """Delete what killed builds of ``final_dir`` left; returns the folders removed. Call under the lock."""
    removed = leftovers(final_dir)
    for path in removed:
        if is_remote(path):
            files.delete([path])
        else:
            shutil.rmtree(path, ignore_errors=True)
        log.info("removed %s, left by an interrupted build", path)
    return removed


def publish(tmp_dir: str, final_dir: str, *, marker: str) -> None:
    """Move the finished ``tmp_dir`` to ``final_dir``, replacing an older build; ``marker`` is written last.

    First every file of ``tmp_dir`` is recorded in its ``CHECKSUMS.json`` (size and SHA-256,
    :func:`acg2vec.integrity.write_checksums`), which readers of the dataset verify, and fsynced.

    Locally two renames: ``final_dir`` is the old build or the new one at every moment. Object stores have no
    folder rename: the old ``marker`` goes first (the old build stops looking complete), then the files are
    copied, the new ``marker`` last.
    """
    if not is_remote(final_dir):
        integrity.write_checksums(tmp_dir)
        integrity.fsync_tree(tmp_dir)  # every byte on disk before the rename makes the folder the dataset
        if os.path.exists(final_dir):
            old = f"{tmp_dir}-replaced"
            os.rename(final_dir, old)
            os.rename(tmp_dir, final_dir)
            shutil.rmtree(old)
        else:
            os.rename(tmp_dir, final_dir)
        _fsync_folder(os.path.dirname(final_dir))
        return
    write_checksums(tmp_dir)
    from apache_beam.io.filesystems import FileSystems

    files.delete([f"{final_dir}/{marker}"])
    files.delete([final_dir])
    paths = [path for path, _ in files.match(f"{tmp_dir}/**")]
    paths.sort(key=lambda p: p.endswith("/" + marker))
    for path in paths:
        target = final_dir + path[len(tmp_dir) :]
        FileSystems.copy([path], [target])
    files.delete([tmp_dir])


def write_checksums(folder: str) -> dict[str, Any]:
    """``<folder>/CHECKSUMS.json`` of any file system, in the layout of :func:`acg2vec.integrity.write_checksums`."""
    if not is_remote(folder):
        return integrity.write_checksums(folder)
    root = folder.rstrip("/") + "/"
    listed = {path[len(root) :]: path for path, _ in files.match(f"{root}**")}
    recorded = {name: files.digest(path) for name, path in sorted(listed.items()) if name != integrity.CHECKSUMS_FILE}
    data = {"format": integrity.CHECKSUMS_FORMAT, "files": recorded}
    files.write_text(root + integrity.CHECKSUMS_FILE, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    return data


def _fsync_folder(folder: str) -> None:
    """Make a rename inside ``folder`` durable (some file systems cannot fsync a folder: then it is left to them)."""
    try:
        fd = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def require_complete(folder: str, *, marker: str, build_command: str) -> str:
    """``folder`` if it holds ``marker``; else one sentence saying it is missing or was never finished."""
    if not files.exists(f"{folder.rstrip('/')}/{marker}"):
        if files.exists(folder) or files.match(f"{folder.rstrip('/')}/*"):
            raise UserError(
                f"{folder} is not a complete dataset (no {marker}): its build was interrupted; "
                f"run `{build_command}` again."
            )
        raise UserError(f"No dataset at {folder}; build it with `{build_command}`.")
    return folder


class DatasetLock:
    """Exclusive lock of one dataset folder for the duration of a build (see the module doc).

    ``with DatasetLock(final_dir, "acg2vec build texts"):`` raises :class:`UserError` naming the running build
    when another process holds it.
    """

    def __init__(self, final_dir: str, command: str) -> None:
        parent, name = split_parent(final_dir)
        self.path = None if is_remote(final_dir) else f"{parent}/.{name}.lock"
        self.command = command
        self._fh = None

    def __enter__(self) -> DatasetLock:
        if self.path is None:
            log.debug("remote dataset folder: no build lock")
            return self
        import fcntl

        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            raise UserError(
                f"Another build is writing this dataset ({_describe(holder)}); wait for it to finish "
                f"or stop it, then run again."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "command": self.command,
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                }
            )
        )
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            import fcntl

            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def _describe(holder: str) -> str:
    try:
        info = json.loads(holder)
        return f"`{info['command']}`, pid {info['pid']} on {info['host']}, started {info['started']}"
    except (ValueError, KeyError, TypeError):
        return "another process"
