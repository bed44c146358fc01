"""Raw crawl items -> the ``acg_entities`` table (``acg2vec build entities``, and the first step of
``acg2vec build texts``).

1. Read every work, character, person and pixiv tag translation of ``raw/<source>/`` (and the booru tag lists),
   validating each line; a line that is no item, and a record the linker refuses (no title, an id that
   contradicts its own source), is counted under its reason and dead-lettered.
2. Link them (:func:`acg2vec.datasets.acg_entities.linker.link`), join pixiv tags, link booru tags.
3. Write the table into an incomplete folder (Parquet, card, dead letters, ``build_metadata.json`` last) and
   swap it in under the dataset's lock (:mod:`acg2vec.beam_pipelines.publish`).

Linking runs in one process on DuckDB (Splink), not in Beam: the records of a crawl are few next to its texts
(100,000 records link in about a minute on two cores, see docs/entities.md); Splink runs the same model on
Spark when they are not.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from acg2vec.beam_pipelines import files, publish, raw_shards
from acg2vec.beam_pipelines.raw_io import read_lines
from acg2vec.beam_pipelines.raw_shards import ShardCheck, check_raw_shards
from acg2vec.crawlers import wikitext
from acg2vec.crawlers.items import ItemError, Section, Tag, TagTranslation, Work, item_from_dict
from acg2vec.datasets.acg_entities import records, schema
from acg2vec.datasets.acg_entities.candidates import Candidate, CandidateError, from_item, from_work, record_id
from acg2vec.datasets.acg_entities.linker import THRESHOLDS, LinkResult, link
from acg2vec.datasets.acg_entities.tags import join_pixiv_tags, link_booru_tags
from acg2vec.deadletter import DeadLetters, counter_name, dead_letter_path
from acg2vec.errors import UserError
from acg2vec.integrity import disk_full_is_one_sentence
from acg2vec.workspace import Workspace

log = logging.getLogger(__name__)

SOURCES = ("bangumi", "animelist", "wikipedia", "moegirl", "pixiv")
KINDS = ("work", "character", "person", "tag_translation", "section")
WIKI_TITLE_KEYS = {"zh": "zh-Hans", "ja": "ja", "en": "en"}
BOORU_SOURCES = ("safebooru",)
STEP = "Entities"


@dataclass(slots=True)
class Collected:
    """What the raw folder gives the linker, and what it refused."""

    candidates: list[Candidate] = field(default_factory=list)
    translations: list[TagTranslation] = field(default_factory=list)
    booru_tags: list[tuple[str, str]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    dead: list[tuple[str, str, object]] = field(default_factory=list)  # (reason, detail, record)


@dataclass(slots=True)
class Linked:
    """The linked table in memory: entities, tag links, and record id -> entity id (text build's lookup)."""

    result: LinkResult
    tag_links: list
    counts: Counter
    dead: list[tuple[str, str, object]]

    @property
    def record_entity(self) -> dict[str, str]:
        return self.result.record_entity


def raw_patterns(raw_root: str, sources: tuple[str, ...] = SOURCES) -> list[str]:
    """The globs of the raw shards the table reads."""
    root = raw_root.rstrip("/")
    patterns = [f"{root}/{s}/{k}-*.jsonl*" for s in sources for k in KINDS]
    return patterns + [f"{root}/{s}/tag-*.jsonl*" for s in BOORU_SOURCES]


def raw_files(raw_root: str, sources: tuple[str, ...] = SOURCES) -> list[tuple[str, int]]:
    return [found for pattern in raw_patterns(raw_root, sources) for found in files.match(pattern)]


def collect(raw_root: str, sources: tuple[str, ...] = SOURCES, *, shards: list[str] | None = None) -> Collected:
    """Step 1 of the module doc, over ``shards`` (already checked whole), else over every raw shard of ``sources``
    once checked (:func:`~acg2vec.beam_pipelines.raw_shards.check_raw_shards`: a damaged one is refused)."""
    if shards is None:
        patterns = raw_patterns(raw_root, sources)
        shards = check_raw_shards(raw_files(raw_root, sources), command=schema.BUILD_COMMAND, patterns=patterns).paths
    out = Collected()
    intros: dict[str, Section] = {}

    def undecodable(reason: str, raw: bytes, detail: str) -> None:
        out.counts[counter_name(STEP, reason)] += 1
        out.dead.append((reason, detail, raw))

    for path in shards:
        for line in read_lines(path, STEP, undecodable):
            out.counts[counter_name(STEP, "read")] += 1
            try:
                item = item_from_dict(json.loads(line))
            except (ValueError, ItemError) as err:
                reason = err.reason if isinstance(err, ItemError) else "malformed-json"
                out.counts[counter_name(STEP, reason)] += 1
                out.dead.append((reason, str(err)[:200], line))
                continue
            if isinstance(item, TagTranslation):
                out.translations.append(item)
                out.counts[counter_name(STEP, "tag-translations")] += 1
                continue
            if isinstance(item, Section):
                if not item.heading_path and is_article(item):  # an intro stands for a page with no Work item
                    intros.setdefault(record_id("work", item.source, item.source_id.split("#", 1)[0]), item)
                continue
            if isinstance(item, Tag):
                out.booru_tags.append((item.name, item.category or ""))
                out.counts[counter_name(STEP, "booru-tags")] += 1
                continue
            try:
                candidate = from_item(item)
            except CandidateError as err:
                out.counts[counter_name(STEP, err.reason)] += 1
                out.dead.append((err.reason, err.detail, json.loads(line)))
                continue
            if candidate is None:
                out.counts[counter_name(STEP, "other-kind")] += 1
                continue
            out.candidates.append(candidate)
            out.counts[counter_name(STEP, "records")] += 1
    known = {c.unique_id for c in out.candidates}
    for page, section in sorted(intros.items()):
        if page not in known:
            out.candidates.append(from_work(page_work(section)))
            out.counts[counter_name(STEP, "records")] += 1
            out.counts[counter_name(STEP, "pages-from-sections")] += 1
    return out


def is_article(section: Section) -> bool:
    """False for talk, project and disambiguation pages (the text build's own rule for them)."""
    title = section.title or ""
    return wikitext.is_article_title(title) and not wikitext.is_disambiguation_title(title, section.categories)


def page_work(section: Section) -> Work:
    """The Work record of a wiki page known only from its intro Section: its title, language links, categories."""
    lang = section.source_id.split(":", 1)[0] if ":" in section.source_id else section.language
    titles = {WIKI_TITLE_KEYS.get(k, k): v for k, v in section.langlinks.items() if isinstance(v, str) and v.strip()}
    titles[WIKI_TITLE_KEYS.get(lang, lang)] = section.title
    ids = {f"wiki:{k}": v for k, v in section.langlinks.items()} if section.source == "wikipedia" else {}
    return Work(
        source=section.source, source_id=section.source_id.split("#", 1)[0], url=section.url,
        titles=titles, tags=list(section.categories), ids=ids,
    )  # fmt: skip


def link_raw(
    raw_root: str,
    thresholds: dict[str, float] | None = None,
    *,
    floor: float | None = None,
    train: bool = False,
    shards: list[str] | None = None,
) -> Linked:
    """Steps 1 and 2 in memory (no files written): what the text build and the benchmark use (``floor``: keep
    Splink's pairs down to that probability, for threshold sweeps; ``shards``: see :func:`collect`)."""
    collected = collect(raw_root, shards=shards)
    return link_collected(collected, thresholds, floor=floor, train=train)


def link_collected(
    collected: Collected,
    thresholds: dict[str, float] | None = None,
    *,
    floor: float | None = None,
    train: bool = False,
) -> Linked:
    """Step 2 over records already collected (the benchmark generates them)."""
    started = time.time()
    result = link(collected.candidates, thresholds, floor=floor, train=train)
    counts = Counter(collected.counts)
    dead = list(collected.dead)
    for reason, detail, record in result.dead:
        counts[counter_name(STEP, reason)] += 1
        dead.append((reason, detail, record))
    pixiv = join_pixiv_tags(
        collected.translations, result.entities, collected.candidates, result.record_entity, counts
    )
    tag_links = link_booru_tags(collected.booru_tags, collected.translations, pixiv, result.entities, counts)
    counts.update({counter_name(STEP, k): v for k, v in result.counts.items()})
    log.info(
        "acg_entities: %d records -> %d entities in %.0f s",
        len(collected.candidates), len(result.entities), time.time() - started,
    )  # fmt: skip
    return Linked(result, tag_links, counts, dead)


def build(
    workspace: Workspace,
    thresholds: dict[str, float] | None = None,
    *,
    skip_damaged: bool = False,
    checked: ShardCheck | None = None,
) -> tuple[str, Linked]:
    """Build the table of ``workspace`` (the module doc's three steps); returns its folder and the links.

    Its raw shards are checked whole first: a damaged one is refused in one sentence, or with ``skip_damaged``
    left out and recorded (card, metadata, dead letters). ``checked``: the check a caller (``build texts``) made.
    """
    raw_root = workspace.raw()
    found = raw_files(raw_root)
    if not found:
        raise UserError(
            f"No raw items under {raw_root} (expected <source>/work-*.jsonl.gz and the like for sources "
            f"{', '.join(SOURCES)}); crawl first with `acg2vec crawl`."
        )
    started = time.time()
    if checked is None:
        patterns = raw_patterns(raw_root)
        checked = check_raw_shards(found, command=schema.BUILD_COMMAND, skip_damaged=skip_damaged, patterns=patterns)
    final_dir = schema.entities_dir(workspace)
    with disk_full_is_one_sentence(final_dir), publish.DatasetLock(final_dir, schema.BUILD_COMMAND):
        publish.remove_leftovers(final_dir)
        linked = link_raw(raw_root, thresholds, shards=checked.paths)
        out_dir = publish.incomplete_dir(final_dir)
        files.mkdirs(out_dir)
        files.write_locally_then_copy(out_dir, lambda folder: _write_dead_letters(folder, linked))  # gs://, s3:// too
        raw_shards.write_dead_letters(out_dir, checked)
        meta = {
            "counters": dict(sorted(linked.counts.items())),
            "thresholds": {**THRESHOLDS, **(thresholds or {})},
            "raw_shards": checked.record(),
            "seconds": round(time.time() - started, 1),
        }
        write_card(out_dir, linked, meta)
        records.write_entities(out_dir, linked.result.entities, linked.tag_links, metadata=meta)
        publish.publish(out_dir, final_dir, marker=schema.BUILD_METADATA)
    return final_dir, linked


def _write_dead_letters(folder: str, linked: Linked) -> None:
    """``dead_letters/Entities.jsonl.gz``: every refused record with its reason (written locally)."""
    letters = DeadLetters(dead_letter_path(folder, STEP), step=STEP, fresh=True)
    for reason, detail, record in linked.dead:
        letters.add(reason, record, detail=detail)
    letters.close()


def write_card(out_dir: str, linked: Linked, meta: dict) -> None:
    """``README.md``: what the table holds, how it was linked, and the counts adding up."""
    counts = linked.counts
    by_kind = Counter(e.kind for e in linked.result.entities)
    methods = Counter(ev.method for e in linked.result.entities for ev in e.evidence)
    refused = {k: v for k, v in sorted(counts.items()) if k.split("-", 1)[1] in REFUSALS}
    lines = [
        f"# {schema.NAME} {schema.VERSION}",
        "",
        "One row per work, character and person, linked across Bangumi, MyAnimeList, Wikipedia (ja / zh / en),",
        "moegirl and pixiv: canonical titles by language, every alias, every (source, source id) merged, and per",
        "record the evidence of its link (an id link, or Splink's match weight and the fields that agreed).",
        "See docs/entities.md for the method and its measured precision and recall.",
        "",
        "| kind | entities | records |",
        "|---|---|---|",
        *(f"| {k} | {by_kind[k]} | {counts.get(f'{STEP}-{k}-records', 0)} |" for k in schema.KINDS),
        "",
        f"Records joined by: {', '.join(f'{m} {n}' for m, n in sorted(methods.items()))}.",
        f"Thresholds (match probability): {meta['thresholds']}.",
        f"Refused (dead_letters/{STEP}.jsonl.gz): {refused or 'none'}.",
        f"Image tags linked: {len(linked.tag_links)} (tag_links.parquet).",
        "",
        raw_shards.card_section(meta.get("raw_shards", {})),
    ]
    files.write_text(f"{out_dir}/README.md", "\n".join(lines))


REFUSALS = ("no-title", "id-contradicts-source", "id-link-conflict", "malformed-json", "undecodable-utf8")
