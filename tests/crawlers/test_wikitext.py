"""Wikitext to plain text: sections, stripped markup, inline text templates, infobox fields."""

from __future__ import annotations

import pytest

from acg2vec.crawlers import wikitext

PAGE = """{{Infobox animanga/Header|name=Star|ja_kanji={{lang|ja|星}}}}
'''Star''' ({{lang|ja|星}}) is a [[manga|comic]] by [[Someone]]<ref>{{cite web|title=x}}</ref>. [[File:x.png|thumb|A caption]] See [[Other#Part]].
{| class="wikitable"
| cell || cell
|}
* item one
* item {{黑幕|hidden}}
== Plot ==
First line<br/>second &amp; third
=== Part 1 ===
Deep <!-- note --> text.<gallery>
x.png|caption
</gallery>
== References ==
{{Reflist}}
[[Category:Manga]]
[[ja:星]]
"""


@pytest.mark.unit
def test_split_sections_gives_heading_paths_and_plain_text() -> None:
    sections = wikitext.split_sections(PAGE)
    assert [(s.heading_path, s.text) for s in sections] == [
        ([], "Star (星) is a comic by Someone. See Other.\n\nitem one\nitem hidden"),
        (["Plot"], "First line\nsecond & third"),
        (["Plot", "Part 1"], "Deep text."),
        (["References"], ""),
    ]


@pytest.mark.unit
def test_heading_levels_pop_back_to_their_parent() -> None:
    text = "intro\n== A ==\na\n=== A1 ===\na1\n==== A1x ====\nx\n== B ==\nb\n=== B1 ===\nb1"
    paths = [s.heading_path for s in wikitext.split_sections(text)]
    assert paths == [[], ["A"], ["A", "A1"], ["A", "A1", "A1x"], ["B"], ["B", "B1"]]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("source", "plain"),
    [
        ("{{nihongo|Star Traveller|星の旅人|Hoshi no Tabibito}} is", "Star Traveller (星の旅人) is"),
        ("本名{{jpn|泉|いずみ|こなた}}", "本名泉こなた"),
        ("{{jpn|j=星|hg=ほし}}", "星"),
        ("[[:Category:Anime]] and [[Category:Hidden]]", "Category:Anime and"),
        ("[https://example.org the site] and [https://example.org]", "the site and"),
        ("__NOTOC__\nText", "Text"),
        ("{{unknown template|with|args}}kept", "kept"),
        ("<span style='color:red'>red</span> <s>struck</s>", "red"),
        (":indented\n;term", "indented\nterm"),
    ],
)
def test_to_plain_text(source: str, plain: str) -> None:
    assert wikitext.to_plain_text(source) == plain


@pytest.mark.unit
def test_find_templates_matches_names_and_sub_templates() -> None:
    boxes = wikitext.find_templates(PAGE, {"infobox animanga"})
    assert [wikitext.template_name(b) for b in boxes] == ["infobox animanga/header"]
    assert wikitext.template_fields(boxes[0]) == {"name": "Star", "ja_kanji": "星"}
    assert wikitext.find_templates(PAGE, {"infobox film"}) == []


@pytest.mark.unit
def test_template_links_reads_linked_titles_in_a_field() -> None:
    (box,) = wikitext.find_templates(
        "{{人物信息|声优={{cate|[[平野绫]]<ref>x</ref><br/>[[广桥凉#a]]|x}}|别号=a}}", {"人物信息"}
    )
    assert wikitext.template_links(box, "声优") == ["平野绫", "广桥凉"]
    assert wikitext.template_links(box, "missing") == []


@pytest.mark.unit
def test_real_parse_capture_sections(shared_fixtures) -> None:  # noqa: ANN001
    import json

    data = json.loads((shared_fixtures / "mediawiki" / "wptools_parse.json").read_text(encoding="utf-8"))
    text = data["response"]["parse"]["wikitext"]
    sections = wikitext.split_sections(text)
    assert sections[0].heading_path == [] and sections[0].text.startswith("Douglas Noel Adams (11 March 1952")
    headings = [s.heading_path for s in sections]
    assert ["Early life"] in headings and ["Career", "Writing"] in headings
    for section in sections:
        assert "{{" not in section.text and "[[" not in section.text and "<ref" not in section.text


# A zh Wikipedia intro of the real shape: the work's title and original in {{日本作品}}, the author and the
# magazine in {{tsl}} (shown text, else the local title), a reading in {{lang}}, a citation and {{NoteTA}}.
ZH_INTRO = (
    "{{NoteTA|G1=Anime}}\n"
    "{{日本作品|忍者與殺手的同住日常|忍者と殺し屋のふたりぐらし}}，简称「忍殺」（{{lang|ja|にんころ}}），"
    "是{{tsl|ja|ハンバーガー (漫画家)|漢堡 (漫畫家)|漢堡}}創作的[[日本漫畫]]作品，"
    "於Vol.90起在雜誌《{{tsl|ja|コミック電撃だいおうじ|漫畫電擊大王}}》上連載"
    "<ref>{{Cite web|url=https://natalie.mu/comic/news/417956|title=x|language=ja}}</ref>。{{Citation needed|date=2025-03}}"
)


