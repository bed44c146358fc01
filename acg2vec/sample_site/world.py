"""The generated world every page of the sample site is drawn from: works, characters, voice actors, posts.

Deterministic from a seed. Each work has an id on every site (Bangumi, MyAnimeList, wiki page titles), so
crawls of different sites join on the same entities; each booru post records the exact tags of what its
illustration draws (:mod:`acg2vec.sample_site.illustrations` draws it).

The sites disagree the way real ones do, and the world knows the truth behind every record
(:meth:`World.identity`), so the entity linker can be measured against it:

- transliterations: MyAnimeList writes romaji without long vowels (``Mahou Shoujo`` -> ``Maho Shojo``, names
  too); some English Wikipedia articles are titled in romaji; some MyAnimeList entries have no English title;
- moegirl gives no Japanese title for every fourth work;
- MyAnimeList lists the second half of a long series as its own entry (``... 2nd Season``, ``第2期``): still the
  world's one work, as Bangumi and Wikipedia list it;
- two different works share one title (:data:`HOMONYM`), years apart; the wikis disambiguate the newer one's
  page title (``X (2019年のアニメ)``).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from acg2vec.sample_site import names
from acg2vec.vocabularies import RATINGS

ATTEMPTS = 50  # draws of a fresh name or title before a large world accepts a repeat / a longer title
# (later work, earlier work): the later one is a different work with the earlier one's titles.
HOMONYM = (21, 3)
# MyAnimeList's id of a split work's second-season entry is its first entry's id plus this.
MAL_SEASON_ID_OFFSET = 5
BANGUMI_SUBJECT_TYPES = {"book": 1, "anime": 2, "music": 3, "game": 4, "real": 6}

# Colours a tagger can learn: name -> RGB. Backgrounds use all of them, shapes the first six.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "blue": (30, 70, 220),
    "green": (30, 170, 60),
    "yellow": (245, 215, 30),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
    "purple": (130, 40, 170),
    "pink": (250, 150, 190),
    "orange": (250, 140, 20),
    "grey": (128, 128, 128),
}
SHAPE_COLOURS = ("red", "blue", "green", "yellow", "white", "black")
BACKGROUND_COLOURS = tuple(COLOURS)
# Shape kind -> relative frequency; the last three are rare on purpose.
SHAPE_WEIGHTS = {"circle": 10, "star": 8, "square": 8, "triangle": 8, "heart": 1, "hexagon": 1, "cross": 1}
# Shapes whose colour is a tag of its own (e.g. red_circle).
COLOURED_SHAPE_TAGS = ("circle", "star", "square", "triangle")
GLYPH_SYMBOLS = ("dot", "cross", "diamond", "bar")


@dataclass(slots=True)
class ArtistStyle:
    """How one artist draws: the outline around every shape."""

    tag: str
    outline_width: int
    outline_colour: tuple[int, int, int]


ARTISTS: tuple[ArtistStyle, ...] = (
    ArtistStyle("kuroneko_pen", 0, (0, 0, 0)),
    ArtistStyle("hoshizora_studio", 2, (0, 0, 0)),
    ArtistStyle("marker_maru", 6, (0, 0, 0)),
    ArtistStyle("shiro_line", 4, (255, 255, 255)),
    ArtistStyle("grey_atelier", 9, (70, 70, 70)),
    ArtistStyle("pastel_usagi", 3, (90, 40, 120)),
)


@dataclass(slots=True)
class Person:
    """A voice actor."""

    index: int
    bangumi_id: int
    mal_id: int
    names: dict[str, str]  # ja, ja-Kana, ja-Latn, zh-Hans, zh-Hant, en
    family_name: str  # kanji, as in names["ja"]
    given_name: str
    gender: str
    birth_mon: int
    birth_day: int
    birth_year: int | None
    summaries: dict[str, str]
    character_indexes: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Character:
    """A character of one work, voiced by one person."""

    index: int
    bangumi_id: int
    mal_id: int
    names: dict[str, str]  # ja, ja-Kana, ja-Latn, zh-Hans, zh-Hant, en
    aliases: list[str]
    gender: str
    role: str  # Bangumi relation: 主角 / 配角 / 客串
    summaries: dict[str, str]
    work_index: int
    voice_actor_index: int
    # Set for the characters drawn in booru posts.
    booru_tag: str | None = None
    glyph: tuple[str, str] | None = None  # (ring colour, inner symbol)
    moegirl_title: str = ""


@dataclass(slots=True)
class Work:
    """An anime (mostly), manga or game, with its ids and titles on every site."""

    index: int
    slug: str
    kind: str  # anime / book / game
    bangumi_id: int
    mal_id: int | None
    titles: dict[str, str]  # ja, zh-Hans, zh-Hant, en, ja-Latn
    aliases: list[str]
    summaries: dict[str, str]  # ja, zh-Hans, en
    genres: list[tuple[str, str, str, str]]
    origin: tuple[str, str]
    studio: tuple[str, str]
    air_date: date
    episodes: int
    score: float
    rank: int
    members: int
    tags: list[tuple[str, int]]  # Bangumi tags with counts
    character_indexes: list[int] = field(default_factory=list)
    wiki_titles: dict[str, str] = field(default_factory=dict)  # ja / zh / en Wikipedia page titles
    moegirl_title: str = ""
    copyright_tag: str | None = None
    # Where a site shows a title differently: site ("mal", "moegirl") -> language -> title (None: none given).
    site_titles: dict[str, dict[str, str | None]] = field(default_factory=dict)
    # MyAnimeList lists the episodes after this one as a separate "2nd Season" entry (0: one entry).
    mal_season_split: int = 0

    def title_on(self, site: str, lang: str) -> str | None:
        """The title ``site`` shows in ``lang`` (None when it shows none)."""
        override = self.site_titles.get(site, {})
        return override[lang] if lang in override else self.titles.get(lang)


@dataclass(slots=True)
class Shape:
    """One drawn thing in an illustration, in a 3x3 grid cell of the picture's inner area."""

    kind: str  # circle / star / ... / stripes / polka_dots / glyph
    colour: str
    cell: int
    scale: float = 0.8
    rotation: float = 0.0
    detail: str = ""  # stripes orientation, or the glyph's inner symbol


