"""The work, character and person items a crawl of the sample site gives, made straight from the world.

Crawling takes minutes for a few hundred records; the entity-linking benchmark needs 100,000 and the linker's
shipped model is trained on thousands. These are the same items the crawlers write for the demo's crawl
(``acg2vec demo --until crawl``): Bangumi anime subjects with their characters and voice actors, MyAnimeList
entries (a split work's seasons apart) with theirs, one Wikipedia Work per language page with its language
links and year category, and moegirl works; each site's titles as that site shows them
(:meth:`~acg2vec.sample_site.world.Work.title_on`). ``benchmarks/entity_linking.py --crawl`` links a real crawl of
the demo world beside these, and the two give the same quality.
"""

from __future__ import annotations

from collections.abc import Iterator

from acg2vec.crawlers.items import Character, Item, Person, Work
from acg2vec.sample_site.world import Character as WorldCharacter
from acg2vec.sample_site.world import Person as WorldPerson
from acg2vec.sample_site.world import Work as WorldWork
from acg2vec.sample_site.world import World, mal_romaji

WIKI_TITLE_KEYS = {"ja": "ja", "zh": "zh-Hans", "en": "en"}
# The categories a crawled wiki Work carries: ja pages name the studio, zh and en pages the year.
MAL_TYPES = {3: "movie", 5: "ova"}


def _mal_name(romaji: str, *, family_first: bool) -> str:
    romaji = mal_romaji(romaji)
    if " " not in romaji:
        return romaji
    first, second = romaji.split(" ", 1)
    family, given = (first, second) if family_first else (second, first)
    return f"{family}, {given}"


def bangumi_items(world: World) -> Iterator[Item]:
    for work in world.anime:
        t = work.titles
        aliases = [a for a in dict.fromkeys([t["zh-Hant"], t["en"], *work.aliases]) if a != t["zh-Hans"]]
        yield Work(
            source="bangumi", source_id=str(work.bangumi_id), titles={"ja": t["ja"], "zh-Hans": t["zh-Hans"]},
            aliases=aliases, type="anime", air_date=work.air_date.isoformat(), ids={"bangumi": str(work.bangumi_id)},
            character_ids=[str(c.bangumi_id) for c in world.characters_of(work)],
        )  # fmt: skip
        for character in world.characters_of(work):
            yield _bangumi_character(world, character)
    for person in world.persons:
        if person.character_indexes:
            yield _bangumi_person(world, person)


def _bangumi_character(world: World, c: WorldCharacter) -> Character:
    names = {k: c.names[k] for k in ("ja", "zh-Hans", "ja-Kana", "ja-Latn", "en")}
    return Character(
        source="bangumi", source_id=str(c.bangumi_id), names=names,
        aliases=[c.names["ja"].replace(" ", ""), *c.aliases], work_ids=[str(world.work_of(c).bangumi_id)],
        voice_actor_ids=[str(world.voice_actor_of(c).bangumi_id)], ids={"bangumi": str(c.bangumi_id)},
    )  # fmt: skip


def _bangumi_person(world: World, p: WorldPerson) -> Person:
    names = {k: p.names[k] for k in ("ja", "zh-Hans", "ja-Kana", "ja-Latn")}
    return Person(
        source="bangumi", source_id=str(p.bangumi_id), names=names, roles=["seiyu"],
        character_ids=[str(world.characters[i].bangumi_id) for i in p.character_indexes],
        ids={"bangumi": str(p.bangumi_id)},
    )  # fmt: skip


def animelist_items(world: World) -> Iterator[Item]:
    for entry in world.mal_entries:
        if entry.kind != "anime" or entry.mal_id is None:
            continue
        titles = {
            lang: entry.title_on("mal", key) for lang, key in (("ja-Latn", "ja-Latn"), ("ja", "ja"), ("en", "en"))
        }
        yield Work(
            source="animelist", source_id=str(entry.mal_id), titles={k: v for k, v in titles.items() if v},
            aliases=[a for a in entry.aliases if a.isascii()], type=MAL_TYPES.get(entry.index % 7, "tv"),
            air_date=entry.air_date.isoformat(), ids={"mal": str(entry.mal_id)}, episodes=entry.episodes,
            character_ids=[str(c.mal_id) for c in world.characters_of(entry)],
        )  # fmt: skip
    for work in world.anime:
        for c in world.characters_of(work):
            yield Character(
                source="animelist", source_id=str(c.mal_id),
                names={"ja-Latn": _mal_name(c.names["ja-Latn"], family_first=True), "ja": c.names["ja"]},
                aliases=list(c.aliases), work_ids=[str(work.mal_id)],
                voice_actor_ids=[str(world.voice_actor_of(c).mal_id)], ids={"mal": str(c.mal_id)},
            )  # fmt: skip
    for p in world.persons:
        if p.character_indexes:
            yield Person(
                source="animelist", source_id=str(p.mal_id),
                names={"ja-Latn": _mal_name(p.names["ja-Latn"], family_first=False), "ja": p.names["ja"]},
                aliases=[p.names["ja-Kana"]], roles=["voice actor"], ids={"mal": str(p.mal_id)},
                character_ids=[str(world.characters[i].mal_id) for i in p.character_indexes],
            )  # fmt: skip


def wiki_items(world: World) -> Iterator[Item]:
    for work in world.works:
        year = work.air_date.year
        for lang, title in work.wiki_titles.items():
            titles = {WIKI_TITLE_KEYS[k]: v for k, v in work.wiki_titles.items()}
            ids = {f"wiki:{k}": v for k, v in work.wiki_titles.items()}
            yield Work(
                source="wikipedia", source_id=f"{lang}:{title}", titles=titles, type=work_type(work),
                tags=wiki_categories(work, lang), ids=ids,
            )  # fmt: skip
        ja = work.title_on("moegirl", "ja")
        titles = {"zh-Hans": work.titles["zh-Hans"], **({"ja": ja} if ja else {})}
        yield Work(
            source="moegirl", source_id=f"zh:{work.moegirl_title}", titles=titles, type=work_type(work),
            tags=["日本动画", f"{year}年日本动画"], ids={"moegirl": work.moegirl_title},
        )  # fmt: skip


def wiki_categories(work: WorldWork, lang: str) -> list[str]:
    year = work.air_date.year
    return {
        "ja": ["日本のテレビアニメ", work.studio[0]],
        "zh": ["日本电视动画", f"{year}年作品"],
        "en": ["Anime television series", f"{year} anime"],
    }[lang]


def work_type(work: WorldWork) -> str:
    return work.kind


def crawl_items(world: World) -> Iterator[Item]:
    """Every work, character and person item of a crawl of ``world`` (the demo's crawl, without HTTP)."""
    yield from bangumi_items(world)
    yield from animelist_items(world)
    yield from wiki_items(world)
