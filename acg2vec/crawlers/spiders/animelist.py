"""MyAnimeList anime, characters and voice actors: through the Jikan v4 API (default) or MAL's own HTML pages.

Jikan walk: ``/anime?page=N`` (or ``/anime/{id}/full`` for given ids) -> ``/anime/{id}/characters`` ->
``/characters/{id}/full`` -> ``/people/{id}/full``. Titles: Default (romaji), Japanese, English and the
synonyms. Jikan publishes its limits as 3 requests/s and 60/min; the spider keeps under both with a fixed
one-second delay and one request at a time (``custom_settings``).

HTML mode (``-a mode=html``, ``base_url`` the MyAnimeList root): ``/topanime.php`` pages (or ``/anime/{id}``
for given ids) parsed into the same Work item; characters are not followed in this mode.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from acg2vec.crawlers.items import Character, Item, ItemError, Person, Work
from acg2vec.crawlers.spiders.apibase import ApiSpider, json_callback

SOURCE = "animelist"
# Jikan's title types -> Work.titles keys; "Synonym" titles become aliases.
TITLE_TYPES = {
    "Default": "ja-Latn",
    "Japanese": "ja",
    "English": "en",
    "German": "de",
    "Spanish": "es",
    "French": "fr",
}
_ANIME_ID = re.compile(r"/anime/(\d+)")
_CHARACTER_ID = re.compile(r"/character/(\d+)")


def _mal_id(data: Any, what: str) -> int:
    value = data.get("mal_id") if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ItemError(f"bad-{what}", f"no mal_id: {value!r}")
    return value


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _names(entries: Any) -> list[str]:
    return [e["name"] for e in entries or [] if isinstance(e, dict) and isinstance(e.get("name"), str)]


def anime_titles(data: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Titles by language and aliases from a Jikan anime (``titles`` list, or the older flat fields)."""
    titles: dict[str, str] = {}
    aliases: list[str] = []
    for entry in data.get("titles") or []:
        if not isinstance(entry, dict) or not _text(entry.get("title")):
            continue
        title = entry["title"].strip()
        key = TITLE_TYPES.get(entry.get("type"))
        if key and key not in titles:
            titles[key] = title
        elif title not in aliases:
            aliases.append(title)
    for name, key in (("title", "ja-Latn"), ("title_japanese", "ja"), ("title_english", "en")):
        if _text(data.get(name)):
            titles.setdefault(key, data[name].strip())
    for synonym in data.get("title_synonyms") or []:
        if _text(synonym) and synonym.strip() not in aliases:
            aliases.append(synonym.strip())
    return titles, [a for a in aliases if a not in titles.values()]


def work_from_anime(data: Any, *, character_ids: list[int] | None = None) -> Work:
    """A Work from a Jikan anime object (``/anime`` list entry or ``/anime/{id}/full``)."""
    mal_id = _mal_id(data, "anime")
    titles, aliases = anime_titles(data)
    if not titles:
        raise ItemError("bad-anime", f"anime {mal_id} has no title")
    aired = (data.get("aired") or {}).get("from") if isinstance(data.get("aired"), dict) else None
    tags = []
    for group in ("genres", "explicit_genres", "themes", "demographics"):
        tags += [n for n in _names(data.get(group)) if n not in tags]
    synopsis = _text(data.get("synopsis"))
    return Work(
        source=SOURCE,
        source_id=str(mal_id),
        url=_text(data.get("url")),
        titles=titles,
        aliases=aliases,
        summaries={"en": synopsis} if synopsis else {},
        tags=tags,
        type=_text(data.get("type")).lower() if _text(data.get("type")) else None,
        episodes=data["episodes"] if isinstance(data.get("episodes"), int) and data["episodes"] > 0 else None,
        air_date=aired[:10] if isinstance(aired, str) and aired else None,
        ids={"mal": str(mal_id)},
        character_ids=[str(c) for c in dict.fromkeys(character_ids or [])],
    )