@dataclass(slots=True)
class Drawing:
    """Everything an illustration shows; the post's general / character / artist tags come from it."""

    width: int
    height: int
    ext: str  # jpg / png
    background: str
    shapes: list[Shape]
    frame: bool
    artist: int
    noise_seed: int


@dataclass(slots=True)
class Post:
    """A booru post and the exact tags of its picture."""

    id: int
    drawing: Drawing
    general_tags: list[str]
    character_tags: list[str]
    copyright_tags: list[str]
    artist_tags: list[str]
    meta_tags: list[str]
    rating: str
    score: int | None
    parent_id: int | None
    created_at: datetime
    change: int
    owner: str
    source: str
    duplicate_of: int | None = None
    has_children: bool = False
    pixiv_id: int | None = None

    @property
    def tags(self) -> list[str]:
        """All tags, sorted as the booru lists them."""
        return sorted(
            {*self.general_tags, *self.character_tags, *self.copyright_tags, *self.artist_tags, *self.meta_tags}
        )

    @property
    def tag_categories(self) -> dict[str, str]:
        """Tag -> category (general / artist / copyright / character / meta)."""
        out: dict[str, str] = {}
        for category, tags in (
            ("general", self.general_tags),
            ("artist", self.artist_tags),
            ("copyright", self.copyright_tags),
            ("character", self.character_tags),
            ("meta", self.meta_tags),
        ):
            out.update(dict.fromkeys(tags, category))
        return out

    @property
    def ext(self) -> str:
        return self.drawing.ext

    @property
    def width(self) -> int:
        return self.drawing.width

    @property
    def height(self) -> int:
        return self.drawing.height


@dataclass(slots=True)
class WorldConfig:
    """Sizes of the generated world."""

    seed: int = 0
    works: int = 36
    persons: int = 24
    posts: int = 300
    drawn_works: int = 8  # works whose characters appear in posts
    drawn_characters_per_work: int = 2


