"""Pair extraction: crawl items -> raw text pairs (before cleaning), and the joins some pair types need.

One function per item kind. Most pairs come from one item; two kinds need a join, done per join key:

- ``title_ja-character`` / ``title_zh-character``: a Work's title with the names of the Characters that list
  the work in ``work_ids`` (join key ``<source>:work:<id>``);
- ``summary-summary``: the intros of one Wikipedia article in different languages (join key = its entity).

Entity rules (the split is decided by ``entity_id``, so these decide what can leak across splits):

- Bangumi / MyAnimeList works: ``bangumi:<id>`` when the item knows its Bangumi id, else ``mal:<id>``, else
  ``<source>:<source_id>``. A character's pairs take the entity of the work they are joined with, so no work
  leaks across splits through its characters.
- Wikipedia pages (sections, works, characters): ``wikipedia:<lang>:<title>`` of the Japanese article when the
  page links one, else the English, else the page itself; so the ja / zh / en articles of one subject share
  an entity. moegirl pages: ``moegirl:<title>``.
- People: ``<source>:person:<id>``; pixiv tags: ``pixiv:tag:<tag>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from acg2vec.beam_pipelines import text_normalize as tn
from acg2vec.crawlers.items import Character, Item, Person, Section, TagTranslation, Work

# Every pair type, with the kind of text on each side (the kind picks the length bounds).
PAIR_TYPES: dict[str, tuple[str, str]] = {
    "title_ja-title_zh": ("title", "title"),
    "title_ja-title_en": ("title", "title"),
    "title_ja-summary": ("title", "text"),
    "title_zh-summary": ("title", "text"),
    "title_en-summary": ("title", "text"),
    "title_zh-tags": ("title", "tags"),
    "title_ja-character": ("title", "name"),
    "title_zh-character": ("title", "name"),
    "va_name_ja-va_name_zh": ("name", "name"),
    "tag_ja-tag_zh": ("name", "name"),
    "heading-section": ("title", "text"),
    "title_heading-section": ("title", "text"),
    "summary-summary": ("text", "text"),
}
# Pair types whose positive is a summary: the ones near-duplicate removal looks at.
SUMMARY_TYPES = frozenset(t for t in PAIR_TYPES if t.endswith("-summary") or t == "summary-summary")
# Sources whose Work.tags are descriptive tags (Wikipedia / moegirl fill them with categories).
TAG_SOURCES = frozenset({"bangumi"})
WIKI_SOURCES = frozenset({"wikipedia", "moegirl"})
ZH_KEYS = ("zh-Hans", "zh", "zh-Hant", "zh-CN", "zh_CN", "zh-TW", "zh_tw")


@dataclass(slots=True)
class RawPair:
    """A pair before cleaning; ``*_decl`` is the item's language key for that side (None when unknown)."""

    anchor: str
    positive: str
    pair_type: str
    source: str
    entity_id: str
    anchor_decl: str | None = None
    positive_decl: str | None = None


@dataclass(slots=True)
class JoinPart:
    """One side of a join: ``role`` is ``work`` (titles), ``character`` (names) or ``intro`` (lang -> text)."""

    key: str
    role: str
    source: str
    entity_id: str
    values: dict[str, str] = field(default_factory=dict)
    record_id: str = ""


@dataclass(slots=True)
class Extracted:
    """What one item gives: pairs, join parts, or the reason it gives nothing on purpose."""

    pairs: list[RawPair] = field(default_factory=list)
    joins: list[JoinPart] = field(default_factory=list)
    dropped: str | None = None


def _zh(values: dict[str, str]) -> tuple[str | None, str | None]:
    for key in ZH_KEYS:
        if values.get(key):
            return values[key], key
    return None, None


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def work_entity(source: str, source_id: str, ids: dict[str, str]) -> str:
    if ids.get("bangumi"):
        return f"bangumi:{ids['bangumi']}"
    if ids.get("mal"):
        return f"mal:{ids['mal']}"
    return f"{source}:{source_id}"


