"""Crawl items: the contract between the crawlers and the dataset builds.

One dataclass per item kind. Every field is typed; a value the source does not give is ``None`` (or an
empty list / dict for collections). Every item carries ``source``, ``source_id``, ``url`` and ``fetched_at``.

On disk an item is one JSON object per line in ``raw/<source>/<kind>-<shard>.jsonl.gz``, with its kind in
the ``kind`` field. :func:`item_to_dict` and :func:`item_from_dict` are the two directions; the second
validates and raises :class:`ItemError` with a short named reason, which the builds count and dead-letter.

Language keys in ``titles`` / ``names`` / ``summaries`` are BCP-47-like: ``ja``, ``zh-Hans``, ``zh-Hant``,
``en``, ``ja-Latn`` (romaji). ``ids`` maps a site to that site's id of the same entity: ``bangumi``,
``mal``, ``anidb``, ``wikidata``, ``pixiv``, ``wiki:ja`` / ``wiki:zh`` / ``wiki:en`` (page titles), ``moegirl``.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from acg2vec.vocabularies import RATINGS as RATINGS  # re-exported: the item contract names them
from acg2vec.vocabularies import TAG_CATEGORIES as TAG_CATEGORIES

# Gelbooru-family ratings come as words ("general", "safe", ...) or letters (s / q / e / g).
_RATING_ALIASES = {
    "g": "general",
    "general": "general",
    "s": "sensitive",  # Danbooru's four-letter scheme (g / s / q / e)
    "safe": "general",
    "sensitive": "sensitive",
    "q": "questionable",
    "questionable": "questionable",
    "e": "explicit",
    "explicit": "explicit",
}

# Gelbooru DAPI tag `type` numbers.
BOORU_TAG_TYPES = {0: "general", 1: "artist", 3: "copyright", 4: "character", 5: "meta", 6: "meta"}


def normalize_rating(value: Any, *, legacy_letters: bool = False) -> str | None:
    """Map a booru rating (word or letter, any case) to one of :data:`RATINGS`, or ``None``.

    ``legacy_letters``: the older Gelbooru-0.2 three-letter scheme, where ``s`` meant "safe" (general).
    """
    if value is None:
        return None
    key = str(value).strip().lower()
    if legacy_letters and key == "s":
        return "general"
    return _RATING_ALIASES.get(key)


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string, the format of every ``*_at`` field."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class ItemError(ValueError):
    """A raw record that does not fit its item kind; ``reason`` is a short name used for counting."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True, kw_only=True)
class Item:
    """Fields every item has."""

    kind: ClassVar[str] = ""
    source: str
    source_id: str
    url: str | None = None
    fetched_at: str = field(default_factory=utc_now)


@dataclass(slots=True, kw_only=True)
class Post(Item):
    """A booru post (Safebooru or any Gelbooru / Danbooru / Moebooru-family site)."""

    kind: ClassVar[str] = "post"
    id: int
    md5: str | None = None
    tags: list[str] = field(default_factory=list)
    # tag -> one of TAG_CATEGORIES, for the tags whose category is known
    tag_categories: dict[str, str] = field(default_factory=dict)
    rating: str | None = None
    score: int | None = None
    width: int | None = None
    height: int | None = None
    file_url: str | None = None
    sample_url: str | None = None
    preview_url: str | None = None
    parent_id: int | None = None
    created_at: str | None = None
    changed_at: str | None = None
    source_url: str | None = None
    status: str | None = None
    # Filled by the download step: path relative to raw/<source>/ (files/<md5[:2]>/<md5>.<ext>) and its md5.
    file_path: str | None = None
    file_checksum: str | None = None
    # Scrapy FilesPipeline's input and result fields.
    file_urls: list[str] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class Tag(Item):
    """A booru tag with its category and post count."""

    kind: ClassVar[str] = "tag"
    name: str
    category: str | None = None
    count: int | None = None


