"""Import the official Bangumi Archive dump (a zip of jsonlines) into the items the Bangumi spider yields.

The dump (github.com/bangumi/Archive releases) holds ``subject``, ``character``, ``person``,
``subject-characters`` and ``person-characters`` (``.jsonlines``, one JSON object a line; infoboxes in
Bangumi's wiki syntax). The importer writes the same feed layout as a crawl: ``raw/bangumi/<kind>-<run id>-
<batch>.jsonl.gz`` (each shard renamed into place when whole and recorded in ``manifest.json``),
``dead_letters/bangumi-archive.jsonl.gz`` and a run appended to ``manifest.json``. Like a crawl, an import first
checks the shards of ``raw/bangumi/`` and moves damaged ones aside, so a re-import restores what they held.

Memory: the two link files are held as id -> ids maps (integers only); the entity files are streamed.
Every line is counted: written, dropped (does not fit its item; dead-lettered), skipped (another subject type,
not linked to an imported subject, already in raw/bangumi/, characters not requested), or bad input (not
JSON; dead-lettered). Summaries are stored under their detected language (many are Japanese), and a subject
line without ``date`` takes its air date from the infobox (放送开始, 发售日, 上映年度 ...).
"""

from __future__ import annotations

import json
import logging
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acg2vec.crawlers.feeds import CrawlReport, update_manifest
from acg2vec.crawlers.items import Item, ItemError, item_from_dict, item_to_dict
from acg2vec.crawlers.pipelines import existing_keys, sanity_problem
from acg2vec.crawlers.runner import JobLock, lock_path, new_run_id
from acg2vec.crawlers.shards import ShardFile, check_shards
from acg2vec.crawlers.spiders.bangumi import character_from, parse_wiki_infobox, person_from, work_from_subject
from acg2vec.deadletter import DeadLetters, dead_letter_path
from acg2vec.errors import UserError
from acg2vec.logs import progress_task
from acg2vec.workspace import Workspace

logger = logging.getLogger(__name__)

SOURCE = "bangumi"
MEMBERS = ("subject", "character", "person", "subject-characters", "person-characters")
ARCHIVE_URL = "https://bgm.tv"  # items point at the entity's page on the site
STEP = "bangumi-archive"  # the importer's name in its report and dead-letter file


@dataclass(slots=True)
class ArchiveImportConfig:
    """What to import from the dump."""

    subject_types: tuple[int, ...] = (2,)  # Bangumi subject types (2 anime); empty for every type
    limit: int | None = None  # subjects at most
    batch_items: int = 5000  # items per feed shard
    skip_existing: bool = True  # skip items already in raw/bangumi/ (incremental re-imports)
    characters: bool = True  # also import the subjects' characters and voice actors (and the links to them)


class ShardWriter:
    """Gzip jsonl shards of one item kind, ``<kind>-<run id>-<batch>.jsonl.gz``, a new one every ``batch_items``;
    each written under a temporary name and renamed and recorded in the manifest when full (see shards.py)."""

    def __init__(self, raw_dir: Path, kind: str, *, run_id: str, batch_items: int) -> None:
        self.raw_dir, self.kind, self.run_id, self.batch_items = raw_dir, kind, run_id, batch_items
        self.count = 0
        self._shard: ShardFile | None = None
        self._batch = 0

    def write(self, item: Item) -> None:
        if self._shard is None or self.count % self.batch_items == 0 and self.count:
            self.close()
            self._batch += 1
            path = self.raw_dir / f"{self.kind}-{self.run_id}-{self._batch:05d}.jsonl.gz"
            self._shard = ShardFile(path, run_id=self.run_id)
        data = item_to_dict(item)
        self._shard.write(json.dumps(data, ensure_ascii=False) + "\n", item=data)
        self.count += 1

    def close(self) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None