@dataclass(slots=True)
class World:
    """The whole generated world; lists are indexed by each record's ``index``."""

    config: WorldConfig
    works: list[Work]
    characters: list[Character]
    persons: list[Person]
    posts: list[Post]
    by_bangumi_subject: dict[int, Work] = field(default_factory=dict)
    by_bangumi_character: dict[int, Character] = field(default_factory=dict)
    by_bangumi_person: dict[int, Person] = field(default_factory=dict)
    by_mal_anime: dict[int, Work] = field(default_factory=dict)
    by_mal_character: dict[int, Character] = field(default_factory=dict)
    by_mal_person: dict[int, Person] = field(default_factory=dict)
    by_post_id: dict[int, Post] = field(default_factory=dict)
    # What MyAnimeList lists: one entry per work, two for a work it splits into seasons (both keep the work's index).
    mal_entries: list[Work] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_bangumi_subject = {w.bangumi_id: w for w in self.works}
        self.by_bangumi_character = {c.bangumi_id: c for c in self.characters}
        self.by_bangumi_person = {p.bangumi_id: p for p in self.persons}
        self.mal_entries = [entry for w in self.works if w.mal_id is not None for entry in _mal_entries(w)]
        self.by_mal_anime = {w.mal_id: w for w in self.mal_entries if w.mal_id is not None}
        self.by_mal_character = {c.mal_id: c for c in self.characters}
        self.by_mal_person = {p.mal_id: p for p in self.persons}
        self.by_post_id = {p.id: p for p in self.posts}

    @property
    def anime(self) -> list[Work]:
        return [w for w in self.works if w.kind == "anime"]

    def characters_of(self, work: Work) -> list[Character]:
        return [self.characters[i] for i in work.character_indexes]

    def voice_actor_of(self, character: Character) -> Person:
        return self.persons[character.voice_actor_index]

    def work_of(self, character: Character) -> Work:
        return self.works[character.work_index]

    def tag_counts(self) -> dict[str, tuple[str, int]]:
        """Booru tag -> (category, number of posts carrying it)."""
        counts: dict[str, tuple[str, int]] = {}
        for post in self.posts:
            for tag, category in post.tag_categories.items():
                counts[tag] = (category, counts.get(tag, (category, 0))[1] + 1)
        return counts

    @property
    def pixiv_posts(self) -> list[Post]:
        return [p for p in self.posts if p.pixiv_id is not None]

    def identity(self, kind: str, source: str, source_id: str) -> str | None:
        """The true entity behind a crawled record: ``work:<index>``, ``character:<index>``, ``person:<index>``,
        or None when the record is about nothing in the world (a pixiv tag that is no title, a wiki page that
        is no work). ``source`` / ``source_id`` as the crawlers write them (``wikipedia`` ``ja:<page title>``,
        ``moegirl`` ``zh:<page title>``, a pixiv tag itself)."""
        found = self._identity(kind, source, source_id)
        return None if found is None else f"{kind}:{found.index}"

    def _identity(self, kind: str, source: str, source_id: str):
        number = int(source_id) if source_id.isdigit() else -1
        by_id = {
            ("work", "bangumi"): self.by_bangumi_subject,
            ("work", "animelist"): self.by_mal_anime,
            ("character", "bangumi"): self.by_bangumi_character,
            ("character", "animelist"): self.by_mal_character,
            ("person", "bangumi"): self.by_bangumi_person,
            ("person", "animelist"): self.by_mal_person,
        }.get((kind, source))
        if by_id is not None:
            return by_id.get(number)
        lang, _, title = source_id.partition(":")
        if kind == "work" and source == "wikipedia":
            return next((w for w in self.works if w.wiki_titles.get(lang) == title), None)
        if kind == "work" and source == "moegirl":
            return next((w for w in self.works if w.moegirl_title == title), None)
        if kind == "character" and source == "moegirl":
            return next((c for c in self.characters if c.moegirl_title == title), None)
        if source == "pixiv":
            tag = source_id
            if kind == "work":
                # pixiv tags name the drawn works (a homonym's tag is the drawn one's: posts carry its slug)
                found = [w for w in self.works if w.titles["ja"] == tag]
                return next((w for w in found if w.copyright_tag), found[0] if len(found) == 1 else None)
            if kind == "character":
                return next((c for c in self.characters if c.names["ja"].replace(" ", "") == tag), None)
        return None


def generate_world(config: WorldConfig | None = None, *, seed: int | None = None, posts: int | None = None) -> World:
    """Build the world for ``config`` (or the defaults with ``seed`` / ``posts``); same config, same world."""
    config = config or WorldConfig()
    if seed is not None:
        config.seed = seed
    if posts is not None:
        config.posts = posts
    # Separate streams, so the number of posts does not change the works and vice versa.
    persons = _make_persons(random.Random(f"{config.seed}:persons"), config.persons)
    works, characters = _make_works(random.Random(f"{config.seed}:works"), config, persons)
    post_list = _make_posts(random.Random(f"{config.seed}:posts"), config, works, characters)
    return World(config=config, works=works, characters=characters, persons=persons, posts=post_list)


# ---------------------------------------------------------------------------------------------- people


