"""Damaged image models and training state (issue #27): the zoo over an exported tagger's files through
`acg2vec predict`, a damaged newest training backup, a full disk while training saves.

One tiny tagger is exported for the whole zoo (module-scoped) and copied for each case.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from acg2vec.cli import app
from acg2vec.integrity import DAMAGED_FILE, DamagedFileError, DiskFullError
from acg2vec.trainers.image import checkpoints
from acg2vec.trainers.image.export import verify_model_folder
from tests.damage import DAMAGES, SmallDisk
from tests.trainers.image.exported_tagger import export_tiny_tagger, write_image_files

pytestmark = pytest.mark.integration

# The files a user's copy or disk is most likely to damage: the graph, the weights, the tag list, the thresholds.
MODEL_FILES = (
    "saved_model.pb",
    "variables/variables.data-00000-of-00001",
    "selected_tags.csv",
    "thresholds.json",
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    model_dir, _, _ = export_tiny_tagger(tmp_path_factory.mktemp("models") / "deepdanbooru")
    return model_dir


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    return write_image_files(tmp_path_factory.mktemp("images"))[0]


def _predict(workdir: Path, model_dir: Path, image: Path):
    return CliRunner().invoke(app, ["--workdir", str(workdir), "predict", str(image), "--model", str(model_dir)])


def test_an_exported_model_records_and_passes_its_checksums(exported):
    listed = json.loads((exported / "CHECKSUMS.json").read_text())["files"]
    assert set(MODEL_FILES) <= set(listed) and "export.json" in listed
    assert verify_model_folder(exported) == sorted(listed)


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("name", MODEL_FILES)
def test_every_damage_to_a_model_file_is_one_sentence_through_predict(
    exported, image, workdir, tmp_path, name, damage
):
    model_dir = tmp_path / "deepdanbooru"
    shutil.copytree(exported, model_dir)
    DAMAGES[damage](model_dir / name)
    result = _predict(workdir, model_dir, image)
    err = result.exception
    assert isinstance(err, DamagedFileError) and err.exit_code == 3, result.output
    assert err.path == str(model_dir / name)
    message = str(err)
    assert message.startswith(f"{model_dir / name} is damaged (") and message.count(".") >= 1
    assert "the model cannot be used" in message
    assert f"repair it with `acg2vec train tagger --arch deepdanbooru --model-dir {model_dir}`" in message
    assert "\n" not in message
    # Nothing else is touched: every other file of the folder still matches what was written.
    listed = json.loads((model_dir / "CHECKSUMS.json").read_text())["files"]
    for other in listed:
        if other != name:
            assert (model_dir / other).read_bytes() == (exported / other).read_bytes()


def test_the_cli_exits_3_with_the_sentence_and_an_undamaged_copy_predicts(exported, image, workdir, tmp_path):
    """Through ``acg2vec.cli.main`` as a user runs it: exit status 3 and the sentence on stderr, no traceback; the
    same folder whole again (what the repair writes) predicts."""
    import os
    import subprocess
    import sys

    model_dir = tmp_path / "deepdanbooru"
    shutil.copytree(exported, model_dir)
    DAMAGES["cut_short"](model_dir / "thresholds.json")
    env = {**os.environ, "ACG2VEC_HOME": str(workdir), "TF_CPP_MIN_LOG_LEVEL": "2"}
    args = ["predict", str(image), "--model", str(model_dir)]
    run = subprocess.run([sys.executable, "-c", "from acg2vec.cli import main; main()", *args], env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    said = " ".join(run.stderr.split())
    assert run.returncode == 3 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert f"{model_dir / 'thresholds.json'} is damaged (" in said and "the model cannot be used" in said
    shutil.rmtree(model_dir)
    shutil.copytree(exported, model_dir)
    assert _predict(workdir, model_dir, image).exit_code == 0


def test_a_folder_exported_before_checksums_still_loads_and_its_damage_is_named(exported, image, workdir, tmp_path):
    model_dir = tmp_path / "deepdanbooru"
    shutil.copytree(exported, model_dir)
    (model_dir / "CHECKSUMS.json").unlink()
    assert _predict(workdir, model_dir, image).exit_code == 0
    DAMAGES["wrong_kind"](model_dir / "thresholds.json")
    err = _predict(workdir, model_dir, image).exception
    assert isinstance(err, DamagedFileError) and err.path == str(model_dir / "thresholds.json")


# -- training state: the newest backup damaged, resume from the one before ------------------------------------------


def _tiny_fit(backup_dir: Path, epochs: int, *, stop_after: int | None = None):
    """A two-weight Keras model fitted with the checked backup; ``stop_after`` epochs interrupts it (a kill)."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), loss="mse")

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if stop_after is not None and epoch + 1 == stop_after:
                raise KeyboardInterrupt

    x, y = np.ones((8, 3), np.float32), np.full((8, 1), 2.0, np.float32)
    damaged = checkpoints.restore_good_backup(str(backup_dir))
    callbacks = [checkpoints.CheckedBackupAndRestore(str(backup_dir)), Kill()]
    try:
        history = model.fit(x, y, epochs=epochs, batch_size=4, callbacks=callbacks, verbose=0)
    except KeyboardInterrupt:
        return damaged, None
    return damaged, history


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_newest_backup_is_named_and_training_resumes_from_the_previous(tmp_path, damage):
    backup = tmp_path / "backup"
    _tiny_fit(backup, 5, stop_after=3)
    record = json.loads((backup / checkpoints.RECORD_FILE).read_text())
    assert [s["epoch"] for s in record["states"]] == [3, 2]
    DAMAGES[damage](backup / checkpoints.WEIGHTS)
    damaged, history = _tiny_fit(backup, 5)
    (err,) = damaged
    assert err.path == str(backup / checkpoints.WEIGHTS) and "after epoch 3 is lost" in str(err)
    assert len(history.history["loss"]) == 3  # epochs 3, 4, 5: resumed after epoch 2
    assert not backup.exists()  # a finished run removes its backup


