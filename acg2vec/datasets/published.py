"""Published dataset versions as every later stage reads them: the cheap checks before a stage uses one, and reads
that name a damaged file instead of stopping with a library's traceback or going on with fewer examples.

A published version of ``acg_illustrations`` or ``acg_text_pairs`` is a TFDS folder: ``dataset_info.json`` (each
split's shards, with the examples of every shard and the bytes of the split), ``features.json``, the TFRecord
shards and the files beside them (``selected_tags.csv``, metadata, ``CHECKSUMS.json`` once the build records one).
The Parquet copy of ``acg_text_pairs`` and the tables of ``acg_entities`` are Parquet parts.

What is checked, cheapest first:

1. :func:`verify_published`, before a stage opens a version (stat calls and two small JSON files): the info parses
   and is a TFDS info of a known format; every shard it lists is there; each split's shards add up to the bytes the
   info recorded; with ``CHECKSUMS.json``, every file's size, and its SHA-256 when the folder is small enough to
   hash in well under a second (:data:`SHA256_BUDGET`). :func:`open_published` verifies, then opens the builder.
2. On read, the TFRecord CRCs: ``tf.data`` checks the CRC of every record it reads (never wrap a dataset read in
   ``ignore_errors``, which would turn damage into silently missing examples). :func:`crc_checked` turns the
   ``DataLossError`` into a :class:`~acg2vec.integrity.DamagedFileError` naming the shard and the examples it
   loses, found by re-reading the split's shards one at a time.
3. Parquet: :func:`read_parquet`, :func:`open_parquet` and :func:`parquet_rows` read a part's footer first; a file
   cut short, empty or of another kind has none, and pyarrow's error becomes the sentence.

Each damage is the one sentence of :class:`~acg2vec.integrity.DamagedFileError` with the command that rebuilds the
version from ``raw/`` (:func:`repair_command`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from acg2vec.datasets import versions
from acg2vec.datasets.versions import TFDS_MARKER, json_problem
from acg2vec.integrity import CHECKSUMS_FILE, DamagedFileError, verify_checksums

log = logging.getLogger(__name__)

FEATURES_FILE = "features.json"
# Hash every file of a local folder up to this size on every open (SHA-256 runs at several hundred MB/s); larger
# folders get the size checks, and their shards' contents are covered by the TFRecord CRCs as they are read.
SHA256_BUDGET = 256 * 1024 * 1024
# The command that makes each dataset again from raw/ (acg_illustrations: with its recorded rules, rebuild.py).
REBUILD = {
    "acg_illustrations": "acg2vec build images --config <size>",
    "acg_text_pairs": "acg2vec build texts",
    "acg_entities": "acg2vec build entities",
}
DEFAULT_TEMPLATE = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"


@dataclass(frozen=True, slots=True)
class Shard:
    """One TFRecord file of a split: its path, the examples ``dataset_info.json`` lists for it."""

    path: str
    split: str
    examples: int


@dataclass(slots=True)
class PublishedDataset:
    """A verified version folder: its ``name``, ``version``, the shards of every split and the repair command."""

    path: str
    name: str
    version: str
    repair: str
    info: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, list[Shard]] = field(default_factory=dict)
    split_bytes: dict[str, int] = field(default_factory=dict)

    def examples(self, split: str) -> int:
        return sum(shard.examples for shard in self.splits.get(split, []))


def _remote(path: str) -> bool:
    return "://" in path


def _exists(path: str) -> bool:
    if _remote(path):
        import tensorflow as tf

        return tf.io.gfile.exists(path)
    return os.path.exists(path)


def _size(path: str) -> int | None:
    """The file's size in bytes, None when it is not there."""
    if _remote(path):
        import tensorflow as tf

        return tf.io.gfile.stat(path).length if tf.io.gfile.exists(path) else None
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return None


def _read_bytes(path: str) -> bytes:
    data = versions.read_bytes_if_present(path)
    if data is None:
        raise FileNotFoundError(path)
    return data


def repair_command(dataset_dir: str, info: dict[str, Any] | None = None) -> str:
    """The command that makes the version at ``dataset_dir`` again. The dataset comes from the folder's path
    (``.../<name>/[<config>/]<version>``, which a damaged ``dataset_info.json`` cannot spoil), else from ``info``;
    ``acg_illustrations`` is rebuilt with the rules its ``metadata.json`` recorded
    (:func:`~acg2vec.datasets.acg_illustrations.rebuild.rebuild_command`)."""
    parts = dataset_dir.rstrip("/").replace("\\", "/").split("/")
    name = next((part for part in reversed(parts[:-1]) if part in REBUILD), "")
    config = None
    if not name and info:
        name, config = str(info.get("name", "")), str(info.get("configName", "")) or None
    if name == "acg_illustrations":
        from acg2vec.datasets.acg_illustrations.rebuild import rebuild_command

        return rebuild_command(dataset_dir, config=config)
    return REBUILD.get(name, "acg2vec build images --config <size>` or `acg2vec build texts")