def _make_persons(rng: random.Random, count: int) -> list[Person]:
    used: set[tuple[int, int]] = set()
    persons: list[Person] = []
    for index in range(count):
        for _attempt in range(ATTEMPTS):  # a world larger than the vocabulary repeats names (as real ones do)
            key = (rng.randrange(len(names.SURNAMES)), rng.randrange(len(names.GIVEN_NAMES)))
            if key not in used:
                break
        used.add(key)
        sur, given = names.SURNAMES[key[0]], names.GIVEN_NAMES[key[1]]
        romaji = f"{given[2].capitalize()} {sur[2].capitalize()}"
        person_names = {
            "ja": sur[0] + given[0],
            "ja-Kana": f"{sur[1]} {given[1]}",
            "ja-Latn": romaji,
            "zh-Hans": sur[3] + given[3],
            "zh-Hant": sur[4] + given[4],
            "en": romaji,
        }
        debut = rng.randrange(1995, 2018)
        summaries = {
            "ja": f"{person_names['ja']}（{person_names['ja-Kana']}）は、日本の声優。{debut}年にデビューし、"
            "アニメやゲームを中心に活動している。透明感のある声と幅広い演技で知られる。",
            "zh-Hans": f"{person_names['zh-Hans']}（{person_names['ja-Kana']}），日本女性声优。"
            if given[5] == "female"
            else f"{person_names['zh-Hans']}（{person_names['ja-Kana']}），日本男性声优。",
            "en": f"{romaji} is a Japanese voice actor who debuted in {debut} and works mainly in anime and games.",
        }
        summaries["zh-Hans"] += f"{debut}年出道，以动画和游戏配音为主要活动领域，声线清澈、戏路宽广。"
        persons.append(
            Person(
                index=index,
                bangumi_id=5000 + index * 13,
                mal_id=100 + index * 7,
                names=person_names,
                family_name=sur[0],
                given_name=given[0],
                gender=given[5],
                birth_mon=rng.randint(1, 12),
                birth_day=rng.randint(1, 28),
                birth_year=None if rng.random() < 0.3 else rng.randint(1970, 2000),
                summaries=summaries,
            )
        )
    return persons


def _character_names(rng: random.Random, used: set[str]) -> tuple[dict[str, str], str, list[str]]:
    """Names in every language, the gender, and aliases."""
    for attempt in range(ATTEMPTS + 1):
        if rng.random() < 0.2:
            kana, romaji, zh_hans, zh_hant, en, gender = rng.choice(names.FOREIGN_NAMES)
            sur = rng.choice(names.SURNAMES)
            ja = f"{kana}・{sur[0]}"
            out = {
                "ja": ja,
                "ja-Kana": f"{kana}・{sur[1]}",
                "ja-Latn": f"{romaji.capitalize()} {sur[2].capitalize()}",
                "zh-Hans": f"{zh_hans}·{sur[3]}",
                "zh-Hant": f"{zh_hant}·{sur[4]}",
                "en": f"{en} {sur[2].capitalize()}",
            }
            aliases = [kana]
        else:
            sur, given = rng.choice(names.SURNAMES), rng.choice(names.GIVEN_NAMES)
            gender = given[5]
            out = {
                "ja": f"{sur[0]} {given[0]}",
                "ja-Kana": f"{sur[1]} {given[1]}",
                "ja-Latn": f"{sur[2].capitalize()} {given[2].capitalize()}",
                "zh-Hans": sur[3] + given[3],
                "zh-Hant": sur[4] + given[4],
                "en": f"{given[2].capitalize()} {sur[2].capitalize()}",
            }
            aliases = [given[1] + ("ちゃん" if gender == "female" else "くん")]
        if out["ja"] not in used or attempt == ATTEMPTS:  # a large world repeats names across works
            used.add(out["ja"])
            return out, gender, aliases
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------- works


def _make_title(rng: random.Random, template: int) -> tuple[dict[str, str], list[str]]:
    a, b = rng.sample(names.TITLE_PARTS, 2)
    if template == 0:  # A の B: kana in the Japanese title
        titles = {
            "ja": f"{a[0]}の{b[0]}",
            "ja-Latn": f"{a[2].capitalize()} no {b[2].capitalize()}",
            "zh-Hans": f"{a[3]}之{b[3]}",
            "zh-Hant": f"{a[4]}之{b[4]}",
            "en": f"{b[5]} of the {a[5]}",
        }
        aliases = [f"{a[1]}の{b[1]}"]
    elif template == 1:  # A と B
        titles = {
            "ja": f"{a[0]}と{b[0]}",
            "ja-Latn": f"{a[2].capitalize()} to {b[2].capitalize()}",
            "zh-Hans": f"{a[3]}与{b[3]}",
            "zh-Hant": f"{a[4]}與{b[4]}",
            "en": f"The {a[5]} and the {b[5]}",
        }
        aliases = [f"{a[3]}和{b[3]}"]
    elif template == 3:  # ABのC: three parts, for worlds larger than the two-part titles
        a, b, c = rng.sample(names.TITLE_PARTS, 3)
        titles = {
            "ja": f"{a[0]}{b[0]}の{c[0]}",
            "ja-Latn": f"{a[2].capitalize()} {b[2].capitalize()} no {c[2].capitalize()}",
            "zh-Hans": f"{a[3]}{b[3]}之{c[3]}",
            "zh-Hant": f"{a[4]}{b[4]}之{c[4]}",
            "en": f"{c[5]} of the {a[5]} {b[5]}",
        }
        aliases = [f"{a[1]}{b[1]}の{c[1]}"]
    else:  # AB: kanji only (parts whose Japanese has no kana)
        kanji_parts = [p for p in names.TITLE_PARTS if not any("\u3040" <= ch <= "\u30ff" for ch in p[0])]
        a, b = rng.sample(kanji_parts, 2)
        titles = {
            "ja": f"{a[0]}{b[0]}",
            "ja-Latn": f"{a[2].capitalize()} {b[2].capitalize()}",
            "zh-Hans": f"{a[3]}{b[3]}",
            "zh-Hant": f"{a[4]}{b[4]}",
            "en": f"{a[5]} {b[5]}",
        }
        aliases = [f"{a[5][0]}{b[5][0]}".upper()]
    return titles, aliases


