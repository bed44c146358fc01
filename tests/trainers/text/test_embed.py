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


@pytest.mark.integration
def test_embed_applies_the_models_prompt_and_counts_lines_over_its_token_limit(tmp_path: Path) -> None:
    import numpy as np

    from acg2vec.trainers.text.embed import embed_text_files
    from acg2vec.trainers.text.input_module import load_encoder
    from tests.trainers.text.test_onnx_export import tiny_e5_like

    model = tiny_e5_like(tmp_path, max_seq_length=24)
    lines = ["ＳＷＯＲＤ　ＡＲＴ", "钢之炼金术师", "魔法の騎士 " * 30]
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = embed_text_files(inputs=[texts], model=model, out=tmp_path / "out" / "v", batch_size=2)
    assert (result.read, result.written, result.truncated) == (3, 3, 1)
    vectors = np.load(result.vectors_path)
    encoder = load_encoder(model)
    # The folder's steps: script normalisation, then its "query: " prompt, then L2 normalisation.
    expected = encoder.encode(["sword art", "钢之炼金术师", lines[2]], prompt="query: ", convert_to_numpy=True)
    assert np.allclose(vectors, expected, atol=1e-5)
    unprompted = encoder.encode(lines, prompt="", convert_to_numpy=True)
    assert not np.allclose(vectors, unprompted, atol=1e-3)
