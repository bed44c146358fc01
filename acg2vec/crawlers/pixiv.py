"""The pixiv importer: saved illust metadata into :class:`Illust` and :class:`TagTranslation` items.

pixiv's APIs need a login, so acg2vec does not crawl them; it imports what a logged-in user saved:

- AJAX bodies of ``/ajax/illust/{id}`` (``{"error": false, "body": {"illustId": ..., "tags": {"tags": [...]}}}``;
  tags carry ``translation`` and ``romaji``),
- app-API illust objects (``{"illust": {...}}``, ``{"illusts": [...]}``; tags are ``{name, translated_name}``), and
- the ``tagTranslation`` maps of search and bookmark responses (``{tag: {en, zh, zh_tw, ko, romaji}}``).

Files are ``*.json`` at any depth under ``--from``; illust objects are found at any nesting inside them.
The importer is a Scrapy spider reading ``file://`` URLs, so its items go through the same pipelines,
feeds (``raw/pixiv/<kind>-<run>-<batch>.jsonl.gz``), dead letters and manifest as every crawl. A file that is
not JSON, an API error body, or a file with nothing to import in it is counted and dead-lettered.

Languages of translations. pixiv writes a tag's translation in the language of whoever asked: the AJAX
``translation`` object keeps the key ``en`` whatever the viewer's language, and the app API's
``translated_name`` follows the client's language. So each translation's language comes from where it came:
the locale the saved file states (a ``lang=`` request parameter saved with the body, or the ``/zh/`` ... of the
body's canonical page URL), else the user's ``--language`` for app-API files, else the script of the text
(kana: ja, Hangul: ko, Han only: zh-Hans, Latin: en). Keys that name a language themselves (``zh``, ``zh_tw``,
``ko`` of ``tagTranslation`` maps) are taken as they say.

One translation per language and tag: translations of one tag from every file of the run are merged (a later
file adds a language the first lacked); a different text for a language already had keeps the first file's
(files in path order) and is counted under ``acg2vec/skipped/translation-conflict``. The merged tags are
written once all files are read.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Response

from acg2vec.crawlers.feeds import BAD_INPUT, SKIPPED, bookkeeping
from acg2vec.crawlers.items import Illust, TagTranslation
from acg2vec.crawlers.language import detect_language
from acg2vec.crawlers.loaders import PixivIllustLoader
from acg2vec.crawlers.spider_args import SpiderArgs, parse_args

ARTWORK_URL = "https://www.pixiv.net/artworks/{id}"
TAG_URL = "https://www.pixiv.net/tags/{tag}"

# pixiv's language keys and locales -> the language keys of acg2vec items.
LANGUAGE_KEYS = {
    "en": "en",
    "ja": "ja",
    "zh": "zh-Hans",
    "zh_cn": "zh-Hans",
    "zh-cn": "zh-Hans",
    "zh-hans": "zh-Hans",
    "zh_tw": "zh-Hant",
    "zh-tw": "zh-Hant",
    "zh-hant": "zh-Hant",
    "ko": "ko",
}
# What --language accepts (pixiv's own codes and acg2vec's keys).
APP_LANGUAGES = frozenset(LANGUAGE_KEYS) | {"zh-Hans", "zh-Hant"}


def language_key(code: str | None) -> str | None:
    """acg2vec's key of a pixiv language code or locale (``zh_tw`` -> ``zh-Hant``), or None if not one."""
    if not code:
        return None
    return LANGUAGE_KEYS.get(code.strip().lower().replace("_", "-")) or LANGUAGE_KEYS.get(code.strip().lower())


def file_locale(data: Any) -> str | None:
    """The locale a saved file states: a ``lang`` parameter of the request URL saved with the body
    (``url`` / ``request_url`` / ``request.url``), or the language folder of the body's canonical page URL
    (``https://www.pixiv.net/en/artworks/1``; no folder is pixiv's Japanese page, which says nothing of the
    translations' language)."""
    if not isinstance(data, dict):
        return None
    request = data.get("request") if isinstance(data.get("request"), dict) else {}
    for url in (data.get("url"), data.get("request_url"), request.get("url")):
        if isinstance(url, str):
            lang = parse_qs(urlsplit(url).query).get("lang")
            if lang and language_key(lang[0]):
                return language_key(lang[0])
    body = data.get("body") if isinstance(data.get("body"), dict) else data
    meta = (body.get("extraData") or {}).get("meta") if isinstance(body.get("extraData"), dict) else None
    canonical = meta.get("canonical") if isinstance(meta, dict) else None
    if isinstance(canonical, str):
        first = urlsplit(canonical).path.strip("/").split("/")[0]
        if first != "artworks" and language_key(first):
            return language_key(first)
    return None


