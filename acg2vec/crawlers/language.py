"""The language of a piece of text from its script: one rule set for the crawlers and the text-pair corpus.

Bangumi's summaries are mostly Chinese but many are Japanese publisher blurbs; pixiv tag translations come in
the language of whoever asked. Where the source does not say the language, the script does well enough for
the languages these sites carry: kana means Japanese, Hangul Korean, Han characters alone Chinese, Latin
letters alone English. Text that mixes kana and Han is Japanese (鋼の錬金術師, a Japanese blurb heavy with
kanji) unless it is declared Chinese and its kana are a small share of its CJK characters.

Where the item declares a language, or the site has a usual one (:func:`declared_lang`), it breaks the ties the
script cannot decide: a kana-free Japanese title such as 銀魂 is Japanese when the item files it under ``ja``,
romaji is Japanese when the item says ``ja-Latn``, and a Chinese text quoting a Japanese title stays Chinese.

Character classes: kana are hiragana, katakana (with the combining sound marks) and half-width katakana,
without the marks Chinese writes too (``・``, ``ー``, the spacing ``゛`` ``゜`` and their half-width forms);
Han characters are the CJK unified ideographs with extensions A to H and the compatibility ideographs.
"""

from __future__ import annotations

# Japanese prose is rarely under a third kana; a Chinese text quoting Japanese titles rarely over a tenth.
JA_KANA_SHARE = 0.2

# Marks shared by Chinese and Japanese text (the katakana middle dot and long-vowel mark separate and stretch
# transliterated names in both), so they tell neither language; with their half-width forms.
_SHARED_MARKS = frozenset("・ー゛゜･ｰﾞﾟ")

# Item language keys (Bangumi, MediaWiki, Jikan, pixiv spellings) -> ja / zh / en.
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


def _is_kana(ch: str) -> bool:
    return ("\u3041" <= ch <= "\u30ff" or "\u31f0" <= ch <= "\u31ff" or "\uff65" <= ch <= "\uff9f") and (
        ch not in _SHARED_MARKS
    )


def _is_han(ch: str) -> bool:
    return (
        "\u4e00" <= ch <= "\u9fff"
        or "\u3400" <= ch <= "\u4dbf"
        or "\uf900" <= ch <= "\ufaff"
        or "\U00020000" <= ch <= "\U000323af"
    )


def _is_hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7af" or "\u1100" <= ch <= "\u11ff" or "\u3130" <= ch <= "\u318f"


def script_counts(text: str) -> dict[str, int]:
    """How many kana, Han, Hangul and Latin letters ``text`` has."""
    counts = {"kana": 0, "han": 0, "hangul": 0, "latin": 0}
    for ch in text:
        if _is_kana(ch):
            counts["kana"] += 1
        elif _is_han(ch):
            counts["han"] += 1
        elif _is_hangul(ch):
            counts["hangul"] += 1
        elif ch.isascii() and ch.isalpha() or "\u00c0" <= ch <= "\u024f":
            counts["latin"] += 1
    return counts


def declared_lang(key: str | None) -> str | None:
    """An item's language key (``ja``, ``zh-Hans``, ``ja-Latn``, pixiv's ``zh_tw`` ...) as ja / zh / en, or None."""
    if not key:
        return None
    return DECLARED_LANGS.get(key.lower())


def detect_language(text: str, *, declared: str | None = None, chinese: str = "zh-Hans") -> str | None:
    """``ja``, ``ko``, ``chinese`` (the caller's key for Chinese) or ``en`` from the script of ``text``;
    None when it has no letters at all. ``declared``: the item's (or the site's usual) language key.

    1. Hangul makes text Korean when Hangul outnumbers kana and Han together.
    2. Kana make it Japanese, except in text declared Chinese whose kana are under :data:`JA_KANA_SHARE` of its
       kana and Han characters (Chinese prose quoting a Japanese title).
    3. Han characters without kana: Japanese when declared Japanese (銀魂, 攻殻機動隊), else Chinese.
    4. Latin letters alone: Japanese when declared ``ja-Latn`` (romaji), else English.
    """
    counts = script_counts(text)
    cjk = counts["kana"] + counts["han"]
    base = declared_lang(declared)
    if counts["hangul"] and counts["hangul"] >= cjk:
        return "ko"
    if counts["kana"]:
        return chinese if base == "zh" and counts["kana"] / cjk < JA_KANA_SHARE else "ja"
    if counts["han"]:
        return "ja" if base == "ja" else chinese
    if counts["latin"]:
        return "ja" if declared is not None and declared.lower() == "ja-latn" else "en"
    return None