def read_vocabulary(dataset_dir: str):
    """The version's ``selected_tags.csv`` (a :class:`~acg2vec.datasets.acg_illustrations.selected_tags.TagVocabulary`);
    damaged, it is the sentence with :func:`repair_command`."""
    from acg2vec.datasets.acg_illustrations.schema import SELECTED_TAGS_FILE
    from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary

    folder = dataset_dir.rstrip("/")
    repair = repair_command(folder)
    return TagVocabulary.read(f"{folder}/{SELECTED_TAGS_FILE}", missing=f"rebuild it with `{repair}`", repair=repair)


def read_dataset_info(dataset_dir: str, *, repair: str | None = None) -> dict[str, Any]:
    """:func:`acg2vec.datasets.versions.read_dataset_info` with :func:`repair_command` as the default repair."""
    return versions.read_dataset_info(dataset_dir, repair=repair or repair_command(dataset_dir))


def _shard_paths(folder: str, info: dict[str, Any], split: dict[str, Any]) -> list[str]:
    lengths = split.get("shardLengths", [])
    template = split.get("filepathTemplate") or DEFAULT_TEMPLATE
    n = len(lengths)
    names = [
        template.replace("{DATASET}", str(info["name"]))
        .replace("{SPLIT}", str(split["name"]))
        .replace("{FILEFORMAT}", str(info.get("fileFormat", "tfrecord")))
        .replace("{SHARD_X_OF_Y}", f"{k:05d}-of-{n:05d}")
        .replace("{SHARD_INDEX}", f"{k:05d}")
        .replace("{NUM_SHARDS}", f"{n:05d}")
        for k in range(n)
    ]
    return [f"{folder}/{name}" for name in names]


def _check_features(path: str, *, repair: str) -> None:
    """``features.json``: JSON of the TFDS features format (a ``featuresDict`` or a feature's class name)."""
    lost = "the version cannot be opened without it"
    if not _exists(path):
        raise DamagedFileError(path, "missing", lost=lost, repair=repair)
    data = _read_bytes(path)
    try:
        features = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise DamagedFileError(path, json_problem(data, err), lost=lost, repair=repair) from None
    if not isinstance(features, dict) or not ({"featuresDict", "pythonClassName"} & set(features)):
        raise DamagedFileError(
            path,
            "it is JSON but not TFDS features of a known format: written by another program or an older acg2vec",
            lost=lost,
            repair=repair,
        )


def verify_published(dataset_dir: str, *, repair: str | None = None, sha256: bool | None = None) -> PublishedDataset:
    """The cheap checks of a published version before any stage uses it (see the module doc); returns what it
    found, or raises :class:`DamagedFileError` naming the first damaged file, what it loses and ``repair`` (by
    default :func:`repair_command`). ``sha256``: hash the files ``CHECKSUMS.json`` lists (None: when the folder is
    local and at most :data:`SHA256_BUDGET` bytes)."""
    folder = dataset_dir.rstrip("/")
    info = read_dataset_info(folder, repair=repair)
    repair = repair or repair_command(folder, info)
    _check_features(f"{folder}/{FEATURES_FILE}", repair=repair)
    found = PublishedDataset(folder, str(info["name"]), str(info["version"]), repair, info)
    for split in info["splits"]:
        name = str(split["name"])
        paths = _shard_paths(folder, info, split)
        found.splits[name] = [
            Shard(path, name, int(n)) for path, n in zip(paths, split.get("shardLengths", []), strict=True)
        ]
        found.split_bytes[name] = int(split.get("numBytes", 0) or 0)
    verify_recorded_checksums(folder, what=f"the dataset version {folder}", repair=repair, sha256=sha256)
    for split, shards in found.splits.items():
        _check_split_sizes(found, split, shards)
    return found


