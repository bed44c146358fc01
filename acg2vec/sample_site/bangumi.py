"""Bangumi API v0 as the sample site serves it under ``/bangumi``.

``/v0/subjects?type=2&limit=&offset=`` (paged: data / total / limit / offset), ``/v0/subjects/{id}``,
``/v0/subjects/{id}/characters``, ``/v0/characters/{id}``, ``/v0/characters/{id}/persons``,
``/v0/persons/{id}``, ``/v0/persons/{id}/characters``, with the field shapes of the real responses
(infobox lists of key / value, where a value is a string or a list of ``{"k"?, "v"}``).
"""

from __future__ import annotations

import re

from acg2vec.sample_site.messages import Request, Response, json_response
from acg2vec.sample_site.world import BANGUMI_SUBJECT_TYPES, Character, Person, Work, World

MAX_LIMIT = 50
DEFAULT_LIMIT = 30
WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
GENDER_ZH = {"female": "女", "male": "男"}

_ROUTES = [
    (re.compile(r"^/v0/subjects$"), "subjects"),
    (re.compile(r"^/v0/subjects/(\d+)$"), "subject"),
    (re.compile(r"^/v0/subjects/(\d+)/characters$"), "subject_characters"),
    (re.compile(r"^/v0/characters/(\d+)$"), "character"),
    (re.compile(r"^/v0/characters/(\d+)/persons$"), "character_persons"),
    (re.compile(r"^/v0/characters/(\d+)/subjects$"), "character_subjects"),
    (re.compile(r"^/v0/persons/(\d+)$"), "person"),
    (re.compile(r"^/v0/persons/(\d+)/characters$"), "person_characters"),
]


def _error(status: int, title: str, description: str, request: Request) -> Response:
    body = {
        "title": title,
        "description": description,
        "details": {"path": "/bangumi" + request.path, "method": "GET"},
    }
    return json_response(body, status=status)


def _images(base: str, kind: str, entity_id: int, *, common: bool = False) -> dict[str, str]:
    """Image URLs in Bangumi's shape (the sample site does not serve these files)."""
    name = f"{entity_id}_{kind}.jpg"
    out = {
        "small": f"{base}/pic/{kind}/s/{name}",
        "grid": f"{base}/pic/{kind}/g/{name}",
        "large": f"{base}/pic/{kind}/l/{name}",
        "medium": f"{base}/pic/{kind}/m/{name}",
    }
    if common:
        out["common"] = f"{base}/pic/{kind}/c/{name}"
    return out


