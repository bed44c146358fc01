"""ItemLoaders: the cleaning of raw site values (ints as strings, null scores, blank fields, rating letters, times).

A loader fills a plain dict whose keys are item fields; the spider adds ``source`` / ``source_id`` / ``url``
and builds the dataclass. Values a site leaves blank or null are left out, so the item's default (``None``)
stands. Loader context: ``base_url`` (to make relative and protocol-relative URLs absolute) and
``legacy_letters`` (rating letters of the older Gelbooru-0.2 scheme, where ``s`` meant safe).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from itemloaders.processors import Identity, MapCompose, TakeFirst
from scrapy.loader import ItemLoader

from acg2vec.crawlers.items import normalize_rating


def to_int(value: Any) -> int | None:
    """An int from an int, a float with no fraction or a numeric string; None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return None


def positive_or_none(value: int | None) -> int | None:
    """Boorus write "no parent" as 0 or an empty string."""
    return value if value is not None and value > 0 else None


def split_tags(value: Any) -> list[str]:
    """A space-separated tag string (or a list) as a list of tags, order kept, duplicates removed."""
    parts = value.split() if isinstance(value, str) else [str(v).strip() for v in value or []]
    return list(dict.fromkeys(p for p in parts if p))


def blank_to_none(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def lower_text(value: Any) -> str | None:
    value = blank_to_none(value)
    return str(value).lower() if value is not None else None


def absolute_url(value: Any, loader_context: dict[str, Any]) -> str | None:
    """A URL made absolute against the loader's ``base_url`` (boorus also send ``//host/path``)."""
    value = blank_to_none(value)
    if value is None:
        return None
    base = loader_context.get("base_url") or ""
    return urljoin(base.rstrip("/") + "/", str(value))


def rating(value: Any, loader_context: dict[str, Any]) -> str | None:
    return normalize_rating(value, legacy_letters=bool(loader_context.get("legacy_letters")))


def to_iso_time(value: Any) -> str | None:
    """An ISO-8601 UTC time from unix seconds, an ISO string or Gelbooru's ``Wed Sep 20 10:31:21 -0500 2017``."""
    value = blank_to_none(value)
    if value is None:
        return None
    number = to_int(value)
    if number is not None:
        if number <= 0:
            return None
        return datetime.fromtimestamp(number, UTC).isoformat()
    text = str(value)
    for parse in (datetime.fromisoformat, lambda t: datetime.strptime(t, "%a %b %d %H:%M:%S %z %Y")):
        try:
            when = parse(text)
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(UTC).replace(microsecond=0).isoformat()
    return None


class RecordLoader(ItemLoader):
    """Base loader of one raw record into a dict of item fields; the first usable value of a field wins."""

    default_item_class = dict
    default_input_processor = MapCompose(blank_to_none)
    default_output_processor = TakeFirst()


class BooruPostLoader(RecordLoader):
    """Gelbooru / Moebooru / Danbooru post fields into :class:`~acg2vec.crawlers.items.Post` fields."""

    id_in = MapCompose(to_int, positive_or_none)
    md5_in = MapCompose(lower_text)
    tags_in = MapCompose(split_tags)
    tags_out = Identity()
    rating_in = MapCompose(rating)
    score_in = MapCompose(to_int)
    width_in = MapCompose(to_int)
    height_in = MapCompose(to_int)
    parent_id_in = MapCompose(to_int, positive_or_none)
    file_url_in = MapCompose(absolute_url)
    sample_url_in = MapCompose(absolute_url)
    preview_url_in = MapCompose(absolute_url)
    source_url_in = MapCompose(blank_to_none)
    created_at_in = MapCompose(to_iso_time)
    changed_at_in = MapCompose(to_iso_time)
    status_in = MapCompose(lower_text)


class BooruTagLoader(RecordLoader):
    """Booru tag-list fields into :class:`~acg2vec.crawlers.items.Tag` fields (``type`` number -> category)."""

    name_in = MapCompose(blank_to_none)
    count_in = MapCompose(to_int)
    category_in = MapCompose(blank_to_none)


class PixivIllustLoader(RecordLoader):
    """pixiv illust fields (AJAX or app API) into :class:`~acg2vec.crawlers.items.Illust` fields."""

    id_in = MapCompose(to_int, positive_or_none)
    tags_out = Identity()
    views_in = MapCompose(to_int)
    bookmarks_in = MapCompose(to_int)
    likes_in = MapCompose(to_int)
    comments_in = MapCompose(to_int)
    sanity_level_in = MapCompose(to_int)
    x_restrict_in = MapCompose(to_int)
    width_in = MapCompose(to_int)
    height_in = MapCompose(to_int)
    created_at_in = MapCompose(to_iso_time)
    user_id_in = MapCompose(blank_to_none, str)
