"""The language of a piece of crawled text, from its script, for sources that do not say it.

Bangumi's summaries are mostly Chinese but many are Japanese publisher blurbs; pixiv tag translations come in
the language of whoever asked. Where the source does not say the language, the script does well enough for
the languages these sites carry: kana means Japanese, Hangul Korean, Han characters alone Chinese, Latin
letters alone English. Text that mixes kana and Han (a Chinese summary quoting a Japanese title, a Japanese
blurb heavy with kanji) is judged by the share of kana among its CJK characters.
"""

from __future__ import annotations

# Japanese prose is rarely under a third kana; a Chinese text quoting Japanese titles rarely over a tenth.
JA_KANA_SHARE = 0.2

# Marks shared by Chinese and Japanese text (the katakana middle dot and long-vowel mark separate and stretch
# transliterated names in both), so they tell neither language.
_SHARED_MARKS = frozenset("・ー゛゜")


def _is_kana(ch: str) -> bool:
    return ("\u3040" <= ch <= "\u30ff" or "\u31f0" <= ch <= "\u31ff" or "\uff66" <= ch <= "\uff9f") and (
        ch not in _SHARED_MARKS
    )


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff"


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


def detect_language(text: str, *, chinese: str = "zh-Hans") -> str | None:
    """``ja``, ``ko``, ``chinese`` (the caller's key for Chinese) or ``en`` from the script of ``text``;
    None when it has no letters at all.

    Kana makes text Japanese when kana are at least :data:`JA_KANA_SHARE` of its kana and Han characters
    (or when it has no Han at all); Hangul makes it Korean when Hangul outnumbers kana and Han together.
    """
    c = script_counts(text)
    cjk = c["kana"] + c["han"]
    if c["hangul"] and c["hangul"] >= cjk:
        return "ko"
    if cjk:
        return "ja" if c["kana"] / cjk >= JA_KANA_SHARE else chinese
    if c["latin"]:
        return "en"
    return None
