"""The sample site's MediaWiki APIs (Wikipedia zh / ja / en, moegirl): real formats, continuation, content."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import mwparserfromhell
import pytest

from acg2vec.sample_site.conformance import shape_mismatches
from acg2vec.sample_site.wikitext import CATEGORIES, HEADINGS, MOEGIRL_CHARACTERS, build_wiki
from acg2vec.sample_site.world import generate_world


def api(site, wiki: str, **params: object) -> dict:
    path = "/api.php" if wiki == "moegirl" else "/w/api.php"
    url = site.url_for(wiki if wiki == "moegirl" else f"wikipedia/{wiki}") + path
    query = urllib.parse.urlencode({"format": "json", **params})
    with urllib.request.urlopen(f"{url}?{query}", timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def walk_category(site, wiki: str, category: str, **extra: object) -> list[dict]:
    members, token, rounds = [], None, 0
    while True:
        params = {"action": "query", "list": "categorymembers", "cmtitle": category, "cmlimit": 7, **extra}
        if token:
            params["cmcontinue"] = token
        answer = api(site, wiki, **params)
        members += answer["query"]["categorymembers"]
        rounds += 1
        if "continue" not in answer:
            return members
        assert answer["continue"]["continue"] == "-||"
        token = answer["continue"]["cmcontinue"]
        assert rounds < 50


@pytest.mark.unit
def test_every_work_has_an_article_on_each_wiki_it_should():
    world = generate_world(seed=0, posts=10)
    for wiki in ("zh", "ja", "en", "moegirl"):
        built = build_wiki(world, wiki)
        articles = [p for p in built.pages.values() if p.work_index is not None]
        expected = [w for w in world.works if (w.moegirl_title if wiki == "moegirl" else w.wiki_titles.get(wiki))]
        assert len(articles) == len(expected)
        for page in articles:
            code = mwparserfromhell.parse(page.wikitext)
            assert code.filter_templates() and code.filter_wikilinks() and code.filter_tags()
            assert [level for level, _ in page.headings].count(3) >= 1  # nested sections
            assert page.headings[0][1] == HEADINGS[wiki][0]
            work = world.works[page.work_index]
            summary = work.summaries["en" if wiki == "en" else "ja" if wiki == "ja" else "zh-Hans"]
            assert summary in page.wikitext
        assert sum(1 for p in built.pages.values() if p.ns == 1) == 1
        assert sum(1 for p in built.pages.values() if "disambiguation" in p.pageprops) == 1
    # Not every work has an English article, so some interlanguage links are missing.
    assert len(build_wiki(world, "en").pages) < len(build_wiki(world, "ja").pages)


@pytest.mark.integration
@pytest.mark.parametrize("wiki", ["zh", "ja", "en", "moegirl"])
def test_category_walk_with_continue_lists_every_member_once(sample_site, wiki):
    category = CATEGORIES[wiki]["anime"]
    members = walk_category(sample_site, wiki, category)
    titles = [m["title"] for m in members]
    assert len(titles) == len(set(titles))
    world = sample_site.world
    expected_articles = {w.moegirl_title if wiki == "moegirl" else w.wiki_titles.get(wiki) for w in world.anime} - {
        None
    }
    assert {m["title"] for m in members if m["ns"] == 0} >= expected_articles
    assert sum(1 for m in members if m["ns"] == 1) == 1  # the talk page, to be skipped
    only_articles = walk_category(sample_site, wiki, category, cmnamespace=0)
    assert all(m["ns"] == 0 for m in only_articles) and len(only_articles) == len(members) - 1
    assert all(set(m) == {"pageid", "ns", "title"} for m in members)


@pytest.mark.integration
def test_generator_categorymembers_with_props(sample_site):
    answer = api(
        sample_site,
        "zh",
        action="query",
        generator="categorymembers",
        gcmtitle=CATEGORIES["zh"]["anime"],
        gcmlimit=5,
        prop="pageprops|langlinks",
        formatversion=2,
    )
    assert answer["continue"]["continue"] == "gcmcontinue||" and answer["continue"]["gcmcontinue"]
    assert len(answer["query"]["pages"]) == 5


@pytest.mark.integration
@pytest.mark.parametrize("formatversion", [1, 2])
def test_query_props_langlinks_categories_pageprops_extracts(sample_site, formatversion):
    world = sample_site.world
    work = next(w for w in world.anime if "en" in w.wiki_titles)
    answer = api(
        sample_site,
        "ja",
        action="query",
        prop="langlinks|categories|pageprops|extracts",
        titles=f"{work.wiki_titles['ja']}|存在しないページ",
        exintro=1,
        explaintext=1,
        formatversion=formatversion,
    )
    pages = answer["query"]["pages"]
    pages = pages if formatversion == 2 else list(pages.values())
    page = next(p for p in pages if p["title"] == work.wiki_titles["ja"])
    missing = next(p for p in pages if p["title"] == "存在しないページ")
    assert missing["missing"] == (True if formatversion == 2 else "")
    key = "title" if formatversion == 2 else "*"
    assert {link["lang"]: link[key] for link in page["langlinks"]} == {
        "zh": work.wiki_titles["zh"],
        "en": work.wiki_titles["en"],
    }
    assert {"ns": 14, "title": CATEGORIES["ja"]["anime"]} in page["categories"]
    assert page["pageprops"]["wikibase_item"].startswith("Q")
    extract = page["extract"]
    assert work.titles["ja"] in extract and "<ref" not in extract and "{{" not in extract and "==" not in extract


@pytest.mark.integration
def test_disambiguation_page_is_marked(sample_site):
    members = walk_category(sample_site, "en", CATEGORIES["en"]["anime"])
    titles = "|".join(m["title"] for m in members if m["ns"] == 0)
    answer = api(sample_site, "en", action="query", prop="pageprops", titles=titles, formatversion=2)
    flagged = [p["title"] for p in answer["query"]["pages"] if "disambiguation" in p.get("pageprops", {})]
    assert len(flagged) == 1 and flagged[0].endswith("(disambiguation)")


@pytest.mark.integration
@pytest.mark.parametrize("formatversion", [1, 2])
def test_parse_wikitext_and_sections(sample_site, formatversion):
    work = sample_site.world.anime[2]
    answer = api(
        sample_site,
        "zh",
        action="parse",
        page=work.wiki_titles["zh"],
        prop="wikitext|sections",
        formatversion=formatversion,
    )
    parse = answer["parse"]
    wikitext = parse["wikitext"] if formatversion == 2 else parse["wikitext"]["*"]
    assert work.summaries["zh-Hans"] in wikitext
    sections = parse["sections"]
    assert [s["line"] for s in sections[:3]] == list(HEADINGS["zh"][:3])
    assert [s["number"] for s in sections[:4]] == ["1", "2", "2.1", "2.2"] or [s["number"] for s in sections[:3]] == [
        "1",
        "2",
        "2.1",
    ]
    for section in sections:
        heading = f"{'=' * int(section['level'])} {section['line']} {'=' * int(section['level'])}"
        offset = section["byteoffset"]
        assert wikitext.encode("utf-8")[offset:].decode("utf-8").startswith(heading)
    missing = api(sample_site, "zh", action="parse", page="不存在的页面", prop="wikitext")
    assert missing["error"]["code"] == "missingtitle"


@pytest.mark.integration
def test_moegirl_character_pages_have_the_character_template(sample_site):
    members = walk_category(sample_site, "moegirl", MOEGIRL_CHARACTERS)
    world = sample_site.world
    assert len(members) == sum(len(w.character_indexes) for w in world.anime)
    answer = api(sample_site, "moegirl", action="parse", page=members[0]["title"], prop="wikitext", formatversion=2)
    code = mwparserfromhell.parse(answer["parse"]["wikitext"])
    template = code.filter_templates(matches=lambda t: t.name.matches("人物信息"))[0]
    assert {"本名", "声优", "萌点"} <= {str(p.name).strip() for p in template.params}


@pytest.mark.integration
def test_revisions_and_siteinfo(sample_site):
    work = sample_site.world.anime[0]
    answer = api(
        sample_site,
        "en",
        action="query",
        prop="revisions",
        rvprop="content",
        rvslots="main",
        titles=work.wiki_titles["en"],
        formatversion=2,
    )
    content = answer["query"]["pages"][0]["revisions"][0]["slots"]["main"]["content"]
    assert content.startswith("{{Short description")
    general = api(sample_site, "ja", action="query", meta="siteinfo", formatversion=2)["query"]["general"]
    assert general["lang"] == "ja" and general["articlepath"] == "/wiki/$1"
    status_html = urllib.request.urlopen(
        sample_site.url_for("wikipedia/en") + "/w/api.php?action=query&meta=siteinfo", timeout=10
    )
    assert status_html.headers["content-type"].startswith("text/html")  # no format=json: the jsonfm page


@pytest.mark.integration
def test_mediawiki_matches_the_real_captures(sample_site, shared_fixtures):
    real_query = json.loads((shared_fixtures / "mediawiki" / "wptools_query.json").read_text(encoding="utf-8"))
    real_parse = json.loads((shared_fixtures / "mediawiki" / "wptools_parse.json").read_text(encoding="utf-8"))
    real_site = json.loads((shared_fixtures / "mediawiki" / "wptools_siteinfo.json").read_text(encoding="utf-8"))
    title = sample_site.world.anime[0].wiki_titles["en"]
    ours = api(
        sample_site,
        "en",
        action="query",
        prop="extracts|info|pageprops",
        inprop="url",
        exintro=1,
        titles=title,
        formatversion=2,
    )
    real_page = real_query["response"]["query"]["pages"][0]
    ours_page = ours["query"]["pages"][0]
    shared = {k: v for k, v in real_page.items() if k in ours_page}
    assert {"pageid", "ns", "title", "extract", "pageprops", "touched", "lastrevid", "length", "fullurl"} <= set(
        shared
    )
    assert shape_mismatches(ours_page, shared) == []
    assert ours["batchcomplete"] is True and real_query["response"]["batchcomplete"] is True
    parse = api(
        sample_site, "en", action="parse", page=title, prop="wikitext|properties|displaytitle", formatversion=2
    )["parse"]
    wanted = {
        k: real_parse["response"]["parse"][k] for k in ("title", "pageid", "wikitext", "properties", "displaytitle")
    }
    assert shape_mismatches(parse, wanted) == []
    general = api(sample_site, "en", action="query", meta="siteinfo", formatversion=2)["query"]["general"]
    real_general = real_site["response"]["query"]["general"]
    assert len(set(general) & set(real_general)) >= 15
    assert shape_mismatches(general, {k: v for k, v in real_general.items() if k in general}) == []


@pytest.mark.integration
def test_unknown_action_is_an_api_error(sample_site):
    assert api(sample_site, "en", action="nonsense")["error"]["code"] == "badvalue"
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(sample_site.url_for("wikipedia/en") + "/wiki/No_such_page", timeout=10)
