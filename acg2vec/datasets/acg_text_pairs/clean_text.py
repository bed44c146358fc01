"""Text cleaning for the text-pair corpus: normalisation, markup removal, language tags, boilerplate rules.

Plain functions, testable without Beam.

Normalisation is NFKC plus whitespace collapse. NFKC composes (``ｶﾞﾝﾀﾞﾑ`` becomes ``ガンダム``) and never
removes combining marks; nothing here strips accents or dakuten, which would turn ガンダム into カンタム.
De-duplication keys are the normalised text, casefolded, without spaces.

Language tags (``ja`` / ``zh`` / ``en`` / ``und``) come from the script, with the item's declared language
breaking the one tie the script cannot decide:

- any kana (hiragana, katakana; not the ``・`` and ``ー`` marks Chinese also uses) -> ``ja``, except in a text
  declared Chinese whose kana are a small share of its CJK characters (Chinese quoting a Japanese title);
- Han characters without kana -> the declared language if it is Japanese or Chinese, else ``zh``
  (a kana-free Japanese title such as 銀魂 or 攻殻機動隊 is ``ja`` when the item files it under ``ja``);
- Latin letters (no Han, no kana) -> ``ja`` when the item declares romaji (``ja-Latn``), else ``en``;
- anything else (Hangul, digits only, symbols) -> ``und``.

Title keys (:func:`title_key`, used by the split's entity ids) are the de-duplication key of a title after NFKC
and after dropping one trailing parenthesised qualifier, so that ``銀魂 (アニメ)``, ``銀魂（アニメ）`` and ``銀魂``
are one key, and full-width / half-width forms (``ｶｳﾎﾞｰｲﾋﾞﾊﾞｯﾌﾟ``, ``ＧＵＮＤＡＭ``) fold into their usual forms.
"""

from __future__ import annotations

import re
import unicodedata

from acg2vec.crawlers.language import JA_KANA_SHARE, script_counts

