"""MyAnimeList as the sample site serves it: the Jikan v4 API under ``/jikan/v4`` and anime HTML pages under ``/mal``.

Jikan: ``/anime?page=`` (with Jikan's pagination object), ``/anime/{id}``, ``/anime/{id}/full``,
``/anime/{id}/characters``, ``/characters/{id}`` and ``/full``, ``/people/{id}`` and ``/full``. Errors are
Jikan's JSON (status, type, message, error). MyAnimeList pages: ``/mal/anime/{id}/{slug}`` in the layout of
the real site (title header, "Alternative Titles" and "Information" side bar, synopsis, characters table).
"""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from typing import Any

from acg2vec.sample_site.messages import Request, Response, json_response, text_response
from acg2vec.sample_site.names import STUDIOS
from acg2vec.sample_site.world import Character, Person, Work, World, mal_romaji

PER_PAGE = 25
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SEASONS = {1: "winter", 4: "spring", 7: "summer", 10: "fall"}
MAL = "https://myanimelist.net"  # URLs inside answers point at the real site, as Jikan's do
GENRE_IDS = {"fantasy": 10, "science fiction": 24, "school": 23, "slice-of-life": 36, "mecha": 18, "music": 19,
             "mystery": 7, "romance": 22, "adventure": 2}  # fmt: skip
GENRE_NAMES = {"fantasy": "Fantasy", "science fiction": "Sci-Fi", "school": "School", "slice-of-life": "Slice of Life",
               "mecha": "Mecha", "music": "Music", "mystery": "Mystery", "romance": "Romance",
               "adventure": "Adventure"}  # fmt: skip

_ROUTES = [
    (re.compile(r"^/anime$"), "anime_list"),
    (re.compile(r"^/anime/(\d+)$"), "anime"),
    (re.compile(r"^/anime/(\d+)/full$"), "anime_full"),
    (re.compile(r"^/anime/(\d+)/characters$"), "anime_characters"),
    (re.compile(r"^/characters/(\d+)$"), "character"),
    (re.compile(r"^/characters/(\d+)/full$"), "character_full"),
    (re.compile(r"^/people/(\d+)$"), "person"),
    (re.compile(r"^/people/(\d+)/full$"), "person_full"),
]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def _images(kind: str, mal_id: int, *, large: bool = True) -> dict[str, Any]:
    url = f"https://cdn.myanimelist.net/images/{kind}/{mal_id % 10}/{mal_id}"
    jpg = {"image_url": f"{url}.jpg"}
    webp = {"image_url": f"{url}.webp", "small_image_url": f"{url}t.webp"}
    if large:
        jpg.update({"small_image_url": f"{url}t.jpg", "large_image_url": f"{url}l.jpg"})
        webp["large_image_url"] = f"{url}l.webp"
    return {"jpg": jpg, "webp": webp}


def _mal_name(character: Character | Person) -> str:
    """MyAnimeList writes Japanese names family name first, comma separated, long vowels once: "Sanada, Shota"."""
    romaji = mal_romaji(character.names["ja-Latn"])
    if " " not in romaji:
        return romaji
    first, second = romaji.split(" ", 1)
    # Characters' ja-Latn is "Family Given"; persons' is "Given Family".
    family, given = (first, second) if isinstance(character, Character) else (second, first)
    return f"{family}, {given}"


def mal_type(work: Work) -> str:
    """MyAnimeList's type of a sample work: mostly TV, with some movies and OVAs, as on the real site."""
    return {3: "Movie", 5: "OVA"}.get(work.index % 7, "TV")


def _aired(work: Work) -> dict[str, Any]:
    start = work.air_date
    end = start + timedelta(weeks=max(work.episodes - 1, 0))

    def prop(day: date) -> dict[str, int]:
        return {"day": day.day, "month": day.month, "year": day.year}

    return {
        "from": f"{start.isoformat()}T00:00:00+00:00",
        "to": f"{end.isoformat()}T00:00:00+00:00",
        "prop": {"from": prop(start), "to": prop(end)},
        "string": f"{MONTHS[start.month - 1]} {start.day}, {start.year} to {MONTHS[end.month - 1]} {end.day}, {end.year}",
    }


