"""The training commands end to end: CLI runs, kill-and-resume, a missing dataset, two local workers."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from acg2vec.cli import app
from acg2vec.trainers.text.configs import recipe, tiny_for_tests
from tests.trainers.image.tiny_dataset import make_image

ACG2VEC = [sys.executable, "-m", "acg2vec.cli"]


TINY_FLAGS = [
    "--version",
    "v4",
    "--width",
    "0.03125",
    "--depth",
    "0.05",
    "--image-size",
    "32",
    "--batch-size",
    "8",
]


def _env(workdir: Path) -> dict:
    return {**os.environ, "ACG2VEC_HOME": str(workdir), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


def _run(args: list[str], workdir: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*ACG2VEC, *args], env=_env(workdir), capture_output=True, text=True, timeout=timeout)


@pytest.mark.integration
def test_missing_dataset_is_one_line_and_non_zero_exit(workdir):
    result = _run(["train", "tagger", "--dataset", "acg_illustrations/224"], workdir)
    assert result.returncode == 2
    assert "No dataset acg_illustrations/224 under" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_train_predict_embed_from_the_cli(workdir, tiny_data_dir, tmp_path):
    from typer.testing import CliRunner

    from acg2vec.cli import app

    runner = CliRunner()
    args = [
        "--data-dir",
        str(tiny_data_dir),
        "--dataset",
        "acg_illustrations/64",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
    ]
    result = runner.invoke(
        app, ["--workdir", str(workdir), "train", "tagger", "--arch", "deepdanbooru", *args, *TINY_FLAGS]
    )
    assert result.exit_code == 0, result.output[-3000:]
    assert "validation macro mAP" in result.stdout
    model_dir = workdir / "models" / "deepdanbooru"
    for name in (
        "saved_model.pb",
        "selected_tags.csv",
        "thresholds.json",
        "training_args.json",
        "metrics.json",
        "training.png",
    ):
        assert (model_dir / name).is_file(), name
    state_dir = workdir / "models" / "deepdanbooru.training"  # the training state lives beside the export
    assert (state_dir / "logs").is_dir()  # TensorBoard
    assert not (state_dir / "backup").exists()  # removed after a finished run
    assert sorted(p.name for p in (state_dir / "checkpoints").iterdir())[-1] == "epoch-001.weights.h5"
    assert not (model_dir / "logs").exists() and (model_dir / "CHECKSUMS.json").is_file()
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["val_examples"] == 24 and 0 <= metrics["val_macro_map"] <= 1
    thresholds = json.loads((model_dir / "thresholds.json").read_text())
    assert set(thresholds["thresholds"]) == {"red", "green", "blue", "yellow", "black", "shadow_(character)"}

    import tensorflow as tf

    images = tmp_path / "images"
    images.mkdir()
    image = images / "42.png"
    image.write_bytes(tf.io.encode_png(make_image(np.random.default_rng(0), ["red"], 64)).numpy())
    result = runner.invoke(app, ["--workdir", str(workdir), "predict", str(image), "--top-k", "2"])
    assert result.exit_code == 0, result.output[-3000:]
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith(f"{image}: ") and len(re.findall(r" \(\d\.\d{3}\)", line)) == 2

    result = runner.invoke(app, ["--workdir", str(workdir), "embed", str(images), "--output", str(tmp_path / "emb")])
    assert result.exit_code == 0, result.output[-3000:]
    assert np.load(tmp_path / "emb.npy").shape[0] == 1
    assert "wrote 1 vectors" in result.stdout


@pytest.mark.integration
def test_train_deepix_exports_deepix_and_illust2vec(workdir, tiny_data_dir):
    import tensorflow as tf
    from typer.testing import CliRunner

    from acg2vec.cli import app

    args = [
        "--workdir", str(workdir), "train", "deepix", "--data-dir", str(tiny_data_dir),
        "--dataset", "acg_illustrations/64", "--epochs", "1", "--steps-per-epoch", "2",
        "--encoder-layer", "activation_6", "--head-filters", "8", *TINY_FLAGS,
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output[-3000:]
    deepix_dir, i2v_dir = workdir / "models" / "deepix", workdir / "models" / "illust2vec"
    assert (deepix_dir / "thresholds.json").is_file() and (i2v_dir / "saved_model.pb").is_file()
    data = tf.stack([tf.io.encode_png(make_image(np.random.default_rng(2), ["blue"], 64))])
    deepix_model = tf.saved_model.load(str(deepix_dir))
    heads = deepix_model.signatures["heads"](image_bytes=data)
    assert heads["rating"].shape == (1, 4) and heads["popularity"].shape == (1, 3)
    assert deepix_model.signatures["serving_default"](image_bytes=data)["probabilities"].shape == (1, 6)
    i2v = tf.saved_model.load(str(i2v_dir))
    vector = i2v.signatures["embed"](image_bytes=data)["embedding"].numpy()
    np.testing.assert_allclose(
        vector, deepix_model.signatures["embed"](image_bytes=data)["embedding"].numpy(), rtol=1e-5
    )


def _train_script(data_dir: Path, model_dir: Path, epochs: int) -> str:
    return (
        "from acg2vec.trainers.image.train import TrainConfig, train\n"
        f"train(TrainConfig(model='deepdanbooru', data_dir={str(data_dir)!r}, dataset='acg_illustrations/64',"
        f" model_dir={str(model_dir)!r}, val_split='none', image_size=32, batch_size=4, epochs={epochs},"
        " steps_per_epoch=3, top_tags=None, deterministic=True, seed=1,"
        " model_options=dict(version='v4', width=1/32, depth=0.05)))\n"
    )


def _final_scores(model_dir: Path) -> np.ndarray:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(model_dir))
    data = tf.io.encode_png(make_image(np.random.default_rng(5), ["red", "blue"], 64))
    return loaded.signatures["serving_default"](image_bytes=tf.stack([data]))["probabilities"].numpy()


@pytest.mark.integration
@pytest.mark.slow
def test_killed_run_resumes_exactly(workdir, tiny_data_dir, tmp_path):
    epochs = 4
    reference = tmp_path / "reference"
    script = _train_script(tiny_data_dir, reference, epochs)
    done = subprocess.run(
        [sys.executable, "-c", script], env=_env(workdir), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]

    resumed = tmp_path / "resumed"
    script = _train_script(tiny_data_dir, resumed, epochs)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], env=_env(workdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    metadata = tmp_path / "resumed.training" / "backup" / "training_metadata.json"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if metadata.is_file() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(metadata.read_text())["epoch"]
    assert 2 <= killed_at < epochs
    again = subprocess.run(
        [sys.executable, "-c", script], env=_env(workdir), capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr[-3000:]
    metrics = json.loads((resumed / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] == killed_at and metrics["epochs_run"] == epochs - killed_at
    np.testing.assert_allclose(_final_scores(resumed), _final_scores(reference), rtol=1e-5, atol=1e-6)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
@pytest.mark.slow  # 30-40 s; CI keeps its budget (make test-all runs it)
def test_two_local_workers_train_with_multi_worker_mirrored_strategy(workdir, tiny_data_dir, tmp_path):
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    model_dir = tmp_path / "mw"
    args = [
        "train", "tagger", "--arch", "deepdanbooru", "--strategy", "multi-worker",
        "--data-dir", str(tiny_data_dir), "--dataset", "acg_illustrations/64", "--model-dir", str(model_dir),
        "--epochs", "1", "--steps-per-epoch", "2", *TINY_FLAGS,
    ]  # fmt: skip
    procs = []
    for index in range(2):
        env = {
            **_env(workdir),
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        }
        procs.append(
            subprocess.Popen([*ACG2VEC, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=480))  # two TensorFlow processes on a shared machine
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    assert (model_dir / "saved_model.pb").is_file()  # the chief exported
    assert not (tmp_path / "mw.training" / "worker-1").exists()  # the other worker cleaned its scratch state
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1


VENV_BIN = Path(sys.executable).parent


def _env(workdir: Path) -> dict[str, str]:
    return {**os.environ, "ACG2VEC_HOME": str(workdir), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


@pytest.mark.integration
def test_train_then_embed_from_the_cli(tiny_corpus: Path, workdir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    train = runner.invoke(
        app,
        [
            "--workdir",
            str(workdir),
            "-q",
            "train",
            "text",
            "--config",
            "scratch",
            "--max-steps",
            "2",
            "--batch-size",
            "8",
            "--eval-steps",
            "2",
            "--sampling",
            "round_robin",
        ],
    )
    assert train.exit_code == 0, train.output
    model_dir = workdir / "models" / "acgvoc2vec"
    results = json.loads((model_dir / "eval_results.json").read_text())
    args = json.loads((model_dir / "training_args.json").read_text())
    assert args["trainer"]["multi_dataset_batch_sampler"] == "round_robin"
    assert args["trainer"]["learning_rate"] == recipe("scratch").learning_rate  # the from-scratch recipe
    assert results["global_step"] == 2 and set(results["metrics"]) == {"lexical", "untrained", "trained"}
    texts = tmp_path / "names.txt"
    texts.write_text("アリス\n爱丽丝\n", encoding="utf-8")
    embed = runner.invoke(
        app, ["--workdir", str(workdir), "-q", "embed", "--text", str(texts), "-o", str(tmp_path / "v")]
    )
    assert embed.exit_code == 0, embed.output
    vectors = np.load(tmp_path / "v.npy")
    assert vectors.shape == (2, recipe("scratch").small.hidden_size) and np.isfinite(vectors).all()


@pytest.mark.unit
def test_help_reads_like_a_manual() -> None:
    result = CliRunner().invoke(app, ["train", "text", "--help"])
    assert result.exit_code == 0
    for option in (
        "--data-dir",
        "--base-model",
        "--loss",
        "--batch-size",
        "--epochs",
        "--max-steps",
        "--output",
        "--resume",
    ):
        assert option in result.output


@pytest.mark.unit
def test_missing_corpus_is_one_line_and_a_nonzero_exit(workdir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "acg2vec.cli", "train", "text"],
        env=_env(workdir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "No acg_text_pairs corpus found" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "acg2vec build texts" in proc.stderr


@pytest.mark.integration
@pytest.mark.slow  # 30-40 s; CI keeps its budget (make test-all runs it)
def test_two_process_training_with_torchrun(tiny_corpus: Path, workdir: Path) -> None:
    """2 CPU processes (gloo), one model copy each; only the first writes the model folder."""
    proc = subprocess.run(
        [
            str(VENV_BIN / "torchrun"),
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "acg2vec.cli",
            "-q",
            "train",
            "text",
            "--config",
            "scratch",
            "--max-steps",
            "2",
            "--batch-size",
            "8",
            "--eval-steps",
            "2",
        ],
        env=_env(workdir),
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((workdir / "models" / "acgvoc2vec" / "eval_results.json").read_text())
    assert results["world_size"] == 2
    assert results["global_step"] == 2
    assert results["metrics"]["untrained"]  # measured once, by the first process


@pytest.mark.unit
@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--loss", "triplet"], "Unknown loss"),
        (["--sampling", "random"], "Unknown sampling"),
        (["--batch-size", "1"], "at least 2"),
        (["--matryoshka-dims", "64,x"], "comma-separated integers"),
        (["--config", "huge"], "Unknown text recipe"),
        (["--hard-negatives", "-1"], "--hard-negatives must be 0 or more"),
    ],
)
def test_bad_options_are_user_errors(option: list[str], message: str, tiny_corpus: Path, workdir: Path) -> None:
    from acg2vec.errors import UserError

    result = CliRunner().invoke(app, ["--workdir", str(workdir), "train", "text", *option])
    assert isinstance(result.exception, UserError)
    assert message in str(result.exception)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["tagger", "--batch-size", "-4"], "'--batch-size'"),
        (["tagger", "--epochs", "0"], "'--epochs'"),
        (["tagger", "--image-size", "0"], "'--image-size'"),
        (["tagger", "--steps-per-epoch", "0"], "'--steps-per-epoch'"),
        (["tagger", "--learning-rate", "0"], "--learning-rate must be more than 0"),
        (["deepix", "--epochs", "0"], "'--epochs'"),
        (["text", "--epochs", "0"], "--epochs must be more than 0"),
        (["text", "--batch-size", "0"], "'--batch-size'"),
        (["text", "--max-steps", "0"], "--max-steps must be -1 (no cap) or 1 or more"),
    ],
)
def test_out_of_range_numbers_are_refused_before_any_work(workdir, args, says):
    """Through ``acg2vec.cli.main`` in a subprocess: one sentence, exit code 2, no model folder made."""
    env = {**os.environ, "ACG2VEC_HOME": str(workdir)}
    run = subprocess.run([sys.executable, "-c", "from acg2vec.cli import main; main()", "train", *args], env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    message = " ".join(run.stderr.replace("│", " ").split())
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert says in message
    assert not (workdir / "models").exists()


# -- option names: one meaning each, old spellings as hidden aliases for one release -----------------------------


def _capture_image_training(monkeypatch) -> list:
    """Replace the image trainer with one that records its TrainConfig (no TensorFlow training runs)."""
    from acg2vec.trainers.image import train as image_train

    seen = []

    def fake_train(config):
        seen.append(config)
        return image_train.TrainResult(model_dir=config.model_dir, metrics={}, exported=False)

    monkeypatch.setattr(image_train, "train", fake_train)
    return seen


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "fields", "options", "deprecated"),
    [
        (["tagger", "--arch", "alt_i2v", "--weights", "w.h5"], {"model": "alt_i2v"}, {"weights": "w.h5"}, []),
        (
            ["tagger", "--model", "alt_i2v", "--vgg16-weights", "w.h5"],
            {"model": "alt_i2v"},
            {"weights": "w.h5"},
            ["--model is deprecated", "use --arch", "--vgg16-weights is deprecated", "use --weights"],
        ),
        (["tagger", "--version", "v4"], {"model": "deepdanbooru"}, {"version": "v4"}, []),
        (["tagger", "--resnet-version", "v4"], {"model": "deepdanbooru"}, {"version": "v4"}, ["--resnet-version"]),
        (
            ["deepix", "--encoder-learning-rate", "0.0001", "--learning-rate", "0.02"],
            {"model": "deepix", "learning_rate": 0.02},
            {"encoder_learning_rate": 1e-4},
            [],
        ),
        (
            ["deepix", "--encoder-lr", "0.0001"],
            {"model": "deepix"},
            {"encoder_learning_rate": 1e-4},
            ["--encoder-lr is deprecated and goes in the next release; use --encoder-learning-rate."],
        ),
    ],
)
def test_image_options_reach_their_fields_under_one_name(workdir, monkeypatch, args, fields, options, deprecated):
    seen = _capture_image_training(monkeypatch)
    result = CliRunner().invoke(app, ["--workdir", str(workdir), "train", *args])
    assert result.exit_code == 0, result.output
    (config,) = seen
    assert {name: getattr(config, name) for name in fields} == fields
    assert {name: config.model_options.get(name) for name in options} == options
    for line in deprecated:
        assert line in result.stderr
    if not deprecated:
        assert "deprecated" not in result.stderr
    # Without --config a command starts from its named config, with the workdir's folders.
    assert config.dataset == "acg_illustrations/224" and config.data_dir == str(workdir / "datasets")
    assert config.model_dir == str(workdir / "models" / config.model)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["tagger", "--arch", "deepix"], "--arch must be alt_i2v or deepdanbooru"),
        (["tagger", "--config", "deepix_224"], "`acg2vec train tagger` trains alt_i2v or deepdanbooru, not 'deepix'"),
        (["tagger", "--arch", "alt_i2v", "--depth", "0.5"], "alt_i2v takes no --depth"),
        (["deepix", "--config", "nope"], "Unknown config 'nope'"),
    ],
)
def test_image_options_a_model_cannot_take_are_refused(workdir, monkeypatch, args, says):
    from acg2vec.errors import UserError

    seen = _capture_image_training(monkeypatch)
    result = CliRunner().invoke(app, ["--workdir", str(workdir), "train", *args])
    assert isinstance(result.exception, UserError) and says in str(result.exception)
    assert seen == []


@pytest.mark.unit
@pytest.mark.parametrize(("flag", "deprecated"), [("--learning-rate", False), ("--lr", True)])
def test_text_learning_rate_has_one_name_and_lr_is_a_deprecated_alias(
    tiny_corpus, workdir, monkeypatch, flag, deprecated
):
    from acg2vec.trainers.text import train as text_train

    seen = []
    monkeypatch.setattr(text_train, "train_text_model", lambda config: seen.append(config))
    result = CliRunner().invoke(
        app, ["--workdir", str(workdir), "-q", "train", "text", "--config", "tiny", flag, "0.002"]
    )
    assert result.exit_code == 0, result.output
    (config,) = seen
    assert config.learning_rate == 0.002 and config.max_steps == tiny_for_tests().max_steps
    assert config.output == str(workdir / "models" / "acgvoc2vec")
    said = "acg2vec: --lr is deprecated and goes in the next release; use --learning-rate."
    assert (said in result.stderr) is deprecated
    assert ("--lr" in _help_text("train", "text")) is False  # hidden: the help shows one name


def _help_text(*path: str) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    return " ".join(result.output.split())