def _slug(text: str) -> str:
    out = "".join(ch.lower() if ch.isascii() and ch.isalnum() else "_" for ch in text)
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_")


def _make_works(rng: random.Random, config: WorldConfig, persons: list[Person]) -> tuple[list[Work], list[Character]]:
    works: list[Work] = []
    characters: list[Character] = []
    used_titles: set[str] = set()
    used_names: set[str] = {p.names["ja"] for p in persons}
    specials = list(names.SPECIAL_TITLES)
    for index in range(config.works):
        titles, aliases = _work_titles(rng, index, specials, used_titles)
        if index == HOMONYM[0]:
            earlier = works[HOMONYM[1]]
            titles, aliases = dict(earlier.titles), list(earlier.aliases)
        work = _make_work(rng, index, titles, aliases)
        if index == HOMONYM[0]:
            work.air_date = work.air_date.replace(
                year=earlier.air_date.year + (9 if earlier.air_date.year < 2015 else -9)
            )
        for position in range(rng.randint(3, 6)):
            character = _make_character(rng, work, position, persons, used_names, len(characters))
            persons[character.voice_actor_index].character_indexes.append(character.index)
            work.character_indexes.append(character.index)
            characters.append(character)
        work.summaries = _summaries(rng, work, [characters[i] for i in work.character_indexes])
        work.tags = _bangumi_tags(
            rng, work, [persons[characters[i].voice_actor_index] for i in work.character_indexes]
        )
        work.wiki_titles = {"ja": titles["ja"], "zh": titles["zh-Hans"]}
        # Not every work has an English article, so crawlers meet missing interlanguage links.
        if index % 4 != 3:
            work.wiki_titles["en"] = titles["en"]
        work.moegirl_title = titles["zh-Hans"]
        if index == HOMONYM[0]:  # the wikis disambiguate the second work of a title by its year
            year = work.air_date.year
            work.wiki_titles = {
                "ja": f"{titles['ja']} ({year}年のアニメ)",
                "zh": f"{titles['zh-Hans']} ({year}年动画)",
                "en": f"{titles['en']} ({year} TV series)",
            }
            work.moegirl_title = f"{titles['zh-Hans']}({year}年动画)"
        _site_differences(work)
        works.append(work)
    _assign_drawn_characters(config, works, characters)
    return works, characters


def mal_romaji(text: str) -> str:
    """MyAnimeList's romaji: long vowels written once (``Mahou Shoujo`` -> ``Maho Shojo``, ``Yuuma`` -> ``Yuma``)."""
    return re.sub(r"([ou])u|(o)o", lambda m: m.group(1) or m.group(2), text)


def _site_differences(work: Work) -> None:
    """How the sites show ``work`` differently from the world (see the module doc); set once it is complete."""
    mal: dict[str, str | None] = {}
    if mal_romaji(work.titles["ja-Latn"]) != work.titles["ja-Latn"]:
        mal["ja-Latn"] = mal_romaji(work.titles["ja-Latn"])
    if work.index % 5 == 2:
        mal["en"] = None
    if mal:
        work.site_titles["mal"] = mal
    if work.index % 4 == 1:
        work.site_titles["moegirl"] = {"ja": None}
    if work.index % 5 == 0 and "en" in work.wiki_titles:
        work.wiki_titles["en"] = work.titles["ja-Latn"]
    if work.kind == "anime" and work.episodes >= 24 and work.index % 2 == 0:
        work.mal_season_split = 12


