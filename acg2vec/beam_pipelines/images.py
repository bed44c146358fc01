"""Posts -> image examples of ``acg_illustrations``: per-element functions, DoFns and the build's PTransforms.

Memory design. Beam's local runner holds in memory every group-by, every side input and every PCollection that
passes from one fused stage to the next. :class:`BuildImageExamplesInBuckets` (what ``acg2vec build images``
runs) therefore lets no per-post record cross a stage boundary: it runs three passes in one pipeline, each
handing the next hash-partitioned bucket files (:class:`acg2vec.beam_pipelines.raw_io.WriteBuckets`: Beam's
``fileio``, any Beam file system):

1. **bucket** (map only): read, parse and filter the posts; each surviving slim record (:class:`ImageRecord`,
   no image bytes) goes to bucket ``crc32(md5) mod N``, so every copy of an image shares a bucket. Pixiv
   popularity items go to buckets by pixiv id.
2. **dedup**, one md5 bucket at a time per worker: the lowest id per md5 is kept; the unique records go to
   *join buckets* by the pixiv id of their source (else by their own id).
3. **join and decode**, one join bucket at a time per worker: the bucket's pixiv items (newest fetch per
   illustration) are joined, every file is read, decoded, resized and encoded, and the examples go, split by
   id, straight into TFRecord shards without a group-by (see :mod:`acg2vec.beam_pipelines.image_build`).

A pass waits for the one before through a side input (the number of bucket files written), so it starts only
when every bucket is complete. What does cross stages is small: file results, bucket numbers, outcome counts
(each counted inside the step that makes the outcome), the tag list (one category per tag) and the tag counts
for the vocabulary (one per distinct tag). Dead letters are written by the step that makes them. Peak memory
is one bucket per worker, and the bucket count grows with the input
(:func:`acg2vec.beam_pipelines.image_build.auto_buckets`); the count does not change the examples.
Measured with ``benchmarks/build_images.py`` on 2 workers: peak RSS of all processes 1,331 MiB for 2,000 posts
and 1,398 MiB for 20,000 in one run, 1,330 and 1,324 MiB in another (the one-pass design: 1.27 and 1.48 GiB).

:class:`BuildImageExamples` is the same steps in one pass with side inputs (the duplicates and the pixiv
popularity as dicts); TFDS's own Beam path (the builder's ``download_and_prepare``) uses it. TFDS shuffles
with a group-by anyway, so that path suits small crawls and tests.

Steps (each labelled, each drop a Beam counter ``acg2vec:<step>-<reason>`` and a dead-letter record):
``Posts`` (read, parse) -> ``FilterPosts`` (tag categories from ``Tags``) -> ``DedupByMd5`` -> ``JoinPixiv``
-> ``DecodeResize<Split>`` -> ``SplitById`` (and ``CountTags`` -> ``ChooseVocabulary`` on the train split).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from acg2vec.beam_pipelines import raw_io
from acg2vec.beam_pipelines.image_decode import ImageDrop, ImageRules, process_file
from acg2vec.beam_pipelines.raw_io import DEAD, NAMESPACE, dead_letter
from acg2vec.beam_pipelines.vocabulary import VocabularyRules, choose_vocabulary, vocabulary_csv
from acg2vec.crawlers.items import RATINGS, TAG_CATEGORIES, Illust, Post
from acg2vec.datasets.acg_illustrations.features import UNKNOWN
from acg2vec.errors import UserError

POST_DROP_REASONS = (
    "no-file",  # the post has no downloaded file
    "no-md5",
    "unknown-rating",
    "rating-filtered",
    "status-filtered",
    "too-small",  # the post's width / height below the minimum
    "too-few-tags",
    "banned-tag",
    "duplicate-md5",  # another post with the same md5 and a lower id is kept
)
UNKNOWN_SPLIT = "unknown"  # drops whose post id is not known (unreadable lines)

_PIXIV_ID_PATTERNS = (
    re.compile(r"pixiv\.net/(?:[a-z]{2}/)?artworks/(\d+)"),
    re.compile(r"pixiv\.net/.*[?&]illust_id=(\d+)"),
    re.compile(r"pximg\.net/.*/(\d+)_p\d+"),
)


def pixiv_id_from_url(url: str | None) -> int | None:
    """The pixiv illustration id in a post's source URL (artworks page, old member_illust page, image URL)."""
    if not url:
        return None
    for pattern in _PIXIV_ID_PATTERNS:
        match = pattern.search(url)
        if match:
            return int(match.group(1))
    return None


