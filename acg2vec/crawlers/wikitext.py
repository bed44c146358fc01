"""Wikitext to plain text with mwparserfromhell: sections by heading, infobox fields, disambiguation marks.

References, files, categories, tables, galleries and comments are removed; links keep their shown text.
Templates are removed unless they show running text: the inline templates zh, ja and en anime articles and
moegirl write names and titles with keep what they display (see :data:`INLINE_TEMPLATES` and
:data:`SHOWN_TEMPLATES`): ``{{tsl|ja|外文|中文|显示}}`` its local title, ``{{日本作品|中文|日文}}`` and
``{{nihongo|English|漢字|romaji}}`` the title with the Japanese in parentheses, ``{{lang|ja|…}}``,
``{{lang-ja|…}}``, ``{{link-ja|…}}``, ``{{ruby|漢字|かんじ}}`` ... their text. Templates that render nothing
in running text (citations, navboxes, maintenance tags, infoboxes read separately) are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import mwparserfromhell
from mwparserfromhell.nodes import (
    Argument,
    Comment,
    ExternalLink,
    Heading,
    HTMLEntity,
    Tag,
    Template,
    Text,
    Wikilink,
)
from mwparserfromhell.wikicode import Wikicode

# Template name (lower case, spaces not underscores) -> index of the positional argument that holds the text
# it shows. Language wrappers ({{lang-ko|…}}, {{link-fr|…}}) of any language follow the same rule by prefix.
INLINE_TEMPLATES: dict[str, int] = {
    # language wrappers (Wikipedia in every language; {{lj}} / {{le}} are zh and moegirl short forms)
    "lang": 2,
    "lang-ja": 1,
    "lang-en": 1,
    "lang-zh": 1,
    "lj": 1,
    "le": 1,
    "zh-hans": 1,
    "zh-hant": 1,
    "transl": 2,
    "transliteration": 2,
    # links to an article on another wiki, shown under the local name: {{link-ja|中文|日本語}}, {{ill|…}}
    "link-ja": 1,
    "link-en": 1,
    "en-link": 1,
    "ja-link": 1,
    "ill": 1,
    "interlanguage link": 1,
    "仮リンク": 1,
    # ruby: the base text ({{ruby|漢字|かんじ}}; moegirl's {{photrans|文字|注音}})
    "ruby": 1,
    "ruby-ja": 1,
    "photrans": 1,
    "photrans2": 1,
    "nihongo2": 1,
    "nihongo foot": 1,
    # formatting that shows its argument
    "nowrap": 1,
    "nobr": 1,
    "small": 1,
    "smaller": 1,
    "big": 1,
    "abbr": 1,
    "visible anchor": 1,
    "vanchor": 1,
    "補助漢字フォント": 1,
    "小さな文字": 1,
    # ja Wikipedia's inline maintenance tags wrap the text they question: the text stays
    "要出典範囲": 1,
    "独自研究範囲": 1,
    "要検証範囲": 1,
    "疑問点範囲": 1,
    # moegirl
    "黑幕": 1,
    "heimu": 1,
    "胡话": 1,
    "文字模糊": 1,
    "color": 2,
    "颜色": 2,
    "coloredtext": 2,
    "彩色文字": 2,
}
_LANGUAGE_WRAPPER = re.compile(r"^(?:lang|link)-[a-z]{2,3}(?:-[a-z]+)?$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


def _arg(template: Template, index: int, options: TextOptions) -> str:
    name = str(index)
    return _plain(template.get(name).value, options).strip() if template.has(name) else ""


def _with_original(shown: str, original: str) -> str:
    """``中文（日本語）`` / ``English (日本語)``: how the templates that pair a title with its original show it."""
    if not original or original in shown:
        return shown or original
    if not shown:
        return original
    return f"{shown}（{original}）" if _CJK.search(shown) else f"{shown} ({original})"


def _translink(template: Template, options: TextOptions) -> str:
    # {{tsl|lang|foreign title|local title|shown text}}: the shown text, else the local title, else the foreign.
    return _arg(template, 4, options) or _arg(template, 3, options) or _arg(template, 2, options)


def _title_with_original(template: Template, options: TextOptions) -> str:
    # {{日本作品|中文|日文}}, {{nihongo|中文/English|漢字|romaji}}, {{読み仮名|漢字|かな}}
    return _with_original(_arg(template, 1, options), _arg(template, 2, options))


def _nihongo3(template: Template, options: TextOptions) -> str:
    # {{nihongo3|romaji|漢字|English}} shows the romaji first.
    return _with_original(_arg(template, 1, options), _arg(template, 2, options))


def _coloured_link(template: Template, options: TextOptions) -> str:
    # moegirl {{coloredlink|colour|page|shown}}
    return _arg(template, 3, options) or _arg(template, 2, options)


# Templates whose shown text is built from several arguments.
SHOWN_TEMPLATES: dict[str, Callable[[Template, TextOptions], str]] = {
    "tsl": _translink,
    "translink": _translink,
    "tsl2": _translink,
    "日本作品": _title_with_original,
    "日本作品名": _title_with_original,
    "nihongo": _title_with_original,
    "nihongo title": _title_with_original,
    "japanese title": _title_with_original,
    "読み仮名": _title_with_original,
    "読み仮名 ruby不使用": _title_with_original,
    "nihongo3": _nihongo3,
    "coloredlink": _coloured_link,
    "彩色链接": _coloured_link,
}

# Templates that write kanji with readings as alternating positional arguments (moegirl ``{{jpn|泉|いずみ|こなた}}``
# reads 泉こなた): the odd-numbered arguments are the text; Wikipedia's ``{{jpn|j=...}}`` keeps ``j``.
RUBY_PAIR_TEMPLATES = frozenset({"jpn"})

# Tags whose content is not running text. Struck-out text (del / s) is dropped too: on moegirl it is a joke
# the page says it takes back, not a statement about the work.
DROPPED_TAGS = frozenset(
    {"ref", "references", "gallery", "table", "math", "score", "timeline", "imagemap", "syntaxhighlight",
     "templatedata", "graph", "inputbox", "categorytree", "noinclude", "indicator", "mapframe", "tabs", "del", "s"}
)  # fmt: skip

# Link namespaces that are not text: files, categories (English and the local names of zh / ja / moegirl).
NON_TEXT_LINK_PREFIXES = frozenset(
    {"file", "image", "media", "category", "文件", "檔案", "档案", "图像", "圖像", "ファイル", "画像",
     "分类", "分類", "カテゴリ", "template", "模板", "wikipedia", "wp", "help", "帮助"}
)  # fmt: skip

_LANG_PREFIX = re.compile(r"^:?[a-z]{2,3}(-[a-z]+)?$")
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
_LIST_MARK = re.compile(r"^[*#:;]+\s*")
_SPACES = re.compile(r"[ \t\u3000]+")


@dataclass(slots=True)
class PageSection:
    """One section of a page: heading path (empty for the intro) and its plain text."""

    heading_path: list[str]
    text: str


@dataclass(slots=True)
class TextOptions:
    """What to keep; the defaults suit Wikipedia and moegirl."""

    inline_templates: dict[str, int] = field(default_factory=lambda: dict(INLINE_TEMPLATES))
    shown_templates: dict[str, Callable[[Template, TextOptions], str]] = field(
        default_factory=lambda: dict(SHOWN_TEMPLATES)
    )


def template_name(template: Template) -> str:
    """A template's name normalised for lookups: stripped, lower case, underscores as spaces."""
    return str(template.name.strip_code() or template.name).strip().replace("_", " ").lower()