def _mal_entries(work: Work) -> list[Work]:
    """MyAnimeList's entries of ``work``: itself, or its two seasons (see :attr:`Work.mal_season_split`)."""
    split = work.mal_season_split
    if not split or work.mal_id is None:
        return [work]
    first = replace(work, episodes=split)
    t = work.titles
    second_titles = {
        "ja": f"{t['ja']} 第2期",
        "ja-Latn": f"{mal_romaji(t['ja-Latn'])} 2nd Season",
        "zh-Hans": f"{t['zh-Hans']} 第二季",
        "zh-Hant": f"{t['zh-Hant']} 第二季",
        "en": f"{t['en']} Season 2",
    }
    second = replace(
        work,
        mal_id=work.mal_id + MAL_SEASON_ID_OFFSET,
        titles=second_titles,
        aliases=[],
        site_titles={},
        episodes=work.episodes - split,
        air_date=work.air_date + timedelta(weeks=split + 14),
    )
    return [first, second]


def _work_titles(
    rng: random.Random, index: int, specials: list, used_titles: set[str]
) -> tuple[dict[str, str], list[str]]:
    """A new work's titles and aliases; a special (normalisation-testing) title every sixth work while any are left,
    so they are spread over the list. Takes from ``specials`` and adds to ``used_titles``."""
    if specials and index % 6 == 1:
        ja, romaji, zh_hans, zh_hant, en, special_aliases = specials.pop(0)
        titles = {"ja": ja, "ja-Latn": romaji, "zh-Hans": zh_hans, "zh-Hant": zh_hant, "en": en}
        aliases = list(special_aliases)
    else:
        for attempt in range(ATTEMPTS * 4):
            # A world larger than the two-part titles (about 2,000) takes three-part ones when those run out.
            titles, aliases = _make_title(rng, rng.choice((0, 0, 1, 2, 2)) if attempt < ATTEMPTS else 3)
            if titles["ja"] not in used_titles:
                break
    used_titles.add(titles["ja"])
    return titles, aliases


def _make_work(rng: random.Random, index: int, titles: dict[str, str], aliases: list[str]) -> Work:
    kind = "anime" if index % 9 not in (4, 8) else ("book" if index % 9 == 4 else "game")
    genres = rng.sample(names.GENRES, rng.randint(1, 2))
    origin = rng.choice(names.ORIGINS)
    studio = rng.choice(names.STUDIOS)
    air = date(rng.randint(1998, 2024), rng.choice((1, 4, 7, 10)), rng.randint(1, 28))
    episodes = rng.choice((12, 12, 13, 24, 25, 26)) if kind == "anime" else 0
    return Work(
        index=index,
        slug=_slug(titles["ja-Latn"]),
        kind=kind,
        bangumi_id=100000 + index * 37,
        mal_id=40000 + index * 11 if kind == "anime" else None,
        titles=titles,
        aliases=aliases,
        summaries={},
        genres=genres,
        origin=origin,
        studio=studio,
        air_date=air,
        episodes=episodes,
        score=round(rng.uniform(5.5, 9.2), 1),
        rank=rng.randint(10, 5000),
        members=rng.randint(500, 90000),
        tags=[],
    )


def _make_character(
    rng: random.Random, work: Work, position: int, persons: list[Person], used_names: set[str], index: int
) -> Character:
    """The work's ``position``-th character (the first two are leads), the world's ``index``-th."""
    char_names, gender, char_aliases = _character_names(rng, used_names)
    role = "主角" if position < 2 else rng.choice(("配角", "配角", "客串"))
    # Voice actors are drawn from a small pool, so one actor voices several characters.
    same_gender = [p for p in persons if p.gender == gender] or persons
    actor = same_gender[rng.randrange(len(same_gender))]
    trait = rng.choice(names.TRAITS)
    titles = work.titles
    return Character(
        index=index,
        bangumi_id=200000 + index * 3,
        mal_id=150000 + index * 5,
        names=char_names,
        aliases=char_aliases,
        gender=gender,
        role=role,
        summaries={
            "ja": f"『{titles['ja']}』の登場人物。{trait[0]}",
            "zh-Hans": f"《{titles['zh-Hans']}》中的角色。{trait[1]}",
            "en": f"A character in {titles['en']}. {trait[2]}",
        },
        work_index=work.index,
        voice_actor_index=actor.index,
        moegirl_title=char_names["zh-Hans"],
    )