def character_from_jikan(data: Any, *, voice_languages: set[str] | None = None) -> Character:
    """A Character from ``/characters/{id}`` or ``/characters/{id}/full`` (with its anime and voices)."""
    mal_id = _mal_id(data, "character")
    names = {}
    if _text(data.get("name")):
        names["ja-Latn"] = data["name"].strip()
    if _text(data.get("name_kanji")):
        names["ja"] = data["name_kanji"].strip()
    if not names:
        raise ItemError("bad-character", f"character {mal_id} has no name")
    work_ids = [
        e["anime"]["mal_id"]
        for e in data.get("anime") or []
        if isinstance(e, dict) and isinstance(e.get("anime"), dict) and isinstance(e["anime"].get("mal_id"), int)
    ]
    actors = [
        v["person"]["mal_id"]
        for v in data.get("voices") or []
        if isinstance(v, dict)
        and isinstance(v.get("person"), dict)
        and isinstance(v["person"].get("mal_id"), int)
        and (voice_languages is None or v.get("language") in voice_languages)
    ]
    about = _text(data.get("about"))
    return Character(
        source=SOURCE,
        source_id=str(mal_id),
        url=_text(data.get("url")),
        names=names,
        aliases=[n.strip() for n in data.get("nicknames") or [] if _text(n)],
        summaries={"en": about} if about else {},
        work_ids=[str(w) for w in dict.fromkeys(work_ids)],
        voice_actor_ids=[str(p) for p in dict.fromkeys(actors)],
        ids={"mal": str(mal_id)},
    )


def person_from_jikan(data: Any) -> Person:
    """A Person from ``/people/{id}`` or ``/people/{id}/full`` (with the characters they voiced)."""
    mal_id = _mal_id(data, "person")
    names = {}
    if _text(data.get("name")):
        names["ja-Latn"] = data["name"].strip()
    family, given = _text(data.get("family_name")), _text(data.get("given_name"))
    if family and given and not family.isascii():
        names["ja"] = family + given  # Japanese names: family name first, no space
    if not names:
        raise ItemError("bad-person", f"person {mal_id} has no name")
    voices = [v for v in data.get("voices") or [] if isinstance(v, dict)]
    character_ids = [
        v["character"]["mal_id"]
        for v in voices
        if isinstance(v.get("character"), dict) and isinstance(v["character"].get("mal_id"), int)
    ]
    about = _text(data.get("about"))
    return Person(
        source=SOURCE,
        source_id=str(mal_id),
        url=_text(data.get("url")),
        names=names,
        aliases=[n.strip() for n in data.get("alternate_names") or [] if _text(n)],
        summaries={"en": about} if about else {},
        roles=["voice actor"] if voices else [],
        character_ids=[str(c) for c in dict.fromkeys(character_ids)],
        ids={"mal": str(mal_id)},
    )


# MAL's language labels in "Alternative Titles" -> Work.titles keys; "Synonyms" become aliases, and a label
# not listed here keeps its title as an alias rather than inventing a language key.
MAL_TITLE_LABELS = {
    "English": "en",
    "Japanese": "ja",
    "German": "de",
    "Spanish": "es",
    "French": "fr",
    "Italian": "it",
    "Portuguese": "pt",
    "Korean": "ko",
    "Chinese": "zh",
}
_TAG_LABELS = (
    "Genres",
    "Genre",
    "Explicit Genres",
    "Explicit Genre",
    "Themes",
    "Theme",
    "Demographics",
    "Demographic",
)
_SPACE_RUN = re.compile(r"\s+")


def _squash(text: str) -> str:
    return _SPACE_RUN.sub(" ", text).strip()


@dataclass(slots=True)
class MalPage:
    """What one MyAnimeList anime page says, label by label, before it becomes a Work.

    ``alt_titles`` are the "Alternative Titles" lines in page order as (label, text); ``fields`` the
    Information rows as their own text; ``links`` the link texts of each row (genres, type).
    """

    layout: str
    alt_titles: list[tuple[str, str]] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    links: dict[str, list[str]] = field(default_factory=dict)


def _row_text(node: Any) -> str:
    return _squash(" ".join(node.xpath(".//text()").getall()))


def _read_table_list(response: Response) -> MalPage | None:
    """Today's layout: ``table.table-list`` rows of ``td.list-title`` + value cell; alternative titles as
    ``<span>Language</span><br>title<br>`` lines inside one cell."""
    rows = response.xpath("//table[contains(@class, 'table-list')]//tr[td[contains(@class, 'list-title')]]")
    if not rows:
        return None
    page = MalPage(layout="table-list")
    for row in rows:
        label = _squash(" ".join(row.xpath("./td[contains(@class, 'list-title')][1]//text()").getall()))
        cell = row.xpath("./td[contains(@class, 'list-title')][1]/following-sibling::td[1]")
        if not label or not cell:
            continue
        if label == "Alternative Titles":
            for span in cell.xpath(".//span[not(@itemprop)]"):
                name = _squash(" ".join(span.xpath(".//text()").getall()))
                text = next((_squash(t) for t in span.xpath("./following-sibling::text()").getall() if t.strip()), "")
                if name and text:
                    page.alt_titles.append((name, text))
            continue
        page.fields[label] = _row_text(cell)
        page.links[label] = [_squash(t) for t in cell.xpath(".//a//text()").getall() if t.strip()]
    return page