@dataclass(slots=True)
class PostFilters:
    """Which posts become examples. A status or size the post does not give is accepted.

    ``min_side``: the shorter side of the original (post metadata; checked again on the decoded file).
    ``min_general_tags``: general tags (and tags of unknown category) a post needs.
    """

    ratings: tuple[str, ...] = RATINGS
    statuses: tuple[str, ...] = ("active",)
    min_side: int = 256
    min_general_tags: int = 10
    banned_tags: tuple[str, ...] = ()


def _default_ranges() -> dict[str, tuple[int, int]]:
    return {"train": (0, 900), "validation": (900, 950), "test": (950, 1000)}


@dataclass(slots=True)
class SplitRules:
    """Split by ``id mod modulus`` (default 1000): each split owns a half-open range; together they cover
    ``[0, modulus)`` once. A small modulus (e.g. 10) suits a crawl whose ids span less than a thousand.

    ``holdout_from_id``: posts with this id or newer go to the ``holdout`` split instead (ids grow with time).
    A re-crawl never moves a post between splits: the split depends on the id alone.
    """

    ranges: dict[str, tuple[int, int]] = field(default_factory=_default_ranges)
    holdout_from_id: int | None = None
    modulus: int = 1000

    def __post_init__(self) -> None:
        covered = sorted(self.ranges.values())
        if self.modulus < 1 or not covered or covered[0][0] != 0 or covered[-1][1] != self.modulus:
            raise UserError(
                f"Split ranges must cover id mod {self.modulus} from 0 to {self.modulus}, "
                "e.g. train=0-900,validation=900-950,test=950-1000 for 1000."
            )
        for (_, end), (start, _) in zip(covered, covered[1:], strict=False):
            if start != end:
                raise UserError(f"Split ranges must not overlap or leave gaps (id mod {self.modulus}).")
        if any(lo >= hi for lo, hi in covered):
            raise UserError("Each split range must be non-empty (start < end).")
        if "holdout" in self.ranges:
            raise UserError("'holdout' is reserved for the newest posts (--holdout-from-id).")

    @classmethod
    def parse(cls, text: str, holdout_from_id: int | None = None, modulus: int = 1000) -> SplitRules:
        """``"train=0-900,validation=900-950,test=950-1000"`` -> rules."""
        ranges: dict[str, tuple[int, int]] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, span = part.partition("=")
            lo, _, hi = span.partition("-")
            if not name or not lo.strip().isdigit() or not hi.strip().isdigit():
                raise UserError(f"Cannot read the split range {part!r}; write it as name=start-end, e.g. train=0-900.")
            ranges[name.strip()] = (int(lo), int(hi))
        return cls(ranges=ranges, holdout_from_id=holdout_from_id, modulus=modulus)

    @property
    def names(self) -> list[str]:
        names = list(self.ranges)
        return [*names, "holdout"] if self.holdout_from_id is not None else names

    def split_of(self, post_id: int) -> str:
        if self.holdout_from_id is not None and post_id >= self.holdout_from_id:
            return "holdout"
        bucket = post_id % self.modulus
        for name, (lo, hi) in self.ranges.items():
            if lo <= bucket < hi:
                return name
        raise AssertionError("ranges cover [0, modulus)")  # checked in __post_init__


@dataclass(slots=True)
class ImageBuildConfig:
    """Everything that decides a build's examples (the same config gives the same dataset)."""

    size: int = 224
    filters: PostFilters = field(default_factory=PostFilters)
    splits: SplitRules = field(default_factory=SplitRules)
    vocabulary: VocabularyRules = field(default_factory=VocabularyRules)
    max_pixels: int = 64_000_000
    jpeg_quality: int = 95

    @property
    def image_rules(self) -> ImageRules:
        return ImageRules(
            size=self.size, max_pixels=self.max_pixels, min_side=self.filters.min_side, jpeg_quality=self.jpeg_quality
        )


@dataclass(slots=True)
class ImageRecord:
    """The small metadata record of one post on its way to an example (no image bytes)."""

    id: int
    md5: str
    file_path: str  # absolute (local or remote) path of the original file
    split: str
    rating: str
    score: int = UNKNOWN
    tags: list[str] = field(default_factory=list)
    characters: list[str] = field(default_factory=list)
    copyrights: list[str] = field(default_factory=list)
    artists: list[str] = field(default_factory=list)
    pixiv_id: int = UNKNOWN
    pixiv_views: int = UNKNOWN
    pixiv_bookmarks: int = UNKNOWN
    pixiv_likes: int = UNKNOWN
    pixiv_sanity_level: int = UNKNOWN


