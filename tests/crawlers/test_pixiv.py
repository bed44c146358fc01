"""The pixiv importer: hand-made AJAX / app-API files, the real captures, and a whole import run."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler

from acg2vec.crawlers.feeds import bookkeeping
from acg2vec.crawlers.items import Illust, TagTranslation, item_from_dict
from acg2vec.crawlers.pixiv import (
    PixivImportSpider,
    TagBook,
    file_locale,
    find_illusts,
    illust_from_ajax,
    illust_from_app,
    translations_from_map,
)
from acg2vec.crawlers.runner import run_spider
from acg2vec.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "pixiv"


def make_spider(folder: Path, workdir: Path | None = None, **kwargs: object) -> PixivImportSpider:
    """The importer over ``folder``; with ``workdir`` its dead letters go to ``workdir/raw/pixiv/dead_letters/``."""
    settings = {"ACG2VEC_WORKSPACE": str(workdir), "ACG2VEC_SOURCE": "pixiv"} if workdir else None
    return PixivImportSpider.from_crawler(get_crawler(PixivImportSpider, settings), from_dir=str(folder), **kwargs)


def merged(spider: PixivImportSpider) -> dict[str, tuple[dict[str, str], str | None]]:
    """The tag translations the spider writes once every file is read: tag -> (translations, romaji)."""
    return {t.tag: (t.translations, t.romaji) for t in spider.write_translations(None)}


def parse(spider: PixivImportSpider, path: Path, order: int = 0) -> list:
    url = path.resolve().as_uri()
    response = TextResponse(url=url, body=path.read_bytes(), encoding="utf-8", request=Request(url))
    return list(spider.parse_file(response, order=order))


@pytest.mark.unit
def test_ajax_body_gives_the_illust_and_its_tag_translations():
    spider = make_spider(FIXTURES)
    (illust,) = parse(spider, FIXTURES / "ajax_illust_1001.json")
    assert illust == Illust(
        source="pixiv", source_id="1001", url="https://www.pixiv.net/artworks/1001", fetched_at=illust.fetched_at,
        id=1001, title="夏の海", tags=["オリジナル", "海", "夏"], views=25000, bookmarks=1500, likes=1200,
        comments=8, sanity_level=2, x_restrict=0, width=1000, height=1414, created_at="2021-07-01T12:00:00+00:00",
        user_id="77",
    )  # fmt: skip
    tags = list(spider.write_translations(None))
    assert [(t.tag, t.translations, t.romaji) for t in tags] == [
        ("オリジナル", {"en": "original", "zh-Hans": "原创"}, "orijinaru"),
        ("海", {"en": "sea", "zh-Hant": "海"}, None),
    ]
    assert all(isinstance(t, TagTranslation) and t.source_id == t.tag for t in tags)
    assert tags[0].url == "https://www.pixiv.net/artworks/1001"


@pytest.mark.unit
def test_app_api_objects_are_found_at_any_nesting():
    spider = make_spider(FIXTURES)
    items = parse(spider, FIXTURES / "app" / "app_illusts.json")
    illusts = [i for i in items if isinstance(i, Illust)]
    assert [(i.id, i.views, i.bookmarks, i.likes, i.sanity_level, i.x_restrict, i.user_id) for i in illusts] == [
        (2002, 900, 120, None, 4, 0, "88"),
        (2003, 5, 0, None, 2, 1, "89"),
    ]
    assert illusts[0].created_at == "2020-01-01T18:04:05+00:00"
    assert illusts[1].title is None
    assert not [i for i in items if isinstance(i, TagTranslation)]  # written once every file is read
    assert merged(spider) == {"星空": ({"en": "starry sky"}, None)}
    assert [
        kind for kind, _ in find_illusts({"a": [{"b": json.loads((FIXTURES / "ajax_illust_1001.json").read_text())}]})
    ] == ["ajax"]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "reason"),
    [("deleted.json", "api-error"), ("no_illust.json", "no-illust-found"), ("cut.json", "bad-json")],
)
def test_bad_files_are_counted_under_a_named_reason(name, reason):
    spider = make_spider(FIXTURES)
    assert parse(spider, FIXTURES / name) == []
    assert spider.crawler.stats.get_value(f"acg2vec/bad_input/{reason}") == 1


@pytest.mark.unit
def test_real_ajax_captures(shared_fixtures):
    paths = sorted((shared_fixtures / "pixiv").glob("*.json"))
    assert paths
    for path in paths:
        raw = json.loads(path.read_text(encoding="utf-8"))["body"]
        ((kind, obj),) = list(find_illusts(json.loads(path.read_text(encoding="utf-8"))))
        assert kind == "ajax"
        fields, translations = illust_from_ajax(obj)
        assert fields["id"] == int(raw["illustId"])
        assert fields["views"] == raw["viewCount"] and fields["bookmarks"] == raw["bookmarkCount"]
        assert fields["likes"] == raw["likeCount"] and fields["sanity_level"] == raw["sl"]
        assert fields["tags"] == [t["tag"] for t in raw["tags"]["tags"]]
        with_translation = [t for t in raw["tags"]["tags"] if t.get("translation") or t.get("romaji")]
        assert [t.tag for t in translations] == [t["tag"] for t in with_translation]
        # The body was served for pixiv's English pages (canonical https://www.pixiv.net/en/artworks/...).
        assert file_locale(json.loads(path.read_text(encoding="utf-8"))) == "en"


@pytest.mark.unit
def test_real_ajax_captures_field_by_field(shared_fixtures):
    spider = make_spider(shared_fixtures / "pixiv")
    first, second = sorted((shared_fixtures / "pixiv").glob("*.json"))
    (mayu,) = parse(spider, first, order=0)
    (nero,) = parse(spider, second, order=1)
    assert (mayu.id, mayu.title, mayu.views, mayu.bookmarks, mayu.likes, mayu.comments) == (
        32039274, "新しいお姫様", 378894, 23229, 23694, 74,
    )  # fmt: skip
    assert (mayu.sanity_level, mayu.x_restrict, mayu.width, mayu.height, mayu.user_id) == (2, 0, 642, 900, "341433")
    assert mayu.created_at == "2012-12-10T15:23:00+00:00"
    assert mayu.tags[:3] == ["MAYU", "VOCALOID", "VOCALOID3"] and len(mayu.tags) == 8
    assert (nero.id, nero.title, nero.views, nero.bookmarks, nero.likes) == (67729319, "独り言", 440535, 62398, 55509)
    assert merged(spider) == {
        "なにこれかわいい": ({"en": "incredibly cute"}, "nanikorekawaii"),
        "VOCALOID10000users入り": ({"en": "Vocaloid 10000+ bookmarks"}, "bo-karoidoichimannyu-za-zuiri"),
        "ふつくしい": ({"en": "beautiful"}, "futsukushii"),
        "ネロ・クラウディウス": ({"en": "Nero Claudius"}, "nerokuraudexiusu"),
        "セイバー・ブライド": ({"en": "Saber Bride"}, "seiba-buraido"),
        "ネロ": ({"en": "nero"}, "nero"),
        "嫁セイバー": ({"en": "Saber Bride"}, "yomeseiba-"),
        "赤セイバー": ({"en": "red saber"}, "akaseiba-"),
        "Fate/GO50000users入り": ({"en": "FGO 50000 Users"}, "feitoguranndoo-da-gomannyu-za-zuiri"),
        "Fate/EXTRA50000users入り": ({}, "feitoekusutoragomannyu-za-zuiri"),
    }


def ajax_body(tags: list[dict], *, canonical: str | None = None, illust_id: str = "5") -> dict:
    """An AJAX /ajax/illust/{id} response of the real shape, cut to the fields the importer reads."""
    body = {"illustId": illust_id, "illustTitle": "t", "viewCount": 10, "bookmarkCount": 2, "likeCount": 1, "sl": 2,
            "xRestrict": 0, "userId": "9", "tags": {"authorId": "9", "isLocked": False, "tags": tags}}  # fmt: skip
    if canonical:
        body["extraData"] = {"meta": {"canonical": canonical}}
    return {"error": False, "message": "", "body": body}


def write(folder: Path, name: str, data: object) -> Path:
    path = folder / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.unit
def test_translation_language_comes_from_the_files_locale_then_the_script(tmp_path):
    tag = [{"tag": "なにこれ素敵", "translation": {"en": "卧槽美哭"}}]
    # A Chinese client's response says so in its canonical URL: the "en" key holds Chinese.
    chinese = write(tmp_path, "a.json", ajax_body(tag, canonical="https://www.pixiv.net/zh/artworks/5"))
    # A body saved with its request URL: lang=zh_tw.
    taiwan = write(tmp_path, "b.json", {"url": "https://www.pixiv.net/ajax/illust/6?lang=zh_tw",
                                        **ajax_body([{"tag": "なにこれ素敵", "translation": {"en": "太美了"}}], illust_id="6")})  # fmt: skip
    # Neither: the script tells (Hangul).
    korean = write(
        tmp_path, "c.json", ajax_body([{"tag": "なにこれ素敵", "translation": {"en": "멋지다"}}], illust_id="7")
    )
    # pixiv's Japanese pages (no language folder) say nothing of the translation's language: English by script.
    english = write(tmp_path, "d.json", ajax_body([{"tag": "なにこれ素敵", "translation": {"en": "so nice"}}],
                                                  canonical="https://www.pixiv.net/artworks/8", illust_id="8"))  # fmt: skip
    spider = make_spider(tmp_path)
    for order, path in enumerate((chinese, taiwan, korean, english)):
        parse(spider, path, order)
    assert merged(spider) == {
        "なにこれ素敵": ({"en": "so nice", "ko": "멋지다", "zh-Hans": "卧槽美哭", "zh-Hant": "太美了"}, None)
    }


@pytest.mark.unit
def test_a_later_file_adds_a_language_and_a_conflict_keeps_the_first_file(tmp_path):
    app = {"illusts": [{"id": 1, "title": "x", "total_view": 1, "total_bookmarks": 1,
                        "tags": [{"name": "なにこれ素敵", "translated_name": "卧槽美哭"}]}]}  # fmt: skip
    first = write(tmp_path, "1.json", app)  # app API, client language unknown: Han only -> zh-Hans
    later = write(tmp_path, "2.json", ajax_body([{"tag": "なにこれ素敵", "translation": {"en": "how lovely"}}],
                                                canonical="https://www.pixiv.net/en/artworks/5"))  # fmt: skip
    conflict = write(tmp_path, "3.json", {"error": False, "body": {"illustManga": {"data": []}, "tagTranslation": {
        "なにこれ素敵": {"en": "what a beauty", "zh": "", "zh_tw": "", "ko": "", "romaji": "nanikoresuteki"}}}})  # fmt: skip
    spider = make_spider(tmp_path)
    # Read out of order: the first file still wins its language.
    parse(spider, conflict, 2)
    parse(spider, later, 1)
    parse(spider, first, 0)
    assert merged(spider) == {"なにこれ素敵": ({"en": "how lovely", "zh-Hans": "卧槽美哭"}, "nanikoresuteki")}
    assert spider.crawler.stats.get_value("acg2vec/skipped/translation-conflict") == 1


@pytest.mark.unit
def test_the_users_language_for_app_api_files(tmp_path):
    app = {"illust": {"id": 1, "title": "x", "total_view": 1, "sanity_level": 2,
                      "tags": [{"name": "星空", "translated_name": "星空"}, {"name": "海", "translated_name": "바다"}]}}  # fmt: skip
    path = write(tmp_path, "app.json", app)
    spider = make_spider(tmp_path, app_language="zh_tw")
    parse(spider, path)
    # The user said the client was Traditional Chinese: the script is not asked.
    assert merged(spider) == {"星空": ({"zh-Hant": "星空"}, None), "海": ({"zh-Hant": "바다"}, None)}
    with pytest.raises(ValueError, match="app_language must be one of"):
        make_spider(tmp_path, app_language="klingon")
    assert illust_from_app(app["illust"])[1][1].language == "ko"


@pytest.mark.unit
def test_tag_translation_maps_of_search_and_bookmark_responses(tmp_path):
    search = {"error": False, "body": {
        "illustManga": {"data": [{"id": "5", "title": "t", "tags": ["オリジナル", "女の子"]}], "total": 1},
        "tagTranslation": {
            "オリジナル": {"en": "original", "ko": "오리지널", "zh": "原创", "zh_tw": "原創", "romaji": "orijinaru"},
            "女の子": {"en": "girl", "ko": "", "zh": "女孩子", "zh_tw": "", "romaji": "onnanoko"},
        }}}  # fmt: skip
    bookmarks = {"error": False, "body": {"works": [], "total": 0, "tagTranslation": {
        "風景": {"en": "scenery", "zh": "风景", "romaji": "fuukei"}}}}  # fmt: skip
    spider = make_spider(tmp_path, tmp_path / "ws")
    assert parse(spider, write(tmp_path, "search.json", search)) == []
    assert parse(spider, write(tmp_path, "bookmarks.json", bookmarks), 1) == []
    assert merged(spider) == {
        "オリジナル": ({"en": "original", "ko": "오리지널", "zh-Hans": "原创", "zh-Hant": "原創"}, "orijinaru"),
        "女の子": ({"en": "girl", "zh-Hans": "女孩子"}, "onnanoko"),
        "風景": ({"en": "scenery", "zh-Hans": "风景"}, "fuukei"),
    }
    # A file with a tagTranslation map has something to import: not counted as empty.
    assert spider.crawler.stats.get_value("acg2vec/bad_input/no-illust-found") is None
    assert [t.language for t in translations_from_map({"x": {"zh_tw": "原創"}})] == ["zh-Hant"]
    # An entry that is no {language: text} object is counted and dead-lettered, not kept.
    parse(spider, write(tmp_path, "odd.json", {"body": {"tagTranslation": {"y": "yes"}}}), 2)
    list(spider.write_translations(None))
    assert spider.crawler.stats.get_value("acg2vec/bad_input/bad-tag-translation") == 1
    book = bookkeeping(spider.crawler)
    book.dead_letters.close()
    assert book.dead_letters.counters() == {"pixiv-bad-tag-translation": 1}
    with gzip.open(
        tmp_path / "ws" / "raw" / "pixiv" / "dead_letters" / "pixiv.jsonl.gz", "rt", encoding="utf-8"
    ) as fh:
        (letter,) = [json.loads(line) for line in fh]
    assert letter["step"] == "pixiv" and letter["record"]["data"] == {"tag": "y", "entry": "'yes'"}


@pytest.mark.unit
def test_a_japanese_translation_of_a_japanese_tag_is_counted_not_kept():
    book = TagBook()
    spider_less = [("ネロ", {"en": "ネロ"})]
    for tag, names in spider_less:
        _, found = illust_from_ajax(ajax_body([{"tag": tag, "translation": names}])["body"])
        for tr in found:
            book.add(tr)
    assert list(book.items()) == [] and book.into_japanese == 1


def read_kind(raw: Path, kind: str) -> list:
    out = []
    for path in sorted(raw.glob(f"{kind}-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            out.extend(item_from_dict(json.loads(line)) for line in fh)
    return out


@pytest.mark.integration
def test_import_run_writes_feeds_and_counts(workdir, tmp_path):
    report = run_spider("pixiv", workspace=Workspace.at(workdir), spider_args={"from_dir": str(FIXTURES)},
                        throttle=False, quiet=True, timeout=120)  # fmt: skip
    raw = workdir / "raw" / "pixiv"
    assert sorted(i.id for i in read_kind(raw, "illust")) == [1001, 2002, 2003]
    assert {t.tag: t.translations for t in read_kind(raw, "tag_translation")} == {
        "オリジナル": {"en": "original", "zh-Hans": "原创"},
        "海": {"en": "sea", "zh-Hant": "海"},
        "星空": {"en": "starry sky"},
    }
    assert report.written == {"illust": 3, "tag_translation": 3}
    assert report.bad_input == {"api-error": 1, "bad-json": 1, "no-illust-found": 1}  # notes.txt is not read
    assert json.loads((raw / "manifest.json").read_text())["items"] == {"illust": 3, "tag_translation": 3}

    # A damaged shard: the next import sets it aside, names it and imports exactly its items again.
    (shard,) = raw.glob("illust-*.jsonl.gz")
    shard.write_bytes(shard.read_bytes()[:-9])  # the gzip trailer cut off
    again = run_spider("pixiv", workspace=Workspace.at(workdir), spider_args={"from_dir": str(FIXTURES)},
                       throttle=False, quiet=True, timeout=120)  # fmt: skip
    assert again.written == {"illust": 3} and again.bad_input["damaged-file"] == 1
    (entry,) = again.damaged
    assert entry["sentence"].startswith(f"{shard} is damaged (") and entry["restored"] == entry["items_lost"] == 3
    assert f"this run of `acg2vec crawl pixiv --from {FIXTURES}` fetches them again" in entry["sentence"]
    assert sorted(i.id for i in read_kind(raw, "illust")) == [1001, 2002, 2003]


@pytest.mark.integration
def test_cli_imports_the_real_captures(workdir, shared_fixtures):
    from typer.testing import CliRunner

    from acg2vec.cli import app

    result = CliRunner().invoke(app, ["-q", "crawl", "pixiv", "--from", str(shared_fixtures / "pixiv")])
    assert result.exit_code == 0, result.output
    illusts = read_kind(workdir / "raw" / "pixiv", "illust")
    assert sorted(i.id for i in illusts) == [32039274, 67729319]
    assert all(i.views and i.bookmarks and i.likes for i in illusts)
    assert "tag_translation" in result.output


@pytest.mark.unit
def test_cli_refuses_a_missing_folder(workdir, tmp_path):
    from typer.testing import CliRunner

    from acg2vec.cli import app
    from acg2vec.errors import UserError

    result = CliRunner().invoke(app, ["crawl", "pixiv", "--from", str(tmp_path / "nowhere")])
    assert isinstance(result.exception, UserError) and "not a folder" in str(result.exception)


@pytest.mark.integration
def test_import_of_the_sample_sites_pixiv_exports(workdir, tmp_path):
    from acg2vec.sample_site import start_sample_site

    with start_sample_site(posts=30) as site:
        site.write_pixiv_exports(tmp_path / "exports")
        expected = sorted(p.pixiv_id for p in site.world.pixiv_posts)
    report = run_spider("pixiv", workspace=Workspace.at(workdir), spider_args={"from_dir": str(tmp_path / "exports")},
                        throttle=False, quiet=True, timeout=120)  # fmt: skip
    illusts = read_kind(workdir / "raw" / "pixiv", "illust")
    assert sorted(i.id for i in illusts) == expected
    assert report.bad_input == {} and report.written["illust"] == len(expected)
    assert all(i.views is not None and i.bookmarks is not None for i in illusts)


@pytest.mark.unit
def test_cli_refuses_an_unknown_language(workdir, tmp_path):
    from typer.testing import CliRunner

    from acg2vec.cli import app
    from acg2vec.errors import UserError

    result = CliRunner().invoke(app, ["crawl", "pixiv", "--from", str(tmp_path), "--language", "klingon"])
    assert isinstance(result.exception, UserError) and "app_language must be one of" in str(result.exception)
