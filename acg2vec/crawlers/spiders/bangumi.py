"""Bangumi (bgm.tv) through its API v0: subjects, their characters, and the characters' voice actors.

Walk: ``/v0/subjects?type=2&limit&offset`` (or ``/v0/subjects/{id}`` for given ids) -> a subject's
``/v0/subjects/{id}/characters`` -> each character's ``/v0/characters/{id}`` and ``/v0/characters/{id}/persons``
-> each voice actor's ``/v0/persons/{id}`` and ``/v0/persons/{id}/characters``. A Work is yielded once its
character list is known, a Character once its voice actors are, a Person once its characters are; when one of
the link lists cannot be fetched the item is still yielded with the links it has.

The item builders (``work_from_subject`` ...) take the API's JSON objects and are shared with the Bangumi
Archive importer, whose wiki-syntax infoboxes :func:`parse_wiki_infobox` turns into the API's form.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from acg2vec import __version__
from acg2vec.crawlers.items import Character, Item, ItemError, Person, Work
from acg2vec.crawlers.language import detect_language
from acg2vec.crawlers.spiders.apibase import ApiArgs, ApiSpider, json_callback

SOURCE = "bangumi"
SUBJECT_TYPES = {1: "book", 2: "anime", 3: "music", 4: "game", 6: "real"}
# Infobox alias keys ("k" of an entry of 别名) that name a language of their own.
ALIAS_NAME_KEYS = {"英文名": "en", "罗马字": "ja-Latn", "日文名": "ja", "繁体中文名": "zh-Hant", "纯假名": "ja-Kana"}
CHINESE_NAME_KEYS = ("简体中文名", "中文名")


# -- infobox ------------------------------------------------------------------------------------------------


def parse_wiki_infobox(text: str | None) -> list[dict[str, Any]]:
    """Bangumi wiki syntax (``{{Infobox ...\\n|key= value\\n|别名={\\n[a]\\n[k|b]\\n}\\n}}``) in the API's form.

    Returns ``[{"key": ..., "value": str | [{"k"?: ..., "v": ...}]}]``; lines that fit neither form are ignored.
    """
    if not text:
        return []
    out: list[dict[str, Any]] = []
    current_list: list[dict[str, str]] | None = None
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if current_list is not None:
            if line == "}":
                current_list = None
            elif line.startswith("[") and line.endswith("]"):
                inner = line[1:-1]
                if "|" in inner:
                    k, v = inner.split("|", 1)
                    entry = {"k": k.strip(), "v": v.strip()} if k.strip() else {"v": v.strip()}
                else:
                    entry = {"v": inner.strip()}
                if entry["v"]:
                    current_list.append(entry)
            continue
        if not line.startswith("|") or "=" not in line:
            continue
        key, value = line[1:].split("=", 1)
        key, value = key.strip(), value.strip()
        if value == "{":
            current_list = []
            out.append({"key": key, "value": current_list})
        elif key:
            out.append({"key": key, "value": value})
    return out


def infobox_values(infobox: Any, key: str) -> list[tuple[str | None, str]]:
    """All ``(k, v)`` values of ``key`` in an API infobox (a plain string value has k None)."""
    values: list[tuple[str | None, str]] = []
    if not isinstance(infobox, list):
        return values
    for entry in infobox:
        if not isinstance(entry, dict) or entry.get("key") != key:
            continue
        value = entry.get("value")
        if isinstance(value, str) and value.strip():
            values.append((None, value.strip()))
        elif isinstance(value, list):
            for v in value:
                if isinstance(v, dict) and isinstance(v.get("v"), str) and v["v"].strip():
                    values.append((v.get("k") if isinstance(v.get("k"), str) else None, v["v"].strip()))
    return values


def _names_and_aliases(name: Any, infobox: Any, *, name_cn: Any = None) -> tuple[dict[str, str], list[str]]:
    """Names by language (``name`` is the original, mostly Japanese; 简体中文名 / name_cn Chinese) and aliases."""
    names: dict[str, str] = {}
    if isinstance(name, str) and name.strip():
        names["ja"] = name.strip()
    if isinstance(name_cn, str) and name_cn.strip():
        names["zh-Hans"] = name_cn.strip()
    for key in CHINESE_NAME_KEYS:
        for _, value in infobox_values(infobox, key):
            names.setdefault("zh-Hans", value)
    aliases: list[str] = []
    for k, value in infobox_values(infobox, "别名"):
        lang = ALIAS_NAME_KEYS.get(k or "")
        if lang and lang not in names:
            names[lang] = value
        elif value not in aliases and value not in names.values():
            aliases.append(value)
    for key, lang in ALIAS_NAME_KEYS.items():
        for _, value in infobox_values(infobox, key):
            names.setdefault(lang, value)
    return names, aliases


def _id(data: Any, what: str) -> int:
    if not isinstance(data, dict):
        raise ItemError(f"bad-{what}", "not an object")
    value = data.get("id")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ItemError(f"bad-{what}", f"no id: {value!r}")
    return value


def _summary(value: Any) -> dict[str, str]:
    """A summary under its own language: most are Chinese, but many are Japanese publisher blurbs."""
    if not isinstance(value, str) or not value.strip():
        return {}
    text = value.strip().replace("\r\n", "\n")
    return {detect_language(text, declared="zh-Hans") or "zh-Hans": text}


# Infobox keys that hold a work's first date, by subject type: anime (放送开始, 上映年度 for films, 发售日 for
# OVAs), books (开始 = serialisation, 发售日), games (发行日期), music (发售日期) ... in order of preference.
DATE_KEYS = (
    "放送开始", "上映年度", "上映日", "上映时间", "首播", "发售日", "发售日期", "发行日期", "发布日期",
    "开始", "连载开始", "开始时间", "放送日期", "播放日期", "发售时间", "发行时间", "出版日期", "年份",
)  # fmt: skip
_DATE = re.compile(r"(?P<y>(?:19|20)\d{2})\s*(?:[年\-/.]\s*(?P<m>\d{1,2})\s*(?:[月\-/.]\s*(?P<d>\d{1,2})\s*日?|月)?)?")


def parse_date(text: str | None) -> str | None:
    """``2010-04-02`` / ``2010-04`` / ``2010`` from the common shapes: 2010年4月2日, 2010-04-02, 2010/4/2,
    2010.04.02, 2010年4月, 2010年 (the first date in the text; a month or day out of range stops there)."""
    match = _DATE.search(text or "")
    if not match:
        return None
    year, month, day = match.group("y"), match.group("m"), match.group("d")
    if not month or not 1 <= int(month) <= 12:
        return year
    if not day or not 1 <= int(day) <= 31:
        return f"{year}-{int(month):02d}"
    return f"{year}-{int(month):02d}-{int(day):02d}"


def air_date(data: dict[str, Any]) -> str | None:
    """The subject's ``date``, else the first date in the infobox keys of :data:`DATE_KEYS`."""
    date = data.get("date")
    if isinstance(date, str) and parse_date(date):
        return parse_date(date)
    for key in DATE_KEYS:
        for _, value in infobox_values(data.get("infobox"), key):
            found = parse_date(value)
            if found:
                return found
    return None


