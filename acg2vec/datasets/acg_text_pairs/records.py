"""The rows of ``acg_text_pairs``: cleaning a raw pair, one raw line's pairs and joins, one bucket's final rows.

Plain functions (no Beam), shared by the Beam build (:mod:`acg2vec.datasets.acg_text_pairs.transforms`) and the
in-process path of the TFDS builder (:func:`rows_in_memory`); both give the same rows. Every drop is named, in
the one counter scheme ``<step>-<reason>``: ``Lines-`` (unreadable lines), ``Items-`` (items that give no pairs),
``Pairs-`` (pairs that fail cleaning), ``Dedup-`` (duplicates) and ``Joins-`` (unresolved joins).
"""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from acg2vec.beam_pipelines.files import match
from acg2vec.beam_pipelines.raw_io import read_lines
from acg2vec.beam_pipelines.raw_shards import check_raw_shards
from acg2vec.crawlers.items import ItemError, item_from_dict
from acg2vec.datasets.acg_text_pairs import clean_text, pair_extractors, schema
from acg2vec.datasets.acg_text_pairs.minhash import MinHashConfig, MinHasher
from acg2vec.deadletter import counter_name, dead_letter_record

log = logging.getLogger(__name__)

SOURCES = ("bangumi", "animelist", "wikipedia", "moegirl", "pixiv")
KINDS = ("work", "character", "person", "section", "tag_translation")
# Which copy of a duplicated pair is kept: the first source in this order.
SOURCE_RANK = {name: i for i, name in enumerate(SOURCES)}
DEFAULT_SIDE_BOUNDS: dict[str, tuple[int, int]] = {
    "title": (1, 200),
    "name": (1, 100),
    "tags": (2, 400),
    "text": (10, 1000),  # longer texts are cut at a sentence end, not dropped
}
Row = tuple[str, str, str, str, str, str, str]
# Steps (counter prefixes and the ``step`` of dead letters).
LINES, ITEMS, PAIRS, DEDUP, JOINS, WRITTEN = "Lines", "Items", "Pairs", "Dedup", "Joins", "Written"


@dataclass(slots=True)
class TextPairsConfig:
    """Knobs of the text-pair build; the defaults are the published corpus, and the one place they live
    (``acg2vec build texts`` overrides only what the user gives). How the build runs (runner, bucket count) is
    :class:`~acg2vec.beam_pipelines.options.BuildOptions`."""

    sources: tuple[str, ...] = SOURCES
    # Per side kind (title, name, tags, text): (min, max) characters after normalisation.
    side_bounds: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_SIDE_BOUNDS))
    # Per pair type overrides: pair_type -> ((anchor min, max), (positive min, max)).
    pair_type_bounds: dict[str, tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=dict)
    # Raw texts longer than this are dropped as junk before any work is spent on them.
    huge_text_chars: int = 100_000
    max_tags: int = 10
    near_dup: bool = True
    near_dup_threshold: float = 0.8
    # Split by a stable hash of entity_id mod 1000: [0, train) train, [train, validation) validation, rest test.
    split_permille: tuple[int, int] = (800, 900)

    def bounds(self, pair_type: str) -> tuple[tuple[int, int], tuple[int, int]]:
        if pair_type in self.pair_type_bounds:
            return self.pair_type_bounds[pair_type]
        anchor_kind, positive_kind = schema.PAIR_TYPES[pair_type]
        return self.side_bounds[anchor_kind], self.side_bounds[positive_kind]


# -- per-record logic ------------------------------------------------------------------------------------------


def dead_letter(step: str, reason: str, record: Any, detail: str = "") -> dict[str, Any]:
    """One dead-letter record in the layout of :mod:`acg2vec.deadletter`."""
    return dead_letter_record(reason, record, step=step, detail=detail)


def _clean_side(text: str, kind: str, bounds: tuple[int, int], config: TextPairsConfig) -> tuple[str | None, str]:
    if kind in ("text", "tags"):
        text = clean_text.strip_markup(text)
    text = clean_text.nfkc_clean(text)
    if not text:
        return None, "empty-text"
    low, high = bounds
    if len(text) > high:
        if kind != "text":
            return None, "too-long"
        text = clean_text.truncate(text, high)
    if len(text) < low:
        return None, "too-short"
    return text, ""


