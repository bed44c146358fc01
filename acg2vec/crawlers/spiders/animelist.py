"""MyAnimeList anime, characters and voice actors: through the Jikan v4 API (default) or MAL's own HTML pages.

Jikan walk: ``/anime?page=N`` (or ``/anime/{id}/full`` for given ids) -> ``/anime/{id}/characters`` ->
``/characters/{id}/full`` -> ``/people/{id}/full``, each answer read by :mod:`acg2vec.crawlers.parsers.jikan`.
Jikan publishes its limits as 3 requests/s and 60/min; the spider keeps under both with a fixed one-second delay
and one request at a time (``custom_settings``).

HTML mode (``mode="html"``, ``base_url`` the MyAnimeList root): ``/topanime.php`` pages (or ``/anime/{id}``
for given ids) read by :mod:`acg2vec.crawlers.parsers.mal_html` into the same Work item; characters are not
followed in this mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from acg2vec.crawlers.items import Item, ItemError, Work
from acg2vec.crawlers.parsers.jikan import character_from_jikan, person_from_jikan, work_from_anime
from acg2vec.crawlers.parsers.mal_html import work_from_mal_html
from acg2vec.crawlers.spiders.apibase import ApiArgs, ApiSpider, json_callback

# The names callers and tests import from the spider module.
__all__ = ["AnimeListArgs", "AnimeListSpider", "character_from_jikan", "person_from_jikan", "work_from_anime"]

MAL_URL = "https://myanimelist.net"


@dataclass(frozen=True)
class AnimeListArgs(ApiArgs):
    """``limit`` counts anime."""

    mode: str = "jikan"  # jikan (the API) or html (MyAnimeList's own anime pages)
    ids: tuple[int, ...] = ()  # anime ids to crawl instead of browsing
    characters: bool = True  # also characters and voice actors (Jikan mode)
    voice_languages: tuple[str, ...] = ("Japanese",)  # voice actors of these languages; empty: every language

    def check(self) -> None:
        super().check()
        if self.mode not in ("jikan", "html"):
            raise ValueError(f"mode must be jikan or html, not {self.mode!r}")


class AnimeListSpider(ApiSpider):
    """MyAnimeList through Jikan v4 (``mode="jikan"``, default) or MAL's HTML pages (``mode="html"``).

    Its arguments are :class:`AnimeListArgs`.
    """

    name = "animelist"
    default_base_url = "https://api.jikan.moe/v4"
    Args: ClassVar[type[AnimeListArgs]] = AnimeListArgs
    args: AnimeListArgs
    # Jikan: 3 requests/s and 60/min. One request at a time, one second apart, keeps under both.
    custom_settings = {
        "DOWNLOAD_DELAY": 1.0,
        "DOWNLOAD_DELAY_JITTER": 0,  # no random shortening of the delay
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "AUTOTHROTTLE_START_DELAY": 1.0,
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.voice_languages = set(self.args.voice_languages) or None

    def site_url(self) -> str:
        return MAL_URL if self.args.mode == "html" else self.default_base_url

    async def start(self) -> AsyncIterator[scrapy.Request]:
        ids = self.args.ids[: self.limit]
        if self.args.mode == "html":
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
        if not self.args.characters:
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
