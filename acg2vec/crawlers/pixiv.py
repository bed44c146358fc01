"""The pixiv importer: saved illust metadata into :class:`Illust` and :class:`TagTranslation` items.

pixiv's APIs need a login, so acg2vec does not crawl them; it imports what a logged-in user saved:

- AJAX bodies of ``/ajax/illust/{id}`` (``{"error": false, "body": {"illustId": ..., "tags": {"tags": [...]}}}``;
  tags carry ``translation`` ({"en": ...}) and ``romaji``), and
- app-API illust objects (``{"illust": {...}}``, ``{"illusts": [...]}``; tags are ``{name, translated_name}``).

Files are ``*.json`` at any depth under ``--from``; illust objects are found at any nesting inside them.
The importer is a Scrapy spider reading ``file://`` URLs, so its items go through the same pipelines,
feeds (``raw/pixiv/<kind>-<run>-<batch>.jsonl.gz``), dead letters and manifest as every crawl. A file that is
not JSON, an API error body, or a file with no illust in it is counted and dead-lettered.

The first file that mentions a tag gives its translations; later mentions are skipped as already had.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy.http import Response

from acg2vec.crawlers.feeds import BAD_INPUT, bookkeeping
from acg2vec.crawlers.items import Illust, TagTranslation
from acg2vec.crawlers.loaders import PixivIllustLoader

ARTWORK_URL = "https://www.pixiv.net/artworks/{id}"

# pixiv's translation keys -> the language keys of acg2vec items.
LANGUAGE_KEYS = {"en": "en", "zh": "zh-Hans", "zh_cn": "zh-Hans", "zh_tw": "zh-Hant", "ko": "ko", "ja": "ja"}


def is_ajax_illust(obj: dict[str, Any]) -> bool:
    tags = obj.get("tags")
    return "illustId" in obj and isinstance(tags, dict) and isinstance(tags.get("tags"), list)


def is_app_illust(obj: dict[str, Any]) -> bool:
    tags = obj.get("tags")
    return (
        "id" in obj
        and isinstance(tags, list)
        and all(isinstance(t, dict) and "name" in t for t in tags)
        and any(k in obj for k in ("total_view", "total_bookmarks", "sanity_level", "image_urls"))
    )


def find_illusts(data: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("ajax" | "app", object)`` for every illust object anywhere inside ``data``."""
    if isinstance(data, dict):
        if is_ajax_illust(data):
            yield "ajax", data
            return
        if is_app_illust(data):
            yield "app", data
            return
        for value in data.values():
            yield from find_illusts(value)
    elif isinstance(data, list):
        for value in data:
            yield from find_illusts(value)


def illust_from_ajax(obj: dict[str, Any]) -> tuple[dict[str, Any], list[TagTranslation]]:
    """Illust fields and tag translations of one AJAX ``/ajax/illust/{id}`` body."""
    loader = PixivIllustLoader()
    loader.add_value("id", obj.get("illustId") or obj.get("id"))
    loader.add_value("title", obj.get("illustTitle") or obj.get("title"))
    tags = [t for t in obj["tags"]["tags"] if isinstance(t, dict) and isinstance(t.get("tag"), str)]
    loader.add_value("tags", [t["tag"] for t in tags])
    loader.add_value("views", obj.get("viewCount"))
    loader.add_value("bookmarks", obj.get("bookmarkCount"))
    loader.add_value("likes", obj.get("likeCount"))
    loader.add_value("comments", obj.get("commentCount"))
    loader.add_value("sanity_level", obj.get("sl"))
    loader.add_value("x_restrict", obj.get("xRestrict"))
    loader.add_value("width", obj.get("width"))
    loader.add_value("height", obj.get("height"))
    loader.add_value("created_at", obj.get("createDate"))
    loader.add_value("user_id", obj.get("userId"))
    translations = []
    for t in tags:
        names = t.get("translation") if isinstance(t.get("translation"), dict) else {}
        by_language = {
            LANGUAGE_KEYS.get(k, k): v.strip() for k, v in names.items() if isinstance(v, str) and v.strip()
        }
        romaji = t.get("romaji") if isinstance(t.get("romaji"), str) and t.get("romaji") else None
        if by_language or romaji:
            translations.append(TagTranslation(source="pixiv", source_id=t["tag"], tag=t["tag"],
                                               translations=by_language, romaji=romaji))  # fmt: skip
    return loader.load_item(), translations