class PostDrop(Exception):
    """A post that does not become an example; ``reason`` is one of :data:`POST_DROP_REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _join(root: str, relative: str) -> str:
    return root.rstrip("/") + "/" + relative.lstrip("/")


def post_to_record(
    post: Post, *, raw_dir: str, config: ImageBuildConfig, tag_categories: dict[str, str] | None = None
) -> ImageRecord:
    """Filter one post and keep what the example needs; raises :class:`PostDrop`.

    A tag's category comes from the post, else from ``tag_categories`` (the crawl's tag list), else general.
    """
    filters = config.filters
    split = config.splits.split_of(post.id)
    if not post.file_path:
        raise PostDrop("no-file")
    if not post.md5:
        raise PostDrop("no-md5")
    if post.rating not in RATINGS:
        raise PostDrop("unknown-rating", repr(post.rating))
    if post.rating not in filters.ratings:
        raise PostDrop("rating-filtered", post.rating)
    if post.status is not None and post.status not in filters.statuses:
        raise PostDrop("status-filtered", post.status)
    if post.width is not None and post.height is not None and min(post.width, post.height) < filters.min_side:
        raise PostDrop("too-small", f"{post.width}x{post.height}")
    banned = set(filters.banned_tags).intersection(post.tags)
    if banned:
        raise PostDrop("banned-tag", ",".join(sorted(banned)))
    by_category: dict[str, list[str]] = {"general": [], "character": [], "copyright": [], "artist": []}
    for tag in dict.fromkeys(post.tags):  # unique, in order
        category = post.tag_categories.get(tag) or (tag_categories or {}).get(tag) or "general"
        if category in by_category:
            by_category[category].append(tag)
    if len(by_category["general"]) < filters.min_general_tags:
        raise PostDrop("too-few-tags", f"{len(by_category['general'])} < {filters.min_general_tags}")
    return ImageRecord(
        id=post.id,
        md5=post.md5.lower(),
        file_path=_join(raw_dir, post.file_path),
        split=split,
        rating=post.rating,
        score=post.score if post.score is not None else UNKNOWN,
        tags=by_category["general"],
        characters=by_category["character"],
        copyrights=by_category["copyright"],
        artists=by_category["artist"],
        pixiv_id=pixiv_id_from_url(post.source_url) or UNKNOWN,
    )


def record_to_example(record: ImageRecord, jpeg: bytes) -> dict[str, Any]:
    """The TFDS example dict (features of :func:`acg2vec.datasets.acg_illustrations.features.features_for_size`)."""
    return {
        "id": record.id,
        "md5": record.md5,
        "image": jpeg,
        "tags": record.tags,
        "characters": record.characters,
        "copyrights": record.copyrights,
        "artists": record.artists,
        "rating": record.rating,
        "score": record.score,
        "pixiv_id": record.pixiv_id,
        "pixiv_views": record.pixiv_views,
        "pixiv_bookmarks": record.pixiv_bookmarks,
        "pixiv_likes": record.pixiv_likes,
        "pixiv_sanity_level": record.pixiv_sanity_level,
    }


def _counter(step: str, name: str):
    return beam.metrics.Metrics.counter(NAMESPACE, f"{step}-{name}")


class FilterPosts(beam.DoFn):
    """Post -> :class:`ImageRecord`; filtered posts go to the ``dead`` output (reasons: :data:`POST_DROP_REASONS`)."""

    def __init__(self, raw_dir: str, config: ImageBuildConfig) -> None:
        self.raw_dir = raw_dir
        self.config = config

    def process(self, post: Post, tag_categories: dict[str, str] | None = None):
        try:
            yield post_to_record(post, raw_dir=self.raw_dir, config=self.config, tag_categories=tag_categories)
        except PostDrop as drop:
            _counter("FilterPosts", drop.reason).inc()
            record = dead_letter(drop.reason, _post_summary(post), step="FilterPosts", detail=drop.detail)
            record["split"] = self.config.splits.split_of(post.id)
            yield beam.pvalue.TaggedOutput(DEAD, record)


def _post_summary(post: Post) -> dict[str, Any]:
    return {
        "id": post.id,
        "md5": post.md5,
        "file_path": post.file_path,
        "rating": post.rating,
        "status": post.status,
        "width": post.width,
        "height": post.height,
        "tags": len(post.tags),
    }


class KeepLowestId(beam.CombineFn):
    """Per md5: the lowest post id, and the other ids (the duplicates to drop). Accumulator: ``(min, [others])``."""

    def create_accumulator(self):
        return (None, [])

    def add_input(self, acc, post_id):
        return self.merge_accumulators([acc, (post_id, [])])

    def merge_accumulators(self, accumulators):
        ids: list[int] = []
        for low, others in accumulators:
            if low is not None:
                ids.append(low)
            ids.extend(others)
        if not ids:
            return (None, [])
        low = min(ids)
        ids.remove(low)
        return (low, ids)

    def extract_output(self, acc):
        return acc


def duplicate_ids(md5_and_acc: tuple[str, tuple[int, list[int]]]):
    """``(md5, (kept id, [other ids]))`` -> ``(duplicate id, kept id)`` pairs."""
    _, (kept, others) = md5_and_acc
    for other in others:
        yield other, kept


class DropDuplicates(beam.DoFn):
    """Drops a record whose md5 belongs to a post with a lower id (side input: duplicate id -> kept id)."""

    def process(self, record: ImageRecord, duplicates: dict[int, int]):
        kept = duplicates.get(record.id)
        if kept is None:
            yield record
            return
        yield _duplicate(record, kept)


def _duplicate(record: ImageRecord, kept: int) -> beam.pvalue.TaggedOutput:
    _counter("DedupByMd5", "duplicate-md5").inc()
    out = dead_letter("duplicate-md5", asdict(record), step="DedupByMd5", detail=f"same md5 as post {kept}")
    out["split"] = record.split
    return beam.pvalue.TaggedOutput(DEAD, out)


def pixiv_popularity(illust: Illust) -> tuple[int, tuple[str, int, int, int, int]]:
    """Illust -> ``(pixiv id, (fetched_at, views, bookmarks, likes, sanity level))`` (-1 for unknown)."""

    def known(value: int | None) -> int:
        return UNKNOWN if value is None else value

    return illust.id, (
        illust.fetched_at or "",
        known(illust.views),
        known(illust.bookmarks),
        known(illust.likes),
        known(illust.sanity_level),
    )


def join_pixiv(record: ImageRecord, popularity: dict[int, tuple[str, int, int, int, int]]) -> ImageRecord:
    """Fill the pixiv targets of a record whose source is a pixiv illustration we have."""
    found = popularity.get(record.pixiv_id) if record.pixiv_id != UNKNOWN else None
    if found is not None:
        _, record.pixiv_views, record.pixiv_bookmarks, record.pixiv_likes, record.pixiv_sanity_level = found
        beam.metrics.Metrics.counter(NAMESPACE, "JoinPixiv-joined").inc()
    return record


class DecodeImages(beam.DoFn):
    """:class:`ImageRecord` -> ``(record, jpeg bytes)``; bad files go to ``dead`` (reasons: ``IMAGE_DROP_REASONS``)."""

    def __init__(self, rules: ImageRules, step: str = "DecodeResize") -> None:
        self.rules = rules
        self.step = step

    def setup(self) -> None:
        # Pillow raises on truncated files only when this stays False (its default); make it explicit.
        from PIL import ImageFile

        ImageFile.LOAD_TRUNCATED_IMAGES = False

    def process(self, record: ImageRecord):
        yield from decode_record(record, self.rules, self.step)


def decode_record(record: ImageRecord, rules: ImageRules, step: str):
    """Yields ``(record, jpeg bytes)``, or a dead letter on the ``dead`` output; counts under ``step``."""
    try:
        jpeg = process_file(record.file_path, rules)
    except ImageDrop as drop:
        _counter(step, drop.reason).inc()
        out = dead_letter(drop.reason, asdict(record), step=step, detail=drop.detail)
        out["split"] = record.split
        yield beam.pvalue.TaggedOutput(DEAD, out)
        return
    _counter(step, "written").inc()
    yield record, jpeg


def decode_step(split: str) -> str:
    """The step name (and counter prefix) of decoding one split's images, e.g. ``DecodeResizeTrain``."""
    return f"DecodeResize{split.capitalize()}"


