"""The one reader and writer of a curation run, ``<workdir>/curation/<run>/``.

``acg2vec curate`` writes a run; ``acg2vec build images --apply-curation`` reads it and writes a new dataset
version. It lives in the datasets layer because the build (below curation) applies what curation (above) writes.

A run folder holds:

- ``label_issues.parquet``: one row per (post, tag) whose label is suspect: ``post_id`` (int64), ``tag`` (string,
  a name of the dataset's ``selected_tags.csv``), ``kind`` (``"missing"``: the post should carry the tag and does
  not; ``"wrong"``: it carries the tag and should not) and ``confidence`` (float64 in [0, 1], higher is surer).
- ``duplicates.parquet``: one row per post in a near-duplicate group: ``group_id`` (int64), ``post_id`` (int64),
  ``distance`` (float64: how far the post is from the closest other member of its group, in the unit the run's
  manifest names; 0 for an exact copy) and ``split`` (string: the post's split in the dataset).
- ``manifest.json``: the dataset the run was made for (name, config, version and content hash, see
  :func:`dataset_content_hash`), the run's parameters, counts, the files it wrote (with the size and SHA-256 of
  each, ``digests``) and when. It is written last.

Either parquet file may be absent when the run did not make it (the manifest's ``files`` says which it wrote; a
file it does not list is a leftover of an earlier run and is not read); extra columns (e.g. the method that found
a duplicate) are kept on read. Paths may be local or remote (``gs://``, ``s3://``), read and written through
Beam's file systems.

Damage: every local file is written whole or not at all (temporary file, fsync, rename); on read, a manifest that
is not one, a parquet file that is cut short, empty, of another kind or whose bytes differ from the manifest's
digest (a run that stopped before its manifest, or bytes changed since) is one
:class:`~acg2vec.integrity.DamagedFileError` sentence naming the file, with `acg2vec curate --run <run>` as the
repair.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from acg2vec.beam_pipelines import files
from acg2vec.datasets.acg_illustrations.rebuild import rebuild_command
from acg2vec.datasets.acg_illustrations.schema import NAME, SELECTED_TAGS_FILE
from acg2vec.datasets.acg_illustrations.selected_tags import csv_sha256
from acg2vec.datasets.versions import read_dataset_info
from acg2vec.errors import UserError
from acg2vec.integrity import DamagedFileError, atomic_write_bytes, decode_utf8

if TYPE_CHECKING:
    import pandas as pd

CURATION_DIR = "curation"  # <workdir>/curation/<run>/
LABEL_ISSUES_FILE = "label_issues.parquet"
DUPLICATES_FILE = "duplicates.parquet"
MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1
MISSING, WRONG = "missing", "wrong"
ISSUE_KINDS = (MISSING, WRONG)
# Required columns and their Arrow types (names of pyarrow type factories).
LABEL_ISSUE_COLUMNS = {"post_id": "int64", "tag": "string", "kind": "string", "confidence": "float64"}
DUPLICATE_COLUMNS = {"group_id": "int64", "post_id": "int64", "distance": "float64", "split": "string"}


def curation_dir(workdir: str, run: str) -> str:
    """``<workdir>/curation/<run>``."""
    return files.join(workdir, CURATION_DIR, run)


@dataclass(frozen=True, slots=True)
class DatasetRef:
    """Which dataset version a run was made for: ``acg_illustrations/<config>/<version>`` (the version and config
    folders' names) and its content hash."""

    name: str
    config: str
    version: str
    content_hash: str

    @classmethod
    def from_dir(cls, dataset_dir: str) -> DatasetRef:
        """The reference of a complete dataset folder ``.../<name>/<config>/<version>``."""
        info = _dataset_info(dataset_dir)
        parts = dataset_dir.rstrip("/").replace("\\", "/").split("/")
        config = parts[-2] if len(parts) >= 2 else ""
        # The folder's name is the version users address (acg_illustrations/224/1.0.1); the info's when it is none.
        folder = parts[-1]
        version = folder if folder.replace(".", "").isdigit() else str(info.get("version", folder))
        return cls(
            name=str(info.get("name", NAME)),
            config=config,
            version=version,
            content_hash=dataset_content_hash(dataset_dir),
        )

    def describe(self) -> str:
        return f"{self.name}/{self.config}/{self.version}"


def _dataset_info(dataset_dir: str) -> dict[str, Any]:
    """The version's ``dataset_info.json`` (missing or damaged: one sentence with the rebuild command)."""
    return read_dataset_info(dataset_dir, repair=rebuild_command(dataset_dir))


def repair_command(run_dir: str, manifest: CurationManifest | None = None) -> str:
    """The command that writes the run at ``run_dir`` again: on the version and with the model it used when its
    ``manifest`` says (a run under ``<workdir>/curation/``), else on the workdir's defaults."""
    parts = run_dir.rstrip("/").split("/")
    command = ["acg2vec curate"]
    if manifest is not None and len(parts) >= 3 and parts[-2] == CURATION_DIR:
        ref = manifest.dataset
        command.append("/".join([*parts[:-2], "datasets", ref.name, ref.config, ref.version]))
    model = manifest.parameters.get("model") if manifest is not None else None
    if model:
        command.append(f"--model {model}")
    command.append(f"--run {parts[-1]}")
    return " ".join(command)


def _write(path: str, data: bytes) -> None:
    """Whole or not at all: a local file through a temporary beside it; an object store replaces objects whole."""
    if "://" in path:
        files.write_bytes(path, data)
    else:
        atomic_write_bytes(path, data)


def _digest(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def dataset_content_hash(dataset_dir: str) -> str:
    """A sha256 of what a dataset version holds, cheap to compute at any size: its vocabulary file and, per split,
    the number of examples and of bytes in its shards.

    Neither depends on how examples fall into shards, so a rebuild of the same crawl with the same rules gives the
    same hash, while a changed tag, a dropped post or another vocabulary gives another.
    """
    info = _dataset_info(dataset_dir)
    splits = {
        str(s["name"]): {
            "examples": sum(int(n) for n in s.get("shardLengths", [])),
            "bytes": int(s.get("numBytes", 0)),
        }
        for s in info.get("splits", [])
    }
    vocabulary_path = files.join(dataset_dir, SELECTED_TAGS_FILE)
    vocabulary = csv_sha256(files.read_text(vocabulary_path)) if files.exists(vocabulary_path) else ""
    text = json.dumps({"splits": splits, "selected_tags_sha256": vocabulary}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class CurationManifest:
    """``manifest.json`` of a run. ``parameters``: the knobs the run used (folds, thresholds, hash distances, ...);
    ``counts``: what it found (see :func:`label_issue_counts` and :func:`duplicate_counts`); ``files``: the
    parquet files it wrote."""

    run: str
    dataset: DatasetRef
    parameters: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    digests: dict[str, dict[str, Any]] = field(default_factory=dict)  # file -> {"size", "sha256"}, by write_manifest
    created_at: str = ""
    created_by: str = "acg2vec curate"
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str, *, where: str = MANIFEST_FILE, repair: str = "") -> CurationManifest:
        try:
            data = json.loads(text)
            dataset = DatasetRef(**data.pop("dataset"))
            return cls(dataset=dataset, **data)
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            problem = "it is empty" if not text.strip() else f"it is not the manifest of a curation run ({err})"
            raise DamagedFileError(where, problem, lost="the run cannot be used", repair=repair) from None


def write_manifest(run_dir: str, manifest: CurationManifest) -> str:
    """Write ``manifest.json`` (``created_at`` filled with the current UTC time when empty; ``digests`` with the size
    and SHA-256 of each file it lists), after the files it lists; returns its path."""
    if not manifest.created_at:
        manifest.created_at = datetime.now(UTC).isoformat(timespec="seconds")
    manifest.digests = {
        name: _digest(files.read_bytes(files.join(run_dir, name)))
        for name in manifest.files
        if files.exists(files.join(run_dir, name))
    }
    files.mkdirs(run_dir)
    path = files.join(run_dir, MANIFEST_FILE)
    _write(path, (manifest.to_json() + "\n").encode("utf-8"))
    return path


def read_manifest(run_dir: str) -> CurationManifest:
    path = files.join(run_dir, MANIFEST_FILE)
    if not files.exists(path):
        raise UserError(f"{run_dir} is not a curation run (no {MANIFEST_FILE}); run `acg2vec curate` first.")
    data = files.read_bytes(path)
    text = decode_utf8(path, data, lost="the run cannot be used", repair=repair_command(run_dir))
    return CurationManifest.from_json(text, where=path, repair=repair_command(run_dir))


def check_run_for(run_dir: str, dataset_dir: str) -> CurationManifest:
    """The run's manifest, if the run was made for the dataset in ``dataset_dir``; else a :class:`UserError` that
    names both versions."""
    manifest = read_manifest(run_dir)
    here = DatasetRef.from_dir(dataset_dir)
    made_for = manifest.dataset
    if (made_for.name, made_for.config, made_for.version) != (here.name, here.config, here.version):
        raise UserError(
            f"The curation run {run_dir} was made for {made_for.describe()}, not for {here.describe()}; "
            f"run `acg2vec curate` on {here.describe()} or apply the run to the version it was made for."
        )
    if made_for.content_hash != here.content_hash:
        raise UserError(
            f"The curation run {run_dir} was made for another build of {here.describe()} (content hash "
            f"{made_for.content_hash[:12]}, this one {here.content_hash[:12]}); run `acg2vec curate` on it again."
        )
    return manifest


# --- the parquet tables -------------------------------------------------------------------------------------------


def _schema(columns: Mapping[str, str]):
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in columns.items()])


