"""Raw crawl items -> candidate records of the linker: one flat row per work, character and person a site lists.

A candidate carries what the comparisons need, already in comparable form: keys of its titles and names after
the script normalisation (:func:`acg2vec.datasets.normalize.normalize_text`, with one page-title qualifier and
the punctuation dropped), a folded romaji key (long vowels once, words sorted: ``Sanada, Shota`` = ``Shouta
Sanada``), the year (air date, a year category of a wiki page, or a page title's qualifier), the medium, the
episode count, and the certain links the record names (a wiki page's language links, a Bangumi / MyAnimeList id).

Bad input is refused here with a named reason: a record with no title or name at all (``no-title``), one whose
own id field names another record of its own site (``id-contradicts-source``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from acg2vec.crawlers.items import Character, Item, Person, TagTranslation, Work
from acg2vec.datasets.normalize import normalize_text, qualifier, strip_qualifier

# A site's id field of the same entity -> the source whose records carry that id as their source_id.
ID_SOURCES = {"bangumi": "bangumi", "mal": "animelist"}
WIKI_SOURCES = ("wikipedia", "moegirl")
ZH_KEYS = ("zh-Hans", "zh", "zh-Hant", "zh-CN", "zh-TW")
ROMAJI_KEYS = ("ja-Latn", "romaji")
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)(?!\d)")
# Season markers a site appends to a work it lists per season ("第2期", "2nd Season", "第二季", "Season 2").
_SEASON = re.compile(
    r"\s*(第\s*[0-9一二三四五六七八九十]+\s*(期|季|シーズン|シリーズ)|[0-9]+(st|nd|rd|th)\s+season|season\s*[0-9]+)\s*$",
    re.IGNORECASE,
)
MEDIA = {  # a site's type -> the medium compared
    "anime": "anime", "tv": "anime", "movie": "anime", "ova": "anime", "ona": "anime", "special": "anime",
    "music": "anime", "book": "book", "manga": "book", "novel": "book", "light novel": "book", "game": "game",
}  # fmt: skip


class CandidateError(ValueError):
    """A record the linker refuses; ``reason`` is the dead-letter reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Candidate:
    """One site's record of a work, character or person, in comparable form (the linker's input row)."""

    unique_id: str  # "<kind>:<source>:<source_id>" (:func:`record_id`)
    kind: str
    source: str
    source_id: str
    titles: dict[str, str]  # language -> the site's own spelling (canonical-title candidates)
    aliases: list[str]
    keys: list[str]  # every title / alias / name, as match keys
    ja_key: str | None = None
    zh_key: str | None = None
    en_key: str | None = None
    romaji_key: str | None = None
    base_key: str | None = None  # the Japanese (else Chinese) key without a season marker
    season: int = 1
    year: int | None = None
    medium: str | None = None
    episodes: int | None = None
    links: list[str] = field(default_factory=list)  # unique ids of records this one names for certain
    work_ids: list[str] = field(default_factory=list)  # characters: unique ids of their works (same source)
    voice_actor_ids: list[str] = field(default_factory=list)  # characters: unique ids of their voice actors
    link_notes: list[str] = field(default_factory=list)  # "wiki:ja=...", "mal=12": the id links as given


def record_id(kind: str, source: str, source_id: str) -> str:
    """The unique id of a record: ``<kind>:<source>:<source_id>`` (sites number works and characters apart)."""
    return f"{kind}:{source}:{source_id}"


def match_key(text: str | None) -> str | None:
    """The match key of a title or name: script-normalised, qualifier and punctuation dropped (None if empty)."""
    if not text or not text.strip():
        return None
    key = _PUNCT.sub("", normalize_text(strip_qualifier(normalize_text(text))))
    return key or None


def romaji_key(text: str | None) -> str | None:
    """Romaji folded for transliteration differences: lower case, long vowels once, words sorted."""
    if not text or not text.strip():
        return None
    words = re.findall(r"[a-z0-9]+", normalize_text(strip_qualifier(text), han=False))
    folded = [re.sub(r"([aeiou])\1+|ou", lambda m: m.group(1) or "o", w) for w in words]
    return " ".join(sorted(folded)) or None


def season_of(title: str) -> tuple[str, int]:
    """``X 第2期`` -> (``X``, 2); a title without a season marker is season 1."""
    found = _SEASON.search(title)
    if not found:
        return title, 1
    digits = re.findall(r"[0-9]+", found.group(0))
    numerals = "一二三四五六七八九十"
    number = int(digits[0]) if digits else next((numerals.index(c) + 1 for c in found.group(0) if c in numerals), 2)
    return title[: found.start()].strip() or title, number


def year_of(*texts: str | None) -> int | None:
    """The first plausible year in ``texts`` (an air date, a year category, a page-title qualifier)."""
    for text in texts:
        found = _YEAR.search(text or "")
        if found:
            return int(found.group(1))
    return None


def _zh(values: dict[str, str]) -> str | None:
    return next((values[k] for k in ZH_KEYS if values.get(k)), None)


def _romaji(values: dict[str, str]) -> str | None:
    return next((values[k] for k in ROMAJI_KEYS if values.get(k)), None)


def _clean(values: dict[str, Any]) -> dict[str, str]:
    return {k: v.strip() for k, v in values.items() if isinstance(v, str) and v.strip()}