@dataclass(slots=True)
class ImageBuildOutputs:
    """What :class:`BuildImageExamples` returns.

    ``images``: per split, ``(ImageRecord, jpeg bytes)``. ``dead``: every dead-letter record.
    ``outcomes``: one ``(group, split, outcome)`` per input line (group ``posts``, ``tags`` or ``pixiv``;
    outcome ``written`` / ``parsed`` or a drop reason), for counts that add up. ``vocabulary_csv``: one string.
    """

    images: dict[str, beam.PCollection]
    dead: beam.PCollection
    outcomes: beam.PCollection
    vocabulary_csv: beam.PCollection


class BuildImageExamples(beam.PTransform):
    """raw/ (posts, files, optional tag list and pixiv illusts) -> per-split images, dead letters, counts, vocabulary."""

    def __init__(self, raw_root: str, config: ImageBuildConfig, *, with_pixiv: bool = True) -> None:
        super().__init__()
        self.raw_root = raw_root
        self.config = config
        self.with_pixiv = with_pixiv

    def expand(self, pbegin: beam.pvalue.PBegin) -> ImageBuildOutputs:
        config = self.config
        safebooru = _join(self.raw_root, "safebooru")
        posts = pbegin | "Posts" >> raw_io.ReadItems(
            raw_io.shard_pattern(safebooru, "post"), kind="post", step="Posts"
        )
        # Tag categories from the crawl's tag list (DAPI posts carry bare tag names): a side input of one short
        # string per tag, bounded by the site's tag count, not by the number of images.
        tags, categories = _tag_categories(pbegin, safebooru)
        filtered = posts.items | "FilterPosts" >> beam.ParDo(
            FilterPosts(safebooru, config), tag_categories=beam.pvalue.AsDict(categories)
        ).with_outputs(DEAD, main="records")
        records = filtered.records

        # De-duplication groups (md5, id) pairs only; the records themselves never pass a group-by.
        duplicates = (
            records
            | "KeyByMd5" >> beam.Map(lambda r: (r.md5, r.id))
            | "LowestIdPerMd5" >> beam.CombinePerKey(KeepLowestId())
            | "DuplicateIds" >> beam.FlatMap(duplicate_ids)
        )
        unique = records | "DedupByMd5" >> beam.ParDo(
            DropDuplicates(), duplicates=beam.pvalue.AsDict(duplicates)
        ).with_outputs(DEAD, main="records")
        records = unique.records
        dead = [posts.dead, filtered[DEAD], unique[DEAD], tags.dead]
        outcomes = [
            tags.dead | "TagOutcomes" >> beam.Map(lambda d: ("tags", UNKNOWN_SPLIT, d["reason"])),
            tags.items | "TagRead" >> beam.Map(lambda _: ("tags", UNKNOWN_SPLIT, "parsed")),
        ]

        # raw/pixiv is optional: no shards there means no popularity targets (-1), not an error.
        pixiv_pattern = raw_io.shard_pattern(_join(self.raw_root, "pixiv"), "illust")
        if self.with_pixiv:
            illusts = pbegin | "Pixiv" >> raw_io.ReadItems(pixiv_pattern, kind="illust", step="Pixiv")
            popularity = (
                illusts.items
                | "PixivPopularity" >> beam.Map(pixiv_popularity)
                | "LatestPerIllust" >> beam.CombinePerKey(max)  # the newest fetch wins (fetched_at first)
            )
            records = records | "JoinPixiv" >> beam.Map(join_pixiv, beam.pvalue.AsDict(popularity))
            outcomes.append(
                illusts.dead | "PixivOutcomes" >> beam.Map(lambda d: ("pixiv", UNKNOWN_SPLIT, d["reason"]))
            )
            outcomes.append(illusts.items | "PixivRead" >> beam.Map(lambda _: ("pixiv", UNKNOWN_SPLIT, "parsed")))
            dead.append(illusts.dead)

        names = config.splits.names
        by_split = records | "SplitById" >> beam.Partition(lambda r, n: names.index(r.split), len(names))
        images: dict[str, beam.PCollection] = {}
        rules = config.image_rules
        for index, name in enumerate(names):
            step = f"DecodeResize{name.capitalize()}"
            decoded = by_split[index] | step >> beam.ParDo(DecodeImages(rules, step)).with_outputs(DEAD, main="images")
            images[name] = decoded.images
            dead.append(decoded[DEAD])
            outcomes.append(
                decoded.images
                | f"Written{name.capitalize()}" >> beam.Map(lambda ri: ("posts", ri[0].split, "written"))
            )

        vocab_rules = config.vocabulary
        # Counted on the train examples that were written (after every drop), tags only: no image bytes move.
        train = images["train"] if "train" in images else pbegin | "NoTrain" >> beam.Create([])
        vocabulary = (
            train
            | "TagKeys" >> beam.FlatMap(lambda record_and_jpeg: _tag_keys(record_and_jpeg[0]))
            | "CountTags" >> beam.combiners.Count.PerElement()
            | "AllTagCounts" >> beam.combiners.ToList()
            | "ChooseVocabulary" >> beam.Map(lambda counts: vocabulary_csv(choose_vocabulary(counts, vocab_rules)))
        )

        all_dead = dead | "AllDeadLetters" >> beam.Flatten()
        post_dead = all_dead | "PostDrops" >> beam.Filter(lambda d: d["step"] not in ("Pixiv", "Tags"))
        outcomes.append(
            post_dead | "DropOutcomes" >> beam.Map(lambda d: ("posts", d.get("split", UNKNOWN_SPLIT), d["reason"]))
        )
        return ImageBuildOutputs(
            images=images,
            dead=all_dead,
            outcomes=outcomes | "AllOutcomes" >> beam.Flatten(),
            vocabulary_csv=vocabulary,
        )