def wiki_entity(source: str, language: str, title: str, langlinks: dict[str, str]) -> str:
    """The shared entity of one subject's articles across language editions (see the module doc)."""
    if source != "wikipedia":
        return f"{source}:{title}"
    lang = tn.declared_lang(language) or language
    links = {tn.declared_lang(k) or k: v for k, v in langlinks.items()}
    links[lang] = title
    for preferred in ("ja", "en"):
        if links.get(preferred):
            return f"wikipedia:{preferred}:{links[preferred]}"
    return f"wikipedia:{lang}:{title}"


def _wiki_title(title: str) -> str:
    # Page titles carry a qualifier for disambiguation ("Title (anime)"); the title pair uses the bare name.
    if title.endswith(")") and " (" in title:
        return title[: title.rindex(" (")]
    return title


def from_work(work: Work) -> Extracted:
    out = Extracted()
    titles = {k: _text(v) for k, v in work.titles.items() if _text(v)}
    if work.source in WIKI_SOURCES:
        own = next(iter(titles.values()), work.source_id)
        lang = work.source_id.split(":", 1)[0] if ":" in work.source_id else "zh"
        entity = wiki_entity(
            work.source, lang, own, {k.split(":", 1)[1]: v for k, v in work.ids.items() if k.startswith("wiki:")}
        )
    else:
        entity = work_entity(work.source, work.source_id, work.ids)
    ja = titles.get("ja")
    zh, zh_key = _zh(titles)
    en = titles.get("en")
    src = work.source

    def add(anchor: str, positive: str, pair_type: str, adecl: str | None, pdecl: str | None) -> None:
        out.pairs.append(RawPair(anchor, positive, pair_type, src, entity, adecl, pdecl))

    if ja and zh:
        add(ja, zh, "title_ja-title_zh", "ja", zh_key)
    if ja and en:
        add(ja, en, "title_ja-title_en", "ja", "en")
    for sum_key, summary in sorted(work.summaries.items()):
        summary = _text(summary)
        if not summary:
            continue
        for title, key, pair_type in (
            (ja, "ja", "title_ja-summary"),
            (zh, zh_key, "title_zh-summary"),
            (en, "en", "title_en-summary"),
        ):
            if title:
                add(title, summary, pair_type, key, sum_key)
    tags = [t.strip() for t in work.tags if isinstance(t, str) and t.strip()]
    if zh and tags and src in TAG_SOURCES:
        add(zh, " ".join(dict.fromkeys(tags)), "title_zh-tags", zh_key, None)
    if ja or zh:
        join_titles = {"ja": ja} if ja else {}
        if zh:
            join_titles["zh"] = zh
        out.joins.append(JoinPart(f"{src}:work:{work.source_id}", "work", src, entity, join_titles, work.source_id))
    if not out.pairs and not out.joins:
        out.dropped = "work-without-texts"
    return out


def from_character(character: Character) -> Extracted:
    out = Extracted()
    names = {k: _text(v) for k, v in character.names.items() if _text(v)}
    ja = names.get("ja")
    zh, _ = _zh(names)
    values = {}
    if ja:
        values["ja"] = ja
    if zh:
        values["zh"] = zh
    if not values:
        values = dict(list(names.items())[:1])
    if not values:
        out.dropped = "character-without-name"
        return out
    for work_id in dict.fromkeys(character.work_ids):
        out.joins.append(
            JoinPart(
                f"{character.source}:work:{work_id}", "character", character.source, "", values, character.source_id
            )
        )
    if not out.joins:
        out.dropped = "character-without-work"
    return out


def from_person(person: Person) -> Extracted:
    out = Extracted()
    ja = _text(person.names.get("ja"))
    zh, zh_key = _zh({k: _text(v) for k, v in person.names.items()})
    if ja and zh:
        entity = f"{person.source}:person:{person.source_id}"
        out.pairs.append(RawPair(ja, zh, "va_name_ja-va_name_zh", person.source, entity, "ja", zh_key))
    else:
        out.dropped = "person-without-ja-zh-names"
    return out


def from_tag_translation(tag: TagTranslation) -> Extracted:
    out = Extracted()
    zh, zh_key = _zh({k: _text(v) for k, v in tag.translations.items()})
    if _text(tag.tag) and zh:
        out.pairs.append(
            RawPair(tag.tag, zh, "tag_ja-tag_zh", tag.source, f"{tag.source}:tag:{tag.tag.strip()}", "ja", zh_key)
        )
    else:
        out.dropped = "tag-without-zh"
    return out