def verify_recorded_checksums(folder: str, *, what: str, repair: str, sha256: bool | None = None) -> list[str]:
    """:func:`~acg2vec.integrity.verify_checksums` of a folder with a ``CHECKSUMS.json`` (none: nothing to check);
    ``sha256`` None hashes a local folder of at most :data:`SHA256_BUDGET` bytes and checks sizes only otherwise."""
    if not _exists(f"{folder}/{CHECKSUMS_FILE}"):
        return []
    if _remote(folder):
        return _verify_remote_sizes(folder, what=what, repair=repair)
    if sha256 is None:
        sha256 = _recorded_bytes(folder) <= SHA256_BUDGET
    return verify_checksums(folder, what=what, repair=repair, sha256=sha256)


def _verify_remote_sizes(folder: str, *, what: str, repair: str) -> list[str]:
    """The sizes ``CHECKSUMS.json`` records, checked on an object store (a stat per file; hashing would download)."""
    try:
        listed = json.loads(_read_bytes(f"{folder}/{CHECKSUMS_FILE}"))["files"]
        sizes = {name: int(entry["size"]) for name, entry in listed.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise DamagedFileError(
            f"{folder}/{CHECKSUMS_FILE}", f"not a readable checksum list: {err}", repair=repair
        ) from None
    for name, expected in sizes.items():
        size = _size(f"{folder}/{name}")
        if size is None:
            raise DamagedFileError(f"{folder}/{name}", "missing", lost=f"{what} is incomplete", repair=repair)
        if size != expected:
            raise DamagedFileError(
                f"{folder}/{name}",
                f"{size:,} bytes where {expected:,} were written",
                lost=f"{what} cannot be used",
                repair=repair,
            )
    return sorted(sizes)


def _recorded_bytes(folder: str) -> int:
    try:
        record = json.loads(_read_bytes(f"{folder}/{CHECKSUMS_FILE}"))
        return sum(int(entry["size"]) for entry in record["files"].values())
    except (ValueError, KeyError, TypeError, AttributeError):
        return 0  # verify_checksums names a damaged CHECKSUMS.json itself


def _check_split_sizes(found: PublishedDataset, split: str, shards: list[Shard]) -> None:
    """Every shard present and not empty when it holds examples; the split's shards add up to its recorded bytes."""
    total = 0
    for shard in shards:
        size = _size(shard.path)
        if size is None:
            raise DamagedFileError(
                shard.path, "missing", lost=_lost(shard.examples, shard.examples, split), repair=found.repair
            )
        if size == 0 and shard.examples:
            raise DamagedFileError(
                shard.path,
                "it is empty (0 bytes)",
                lost=_lost(shard.examples, shard.examples, split),
                repair=found.repair,
            )
        total += size
    recorded = found.split_bytes.get(split, 0)
    if recorded and total != recorded:
        # Rare (damage), so reading the split's shards to say which one and how many examples it loses is affordable.
        located = locate_damage(found, split)
        if located is not None:
            raise located
        if len(shards) == 1:
            raise DamagedFileError(
                shards[0].path,
                f"{total:,} bytes where {recorded:,} were written",
                lost=f"the {split} split's {shards[0].examples:,} examples cannot be trusted",
                repair=found.repair,
            )
        raise DamagedFileError(
            shards[0].path.rsplit("-", 3)[0] + "-*",
            f"the {split} split's {len(shards)} shards hold {total:,} bytes where {recorded:,} were written",
            lost=f"the {split} split's {found.examples(split):,} examples cannot be trusted",
            repair=found.repair,
        )


def _lost(lost: int, of: int, split: str) -> str:
    if lost >= of:
        return f"its {of:,} examples of the {split} split are lost"
    return f"{lost:,} of its {of:,} examples of the {split} split are lost"


def open_published(dataset_dir: str, *, repair: str | None = None):
    """:func:`verify_published`, then the TFDS builder reading the version's files (no builder code needed)."""
    import tensorflow_datasets as tfds

    found = verify_published(dataset_dir, repair=repair)
    try:
        return tfds.builder_from_directory(found.path)
    except Exception as err:  # noqa: BLE001 - TFDS raises many kinds of errors for metadata it cannot use
        raise DamagedFileError(
            f"{found.path}/{TFDS_MARKER}",
            f"TFDS cannot open the version ({type(err).__name__}: {str(err).splitlines()[0][:200]})",
            lost="the whole version cannot be read",
            repair=found.repair,
        ) from None


# --- TFRecord CRCs ------------------------------------------------------------------------------------------------


def _count_records(path: str) -> tuple[int, str]:
    """(records read, the problem that stopped the read or "") of one TFRecord file, CRCs checked."""
    import tensorflow as tf

    ds = tf.data.TFRecordDataset(path)
    try:
        return int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1).numpy()), ""
    except tf.errors.DataLossError:
        pass
    n = 0  # read again one record at a time, to say after how many records the damage starts
    try:
        for _ in ds:
            n += 1
    except tf.errors.DataLossError as err:
        return n, _record_problem(err)
    return n, "a record failed to read once and not the second time (the disk is failing)"


