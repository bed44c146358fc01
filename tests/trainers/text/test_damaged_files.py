"""Damaged text model files: every damage of the zoo, in every file of a sentence-transformers folder and of its
ONNX export, is one sentence naming the file through ``embed --text`` and ONNX loading; the folder is written
whole with its checksums; a folder from before checksums still loads.

One tiny model (a 1-layer BERT shaped like the fine-tuned multilingual-e5-small) and its ONNX export are built
once for the module; each case damages a copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from acg2vec.cli import app
from acg2vec.integrity import CHECKSUMS_FILE, DamagedFileError
from acg2vec.trainers.text.model_folder import text_model_writer, verify_text_model
from tests.damage import DAMAGES

pytestmark = pytest.mark.integration

MODEL_FILES = [
    "model.safetensors",
    "tokenizer.json",
    "config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    CHECKSUMS_FILE,
]
ONNX_FILES = ["onnx/model.onnx", "onnx/encoder.json", f"onnx/{CHECKSUMS_FILE}"]
TITLES = ["鋼の錬金術師", "钢之炼金术师", "Fullmetal Alchemist"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``plain``: the tiny model as sentence-transformers saves it (no CHECKSUMS.json, as before acg2vec recorded
    them); ``sealed``: the same model written by acg2vec's model writer, with its ONNX export."""
    from acg2vec.trainers.text.input_module import load_encoder
    from acg2vec.trainers.text.onnx_export import export_onnx
    from tests.trainers.text.test_onnx_export import tiny_e5_like

    base = tmp_path_factory.mktemp("text_model")
    plain = tiny_e5_like(base)
    sealed = base / "sealed"
    model = load_encoder(plain)
    with text_model_writer(sealed) as folder:
        model.save(str(folder))
    export_onnx(sealed)
    return {"plain": plain, "sealed": sealed}


