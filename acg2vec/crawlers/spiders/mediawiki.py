"""The MediaWiki Action API base spider shared by Wikipedia and moegirl; each wiki is a :class:`WikiSite`.

Pages come from categories (``list=categorymembers`` with continue tokens, sub-categories to a chosen
depth), from list pages (``prop=links``) or from given titles. Each page is read with ``action=parse``
(wikitext, interlanguage links, categories, page properties) and becomes one :class:`Section` per section
(the intro has an empty heading path), plus a :class:`Work` when the page's infobox says it is about a work
(and a :class:`Character` for a character infobox). Pages outside the main namespace, disambiguation pages
and API errors are skipped under a named reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import scrapy
from scrapy.http import Response

from acg2vec.crawlers import wikitext
from acg2vec.crawlers.items import Character, Item, Section, Work
from acg2vec.crawlers.spiders.apibase import ApiArgs, ApiSpider, json_callback

MAIN_NAMESPACE = 0
# API error codes that mean "try again later" rather than "this page is bad".
RETRYABLE_API_ERRORS = frozenset({"api-error-maxlag", "api-error-ratelimited", "api-error-readonly"})
CATEGORY_NAMESPACE = 14


@dataclass(frozen=True, slots=True)
class WikiSite:
    """Everything that differs between two MediaWiki sites, as data."""

    source: str
    language: str  # the wiki's language code, as in Section.language and interlanguage links
    api_path: str  # joined onto the base URL: Wikipedia "/w/api.php", moegirl "/api.php"
    article_path: str  # page URL prefix: Wikipedia "/wiki/", moegirl "/"
    title_key: str  # key of this wiki's titles in Work.titles / Character.names
    work_infoboxes: dict[str, str | None] = field(default_factory=dict)  # template name -> Work.type
    character_infoboxes: frozenset[str] = frozenset()
    disambiguation_templates: frozenset[str] = frozenset()
    boilerplate_headings: frozenset[str] = frozenset()
    local_namespaces: frozenset[str] = frozenset()
    default_categories: tuple[str, ...] = ()
    # Infobox fields that hold the Japanese title or the character's original name, the aliases, and the
    # voice actors (read as the page links in the field: their titles are the people's page titles).
    original_title_fields: tuple[str, ...] = ()
    alias_fields: tuple[str, ...] = ()
    voice_actor_fields: tuple[str, ...] = ()


# Interlanguage link language -> key in Work.titles.
LANGLINK_TITLE_KEYS = {"ja": "ja", "zh": "zh-Hans", "en": "en"}
# Infobox fields that hold other names of a work on zh wikis, whatever the site: {{Infobox animanga/name}}'s
# official / formal / common translations (正式譯名 ...) and the plain 别名 / 又名 fields.
COMMON_ALIAS_FIELDS = (
    "正式譯名", "正式译名", "formal", "官方譯名", "官方译名", "official", "常用譯名", "常用译名", "common",
    "其他譯名", "其他译名", "別名", "别名", "又名", "別稱", "别称",
)  # fmt: skip
# Infobox fields that hold the Japanese original title on zh wikis ({{Infobox animanga/Headerofja}}'s 日文名稱).
COMMON_ORIGINAL_TITLE_FIELDS = ("日文名稱", "日文名称", "日文名", "日語名稱", "日语名称", "原名", "原文名")


def split_list(value: str | None) -> list[str]:
    """A comma / 、 / newline separated infobox value as a list of stripped, non-empty strings."""
    if not value:
        return []
    for sep in ("、", "，", ",", "/", "\n"):
        value = value.replace(sep, "\x00")
    return [part.strip() for part in value.split("\x00") if part.strip()]


@dataclass(slots=True)
class ParsedPage:
    """What one ``action=parse`` response gives."""

    title: str
    page_id: str | None
    wikitext: str
    langlinks: dict[str, str]
    categories: list[str]
    properties: dict[str, Any]


def read_parse_response(data: Any) -> ParsedPage:
    """Check an ``action=parse`` body (formatversion 1 or 2) and pull out its parts; raises ValueError(reason)."""
    if not isinstance(data, dict):
        raise ValueError("not-an-object")
    if "error" in data:
        code = data["error"].get("code", "unknown") if isinstance(data["error"], dict) else "unknown"
        raise ValueError(f"api-error-{code}")
    parse = data.get("parse")
    if not isinstance(parse, dict) or not isinstance(parse.get("title"), str):
        raise ValueError("no-parse-result")
    text = parse.get("wikitext")
    if isinstance(text, dict):  # formatversion=1: {"*": "..."}
        text = text.get("*")
    if not isinstance(text, str):
        raise ValueError("no-wikitext")
    langlinks = {}
    for link in parse.get("langlinks") or []:
        title = link.get("title", link.get("*"))
        if isinstance(link.get("lang"), str) and isinstance(title, str):
            langlinks[link["lang"]] = title
    categories = []
    for cat in parse.get("categories") or []:
        name = cat.get("category", cat.get("*"))
        if isinstance(name, str) and "hidden" not in cat:
            categories.append(name.replace("_", " "))
    properties = parse.get("properties") or {}
    if isinstance(properties, list):  # formatversion=1: [{"name": ..., "*": ...}]
        properties = {p.get("name"): p.get("*", "") for p in properties if isinstance(p, dict)}
    page_id = parse.get("pageid")
    return ParsedPage(
        title=parse["title"],
        page_id=str(page_id) if page_id is not None else None,
        wikitext=text,
        langlinks=langlinks,
        categories=categories,
        properties=properties if isinstance(properties, dict) else {},
    )


# Lists are "|"-separated where a string is given, as the MediaWiki API writes them.
_PIPE_LIST = {"separator": "|"}


@dataclass(frozen=True)
class MediaWikiArgs(ApiArgs):
    """``limit`` counts pages; with no category, title or list page the site's default categories are walked."""

    category: tuple[str, ...] = field(default=(), metadata=_PIPE_LIST)  # categories to walk
    title: tuple[str, ...] = field(default=(), metadata=_PIPE_LIST)  # pages to read
    list_page: tuple[str, ...] = field(default=(), metadata=_PIPE_LIST)  # pages whose linked articles are read
    depth: int = 0  # sub-category levels to follow
    langlinks: tuple[str, ...] = field(default=("ja", "zh", "en"), metadata=_PIPE_LIST)  # interlanguage links kept

    def check(self) -> None:
        super().check()
        if self.depth < 0:
            raise ValueError(f"depth must be 0 or more, not {self.depth}")