def _to_frame(rows, columns: Mapping[str, str]) -> pd.DataFrame:
    import pandas as pd

    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame([dict(r) for r in rows])
    if frame.empty and not len(frame.columns):
        frame = pd.DataFrame({name: [] for name in columns})
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(f"rows lack the column(s) {', '.join(missing)}")
    return frame


def _write_table(run_dir: str, name: str, frame: pd.DataFrame, columns: Mapping[str, str]) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    required = pa.Table.from_pandas(frame[list(columns)], schema=_schema(columns), preserve_index=False)
    extra = [c for c in frame.columns if c not in columns]
    table = required
    for column in extra:
        table = table.append_column(column, pa.array(frame[column].tolist()))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    files.mkdirs(run_dir)
    path = files.join(run_dir, name)
    _write(path, buffer.getvalue())
    return path


def _read_table(run_dir: str, name: str, columns: Mapping[str, str]) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = files.join(run_dir, name)
    # Without a manifest (a run still being written, or tables written by hand) the file is read as it is.
    manifest = read_manifest(run_dir) if files.exists(files.join(run_dir, MANIFEST_FILE)) else None
    repair = repair_command(run_dir, manifest)
    listed = manifest is None or name in manifest.files
    if not listed or (manifest is None and not files.exists(path)):
        # The run did not write it (a file there is an earlier run's leftover, never read as this run's).
        return _to_frame([], columns).astype({c: _PANDAS_TYPES[t] for c, t in columns.items()})
    if not files.exists(path):
        raise DamagedFileError(path, "missing, though the run's manifest lists it", lost=_LOST[name], repair=repair)
    data = files.read_bytes(path)
    recorded = manifest.digests.get(name) if manifest is not None else None
    if recorded and _digest(data) != recorded:
        problem = (
            f"{len(data):,} bytes where the run wrote {recorded['size']:,}"
            if len(data) != recorded["size"]
            else "its content differs from what the run wrote (checksum mismatch)"
        )
        raise DamagedFileError(path, problem, lost=_LOST[name], repair=repair)
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as err:
        problem = "it is empty (0 bytes)" if not data else f"it is not a readable parquet file ({err})"
        raise DamagedFileError(path, problem, lost=_LOST[name], repair=repair) from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DamagedFileError(
            path,
            f"it lacks the column(s) {', '.join(missing)}: it was not written by this version of `acg2vec curate`",
            lost=_LOST[name],
            repair=repair,
        )
    frame = table.to_pandas()
    try:
        return frame.astype({c: _PANDAS_TYPES[t] for c, t in columns.items()})
    except (ValueError, TypeError) as err:
        raise DamagedFileError(path, f"a column has the wrong type ({err})", lost=_LOST[name], repair=repair) from None