class _Import:
    """One import run: the counters, the dead letters and the writers."""

    def __init__(self, raw_dir: Path, config: ArchiveImportConfig, run_id: str) -> None:
        self.raw_dir = raw_dir
        self.config = config
        self.run_id = run_id
        self.dead = DeadLetters(dead_letter_path(raw_dir, STEP), step=STEP)
        self.report = CrawlReport(spider=STEP, source=SOURCE, run_id=run_id)
        self.writers: dict[str, ShardWriter] = {}
        self.have = existing_keys(raw_dir) if config.skip_existing else set()

    def bad_input(self, reason: str, record: Any, *, where: str, detail: str = "") -> None:
        self.report.bad_input[reason] = self.report.bad_input.get(reason, 0) + 1
        self.dead.add(reason, {"url": where, "data": record}, detail=detail)

    def skip(self, reason: str) -> None:
        self.report.skipped[reason] = self.report.skipped.get(reason, 0) + 1

    def emit(self, build: Any, record: dict[str, Any], *, where: str, **links: Any) -> bool:
        """Build, validate and write one item; False (counted, dead-lettered) when it does not fit."""
        try:
            item = build(record, **links)
            checked = item_from_dict(item_to_dict(item))
            problem = sanity_problem(checked)
            if problem:
                raise ItemError(problem, f"{item.kind} {item.source_id}")
        except ItemError as err:
            self.report.dropped[err.reason] = self.report.dropped.get(err.reason, 0) + 1
            self.dead.add(err.reason, {"url": where, "data": record}, detail=err.detail)
            return False
        key = f"{checked.kind}\t{checked.source_id}"
        if key in self.have:
            self.skip("already-have")
            return True
        self.have.add(key)
        writer = self.writers.get(checked.kind)
        if writer is None:
            writer = self.writers[checked.kind] = ShardWriter(
                self.raw_dir, checked.kind, run_id=self.run_id, batch_items=self.config.batch_items
            )
        writer.write(checked)
        self.report.written[checked.kind] = self.report.written.get(checked.kind, 0) + 1
        return True

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.dead.close()


def _member(archive: zipfile.ZipFile, name: str) -> str | None:
    """The zip member ``<name>.jsonlines`` (at the root or in one folder), or None."""
    for info in archive.infolist():
        base = info.filename.rsplit("/", 1)[-1]
        if base in (f"{name}.jsonlines", f"{name}.jsonl"):
            return info.filename
    return None


def _lines(archive: zipfile.ZipFile, member: str, run: _Import) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, object)`` for each line of a member; blank lines are passed over, bad ones counted."""
    size = archive.getinfo(member).file_size
    with archive.open(member) as fh, progress_task(f"Reading {member}", total=size) as advance:
        for number, line in enumerate(fh, start=1):
            advance(len(line))
            where = f"{member}:{number}"
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as err:
                run.bad_input("bad-json", line[:2000].decode("utf-8", errors="replace"), where=where, detail=str(err))
                continue
            if not isinstance(data, dict):
                run.bad_input("not-an-object", data, where=where)
                continue
            yield where, data


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def import_archive(
    zip_path: str | Path, *, workspace: Workspace, config: ArchiveImportConfig | None = None
) -> CrawlReport:
    """Import a Bangumi Archive zip into ``raw/bangumi/``; returns the run's report (also in the manifest)."""
    config = config or ArchiveImportConfig()
    path = Path(zip_path)
    if not path.is_file():
        raise UserError(f"the Bangumi Archive file {path} does not exist.")
    if not zipfile.is_zipfile(path):
        raise UserError(f"{path} is not a zip file (expected the Bangumi Archive dump).")
    # One writer of raw/bangumi/ at a time: an API crawl of Bangumi takes the same lock.
    lock = JobLock(lock_path(workspace, SOURCE), name="bangumi", workdir=workspace.root).acquire()
    try:
        return _import_locked(path, workspace=workspace, config=config)
    finally:
        lock.release()


def _import_locked(path: Path, *, workspace: Workspace, config: ArchiveImportConfig) -> CrawlReport:
    started = time.time()
    cpu_started = time.process_time()
    raw_dir = Path(workspace.raw(SOURCE))
    raw_dir.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    # Damaged shards go aside before the import reads what it already has, so their items are imported again.
    check = check_shards(raw_dir, run_id=run_id, command=f"acg2vec crawl bangumi --archive {path}")
    check.dead_letter(dead_letter_path(raw_dir, STEP), step=STEP)
    run = _Import(raw_dir, config, run_id)
    run.report.started_at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(started))
    with zipfile.ZipFile(path) as archive:
        members = {name: _member(archive, name) for name in MEMBERS}
        if members["subject"] is None:
            raise UserError(f"{path} has no subject.jsonlines; is it the Bangumi Archive dump?")
        for name, member in members.items():
            if member is None:
                logger.warning("%s has no %s.jsonlines; those links will be empty", path, name)
        try:
            _import(archive, members, run)
        finally:
            run.close()
    run.report.finish_reason = "finished"
    run.report.finished_at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    run.report.elapsed_s = round(time.time() - started, 3)
    run.report.cpu_s = round(time.process_time() - cpu_started, 3)
    check.finish(run.report)
    update_manifest(raw_dir, run.report)
    return run.report


