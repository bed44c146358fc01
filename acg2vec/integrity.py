"""Damaged files: how acg2vec writes so that damage is rare, finds damage where it is cheap, and names it once.

One vocabulary for every stage and every file family (raw shards, image files, TFRecord shards, Parquet parts,
model folders, checkpoints, index files, dead letters, curation runs):

- **Write** through :func:`atomic_write` (a file) or :func:`atomic_folder` (a folder): the bytes go to a
  temporary name beside the target, are flushed and fsynced, then renamed over it, so a reader sees the old file or
  the new one, never half of one. A full disk (or a file-size limit) during the write raises :class:`DiskFullError`
  (one sentence) and leaves the previous file or folder whole.
- **Record** what was written: :func:`file_digest` (size and SHA-256) for a manifest, or :func:`write_checksums`,
  which records every file of a folder in ``<folder>/CHECKSUMS.json`` after the folder is complete.
- **Detect** on read: :func:`verify_checksums` (sizes always, SHA-256 too), :func:`read_gzip_lines` (a gzip stream
  that ends early or fails its CRC), and each family's own cheap check in its reader (TFRecord CRCs, Parquet
  footers, an index's vector count against its metadata).
- **Say it once**: :class:`DamagedFileError` is one sentence: the file, what is wrong, what was lost and the
  command that repairs it. A stage that goes on without the file counts it under the reason :data:`DAMAGED_FILE`
  (``damaged-file``), never folded into another reason's count, with :func:`damaged_file_record` as its
  dead-letter record.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import json
import os
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from acg2vec.deadletter import dead_letter_record
from acg2vec.errors import UserError

DAMAGED_FILE = "damaged-file"
CHECKSUMS_FILE = "CHECKSUMS.json"
CHECKSUMS_FORMAT = 1
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
_CHUNK = 1 << 20


class DamagedFileError(UserError):
    """A file acg2vec needs is damaged. The message is one sentence: which file, what is wrong, what was lost and
    how to repair it; ``path``, ``problem``, ``lost`` and ``repair`` are kept for reports and manifests."""

    exit_code = 3

    def __init__(self, path: str | os.PathLike[str], problem: str, *, lost: str = "", repair: str = "") -> None:
        self.path = str(path)
        self.problem = problem
        self.lost = lost
        self.repair = repair
        message = f"{self.path} is damaged ({problem})"
        if lost:
            message += f"; {lost}"
        if repair:
            message += f"; repair it with `{repair}`" if repair.startswith("acg2vec ") else f"; {repair}"
        super().__init__(message + ".")

    def to_dict(self) -> dict[str, str]:
        """For a report or a manifest: ``{"path", "problem", "lost", "repair"}``."""
        return {"path": self.path, "problem": self.problem, "lost": self.lost, "repair": self.repair}


class DiskFullError(UserError):
    """The disk filled up (or a file-size limit was hit) while writing; the previous outputs are untouched."""

    exit_code = 4

    def __init__(self, path: str | os.PathLike[str], err: OSError | None = None) -> None:
        self.path = str(path)
        why = (err.strerror or str(err)).lower() if err is not None else "no space left on device"
        super().__init__(
            f"Writing {self.path} failed because the disk is full ({why}); the previous outputs are untouched: "
            "free some space and run the command again."
        )


def is_disk_full(err: BaseException) -> bool:
    """True for the errors a full disk, a quota or a file-size limit raise."""
    return isinstance(err, OSError) and err.errno in DISK_FULL_ERRNOS


@contextlib.contextmanager
def disk_full_is_one_sentence(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a full disk inside the block into :class:`DiskFullError` naming ``path`` (for writers inside a
    library: TensorFlow's SavedModel, FAISS's ``write_index``, pyarrow)."""
    try:
        yield
    except DiskFullError:
        raise  # already one sentence, naming the file that could not be written
    except OSError as err:
        if is_disk_full(err):
            raise DiskFullError(path, err) from None
        raise
    except Exception as err:  # noqa: BLE001 - libraries wrap the OS error in their own type and keep its text
        if _mentions_disk_full(err):
            raise DiskFullError(path, None) from None
        raise


