"""`acg2vec embed --text` reads text files: unreadable and blank lines are counted, a missing model is refused."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.unit
def test_embed_counts_unreadable_lines_and_refuses_a_missing_model(tmp_path: Path) -> None:
    from acg2vec.deadletter import DeadLetters
    from acg2vec.errors import UserError
    from acg2vec.trainers.text.embed import embed_text_files, read_texts

    texts = tmp_path / "mixed.txt"
    texts.write_bytes("星の海\n".encode() + b"\xff\xfe bad\n" + b"   \n" + b"Sea of Star\n")
    with DeadLetters(tmp_path / "dead.jsonl") as dead:
        ids, kept, read = read_texts([texts], dead)
    assert (ids, kept, read) == (["mixed.txt:1", "mixed.txt:4"], ["星の海", "Sea of Star"], 4)
    assert dict(dead.counts) == {"not-utf8": 1, "blank-line": 1}
    with pytest.raises(UserError, match="No text model"):
        embed_text_files(inputs=[texts], model=tmp_path / "nothing", out=tmp_path / "v")
    with pytest.raises(UserError, match="does not exist"):
        read_texts([tmp_path / "missing.txt"], DeadLetters(None))
