"""Tags that name entities: pixiv tag translations joined to works and characters, and the image dataset's
copyright / character tags linked to entities (:class:`~acg2vec.datasets.acg_entities.schema.TagLink`).

- A pixiv tag is a Japanese title or name; it joins the one entity of a candidate kind whose Japanese key it
  equals (an entity with that title, two if two works share it: then it joins none and is counted ambiguous).
- A booru tag (``kidou_senki_gandoramu``, ``hoshino_akari_(kage_sakura)``) links to an entity when a pixiv
  translation of that entity gives the same romaji (``pixiv-translation``), else when exactly one entity's romaji
  or English title folds to it (``name``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from acg2vec.crawlers.items import TagTranslation
from acg2vec.datasets.acg_entities import schema
from acg2vec.datasets.acg_entities.candidates import Candidate, match_key, romaji_key
from acg2vec.datasets.acg_entities.schema import Entity, Evidence, TagLink
from acg2vec.datasets.normalize import strip_qualifier

TAG_KINDS = ("work", "character")
BOORU_CATEGORIES = {"copyright": "work", "character": "character"}


def tag_record_id(tag: str) -> str:
    """The record id of a pixiv tag (what the text build looks its entity up by)."""
    return f"tag:pixiv:{tag}"


def _squash(text: str | None) -> str | None:
    """A romaji key without spaces, words sorted (name order differs between sites)."""
    key = romaji_key(text) if text else None
    return "".join(sorted(key.split(" "))) if key else None


def _squash_in_order(text: str | None) -> str | None:
    """Romaji in its own word order without spaces or long vowels: pixiv's ``hoshinoakari`` = ``hoshino_akari``."""
    key = romaji_key(text.replace(" ", "")) if text else None
    return key.replace(" ", "") if key else None


def join_pixiv_tags(
    translations: Iterable[TagTranslation],
    entities: list[Entity],
    candidates: list[Candidate],
    record_entity: dict[str, str],
    counts: Counter,
) -> dict[str, str]:
    """Add each pixiv tag that names one entity to it (source ``pixiv``, evidence ``agreed=["tag=ja"]``);
    returns tag -> entity id. ``counts`` gets ``Tags-linked`` / ``Tags-ambiguous`` / ``Tags-no-entity``."""
    by_key: dict[str, set[str]] = defaultdict(set)
    for c in candidates:
        if c.kind in TAG_KINDS and c.ja_key:
            entity = record_entity.get(c.unique_id)
            if entity:
                by_key[c.ja_key].add(entity)
    by_id = {e.entity_id: e for e in entities}
    out: dict[str, str] = {}
    for tag in translations:
        found = by_key.get(match_key(tag.tag) or "", set())
        if len(found) != 1:
            counts["Tags-ambiguous" if found else "Tags-no-entity"] += 1
            continue
        entity = by_id[next(iter(found))]
        out[tag.tag] = entity.entity_id
        record_entity[tag_record_id(tag.tag)] = entity.entity_id
        if ("pixiv", tag.tag) not in entity.sources:
            entity.sources.append(("pixiv", tag.tag))
            entity.evidence.append(Evidence("pixiv", tag.tag, schema.MATCH, agreed=["tag=ja"]))
            for text in (*tag.translations.values(), tag.romaji or ""):
                if text and text not in entity.titles.values() and text not in entity.aliases:
                    entity.aliases.append(text)
        counts["Tags-linked"] += 1
    return out


def link_booru_tags(
    booru_tags: Iterable[tuple[str, str]],
    translations: Iterable[TagTranslation],
    pixiv_entities: dict[str, str],
    entities: list[Entity],
    counts: Counter,
) -> list[TagLink]:
    """Links of ``(tag, category)`` booru tags to entities (see the module doc); counts ``BooruTags-*``."""
    by_pixiv: dict[str, set[str]] = defaultdict(set)
    for tag in translations:
        entity = pixiv_entities.get(tag.tag)
        squashed = _squash_in_order(tag.romaji)
        if entity and squashed:
            by_pixiv[squashed].add(entity)
    by_name: dict[tuple[str, str], set[str]] = defaultdict(set)
    for entity in entities:
        if entity.kind not in TAG_KINDS:
            continue
        for text in (entity.titles.get("romaji"), entity.titles.get("en"), *entity.aliases):
            squashed = _squash(text) if text and text.isascii() else None
            if squashed:
                by_name[(entity.kind, squashed)].add(entity.entity_id)
    links = []
    for tag, category in booru_tags:
        kind = BOORU_CATEGORIES.get(category)
        if kind is None:
            continue
        bare = strip_qualifier(tag.replace("_", " "))
        squashed, in_order = _squash(bare), _squash_in_order(bare)
        pixiv = {e for e in by_pixiv.get(in_order or "", set()) if schema.kind_of(e) == kind}
        named = by_name.get((kind, squashed or ""), set())
        if len(pixiv) == 1:
            links.append(TagLink(tag, category, next(iter(pixiv)), "pixiv-translation", in_order or ""))
        elif len(named) == 1:
            links.append(TagLink(tag, category, next(iter(named)), "name", squashed or ""))
        else:
            counts["BooruTags-ambiguous" if (pixiv or named) else "BooruTags-no-entity"] += 1
            continue
        counts["BooruTags-linked"] += 1
    return links