def _tag_categories(pbegin: beam.pvalue.PBegin, safebooru: str):
    """The crawl's tag list (read with dead letters) and ``(tag, category)`` pairs, one per tag."""
    tags = pbegin | "Tags" >> raw_io.ReadItems(raw_io.shard_pattern(safebooru, "tag"), kind="tag", step="Tags")
    categories = (
        tags.items
        | "TagCategory" >> beam.FlatMap(lambda t: [(t.name, t.category)] if t.category in TAG_CATEGORIES else [])
        | "OneCategoryPerTag" >> beam.CombinePerKey(max)  # a tag listed twice: a deterministic choice
    )
    return tags, categories


def _tag_keys(record: ImageRecord):
    for category, tags in (
        ("general", record.tags),
        ("character", record.characters),
        ("copyright", record.copyrights),
        ("artist", record.artists),
    ):
        for tag in tags:
            yield (category, tag)


def summarize_outcomes(outcomes: list[tuple[tuple[str, str, str], int]]) -> dict[str, Any]:
    """Counted outcomes -> the counts stored with the dataset.

    ``{"posts": {"read", "written", "dropped", "by_split": {split: {"written", <reason>: n}}, "by_reason"}, "pixiv": ...}``
    where ``read == written + dropped``.
    """
    summary: dict[str, Any] = {}
    for (group, split, outcome), count in sorted(outcomes):
        g = summary.setdefault(group, {"read": 0, "written": 0, "dropped": 0, "by_reason": {}, "by_split": {}})
        g["read"] += count
        per_split = g["by_split"].setdefault(split, {})
        per_split[outcome] = per_split.get(outcome, 0) + count
        if outcome in ("written", "parsed"):
            g["written"] += count
        else:
            g["dropped"] += count
            g["by_reason"][outcome] = g["by_reason"].get(outcome, 0) + count
    return summary