def _fill_keys(candidate: Candidate, names: dict[str, str], aliases: list[str]) -> None:
    ja, zh, en, romaji = names.get("ja"), _zh(names), names.get("en"), _romaji(names)
    candidate.ja_key, candidate.zh_key, candidate.en_key = match_key(ja), match_key(zh), match_key(en)
    candidate.romaji_key = romaji_key(romaji) or (romaji_key(en) if en and en.isascii() else None)
    keys = [match_key(text) for text in (*names.values(), *aliases)]
    candidate.keys = list(dict.fromkeys(k for k in keys if k))


def _canonical(names: dict[str, str]) -> dict[str, str]:
    out = {}
    for lang, value in names.items():
        if lang == "ja" or lang in ("en",):
            out[lang] = value
        elif lang in ("zh-Hans", "zh", "zh-CN"):
            out.setdefault("zh-Hans", value)
        elif lang in ("zh-Hant", "zh-TW"):
            out["zh-Hant"] = value
        elif lang in ROMAJI_KEYS:
            out["romaji"] = value
    return out


def from_work(work: Work) -> Candidate:
    titles = _clean(work.titles)
    aliases = [a.strip() for a in work.aliases if isinstance(a, str) and a.strip()]
    if not titles and not aliases:
        raise CandidateError("no-title", f"{work.source}:{work.source_id}")
    unique_id = record_id("work", work.source, work.source_id)
    candidate = Candidate(unique_id, "work", work.source, work.source_id, _canonical(titles), aliases, [])
    page_title = work.source_id.split(":", 1)[1] if work.source in WIKI_SOURCES and ":" in work.source_id else ""
    if page_title and not titles:
        titles = {"und": page_title}
    # A site that lists a season as its own work ("X 第2期", "X 2nd Season") is still about the series X: every
    # title is compared without its season marker (the season number is kept apart, for the site-slot rule).
    main = titles.get("ja") or _zh(titles) or next(iter(titles.values()), aliases[0] if aliases else "")
    base, candidate.season = season_of(strip_qualifier(normalize_text(main)))
    series = {lang: season_of(strip_qualifier(normalize_text(t)))[0] for lang, t in titles.items()}
    _fill_keys(candidate, series, aliases)
    candidate.base_key = match_key(base)
    tag_years = [t for t in work.tags if isinstance(t, str) and ("年" in t or "anime" in t.lower())]
    candidate.year = year_of(work.air_date, qualifier(page_title) if page_title else None, *tag_years)
    candidate.medium = MEDIA.get((work.type or "").strip().lower())
    candidate.episodes = work.episodes if work.episodes else None
    _add_links(candidate, work.ids, work.source, work.source_id)
    return candidate


def _add_links(candidate: Candidate, ids: dict[str, str], source: str, source_id: str) -> None:
    own_lang = source_id.split(":", 1)[0] if source in WIKI_SOURCES and ":" in source_id else ""
    for site, value in sorted(ids.items()):
        value = str(value).strip()
        if not value:
            continue
        if site.startswith("wiki:"):
            lang = site.split(":", 1)[1]
            if source == "wikipedia" and lang == own_lang:
                if value != source_id.split(":", 1)[1]:
                    raise CandidateError("id-contradicts-source", f"{source}:{source_id} names itself {site}={value}")
                continue
            candidate.links.append(record_id(candidate.kind, "wikipedia", f"{lang}:{value}"))
        elif site in ID_SOURCES:
            target = ID_SOURCES[site]
            if target == source:
                if value != source_id:
                    raise CandidateError("id-contradicts-source", f"{source}:{source_id} names itself {site}={value}")
                continue
            candidate.links.append(record_id(candidate.kind, target, value))
        else:
            continue
        candidate.link_notes.append(f"{site}={value}")


def _person_like(item: Character | Person, kind: str) -> Candidate:
    names = _clean(item.names)
    aliases = [a.strip() for a in item.aliases if isinstance(a, str) and a.strip()]
    if not names:
        raise CandidateError("no-title", f"{item.source}:{item.source_id} has no name")
    unique_id = record_id(kind, item.source, item.source_id)
    candidate = Candidate(unique_id, kind, item.source, item.source_id, _canonical(names), aliases, [])
    _fill_keys(candidate, names, aliases)
    if candidate.ja_key is None and names.get("ja-Kana"):
        candidate.ja_key = match_key(names["ja-Kana"])
    _add_links(candidate, item.ids, item.source, item.source_id)
    return candidate


def from_character(character: Character) -> Candidate:
    candidate = _person_like(character, "character")
    candidate.work_ids = [record_id("work", character.source, w) for w in dict.fromkeys(character.work_ids)]
    candidate.voice_actor_ids = [
        record_id("person", character.source, p) for p in dict.fromkeys(character.voice_actor_ids)
    ]
    return candidate


def from_item(item: Item) -> Candidate | None:
    """The candidate of a work, character or person item; None for other kinds (pixiv tag translations are
    matched to entities afterwards, :mod:`acg2vec.datasets.acg_entities.tags`). Raises :class:`CandidateError`."""
    if isinstance(item, Work):
        return from_work(item)
    if isinstance(item, Character):
        return from_character(item)
    if isinstance(item, Person):
        return _person_like(item, "person")
    return None


def is_tag_translation(item: Item) -> bool:
    return isinstance(item, TagTranslation)