# -- item builders --------------------------------------------------------------------------------------------


def work_from_subject(data: Any, *, url: str | None, character_ids: list[int] | None = None) -> Work:
    """A Work from a v0 subject (or an Archive subject line with its infobox parsed)."""
    subject_id = _id(data, "subject")
    titles, aliases = _names_and_aliases(data.get("name"), data.get("infobox"), name_cn=data.get("name_cn"))
    if not titles:
        raise ItemError("bad-subject", f"subject {subject_id} has no name")
    tags = [t["name"] for t in data.get("tags") or [] if isinstance(t, dict) and isinstance(t.get("name"), str)]
    return Work(
        source=SOURCE,
        source_id=str(subject_id),
        url=url,
        titles=titles,
        aliases=aliases,
        summaries=_summary(data.get("summary")),
        tags=tags,
        type=SUBJECT_TYPES.get(data.get("type")),
        air_date=air_date(data),
        ids={"bangumi": str(subject_id)},
        character_ids=[str(c) for c in character_ids or []],
    )


def character_from(
    data: Any, *, url: str | None, work_ids: list[int] | None = None, voice_actor_ids: list[int] | None = None
) -> Character:
    """A Character from a v0 character (or an Archive character line with its infobox parsed)."""
    character_id = _id(data, "character")
    names, aliases = _names_and_aliases(data.get("name"), data.get("infobox"))
    if not names:
        raise ItemError("bad-character", f"character {character_id} has no name")
    return Character(
        source=SOURCE,
        source_id=str(character_id),
        url=url,
        names=names,
        aliases=aliases,
        summaries=_summary(data.get("summary")),
        work_ids=[str(w) for w in dict.fromkeys(work_ids or [])],
        voice_actor_ids=[str(p) for p in dict.fromkeys(voice_actor_ids or [])],
        ids={"bangumi": str(character_id)},
    )