# -- The bucketed build (flat memory on the local runner) ------------------------------------------------------


def record_to_json(record: ImageRecord) -> str:
    """One bucket-file line (the record's fields as a JSON object)."""
    return json.dumps(asdict(record), ensure_ascii=False, sort_keys=True)


def record_from_json(line: str) -> ImageRecord:
    return ImageRecord(**json.loads(line))


def pixiv_join_key(pixiv_id: int) -> str:
    return f"pixiv:{pixiv_id}"


def post_join_key(record: ImageRecord) -> str:
    """A post's join bucket key: its pixiv illustration's (so the two meet), else its own id (spreads the rest)."""
    return pixiv_join_key(record.pixiv_id) if record.pixiv_id != UNKNOWN else f"post:{record.id}"


def dedup_records(records: Iterable[ImageRecord]) -> tuple[list[ImageRecord], list[tuple[ImageRecord, int]]]:
    """Per md5 the post with the lowest id is kept: ``(kept, in id order; [(duplicate, id kept instead)])``.

    Exact as long as every record of an md5 is in ``records`` (pass 1 buckets by md5 to make that so).
    """
    by_md5: dict[str, list[ImageRecord]] = {}
    for record in records:
        by_md5.setdefault(record.md5, []).append(record)
    kept: list[ImageRecord] = []
    duplicates: list[tuple[ImageRecord, int]] = []
    for group in by_md5.values():
        group.sort(key=lambda r: r.id)
        kept.append(group[0])
        duplicates.extend((other, group[0].id) for other in group[1:])
    kept.sort(key=lambda r: r.id)
    duplicates.sort(key=lambda pair: pair[0].id)
    return kept, duplicates


def latest_popularity(lines: Iterable[str]) -> dict[int, tuple[str, int, int, int, int]]:
    """Pixiv bucket lines (``[id, [fetched_at, views, bookmarks, likes, sanity]]``) -> per id, its newest fetch."""
    latest: dict[int, tuple[str, int, int, int, int]] = {}
    for line in lines:
        illust_id, values = json.loads(line)
        popularity = tuple(values)
        if illust_id not in latest or popularity > latest[illust_id]:
            latest[illust_id] = popularity  # fetched_at first: the newest wins, ties by the larger numbers
    return latest


class DedupBucket(beam.DoFn):
    """Pass 2: md5 bucket number -> ``(join bucket, record line)`` per unique post; duplicates go to ``dead``.

    ``ready`` is a side input (the number of pass-1 bucket files): it only makes this step wait until pass 1
    has written every bucket.
    """

    def __init__(self, md5_dir: str, num_buckets: int) -> None:
        self.md5_dir = md5_dir
        self.num_buckets = num_buckets

    def process(self, bucket: int, ready: int):
        lines = raw_io.read_bucket(self.md5_dir, bucket)
        kept, duplicates = dedup_records(record_from_json(line) for line in lines)
        for duplicate, kept_id in duplicates:
            yield _duplicate(duplicate, kept_id)
        for record in kept:
            yield raw_io.bucket_of(post_join_key(record), self.num_buckets), record_to_json(record)