def test_no_good_backup_starts_over_and_says_so(tmp_path, caplog):
    backup = tmp_path / "backup"
    _tiny_fit(backup, 5, stop_after=3)
    DAMAGES["random_middle"](backup / checkpoints.WEIGHTS)
    DAMAGES["cut_short"](backup / f"{checkpoints.WEIGHTS}{checkpoints.PREVIOUS}")
    with caplog.at_level("WARNING"):
        damaged, history = _tiny_fit(backup, 5)
        checkpoints.say_damaged(damaged, 0)
    assert [e.path for e in damaged] == [str(backup / checkpoints.WEIGHTS), str(backup / "latest.weights.h5.bkp")]
    assert len(history.history["loss"]) == 5
    assert "training starts over from epoch 1" in caplog.text


# -- a training run through `acg2vec train tagger`: resume after damage, a full disk while saving --------------------

TINY_FLAGS = ["--version", "v4", "--width", "0.03125", "--depth", "0.05", "--image-size", "32", "--batch-size", "8"]


def _train(workdir: Path, data_dir: Path, model_dir: Path, *extra: str):
    args = ["--workdir", str(workdir), "train", "tagger", "--arch", "deepdanbooru", "--data-dir", str(data_dir),
            "--dataset", "acg_illustrations/64", "--model-dir", str(model_dir), "--steps-per-epoch", "1",
            "--validation-steps", "1", "--deterministic", *TINY_FLAGS, *extra]  # fmt: skip
    return CliRunner().invoke(app, args)


@pytest.mark.slow
def test_a_full_disk_during_an_export_leaves_the_previous_model_whole(exported, tmp_path):
    with SmallDisk(tmp_path / "disk", 16) as disk:
        model_dir = disk.path / "deepdanbooru"
        shutil.copytree(exported, model_dir)
        disk.fill(leave=16 * 1024)
        with pytest.raises(DiskFullError, match="the disk is full"):
            export_tiny_tagger(model_dir)
        disk.free()
        assert verify_model_folder(model_dir)  # the previous model, every file as it was written
        assert sorted(p.name for p in disk.path.iterdir() if not p.name.startswith(".filler")) == ["deepdanbooru"]


def test_a_full_disk_during_a_backup_keeps_the_previous_state_to_resume_from(tmp_path):
    with SmallDisk(tmp_path / "disk", 16) as disk:
        backup = disk.path / "backup"
        _tiny_fit(backup, 5, stop_after=2)
        disk.fill(leave=1024)
        with pytest.raises(DiskFullError, match="the disk is full"):
            _tiny_fit(backup, 5)
        disk.free()
        damaged, history = _tiny_fit(backup, 5)
    # Whatever the full disk cut short is named, and training goes on from the last whole state (epoch 2 or 3).
    assert all(isinstance(err, DamagedFileError) for err in damaged)
    assert len(history.history["loss"]) in (2, 3)