def from_section(section: Section) -> Extracted:
    out = Extracted()
    title = _text(section.title)
    if tn.is_non_article(title):
        out.dropped = "boilerplate-page"
        return out
    if tn.is_disambiguation(title, section.categories):
        out.dropped = "disambiguation-page"
        return out
    if section.heading_path and tn.is_boilerplate_heading(section.heading_path[0]):
        out.dropped = "boilerplate-section"
        return out
    lang = tn.declared_lang(section.language) or section.language
    src = section.source
    entity = wiki_entity(src, section.language, title, section.langlinks)
    text = section.text
    if not section.heading_path:
        if lang in ("ja", "zh", "en") and _text(text):
            out.pairs.append(
                RawPair(title, text, f"title_{lang}-summary", src, entity, section.language, section.language)
            )
            if src == "wikipedia":
                out.joins.append(JoinPart(entity, "intro", src, entity, {lang: text}, section.source_id))
        if src == "wikipedia":
            titles = {tn.declared_lang(k) or k: v for k, v in section.langlinks.items() if _text(v)}
            titles[lang] = title
            ja = titles.get("ja")
            if ja and titles.get("zh"):
                out.pairs.append(
                    RawPair(_wiki_title(ja), _wiki_title(titles["zh"]), "title_ja-title_zh", src, entity, "ja", "zh")
                )
            if ja and titles.get("en"):
                out.pairs.append(
                    RawPair(_wiki_title(ja), _wiki_title(titles["en"]), "title_ja-title_en", src, entity, "ja", "en")
                )
    else:
        heading = " / ".join(h.strip() for h in section.heading_path if h.strip())
        if src == "moegirl":
            out.pairs.append(
                RawPair(
                    f"{title} {heading}",
                    text,
                    "title_heading-section",
                    src,
                    entity,
                    section.language,
                    section.language,
                )
            )
        else:
            out.pairs.append(
                RawPair(heading, text, "heading-section", src, entity, section.language, section.language)
            )
    if not out.pairs and not out.joins:
        out.dropped = "section-without-pairs"
    return out


def extract(item: Item) -> Extracted:
    """The pairs and join parts of one item; items of other kinds give nothing (``dropped='unused-kind'``)."""
    if isinstance(item, Work):
        return from_work(item)
    if isinstance(item, Character):
        return from_character(item)
    if isinstance(item, Person):
        return from_person(item)
    if isinstance(item, Section):
        return from_section(item)
    if isinstance(item, TagTranslation):
        return from_tag_translation(item)
    return Extracted(dropped="unused-kind")


def resolve_join(parts: list[JoinPart]) -> tuple[list[RawPair], list[JoinPart]]:
    """The pairs of one join key's parts, and the parts left unmatched (characters whose work is missing).

    Parts are sorted first so the result does not depend on the order they arrive in.
    """
    parts = sorted(parts, key=lambda p: (p.role, p.source, p.record_id, sorted(p.values.items())))
    works = [p for p in parts if p.role == "work"]
    characters = [p for p in parts if p.role == "character"]
    intros = [p for p in parts if p.role == "intro"]
    pairs: list[RawPair] = []
    unmatched: list[JoinPart] = []
    if characters and not works:
        unmatched.extend(characters)
    elif works:
        work = works[0]
        for char in characters:
            name_ja = char.values.get("ja") or next(iter(char.values.values()))
            name_zh = char.values.get("zh") or name_ja
            if work.values.get("ja"):
                pairs.append(
                    RawPair(work.values["ja"], name_ja, "title_ja-character", work.source, work.entity_id, "ja", "ja")
                )
            if work.values.get("zh"):
                pairs.append(
                    RawPair(work.values["zh"], name_zh, "title_zh-character", work.source, work.entity_id, "zh", "zh")
                )
    if intros:
        by_lang: dict[str, JoinPart] = {}
        for part in intros:
            for lang in part.values:
                by_lang.setdefault(lang, part)
        for a, b in (("ja", "zh"), ("ja", "en"), ("zh", "en")):
            if a in by_lang and b in by_lang:
                first, second = by_lang[a], by_lang[b]
                pairs.append(
                    RawPair(first.values[a], second.values[b], "summary-summary", first.source, first.entity_id, a, b)
                )
    return pairs, unmatched