@pytest.mark.unit
def test_zh_intro_keeps_title_original_author_and_magazine() -> None:
    assert wikitext.to_plain_text(ZH_INTRO) == (
        "忍者與殺手的同住日常（忍者と殺し屋のふたりぐらし），简称「忍殺」（にんころ），"
        "是漢堡創作的日本漫畫作品，於Vol.90起在雜誌《漫畫電擊大王》上連載。"
    )


@pytest.mark.unit
@pytest.mark.parametrize(
    ("source", "plain"),
    [
        # zh: translated links show the local title (3rd), or the shown text (4th), or the foreign title (2nd)
        ("{{tsl|ja|コミック電撃だいおうじ|漫畫電擊大王}}", "漫畫電擊大王"),
        ("{{tsl|en|Foo Bar}}", "Foo Bar"),
        ("{{Translink|ja|京都アニメーション|京都動畫|京阿尼}}", "京阿尼"),
        ("{{link-ja|京都動畫|京都アニメーション}}", "京都動畫"),
        ("{{le|白箱|Shirobako}}", "白箱"),
        ("{{en-link|白箱|Shirobako}}", "白箱"),
        ("{{link-fr|巴黎|Paris}}", "巴黎"),
        ("{{ill|虚构作品|en|Fiction}}", "虚构作品"),
        # title with its original in parentheses
        ("{{nihongo|轻音少女|けいおん!|Keion!|lead=yes}}", "轻音少女（けいおん!）"),
        ("{{Nihongo|K-On!|けいおん!|Keion!}}", "K-On! (けいおん!)"),
        ("{{nihongo||けいおん!}}", "けいおん!"),
        ("{{Nihongo3|Keion!|けいおん!|K-On!}}", "Keion! (けいおん!)"),
        ("{{読み仮名|涼宮ハルヒ|すずみやハルヒ}}", "涼宮ハルヒ（すずみやハルヒ）"),
        # language wrappers of any language, ruby base text
        ("{{lang|ja|にんころ}}", "にんころ"),
        ("{{lang-ja|忍者}}", "忍者"),
        ("{{Lang-ko|닌자}}", "닌자"),
        ("{{lj|ニンジャ}}", "ニンジャ"),
        ("{{ruby|漢字|かんじ}}", "漢字"),
        ("{{Ruby|忍殺|にんころ}}", "忍殺"),
        ("{{photrans|学园都市|Academy City}}", "学园都市"),
        ("{{transl|ja|Ninja to Koroshiya}}", "Ninja to Koroshiya"),
        ("{{要出典範囲|2021年に連載開始|date=2024年1月}}", "2021年に連載開始"),
        # templates that render nothing in running text are dropped
        ("a{{Cite web|url=x|title=y}}b", "ab"),
        ("a{{Citation needed|date=2020}}b", "ab"),
        ("a{{Navbox|name=x|list1=[[y]]}}b", "ab"),
        ("a{{Expand|date=2020}}{{Main|Other}}b", "ab"),
        ("a{{efn|note}}{{sfn|X|2020}}b", "ab"),
    ],
)
def test_inline_templates_keep_what_they_show(source: str, plain: str) -> None:
    assert wikitext.to_plain_text(source) == plain


@pytest.mark.unit
def test_lead_aliases_and_trailing_notes() -> None:
    assert wikitext.lead_aliases(wikitext.to_plain_text(ZH_INTRO)) == ["忍殺"]
    text = "《轻音少女》，又名《K-ON!》、「K-ON！轻音部」，台灣譯名為《K-ON！輕音部》，是一部漫画。"
    assert wikitext.lead_aliases(text) == ["K-ON!", "K-ON！轻音部", "K-ON！輕音部"]
    assert wikitext.lead_aliases("没有别的名字。") == []
    assert wikitext.strip_trailing_note("忍者與殺手的同住日常（台灣角川）") == "忍者與殺手的同住日常"
    assert wikitext.strip_trailing_note("（台灣角川）") == "（台灣角川）"


@pytest.mark.unit
def test_namespaces_and_disambiguation_pages() -> None:
    assert not wikitext.is_article_title("Talk:Gintama")
    assert not wikitext.is_article_title("User talk:Someone")
    assert not wikitext.is_article_title("Template:Infobox animanga")
    assert not wikitext.is_article_title("Wikipedia:About")
    assert not wikitext.is_article_title("ノート:銀魂")
    assert not wikitext.is_article_title("讨论:银魂")
    assert wikitext.is_article_title("Re:ゼロから始める異世界生活")
    assert wikitext.is_article_title("Steins;Gate")
    assert wikitext.is_disambiguation_title("Mercury (disambiguation)", [])
    assert wikitext.is_disambiguation_title("春日", ["消歧义页"])
    assert wikitext.is_disambiguation_title("かすが", ["曖昧さ回避"])
    assert not wikitext.is_disambiguation_title("Gintama", ["Anime series"])
    # A spider passes its own wiki's local names; the canonical ones (and their talk pages) hold everywhere.
    assert not wikitext.is_article_title("ファイル:x.png", frozenset({"ファイル"}))
    assert wikitext.is_article_title("ファイル:x.png", frozenset())
    assert not wikitext.is_article_title("Help_talk:Contents", frozenset())
    assert wikitext.namespace_of("User_talk:Someone") == "user talk" and wikitext.namespace_of("Gintama") == ""