class JoinDecodeBucket(beam.DoFn):
    """Pass 3: join bucket number -> ``(record, jpeg)`` per post, pixiv popularity filled; bad files go to ``dead``.

    A post and the pixiv illustration its source names are in the same join bucket, so the join holds one
    bucket's illustrations, never the whole pixiv crawl. Posts are decoded in id order. ``pixiv_dir`` None: no
    pixiv join. ``ready``: a side input that makes this step wait for passes 1 and 2.
    """

    def __init__(self, post_dir: str, pixiv_dir: str | None, rules: ImageRules) -> None:
        self.post_dir = post_dir
        self.pixiv_dir = pixiv_dir
        self.rules = rules

    def setup(self) -> None:
        from PIL import ImageFile

        ImageFile.LOAD_TRUNCATED_IMAGES = False

    def process(self, bucket: int, ready: int):
        popularity = latest_popularity(raw_io.read_bucket(self.pixiv_dir, bucket)) if self.pixiv_dir else None
        lines = raw_io.read_bucket(self.post_dir, bucket)
        for record in sorted((record_from_json(line) for line in lines), key=lambda r: r.id):
            if popularity is not None:
                record = join_pixiv(record, popularity)
            yield from decode_record(record, self.rules, decode_step(record.split))


@dataclass(slots=True)
class BucketedBuildOutputs:
    """What :class:`BuildImageExamplesInBuckets` returns.

    ``images``: per split, ``(ImageRecord, jpeg bytes)``. ``dead``: the dead-letter records of each step by a
    short name (``posts``, ``filter``, ``dedup``, ``decode``, ``tags``, ``pixiv``), to be written where they are
    made. ``outcome_counts``: ``((group, split, outcome), n)`` partial counts, each counted in the step that
    made the outcome; summed, ``read == written + dropped``. ``vocabulary_csv``: one string.
    """

    images: dict[str, beam.PCollection]
    dead: dict[str, beam.PCollection]
    outcome_counts: beam.PCollection
    vocabulary_csv: beam.PCollection


