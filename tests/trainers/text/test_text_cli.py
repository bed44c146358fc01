"""`acg2vec train text` and `acg2vec embed --text` from the command line, and training in 2 processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from acg2vec.cli import app

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
    assert args["trainer"]["learning_rate"] == 5e-4  # the from-scratch default
    assert results["global_step"] == 2 and set(results["metrics"]) == {"lexical", "untrained", "trained"}
    texts = tmp_path / "names.txt"
    texts.write_text("アリス\n爱丽丝\n", encoding="utf-8")
    embed = runner.invoke(
        app, ["--workdir", str(workdir), "-q", "embed", "--text", str(texts), "-o", str(tmp_path / "v")]
    )
    assert embed.exit_code == 0, embed.output
    vectors = np.load(tmp_path / "v.npy")
    assert vectors.shape == (2, 128) and np.isfinite(vectors).all()


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


@pytest.mark.unit
@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--loss", "triplet"], "Unknown loss"),
        (["--sampling", "random"], "Unknown sampling"),
        (["--batch-size", "1"], "at least 2"),
        (["--matryoshka-dims", "64,x"], "comma-separated integers"),
    ],
)
def test_bad_options_are_user_errors(option: list[str], message: str, tiny_corpus: Path, workdir: Path) -> None:
    from acg2vec.errors import UserError

    result = CliRunner().invoke(app, ["--workdir", str(workdir), "train", "text", *option])
    assert isinstance(result.exception, UserError)
    assert message in str(result.exception)