def _read_dark_text(response: Response) -> MalPage | None:
    """The desktop layout: ``div.spaceit_pad`` blocks, each ``<span class="dark_text">Label:</span> value``
    (the alternative titles in other languages sit in a hidden block of the same shape)."""
    blocks = response.xpath(
        "//div[contains(@class, 'spaceit_pad') or contains(@class, 'spaceit')][span[contains(@class, 'dark_text')]]"
    )
    if not blocks:
        return None
    page = MalPage(layout="dark-text")
    for block in blocks:
        label = _squash(" ".join(block.xpath("./span[contains(@class, 'dark_text')][1]//text()").getall())).rstrip(":")
        if not label:
            continue
        own = _squash(
            " ".join(
                block.xpath("./text() | ./span[not(contains(@class, 'dark_text'))][not(@itemprop)]//text()").getall()
            )
        )
        links = [_squash(t) for t in block.xpath(".//a//text()").getall() if t.strip()]
        if label == "Synonyms" or label in MAL_TITLE_LABELS:
            if own:
                page.alt_titles.append((label, own))
            continue
        page.fields.setdefault(label, own or " ".join(links))
        page.links.setdefault(label, links)
    return page


def split_synonyms(text: str, separator: str, *, other_titles: list[str]) -> list[str]:
    """MAL's synonym line split on its separator ("; " today, ", " on the desktop layout).

    A title that itself contains the separator ("Kono Naka ni Hitori, Imouto ga Iru! OVA", "…Camelot
    Wandering; Agateram") is put back together when the words either side of a separator stand together
    in another title on the page; a separator without the following space ("CHAOS;CHILD") never splits.
    """
    pieces = [p.strip() for p in text.split(separator)]
    pieces = [p for p in pieces if p]
    out: list[str] = []
    for piece in pieces:
        if out:
            tail = out[-1].split()[-1] if out[-1].split() else out[-1]
            head = piece.split()[0] if piece.split() else piece
            seam = f"{tail}{separator}{head}"
            if any(seam in title for title in other_titles):
                out[-1] = f"{out[-1]}{separator}{piece}"
                continue
        out.append(piece)
    return out


def _episodes(text: str | None) -> int | None:
    match = re.search(r"\d+", text or "")
    return int(match.group()) if match else None


def work_from_mal_html(response: Response) -> Work:
    """A Work from a MyAnimeList anime page (``/anime/{id}/...``), in either of MAL's two layouts.

    Raises :class:`ItemError` ``bad-anime-page`` (no id or no title: an error page) or ``layout-unknown``
    (a title but neither layout's information rows: never written half-empty).
    """
    match = _ANIME_ID.search(response.url)
    if not match:
        raise ItemError("bad-anime-page", "no anime id in the URL")
    mal_id = int(match.group(1))
    title = _squash(" ".join(response.css("h1.title-name ::text, h1 span[itemprop=name] ::text").getall()))
    if not title:
        raise ItemError("bad-anime-page", f"anime {mal_id}: no title on the page")
    page = _read_table_list(response) or _read_dark_text(response)
    if page is None:
        raise ItemError("layout-unknown", f"anime {mal_id}: neither table.table-list rows nor span.dark_text blocks")
    titles = {"ja-Latn": title}
    candidates: list[str] = []
    separator = "; " if page.layout == "table-list" else ", "
    others = [title] + [text for label, text in page.alt_titles if label != "Synonyms"]
    for label, text in page.alt_titles:
        if label == "Synonyms":
            candidates += split_synonyms(text, separator, other_titles=others)
            continue
        key = MAL_TITLE_LABELS.get(label)
        if key and key not in titles:
            titles[key] = text
        else:
            candidates.append(text)
    # The English title also shows under the main title (p.title-english) on both layouts.
    english = _squash(" ".join(response.css("p.title-english ::text").getall()))
    if english and "en" not in titles:
        titles["en"] = english
    seen = {t.casefold() for t in titles.values()}
    aliases = []
    for alias in candidates:
        if alias.casefold() not in seen:
            seen.add(alias.casefold())
            aliases.append(alias)
    tags: list[str] = []
    for label in _TAG_LABELS:
        tags += [t for t in page.links.get(label, []) if t not in tags]
    kind = _squash(" ".join(page.links.get("Type") or [page.fields.get("Type", "")])).lower()
    synopsis = "\n".join(t.strip() for t in response.css("p[itemprop=description] ::text").getall() if t.strip())
    character_ids = [
        int(m.group(1)) for href in response.css("a::attr(href)").getall() if (m := _CHARACTER_ID.search(href))
    ]
    return Work(
        source=SOURCE,
        source_id=str(mal_id),
        url=response.url,
        titles=titles,
        aliases=aliases,
        summaries={"en": synopsis} if synopsis else {},
        tags=tags,
        type=kind if kind and kind != "unknown" else None,
        episodes=_episodes(page.fields.get("Episodes")),
        air_date=_mal_date(page.fields.get("Aired", "")),
        ids={"mal": str(mal_id)},
        character_ids=[str(c) for c in dict.fromkeys(character_ids)],
    )


_MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}


def _mal_date(aired: str) -> str | None:
    """``Oct 23, 2005 to Jun 19, 2006`` -> ``2005-10-23`` (a bare year or month is kept as far as known)."""
    first = aired.split(" to ")[0].strip()
    match = re.match(r"^(?:([A-Z][a-z]{2})\s+)?(?:(\d{1,2}),\s+)?(\d{4})$", first)
    if not match:
        return None
    month, day, year = match.groups()
    if month and day:
        return f"{year}-{_MONTHS.get(month, 1):02d}-{int(day):02d}"
    if month:
        return f"{year}-{_MONTHS.get(month, 1):02d}"
    return year


class AnimeListSpider(ApiSpider):
    """MyAnimeList through Jikan v4 (``mode=jikan``, default) or MAL's HTML pages (``mode=html``).

    Arguments: ``base_url``, ``mode``, ``ids`` (comma-separated anime ids instead of browsing), ``limit``
    (anime at most), ``characters`` ("0": anime only), ``voice_languages`` (default Japanese; "" for all).
    """

    name = "animelist"
    default_base_url = "https://api.jikan.moe/v4"
    # Jikan: 3 requests/s and 60/min. One request at a time, one second apart, keeps under both.
    custom_settings = {
        "DOWNLOAD_DELAY": 1.0,
        "DOWNLOAD_DELAY_JITTER": 0,  # no random shortening of the delay
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "AUTOTHROTTLE_START_DELAY": 1.0,
    }

    def __init__(
        self,
        *args: Any,
        mode: str = "jikan",
        ids: str | list[int] | None = None,
        characters: str | bool = True,
        voice_languages: str = "Japanese",
        **kwargs: Any,
    ) -> None:
        if mode not in ("jikan", "html"):
            raise ValueError(f"animelist: mode must be jikan or html, not {mode!r}")
        if mode == "html" and not kwargs.get("base_url"):
            kwargs["base_url"] = "https://myanimelist.net"
        super().__init__(*args, **kwargs)
        self.mode = mode
        if isinstance(ids, str):
            ids = [int(i) for i in ids.replace(" ", "").split(",") if i]
        self.ids = list(ids or [])
        self.with_characters = str(characters).lower() not in ("0", "false", "no")
        self.voice_languages = {v.strip() for v in voice_languages.split(",") if v.strip()} or None

    async def start(self) -> AsyncIterator[scrapy.Request]:
        ids = self.ids[: self.limit] if self.limit else self.ids
        if self.mode == "html":
            for mal_id in ids:
                yield self.request(self.join(f"/anime/{mal_id}"), self.parse_anime_page)
            if not ids:
                yield self.request(self.join("/topanime.php"), self.parse_top_page)
            return
        for mal_id in ids:
            yield self.request(self.join(f"/anime/{mal_id}/full"), self.parse_anime_full)
        if not ids:
            yield self.request(self.join("/anime?page=1"), self.parse_anime_list, page=1)

    # -- Jikan ------------------------------------------------------------------------------------------

    @json_callback
    def parse_anime_list(self, response: Response, data: Any, page: int) -> Iterator[scrapy.Request | Item]:
        if data is None:
            return
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            self.drop("bad-anime-list", url=response.url, record=data)
            return
        for anime in entries:
            if self.limit_reached(self.tally("anime")):
                return
            self.add_tally("anime")
            yield from self.follow_anime(anime, url=response.url)
        pagination = data.get("pagination") or {}
        if entries and pagination.get("has_next_page") and not self.limit_reached(self.tally("anime")):
            yield self.request(self.join(f"/anime?page={page + 1}"), self.parse_anime_list, page=page + 1)

    @json_callback
    def parse_anime_full(self, response: Response, data: Any) -> Iterator[scrapy.Request | Item]:
        if data is None:
            return
        yield from self.follow_anime(data.get("data") if isinstance(data, dict) else data, url=response.url)

    def follow_anime(self, anime: Any, *, url: str) -> Iterator[scrapy.Request | Item]:
        try:
            work = work_from_anime(anime)
        except ItemError as err:
            self.drop(err.reason, url=url, detail=err.detail, record=anime)
            return
        if not self.with_characters:
            yield work
            return
        yield self.request(
            self.join(f"/anime/{work.source_id}/characters"),
            self.parse_anime_characters,
            work=work,
            errback=self.on_anime_characters_error,
        )

    @json_callback
    def parse_anime_characters(self, response: Response, data: Any, work: Work) -> Iterator[scrapy.Request | Item]:
        entries = data.get("data") if isinstance(data, dict) else None
        if data is not None and not isinstance(entries, list):
            self.drop("bad-character-list", url=response.url, record=data)
        character_ids = [
            e["character"]["mal_id"]
            for e in entries or []
            if isinstance(e, dict)
            and isinstance(e.get("character"), dict)
            and isinstance(e["character"].get("mal_id"), int)
        ]
        work.character_ids = [str(c) for c in dict.fromkeys(character_ids)]
        yield work
        for character_id in dict.fromkeys(character_ids):
            yield self.request(self.join(f"/characters/{character_id}/full"), self.parse_character)

    def on_anime_characters_error(self, failure: Failure) -> Iterator[Item]:
        self.on_error(failure)
        yield failure.request.cb_kwargs["work"]

    @json_callback
    def parse_character(self, response: Response, data: Any) -> Iterator[scrapy.Request | Item]:
        if data is None:
            return
        body = data.get("data") if isinstance(data, dict) else None
        try:
            character = character_from_jikan(body, voice_languages=self.voice_languages)
        except ItemError as err:
            self.drop(err.reason, url=response.url, detail=err.detail, record=data)
            return
        yield character
        for person_id in character.voice_actor_ids:
            yield self.request(self.join(f"/people/{person_id}/full"), self.parse_person)

    @json_callback
    def parse_person(self, response: Response, data: Any) -> Iterator[Item]:
        if data is None:
            return
        try:
            yield person_from_jikan(data.get("data") if isinstance(data, dict) else None)
        except ItemError as err:
            self.drop(err.reason, url=response.url, detail=err.detail, record=data)

    # -- MyAnimeList HTML --------------------------------------------------------------------------------

    def parse_top_page(self, response: Response) -> Iterator[scrapy.Request]:
        links = response.css(
            "h3.anime_ranking_h3 a::attr(href), tr.ranking-list a.hoverinfo_trigger::attr(href)"
        ).getall()
        if not links:
            self.drop("no-anime-links", url=response.url, record=response.text[:500])
            return
        for href in dict.fromkeys(links):
            if self.limit_reached(self.tally("anime")):
                return
            self.add_tally("anime")
            yield self.request(response.urljoin(href), self.parse_anime_page)
        next_href = response.css("a.next::attr(href)").get()
        if next_href and not self.limit_reached(self.tally("anime")):
            yield self.request(response.urljoin(next_href), self.parse_top_page)

    def parse_anime_page(self, response: Response) -> Iterator[scrapy.Request | Item]:
        if not hasattr(response, "css"):
            self.drop("not-html", url=response.url)
            return
        try:
            work = work_from_mal_html(response)
        except ItemError as err:
            if err.reason == "layout-unknown":
                # The page is there but MAL changed its markup again: a retry would read the same page.
                self.drop(err.reason, url=response.url, detail=err.detail, record=response.text[:2000])
                return
            # A page without its title is most often a maintenance or error page served with status 200.
            retry = self.retry_page(response, err.reason, detail=err.detail, record=response.text[:500])
            if retry is not None:
                yield retry
            return
        yield work