@dataclass(slots=True, kw_only=True)
class Work(Item):
    """An anime / manga / game: a Bangumi subject, a MyAnimeList anime, a wiki article about a work."""

    kind: ClassVar[str] = "work"
    titles: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    summaries: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    # The site's own kind of work, lower case: "tv", "movie", "ova", "ona", "special", "music" (MyAnimeList), ...
    type: str | None = None
    air_date: str | None = None
    ids: dict[str, str] = field(default_factory=dict)
    character_ids: list[str] = field(default_factory=list)
    episodes: int | None = None


@dataclass(slots=True, kw_only=True)
class Character(Item):
    """A character, with the works it appears in and its voice actors (ids of the same source)."""

    kind: ClassVar[str] = "character"
    names: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    summaries: dict[str, str] = field(default_factory=dict)
    work_ids: list[str] = field(default_factory=list)
    voice_actor_ids: list[str] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class Person(Item):
    """A real person (voice actor, staff), with the characters they voiced."""

    kind: ClassVar[str] = "person"
    names: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    summaries: dict[str, str] = field(default_factory=dict)
    roles: list[str] = field(default_factory=list)
    character_ids: list[str] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class Section(Item):
    """One section of a wiki page, markup stripped; the intro has an empty heading path."""

    kind: ClassVar[str] = "section"
    title: str
    language: str
    heading_path: list[str] = field(default_factory=list)
    text: str = ""
    page_id: str | None = None
    # Interlanguage links of the page: language -> title on that wiki.
    langlinks: dict[str, str] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class TagTranslation(Item):
    """A pixiv tag in Japanese with its translations (language -> text) and romaji."""

    kind: ClassVar[str] = "tag_translation"
    tag: str
    translations: dict[str, str] = field(default_factory=dict)
    romaji: str | None = None


@dataclass(slots=True, kw_only=True)
class Illust(Item):
    """A pixiv illustration's popularity and tags: the deepix targets."""

    kind: ClassVar[str] = "illust"
    id: int
    title: str | None = None
    tags: list[str] = field(default_factory=list)
    views: int | None = None
    bookmarks: int | None = None
    likes: int | None = None
    comments: int | None = None
    sanity_level: int | None = None
    x_restrict: int | None = None
    width: int | None = None
    height: int | None = None
    created_at: str | None = None
    user_id: str | None = None


ITEM_CLASSES: dict[str, type[Item]] = {
    cls.kind: cls for cls in (Post, Tag, Work, Character, Person, Section, TagTranslation, Illust)
}


def item_to_dict(item: Item) -> dict[str, Any]:
    """The JSON-ready form of an item, with its ``kind``."""
    out = {"kind": item.kind}
    out.update(dataclasses.asdict(item))
    return out


def _check(value: Any, hint: Any, name: str) -> Any:
    """Check ``value`` against a field's type hint; ints given as numeric strings are converted."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check(value, inner[0], name)
    if hint is Any:
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ItemError("wrong-type", f"{name} must be a list")
        (arg,) = typing.get_args(hint)
        return [_check(v, arg, name) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ItemError("wrong-type", f"{name} must be an object")
        _, varg = typing.get_args(hint)
        return {str(k): _check(v, varg, name) for k, v in value.items()}
    if hint is int:
        if isinstance(value, bool):
            raise ItemError("wrong-type", f"{name} must be an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise ItemError("wrong-type", f"{name} must be an integer")
    if hint is str:
        if not isinstance(value, str):
            raise ItemError("wrong-type", f"{name} must be a string")
        return value
    return value


@functools.cache
def _type_hints(cls: type[Item]) -> dict[str, Any]:
    # Resolving hints costs ~0.2 ms; builds validate millions of records.
    return typing.get_type_hints(cls)


def item_from_dict(data: Any) -> Item:
    """Validate one raw record and build its item; raises :class:`ItemError` with a named reason."""
    if not isinstance(data, dict):
        raise ItemError("not-an-object", type(data).__name__)
    kind = data.get("kind")
    cls = ITEM_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ItemError("unknown-kind", repr(kind))
    hints = _type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ItemError("missing-field", f.name)
            continue
        value = data[f.name]
        if value is None and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ItemError("missing-field", f.name)
        if value is None and f.default_factory is not dataclasses.MISSING:
            continue  # a null collection is an empty one
        kwargs[f.name] = _check(value, hints[f.name], f.name)
    return cls(**kwargs)