@dataclass(slots=True)
class Translation:
    """One translation as found: the tag, its language (or None), the text, where and in which file order."""

    tag: str
    language: str | None
    text: str
    url: str
    order: int = 0
    romaji: str | None = None
    malformed: bool = False  # an entry of a tagTranslation map that is no {language: text} object


@dataclass(slots=True)
class TagBook:
    """The run's translations by tag and language: the first file's text for each language wins."""

    tags: dict[str, dict[str, tuple[int, str]]] = field(default_factory=dict)
    romaji: dict[str, tuple[int, str]] = field(default_factory=dict)
    urls: dict[str, tuple[int, str]] = field(default_factory=dict)
    conflicts: int = 0
    malformed: int = 0
    into_japanese: int = 0

    def add(self, tr: Translation) -> None:
        if tr.malformed:
            self.malformed += 1
            return
        url = self.urls.get(tr.tag)
        if url is None or tr.order < url[0]:
            self.urls[tr.tag] = (tr.order, tr.url)
        if tr.romaji:
            have = self.romaji.get(tr.tag)
            if have is None or tr.order < have[0]:
                self.romaji[tr.tag] = (tr.order, tr.romaji)
        if not tr.text or not tr.language:
            self.tags.setdefault(tr.tag, {})
            return
        if tr.language == "ja":
            self.into_japanese += 1  # a Japanese "translation" of a Japanese tag would pair it with itself
            self.tags.setdefault(tr.tag, {})
            return
        by_language = self.tags.setdefault(tr.tag, {})
        have = by_language.get(tr.language)
        if have is None:
            by_language[tr.language] = (tr.order, tr.text)
        elif have[1] != tr.text:
            self.conflicts += 1
            if tr.order < have[0]:
                by_language[tr.language] = (tr.order, tr.text)

    def items(self) -> Iterator[TagTranslation]:
        for tag, by_language in self.tags.items():
            romaji = self.romaji.get(tag)
            if not by_language and romaji is None:
                continue
            yield TagTranslation(
                source="pixiv",
                source_id=tag,
                tag=tag,
                url=self.urls[tag][1],
                translations={lang: text for lang, (_, text) in sorted(by_language.items())},
                romaji=romaji[1] if romaji else None,
            )


def _clean(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


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


def _found_language(key: str, text: str, *, locale: str | None) -> str | None:
    # pixiv keeps the key "en" for the translation in the viewer's language; other keys name their language.
    if key == "en":
        return locale or detect_language(text)
    return language_key(key) or detect_language(text)


def illust_from_ajax(
    obj: dict[str, Any], *, locale: str | None = None, url: str = ""
) -> tuple[dict[str, Any], list[Translation]]:
    """Illust fields and tag translations of one AJAX ``/ajax/illust/{id}`` body (``locale``: the file's)."""
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
        romaji = _clean(t.get("romaji"))
        found = [(k, _clean(v)) for k, v in names.items() if _clean(v)]
        for key, text in found:
            language = _found_language(key, text, locale=locale)
            translations.append(Translation(t["tag"], language, text, url, romaji=romaji))
        if romaji and not found:
            translations.append(Translation(t["tag"], None, "", url, romaji=romaji))
    return loader.load_item(), translations


def illust_from_app(
    obj: dict[str, Any], *, language: str | None = None, url: str = ""
) -> tuple[dict[str, Any], list[Translation]]:
    """Illust fields and tag translations of one app-API illust object (``translated_name`` is in the client's
    ``language`` when known, else in the language its script shows)."""
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
        Translation(t["name"], language or detect_language(text), text, url)
        for t in tags
        if (text := _clean(t.get("translated_name")))
    ]
    return loader.load_item(), translations