def person_from(data: Any, *, url: str | None, character_ids: list[int] | None = None) -> Person:
    """A Person from a v0 person (or an Archive person line with its infobox parsed)."""
    person_id = _id(data, "person")
    names, aliases = _names_and_aliases(data.get("name"), data.get("infobox"))
    if not names:
        raise ItemError("bad-person", f"person {person_id} has no name")
    career = data.get("career")
    return Person(
        source=SOURCE,
        source_id=str(person_id),
        url=url,
        names=names,
        aliases=aliases,
        summaries=_summary(data.get("summary")),
        roles=[c for c in career if isinstance(c, str)] if isinstance(career, list) else [],
        character_ids=[str(c) for c in dict.fromkeys(character_ids or [])],
        ids={"bangumi": str(person_id)},
    )


def related_ids(data: Any, *, key: str = "id") -> list[int]:
    """The ids in a v0 related list (``/subjects/{id}/characters``, ``/characters/{id}/persons`` ...)."""
    if not isinstance(data, list):
        raise ItemError("bad-related-list", "not a list")
    return [e[key] for e in data if isinstance(e, dict) and isinstance(e.get(key), int)]


# -- the spider -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BangumiArgs(ApiArgs):
    """``limit`` counts subjects."""

    subject_type: int = 2  # 1 book, 2 anime, 3 music, 4 game, 6 real
    ids: tuple[int, ...] = ()  # subject ids to crawl instead of browsing
    characters: bool = True  # also the subjects' characters and their voice actors
    page_size: int = 50  # subjects per browse page (the API serves 50 at most: more is read as 50)

    def check(self) -> None:
        super().check()
        if self.page_size < 1:
            raise ValueError(f"page_size must be 1 or more, not {self.page_size}")