def _link_is_text(link: Wikilink) -> bool:
    title = str(link.title).strip()
    if ":" not in title:
        return True
    prefix = title.split(":", 1)[0].strip().lower()
    if prefix in NON_TEXT_LINK_PREFIXES or prefix.lstrip(":") in NON_TEXT_LINK_PREFIXES:
        return title.startswith(":")  # [[:Category:X]] is a visible link
    # [[en:Foo]] is an interlanguage link, not shown in the text.
    return not (_LANG_PREFIX.match(prefix) and not title.startswith(":"))


def _plain(code: Wikicode, options: TextOptions) -> str:
    out: list[str] = []
    for node in code.nodes:
        if isinstance(node, Text):
            out.append(str(node.value))
        elif isinstance(node, Template):
            name = template_name(node)
            index = options.inline_templates.get(name)
            if index is None and _LANGUAGE_WRAPPER.match(name):
                index = 1
            if index is not None and node.has(str(index)):
                out.append(_plain(node.get(str(index)).value, options))
            elif name in options.shown_templates:
                out.append(options.shown_templates[name](node, options))
            elif name in RUBY_PAIR_TEMPLATES:
                out.append(_ruby_pairs(node, options))
        elif isinstance(node, Tag):
            tag = str(node.tag).strip().lower()
            if tag in ("li", "dt", "dd") and node.wiki_markup:
                continue  # a wiki list marker ("*", "#", ";", ":"): its item's text follows on the same line
            if tag == "br":
                out.append("\n")
            elif tag in ("li", "p", "div") and node.contents is not None:
                out.append("\n" + _plain(node.contents, options) + "\n")
            elif tag not in DROPPED_TAGS and node.contents is not None and not node.self_closing:
                out.append(_plain(node.contents, options))
        elif isinstance(node, Wikilink):
            if _link_is_text(node):
                if node.text is not None:
                    out.append(_plain(node.text, options))
                else:  # [[Page#Anchor]] shows "Page"
                    out.append(_plain(node.title, options).lstrip(":").split("#")[0])
        elif isinstance(node, ExternalLink):
            if node.title is not None:
                out.append(_plain(node.title, options))
        elif isinstance(node, HTMLEntity):
            out.append(node.normalize())
        elif isinstance(node, (Comment, Argument, Heading)):
            continue
        else:
            out.append(str(node))
    return "".join(out)


