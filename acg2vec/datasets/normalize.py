"""Script normalisation for matching titles and names across Japanese, Chinese and English.

One function, :func:`normalize_text`, maps the forms of a text that a reader would call "the same" to one form:

1. NFKC: full-width Latin and digits become ASCII, half-width katakana become full-width, compatibility
   ideographs become their unified form. Combining marks are never stripped (that turns ガンダム into カンタム).
2. casefold and whitespace collapse.
3. Han script: OpenCC ``jp2t`` (Japanese shinjitai -> Traditional) then ``t2s`` (Traditional -> Simplified), so
   鋼の錬金術師 / 钢之炼金术师 share 钢, 炼, 术, 师 and 涼宮 / 凉宫 become one string. The tables are OpenCC's own.
4. Kana (optional, on by default): small letters become large ones (ァ -> ア, っ -> つ; found through the Unicode
   character names, not a table) and the long-vowel mark ー is dropped, so コンピューター matches コンピュータ.

It lives with the datasets because the entity linker (:mod:`acg2vec.datasets.acg_entities`) compares titles in
this form too; :mod:`acg2vec.trainers.text.normalize` re-exports it for the trainers.

The corpus always keeps the original text; this is applied on the fly by the encoder (its first module,
:class:`acg2vec.trainers.text.input_module.NormalizedTransformer`, saved in the model folder), by the lexical index and by every search, so a model,
its baseline and the server all see the same strings.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# The name recorded in model folders; bump it when the transform changes, so an old model is not fed new strings.
NORMALIZATION = "acg-script-v1"
NORMALIZATIONS = ("none", NORMALIZATION)
LONG_VOWEL_MARKS = "ー"  # U+30FC; the half-width ｰ is already this after NFKC
_SPACES = re.compile(r"\s+")
# One trailing "(...)" qualifier, as wiki page titles carry for disambiguation (checked after NFKC, which
# turns full-width brackets into ASCII ones).
_QUALIFIER = re.compile(r"\s*\([^()]*\)$")


@functools.cache
def _converters():
    import opencc

    # jp2t first: shinjitai such as 鉄 / 戦 only exist in the Japanese table; t2s then maps every Traditional form
    # (including the ones jp2t produced) to Simplified. Checked idempotent on real zh / ja titles.
    return opencc.OpenCC("jp2t"), opencc.OpenCC("t2s")


@functools.cache
def _small_kana_table() -> dict[int, str]:
    """Small kana -> their large letters, from the Unicode names ("KATAKANA LETTER SMALL A" -> "... LETTER A")."""
    table = {}
    for code in range(0x3040, 0x3100):
        name = unicodedata.name(chr(code), "")
        if " LETTER SMALL " in name:
            try:
                table[code] = unicodedata.lookup(name.replace(" SMALL ", " "))
            except KeyError:  # e.g. small KU has no large katakana of that name in this block
                continue
    for code in range(0x31F0, 0x3200):  # Katakana Phonetic Extensions: small ク, シ, ス ...
        name = unicodedata.name(chr(code), "")
        try:
            table[code] = unicodedata.lookup(name.replace(" SMALL ", " "))
        except KeyError:
            continue
    return table


@functools.lru_cache(maxsize=200_000)
def normalize_text(text: str, *, han: bool = True, kana: bool = True) -> str:
    """The matching form of ``text`` (see the module docstring); idempotent."""
    out = unicodedata.normalize("NFKC", text).casefold()
    out = _SPACES.sub(" ", out).strip()
    if han:
        jp2t, t2s = _converters()
        out = t2s.convert(jp2t.convert(out))
    if kana:
        out = out.translate(_small_kana_table())
        if len(out) > 1:
            # A text that is only "ー" keeps it: an empty string matches everything.
            out = out.replace(LONG_VOWEL_MARKS, "") or out
    return out


def normalizer(name: str | None):
    """The text transform called ``name`` ("none" or :data:`NORMALIZATION`) as a function of one string."""
    if name in (None, "", "none"):
        return lambda text: text
    if name == NORMALIZATION:
        return normalize_text
    raise ValueError(f"Unknown text normalization {name!r}; known: {', '.join(NORMALIZATIONS)}.")


def strip_qualifier(title: str) -> str:
    """``銀魂 (アニメ)`` -> ``銀魂``: one trailing parenthesised qualifier removed, unless nothing would be left."""
    bare = _QUALIFIER.sub("", title).strip()
    return bare or title.strip()


def qualifier(title: str) -> str:
    """The trailing parenthesised qualifier of a page title (``X (2019年のアニメ)`` -> ``2019年のアニメ``), or ""."""
    found = _QUALIFIER.search(title)
    return found.group(0).strip()[1:-1] if found and strip_qualifier(title) != title.strip() else ""