def _summaries(rng: random.Random, work: Work, cast: list[Character]) -> dict[str, str]:
    hero, heroine = cast[0], cast[1]
    place, thing, goal = rng.choice(names.PLACES), rng.choice(names.THINGS), rng.choice(names.GOALS)
    genre = work.genres[0]
    year = work.air_date.year
    medium = {
        "anime": ("テレビアニメ", "电视动画", "TV anime"),
        "book": ("漫画作品", "漫画作品", "manga"),
        "game": ("ゲーム作品", "游戏作品", "video game"),
    }[work.kind]
    ja = [
        f"{place[0]}で暮らす{hero.names['ja']}は、ある日{thing[0]}を見つける。",
        f"それをきっかけに{heroine.names['ja']}と出会い、二人は{goal[0]}ために旅立つことになる。",
        f"笑いと涙、そして小さな奇跡が重なり合う{genre[0]}の物語。",
        f"個性豊かな仲間たちと過ごす日々の中で、{hero.names['ja']}は自分の本当の願いに気づいていく。",
        f"{work.studio[0]}制作の{medium[0]}として{year}年に発表された。",
    ]
    zh = [
        f"住在{place[1]}的{hero.names['zh-Hans']}，某一天发现了{thing[1]}。",
        f"以此为契机，{hero.names['zh-Hans']}与{heroine.names['zh-Hans']}相遇，两人踏上了{goal[1]}的旅程。",
        f"这是一个欢笑与泪水交织、小小奇迹不断累积的{genre[1]}故事。",
        f"在与性格各异的伙伴们共度的日子里，{hero.names['zh-Hans']}渐渐察觉到自己真正的愿望。",
        f"本作是由{work.studio[0]}制作、于{year}年发表的{medium[1]}。",
    ]
    en = [
        f"{hero.names['en']}, who lives in {place[2]}, finds {thing[2]} one day.",
        f"This leads to a meeting with {heroine.names['en']}, and the two set out to {goal[2]}.",
        f"It is a {genre[2]} story of laughter, tears and small miracles.",
        f"Through days spent with a colourful cast of friends, {hero.names['en']} slowly discovers a true wish.",
        f"The {medium[2]} was produced by {work.studio[1]} and released in {year}.",
    ]
    # The first two sentences carry the story; one or two of the rest follow, the same ones in each language.
    extra = sorted(rng.sample(range(2, 5), rng.randint(1, 3)))
    pick = [0, 1, *extra]
    return {
        "ja": "".join(ja[i] for i in pick),
        "zh-Hans": "".join(zh[i] for i in pick),
        "en": " ".join(en[i] for i in pick),
    }


def _bangumi_tags(rng: random.Random, work: Work, actors: list[Person]) -> list[tuple[str, int]]:
    year = work.air_date.year
    names_ = [g[3] for g in work.genres] + [work.origin[0], str(year), f"{year}年{work.air_date.month}月"]
    if work.kind == "anime":
        names_.insert(0, "TV")
    names_.append(work.studio[0])
    names_.extend(a.names["zh-Hans"] for a in actors[:3])
    seen: list[str] = []
    for name in names_:
        if name not in seen:
            seen.append(name)
    counts = sorted((rng.randint(5, 3000) for _ in seen), reverse=True)
    return list(zip(seen, counts, strict=True))


def _assign_drawn_characters(config: WorldConfig, works: list[Work], characters: list[Character]) -> None:
    """Give booru tags and a distinctive glyph to the characters of the first few anime."""
    glyphs = [(colour, symbol) for symbol in GLYPH_SYMBOLS for colour in SHAPE_COLOURS if colour != "white"]
    drawn = [w for w in works if w.kind == "anime"][: config.drawn_works]
    used_tags: set[str] = set()
    for work in drawn:
        work.copyright_tag = work.slug
        for char_index in work.character_indexes[: config.drawn_characters_per_work]:
            character = characters[char_index]
            base = _slug(character.names["ja-Latn"])
            tag = base if base not in used_tags else f"{base}_({work.slug})"
            used_tags.add(tag)
            character.booru_tag = tag
            character.glyph = glyphs.pop(0)


# ---------------------------------------------------------------------------------------------- posts