def illust_from_app(obj: dict[str, Any], *, language: str) -> tuple[dict[str, Any], list[TagTranslation]]:
    """Illust fields and tag translations of one app-API illust object (``translated_name`` is in ``language``)."""
    loader = PixivIllustLoader()
    loader.add_value("id", obj.get("id"))
    loader.add_value("title", obj.get("title"))
    tags = [t for t in obj["tags"] if isinstance(t.get("name"), str)]
    loader.add_value("tags", [t["name"] for t in tags])
    loader.add_value("views", obj.get("total_view"))
    loader.add_value("bookmarks", obj.get("total_bookmarks"))
    loader.add_value("comments", obj.get("total_comments"))
    loader.add_value("sanity_level", obj.get("sanity_level"))
    loader.add_value("x_restrict", obj.get("x_restrict"))
    loader.add_value("width", obj.get("width"))
    loader.add_value("height", obj.get("height"))
    loader.add_value("created_at", obj.get("create_date"))
    user = obj.get("user")
    loader.add_value("user_id", user.get("id") if isinstance(user, dict) else None)
    translations = [
        TagTranslation(
            source="pixiv", source_id=t["name"], tag=t["name"], translations={language: t["translated_name"].strip()}
        )  # fmt: skip
        for t in tags
        if isinstance(t.get("translated_name"), str) and t["translated_name"].strip()
    ]
    return loader.load_item(), translations


class PixivImportSpider(scrapy.Spider):
    """Reads saved pixiv JSON files (``from_dir``) through ``file://`` requests."""

    name = "pixiv"
    source = "pixiv"

    def __init__(self, *args: Any, from_dir: str | None = None, app_language: str = "en", **kwargs: Any) -> None:
        kwargs.pop("base_url", None)
        super().__init__(*args, **kwargs)
        if not from_dir or not Path(from_dir).is_dir():
            raise ValueError(f"pixiv: from_dir {from_dir!r} is not a folder")
        self.from_dir = Path(from_dir).resolve()
        self.app_language = app_language

    async def start(self) -> AsyncIterator[Any]:
        for path in sorted(self.from_dir.rglob("*.json")):
            if path.is_file():
                yield scrapy.Request(path.as_uri(), callback=self.parse_file)

    def drop(self, reason: str, *, url: str, detail: str = "", record: Any = None) -> None:
        self.logger.warning("dropped (%s) %s %s", reason, url, detail)
        bookkeeping(self.crawler).add(reason, record, url=url, detail=detail, prefix=BAD_INPUT)

    def parse_file(self, response: Response) -> Iterator[Any]:
        try:
            data = json.loads(response.body)
        except ValueError as err:
            self.drop("bad-json", url=response.url, detail=str(err), record=response.body[:500])
            return
        if isinstance(data, dict) and data.get("error") is True:
            self.drop("api-error", url=response.url, detail=str(data.get("message", ""))[:200])
            return
        found = 0
        for flavour, obj in find_illusts(data):
            if flavour == "ajax":
                fields, translations = illust_from_ajax(obj)
            else:
                fields, translations = illust_from_app(obj, language=self.app_language)
            if "id" not in fields:
                self.drop("illust-without-id", url=response.url, record={k: obj.get(k) for k in ("id", "illustId")})
                continue
            found += 1
            illust_id = fields["id"]
            yield Illust(source="pixiv", source_id=str(illust_id), url=ARTWORK_URL.format(id=illust_id), **fields)
            for tag in translations:
                tag.url = ARTWORK_URL.format(id=illust_id)
                yield tag
        if not found:
            self.drop("no-illust-found", url=response.url, detail=f"top-level {type(data).__name__}")


__all__ = ["PixivImportSpider", "find_illusts", "illust_from_ajax", "illust_from_app"]