def _mentions_disk_full(err: BaseException) -> bool:
    text = str(err).lower()
    return any(s in text for s in ("no space left", "file too large", "disk quota", "resource exhausted: "))


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """fsync a folder, so that a rename inside it survives a crash (a no-op where the file system cannot)."""
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory; the rename still happened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temporary_sibling(path: Path, tag: str = "tmp") -> Path:
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on a clean exit it is fsynced and renamed to ``path``.

    On an error the temporary file is removed and ``path`` keeps its previous content; a full disk raises
    :class:`DiskFullError`. ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8 unless ``encoding`` says otherwise); a path
    ending in ``.gz`` is gzip-compressed.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        if is_disk_full(err):
            raise DiskFullError(target, err) from None
        raise
    tmp = _temporary_sibling(target)
    text = "b" not in mode
    try:
        with open(tmp, "wb") as raw:
            if target.suffix == ".gz":
                stream: Any = gzip.GzipFile(filename=target.name, mode="wb", fileobj=raw, mtime=0)
            else:
                stream = raw
            with contextlib.ExitStack() as stack:
                if stream is not raw:
                    stack.enter_context(stream)
                if text:
                    import io

                    handle: Any = io.TextIOWrapper(stream, encoding=encoding or "utf-8", newline="")
                    try:
                        yield handle
                    finally:
                        handle.flush()
                        handle.detach()
                else:
                    yield stream
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if is_disk_full(err):
            raise DiskFullError(target, err) from None  # type: ignore[arg-type]
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_write(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_write(path, "w") as fh:
        fh.write(text)


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> None:
    """``data`` as indented UTF-8 JSON (a trailing newline), written atomically."""
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False) + "\n")


def fsync_tree(folder: str | os.PathLike[str]) -> None:
    """fsync every file and folder under ``folder`` (after a library wrote it, before it is renamed into place)."""
    root = Path(folder)
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    for path in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        fsync_dir(path)
    fsync_dir(root)


