"""Text cleaning for the text-pair corpus: normalisation, markup removal, language tags, boilerplate rules.

Plain functions, testable without Beam.

Normalisation is NFKC plus whitespace collapse. NFKC composes (``ｶﾞﾝﾀﾞﾑ`` becomes ``ガンダム``) and never
removes combining marks; nothing here strips accents or dakuten, which would turn ガンダム into カンタム.
De-duplication keys are the normalised text, casefolded, without spaces.

Language tags (``ja`` / ``zh`` / ``en`` / ``und``) come from the script, with the item's declared language
breaking the ties the script cannot decide: the one rule set of :func:`acg2vec.crawlers.language.detect_language`,
with Korean and script-less text tagged ``und``.

Title keys (:func:`title_key`, used by the split's entity ids) are the de-duplication key of a title after NFKC
and after dropping one trailing parenthesised qualifier, so that ``銀魂 (アニメ)``, ``銀魂（アニメ）`` and ``銀魂``
are one key, and full-width / half-width forms (``ｶｳﾎﾞｰｲﾋﾞﾊﾞｯﾌﾟ``, ``ＧＵＮＤＡＭ``) fold into their usual forms.
"""

from __future__ import annotations

import re
import unicodedata

from acg2vec.crawlers.language import detect_language
from acg2vec.datasets.acg_text_pairs.schema import LANGS
from acg2vec.datasets.normalize import strip_qualifier as strip_qualifier  # the one implementation

_SPACES = re.compile(r"\s+")
# Control and zero-width characters that survive NFKC; combining marks (category Mn) are not in this set.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")
_KEY_DROP = re.compile(r"\s+")
# Signs that a text still carries wiki markup (templates, links, refs, tables, bold/italic quotes, tags).
_MARKUP = re.compile(r"\{\{|\[\[|<ref|\{\||'''|''|</?[a-zA-Z][^>]{0,40}>|&[a-z]+;")
_SENTENCE_END = re.compile(r"[。．！？!?]|\.(?=\s)")

BOILERPLATE_HEADINGS = frozenset(
    {"references", "notes", "external links", "see also", "further reading", "bibliography", "footnotes",
     "参考文献", "参考资料", "參考資料", "参考", "注释", "註釋", "脚注", "注釈", "外部链接", "外部連結", "外部リンク",
     "参见", "參見", "関連項目", "相关条目", "相關條目", "延伸阅读", "出典"}
)  # fmt: skip


def nfkc_clean(text: str) -> str:
    """NFKC, invisible characters removed, whitespace runs collapsed to one space, trimmed."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    return _SPACES.sub(" ", text).strip()


def dedup_key(normalized: str) -> str:
    """The de-duplication key of a normalised text: casefolded, spaces removed."""
    return _KEY_DROP.sub("", normalized.casefold())


def title_key(title: str) -> str:
    """The key that makes two spellings of one title equal: NFKC, qualifier removed, casefolded, no spaces.

    Nothing else is folded: simplified and traditional / Japanese forms of a Han character stay distinct
    (銀魂 is not 银魂), and combining marks stay (ガンダム is not カンタム).
    """
    return dedup_key(strip_qualifier(nfkc_clean(title)))


def has_markup(text: str) -> bool:
    return _MARKUP.search(text) is not None


def strip_markup(text: str) -> str:
    """Wikitext to plain text with mwparserfromhell (templates, refs, files, tables removed), if it has markup."""
    if not has_markup(text):
        return text
    from acg2vec.crawlers.wikitext import to_plain_text

    return to_plain_text(text)


def tag_language(text: str, declared: str | None = None) -> str:
    """The language tag of a text (one of :data:`schema.LANGS`); ``declared`` is the item's language key."""
    found = detect_language(text, declared=declared, chinese="zh")
    return found if found in LANGS else "und"


def truncate(text: str, max_chars: int) -> str:
    """At most ``max_chars`` characters, cut after the last sentence end that fits (else at the limit)."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= max_chars // 2:
        return head[: ends[-1]].strip()
    return head.strip()


def is_boilerplate_heading(heading: str) -> bool:
    return heading.strip().lower() in BOILERPLATE_HEADINGS