def find_tag_translation_maps(data: Any) -> Iterator[dict[str, Any]]:
    """Every ``tagTranslation`` map (search and bookmark responses) anywhere inside ``data``."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "tagTranslation" and isinstance(value, dict):
                yield value
            else:
                yield from find_tag_translation_maps(value)
    elif isinstance(data, list):
        for value in data:
            yield from find_tag_translation_maps(value)


def translations_from_map(mapping: dict[str, Any], *, url: str = "") -> list[Translation]:
    """``{tag: {en, zh, zh_tw, ko, romaji}}``: each key names its language (zh: zh-Hans, zh_tw: zh-Hant)."""
    out = []
    for tag, names in mapping.items():
        if not isinstance(tag, str) or not tag.strip() or not isinstance(names, dict):
            out.append(Translation(str(tag), None, repr(names)[:500], url, malformed=True))
            continue
        romaji = _clean(names.get("romaji"))
        found = [(k, _clean(v)) for k, v in names.items() if k != "romaji" and _clean(v)]
        for key, text in found:
            out.append(Translation(tag, language_key(key) or detect_language(text), text, url, romaji=romaji))
        if romaji and not found:
            out.append(Translation(tag, None, "", url, romaji=romaji))
    return out


@dataclass(frozen=True)
class PixivArgs(SpiderArgs):
    """``from_dir``: the folder of saved responses. ``app_language``: the language of the client that saved
    app-API responses (``translated_name``), when the user knows it; None to tell it from each translation's
    script."""

    from_dir: str | None = None
    app_language: str | None = None

    def check(self) -> None:
        super().check()
        if not self.from_dir or not Path(self.from_dir).is_dir():
            raise ValueError(f"from_dir {self.from_dir!r} is not a folder")
        if self.app_language and self.app_language not in APP_LANGUAGES:
            raise ValueError(
                f"app_language must be one of {', '.join(sorted(APP_LANGUAGES))}, not {self.app_language!r}"
            )


class PixivImportSpider(scrapy.Spider):
    """Reads saved pixiv JSON files (``from_dir``) through ``file://`` requests; its arguments are :class:`PixivArgs`."""

    name = "pixiv"
    source = "pixiv"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("base_url", None)  # the runner's common argument; files have no site
        super().__init__()
        self.args = parse_args(PixivArgs, kwargs, spider=self.name)
        self.from_dir = Path(self.args.from_dir).resolve()
        self.app_language = language_key(self.args.app_language) if self.args.app_language else None
        self.book = TagBook()
        self._flushed = False

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> PixivImportSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_idle, signal=signals.spider_idle)
        return spider

    async def start(self) -> AsyncIterator[Any]:
        paths = [p for p in sorted(self.from_dir.rglob("*.json")) if p.is_file()]
        for order, path in enumerate(paths):
            yield scrapy.Request(path.as_uri(), callback=self.parse_file, cb_kwargs={"order": order})

    def on_idle(self) -> None:
        """Once every file is read, one more request writes the merged tag translations."""
        if self._flushed:
            return
        self._flushed = True
        self.crawler.engine.crawl(scrapy.Request("data:,", callback=self.write_translations, dont_filter=True))
        raise DontCloseSpider

    def write_translations(self, response: Response) -> Iterator[TagTranslation]:
        stats = self.crawler.stats
        if self.book.conflicts:
            stats.inc_value(SKIPPED + "translation-conflict", self.book.conflicts)
        if self.book.into_japanese:
            stats.inc_value(SKIPPED + "translation-into-japanese", self.book.into_japanese)
        yield from self.book.items()

    def drop(self, reason: str, *, url: str, detail: str = "", record: Any = None) -> None:
        self.logger.warning("dropped (%s) %s %s", reason, url, detail)
        bookkeeping(self.crawler).add(reason, record, url=url, detail=detail, prefix=BAD_INPUT)

    def parse_file(self, response: Response, order: int = 0) -> Iterator[Any]:
        try:
            data = json.loads(response.body)
        except ValueError as err:
            self.drop("bad-json", url=response.url, detail=str(err), record=response.body[:500])
            return
        if isinstance(data, dict) and data.get("error") is True:
            self.drop("api-error", url=response.url, detail=str(data.get("message", ""))[:200])
            return
        locale = file_locale(data)
        found = 0
        for flavour, obj in find_illusts(data):
            if flavour == "ajax":
                fields, translations = illust_from_ajax(obj, locale=locale)
            else:
                fields, translations = illust_from_app(obj, language=self.app_language or locale)
            if "id" not in fields:
                self.drop("illust-without-id", url=response.url, record={k: obj.get(k) for k in ("id", "illustId")})
                continue
            found += 1
            illust_id = fields["id"]
            yield Illust(source="pixiv", source_id=str(illust_id), url=ARTWORK_URL.format(id=illust_id), **fields)
            for tr in translations:
                tr.url, tr.order = ARTWORK_URL.format(id=illust_id), order
                self.book.add(tr)
        for mapping in find_tag_translation_maps(data):
            found += 1
            for tr in translations_from_map(mapping):
                if tr.malformed:  # counted and dead-lettered here, where the file it came from is known
                    record = {"tag": tr.tag, "entry": tr.text}
                    self.drop("bad-tag-translation", url=response.url, detail=f"tag {tr.tag!r}", record=record)
                    continue
                tr.url, tr.order = TAG_URL.format(tag=quote(tr.tag, safe="")), order
                self.book.add(tr)
        if not found:
            self.drop("no-illust-found", url=response.url, detail=f"top-level {type(data).__name__}")


__all__ = [
    "PixivImportSpider",
    "TagBook",
    "file_locale",
    "find_illusts",
    "find_tag_translation_maps",
    "illust_from_ajax",
    "illust_from_app",
    "translations_from_map",
]
