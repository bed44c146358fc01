"""Posts -> image examples of ``acg_illustrations``: per-element functions, DoFns and the build's PTransform.

Memory design. On Beam's local runner every group-by (and every side input) is held in memory, so only small
metadata records ever reach one: de-duplication groups ``(md5, id)`` pairs, the vocabulary counts
``(category, tag)`` keys, the tag categories and the pixiv join are side inputs (a short string per tag, four
numbers per illustration). Image bytes are read, decoded and encoded in one fused pass (:class:`DecodeImages`)
and go straight to TFRecord shards without a group-by (see :mod:`acg2vec.beam_pipelines.image_build`). What
still grows with the crawl is the metadata the local runner buffers between steps (the benchmark measures it),
never the images.

Steps (each labelled, each drop a Beam counter ``acg2vec:<step>-<reason>`` and a dead-letter record):
``ReadPosts`` / ``ParsePosts`` -> ``FilterPosts`` (tag categories from ``Tags``) -> ``DedupByMd5`` ->
``JoinPixiv`` -> ``SplitById`` ->
``DecodeResize<Split>`` (and ``CountTags`` -> ``ChooseVocabulary`` on the train split).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import apache_beam as beam

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
        _counter("DedupByMd5", "duplicate-md5").inc()
        out = dead_letter("duplicate-md5", asdict(record), step="DedupByMd5", detail=f"same md5 as post {kept}")
        out["split"] = record.split
        yield beam.pvalue.TaggedOutput(DEAD, out)


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
        try:
            jpeg = process_file(record.file_path, self.rules)
        except ImageDrop as drop:
            _counter(self.step, drop.reason).inc()
            out = dead_letter(drop.reason, asdict(record), step=self.step, detail=drop.detail)
            out["split"] = record.split
            yield beam.pvalue.TaggedOutput(DEAD, out)
            return
        _counter(self.step, "written").inc()
        yield record, jpeg


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
        tags = pbegin | "Tags" >> raw_io.ReadItems(raw_io.shard_pattern(safebooru, "tag"), kind="tag", step="Tags")
        categories = (
            tags.items
            | "TagCategory" >> beam.FlatMap(lambda t: [(t.name, t.category)] if t.category in TAG_CATEGORIES else [])
            | "OneCategoryPerTag" >> beam.CombinePerKey(max)  # a tag listed twice: a deterministic choice
        )
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