def _ruby_pairs(template: Template, options: TextOptions) -> str:
    if template.has("j"):
        return _plain(template.get("j").value, options)
    positional = [p for p in template.params if not p.showkey]
    return "".join(_plain(p.value, options) for p in positional[::2])


def clean_text(text: str) -> str:
    """Collapse spaces, drop list markers and magic words, keep one blank line between paragraphs."""
    text = _MAGIC_WORD.sub("", text)
    lines = [_SPACES.sub(" ", _LIST_MARK.sub("", line)).strip() for line in text.splitlines()]
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line:
            current.append(line)
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return "\n\n".join(paragraphs)


def to_plain_text(wikitext: str | Wikicode, *, options: TextOptions | None = None) -> str:
    """Plain text of a piece of wikitext (markup stripped, paragraphs kept)."""
    code = mwparserfromhell.parse(wikitext) if isinstance(wikitext, str) else wikitext
    return clean_text(_plain(code, options or TextOptions()))


def split_sections(wikitext: str, *, options: TextOptions | None = None) -> list[PageSection]:
    """The intro and every section of a page, in order, each with its heading path and plain text.

    Sections whose text is empty (a heading followed only by sub-headings or removed markup) are kept
    with empty text so the caller can count them.
    """
    options = options or TextOptions()
    code = mwparserfromhell.parse(wikitext)
    sections: list[PageSection] = []
    stack: list[tuple[int, str]] = []
    buffer: list = []

    def flush() -> None:
        body = clean_text(_plain(mwparserfromhell.wikicode.Wikicode(buffer), options))
        sections.append(PageSection([title for _, title in stack], body))
        buffer.clear()

    for node in code.nodes:
        if isinstance(node, Heading):
            flush()
            title = clean_text(_plain(node.title, options)).replace("\n", " ")
            while stack and stack[-1][0] >= node.level:
                stack.pop()
            stack.append((node.level, title))
        else:
            buffer.append(node)
    flush()
    return sections


def find_templates(wikitext: str | Wikicode, names: set[str] | frozenset[str]) -> list[Template]:
    """Templates (at any depth) whose normalised name is in ``names`` or starts with one of them + '/'."""
    code = mwparserfromhell.parse(wikitext) if isinstance(wikitext, str) else wikitext
    found = []
    for template in code.filter_templates(recursive=True):
        name = template_name(template)
        if name in names or any(name.startswith(n + "/") for n in names):
            found.append(template)
    return found


def template_fields(template: Template, *, options: TextOptions | None = None) -> dict[str, str]:
    """A template's named parameters as plain text (empty values left out)."""
    fields: dict[str, str] = {}
    for param in template.params:
        if not param.showkey:
            continue
        value = to_plain_text(param.value, options=options)
        if value:
            fields[str(param.name).strip()] = value
    return fields


def template_links(template: Template, name: str) -> list[str]:
    """Titles of the page links (at any depth) in one parameter of a template, in order, without repeats."""
    if not template.has(name):
        return []
    titles: list[str] = []
    for link in template.get(name).value.filter_wikilinks(recursive=True):
        title = str(link.title).strip().split("#")[0]
        if _link_is_text(link) and title and title not in titles:
            titles.append(title)
    return titles


