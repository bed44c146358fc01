"""Jikan v4 JSON (MyAnimeList's data through the Jikan API) into acg2vec items: anime, characters, people.

Titles: Default (romaji), Japanese, English and the other languages Jikan names; the synonyms become aliases.
"""

from __future__ import annotations

from typing import Any

from acg2vec.crawlers.items import Character, ItemError, Person, Work

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