class BangumiSite:
    """Answers the ``/bangumi`` part of the sample site."""

    def __init__(self, world: World) -> None:
        self.world = world

    def handle(self, request: Request) -> Response:
        if request.path == "/robots.txt":
            return Response(body=b"User-agent: *\nDisallow: /private/\n", content_type="text/plain")
        for pattern, name in _ROUTES:
            match = pattern.match(request.path)
            if match:
                return getattr(self, name)(request, *(int(g) for g in match.groups()))
        return _error(404, "Not Found", "The path you requested doesn't exist", request)

    def _not_found(self, request: Request) -> Response:
        return _error(404, "Not Found", "resource can't be found in the database or has been removed", request)

    # ------------------------------------------------------------------------------------------ subjects

    def subjects(self, request: Request) -> Response:
        type_arg = request.arg("type")
        if not type_arg or not type_arg.isdigit() or int(type_arg) not in BANGUMI_SUBJECT_TYPES.values():
            return _error(400, "Bad Request", "type is required and must be one of 1, 2, 3, 4, 6", request)
        limit = request.int_arg("limit", DEFAULT_LIMIT)
        offset = request.int_arg("offset", 0)
        if limit < 1 or limit > MAX_LIMIT:
            return _error(400, "Bad Request", f"limit should be between 1 and {MAX_LIMIT}", request)
        if offset < 0:
            return _error(400, "Bad Request", "offset should be greater than or equal to 0", request)
        works = [w for w in self.world.works if BANGUMI_SUBJECT_TYPES[w.kind] == int(type_arg)]
        if request.arg("year"):
            works = [w for w in works if str(w.air_date.year) == request.arg("year")]
        if request.arg("sort") == "rank":
            works = sorted(works, key=lambda w: w.rank)
        elif request.arg("sort") == "date":
            works = sorted(works, key=lambda w: w.air_date, reverse=True)
        page = works[offset : offset + limit]
        data = [self.subject_json(w, request.base_url) for w in page]
        return json_response({"data": data, "total": len(works), "limit": limit, "offset": offset})

    def subject(self, request: Request, subject_id: int) -> Response:
        work = self.world.by_bangumi_subject.get(subject_id)
        if work is None:
            return self._not_found(request)
        return json_response(self.subject_json(work, request.base_url))

    def subject_json(self, work: Work, base: str) -> dict:
        titles = work.titles
        aliases = [titles["zh-Hant"], titles["en"], *work.aliases]
        infobox: list[dict] = [
            {"key": "中文名", "value": titles["zh-Hans"]},
            {"key": "别名", "value": [{"v": a} for a in dict.fromkeys(aliases) if a != titles["zh-Hans"]]},
        ]
        if work.kind == "anime":
            infobox += [
                {"key": "话数", "value": str(work.episodes)},
                {"key": "放送开始", "value": f"{work.air_date.year}年{work.air_date.month}月{work.air_date.day}日"},
                {"key": "放送星期", "value": WEEKDAYS_ZH[work.air_date.weekday()]},
                {"key": "动画制作", "value": work.studio[0]},
            ]
        elif work.kind == "book":
            infobox += [
                {"key": "发售日", "value": work.air_date.isoformat()},
                {"key": "出版社", "value": work.studio[0]},
            ]
        else:
            infobox += [
                {"key": "发行日期", "value": work.air_date.isoformat()},
                {"key": "开发", "value": work.studio[0]},
            ]
        infobox.append({"key": "官方网站", "value": f"https://{work.slug.replace('_', '-')}.example.jp/"})
        counts = {str(i): (work.members * (i * i)) // 600 for i in range(1, 11)}
        return {
            "date": work.air_date.isoformat(),
            "platform": {"anime": "TV", "book": "漫画", "game": "PC"}[work.kind],
            "images": _images(base, "cover", work.bangumi_id, common=True),
            "summary": work.summaries["zh-Hans"],
            "name": titles["ja"],
            "name_cn": titles["zh-Hans"],
            "tags": [{"name": name, "count": count, "total_cont": count} for name, count in work.tags],
            "infobox": infobox,
            "rating": {"rank": work.rank, "total": sum(counts.values()), "count": counts, "score": work.score},
            "total_episodes": work.episodes,
            "collection": {
                "on_hold": work.members // 40,
                "dropped": work.members // 50,
                "wish": work.members // 6,
                "collect": work.members // 2,
                "doing": work.members // 20,
            },
            "id": work.bangumi_id,
            "eps": work.episodes,
            "meta_tags": [g[3] for g in work.genres],
            "volumes": 0,
            "series": False,
            "locked": False,
            "nsfw": False,
            "type": BANGUMI_SUBJECT_TYPES[work.kind],
        }

    def subject_characters(self, request: Request, subject_id: int) -> Response:
        work = self.world.by_bangumi_subject.get(subject_id)
        if work is None:
            return self._not_found(request)
        rows = []
        for character in self.world.characters_of(work):
            actor = self.world.voice_actor_of(character)
            rows.append(
                {
                    "images": _images(request.base_url, "crt", character.bangumi_id),
                    "name": character.names["ja"],
                    "relation": character.role,
                    "actors": [
                        {
                            "images": _images(request.base_url, "prsn", actor.bangumi_id),
                            "name": actor.names["ja"],
                            "short_summary": actor.summaries["ja"],
                            "career": ["seiyu"],
                            "id": actor.bangumi_id,
                            "type": 1,
                            "locked": False,
                        }
                    ],
                    "type": 1,
                    "id": character.bangumi_id,
                }
            )
        return json_response(rows)

    # ------------------------------------------------------------------------------------------ characters

    def character(self, request: Request, character_id: int) -> Response:
        character = self.world.by_bangumi_character.get(character_id)
        if character is None:
            return self._not_found(request)
        names = character.names
        infobox = [
            {"key": "简体中文名", "value": names["zh-Hans"]},
            {
                "key": "别名",
                "value": [
                    {"k": "第二中文名", "v": names["zh-Hant"]} if names["zh-Hant"] != names["zh-Hans"] else None,
                    {"k": "日文名", "v": names["ja"]},
                    {"k": "纯假名", "v": names["ja-Kana"]},
                    {"k": "罗马字", "v": names["ja-Latn"]},
                    {"k": "英文名", "v": names["en"]},
                    *({"v": a} for a in character.aliases),
                ],
            },
            {"key": "性别", "value": GENDER_ZH[character.gender]},
        ]
        infobox[1]["value"] = [v for v in infobox[1]["value"] if v]
        body = {
            "id": character.bangumi_id,
            "name": names["ja"],
            "type": 1,
            "images": _images(request.base_url, "crt", character.bangumi_id),
            "summary": character.summaries["zh-Hans"],
            "locked": False,
            "infobox": infobox,
            "gender": character.gender,
            "blood_type": None,
            "birth_year": None,
            "birth_mon": (character.index % 12) + 1,
            "birth_day": (character.index * 7) % 28 + 1,
            "stat": {"comments": character.index % 9, "collects": character.index * 3 % 200},
            "nsfw": False,
        }
        return json_response(body)

    def character_persons(self, request: Request, character_id: int) -> Response:
        character = self.world.by_bangumi_character.get(character_id)
        if character is None:
            return self._not_found(request)
        actor = self.world.voice_actor_of(character)
        work = self.world.work_of(character)
        row = {
            "id": actor.bangumi_id,
            "name": actor.names["ja"],
            "type": 1,
            "images": _images(request.base_url, "prsn", actor.bangumi_id),
            "subject_id": work.bangumi_id,
            "subject_type": BANGUMI_SUBJECT_TYPES[work.kind],
            "subject_name": work.titles["ja"],
            "subject_name_cn": work.titles["zh-Hans"],
            "staff": character.role,
        }
        return json_response([row])

    def character_subjects(self, request: Request, character_id: int) -> Response:
        character = self.world.by_bangumi_character.get(character_id)
        if character is None:
            return self._not_found(request)
        work = self.world.work_of(character)
        row = {
            "id": work.bangumi_id,
            "type": BANGUMI_SUBJECT_TYPES[work.kind],
            "staff": character.role,
            "name": work.titles["ja"],
            "name_cn": work.titles["zh-Hans"],
            "image": _images(request.base_url, "cover", work.bangumi_id)["large"],
        }
        return json_response([row])

    # ------------------------------------------------------------------------------------------ persons

    def person(self, request: Request, person_id: int) -> Response:
        person = self.world.by_bangumi_person.get(person_id)
        if person is None:
            return self._not_found(request)
        return json_response(self.person_json(person, request.base_url))

    def person_json(self, person: Person, base: str) -> dict:
        names = person.names
        infobox = [
            {"key": "简体中文名", "value": names["zh-Hans"]},
            {
                "key": "别名",
                "value": [
                    {"k": "纯假名", "v": names["ja-Kana"]},
                    {"k": "罗马字", "v": names["ja-Latn"]},
                    *([{"k": "第二中文名", "v": names["zh-Hant"]}] if names["zh-Hant"] != names["zh-Hans"] else []),
                ],
            },
            {"key": "性别", "value": GENDER_ZH[person.gender]},
            {"key": "生日", "value": f"{person.birth_mon}月{person.birth_day}日"},
        ]
        images = _images(base, "prsn", person.bangumi_id)
        return {
            "last_modified": "2024-03-01T12:00:00Z",
            "blood_type": None,
            "birth_year": person.birth_year,
            "birth_day": person.birth_day,
            "birth_mon": person.birth_mon,
            "gender": person.gender,
            "images": images,
            "summary": person.summaries["zh-Hans"],
            "name": names["ja"],
            "img": images["large"],
            "infobox": infobox,
            "career": ["seiyu"],
            "stat": {"comments": person.index % 11, "collects": 10 + person.index * 5},
            "id": person.bangumi_id,
            "locked": False,
            "type": 1,
        }

    def person_characters(self, request: Request, person_id: int) -> Response:
        person = self.world.by_bangumi_person.get(person_id)
        if person is None:
            return self._not_found(request)
        rows = []
        for index in person.character_indexes:
            character: Character = self.world.characters[index]
            work = self.world.work_of(character)
            rows.append(
                {
                    "images": _images(request.base_url, "crt", character.bangumi_id),
                    "name": character.names["ja"],
                    "subject_name": work.titles["ja"],
                    "subject_name_cn": work.titles["zh-Hans"],
                    "subject_id": work.bangumi_id,
                    "staff": character.role,
                    "id": character.bangumi_id,
                    "type": 1,
                }
            )
        return json_response(rows)