# Words that introduce another name of the subject in a lead: "又名《…》", "简称「…」", "正式譯名為《…》" ...
_ALIAS_WORDS = (
    "又名|又稱|又称|又譯|又译|亦譯|亦译|亦稱|亦称|或譯|或译|別名|别名|別稱|别称|簡稱|简称|通稱|通称|"
    "正式譯名|正式译名|官方譯名|官方译名|台灣譯名|台湾译名|港譯|港译|略稱|略称|愛稱|爱称"
)
_QUOTED = r"[《「『“\"]([^《》「」『』“”\"\n]{1,80})[》」』”\"]"
_LEAD_ALIAS = re.compile(rf"(?:{_ALIAS_WORDS})\s*(?:為|为|是|作|：|:)?\s*{_QUOTED}")
_MORE_ALIASES = re.compile(rf"\A\s*(?:、|，|,|或|及|和|与|與|/)\s*{_QUOTED}")
_TRAILING_NOTE = re.compile(r"\s*[（(][^（）()]{1,30}[)）]\s*$")


def lead_aliases(text: str) -> list[str]:
    """Other names a lead gives its subject: ``又名《X》``, ``简称「Y」``, ``正式譯名為《Z》、《W》`` ..."""
    found: list[str] = []
    for match in _LEAD_ALIAS.finditer(text):
        names = [match.group(1)]
        rest = text[match.end() :]
        while more := _MORE_ALIASES.match(rest):
            names.append(more.group(1))
            rest = rest[more.end() :]
        for name in names:
            name = name.strip()
            if name and name not in found:
                found.append(name)
    return found


def strip_trailing_note(name: str) -> str:
    """``忍者與殺手的同住日常（台灣角川）`` -> ``忍者與殺手的同住日常``: infobox name lists note who uses each name."""
    stripped = _TRAILING_NOTE.sub("", name).strip()
    return stripped or name.strip()


# -- namespaces and disambiguation pages -----------------------------------------------------------------------

# Namespace names every MediaWiki knows (lower case, spaces not underscores), with the talk namespaces.
CANONICAL_NAMESPACES = frozenset(
    {"media", "special", "talk", "user", "user talk", "project", "project talk", "file", "file talk", "image",
     "mediawiki", "mediawiki talk", "template", "template talk", "help", "help talk", "category", "category talk",
     "portal", "portal talk", "module", "module talk", "draft", "draft talk", "wikipedia"}
)  # fmt: skip
# Local namespace names of the wikis acg2vec reads (zh / ja Wikipedia, moegirl), for readers that do not know
# which wiki a title came from (the text-pair build). A spider knows its wiki and passes only its own names.
LOCAL_NAMESPACES = frozenset(
    {"wp", "wt", "moegirl",
     "讨论", "討論", "对话", "用户", "用戶", "使用者", "用户讨论", "用戶討論", "模板", "模板讨论", "模組", "模块", "帮助",
     "幫助", "维基百科", "維基百科", "萌娘百科", "h萌娘", "分类", "分類", "文件", "檔案", "主题", "主題", "草稿",
     "ノート", "利用者", "利用者‐会話", "利用者-会話", "ヘルプ", "プロジェクト", "ファイル", "画像", "カテゴリ", "テンプレート",
     "ポータル"}
)  # fmt: skip
# Words that mark a disambiguation page in its title's qualifier or in a category name.
DISAMBIGUATION_MARKS = ("disambiguation", "消歧义", "消歧義", "曖昧さ回避")


def namespace_of(title: str) -> str:
    """The namespace prefix of a page title as MediaWiki compares it (lower case, spaces), or "" for none."""
    if ":" not in title:
        return ""
    return title.split(":", 1)[0].strip().replace("_", " ").lower()


def is_article_title(title: str, local_namespaces: frozenset[str] | set[str] = LOCAL_NAMESPACES) -> bool:
    """True unless the title's prefix is a namespace (canonical or one of ``local_namespaces``): talk, user,
    template, help ... pages are not articles. ``Re:ゼロ`` and ``Steins;Gate`` are."""
    prefix = namespace_of(title)
    return not prefix or (prefix not in CANONICAL_NAMESPACES and prefix not in local_namespaces)


def is_disambiguation_title(title: str, categories: list[str]) -> bool:
    """True for a disambiguation page by its categories or a ``(disambiguation)`` title qualifier, for readers
    that no longer have the page's templates (the spider also looks at the page's templates and properties)."""
    lowered = title.lower()
    if lowered.endswith(")") and any(mark in lowered for mark in DISAMBIGUATION_MARKS):
        return True
    return any(mark in c.lower() for c in categories for mark in DISAMBIGUATION_MARKS)