def copy_of(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "models" / "acgvoc2vec"
    shutil.copytree(folder, target)
    return target


def run(workdir: Path, *args: str) -> tuple[int, str]:
    """``acg2vec -w <workdir> <args>``: (exit code, what the user reads) as ``acg2vec.cli.main`` reports them."""
    result = CliRunner().invoke(app, ["-w", str(workdir), "--quiet", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        if not hasattr(result.exception, "exit_code"):
            raise result.exception
        return result.exception.exit_code, str(result.exception)
    return result.exit_code, result.output


def embed(tmp_path: Path, model: Path) -> tuple[int, str, Path]:
    lines = tmp_path / "titles.txt"
    lines.write_text("\n".join(TITLES) + "\n", encoding="utf-8")
    out = tmp_path / "embeddings" / "titles"
    code, said = run(tmp_path / "work", "embed", "--text", str(lines), "-m", str(model), "-o", str(out))
    return code, said, out


def test_the_writer_records_every_model_file_and_embed_reads_the_folder(built, tmp_path: Path) -> None:
    listed = verify_text_model(built["sealed"])
    assert set(MODEL_FILES) - {CHECKSUMS_FILE} <= set(listed)
    assert not any(name.startswith("onnx/") for name in listed)  # the export has its own record
    code, said, out = embed(tmp_path, built["sealed"])
    assert code == 0, said
    assert np.load(f"{out}.npy").shape == (3, 32)


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("name", MODEL_FILES)
def test_every_damage_to_a_model_file_is_one_sentence_through_embed_text(
    built, tmp_path: Path, name: str, damage: str
) -> None:
    model = copy_of(built["sealed"], tmp_path)
    earlier = tmp_path / "embeddings" / "titles.npy"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"vectors of an earlier run")
    DAMAGES[damage](model / name)
    code, said, _ = embed(tmp_path, model)
    assert code == 3, said
    assert said.startswith(f"{model / name} is damaged (") and "\n" not in said
    assert said.endswith(f"repair it with `acg2vec train text --output {model}`.")
    if name != CHECKSUMS_FILE:
        assert f"the text model {model} cannot be used" in said
    assert earlier.read_bytes() == b"vectors of an earlier run"  # nothing earlier lost


def test_a_folder_from_before_checksums_still_loads(built, tmp_path: Path) -> None:
    assert not (built["plain"] / CHECKSUMS_FILE).exists()
    code, said, out = embed(tmp_path, built["plain"])
    assert code == 0, said
    assert np.load(f"{out}.npy").shape == (3, 32)


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("name", ["model.safetensors", "tokenizer.json", "config.json", "modules.json"])
def test_damage_to_a_folder_from_before_checksums_is_the_same_sentence(
    built, tmp_path: Path, name: str, damage: str
) -> None:
    model = copy_of(built["plain"], tmp_path)
    DAMAGES[damage](model / name)
    if name == "model.safetensors" and damage == "random_middle":
        # Without a record, changed weights inside a whole file cannot be told from trained ones: it loads.
        assert embed(tmp_path, model)[0] == 0
        return
    code, said, _ = embed(tmp_path, model)
    assert code == 3, said
    assert said.startswith(f"{model / name} is damaged (") and "\n" not in said
    assert said.endswith(f"repair it with `acg2vec train text --output {model}`.")


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("name", ONNX_FILES)
def test_every_damage_to_the_onnx_export_is_one_sentence_when_it_is_loaded(
    built, tmp_path: Path, name: str, damage: str
) -> None:
    from acg2vec.trainers.text.onnx_export import OnnxEncoder

    model = copy_of(built["sealed"], tmp_path)
    DAMAGES[damage](model / name)
    with pytest.raises(DamagedFileError) as caught:
        OnnxEncoder(model / "onnx" / "model.onnx", model)
    said = str(caught.value)
    assert caught.value.exit_code == 3
    assert said.startswith(f"{model / name} is damaged (") and "\n" not in said
    assert said.endswith(f"repair it with `acg2vec train text --onnx --output {model}`.")


@pytest.mark.parametrize("damage", ["cut_short", "zero_bytes", "wrong_kind", "older_format"])
@pytest.mark.parametrize("name", ["onnx/model.onnx", "onnx/encoder.json"])
def test_damage_to_an_onnx_export_from_before_checksums_is_the_same_sentence(
    built, tmp_path: Path, name: str, damage: str
) -> None:
    from acg2vec.trainers.text.onnx_export import OnnxEncoder

    model = copy_of(built["sealed"], tmp_path)
    (model / "onnx" / CHECKSUMS_FILE).unlink()
    assert OnnxEncoder(model / "onnx" / "model.onnx", model).encode(TITLES).shape == (3, 32)
    DAMAGES[damage](model / name)
    with pytest.raises(DamagedFileError, match=f"^{model / name} is damaged"):
        OnnxEncoder(model / "onnx" / "model.onnx", model)


def test_the_onnx_tokenizer_folder_is_checked_too(built, tmp_path: Path) -> None:
    from acg2vec.trainers.text.onnx_export import OnnxEncoder

    model = copy_of(built["sealed"], tmp_path)
    DAMAGES["cut_short"](model / "tokenizer.json")
    with pytest.raises(DamagedFileError, match=f"^{model / 'tokenizer.json'} is damaged"):
        OnnxEncoder(model / "onnx" / "model.onnx", model)


def test_a_failed_save_leaves_the_previous_model_whole(built, tmp_path: Path) -> None:
    from acg2vec.trainers.text.input_module import load_encoder

    model = copy_of(built["sealed"], tmp_path)
    (model / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (model / "checkpoints" / "checkpoint-2" / "trainer_state.json").write_text("{}")
    before = {p.relative_to(model): p.read_bytes() for p in model.rglob("*") if p.is_file()}
    with pytest.raises(RuntimeError, match="stopped"), text_model_writer(model) as folder:
        load_encoder(model).save(str(folder))
        raise RuntimeError("stopped half-way")
    assert {p.relative_to(model): p.read_bytes() for p in model.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in model.parent.iterdir()) == ["acgvoc2vec"]
    # A finished save carries the checkpoints over (not checksummed) and drops the old ONNX export.
    with text_model_writer(model) as folder:
        load_encoder(model).save(str(folder))
    assert (model / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text() == "{}"
    assert not (model / "onnx").exists()
    assert not any(name.startswith("checkpoints/") for name in verify_text_model(model))


# -- a full disk -------------------------------------------------------------------------------------------------


def whole_files(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_full_disk_during_the_model_save_is_one_sentence_and_the_previous_model_stays(built, tmp_path: Path) -> None:
    from acg2vec.integrity import DiskFullError
    from acg2vec.trainers.text.input_module import load_encoder
    from tests.damage import SmallDisk

    model = load_encoder(built["sealed"])
    with SmallDisk(tmp_path / "disk", size_mb=8) as disk:
        output = disk.path / "acgvoc2vec"
        shutil.copytree(built["sealed"], output)
        before = whole_files(output)
        disk.fill(leave=16 * 1024)
        try:
            with pytest.raises(DiskFullError) as caught, text_model_writer(output) as folder:
                model.save(str(folder))
        finally:
            disk.free()
        assert str(output) in str(caught.value) and "disk is full" in str(caught.value)
        assert whole_files(output) == before and verify_text_model(output)
        assert sorted(p.name for p in disk.path.iterdir() if p.name != ".filler") == ["acgvoc2vec"]


def test_train_text_on_a_full_disk_exits_4_with_one_sentence_and_the_previous_model_whole(
    built, tiny_corpus: Path, workdir: Path, tmp_path: Path
) -> None:
    from tests.damage import SmallDisk

    with SmallDisk(tmp_path / "disk", size_mb=8) as disk:
        output = disk.path / "models" / "acgvoc2vec"
        shutil.copytree(built["sealed"], output)
        before = whole_files(output)
        disk.fill(leave=64 * 1024)
        try:
            args = ["train", "text", "--config", "tiny", "--data-dir", str(tiny_corpus), "--output", str(output)]
            code, said = run(workdir, *args)
        finally:
            disk.free()
        assert code == 4, said
        assert said.startswith(f"Writing {output} failed because the disk is full") and "\n" not in said
        after = whole_files(output)
        assert {p: after.get(p) for p in before} == before  # every file of the previous model, unchanged
        assert verify_text_model(output)
        assert not [p for p in output.parent.iterdir() if p.name.startswith(".")]  # no half-written folder left


# -- checkpoints -----------------------------------------------------------------------------------------------


def copy_of_training(trained_tiny, tmp_path: Path) -> Path:
    """A copy of the tiny training run's output: the model, checkpoint-2 and checkpoint-4, the datasets cache."""
    _, result = trained_tiny
    output = tmp_path / "models" / "acgvoc2vec"
    shutil.copytree(result.output, output)
    return output


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.pt", "trainer_state.json", CHECKSUMS_FILE])
def test_every_damage_to_a_checkpoint_file_is_found(trained_tiny, tmp_path: Path, name: str, damage: str) -> None:
    from acg2vec.trainers.text.resume import verify_checkpoint

    checkpoint = copy_of_training(trained_tiny, tmp_path) / "checkpoints" / "checkpoint-4"
    assert "optimizer.pt" in verify_checkpoint(checkpoint, required=True)
    DAMAGES[damage](checkpoint / name)
    with pytest.raises(DamagedFileError) as caught:
        verify_checkpoint(checkpoint, required=True)
    said = str(caught.value)
    assert said.startswith(f"{checkpoint / name} is damaged (")
    assert said.endswith(
        "training resumes from the checkpoint before it, and this one is kept as damaged-checkpoint-4."
    )


def test_a_checkpoint_whose_save_did_not_finish_is_found(trained_tiny, tmp_path: Path) -> None:
    from acg2vec.trainers.text.resume import good_checkpoint

    checkpoints = copy_of_training(trained_tiny, tmp_path) / "checkpoints"
    (checkpoints / "checkpoint-4" / CHECKSUMS_FILE).unlink()  # killed before the trainer's save returned
    resume_from, damaged = good_checkpoint(checkpoints, output=checkpoints.parent)
    assert resume_from == str(checkpoints / "checkpoint-2")
    assert [err.path for err in damaged] == [str(checkpoints / "checkpoint-4" / CHECKSUMS_FILE)]
    assert (checkpoints / "damaged-checkpoint-4" / "optimizer.pt").is_file()  # kept aside, not deleted


@pytest.mark.parametrize("name", ["trainer_state.json", "model.safetensors", "tokenizer.json"])
def test_checkpoints_from_before_checksums_get_the_checks_that_need_no_record(
    trained_tiny, tmp_path: Path, name: str
) -> None:
    from acg2vec.trainers.text.resume import good_checkpoint

    checkpoints = copy_of_training(trained_tiny, tmp_path) / "checkpoints"
    for checkpoint in checkpoints.glob("checkpoint-*"):
        (checkpoint / CHECKSUMS_FILE).unlink()
    DAMAGES["cut_short"](checkpoints / "checkpoint-4" / name)
    resume_from, damaged = good_checkpoint(checkpoints, output=checkpoints.parent)
    assert resume_from == str(checkpoints / "checkpoint-2")
    assert [err.path for err in damaged] == [str(checkpoints / "checkpoint-4" / name)]


def test_resume_falls_back_to_the_previous_good_checkpoint(
    trained_tiny, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import gzip
    import json

    from acg2vec.integrity import DAMAGED_FILE
    from acg2vec.trainers.text.resume import verify_checkpoint
    from acg2vec.trainers.text.train import train_text_model

    config, _ = trained_tiny
    output = copy_of_training(trained_tiny, tmp_path)
    damaged = output / "checkpoints" / "checkpoint-4" / "model.safetensors"
    DAMAGES["cut_short"](damaged)
    from tests.trainers.text.tiny_corpus import tiny_config

    with caplog.at_level("WARNING", logger="acg2vec"):
        # Two steps from checkpoint-2 to a new checkpoint-4; no evaluation between steps (the final one runs).
        result = train_text_model(tiny_config(Path(config.data_dir), output, max_steps=4, eval_steps=100, resume=True))
    named = [r.getMessage() for r in caplog.records if "is damaged" in r.getMessage()]
    assert named == [named[0]] and named[0].startswith(f"{damaged} is damaged (")  # said once
    assert result.resumed_from == str(output / "checkpoints" / "checkpoint-2") and result.global_step == 4
    assert result.damaged == {DAMAGED_FILE: 1} and result.damaged_files[0]["path"] == str(damaged)
    saved = json.loads((output / "eval_results.json").read_text())
    assert saved["damaged"] == {DAMAGED_FILE: 1}
    assert "damaged-file: 1" in (output / "README.md").read_text(encoding="utf-8")
    with gzip.open(output / "dead_letters" / "train-text.jsonl.gz", "rt", encoding="utf-8") as fh:
        letters = [json.loads(line) for line in fh]
    assert [d["record"]["path"] for d in letters if d["reason"] == DAMAGED_FILE] == [str(damaged)]
    assert sorted(p.name for p in (output / "checkpoints").glob("*checkpoint-*")) == [
        "checkpoint-2",
        "checkpoint-4",
        "damaged-checkpoint-4",
    ]
    assert verify_checkpoint(output / "checkpoints" / "checkpoint-4", required=True)  # saved again, whole
    assert verify_text_model(output)


def test_serving_and_indexing_load_through_the_same_check(built, tmp_path: Path) -> None:
    """``serve`` and ``index texts`` load the text model as :class:`acg2vec.serving.models.TextModel`, which goes
    through ``load_encoder``: the same sentence, before any request is answered."""
    from acg2vec.serving.models import TextModel

    model = copy_of(built["sealed"], tmp_path)
    assert TextModel(str(model)).encode(TITLES).vectors.shape == (3, 32)
    DAMAGES["random_middle"](model / "model.safetensors")
    with pytest.raises(DamagedFileError, match=f"^{model / 'model.safetensors'} is damaged"):
        TextModel(str(model))


@pytest.mark.slow
def test_the_repair_commands_work(built, tiny_corpus: Path, workdir: Path, tmp_path: Path) -> None:
    """The sentences' commands, run as they say: the model and its ONNX export rebuilt, embed and ONNX loading
    work again (one tiny training run with --onnx, which repairs both; slow: 58 s at load 17.5)."""
    from acg2vec.trainers.text.onnx_export import OnnxEncoder

    model = copy_of(built["sealed"], tmp_path)
    DAMAGES["cut_short"](model / "model.safetensors")
    DAMAGES["random_middle"](model / "onnx" / "model.onnx")
    code, said, _ = embed(tmp_path, model)
    assert code == 3 and said.endswith(f"`acg2vec train text --output {model}`."), said
    with pytest.raises(DamagedFileError) as caught:
        OnnxEncoder(model / "onnx" / "model.onnx", model)
    repair = str(caught.value).rsplit("`", 2)[-2]
    assert repair == f"acg2vec train text --onnx --output {model}"
    code, said = run(workdir, *repair.split()[1:], "--config", "tiny", "--data-dir", str(tiny_corpus))
    assert code == 0, said
    code, said, out = embed(tmp_path, model)
    assert code == 0, said
    assert np.load(f"{out}.npy").shape[0] == 3
    assert OnnxEncoder(model / "onnx" / "model.onnx", model).encode(TITLES).shape[0] == 3


# -- the Parquet pairs the trainer reads ----------------------------------------------------------------------


@pytest.mark.parametrize("recorded", [True, False], ids=["build-checksums", "no-record"])
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_every_damage_to_a_parquet_part_stops_train_text_with_one_sentence(
    built, tiny_corpus: Path, workdir: Path, tmp_path: Path, damage: str, recorded: bool
) -> None:
    """Found by the corpus reader's checks (its CHECKSUMS.json, footers, row counts), or for a page changed inside
    a part of a corpus without a record, when the trainer reads it; the previous model and its checkpoints stay."""
    from acg2vec.integrity import write_checksums

    corpus = tiny_corpus / "parquet" / "acg_text_pairs"
    if recorded:
        write_checksums(corpus)  # as a build records its files
    part = corpus / "train" / "part-00000.parquet"
    DAMAGES[damage](part)
    output = copy_of(built["sealed"], tmp_path)
    (output / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (output / "checkpoints" / "checkpoint-2" / "trainer_state.json").write_text("{}")
    before = whole_files(output)
    code, said = run(workdir, "train", "text", "--config", "tiny", "--data-dir", str(tiny_corpus), "-o", str(output))
    assert code == 3, said
    assert said.startswith(f"{part} is damaged (") and "\n" not in said
    assert said.endswith("repair it with `acg2vec build texts`.")
    assert whole_files(output) == before  # nothing earlier lost
