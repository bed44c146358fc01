"""Pair extraction: crawl items -> raw text pairs (before cleaning), and the joins some pair types need.

One function per item kind. Most pairs come from one item; two kinds need a join, done per join key:

- ``title_ja-character`` / ``title_zh-character``: a Work's title with the names of the Characters that list
  the work in ``work_ids`` (join key ``<source>:work:<id>``);
- ``summary-summary``: the intros of one Wikipedia article in different languages (join key = the page key
  of :func:`wiki_page_key`).

Entity rules (the split is decided by ``entity_id``, so these decide what can leak across splits). The build
links every work, character and person across the sites first (:mod:`acg2vec.datasets.acg_entities`) and passes
``entities`` (record id -> entity id, :func:`acg2vec.datasets.acg_entities.candidates.record_id`): a Work or
Person item, a wiki page's Sections (the page's Work record) and a pixiv tag that names a work or character take
the id of their entity (``work:<hash>``, ...), so one work's pairs from every site share one id and one split.
Without a table (``entities`` None), or for a record the linker did not see (a page about no work), the older
rules below decide, keyed by the Japanese title:

- **The Japanese title first.** Anything that knows its Japanese title or name is ``ja:<key>``, where the key is
  :func:`clean_text.title_key` (NFKC, one trailing ``(...)`` qualifier dropped, casefolded, no spaces).
  The Japanese title is: a Bangumi / MyAnimeList work's ``titles["ja"]`` (Bangumi's original name, Jikan's
  ``title_japanese``); for a Wikipedia or moegirl page, the page's own title on a Japanese wiki, else its
  ``ja`` interlanguage link (``Section.langlinks["ja"]``, ``Work.ids["wiki:ja"]``); a voice actor's ``ja``
  name; a pixiv tag itself (pixiv tags are Japanese, and a tag that names a work gives the work's title pair).
  So one work's Bangumi, MyAnimeList, ja / zh / en Wikipedia and moegirl pairs share one entity. Two
  different works with the same Japanese title share it too: that only moves more pairs together, never
  spreads one work over two splits.
- **Else a site's id**: works ``bangumi:<id>`` when ``ids`` has a Bangumi id, else ``mal:<id>``, else
  ``<source>:<source_id>``; Wikipedia pages ``wikipedia:en:<title>`` of the English article when linked, else
  ``wikipedia:<lang>:<title>``; moegirl pages ``moegirl:<title>``; people ``<source>:person:<id>``.
- **One page, one entity.** A wiki page's Work item takes its entity from the page title and links only, never
  from the Japanese title in its infobox (``titles["ja"]`` without a ``wiki:ja`` id): the page's Sections
  cannot see the infobox, and the Work's intro pairs repeat the intro Section's text, so the two must agree.
  Known limit: a wiki page without a Japanese interlanguage link keeps its own entity even when its infobox
  names the Japanese title.
- **Characters** take the entity of the work they are joined with (the join key is the work's per-source id;
  the work's part carries the entity), so no work leaks across splits through its characters.

The summary <-> summary join is keyed by the page (``wikipedia:ja:<title>`` of the Japanese article, else the
English, else the page), not by the entity, so two pages that share a Japanese title key (``X`` and
``X (アニメ)``) never have their intros paired with each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from acg2vec.crawlers import wikitext
from acg2vec.crawlers.items import Character, Item, Person, Section, TagTranslation, Work
from acg2vec.crawlers.language import declared_lang
from acg2vec.datasets.acg_entities.candidates import record_id
from acg2vec.datasets.acg_entities.tags import tag_record_id
from acg2vec.datasets.acg_text_pairs import clean_text
from acg2vec.datasets.acg_text_pairs.schema import PAIR_TYPES

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


def ja_entity(title: str | None) -> str | None:
    """``ja:<title key>`` of a Japanese title or name, or None when there is none (see the module doc)."""
    if not isinstance(title, str):
        return None
    key = clean_text.title_key(title)
    return f"ja:{key}" if key else None


def work_entity(source: str, source_id: str, ids: dict[str, str], titles: dict[str, str] | None = None) -> str:
    """The entity of a Bangumi / MyAnimeList work: its Japanese title, else a site's id (see the module doc)."""
    by_title = ja_entity((titles or {}).get("ja"))
    if by_title:
        return by_title
    if ids.get("bangumi"):
        return f"bangumi:{ids['bangumi']}"
    if ids.get("mal"):
        return f"mal:{ids['mal']}"
    return f"{source}:{source_id}"


