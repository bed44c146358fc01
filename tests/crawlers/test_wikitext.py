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
        ("{{nihongo|Star Traveller|星の旅人|Hoshi no Tabibito}} is", "Star Traveller is"),
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
