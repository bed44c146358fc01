"""Wiki pages of the sample world: Wikipedia articles (zh, ja, en) and moegirl pages, as real-looking wikitext.

Each article has an infobox, a lead with references, section headings at two levels, links, bold and italic
text, a file, a wikitable and categories, so a real wikitext parser has real work to do. Besides the work
articles, every wiki has a talk page and a disambiguation page in the same category, which crawlers skip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from acg2vec.sample_site.world import Character, Work, World

MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")  # fmt: skip

# Root category of each kind of work, per wiki.
CATEGORIES: dict[str, dict[str, str]] = {
    "en": {
        "anime": "Category:Anime television series",
        "book": "Category:Manga series",
        "game": "Category:Video games",
    },
    "ja": {"anime": "Category:日本のテレビアニメ", "book": "Category:漫画作品", "game": "Category:コンピュータゲーム"},
    "zh": {"anime": "Category:日本电视动画", "book": "Category:日本漫画", "game": "Category:电子游戏"},
    "moegirl": {"anime": "Category:日本动画", "book": "Category:日本漫画", "game": "Category:电子游戏"},
}
# moegirl's category of character pages (characters of anime works).
MOEGIRL_CHARACTERS = "Category:动画角色"
TALK_PREFIX = {"en": "Talk:", "ja": "ノート:", "zh": "Talk:", "moegirl": "讨论:"}
DISAMBIGUATION = {
    "en": ("{} (disambiguation)", "Category:Disambiguation pages"),
    "ja": ("{} (曖昧さ回避)", "Category:曖昧さ回避"),
    "zh": ("{} (消歧义)", "Category:消歧义"),
    "moegirl": ("{}(消歧义)", "Category:消歧义页"),
}
HEADINGS = {
    "ja": ("あらすじ", "登場人物", "主要人物", "その他", "制作", "放送局", "脚注", "外部リンク"),
    "zh": ("剧情简介", "登场角色", "主要角色", "其他角色", "制作", "播出电视台", "参考资料", "外部链接"),
    "en": (
        "Plot",
        "Characters",
        "Main characters",
        "Supporting characters",
        "Production",
        "Broadcast",
        "References",
        "External links",
    ),  # fmt: skip
    "moegirl": ("简介", "登场人物", "主要角色", "其他角色", "制作人员", "播出信息", "注释", "外部链接"),
}
WIKI_LANGUAGE = {"en": "en", "ja": "ja", "zh": "zh", "moegirl": "zh"}


@dataclass(slots=True)
class Page:
    """One wiki page: its wikitext, categories, interlanguage links and page props."""

    pageid: int
    ns: int
    title: str
    wikitext: str
    categories: list[str]
    langlinks: dict[str, str] = field(default_factory=dict)  # language -> title on that wiki
    pageprops: dict[str, str] = field(default_factory=dict)
    work_index: int | None = None
    character_index: int | None = None
    # The headings (level, text) in order, and the markup-free story sentences each section holds.
    headings: list[tuple[int, str]] = field(default_factory=list)


@dataclass(slots=True)
class Wiki:
    """All pages of one wiki, with category membership."""

    name: str
    pages: dict[str, Page]
    members: dict[str, list[Page]]  # category title -> member pages (sorted by title)
    by_id: dict[int, Page] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {p.pageid: p for p in self.pages.values()}


def wikidata_id(work: Work) -> str:
    return f"Q{90000000 + work.index * 17}"


def build_wiki(world: World, wiki: str) -> Wiki:
    """Every page of ``wiki`` ("zh", "ja", "en" or "moegirl")."""
    base_id = {"en": 10000, "ja": 20000, "zh": 30000, "moegirl": 40000}[wiki]
    pages: list[Page] = []
    for work in world.works:
        title = work.moegirl_title if wiki == "moegirl" else work.wiki_titles.get(wiki)
        if not title:
            continue
        page = _work_page(world, work, wiki, base_id + len(pages) * 3 + 1, title)
        pages.append(page)
    if wiki == "moegirl":
        for work in world.anime:
            for character in world.characters_of(work):
                pages.append(_moegirl_character_page(world, character, base_id + len(pages) * 3 + 1))
    first = world.anime[0]
    first_title = first.moegirl_title if wiki == "moegirl" else first.wiki_titles[wiki]
    anime_category = CATEGORIES[wiki]["anime"]
    talk = Page(
        pageid=base_id + len(pages) * 3 + 1,
        ns=1,
        title=TALK_PREFIX[wiki] + first_title,
        wikitext=_talk_wikitext(wiki, first_title),
        categories=[anime_category],
    )
    pages.append(talk)
    disambiguation_title, disambiguation_category = DISAMBIGUATION[wiki]
    word = first_title[:2] if wiki != "en" else first_title.split()[0]
    linked = [p.title for p in pages if p.ns == 0 and p.title.startswith(word)][:3] or [first_title]
    pages.append(
        Page(
            pageid=base_id + len(pages) * 3 + 1,
            ns=0,
            title=disambiguation_title.format(word),
            wikitext=_disambiguation_wikitext(wiki, word, linked),
            categories=[anime_category, disambiguation_category],
            pageprops={"disambiguation": ""},
        )
    )
    members: dict[str, list[Page]] = {}
    for page in pages:
        for category in page.categories:
            members.setdefault(category, []).append(page)
    for category in members.values():
        category.sort(key=lambda p: (p.title, p.pageid))
    return Wiki(name=wiki, pages={p.title: p for p in pages}, members=members)


# ---------------------------------------------------------------------------------------------- work articles


def _work_page(world: World, work: Work, wiki: str, pageid: int, title: str) -> Page:
    cast = world.characters_of(work)
    builder = {"ja": _ja_article, "zh": _zh_article, "en": _en_article, "moegirl": _moegirl_work}[wiki]
    wikitext = builder(world, work, cast)
    categories = [CATEGORIES[wiki][work.kind]]
    categories += re.findall(r"\[\[(Category:[^\]|]+)", wikitext)
    categories = list(dict.fromkeys(categories))
    if CATEGORIES[wiki][work.kind] not in wikitext:
        wikitext += f"\n[[{CATEGORIES[wiki][work.kind]}]]"
    pageprops = {"wikibase_item": wikidata_id(work)} if wiki != "moegirl" else {}
    sort_key = re.search(r"\{\{DEFAULTSORT:(.+?)\}\}", wikitext)
    if sort_key:
        pageprops["defaultsort"] = sort_key.group(1)
    langlinks: dict[str, str] = {}
    if wiki != "moegirl":
        langlinks = {lang: t for lang, t in work.wiki_titles.items() if lang != wiki}
    return Page(
        pageid=pageid,
        ns=0,
        title=title,
        wikitext=wikitext,
        categories=categories,
        langlinks=langlinks,
        pageprops=pageprops,
        work_index=work.index,
        headings=_headings(wikitext),
    )


def _headings(wikitext: str) -> list[tuple[int, str]]:
    return [(len(m.group(1)), m.group(2).strip()) for m in re.finditer(r"^(={2,6})([^=].*?)\1\s*$", wikitext, re.M)]


def _kana_title(work: Work) -> str:
    kana = [a for a in work.aliases if re.fullmatch(r"[\u3040-\u309f・]+の[\u3040-\u309f]+", a)]
    return kana[0] if kana else work.titles["ja-Latn"]


def _ja_article(world: World, work: Work, cast: list[Character]) -> str:
    h = HEADINGS["ja"]
    t = work.titles
    year, month = work.air_date.year, work.air_date.month
    medium = {"anime": "[[テレビアニメ]]", "book": "[[漫画]]", "game": "[[コンピュータゲーム]]"}[work.kind]
    main = [c for c in cast if c.role == "主角"]
    others = [c for c in cast if c.role != "主角"]

    def character_lines(chars: list[Character]) -> str:
        return "\n".join(
            f"; {c.names['ja']}（{c.names['ja-Kana']}）\n: 声 - [[{world.voice_actor_of(c).names['ja']}]]\n: "
            + c.summaries["ja"].split("。", 1)[1]
            for c in chars
        )

    parts = [
        "{{Infobox animanga/Header\n"
        f"| タイトル = {t['ja']}\n| ジャンル = [[{work.genres[0][0]}]]\n}}}}\n"
        "{{Infobox animanga/TVAnime\n"
        f"| 監督 = \n| アニメーション制作 = [[{work.studio[0]}]]\n| 話数 = 全{work.episodes}話\n}}}}\n"
        "{{Infobox animanga/Footer}}",
        f"『'''{t['ja']}'''』（{_kana_title(work)}）は、[[{work.studio[0]}]]制作による日本の{medium}作品。"
        f"{year}年{month}月に発表された。"
        f'<ref name="official">{{{{Cite web|url=https://{work.slug}.example.jp/|title=公式サイト|accessdate=2024-01-01}}}}</ref>',
        f"== {h[0]} ==\n[[ファイル:{work.slug}_key_visual.jpg|thumb|220px|キービジュアル]]\n{work.summaries['ja']}",
        f"== {h[1]} ==\n=== {h[2]} ===\n{character_lines(main)}"
        + (f"\n=== {h[3]} ===\n{character_lines(others)}" if others else ""),
        f"== {h[4]} ==\n本作は{work.origin[0].removesuffix('改')}を原作とし、''{work.studio[0]}''が制作を担当した。"
        f"<ref>{{{{Cite news|title={t['ja']}制作発表|date={year - 1}-12-01}}}}</ref>"
        f'\n{{| class="wikitable"\n! 役職 !! 担当\n|-\n| アニメーション制作 || {work.studio[0]}\n|-\n| 話数 || {work.episodes}\n|}}',
    ]
    if work.kind == "anime":
        parts.append(
            f'== {h[5]} ==\n{{| class="wikitable" style="font-size:small"\n! 放送期間 !! 放送局 !! 備考\n|-\n'
            f"| {year}年{month}月 - || TOKYO MX || 製作参加\n|-\n| {year}年{month}月 - || BS11 ||\n|}}"
        )
    parts += [
        f"== {h[6]} ==\n{{{{Reflist}}}}",
        f"== {h[7]} ==\n* [https://{work.slug}.example.jp/ 公式サイト]",
        f"{{{{DEFAULTSORT:{_kana_title(work)}}}}}\n[[{CATEGORIES['ja'][work.kind]}]]\n[[Category:{work.studio[0]}]]",
    ]
    return "\n\n".join(parts) + "\n"


def _zh_article(world: World, work: Work, cast: list[Character]) -> str:
    h = HEADINGS["zh"]
    t = work.titles
    year, month = work.air_date.year, work.air_date.month
    medium = {"anime": "[[电视动画]]", "book": "[[漫画]]", "game": "[[电子游戏]]"}[work.kind]
    main = [c for c in cast if c.role == "主角"]
    others = [c for c in cast if c.role != "主角"]

    def character_lines(chars: list[Character]) -> str:
        return "\n".join(
            f"; {{{{lang|zh-hans|{c.names['zh-Hans']}}}}}（{{{{lang|ja|{c.names['ja']}}}}}）\n"
            f": 声优：[[{world.voice_actor_of(c).names['zh-Hans']}]]\n: " + c.summaries["zh-Hans"].split("。", 1)[1]
            for c in chars
        )

    parts = [
        "{{Infobox animanga/Header\n"
        f"| 名称 = {t['zh-Hans']}\n| 原名 = {t['ja']}\n| 類型 = [[{work.genres[0][1]}]]\n}}}}\n"
        "{{Infobox animanga/TVAnime\n"
        f"| 動畫製作 = [[{work.studio[0]}]]\n| 話數 = 全{work.episodes}話\n}}}}\n"
        "{{Infobox animanga/Footer}}",
        f"《'''{t['zh-Hans']}'''》（{{{{lang|ja|{t['ja']}}}}}）是由[[{work.studio[0]}]]制作的日本{medium}作品，"
        f"于{year}年{month}月发表。<ref>{{{{cite web|url=https://{work.slug}.example.jp/|title=官方网站|language=ja}}}}</ref>",
        f"== {h[0]} ==\n[[File:{work.slug}_key_visual.jpg|thumb|主视觉图]]\n{work.summaries['zh-Hans']}",
        f"== {h[1]} ==\n=== {h[2]} ===\n{character_lines(main)}"
        + (f"\n=== {h[3]} ===\n{character_lines(others)}" if others else ""),
        f"== {h[4]} ==\n本作的动画制作由'''{work.studio[0]}'''负责。<ref name=\"staff\">{{{{cite news|title={t['ja']}|date={year - 1}-12-01}}}}</ref>"
        f'\n{{| class="wikitable"\n! 职位 !! 负责\n|-\n| 动画制作 || {work.studio[0]}\n|-\n| 话数 || {work.episodes}\n|}}',
    ]
    if work.kind == "anime":
        parts.append(
            f'== {h[5]} ==\n{{| class="wikitable"\n! 播放地区 !! 播放平台 !! 播放日期\n|-\n'
            f"| 日本 || TOKYO MX || {year}年{month}月\n|-\n| 中国大陆 || [[哔哩哔哩]] || {year}年{month}月\n|}}"
        )
    parts += [
        f"== {h[6]} ==\n{{{{reflist}}}}",
        f"== {h[7]} ==\n* {{{{Official website|https://{work.slug}.example.jp/}}}}",
        f"[[{CATEGORIES['zh'][work.kind]}]]\n[[Category:{work.air_date.year}年作品]]",
    ]
    return "\n\n".join(parts) + "\n"


def _en_article(world: World, work: Work, cast: list[Character]) -> str:
    h = HEADINGS["en"]
    t = work.titles
    year, month = work.air_date.year, MONTHS_EN[work.air_date.month - 1]
    medium = {"anime": "[[anime]] television series", "book": "[[manga]] series", "game": "[[video game]]"}[work.kind]
    main = [c for c in cast if c.role == "主角"]
    others = [c for c in cast if c.role != "主角"]

    def character_lines(chars: list[Character]) -> str:
        return "\n".join(
            f"; {{{{nihongo|{c.names['en']}|{c.names['ja']}|{c.names['ja-Latn']}}}}}\n"
            f": Voiced by: [[{world.voice_actor_of(c).names['en']}]]\n: " + c.summaries["en"].split(". ", 1)[1]
            for c in chars
        )

    parts = [
        "{{Short description|Japanese " + medium.replace("[[", "").replace("]]", "") + "}}\n"
        "{{Infobox animanga/Header\n"
        f"| name = {t['en']}\n| image = {work.slug}_key_visual.jpg\n| ja_kanji = {t['ja']}\n"
        f"| ja_romaji = {t['ja-Latn']}\n| genre = {work.genres[0][2].capitalize()}\n}}}}\n"
        "{{Infobox animanga/Video\n| type = tv series\n"
        f"| studio = [[{work.studio[1]}]]\n| first = {{{{Start date|{work.air_date.year}|{work.air_date.month}|{work.air_date.day}}}}}\n"
        f"| episodes = {work.episodes}\n}}}}\n{{{{Infobox animanga/Footer}}}}",
        f"''{t['en']}'' ({{{{lang-ja|{t['ja']}}}}}, {{{{transl|ja|{t['ja-Latn']}}}}}) is a Japanese {medium} "
        f"produced by [[{work.studio[1]}]]. It was released in {month} {year}."
        f'<ref name="ann">{{{{cite web|url=https://news.example.com/{work.slug}|title={t["en"]} announced|website=Anime News|date={year - 1}-12-01}}}}</ref>',
        f"== {h[0]} ==\n[[File:{work.slug}_key_visual.jpg|thumb|upright|Key visual]]\n{work.summaries['en']}",
        f"== {h[1]} ==\n=== {h[2]} ===\n{character_lines(main)}"
        + (f"\n=== {h[3]} ===\n{character_lines(others)}" if others else ""),
        f"== {h[4]} ==\nThe series is adapted from an {work.origin[1].lower()} work and animated by '''{work.studio[1]}'''."
        f"<ref>{{{{cite news|title=Staff revealed|date={year - 1}-12-02}}}}</ref>"
        f'\n{{| class="wikitable"\n! Role !! Staff\n|-\n| Animation || {work.studio[1]}\n|-\n| Episodes || {work.episodes}\n|}}',
    ]
    if work.kind == "anime":
        parts.append(
            f"== {h[5]} ==\nThe series aired on [[Tokyo MX]] and was streamed worldwide.\n"
            f'{{| class="wikitable"\n! Region !! Network\n|-\n| Japan || Tokyo MX\n|-\n| Worldwide || Streaming\n|}}'
        )
    parts += [
        f"== {h[6]} ==\n{{{{Reflist}}}}",
        f"== {h[7]} ==\n* {{{{Official website|https://{work.slug}.example.jp/}}}}\n* {{{{ann|anime|{work.index + 1000}}}}}",
        f"{{{{Navbox anime}}}}\n{{{{DEFAULTSORT:{t['en'].removeprefix('The ')}}}}}\n[[{CATEGORIES['en'][work.kind]}]]\n[[Category:{work.air_date.year} anime]]",
    ]
    return "\n\n".join(parts) + "\n"


def _moegirl_work(world: World, work: Work, cast: list[Character]) -> str:
    h = HEADINGS["moegirl"]
    t = work.titles
    year, month = work.air_date.year, work.air_date.month

    def character_lines(chars: list[Character]) -> str:
        return "\n".join(
            f"; [[{c.moegirl_title}]]（{{{{lang|ja|{c.names['ja']}}}}}）\n"
            f": 声优：[[{world.voice_actor_of(c).names['zh-Hans']}]]"
            for c in chars
        )

    main = [c for c in cast if c.role == "主角"]
    others = [c for c in cast if c.role != "主角"]
    lines = f"=== {h[2]} ===\n{character_lines(main)}" + (
        f"\n=== {h[3]} ===\n{character_lines(others)}" if others else ""
    )
    ja = work.title_on("moegirl", "ja")  # moegirl does not always give the Japanese title
    original = f"|原名={{{{lang|ja|{ja}}}}}\n" if ja else ""
    parts = [
        "{{欢迎编辑}}\n{{动画作品信息\n"
        f"|中文名={t['zh-Hans']}\n{original}|类型={work.genres[0][1]}\n"
        f"|制作={work.studio[0]}\n|话数=全{work.episodes}话\n|播放时间={year}年{month}月\n}}}}",
        f"《'''{t['zh-Hans']}'''》"
        + (f"（日语：{{{{lang|ja|{ja}}}}}）" if ja else "")
        + f"是由{work.studio[0]}制作的作品。"
        f"<ref>{{{{cite web|url=https://{work.slug}.example.jp/|title=官方网站}}}}</ref>",
        f"== {h[0]} ==\n{work.summaries['zh-Hans']}",
        f"== {h[1]} ==\n{{{{剧透提醒}}}}\n{lines}",
        f'== {h[4]} ==\n{{| class="wikitable"\n! 职位 !! 负责\n|-\n| 动画制作 || {work.studio[0]}\n|}}',
        f"== {h[6]} ==\n<references />",
        f"[[{CATEGORIES['moegirl'][work.kind]}]]\n[[Category:{year}年日本动画]]",
    ]
    return "\n\n".join(parts) + "\n"


def _moegirl_character_page(world: World, character: Character, pageid: int) -> Page:
    work = world.work_of(character)
    actor = world.voice_actor_of(character)
    names = character.names
    if " " in names["ja"]:
        sur, given = names["ja"].split(" ", 1)
        sur_kana, given_kana = names["ja-Kana"].split(" ", 1)
        real_name = f"{{{{jpn|{sur}|{sur_kana}|{given}|{given_kana}}}}}"
    else:
        real_name = f"{{{{lang|ja|{names['ja']}}}}}"
    moe_points = ["呆毛", "长直", "双马尾", "眼镜", "水手服", "元气", "三无"]
    points = "|".join(moe_points[(character.index + i) % len(moe_points)] for i in range(3))
    wikitext = (
        "{{人物信息\n"
        f"|image={character.moegirl_title}.jpg\n|本名={real_name}\n|别号={'、'.join(character.aliases)}\n"
        f"|生日={character.index % 12 + 1}月{character.index * 7 % 28 + 1}日\n|发色={('黑', '金', '蓝', '粉')[character.index % 4]}\n"
        f"|萌点={{{{萌点|{points}}}}}\n|声优=[[{actor.names['zh-Hans']}]]\n"
        f"|出身地区=日本\n|所属团体=[[{work.moegirl_title}]]\n}}}}\n"
        f"'''{character.moegirl_title}'''是[[{work.moegirl_title}|《{work.titles['zh-Hans']}》]]及其衍生作品的登场角色。\n\n"
        f"== 简介 ==\n{character.summaries['zh-Hans']}\n\n"
        f"== 人际关系 ==\n* 配音：[[{actor.names['zh-Hans']}]]<ref>{{{{cite web|title=角色介绍|url=https://{work.slug}.example.jp/character/}}}}</ref>\n\n"
        f"== 注释 ==\n<references />\n\n"
        f"[[{MOEGIRL_CHARACTERS}]]\n[[Category:{actor.names['zh-Hans']}配音角色]]\n"
    )
    return Page(
        pageid=pageid,
        ns=0,
        title=character.moegirl_title,
        wikitext=wikitext,
        categories=[MOEGIRL_CHARACTERS, f"Category:{actor.names['zh-Hans']}配音角色"],
        character_index=character.index,
        headings=_headings(wikitext),
    )


def _talk_wikitext(wiki: str, title: str) -> str:
    return (
        "{{Talk header}}\n{{WikiProject Anime and manga|class=B}}\n\n"
        f"== {title} ==\n"
        "Is the episode count in the infobox right? ~~~~\n: It is, see the official site. ~~~~\n"
    )


def _disambiguation_wikitext(wiki: str, word: str, linked: list[str]) -> str:
    intro = {
        "en": f"'''{word}''' may refer to:",
        "ja": f"'''{word}'''（曖昧さ回避）",
        "zh": f"'''{word}'''可以指：",
        "moegirl": f"'''{word}'''可以指：",
    }[wiki]
    items = "\n".join(f"* [[{t}]]" for t in linked)
    return f"{intro}\n{items}\n\n{{{{disambiguation}}}}\n"