def clean_pair(raw: pair_extractors.RawPair, config: TextPairsConfig) -> tuple[Row | None, str]:
    """The cleaned row of a raw pair, or ``(None, reason)``: empty, too short / long, huge, same sides."""
    if len(raw.anchor) > config.huge_text_chars or len(raw.positive) > config.huge_text_chars:
        return None, "huge-text"
    anchor_bounds, positive_bounds = config.bounds(raw.pair_type)
    anchor_kind, positive_kind = schema.PAIR_TYPES[raw.pair_type]
    positive_raw = raw.positive
    if positive_kind == "tags":
        positive_raw = " ".join(positive_raw.split(" ")[: config.max_tags])
    anchor, reason = _clean_side(raw.anchor, anchor_kind, anchor_bounds, config)
    if anchor is None:
        return None, f"anchor-{reason}"
    positive, reason = _clean_side(positive_raw, positive_kind, positive_bounds, config)
    if positive is None:
        return None, f"positive-{reason}"
    if clean_text.dedup_key(anchor) == clean_text.dedup_key(positive):
        return None, "same-sides"
    return (
        anchor,
        positive,
        raw.pair_type,
        raw.source,
        raw.entity_id,
        clean_text.tag_language(anchor, raw.anchor_decl),
        clean_text.tag_language(positive, raw.positive_decl),
    ), ""


def stable_hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def pair_bucket(row: Row, num_buckets: int) -> int:
    """Every copy of a pair (same normalised anchor) lands in the same bucket."""
    return stable_hash(clean_text.dedup_key(row[0])) % num_buckets


def split_of(entity_id: str, split_permille: tuple[int, int] = (800, 900)) -> str:
    """The split of an entity: a stable hash of its id, so re-runs and re-crawls never move it."""
    value = int.from_bytes(hashlib.md5(entity_id.encode("utf-8")).digest()[:8], "big") % 1000
    if value < split_permille[0]:
        return "train"
    return "validation" if value < split_permille[1] else "test"


def example_serializer():
    """A function row -> serialized ``tf.train.Example`` in the layout of :func:`make_features` (one bytes value per column).

    Builds the proto directly instead of going through TFDS's generic encoder, which costs ~100 us a row (7x more).
    A fresh message per row: a reused, cleared upb message keeps growing its arena (~1.5 KB a row).
    """
    import tensorflow as tf

    example_cls = tf.train.Example
    columns = schema.COLUMNS

    def serialize(row: Row) -> bytes:
        example = example_cls()
        feature = example.features.feature
        for name, value in zip(columns, row, strict=True):
            feature[name].bytes_list.value.append(value.encode("utf-8"))
        return example.SerializeToString(deterministic=True)

    return serialize


def row_key(row: Row) -> str:
    """A stable id of a row (also its TFDS example key)."""
    return hashlib.md5("\x1f".join(row[:5]).encode("utf-8")).hexdigest()


def join_to_json(part: pair_extractors.JoinPart) -> str:
    return json.dumps(
        [part.key, part.role, part.source, part.entity_id, part.values, part.record_id], ensure_ascii=False
    )


def join_from_json(line: str) -> pair_extractors.JoinPart:
    key, role, source, entity_id, values, record_id = json.loads(line)
    return pair_extractors.JoinPart(key, role, source, entity_id, values, record_id)


@dataclass(slots=True)
class LineResult:
    """What one raw line gives: clean rows, join parts, and (reason, dead-letter line) drops."""

    rows: list[Row] = field(default_factory=list)
    joins: list[pair_extractors.JoinPart] = field(default_factory=list)
    drops: list[tuple[str, dict]] = field(default_factory=list)
    candidates: int = 0
    item_ok: bool = False


def process_line(line: str | bytes, config: TextPairsConfig, entities: Mapping[str, str] | None = None) -> LineResult:
    """Parse, validate, extract and clean one raw line; every drop is named (``line/``, ``item/``, ``pair/``).
    ``entities``: record id -> entity id from the linked entity table (the pairs' ``entity_id``)."""
    out = LineResult()
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError) as err:
        out.drops.append(
            (counter_name(LINES, "malformed-json"), dead_letter(LINES, "malformed-json", line, str(err)[:200]))
        )
        return out
    try:
        item = item_from_dict(data)
    except ItemError as err:
        out.drops.append((counter_name(LINES, err.reason), dead_letter(LINES, err.reason, data, err.detail)))
        return out
    out.item_ok = True
    extracted = pair_extractors.extract(item, entities)
    if extracted.dropped:
        out.drops.append((counter_name(ITEMS, extracted.dropped), dead_letter(ITEMS, extracted.dropped, data)))
    out.joins = extracted.joins
    add_pairs(out, extracted.pairs, config)
    return out


def add_pairs(out: LineResult, pairs: Iterable[pair_extractors.RawPair], config: TextPairsConfig) -> None:
    for raw in pairs:
        out.candidates += 1
        row, reason = clean_pair(raw, config)
        if row is None:
            out.drops.append((counter_name(PAIRS, reason), dead_letter(PAIRS, reason, asdict(raw))))
        else:
            out.rows.append(row)


@dataclass(slots=True)
class BucketResult:
    """One finalised bucket: rows by split (in shard order) and the duplicates dropped."""

    rows: dict[str, list[Row]]
    drops: list[tuple[str, dict]]