_PANDAS_TYPES = {"int64": "int64", "float64": "float64", "string": "object"}
_LOST = {
    LABEL_ISSUES_FILE: "the run's label issues cannot be applied or scored",
    DUPLICATES_FILE: "the run's near-duplicate groups cannot be applied",
}


def write_label_issues(run_dir: str, issues: pd.DataFrame | Iterable[Mapping[str, Any]]) -> str:
    """Write ``label_issues.parquet`` (rows or a DataFrame with the columns of :data:`LABEL_ISSUE_COLUMNS`, and any
    extra ones), sorted by kind, tag and confidence (highest first); returns its path.

    Raises ``ValueError`` for an unknown kind, a confidence outside [0, 1] or a repeated (post, tag)."""
    frame = _to_frame(issues, LABEL_ISSUE_COLUMNS)
    bad_kinds = sorted(set(frame["kind"]) - set(ISSUE_KINDS))
    if bad_kinds:
        raise ValueError(f"unknown label issue kind(s) {bad_kinds}; expected one of {ISSUE_KINDS}")
    confidence = frame["confidence"].astype("float64")
    if len(frame) and not confidence.between(0.0, 1.0).all():
        raise ValueError("label issue confidences must lie in [0, 1]")
    if frame.duplicated(["post_id", "tag"]).any():
        raise ValueError("a (post_id, tag) pair appears twice in the label issues")
    frame = frame.sort_values(["kind", "tag", "confidence", "post_id"], ascending=[True, True, False, True])
    return _write_table(run_dir, LABEL_ISSUES_FILE, frame, LABEL_ISSUE_COLUMNS)