def _page_titles(language: str, title: str, langlinks: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A page's language (ja / zh / en when known) and its titles by language, its own title included."""
    lang = declared_lang(language) or language
    links = {declared_lang(k) or k: v for k, v in langlinks.items() if _text(v)}
    links[lang] = title
    return lang, links


def wiki_page_key(source: str, language: str, title: str, langlinks: dict[str, str]) -> str:
    """The key shared by one subject's articles across language editions (the summary <-> summary join key)."""
    if source != "wikipedia":
        return f"{source}:{title}"
    lang, links = _page_titles(language, title, langlinks)
    for preferred in ("ja", "en"):
        if links.get(preferred):
            return f"wikipedia:{preferred}:{links[preferred]}"
    return f"wikipedia:{lang}:{title}"


def wiki_entity(source: str, language: str, title: str, langlinks: dict[str, str]) -> str:
    """The entity of a wiki page: its Japanese title (own or linked), else :func:`wiki_page_key`."""
    _, links = _page_titles(language, title, langlinks)
    return ja_entity(links.get("ja")) or wiki_page_key(source, language, title, langlinks)


def _wiki_title(title: str) -> str:
    # Page titles carry a qualifier for disambiguation ("Title (anime)"); the title pair uses the bare name.
    if title.endswith(")") and " (" in title:
        return title[: title.rindex(" (")]
    return title


def _linked(entities: Mapping[str, str] | None, key: str) -> str | None:
    return entities.get(key) if entities else None


def from_work(work: Work, entities: Mapping[str, str] | None = None) -> Extracted:
    out = Extracted()
    titles = {k: _text(v) for k, v in work.titles.items() if _text(v)}
    if work.source in WIKI_SOURCES:
        # The crawler's source_id is "<wiki language>:<page title>"; the page's links are the wiki:* ids.
        if ":" in work.source_id:
            lang, own = work.source_id.split(":", 1)
        else:
            lang, own = "zh", next(iter(titles.values()), work.source_id)
        links = {k.split(":", 1)[1]: v for k, v in work.ids.items() if k.startswith("wiki:")}
        entity = wiki_entity(work.source, lang, own, links)
    else:
        entity = work_entity(work.source, work.source_id, work.ids, titles)
    entity = _linked(entities, record_id("work", work.source, work.source_id)) or entity
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


def from_person(person: Person, entities: Mapping[str, str] | None = None) -> Extracted:
    out = Extracted()
    ja = _text(person.names.get("ja"))
    zh, zh_key = _zh({k: _text(v) for k, v in person.names.items()})
    if ja and zh:
        entity = _linked(entities, record_id("person", person.source, person.source_id))
        entity = entity or ja_entity(ja) or f"{person.source}:person:{person.source_id}"
        out.pairs.append(RawPair(ja, zh, "va_name_ja-va_name_zh", person.source, entity, "ja", zh_key))
    else:
        out.dropped = "person-without-ja-zh-names"
    return out


def from_tag_translation(tag: TagTranslation, entities: Mapping[str, str] | None = None) -> Extracted:
    out = Extracted()
    zh, zh_key = _zh({k: _text(v) for k, v in tag.translations.items()})
    linked = _linked(entities, tag_record_id(tag.tag)) if isinstance(tag.tag, str) else None
    if _text(tag.tag) and zh:
        out.pairs.append(
            RawPair(
                tag.tag,
                zh,
                "tag_ja-tag_zh",
                tag.source,
                linked or ja_entity(tag.tag) or f"{tag.source}:tag:{tag.tag.strip()}",
                "ja",
                zh_key,
            )
        )
    else:
        out.dropped = "tag-without-zh"
    return out


def from_section(section: Section, entities: Mapping[str, str] | None = None) -> Extracted:
    out = Extracted()
    title = _text(section.title)
    if not wikitext.is_article_title(title):
        out.dropped = "boilerplate-page"
        return out
    if wikitext.is_disambiguation_title(title, section.categories):
        out.dropped = "disambiguation-page"
        return out
    if section.heading_path and clean_text.is_boilerplate_heading(section.heading_path[0]):
        out.dropped = "boilerplate-section"
        return out
    lang = declared_lang(section.language) or section.language
    src = section.source
    entity = wiki_entity(src, section.language, title, section.langlinks)
    # The page's Work record has the Section's source id up to "#" ("zh:<title>#3" -> "zh:<title>").
    entity = _linked(entities, record_id("work", src, section.source_id.split("#", 1)[0])) or entity
    page_key = wiki_page_key(src, section.language, title, section.langlinks)
    text = section.text
    if not section.heading_path:
        if lang in ("ja", "zh", "en") and _text(text):
            out.pairs.append(
                RawPair(title, text, f"title_{lang}-summary", src, entity, section.language, section.language)
            )
            if src == "wikipedia":
                out.joins.append(JoinPart(page_key, "intro", src, entity, {lang: text}, section.source_id))
        if src == "wikipedia":
            titles = {declared_lang(k) or k: v for k, v in section.langlinks.items() if _text(v)}
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


def extract(item: Item, entities: Mapping[str, str] | None = None) -> Extracted:
    """The pairs and join parts of one item; items of other kinds give nothing (``dropped='unused-kind'``).
    ``entities``: record id -> entity id of the linked entities (see the module doc)."""
    if isinstance(item, Work):
        return from_work(item, entities)
    if isinstance(item, Character):
        return from_character(item)
    if isinstance(item, Person):
        return from_person(item, entities)
    if isinstance(item, Section):
        return from_section(item, entities)
    if isinstance(item, TagTranslation):
        return from_tag_translation(item, entities)
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