@pytest.mark.slow
def test_a_full_disk_while_training_saves_is_one_sentence_and_the_previous_model_stays_whole(
    exported, tiny_data_dir, workdir, tmp_path
):
    with SmallDisk(tmp_path / "disk", 16) as disk:
        model_dir = disk.path / "deepdanbooru"
        shutil.copytree(exported, model_dir)
        disk.fill(leave=8 * 1024)
        result = _train(workdir, tiny_data_dir, model_dir, "--epochs", "1")
        disk.free()
        err = result.exception
        assert isinstance(err, DiskFullError) and err.exit_code == 4, result.output[-2000:]
        assert "the disk is full" in str(err) and "free some space and run the command again" in str(err)
        assert verify_model_folder(model_dir)  # the previous model, every file as it was written
        assert not [p for p in disk.path.iterdir() if p.name.startswith(".deepdanbooru")]  # no half-written export
        # With the space back, the same command trains and replaces the model whole (the repair of a damaged one).
        result = _train(workdir, tiny_data_dir, model_dir, "--epochs", "1")
        assert result.exit_code == 0, result.output[-2000:]
        metrics = json.loads((model_dir / "metrics.json").read_text())
        assert metrics["counts"] == {DAMAGED_FILE: 0} and verify_model_folder(model_dir)


# -- the input dataset: a damaged TFRecord shard stops training with the sentence --------------------------------


def test_a_damaged_train_shard_stops_training_with_one_sentence_naming_it(tiny_data_dir, tmp_path):
    from acg2vec.trainers.image.train import TrainConfig, train

    from .conftest import TINY_DEEPDANBOORU

    data_dir = tmp_path / "datasets"
    shutil.copytree(tiny_data_dir, data_dir)
    shard = sorted(data_dir.rglob("*train.tfrecord*"))[0]
    DAMAGES["random_middle"](shard)
    config = TrainConfig(
        data_dir=str(data_dir), dataset="acg_illustrations/64", model_dir=str(tmp_path / "model"), image_size=32,
        batch_size=8, epochs=1, steps_per_epoch=1, validation_steps=1, deterministic=True,
        model_options=dict(TINY_DEEPDANBOORU),
    )  # fmt: skip
    with pytest.raises(DamagedFileError) as caught:
        train(config)
    assert caught.value.path == str(shard) and "acg2vec build images" in str(caught.value)
    assert not (tmp_path / "model").exists()  # nothing exported from a damaged dataset


@pytest.mark.slow
def test_train_resumes_from_the_previous_backup_and_counts_the_damaged_one(tiny_data_dir, tmp_path, monkeypatch):
    """Through ``train()``: a run killed after epoch 2, its newest backup damaged, resumes after epoch 1 and its
    metrics.json counts one damaged-file."""
    import keras

    from acg2vec.trainers.image import train as train_module
    from acg2vec.trainers.image.train import TrainConfig, train

    from .conftest import TINY_DEEPDANBOORU

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    callbacks = train_module._callbacks
    monkeypatch.setattr(train_module, "_callbacks", lambda *a, **k: [*callbacks(*a, **k), Kill()])
    config = TrainConfig(
        data_dir=str(tiny_data_dir), dataset="acg_illustrations/64", model_dir=str(tmp_path / "model"),
        image_size=32, batch_size=8, epochs=3, steps_per_epoch=1, validation_steps=1, deterministic=True,
        model_options=dict(TINY_DEEPDANBOORU),
    )  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        train(config)
    backup = tmp_path / "model.training" / "backup"
    DAMAGES["cut_short"](backup / checkpoints.WEIGHTS)
    monkeypatch.setattr(train_module, "_callbacks", callbacks)
    metrics = train(config).metrics
    assert metrics["resumed_from_epoch"] == 1 and metrics["epochs_run"] == 2
    assert metrics["counts"] == {DAMAGED_FILE: 1}
    assert metrics["damaged_files"][0]["path"] == str(backup / checkpoints.WEIGHTS)
    assert json.loads((tmp_path / "model" / "metrics.json").read_text())["counts"] == {DAMAGED_FILE: 1}


@pytest.mark.parametrize("given", ["folder", "model file"])
def test_deepix_init_from_a_damaged_tagger_folder_names_the_file(exported, tmp_path, given):
    from acg2vec.trainers.image.models import deepdanbooru

    model_dir = tmp_path / "deepdanbooru"
    shutil.copytree(exported, model_dir)
    DAMAGES["random_middle"](model_dir / "variables/variables.data-00000-of-00001")
    with pytest.raises(DamagedFileError, match="the model cannot be used") as caught:
        deepdanbooru.load_file(str(model_dir if given == "folder" else model_dir / "model.keras"))
    assert caught.value.path == str(model_dir / "variables/variables.data-00000-of-00001")