def _record_problem(err: Exception) -> str:
    text = str(err).lower()
    if "truncated" in text:
        return "it ends in the middle of a record: the file was cut short"
    if "corrupted" in text or "crc" in text or "checksum" in text:
        return "a TFRecord CRC check failed: bytes inside the file changed, or it is not a TFRecord file"
    return f"it cannot be read as TFRecords ({str(err).splitlines()[0][:200]})"


def locate_damage(found: PublishedDataset, split: str | None = None) -> DamagedFileError | None:
    """Read the shards of ``split`` (all splits when None) one by one, CRCs checked; the sentence of the first
    damaged one (a read error, or fewer records than ``dataset_info.json`` lists), None when all read whole."""
    for name in [split] if split else list(found.splits):
        for shard in found.splits.get(name, []):
            count, problem = _count_records(shard.path)
            if problem or count != shard.examples:
                problem = problem or f"it holds {count:,} records where dataset_info.json lists {shard.examples:,}"
                lost = _lost(max(shard.examples - count, 0), shard.examples, name)
                if problem.startswith("a TFRecord CRC") and count:
                    lost += f" (the damage starts after record {count:,})"
                return DamagedFileError(shard.path, problem, lost=lost, repair=found.repair)
    return None


@contextlib.contextmanager
def crc_checked(dataset: PublishedDataset | str, split: str | None = None) -> Iterator[None]:
    """Reads of the version inside the block whose TFRecord CRC check fails raise :class:`DamagedFileError` naming
    the shard and the examples lost (``split``: the split being read, to look there first)."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.DataLossError as err:
        found = dataset if isinstance(dataset, PublishedDataset) else verify_published(dataset)
        log.warning("a TFRecord read of %s failed its CRC; reading the shards one by one to name it", found.path)
        located = locate_damage(found, split) or (locate_damage(found) if split else None)
        if located is not None:
            raise located from None
        raise DamagedFileError(
            found.path,
            f"a TFRecord read failed ({str(err).splitlines()[0][:200]}) though every shard reads whole now",
            lost="the stage stopped part-way",
            repair=found.repair,
        ) from None


# --- Parquet parts ------------------------------------------------------------------------------------------------


def _parquet_problem(path: str, err: Exception) -> str:
    size = _size(path)
    text = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
    if size == 0:
        return "it is empty (0 bytes)"
    if "magic bytes" in text.lower() or "footer" in text.lower():
        return "it has no Parquet footer: the file was cut short or is not a Parquet file"
    return f"its Parquet data cannot be read ({text}): bytes inside it changed"


def _open_parquet(path: str):
    import pyarrow.parquet as pq

    if _remote(path):
        from apache_beam.io.filesystems import FileSystems

        return pq.ParquetFile(FileSystems.open(path, compression_type="uncompressed"))
    return pq.ParquetFile(path)


def open_parquet(path: str, *, repair: str, lost: str = "its rows are lost"):
    """A ``pyarrow.parquet.ParquetFile`` whose footer was read (for readers that stream row groups); a part without
    a readable footer is a :class:`DamagedFileError` with ``repair``."""
    import pyarrow as pa

    try:
        handle = _open_parquet(path)
        handle.metadata  # noqa: B018 - the footer is what a cut or foreign file lacks
        return handle
    except (pa.ArrowException, OSError, ValueError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise DamagedFileError(path, _parquet_problem(path, err), lost=lost, repair=repair) from None


def parquet_rows(path: str, *, repair: str, lost: str = "its rows are lost") -> int:
    """The row count in a Parquet part's footer (read without any rows); see :func:`open_parquet`."""
    return int(open_parquet(path, repair=repair, lost=lost).metadata.num_rows)


def read_parquet(path: str, *, repair: str, columns: list[str] | None = None, lost: str = "its rows are lost"):
    """A Parquet part as a ``pyarrow.Table`` (``columns``: only these); a part that is cut short, empty, of another
    kind or whose pages cannot be decoded is a :class:`DamagedFileError` naming it with ``repair``."""
    import pyarrow as pa

    try:
        return _open_parquet(path).read(columns=columns)
    except (pa.ArrowException, OSError, ValueError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise DamagedFileError(path, _parquet_problem(path, err), lost=lost, repair=repair) from None