class BuildImageExamplesInBuckets(beam.PTransform):
    """raw/ -> per-split images, dead letters, counts and vocabulary, in three passes over bucket files.

    What crosses from one step to another through the runner is small (file results, counts, bucket
    numbers, the tag list); the posts travel through ``work_dir`` (see the module doc). ``num_buckets`` does not
    change the result, only how much one bucket holds. ``max_writers``: see
    :class:`acg2vec.beam_pipelines.raw_io.WriteBuckets`.
    """

    def __init__(
        self,
        raw_root: str,
        config: ImageBuildConfig,
        work_dir: str,
        *,
        num_buckets: int,
        max_writers: int = 20,
        with_pixiv: bool = True,
    ) -> None:
        super().__init__()
        self.raw_root = raw_root
        self.config = config
        self.work_dir = work_dir
        self.num_buckets = num_buckets
        self.max_writers = max_writers
        self.with_pixiv = with_pixiv

    def expand(self, pbegin: beam.pvalue.PBegin) -> BucketedBuildOutputs:
        config, n = self.config, self.num_buckets
        md5_dir, join_dir, pixiv_dir = (FileSystems.join(self.work_dir, name) for name in ("md5", "join", "pixiv"))
        safebooru = _join(self.raw_root, "safebooru")

        def write_buckets(directory: str) -> raw_io.WriteBuckets:
            return raw_io.WriteBuckets(directory, max_writers=self.max_writers)

        def count(pcoll: beam.PCollection, label: str, outcome) -> beam.PCollection:
            # Counted where the outcome is made (the count is fused into that step): only a few keys move on.
            return (
                pcoll
                | f"{label}Outcomes" >> beam.Map(outcome)
                | f"Count{label}Outcomes" >> beam.combiners.Count.PerElement()
            )

        # Pass 1 (map only): parse and filter posts; slim records to buckets by md5, pixiv items by pixiv id.
        posts = pbegin | "Posts" >> raw_io.ReadItems(
            raw_io.shard_pattern(safebooru, "post"), kind="post", step="Posts"
        )
        tags, categories = _tag_categories(pbegin, safebooru)
        filtered = posts.items | "FilterPosts" >> beam.ParDo(
            FilterPosts(safebooru, config), tag_categories=beam.pvalue.AsDict(categories)
        ).with_outputs(DEAD, main="records")
        md5_files = (
            filtered.records
            | "KeyByMd5Bucket" >> beam.Map(lambda r: (raw_io.bucket_of(r.md5, n), record_to_json(r)))
            | "Md5Buckets" >> write_buckets(md5_dir)
        )
        dead = {"posts": posts.dead, "filter": filtered[DEAD], "tags": tags.dead}
        outcomes = [
            count(posts.dead, "PostParse", lambda d: ("posts", UNKNOWN_SPLIT, d["reason"])),
            count(filtered[DEAD], "Filter", lambda d: ("posts", d["split"], d["reason"])),
            count(tags.dead, "TagDrop", lambda d: ("tags", UNKNOWN_SPLIT, d["reason"])),
            count(tags.items, "TagRead", lambda _: ("tags", UNKNOWN_SPLIT, "parsed")),
        ]
        join_inputs = []
        if self.with_pixiv:  # raw/pixiv is optional: no shards there means no popularity targets (-1)
            pixiv_pattern = raw_io.shard_pattern(_join(self.raw_root, "pixiv"), "illust")
            illusts = pbegin | "Pixiv" >> raw_io.ReadItems(pixiv_pattern, kind="illust", step="Pixiv")
            join_inputs.append(
                illusts.items
                | "KeyByPixivBucket"
                >> beam.Map(lambda i: (raw_io.bucket_of(pixiv_join_key(i.id), n), json.dumps(pixiv_popularity(i))))
                | "PixivBuckets" >> write_buckets(pixiv_dir)
            )
            dead["pixiv"] = illusts.dead
            outcomes.append(count(illusts.dead, "PixivDrop", lambda d: ("pixiv", UNKNOWN_SPLIT, d["reason"])))
            outcomes.append(count(illusts.items, "PixivRead", lambda _: ("pixiv", UNKNOWN_SPLIT, "parsed")))

        # Pass 2: one md5 bucket at a time, keep the lowest id per md5; unique posts to join buckets.
        md5_ready = md5_files | "Md5BucketsWritten" >> beam.combiners.Count.Globally()
        unique = (
            pbegin
            | "Md5BucketNumbers" >> beam.Create(range(n))
            | "SpreadMd5Buckets" >> beam.Reshuffle()  # the local runner hands the buckets out to every worker
            | "DedupByMd5"
            >> beam.ParDo(DedupBucket(md5_dir, n), ready=beam.pvalue.AsSingleton(md5_ready)).with_outputs(
                DEAD, main="records"
            )
        )
        join_inputs.append(unique.records | "JoinBuckets" >> write_buckets(join_dir))
        dead["dedup"] = unique[DEAD]
        outcomes.append(count(unique[DEAD], "Dedup", lambda d: ("posts", d["split"], d["reason"])))

        # Pass 3: one join bucket at a time, join pixiv, decode, resize, encode; split by id.
        join_ready = (
            join_inputs | "JoinInputsWritten" >> beam.Flatten() | "CountJoinInputs" >> beam.combiners.Count.Globally()
        )
        decoded = (
            pbegin
            | "JoinBucketNumbers" >> beam.Create(range(n))
            | "SpreadJoinBuckets" >> beam.Reshuffle()
            | "JoinPixivDecodeResize"
            >> beam.ParDo(
                JoinDecodeBucket(join_dir, pixiv_dir if self.with_pixiv else None, config.image_rules),
                ready=beam.pvalue.AsSingleton(join_ready),
            ).with_outputs(DEAD, main="images")
        )
        dead["decode"] = decoded[DEAD]
        outcomes.append(count(decoded[DEAD], "Decode", lambda d: ("posts", d["split"], d["reason"])))
        outcomes.append(count(decoded.images, "Written", lambda ri: ("posts", ri[0].split, "written")))
        names = config.splits.names
        by_split = decoded.images | "SplitById" >> beam.Partition(lambda ri, _: names.index(ri[0].split), len(names))
        images = {name: by_split[index] for index, name in enumerate(names)}

        # Counted on the train examples that were written (after every drop), tags only: no image bytes move.
        train = images["train"] if "train" in images else pbegin | "NoTrain" >> beam.Create([])
        vocab_rules = config.vocabulary
        vocabulary = (
            train
            | "TagKeys" >> beam.FlatMap(lambda record_and_jpeg: _tag_keys(record_and_jpeg[0]))
            | "CountTags" >> beam.combiners.Count.PerElement()
            | "AllTagCounts" >> beam.combiners.ToList()  # one count per distinct tag
            | "ChooseVocabulary" >> beam.Map(lambda counts: vocabulary_csv(choose_vocabulary(counts, vocab_rules)))
        )
        return BucketedBuildOutputs(
            images=images,
            dead=dead,
            outcome_counts=outcomes | "AllOutcomeCounts" >> beam.Flatten(),
            vocabulary_csv=vocabulary,
        )