class BangumiSpider(ApiSpider):
    """Bangumi subjects (anime by default), characters and voice actors; its arguments are :class:`BangumiArgs`."""

    name = "bangumi"
    default_base_url = "https://api.bgm.tv"
    Args: ClassVar[type[BangumiArgs]] = BangumiArgs
    args: BangumiArgs
    # Bangumi asks every client for a User-Agent naming the project and a way to reach it.
    custom_settings = {
        "USER_AGENT": f"acg2vec/{__version__} (https://github.com/acg2vec/acg2vec) bangumi-api-client",
    }

    def browse_url(self, offset: int) -> str:
        query = {"type": self.args.subject_type, "limit": min(50, self.args.page_size), "offset": offset}
        return self.join("/v0/subjects") + "?" + urlencode(query)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.args.ids:
            for subject_id in self.args.ids[: self.limit]:
                yield self.request(self.join(f"/v0/subjects/{subject_id}"), self.parse_subject)
        else:
            yield self.request(self.browse_url(0), self.parse_browse, offset=0)

    @json_callback
    def parse_browse(self, response: Response, data: Any, offset: int) -> Iterator[scrapy.Request | Item]:
        if data is None:
            return
        subjects = data.get("data") if isinstance(data, dict) else None
        if not isinstance(subjects, list):
            self.drop("bad-subject-page", url=response.url, record=data)
            return
        for subject in subjects:
            if self.limit_reached(self.tally("subjects")):
                return
            self.add_tally("subjects")
            subject_id = subject.get("id") if isinstance(subject, dict) else None
            yield from self.follow_subject(subject, url=self.join(f"/v0/subjects/{subject_id}"))
        total = data.get("total")
        next_offset = offset + len(subjects)
        if (
            subjects
            and isinstance(total, int)
            and next_offset < total
            and not self.limit_reached(self.tally("subjects"))
        ):
            yield self.request(self.browse_url(next_offset), self.parse_browse, offset=next_offset)

    @json_callback
    def parse_subject(self, response: Response, data: Any) -> Iterator[scrapy.Request | Item]:
        if data is not None:
            yield from self.follow_subject(data, url=response.url)

    def follow_subject(self, subject: Any, *, url: str) -> Iterator[scrapy.Request | Item]:
        """The subject's Work now (without characters) or its character list request."""
        try:
            work = work_from_subject(subject, url=url)
        except ItemError as err:
            self.drop(err.reason, url=url, detail=err.detail, record=subject)
            return
        if not self.args.characters:
            yield work
            return
        yield self.request(
            self.join(f"/v0/subjects/{work.source_id}/characters"),
            self.parse_subject_characters,
            work=work,
            errback=self.on_subject_characters_error,
        )

    @json_callback
    def parse_subject_characters(self, response: Response, data: Any, work: Work) -> Iterator[scrapy.Request | Item]:
        try:
            character_ids = related_ids(data) if data is not None else []
        except ItemError as err:
            self.drop(err.reason, url=response.url, detail=err.detail, record=data)
            character_ids = []
        work.character_ids = [str(c) for c in character_ids]
        yield work
        for character_id in character_ids:
            yield self.request(
                self.join(f"/v0/characters/{character_id}"), self.parse_character, work_id=int(work.source_id)
            )

    def on_subject_characters_error(self, failure: Failure) -> Iterator[Item]:
        self.on_error(failure)
        yield failure.request.cb_kwargs["work"]

    @json_callback
    def parse_character(self, response: Response, data: Any, work_id: int) -> Iterator[scrapy.Request | Item]:
        if data is None:
            return
        try:
            _id(data, "character")
        except ItemError as err:
            self.drop(err.reason, url=response.url, detail=err.detail, record=data)
            return
        yield self.request(
            self.join(f"/v0/characters/{data['id']}/persons"),
            self.parse_character_persons,
            character=data,
            work_id=work_id,
            page_url=response.url,
            errback=self.on_character_persons_error,
        )

    @json_callback
    def parse_character_persons(
        self, response: Response, data: Any, character: dict[str, Any], work_id: int, page_url: str
    ) -> Iterator[scrapy.Request | Item]:
        persons = data if isinstance(data, list) else []
        if data is not None and not isinstance(data, list):
            self.drop("bad-related-list", url=response.url, record=data)
        person_ids = [p["id"] for p in persons if isinstance(p, dict) and isinstance(p.get("id"), int)]
        work_ids = [work_id] + [
            p["subject_id"] for p in persons if isinstance(p, dict) and isinstance(p.get("subject_id"), int)
        ]
        try:
            yield character_from(character, url=page_url, work_ids=work_ids, voice_actor_ids=person_ids)
        except ItemError as err:
            self.drop(err.reason, url=page_url, detail=err.detail, record=character)
            return
        for person_id in dict.fromkeys(person_ids):
            yield self.request(self.join(f"/v0/persons/{person_id}"), self.parse_person, character_id=character["id"])

    def on_character_persons_error(self, failure: Failure) -> Iterator[Item]:
        self.on_error(failure)
        kwargs = failure.request.cb_kwargs
        try:
            yield character_from(kwargs["character"], url=kwargs["page_url"], work_ids=[kwargs["work_id"]])
        except ItemError as err:
            self.drop(err.reason, url=kwargs["page_url"], detail=err.detail, record=kwargs["character"])

    @json_callback
    def parse_person(self, response: Response, data: Any, character_id: int) -> Iterator[scrapy.Request]:
        if data is None:
            return
        try:
            _id(data, "person")
        except ItemError as err:
            self.drop(err.reason, url=response.url, detail=err.detail, record=data)
            return
        yield self.request(
            self.join(f"/v0/persons/{data['id']}/characters"),
            self.parse_person_characters,
            person=data,
            character_id=character_id,
            page_url=response.url,
            errback=self.on_person_characters_error,
        )

    @json_callback
    def parse_person_characters(
        self, response: Response, data: Any, person: dict[str, Any], character_id: int, page_url: str
    ) -> Iterator[Item]:
        try:
            character_ids = related_ids(data) if data is not None else []
        except ItemError as err:
            self.drop(err.reason, url=response.url, detail=err.detail, record=data)
            character_ids = []
        yield from self._person(person, url=page_url, character_ids=[character_id, *character_ids])

    def on_person_characters_error(self, failure: Failure) -> Iterator[Item]:
        self.on_error(failure)
        kwargs = failure.request.cb_kwargs
        yield from self._person(kwargs["person"], url=kwargs["page_url"], character_ids=[kwargs["character_id"]])

    def _person(self, person: dict[str, Any], *, url: str, character_ids: list[int]) -> Iterator[Item]:
        try:
            yield person_from(person, url=url, character_ids=character_ids)
        except ItemError as err:
            self.drop(err.reason, url=url, detail=err.detail, record=person)
