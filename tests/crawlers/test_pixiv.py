"""The pixiv importer: hand-made AJAX / app-API files, the real captures, and a whole import run."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler

from acg2vec.crawlers.items import Illust, TagTranslation, item_from_dict
from acg2vec.crawlers.pixiv import PixivImportSpider, find_illusts, illust_from_ajax
from acg2vec.crawlers.runner import run_spider
from acg2vec.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "pixiv"


def make_spider(folder: Path) -> PixivImportSpider:
    return PixivImportSpider.from_crawler(get_crawler(PixivImportSpider), from_dir=str(folder))


def parse(spider: PixivImportSpider, path: Path) -> list:
    url = path.resolve().as_uri()
    return list(
        spider.parse_file(TextResponse(url=url, body=path.read_bytes(), encoding="utf-8", request=Request(url)))
    )


@pytest.mark.unit
def test_ajax_body_gives_the_illust_and_its_tag_translations():
    spider = make_spider(FIXTURES)
    illust, *tags = parse(spider, FIXTURES / "ajax_illust_1001.json")
    assert illust == Illust(
        source="pixiv", source_id="1001", url="https://www.pixiv.net/artworks/1001", fetched_at=illust.fetched_at,
        id=1001, title="夏の海", tags=["オリジナル", "海", "夏"], views=25000, bookmarks=1500, likes=1200,
        comments=8, sanity_level=2, x_restrict=0, width=1000, height=1414, created_at="2021-07-01T12:00:00+00:00",
        user_id="77",
    )  # fmt: skip
    assert [(t.tag, t.translations, t.romaji) for t in tags] == [
        ("オリジナル", {"en": "original", "zh-Hans": "原创"}, "orijinaru"),
        ("海", {"en": "sea", "zh-Hant": "海"}, None),
    ]
    assert all(isinstance(t, TagTranslation) and t.source_id == t.tag for t in tags)


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
    (tag,) = [i for i in items if isinstance(i, TagTranslation)]
    assert (tag.tag, tag.translations) == ("星空", {"en": "starry sky"})
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
        for item, tag in zip(translations, with_translation, strict=True):
            assert item.translations == {
                ("zh-Hans" if k == "zh" else k): v for k, v in tag.get("translation", {}).items()
            }


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
    assert {t.tag for t in read_kind(raw, "tag_translation")} == {"オリジナル", "海", "星空"}
    assert report.written == {"illust": 3, "tag_translation": 3}
    assert report.bad_input == {"api-error": 1, "bad-json": 1, "no-illust-found": 1}  # notes.txt is not read
    assert json.loads((raw / "manifest.json").read_text())["items"] == {"illust": 3, "tag_translation": 3}


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
    from acg2vec.crawlers.sample_site import start_sample_site

    with start_sample_site(posts=30) as site:
        site.write_pixiv_exports(tmp_path / "exports")
        expected = sorted(p.pixiv_id for p in site.world.pixiv_posts)
    report = run_spider("pixiv", workspace=Workspace.at(workdir), spider_args={"from_dir": str(tmp_path / "exports")},
                        throttle=False, quiet=True, timeout=120)  # fmt: skip
    illusts = read_kind(workdir / "raw" / "pixiv", "illust")
    assert sorted(i.id for i in illusts) == expected
    assert report.bad_input == {} and report.written["illust"] == len(expected)
    assert all(i.views is not None and i.bookmarks is not None for i in illusts)
