"""MyAnimeList anime pages into a Work, in both of MAL's layouts: real pages, synonyms, dates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse, Request

from acg2vec.crawlers.items import Work
from acg2vec.crawlers.parsers.mal_html import _mal_date, split_synonyms, work_from_mal_html

MAL = "http://127.0.0.1:8000/mal"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("aired", "date"),
    [
        ("Oct 23, 2005 to Jun 19, 2006", "2005-10-23"),
        ("Apr 2020 to ?", "2020-04"),
        ("2019", "2019"),
        ("Not available", None),
    ],
)
def test_mal_dates(aired: str, date: str | None) -> None:
    assert _mal_date(aired) == date


def real_mal_page(path: Path) -> HtmlResponse:
    body = path.read_bytes()
    url = re.search(rb'<link rel="canonical" href="([^"]+)"', body).group(1).decode()
    return HtmlResponse(url=url, body=body, encoding="utf-8", request=Request(url))


def all_titles_but_main(work: Work) -> set[str]:
    """What other projects call a page's synonyms: every alternative title, whatever its language."""
    return {t for k, t in work.titles.items() if k != "ja-Latn"} | set(work.aliases)


@pytest.mark.unit
def test_real_mal_pages_in_todays_layout(shared_fixtures: Path) -> None:
    real = shared_fixtures / "myanimelist"
    expected = json.loads((real / "expected_title_synonyms.json").read_text(encoding="utf-8"))
    works = {name: work_from_mal_html(real_mal_page(real / name)) for name in expected}
    for name, want in expected.items():
        if "title" in want:
            assert works[name].titles["ja-Latn"] == want["title"]
        if "synonyms" in want:
            assert all_titles_but_main(works[name]) == set(want["synonyms"])

    pretear = works["synonyms__multiple_languages_one_each.html"]
    assert pretear.source_id == "100" and pretear.ids == {"mal": "100"}
    assert pretear.titles == {
        "ja-Latn": "Shin Shirayuki-hime Densetsu Prétear",
        "en": "Prétear: The New Legend of Snow White",
        "fr": "Prétear",
        "ja": "新白雪姫伝説プリーティア",
    }
    assert pretear.aliases == ["Shin Shirayuki-hime Densetsu Pretear"]
    assert pretear.tags == ["Drama", "Fantasy", "Romance", "Mahou Shoujo", "Reverse Harem", "Super Power", "Shoujo"]
    assert (pretear.type, pretear.episodes, pretear.air_date) == ("tv", 13, "2001-04-04")
    assert pretear.summaries["en"].startswith("Due to her father's remarriage, robust 16-year-old Himeno")
    assert pretear.character_ids[:3] == ["546", "545", "547"] and len(pretear.character_ids) == 10

    mami = works["synonyms__one_synonym.html"]
    assert mami.titles == {
        "ja-Latn": "Esper Mami Special: My Angel Mami-chan",
        "ja": "エスパー魔美スペシャル マイエンジェル魔美ちゃん",
    }
    assert mami.aliases == [] and mami.tags == ["Comedy", "Supernatural", "Super Power"]
    assert (mami.type, mami.episodes, mami.air_date) == ("special", 1, "1988-12-27")
    assert mami.summaries == {"en": "An end-of-year special, aired between episodes 84 and 85."}

    kenshin = works["title__english_and_original_title.html"]
    assert kenshin.titles == {
        "ja-Latn": "Rurouni Kenshin: Meiji Kenkaku Romantan",
        "en": "Rurouni Kenshin",
        "de": "Rurouni Kenshin",
        "es": "Kenshin, el Guerrero Samurai",  # a comma inside a title in another language stays whole
        "fr": "Kenshin le Vagabond",
        "ja": "るろうに剣心 -明治剣客浪漫譚-",
    }
    # Today's layout separates synonyms with "; ".
    assert kenshin.aliases == ["Samurai X", "Wandering Kenshin: Romantic Tales from the Meiji Era"]
    assert kenshin.tags == ["Action", "Comedy", "Romance", "Historical", "Samurai", "Shounen"]
    assert (kenshin.type, kenshin.episodes, kenshin.air_date) == ("tv", 94, "1996-01-10")