class MediaWikiSpider(ApiSpider):
    """Walks categories / list pages / titles of one MediaWiki site and yields sections and works.

    Its arguments are :class:`MediaWikiArgs`.
    """

    Args: ClassVar[type[MediaWikiArgs]] = MediaWikiArgs
    args: MediaWikiArgs
    site: WikiSite
    page_size = 50

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.categories = list(self.args.category)
        self.titles = list(self.args.title)
        self.list_pages = list(self.args.list_page)
        if not (self.categories or self.titles or self.list_pages):
            self.categories = list(self.site.default_categories)
        self.depth = self.args.depth
        self.langlink_languages = set(self.args.langlinks)

    # -- URLs --------------------------------------------------------------------------------------------

    def api_url(self, **params: Any) -> str:
        query = {**params, "format": "json", "formatversion": "2"}
        return self.join(self.site.api_path) + "?" + urlencode(query)

    def page_url(self, title: str) -> str:
        return self.join(self.site.article_path) + quote(title.replace(" ", "_"))

    def category_request(self, category: str, *, depth: int, cont: dict[str, str] | None = None) -> scrapy.Request:
        name = category if ":" in category else f"Category:{category}"
        params = {"action": "query", "list": "categorymembers", "cmtitle": name, "cmlimit": self.page_size}
        url = self.api_url(**params, **(cont or {}))
        return self.request(url, self.parse_category, category=name, depth=depth)

    def links_request(self, page: str, *, cont: dict[str, str] | None = None) -> scrapy.Request:
        params = {"action": "query", "prop": "links", "titles": page, "pllimit": "max"}
        return self.request(self.api_url(**params, **(cont or {})), self.parse_links, page=page)

    def page_request(self, title: str) -> scrapy.Request:
        url = self.api_url(action="parse", page=title, prop="wikitext|langlinks|categories|properties", redirects="1")
        return self.request(url, self.parse_page)

    # -- walking ---------------------------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for title in self.titles:
            request = self.maybe_page(title, ns=None, source_url=None)
            if request is not None:
                yield request
        for page in self.list_pages:
            yield self.links_request(page)
        for category in self.categories:
            yield self.category_request(category, depth=self.depth)

    def is_main_namespace(self, title: str) -> bool:
        """The canonical namespaces of :mod:`acg2vec.crawlers.wikitext` and this site's local names."""
        return wikitext.is_article_title(title, self.site.local_namespaces)

    def maybe_page(self, title: str, *, ns: int | None, source_url: str | None) -> scrapy.Request | None:
        """The page's request, or None (counted) when it is outside the main namespace or past the limit."""
        if (ns is not None and ns != MAIN_NAMESPACE) or (ns is None and not self.is_main_namespace(title)):
            self.drop("namespace", url=source_url, detail=title, record={"title": title, "ns": ns}, expected=True)
            return None
        if self.limit_reached(self.tally("pages")):
            return None
        self.add_tally("pages")
        return self.page_request(title)

    @json_callback
    def parse_category(self, response: Response, data: Any, category: str, depth: int) -> Iterator[scrapy.Request]:
        if data is None:
            return
        members = (data.get("query") or {}).get("categorymembers") if isinstance(data, dict) else None
        if not isinstance(members, list):
            self.drop("bad-category-listing", url=response.url, record=data)
            return
        for member in members:
            title, ns = (member.get("title"), member.get("ns")) if isinstance(member, dict) else (None, None)
            if not isinstance(title, str):
                self.drop("bad-category-member", url=response.url, record=member)
            elif ns == CATEGORY_NAMESPACE:
                if depth > 0:
                    yield self.category_request(title, depth=depth - 1)
                else:
                    self.drop("subcategory-beyond-depth", url=response.url, detail=title, record=member, expected=True)
            else:
                request = self.maybe_page(title, ns=ns, source_url=response.url)
                if request is not None:
                    yield request
        cont = data.get("continue")
        if isinstance(cont, dict) and "cmcontinue" in cont and not self.limit_reached(self.tally("pages")):
            yield self.category_request(category, depth=depth, cont={k: str(v) for k, v in cont.items()})

    @json_callback
    def parse_links(self, response: Response, data: Any, page: str) -> Iterator[scrapy.Request]:
        if data is None:
            return
        pages = (data.get("query") or {}).get("pages") if isinstance(data, dict) else None
        if not isinstance(pages, list) or not pages or not isinstance(pages[0], dict) or pages[0].get("missing"):
            self.drop("bad-list-page", url=response.url, detail=page, record=data)
            return
        for link in pages[0].get("links") or []:
            if not isinstance(link, dict):
                self.drop("bad-link", url=response.url, record=link)
                continue
            request = self.maybe_page(link.get("title", ""), ns=link.get("ns"), source_url=response.url)
            if request is not None:
                yield request
        cont = data.get("continue")
        if isinstance(cont, dict) and "plcontinue" in cont and not self.limit_reached(self.tally("pages")):
            yield self.links_request(page, cont={k: str(v) for k, v in cont.items()})

    @json_callback
    def parse_page(self, response: Response, data: Any) -> Iterator[scrapy.Request | Item]:
        if data is None:
            return
        try:
            page = read_parse_response(data)
        except ValueError as err:
            reason = str(err)
            if reason in RETRYABLE_API_ERRORS:
                # The wiki asks us to come back later (replication lag, rate limit): retry with backoff.
                retry = self.retry_page(response, reason, record=data)
                if retry is not None:
                    yield retry
                return
            self.drop(reason, url=response.url, record=data)
            return
        if not self.is_main_namespace(page.title):
            self.drop("namespace", url=response.url, detail=page.title, expected=True)
            return
        if self.is_disambiguation(page):
            self.drop("disambiguation", url=response.url, detail=page.title, expected=True)
            return
        yield from self.page_items(page)

    # -- items -----------------------------------------------------------------------------------------------

    def is_disambiguation(self, page: ParsedPage) -> bool:
        if "disambiguation" in page.properties:
            return True
        return bool(wikitext.find_templates(page.wikitext, self.site.disambiguation_templates))

    def page_items(self, page: ParsedPage) -> Iterator[Item]:
        """The sections of a parsed page, then its Work or Character when its infobox says what it is about."""
        site = self.site
        url = self.page_url(page.title)
        langlinks = {lang: t for lang, t in page.langlinks.items() if lang in self.langlink_languages}
        sections = wikitext.split_sections(page.wikitext)
        intro = sections[0].text if sections else ""
        for index, section in enumerate(sections):
            if section.heading_path and section.heading_path[0].lower() in site.boilerplate_headings:
                self.count("sections/boilerplate")
                continue
            if not section.text:
                self.count("sections/empty")
                continue
            yield Section(
                source=site.source,
                source_id=f"{site.language}:{page.title}#{index}",
                url=url,
                title=page.title,
                language=site.language,
                heading_path=section.heading_path,
                text=section.text,
                page_id=page.page_id,
                langlinks=langlinks,
                categories=page.categories,
            )
        work_boxes = wikitext.find_templates(page.wikitext, frozenset(site.work_infoboxes))
        if work_boxes:
            yield self.work_item(page, work_boxes, intro=intro, url=url, langlinks=langlinks)
        character_boxes = wikitext.find_templates(page.wikitext, site.character_infoboxes)
        if character_boxes and not work_boxes:
            yield self.character_item(page, character_boxes[0], intro=intro, url=url)

    def wiki_ids(self, page: ParsedPage, langlinks: dict[str, str]) -> dict[str, str]:
        site = self.site
        ids = {site.source if site.source != "wikipedia" else f"wiki:{site.language}": page.title}
        for lang, title in langlinks.items():
            ids[f"wiki:{lang}"] = title
        if isinstance(page.properties.get("wikibase_item"), str):
            ids["wikidata"] = page.properties["wikibase_item"]
        return ids

    def work_type(self, boxes: list[Any]) -> str | None:
        """The Work.type of the first infobox that tells it (an exact name before a family prefix)."""
        known = self.site.work_infoboxes
        for box in boxes:
            name = wikitext.template_name(box)
            kind = known.get(name) or next((t for n, t in known.items() if t and name.startswith(n + "/")), None)
            if kind:
                return kind
        return None

    def work_item(
        self, page: ParsedPage, boxes: list[Any], *, intro: str, url: str, langlinks: dict[str, str]
    ) -> Work:
        site = self.site
        fields: dict[str, str] = {}
        for box in boxes:  # a header box and its medium boxes (Infobox animanga/Header + /TVAnime ...)
            for key, value in wikitext.template_fields(box).items():
                fields.setdefault(key, value)
        titles = {site.title_key: page.title}
        for lang, title in langlinks.items():
            key = LANGLINK_TITLE_KEYS.get(lang)
            if key and key not in titles:
                titles[key] = title
        for name in (*site.original_title_fields, *COMMON_ORIGINAL_TITLE_FIELDS):
            if fields.get(name) and "ja" not in titles:
                titles["ja"] = fields[name]
        aliases = self.aliases(fields, intro=intro, title=page.title)
        work_type = self.work_type(boxes)
        return Work(
            source=site.source,
            source_id=f"{site.language}:{page.title}",
            url=url,
            titles=titles,
            aliases=aliases,
            summaries={site.title_key: intro} if intro else {},
            tags=page.categories,
            type=work_type,
            ids=self.wiki_ids(page, langlinks),
        )

    def aliases(self, fields: dict[str, str], *, intro: str, title: str) -> list[str]:
        """Other names from the infobox's name fields (a note on who uses a name is cut) and from the lead;
        the page's own title is no other name."""
        names = [
            wikitext.strip_trailing_note(a)
            for name in dict.fromkeys((*self.site.alias_fields, *COMMON_ALIAS_FIELDS))
            for a in split_list(fields.get(name))
        ]
        names += wikitext.lead_aliases(intro)
        return [a for a in dict.fromkeys(names) if a and a != title]

    def character_item(self, page: ParsedPage, box: Any, *, intro: str, url: str) -> Character:
        site = self.site
        fields = wikitext.template_fields(box)
        names = {site.title_key: page.title}
        for name in site.original_title_fields:
            if fields.get(name):
                names["ja"] = fields[name]
                break
        return Character(
            source=site.source,
            source_id=f"{site.language}:{page.title}",
            url=url,
            names=names,
            aliases=[a for name in site.alias_fields for a in split_list(fields.get(name))],
            summaries={site.title_key: intro} if intro else {},
            voice_actor_ids=list(
                dict.fromkeys(v for name in site.voice_actor_fields for v in wikitext.template_links(box, name))
            ),
            ids={site.source if site.source != "wikipedia" else f"wiki:{site.language}": page.title},
        )