_KANA = re.compile(r"[\u3041-\u309f\u30a0-\u30fa\u30fd-\u30ff\u31f0-\u31ff]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_SPACES = re.compile(r"\s+")
# Control and zero-width characters that survive NFKC; combining marks (category Mn) are not in this set.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")
_KEY_DROP = re.compile(r"\s+")
# Signs that a text still carries wiki markup (templates, links, refs, tables, bold/italic quotes, tags).
_MARKUP = re.compile(r"\{\{|\[\[|<ref|\{\||'''|''|</?[a-zA-Z][^>]{0,40}>|&[a-z]+;")
# One trailing "(...)" qualifier, as wiki page titles carry for disambiguation (checked after NFKC, which
# turns full-width brackets into ASCII ones).
_QUALIFIER = re.compile(r"\s*\([^()]*\)$")
_SENTENCE_END = re.compile(r"[。．！？!?]|\.(?=\s)")

DECLARED_LANGS: dict[str, str] = {
    "ja": "ja",
    "ja-latn": "ja",
    "jp": "ja",
    "zh": "zh",
    "zh-hans": "zh",
    "zh-hant": "zh",
    "zh-cn": "zh",
    "zh-tw": "zh",
    "zh-hk": "zh",
    "zh_tw": "zh",
    "zh_cn": "zh",
    "en": "en",
}

# Namespaces whose pages are not articles (English, Chinese, Japanese and moegirl names), lower case.
NON_ARTICLE_NAMESPACES = frozenset(
    {"talk", "user", "user talk", "template", "template talk", "help", "help talk", "wikipedia", "project",
     "file", "image", "category", "portal", "module", "draft", "mediawiki", "special", "moegirl",
     "讨论", "討論", "对话", "用户", "用戶", "使用者", "用户讨论", "用戶討論", "模板", "模板讨论", "帮助", "幫助",
     "维基百科", "維基百科", "萌娘百科", "分类", "分類", "文件", "檔案", "主题", "主題",
     "ノート", "利用者", "利用者‐会話", "利用者-会話", "ヘルプ", "プロジェクト", "ファイル", "カテゴリ", "ポータル"}
)  # fmt: skip
DISAMBIGUATION_MARKS = ("disambiguation", "消歧义", "消歧義", "曖昧さ回避")
BOILERPLATE_HEADINGS = frozenset(
    {"references", "notes", "external links", "see also", "further reading", "bibliography", "footnotes",
     "参考文献", "参考资料", "參考資料", "参考", "注释", "註釋", "脚注", "注釈", "外部链接", "外部連結", "外部リンク",
     "参见", "參見", "関連項目", "相关条目", "相關條目", "延伸阅读", "出典"}
)  # fmt: skip


def normalize_text(text: str) -> str:
    """NFKC, invisible characters removed, whitespace runs collapsed to one space, trimmed."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    return _SPACES.sub(" ", text).strip()


def dedup_key(normalized: str) -> str:
    """The de-duplication key of a normalised text: casefolded, spaces removed."""
    return _KEY_DROP.sub("", normalized.casefold())


def strip_qualifier(title: str) -> str:
    """``銀魂 (アニメ)`` -> ``銀魂``: one trailing parenthesised qualifier removed, unless nothing would be left."""
    bare = _QUALIFIER.sub("", title).strip()
    return bare or title.strip()


def title_key(title: str) -> str:
    """The key that makes two spellings of one title equal: NFKC, qualifier removed, casefolded, no spaces.

    Nothing else is folded: simplified and traditional / Japanese forms of a Han character stay distinct
    (銀魂 is not 银魂), and combining marks stay (ガンダム is not カンタム).
    """
    return dedup_key(strip_qualifier(normalize_text(title)))


def has_markup(text: str) -> bool:
    return _MARKUP.search(text) is not None


def strip_markup(text: str) -> str:
    """Wikitext to plain text with mwparserfromhell (templates, refs, files, tables removed), if it has markup."""
    if not has_markup(text):
        return text
    from acg2vec.crawlers.wikitext import to_plain_text

    return to_plain_text(text)


def declared_lang(key: str | None) -> str | None:
    """An item's language key (``ja``, ``zh-Hans``, ``ja-Latn``, pixiv's ``zh_tw`` ...) as ja / zh / en, or None."""
    if not key:
        return None
    return DECLARED_LANGS.get(key.lower())


def tag_language(text: str, declared: str | None = None) -> str:
    """The language tag of a text by its script; ``declared`` is the item's language key (see the module doc)."""
    base = declared_lang(declared)
    if _KANA.search(text):
        # A Chinese text that quotes a Japanese title (「けいおん!」) stays Chinese: only a kana share as large as
        # the crawlers use to call a summary Japanese overrides a declared Chinese key.
        counts = script_counts(text)
        if base == "zh" and counts["kana"] < JA_KANA_SHARE * (counts["kana"] + counts["han"]):
            return "zh"
        return "ja"
    if _HAN.search(text):
        return base if base in ("ja", "zh") else "zh"
    if _LATIN.search(text):
        return "ja" if declared is not None and declared.lower() == "ja-latn" else "en"
    return "und"


def truncate(text: str, max_chars: int) -> str:
    """At most ``max_chars`` characters, cut after the last sentence end that fits (else at the limit)."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= max_chars // 2:
        return head[: ends[-1]].strip()
    return head.strip()


def is_non_article(title: str) -> bool:
    """True for talk, user, template, help ... pages (by namespace prefix)."""
    if ":" not in title:
        return False
    prefix = title.split(":", 1)[0].strip().replace("_", " ").lower()
    return prefix in NON_ARTICLE_NAMESPACES


def is_disambiguation(title: str, categories: list[str]) -> bool:
    """True for disambiguation pages, by category or by a ``(disambiguation)`` title suffix."""
    lowered = title.lower()
    if lowered.endswith(")") and any(mark in lowered for mark in DISAMBIGUATION_MARKS):
        return True
    return any(mark in c.lower() for c in categories for mark in DISAMBIGUATION_MARKS)


def is_boilerplate_heading(heading: str) -> bool:
    return heading.strip().lower() in BOILERPLATE_HEADINGS