TABLE_LIST_PAGE = """<html><body>
<h1 class="title-name">Fate/Grand Order: Shinsei Entaku Ryouiki Camelot 1 - Wandering; Agateram</h1>
<table class="table-list"><tr>
  <td class="list-title pr8">Alternative<br>Titles</td>
  <td class="di-ib">
    <span itemprop="name" style="display: none">Fate/Grand Order</span>
    <span class="fs12 fn-grey5 fw-n">English</span><br>
      Fate/Grand Order The Movie Divine Realm of the Round Table: Camelot Wandering; Agateram<br>
    <span class="fs12 fn-grey5 fw-n">Synonyms</span><br>
      CHAOS;CHILD SILENT SKY; Camelot Wandering; Agateram; FGO Camelot; FGO Camelot<br>
    <span class="fs12 fn-grey5 fw-n">Japanese</span><br>
      劇場版 Fate/Grand Order -神聖円卓領域キャメロット- 前編 Wandering; Agateram<br>
  </td></tr>
<tr><td class="list-title">Type</td><td><a href="/topanime.php?type=movie">Movie</a></td></tr>
<tr><td class="list-title">Episodes</td><td>Unknown</td></tr>
<tr><td class="list-title">Aired</td><td>Dec 4, 2020</td></tr>
<tr><td class="list-title">Genres</td><td><span itemprop="genre" style="display: none">Action</span><a href="/g/1">Action</a></td></tr>
</table></body></html>"""

DARK_TEXT_PAGE = """<html><body>
<h1 class="title-name h1_bold_none"><strong>Kono Naka ni Hitori, Imouto ga Iru!</strong></h1>
<div class="leftside">
<div class="spaceit_pad"><span class="dark_text">Synonyms:</span> NakaImo, Kono Naka ni Hitori, Imouto ga Iru! OVA, NakaImo, nakaimo</div>
<div class="spaceit_pad"><span class="dark_text">Japanese:</span> この中に1人、妹がいる!</div>
<div class="spaceit_pad"><span class="dark_text">English:</span> NakaImo - My Little Sister Is Among Them!</div>
<div class="js-alternative-titles hide"><div class="spaceit_pad"><span class="dark_text">German:</span> NakaImo</div></div>
<div class="spaceit_pad"><span class="dark_text">Type:</span> <a href="/topanime.php?type=tv">TV</a></div>
<div class="spaceit_pad"><span class="dark_text">Episodes:</span> 12</div>
<div class="spaceit_pad"><span class="dark_text">Aired:</span> Oct 7, 2012 to Dec 23, 2012</div>
<div class="spaceit_pad"><span class="dark_text">Genres:</span>
  <span itemprop="genre" style="display: none">Comedy</span><a href="/g/4">Comedy</a>,
  <span itemprop="genre" style="display: none">Romance</span><a href="/g/22">Romance</a></div>
<div class="spaceit_pad"><span class="dark_text">Theme:</span> <a href="/g/35">Harem</a></div>
<div class="spaceit_pad"><span class="dark_text">Demographic:</span> <a href="/g/42">Seinen</a></div>
</div></body></html>"""


def page(url: str, body: str) -> HtmlResponse:
    return HtmlResponse(url=url, body=body.encode(), encoding="utf-8", request=Request(url))


@pytest.mark.unit
def test_table_list_layout_splits_synonyms_on_semicolon_space_only() -> None:
    work = work_from_mal_html(page(f"{MAL}/anime/41/x", TABLE_LIST_PAGE))
    # "CHAOS;CHILD" has no space after its semicolon; "Wandering; Agateram" stands together in the other titles.
    assert work.aliases == ["CHAOS;CHILD SILENT SKY", "Camelot Wandering; Agateram", "FGO Camelot"]
    assert work.titles["ja"] == "劇場版 Fate/Grand Order -神聖円卓領域キャメロット- 前編 Wandering; Agateram"
    assert (work.type, work.episodes, work.air_date, work.tags) == ("movie", None, "2020-12-04", ["Action"])


@pytest.mark.unit
def test_dark_text_layout_splits_synonyms_on_comma_space_without_breaking_titles() -> None:
    work = work_from_mal_html(page(f"{MAL}/anime/14967/x", DARK_TEXT_PAGE))
    assert work.titles == {
        "ja-Latn": "Kono Naka ni Hitori, Imouto ga Iru!",
        "ja": "この中に1人、妹がいる!",
        "en": "NakaImo - My Little Sister Is Among Them!",
        "de": "NakaImo",
    }
    # De-duplicated (case too); "NakaImo" is already the German title.
    assert work.aliases == ["Kono Naka ni Hitori, Imouto ga Iru! OVA"]
    assert work.tags == ["Comedy", "Romance", "Harem", "Seinen"]
    assert (work.type, work.episodes, work.air_date) == ("tv", 12, "2012-10-07")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "separator", "others", "parts"),
    [
        ("A; B", "; ", [], ["A", "B"]),
        ("CHAOS;CHILD SILENT SKY", "; ", [], ["CHAOS;CHILD SILENT SKY"]),
        ("X, Y", ", ", ["Long X, Y Title"], ["X, Y"]),
        ("X, Y", ", ", ["Unrelated"], ["X", "Y"]),
    ],
)
def test_split_synonyms(text: str, separator: str, others: list[str], parts: list[str]) -> None:
    assert split_synonyms(text, separator, other_titles=others) == parts