@contextlib.contextmanager
def atomic_folder(final_dir: str | os.PathLike[str], *, checksums: bool = True) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``final_dir``; on a clean exit its files are checksummed
    (:func:`write_checksums`), fsynced and the folder replaces ``final_dir`` (the old one is removed only after
    the new one is in place). On an error ``final_dir`` is untouched; a full disk raises :class:`DiskFullError`."""
    final = Path(final_dir)
    tmp = _temporary_sibling(final)
    old = _temporary_sibling(final, "old")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        with disk_full_is_one_sentence(final):
            yield tmp
            if checksums:
                write_checksums(tmp)
            fsync_tree(tmp)
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.rename(final, old)
        os.rename(tmp, final)
        fsync_dir(final.parent)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not final.exists():
            os.rename(old, final)
        if isinstance(err, DiskFullError) and err.path.startswith(str(tmp)):
            # name the file by its place in the folder the user knows, not by the temporary folder
            raise DiskFullError(str(final) + err.path[len(str(tmp)) :]) from None
        raise


def file_digest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"size": bytes, "sha256": hex}`` of a local file."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"size": size, "sha256": digest.hexdigest()}


def write_checksums(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Record every file under ``folder`` (size and SHA-256, by relative path) in ``<folder>/CHECKSUMS.json``."""
    root = Path(folder)
    files = {
        p.relative_to(root).as_posix(): file_digest(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != CHECKSUMS_FILE
    }
    data = {"format": CHECKSUMS_FORMAT, "files": files}
    atomic_write_json(root / CHECKSUMS_FILE, data)
    return data


def verify_checksums(
    folder: str | os.PathLike[str], *, what: str, repair: str, required: bool = False, sha256: bool = True
) -> list[str]:
    """Check ``folder``'s files against its ``CHECKSUMS.json``; returns the files checked.

    Raises :class:`DamagedFileError` naming the first file that is missing, of another size or (``sha256``) of
    other content; ``what`` says what the folder is ("the model folder models/tagger") and ``repair`` how to get
    it back. A folder without ``CHECKSUMS.json`` (written before acg2vec recorded them) passes unless ``required``.
    """
    root = Path(folder)
    record_path = root / CHECKSUMS_FILE
    if not record_path.exists():
        if required:
            raise DamagedFileError(record_path, f"{what} has no {CHECKSUMS_FILE}", lost="", repair=repair)
        return []
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        files = record["files"]
        if record.get("format") != CHECKSUMS_FORMAT or not isinstance(files, dict):
            raise ValueError(f"format {record.get('format')!r}")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise DamagedFileError(record_path, f"not a readable checksum list: {err}", repair=repair) from None
    for name, expected in files.items():
        path = root / name
        if not path.is_file():
            raise DamagedFileError(path, "missing", lost=f"{what} is incomplete", repair=repair)
        size = path.stat().st_size
        if size != expected["size"]:
            raise DamagedFileError(
                path,
                f"{size:,} bytes where {expected['size']:,} were written",
                lost=f"{what} cannot be used",
                repair=repair,
            )
        if sha256 and file_digest(path)["sha256"] != expected["sha256"]:
            raise DamagedFileError(
                path,
                "its content differs from what was written (checksum mismatch)",
                lost=f"{what} cannot be used",
                repair=repair,
            )
    return sorted(files)


def read_gzip_lines(path: str | os.PathLike[str], *, repair: str = "") -> Iterator[bytes]:
    """The lines of a gzip file, as bytes; a stream that ends early, fails its CRC, cannot be read from the disk or
    is not gzip raises :class:`DamagedFileError` once the damage is found (it says after how many lines).

    Each line is handed out only once the next one was read, so a line cut by the damage is never yielded. A stream
    changed in the middle may decompress to changed lines before its CRC fails at the end: a reader that must not
    use such lines checks the whole file first (:func:`check_gzip`, cheap: it only decompresses).
    """
    lines = 0
    if Path(path).stat().st_size == 0:
        raise DamagedFileError(
            path,
            "it is empty (0 bytes), not even a gzip header",
            lost="every line of it is lost",
            repair=repair,
        )
    try:
        with gzip.open(path, "rb") as fh:
            previous = None
            for line in fh:
                if previous is not None:
                    yield previous
                    lines += 1
                previous = line
            if previous is not None:
                yield previous
    except (EOFError, zlib.error, OSError) as err:
        if isinstance(err, OSError) and not isinstance(err, gzip.BadGzipFile) and err.errno not in (errno.EIO, None):
            raise
        raise DamagedFileError(
            path,
            _gzip_problem(err),
            lost=f"the damage was found after {lines:,} lines, and the file cannot be trusted past them",
            repair=repair,
        ) from None


def _gzip_problem(err: BaseException) -> str:
    text = str(err)
    if isinstance(err, EOFError):
        return "the gzip stream ends early: the file was cut short"
    if isinstance(err, OSError) and err.errno == errno.EIO:
        return "the disk could not read it (input/output error)"
    if "CRC" in text or "crc" in text:
        return "gzip CRC check failed: bytes inside the file changed"
    if isinstance(err, gzip.BadGzipFile) or "Not a gzipped file" in text:
        return f"not a gzip file ({text})"
    return f"the gzip stream is corrupt ({text})"


def check_gzip(path: str | os.PathLike[str], *, repair: str = "") -> int:
    """Read a gzip file to its end; returns its line count or raises :class:`DamagedFileError`."""
    return sum(1 for _ in read_gzip_lines(path, repair=repair))


def decode_utf8(path: str | os.PathLike[str], data: bytes, *, lost: str, repair: str) -> str:
    """``data`` (read from ``path``) as UTF-8 text, or :class:`DamagedFileError` saying it is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise DamagedFileError(
            path,
            "it is not UTF-8 text: bytes inside it changed, or it is another kind of file",
            lost=lost,
            repair=repair,
        ) from None


def damaged_file_record(err: DamagedFileError, *, step: str = "") -> dict[str, Any]:
    """The dead-letter record of a damaged file a stage went on without (reason :data:`DAMAGED_FILE`)."""
    return dead_letter_record(DAMAGED_FILE, err.to_dict(), step=step, detail=str(err))