def read_label_issues(
    run_dir: str, *, min_confidence: float = 0.0, kinds: Iterable[str] = ISSUE_KINDS
) -> pd.DataFrame:
    """The run's label issues with ``confidence >= min_confidence`` of the given ``kinds`` (an empty frame with the
    columns when the run wrote none)."""
    frame = _read_table(run_dir, LABEL_ISSUES_FILE, LABEL_ISSUE_COLUMNS)
    unknown = sorted(set(frame["kind"]) - set(ISSUE_KINDS))
    if unknown:
        raise UserError(f"{files.join(run_dir, LABEL_ISSUES_FILE)} has unknown label issue kind(s) {unknown}.")
    keep = (frame["confidence"] >= min_confidence) & frame["kind"].isin(list(kinds))
    return frame[keep].reset_index(drop=True)


def write_duplicates(run_dir: str, members: pd.DataFrame | Iterable[Mapping[str, Any]]) -> str:
    """Write ``duplicates.parquet`` (one row per group member with the columns of :data:`DUPLICATE_COLUMNS`, and any
    extra ones), sorted by group and post; returns its path.

    Raises ``ValueError`` for a post in two groups or a group of fewer than two posts."""
    frame = _to_frame(members, DUPLICATE_COLUMNS)
    if frame["post_id"].duplicated().any():
        raise ValueError("a post appears in two duplicate groups (or twice in one)")
    sizes = frame.groupby("group_id")["post_id"].size()
    if (sizes < 2).any():
        raise ValueError(f"duplicate group(s) {sorted(sizes[sizes < 2].index.tolist())[:5]} have a single post")
    frame = frame.sort_values(["group_id", "post_id"])
    return _write_table(run_dir, DUPLICATES_FILE, frame, DUPLICATE_COLUMNS)


def read_duplicates(run_dir: str) -> pd.DataFrame:
    """The run's near-duplicate group members (an empty frame with the columns when the run wrote none)."""
    return _read_table(run_dir, DUPLICATES_FILE, DUPLICATE_COLUMNS).reset_index(drop=True)


# --- counts for the manifest ----------------------------------------------------------------------------------


def label_issue_counts(issues: pd.DataFrame) -> dict[str, int]:
    """``{"missing": n, "wrong": m}``: label issues by kind."""
    return {kind: int((issues["kind"] == kind).sum()) for kind in ISSUE_KINDS}


def duplicate_counts(members: pd.DataFrame, *, train: str = "train", test: str = "test") -> dict[str, int]:
    """Groups, posts in them, posts beyond one per group (what dropping them would remove) and the split leak:
    ``cross_split_pairs`` (pairs of group members in different splits) and ``train_test_pairs``."""
    groups = members.groupby("group_id")
    splits = groups["split"].apply(list)
    cross = train_test = 0
    for names in splits:
        by_split: dict[str, int] = {}
        for name in names:
            by_split[name] = by_split.get(name, 0) + 1
        n = len(names)
        cross += (n * (n - 1) - sum(k * (k - 1) for k in by_split.values())) // 2
        train_test += by_split.get(train, 0) * by_split.get(test, 0)
    return {
        "groups": int(groups.ngroups),
        "posts": int(len(members)),
        "extra_posts": int(len(members) - groups.ngroups),
        "cross_split_pairs": int(cross),
        "train_test_pairs": int(train_test),
    }