def finalize_rows(rows: Iterable[Row], config: TextPairsConfig) -> BucketResult:
    """Exact de-duplication, near-duplicate removal of summaries, split by entity, shard order."""
    best: dict[tuple[str, str], tuple[tuple, Row]] = {}
    drops: list[tuple[str, dict]] = []
    for row in rows:
        key = (clean_text.dedup_key(row[0]), clean_text.dedup_key(row[1]))
        rank = (SOURCE_RANK.get(row[3], len(SOURCE_RANK)), row[3], row[2], row[4], row)
        held = best.get(key)
        if held is None:
            best[key] = (rank, row)
            continue
        loser = row if rank >= held[0] else held[1]
        if rank < held[0]:
            best[key] = (rank, row)
        drops.append((counter_name(DEDUP, "duplicate"), dead_letter(DEDUP, "duplicate", list(loser))))
    ranked = sorted(entry for entry in best.values())
    kept = [row for _, row in ranked]
    if config.near_dup:
        hasher = MinHasher(MinHashConfig(threshold=config.near_dup_threshold))
        # Summaries of one anchor, best-ranked source first (the one kept when two nearly match).
        groups: dict[str, list[int]] = defaultdict(list)
        for i, row in enumerate(kept):
            if row[2] in pair_extractors.SUMMARY_TYPES:
                groups[clean_text.dedup_key(row[0])].append(i)
        removed: set[int] = set()
        for members in groups.values():
            if len(members) < 2:
                continue
            for index, match in zip(members, hasher.near_duplicates([kept[i][1] for i in members]), strict=True):
                if match is not None:
                    removed.add(index)
                    drops.append(
                        (
                            counter_name(DEDUP, "near-duplicate"),
                            dead_letter(DEDUP, "near-duplicate", list(kept[index])),
                        )
                    )
        kept = [row for i, row in enumerate(kept) if i not in removed]
    by_split: dict[str, list[Row]] = {split: [] for split in schema.SPLITS}
    for row in kept:
        by_split[split_of(row[4], config.split_permille)].append(row)
    for split_rows in by_split.values():
        # Hash order spreads one anchor's rows over the shard, so neighbouring rows are unrelated.
        split_rows.sort(key=lambda r: (stable_hash(r[0] + "\x1f" + r[1]), r))
    return BucketResult(by_split, drops)


def raw_patterns(raw_root: str, config: TextPairsConfig) -> list[str]:
    """The raw item shards the build reads: ``<raw>/<source>/<kind>-*.jsonl[.gz]`` for the configured sources."""
    return [f"{raw_root.rstrip('/')}/{source}/{kind}-*.jsonl*" for source in config.sources for kind in KINDS]


def raw_files(raw_root: str, config: TextPairsConfig) -> list[tuple[str, int]]:
    """``(path, size)`` of every raw shard the build reads (any Beam file system)."""
    return [found for pattern in raw_patterns(raw_root, config) for found in match(pattern)]


def rows_in_memory(
    raw_root: str, config: TextPairsConfig | None = None, entities: Mapping[str, str] | None = None
) -> dict[str, list[Row]]:
    """The whole build in one process and in memory: the same rows as the Beam build, for small inputs.

    Drops are counted by reason and logged (no dead-letter files: the Beam build writes those). ``entities``:
    record id -> entity id; None links the raw items first, as the Beam build does.
    """
    config = config or TextPairsConfig()
    if entities is None:
        from acg2vec.datasets.acg_entities.build import link_raw

        entities = link_raw(raw_root).record_entity
    rows: list[Row] = []
    drops: Counter[str] = Counter()
    joins: dict[str, list[pair_extractors.JoinPart]] = defaultdict(list)

    def undecodable(reason: str, _raw: bytes, _detail: str) -> None:
        drops[counter_name(LINES, reason)] += 1

    patterns = raw_patterns(raw_root, config)
    shards = check_raw_shards(raw_files(raw_root, config), command=schema.BUILD_COMMAND, patterns=patterns).paths
    for path in shards:  # checked whole first: a damaged shard is refused
        for line in read_lines(path, LINES, undecodable):
            result = process_line(line, config, entities)
            rows.extend(result.rows)
            drops.update(reason for reason, _ in result.drops)
            for part in result.joins:
                joins[part.key].append(part)
    for parts in joins.values():
        pairs, unmatched = pair_extractors.resolve_join(parts)
        drops[counter_name(JOINS, "character-work-missing")] += len(unmatched)
        result = LineResult()
        add_pairs(result, pairs, config)
        rows.extend(result.rows)
        drops.update(reason for reason, _ in result.drops)
    final = finalize_rows(rows, config)
    drops.update(reason for reason, _ in final.drops)
    log.info(
        "acg_text_pairs (in memory): %d rows; drops %s",
        sum(map(len, final.rows.values())),
        dict(sorted(drops.items())),
    )
    return final.rows