def _skip_member(archive: zipfile.ZipFile, member: str | None, run: _Import, reason: str) -> None:
    """Count the lines of a member not imported on purpose, without parsing them."""
    if member is None:
        return
    with archive.open(member) as fh:
        lines = sum(1 for line in fh if line.strip())
    if lines:
        run.report.skipped[reason] = run.report.skipped.get(reason, 0) + lines


def _import(archive: zipfile.ZipFile, members: dict[str, str | None], run: _Import) -> None:
    config = run.config
    if not config.characters:
        # Works only: the character, person and link files are counted, not read; works carry no character ids.
        for name in ("subject-characters", "person-characters", "character", "person"):
            _skip_member(archive, members[name], run, "characters-not-requested")
        members = {**members, "subject-characters": None, "person-characters": None, "character": None, "person": None}
    # Links first (ids only): subject -> characters in (type, order) order; character -> subjects and actors.
    subject_characters: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    character_subjects: dict[int, list[int]] = defaultdict(list)
    if members["subject-characters"]:
        for where, row in _lines(archive, members["subject-characters"], run):
            subject_id, character_id = _int(row.get("subject_id")), _int(row.get("character_id"))
            if subject_id is None or character_id is None:
                run.bad_input("bad-link", row, where=where)
                continue
            order = (row.get("type") or 9, row.get("order") or 0)
            subject_characters[subject_id].append((*order, character_id))
            character_subjects[character_id].append(subject_id)
    character_actors: dict[int, list[tuple[int, int]]] = defaultdict(list)  # character -> (person, subject)
    person_characters: dict[int, list[tuple[int, int]]] = defaultdict(list)  # person -> (character, subject)
    if members["person-characters"]:
        for where, row in _lines(archive, members["person-characters"], run):
            person_id, character_id = _int(row.get("person_id")), _int(row.get("character_id"))
            subject_id = _int(row.get("subject_id")) or 0
            if person_id is None or character_id is None:
                run.bad_input("bad-link", row, where=where)
                continue
            character_actors[character_id].append((person_id, subject_id))
            person_characters[person_id].append((character_id, subject_id))

    kept_subjects: set[int] = set()
    for where, subject in _lines(archive, members["subject"], run):
        if config.limit is not None and len(kept_subjects) >= config.limit:
            run.skip("past-limit")
            continue
        if config.subject_types and subject.get("type") not in config.subject_types:
            run.skip("other-subject-type")
            continue
        subject = {**subject, "infobox": parse_wiki_infobox(subject.get("infobox"))}
        subject_id = _int(subject.get("id"))
        characters = [c for *_, c in sorted(subject_characters.get(subject_id or 0, []))]
        url = f"{ARCHIVE_URL}/subject/{subject_id}"
        if run.emit(work_from_subject, subject, where=where, url=url, character_ids=characters):
            kept_subjects.add(subject_id)  # type: ignore[arg-type]

    kept_characters: set[int] = set()
    if members["character"]:
        for where, character in _lines(archive, members["character"], run):
            character_id = _int(character.get("id")) or 0
            works = [s for s in character_subjects.get(character_id, []) if s in kept_subjects]
            if not works:
                run.skip("not-in-imported-subjects")
                continue
            actors = [p for p, s in character_actors.get(character_id, []) if s in kept_subjects or not s]
            character = {**character, "infobox": parse_wiki_infobox(character.get("infobox"))}
            url = f"{ARCHIVE_URL}/character/{character_id}"
            if run.emit(character_from, character, where=where, url=url, work_ids=works, voice_actor_ids=actors):
                kept_characters.add(character_id)

    if members["person"]:
        for where, person in _lines(archive, members["person"], run):
            person_id = _int(person.get("id")) or 0
            voiced = [c for c, _ in person_characters.get(person_id, []) if c in kept_characters]
            if not voiced:
                run.skip("not-in-imported-subjects")
                continue
            person = {**person, "infobox": parse_wiki_infobox(person.get("infobox"))}
            url = f"{ARCHIVE_URL}/person/{person_id}"
            run.emit(person_from, person, where=where, url=url, character_ids=voiced)
