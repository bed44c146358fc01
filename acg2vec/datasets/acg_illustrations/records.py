"""The records of the ``acg_illustrations`` build: filters, split rules, the slim post record and its example.

Plain data and functions, testable without Beam: which posts become examples (:func:`post_to_record`, every
drop a :class:`PostDrop` with a reason of :data:`POST_DROP_REASONS`), how ids map to splits (:class:`SplitRules`),
the de-duplication and pixiv join rules of one bucket, and the counts stored with the dataset.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from acg2vec.crawlers.items import Illust, Post
from acg2vec.datasets.acg_illustrations.images import ImageRules
from acg2vec.datasets.acg_illustrations.schema import UNKNOWN
from acg2vec.datasets.acg_illustrations.vocabulary import VocabularyRules
from acg2vec.errors import UserError
from acg2vec.imaging import MAX_PIXELS
from acg2vec.vocabularies import RATINGS

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
    """Everything that decides a build's dataset (the same config gives the same examples and files); the one
    place the image build's defaults live (``acg2vec build images`` overrides only what the user gives)."""

    size: int = 224
    filters: PostFilters = field(default_factory=PostFilters)
    splits: SplitRules = field(default_factory=SplitRules)
    vocabulary: VocabularyRules = field(default_factory=VocabularyRules)
    max_pixels: int = MAX_PIXELS
    jpeg_quality: int = 95
    shard_bytes: int = 256 * 1024 * 1024  # per TFRecord shard; TFDS aims at 64 MiB - 1 GiB for streaming

    @classmethod
    def tiny(cls) -> ImageBuildConfig:
        """64-pixel images and loose rules (shorter side 32, 3 general tags, 2 images per tag): the builder config
        ``acg_illustrations/64`` builds with these, for tests and small crawls."""
        return cls(
            size=64,
            filters=PostFilters(min_side=32, min_general_tags=3),
            vocabulary=VocabularyRules(min_images=2),
        )

    @classmethod
    def demo(cls) -> ImageBuildConfig:
        """The rules ``acg2vec demo`` builds with, sized for the sample site's posts (6-40 general tags each,
        ids 1..posts): a modulus of 10 gives 8 / 1 / 1 tenths; a tag needs 5 images."""
        return cls(
            filters=PostFilters(min_general_tags=6),
            splits=SplitRules(ranges={"train": (0, 8), "validation": (8, 9), "test": (9, 10)}, modulus=10),
            vocabulary=VocabularyRules(min_images=5),
        )

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
    file_md5: str | None = None  # what the file must hash to (the post's md5), None: not checked (a sample rendition)


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
        file_md5=expected_file_md5(post),
    )


def expected_file_md5(post: Post) -> str | None:
    """The md5 the post's downloaded file must have: the post's own, unless the file is the site's sample
    rendition (re-encoded, so no published checksum); the crawl's files pipeline decides the same way."""
    from acg2vec.crawlers.pipelines import file_extension

    if not post.md5 or not post.file_path:
        return None
    if post.file_url and post.file_path.rsplit(".", 1)[-1].lower() != file_extension(post.file_url):
        return None
    return post.md5.lower()


def record_to_example(record: ImageRecord, jpeg: bytes) -> dict[str, Any]:
    """The TFDS example dict (features of :func:`acg2vec.datasets.acg_illustrations.schema.features_for_size`)."""
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


def post_summary(post: Post) -> dict[str, Any]:
    """What a dead letter keeps of a filtered post."""
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


def join_pixiv(record: ImageRecord, popularity: dict[int, tuple[str, int, int, int, int]]) -> bool:
    """Fill the pixiv targets of a record whose source is a pixiv illustration we have; True if it was joined."""
    found = popularity.get(record.pixiv_id) if record.pixiv_id != UNKNOWN else None
    if found is None:
        return False
    _, record.pixiv_views, record.pixiv_bookmarks, record.pixiv_likes, record.pixiv_sanity_level = found
    return True


def tag_keys(record: ImageRecord):
    """``(category, tag)`` of every tag of a record (what the vocabulary counts)."""
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