def _make_posts(rng: random.Random, config: WorldConfig, works: list[Work], characters: list[Character]) -> list[Post]:
    drawn_chars = [c for c in characters if c.glyph is not None]
    posts: list[Post] = []
    post_id = 1000
    start = datetime(2019, 1, 1, 9, 0, tzinfo=UTC)
    owners = ("danbooru", "sample_uploader", "moderator_k", "anonymous")
    for number in range(config.posts):
        post_id += rng.randint(1, 3)  # gaps, as deleted posts leave them
        created = start + timedelta(hours=number * 7 + rng.randint(0, 5), minutes=rng.randint(0, 59))
        duplicate_of = None
        if posts and rng.random() < 0.03:
            original = rng.choice(posts)
            duplicate_of = original.id
            drawing = original.drawing
            general, meta = list(original.general_tags), list(original.meta_tags)
            char_tags, copyrights, artists = (
                list(original.character_tags),
                list(original.copyright_tags),
                list(original.artist_tags),
            )
        else:
            drawing, general, char_tags, copyrights, artists, meta = _make_drawing(rng, works, drawn_chars)
        parent_id = None
        if posts and rng.random() < 0.04:
            parent = rng.choice(posts[-20:])
            parent_id = parent.id
            parent.has_children = True
        pixiv_id = None
        if rng.random() < 0.12:
            pixiv_id = 70000000 + number * 1013
            source = f"https://www.pixiv.net/artworks/{pixiv_id}"
        elif rng.random() < 0.3:
            source = f"https://twitter.com/{artists[0]}/status/{1200000000000000000 + number * 7919}"
        else:
            source = ""
        if rng.random() < 0.1 and "commentary_request" not in meta:
            meta.append("commentary_request")
        posts.append(
            Post(
                id=post_id,
                drawing=drawing,
                general_tags=sorted(general),
                character_tags=sorted(char_tags),
                copyright_tags=sorted(copyrights),
                artist_tags=sorted(artists),
                meta_tags=sorted(meta),
                rating=rng.choices(RATINGS, weights=(70, 15, 10, 5))[0],
                score=None if rng.random() < 0.1 else rng.randint(0, 60),
                parent_id=parent_id,
                created_at=created,
                change=int((created + timedelta(days=rng.randint(0, 300))).timestamp()),
                owner=rng.choice(owners),
                source=source,
                duplicate_of=duplicate_of,
                pixiv_id=pixiv_id,
            )
        )
    return posts


def _make_drawing(
    rng: random.Random, works: list[Work], drawn_chars: list[Character]
) -> tuple[Drawing, list[str], list[str], list[str], list[str], list[str]]:
    width, height = rng.randint(300, 900), rng.randint(300, 900)
    ext = "png" if rng.random() < 0.3 else "jpg"
    background = rng.choice(BACKGROUND_COLOURS)
    artist_index = rng.randrange(len(ARTISTS))
    cells = list(range(9))
    rng.shuffle(cells)
    shapes: list[Shape] = []
    general: set[str] = {f"{background}_background"}
    char_tags: list[str] = []
    copyrights: list[str] = []

    def free_colour() -> str:
        return rng.choice([c for c in SHAPE_COLOURS if c != background])

    # 0-2 characters, drawn as their glyph.
    n_chars = rng.choices((0, 1, 2), weights=(35, 50, 15))[0]
    for character in rng.sample(drawn_chars, n_chars) if drawn_chars else []:
        assert character.glyph is not None
        shapes.append(Shape("glyph", character.glyph[0], cells.pop(), scale=0.95, detail=character.glyph[1]))
        char_tags.append(character.booru_tag or "")
        copyrights.append(works[character.work_index].copyright_tag or "")
    # Pattern panels.
    if rng.random() < 0.25:
        orientation = rng.choice(("horizontal", "vertical"))
        shapes.append(Shape("stripes", free_colour(), cells.pop(), scale=0.9, detail=orientation))
        general.update({"stripes", f"{orientation}_stripes"})
    if rng.random() < 0.06:
        shapes.append(Shape("polka_dots", free_colour(), cells.pop(), scale=0.9))
        general.add("polka_dots")
    frame = rng.random() < 0.2
    if frame:
        general.add("frame")
    n_shapes = rng.choices((1, 2, 3, 4, 5), weights=(20, 30, 25, 15, 10))[0]
    kinds = list(SHAPE_WEIGHTS)
    weights = list(SHAPE_WEIGHTS.values())
    drawn_count = 0
    while cells and (drawn_count < n_shapes or len(general) + 1 < 6):
        kind = rng.choices(kinds, weights=weights)[0]
        colour = free_colour()
        shapes.append(Shape(kind, colour, cells.pop(), scale=rng.uniform(0.7, 0.95), rotation=rng.uniform(0, 360)))
        general.add(kind)
        if kind in COLOURED_SHAPE_TAGS:
            general.add(f"{colour}_{kind}")
        drawn_count += 1
    general.add({1: "1shape", 2: "2shapes", 3: "3shapes"}.get(drawn_count, "multiple_shapes"))
    meta = ["highres"] if max(width, height) >= 800 else []
    drawing = Drawing(
        width=width,
        height=height,
        ext=ext,
        background=background,
        shapes=shapes,
        frame=frame,
        artist=artist_index,
        noise_seed=rng.randrange(1 << 30),
    )
    return drawing, sorted(general), char_tags, sorted(set(copyrights)), [ARTISTS[artist_index].tag], meta