def _no_trailer() -> dict[str, Any]:
    sizes = ("image_url", "small_image_url", "medium_image_url", "large_image_url", "maximum_image_url")
    return {"youtube_id": None, "url": None, "embed_url": None, "images": dict.fromkeys(sizes)}


def _studio(work: Work) -> dict[str, Any]:
    studio_id = 1000 + [s[1] for s in STUDIOS].index(work.studio[1])
    name = work.studio[1]
    return {
        "mal_id": studio_id,
        "type": "anime",
        "name": name,
        "url": f"{MAL}/anime/producer/{studio_id}/{_slug(name)}",
    }


def _genre(genre: str) -> dict[str, Any]:
    genre_id, name = GENRE_IDS[genre], GENRE_NAMES[genre]
    return {"mal_id": genre_id, "type": "anime", "name": name, "url": f"{MAL}/anime/genre/{genre_id}/{_slug(name)}"}


class JikanSite:
    """Answers ``/jikan/v4``."""

    def __init__(self, world: World) -> None:
        self.world = world
        # MyAnimeList's own entries: a work it splits into seasons is two entries (World.mal_entries).
        self.anime_works = sorted((w for w in world.mal_entries if w.kind == "anime"), key=lambda w: w.mal_id or 0)

    def handle(self, request: Request) -> Response:
        if request.path == "/robots.txt":
            return text_response("User-agent: *\nDisallow:\n")
        for pattern, name in _ROUTES:
            match = pattern.match(request.path)
            if match:
                return getattr(self, name)(request, *(int(g) for g in match.groups()))
        return self._error(404, "BadResponseException", "Resource does not exist")

    def _error(self, status: int, kind: str, message: str) -> Response:
        return json_response(
            {"status": status, "type": kind, "message": message, "error": None, "report_url": ""}, status=status
        )

    # ------------------------------------------------------------------------------------------ anime

    def anime_json(self, work: Work, *, full: bool = False) -> dict[str, Any]:
        t = {lang: work.title_on("mal", lang) for lang in work.titles}
        synonyms = [a for a in work.aliases if a.isascii()]
        titles = [{"type": "Default", "title": t["ja-Latn"]}]
        titles += [{"type": "Synonym", "title": s} for s in synonyms]
        titles += [{"type": "Japanese", "title": t["ja"]}]
        if t["en"]:
            titles.append({"type": "English", "title": t["en"]})
        data: dict[str, Any] = {
            "mal_id": work.mal_id,
            "url": f"{MAL}/anime/{work.mal_id}/{_slug(t['ja-Latn'])}",
            "images": _images("anime", work.mal_id or 0),
            "trailer": _no_trailer(),
            "approved": True,
            "titles": titles,
            "title": t["ja-Latn"],
            "title_english": t["en"],
            "title_japanese": t["ja"],
            "title_synonyms": synonyms,
            "type": mal_type(work),
            "source": work.origin[1],
            "episodes": work.episodes,
            "status": "Finished Airing",
            "airing": False,
            "aired": _aired(work),
            "duration": "24 min per ep",
            "rating": "PG-13 - Teens 13 or older",
            "score": work.score,
            "scored_by": work.members // 3,
            "rank": work.rank,
            "popularity": max(1, 10000 - work.members // 10),
            "members": work.members,
            "favorites": work.members // 50,
            "synopsis": work.summaries["en"] + "\n\n[Written by MAL Rewrite]",
            "background": None if work.index % 2 else f"{t['en'] or t['ja-Latn']} was produced by {work.studio[1]}.",
            "season": SEASONS.get(work.air_date.month),
            "year": work.air_date.year,
            "broadcast": {
                "day": "Sundays",
                "time": "23:00",
                "timezone": "Asia/Tokyo",
                "string": "Sundays at 23:00 (JST)",
            },
            "producers": [
                {"mal_id": 17, "type": "anime", "name": "Aniplex", "url": f"{MAL}/anime/producer/17/Aniplex"}
            ],
            "licensors": [],
            "studios": [_studio(work)],
            "genres": [_genre(g[2]) for g in work.genres],
            "explicit_genres": [],
            "themes": [],
            "demographics": [],
        }
        if full:
            data["relations"] = []
            data["theme"] = {
                "openings": [f'1: "{t["en"] or t["ja-Latn"]} Opening" by Sample Band (eps 1-{work.episodes})'],
                "endings": [],
            }
            data["external"] = [{"name": "Official Site", "url": f"https://{work.slug}.example.jp/"}]
            data["streaming"] = []
        return data

    def anime_list(self, request: Request) -> Response:
        page = request.int_arg("page", 1)
        limit = request.int_arg("limit", PER_PAGE)
        if page < 1:
            return self._error(400, "ValidationException", "The page must be at least 1.")
        if not 1 <= limit <= PER_PAGE:
            return self._error(400, "ValidationException", f"The limit must be between 1 and {PER_PAGE}.")
        works = self.anime_works
        query = (request.arg("q") or "").lower()
        if query:
            works = [w for w in works if query in " ".join(w.titles.values()).lower()]
        total = len(works)
        last = max(1, -(-total // limit))
        rows = works[(page - 1) * limit : page * limit]
        return json_response(
            {
                "pagination": {
                    "last_visible_page": last,
                    "has_next_page": page < last,
                    "current_page": page,
                    "items": {"count": len(rows), "total": total, "per_page": limit},
                },
                "data": [self.anime_json(w) for w in rows],
            }
        )

    def _work(self, mal_id: int) -> Work | None:
        return self.world.by_mal_anime.get(mal_id)

    def anime(self, request: Request, mal_id: int) -> Response:
        work = self._work(mal_id)
        return json_response({"data": self.anime_json(work)}) if work else self._not_found()

    def anime_full(self, request: Request, mal_id: int) -> Response:
        work = self._work(mal_id)
        return json_response({"data": self.anime_json(work, full=True)}) if work else self._not_found()

    def _not_found(self) -> Response:
        return self._error(404, "BadResponseException", "Resource does not exist")

    def anime_characters(self, request: Request, mal_id: int) -> Response:
        work = self._work(mal_id)
        if work is None:
            return self._not_found()
        rows = []
        for character in self.world.characters_of(work):
            actor = self.world.voice_actor_of(character)
            rows.append(
                {
                    "character": self._character_ref(character),
                    "role": "Main" if character.role == "主角" else "Supporting",
                    "favorites": character.index * 13 % 500,
                    "voice_actors": [{"person": self._person_ref(actor), "language": "Japanese"}],
                }
            )
        return json_response({"data": rows})

    # ------------------------------------------------------------------------------------------ characters and people

    def _character_ref(self, character: Character) -> dict[str, Any]:
        name = _mal_name(character)
        return {
            "mal_id": character.mal_id,
            "url": f"{MAL}/character/{character.mal_id}/{_slug(name)}",
            "images": {
                "jpg": {"image_url": f"https://cdn.myanimelist.net/images/characters/{character.mal_id}.jpg"},
                "webp": {
                    "image_url": f"https://cdn.myanimelist.net/images/characters/{character.mal_id}.webp",
                    "small_image_url": f"https://cdn.myanimelist.net/images/characters/{character.mal_id}t.webp",
                },
            },
            "name": name,
        }

    def _person_ref(self, person: Person) -> dict[str, Any]:
        name = _mal_name(person)
        return {
            "mal_id": person.mal_id,
            "url": f"{MAL}/people/{person.mal_id}/{_slug(name)}",
            "images": {"jpg": {"image_url": f"https://cdn.myanimelist.net/images/voiceactors/{person.mal_id}.jpg"}},
            "name": name,
        }

    def _anime_ref(self, work: Work) -> dict[str, Any]:
        return {
            "mal_id": work.mal_id,
            "url": f"{MAL}/anime/{work.mal_id}/{_slug(work.titles['ja-Latn'])}",
            "images": _images("anime", work.mal_id or 0, large=True),
            "title": work.titles["ja-Latn"],
        }

    def character_json(self, character: Character, *, full: bool = False) -> dict[str, Any]:
        data = self._character_ref(character)
        data.update(
            {
                "name_kanji": character.names["ja"],
                "nicknames": [a for a in character.aliases],
                "favorites": character.index * 13 % 500,
                "about": character.summaries["en"]
                + f"\n\n(Source: {self.world.work_of(character).titles['en']} official site)",
            }
        )
        if full:
            work = self.world.work_of(character)
            data["anime"] = (
                [{"role": "Main" if character.role == "主角" else "Supporting", "anime": self._anime_ref(work)}]
                if work.mal_id
                else []
            )
            data["manga"] = []
            data["voices"] = [
                {"person": self._person_ref(self.world.voice_actor_of(character)), "language": "Japanese"}
            ]
        return data

    def character(self, request: Request, mal_id: int) -> Response:
        character = self.world.by_mal_character.get(mal_id)
        return json_response({"data": self.character_json(character)}) if character else self._not_found()

    def character_full(self, request: Request, mal_id: int) -> Response:
        character = self.world.by_mal_character.get(mal_id)
        return json_response({"data": self.character_json(character, full=True)}) if character else self._not_found()

    def person_json(self, person: Person, *, full: bool = False) -> dict[str, Any]:
        data = self._person_ref(person)
        data.update(
            {
                "website_url": f"https://{_slug(person.names['ja-Latn']).lower()}.example.jp/",
                "given_name": person.given_name,
                "family_name": person.family_name,
                "alternate_names": [person.names["ja-Kana"]],
                "birthday": (
                    f"{person.birth_year}-{person.birth_mon:02d}-{person.birth_day:02d}T00:00:00+00:00"
                    if person.birth_year
                    else None
                ),
                "favorites": 100 + person.index * 37,
                "about": f"Birth place: Japan\n{person.summaries['en']}",
            }
        )
        if full:
            voices = []
            for index in person.character_indexes:
                character = self.world.characters[index]
                work = self.world.work_of(character)
                if work.mal_id is None:
                    continue
                voices.append(
                    {
                        "role": "Main" if character.role == "主角" else "Supporting",
                        "anime": self._anime_ref(work),
                        "character": self._character_ref(character),
                    }
                )
            data.update({"anime": [], "manga": [], "voices": voices})
        return data

    def person(self, request: Request, mal_id: int) -> Response:
        person = self.world.by_mal_person.get(mal_id)
        return json_response({"data": self.person_json(person)}) if person else self._not_found()

    def person_full(self, request: Request, mal_id: int) -> Response:
        person = self.world.by_mal_person.get(mal_id)
        return json_response({"data": self.person_json(person, full=True)}) if person else self._not_found()


class MalPages:
    """Answers ``/mal``: MyAnimeList's anime pages."""

    def __init__(self, world: World) -> None:
        self.world = world

    def handle(self, request: Request) -> Response:
        if request.path == "/robots.txt":
            return text_response("User-agent: *\nDisallow: /login.php\n")
        match = re.match(r"^/anime/(\d+)(?:/[^/]*)?$", request.path)
        work = self.world.by_mal_anime.get(int(match.group(1))) if match else None
        if work is None:
            return text_response(
                "<html><body><h1>404 Not Found</h1></body></html>", status=404, content_type="text/html"
            )
        return text_response(self.anime_page(work), content_type="text/html; charset=utf-8")

    def anime_page(self, work: Work) -> str:
        t = {k: html.escape(work.title_on("mal", k) or "") for k in work.titles}
        synonyms = ", ".join(html.escape(a) for a in work.aliases if a.isascii())
        aired = _aired(work)["string"]
        genres = "".join(
            f'<span itemprop="genre" style="display: none">{GENRE_NAMES[g[2]]}</span>'
            f'<a href="/anime/genre/{GENRE_IDS[g[2]]}/{_slug(GENRE_NAMES[g[2]])}" title="{GENRE_NAMES[g[2]]}">{GENRE_NAMES[g[2]]}</a>, '
            for g in work.genres
        ).rstrip(", ")
        rows = []
        for character in self.world.characters_of(work):
            actor = self.world.voice_actor_of(character)
            name, actor_name = _mal_name(character), _mal_name(actor)
            role = "Main" if character.role == "主角" else "Supporting"
            rows.append(
                '<table border="0" cellpadding="0" cellspacing="0" width="100%"><tr>'
                f'<td valign="top" class="borderClass"><h3 class="h3_characters_voice_actors">'
                f'<a href="{MAL}/character/{character.mal_id}/{_slug(name)}">{html.escape(name)}</a></h3>'
                f'<div class="spaceit_pad"><small>{role}</small></div></td>'
                f'<td class="va-t ar pl4 pr4"><a href="{MAL}/people/{actor.mal_id}/{_slug(actor_name)}">{html.escape(actor_name)}</a>'
                "<br><small>Japanese</small></td></tr></table>"
            )
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8"><title>{t["ja-Latn"]} ({t["en"]}) - MyAnimeList.net</title>
<meta property="og:title" content="{t["ja-Latn"]}"><link rel="canonical" href="{MAL}/anime/{work.mal_id}/{_slug(work.titles["ja-Latn"])}"></head>
<body class="page-common">
<div id="contentWrapper">
<div class="h1 edit-info"><div class="h1-title"><div itemprop="name">
<h1 class="title-name h1_bold_none"><strong>{t["ja-Latn"]}</strong></h1>
<p class="title-english title-inherit">{t["en"]}</p></div></div></div>
<div id="content"><table border="0" cellpadding="0" cellspacing="0" width="100%"><tr>
<td class="borderClass" width="225" style="border-width: 0 1px 0 0;" valign="top"><div class="leftside">
<h2>Alternative Titles</h2>
{f'<div class="spaceit_pad"><span class="dark_text">Synonyms:</span> {synonyms}</div>' if synonyms else ""}
<div class="spaceit_pad"><span class="dark_text">Japanese:</span> {t["ja"]}</div>
<div class="spaceit_pad"><span class="dark_text">English:</span> {t["en"]}</div>
<br />
<h2>Information</h2>
<div class="spaceit_pad"><span class="dark_text">Type:</span> <a href="{MAL}/topanime.php?type={mal_type(work).lower()}">{mal_type(work)}</a></div>
<div class="spaceit_pad"><span class="dark_text">Episodes:</span> {work.episodes}</div>
<div class="spaceit_pad"><span class="dark_text">Status:</span> Finished Airing</div>
<div class="spaceit_pad"><span class="dark_text">Aired:</span> {aired}</div>
<div class="spaceit_pad"><span class="dark_text">Studios:</span> <a href="/anime/producer/1000/{_slug(work.studio[1])}" title="{work.studio[1]}">{work.studio[1]}</a></div>
<div class="spaceit_pad"><span class="dark_text">Source:</span> {work.origin[1]}</div>
<div class="spaceit_pad"><span class="dark_text">Genres:</span> {genres}</div>
<div class="spaceit_pad"><span class="dark_text">Duration:</span> 24 min. per ep.</div>
<h2>Statistics</h2>
<div class="spaceit_po" itemprop="aggregateRating"><span class="dark_text">Score:</span> <span itemprop="ratingValue" class="score-{int(work.score)}">{work.score}</span></div>
<div class="spaceit_pad"><span class="dark_text">Ranked:</span> #{work.rank}</div>
<div class="spaceit_pad"><span class="dark_text">Members:</span> {work.members:,}</div>
</div></td>
<td valign="top" style="padding-left: 5px;"><div class="rightside js-scrollfix-bottom-rel">
<table border="0" cellspacing="0" cellpadding="0" width="100%"><tr><td valign="top">
<h2><div class="floatRightHeader"></div>Synopsis</h2>
<p itemprop="description">{html.escape(work.summaries["en"])}<br />
<br />
[Written by MAL Rewrite]</p>
<div class="border_solid"><h2>Characters &amp; Voice Actors</h2></div>
<div class="detail-characters-list clearfix"><div class="left-column fl-l divider">
{"".join(rows)}
</div></div>
</td></tr></table></div></td></tr></table></div></div>
</body></html>
"""
