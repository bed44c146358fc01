"""The command line through acg2vec.cli: help of every stage, user mistakes as one line, what help and a run write."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer.main
from typer.testing import CliRunner

from acg2vec.cli import app

pytestmark = pytest.mark.unit


runner = CliRunner()


def _commands(command=None, path=()):
    """(path, click command) of every leaf command of the app."""
    command = command or typer.main.get_command(app)
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path, command


def _help(*args: str) -> str:
    """``--help`` of a command on a wide terminal, box drawing removed and white space folded.

    typer reads TERMINAL_WIDTH once, when its help renderer is first imported (perhaps by an earlier test with
    another width), so the width is also pinned on the renderer itself: a narrow table folds long option names.
    """
    from unittest import mock

    from typer import rich_utils

    with mock.patch.object(rich_utils, "MAX_WIDTH", 200):
        result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0, result.output
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())


COMMANDS = sorted(_commands())
# What each stage's help must offer, whatever else it gains.
KEY_OPTIONS = {
    ("crawl", "safebooru"): ["--tags", "--limit", "--files", "--throttle", "--fresh"],
    ("crawl", "bangumi"): ["--archive", "--ids", "--characters"],
    ("crawl", "wikipedia"): ["--lang", "--category", "--title", "--depth"],
    ("crawl", "moegirl"): ["--category", "--title", "--depth"],
    ("crawl", "animelist"): ["--mode", "--ids"],
    ("crawl", "pixiv"): ["--from"],
    ("build", "images"): ["--size", "--ratings", "--splits", "--runner", "--workers", "--dry-run-dataflow"],
    ("build", "texts"): ["--sources", "--runner", "--workers", "--dry-run-dataflow"],
    ("train", "tagger"): ["--arch", "--dataset", "--epochs", "--batch-size", "--init-from"],
    ("train", "deepix"): ["--encoder-layer", "--illust2vec-dir", "--init-from"],
    ("train", "text"): ["--config", "--base-model", "--loss", "--max-steps", "--onnx"],
    ("eval", "tagger"): ["--model", "--split", "--release", "--run"],
    ("eval", "images"): ["--model", "--min-jaccard", "--run"],
    ("eval", "texts"): ["--model", "--base-model", "--split", "--run"],
    ("eval", "ann"): ["--vectors", "--factory", "--target-recall", "--run"],
    ("predict",): ["--model", "--top-k"],
    ("embed",): ["--model", "--output", "--text"],
    ("demo",): ["--posts", "--seed"],
}


def test_help_lists_every_stage():
    text = _help()
    for stage in ("crawl", "build", "train", "eval", "predict", "embed", "demo"):
        assert re.search(rf"\b{stage}\b", text), stage
    assert "crawl -> build -> train -> eval" in text  # the app's own description


@pytest.mark.parametrize("group", ["crawl", "build", "train", "eval"])
def test_each_group_help_lists_its_commands_with_their_help(group):
    text = _help(group)
    members = [(path, command) for path, command in COMMANDS if path[0] == group]
    assert members
    for path, command in members:
        assert f"{path[-1]} {command.help.split('.')[0]}" in text, path  # name beside its one-line help


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_each_command_help_shows_its_own_text_and_every_option(path, command):
    text = _help(*path)
    assert f"Usage: acg2vec {' '.join(path)} [OPTIONS]" in text
    first = " ".join(command.help.split("\n\n")[0].split())
    assert first in text, (first, text[:600])
    shown = [param for param in command.params if not getattr(param, "hidden", False)]
    for option in (o for param in shown for o in param.opts if o.startswith("--")):
        assert option in text, option


def test_key_options_of_every_stage_are_offered():
    assert set(KEY_OPTIONS) <= {path for path, _ in COMMANDS}
    for path, options in KEY_OPTIONS.items():
        text = _help(*path)
        missing = [o for o in options if not re.search(rf"{re.escape(o)}\b", text)]
        assert not missing, (path, missing)


def _acg2vec(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "acg2vec.cli", *args], capture_output=True, text=True, cwd=cwd)


def _one_line(proc: subprocess.CompletedProcess) -> str:
    """The single stderr line of a command that failed on a user's mistake (nothing on stdout, no traceback)."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert proc.stdout == ""
    return lines[0]


def test_a_missing_required_option_is_one_line(workdir):
    line = _one_line(_acg2vec("--workdir", str(workdir), "crawl", "pixiv"))
    assert line.endswith("crawl pixiv: Missing option '--from'.")


# One user mistake per stage group, through main() in a child process: (arguments, what the line says).
MISTAKES = {
    "crawl": (["crawl", "pixiv", "--from", "{missing}"], "is not a folder"),
    "build": (["build", "texts"], "No raw items under"),
    "train": (["train", "text"], "No acg_text_pairs corpus found under"),
    "eval": (["eval", "texts"], "build it first with `acg2vec build texts`"),
    "predict": (["predict", "{missing}/a.jpg"], "No tagger model under"),
    "embed": (["embed", "--text", "{missing}/a.txt"], "No text model at"),
    "demo": (["demo", "--until", "serve"], "--until must be one of crawl, build, train, eval"),
}


@pytest.mark.integration
@pytest.mark.parametrize("stage", sorted(MISTAKES))
def test_a_user_mistake_in_every_stage_is_one_line_on_stderr(stage, workdir, tmp_path):
    args, says = MISTAKES[stage]
    args = [a.format(missing=tmp_path / "missing") for a in args]
    line = _one_line(_acg2vec("--workdir", str(workdir), *args))
    assert line.startswith("acg2vec: ") and says in line, line


def test_a_workdir_that_is_a_file_is_one_sentence_through_main(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    proc = _acg2vec("--workdir", str(a_file), "eval", "texts")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1
    assert lines[0].startswith("acg2vec: The workdir") and "is a file, not a folder" in lines[0]


def test_help_and_version_write_nothing(tmp_path):
    for args in (["--help"], ["--version"], ["eval", "--help"], ["crawl", "safebooru", "--help"], ["build"]):
        proc = _acg2vec("--workdir", str(tmp_path / "ws"), *args, cwd=tmp_path)
        assert "Traceback" not in proc.stderr, args
    proc = _acg2vec("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "help or version created files"


def test_log_file_records_the_command_and_the_mistake(workdir):
    proc = _acg2vec("--workdir", str(workdir), "eval", "texts")
    assert proc.returncode == 2
    (log_file,) = (workdir / "logs").glob("acg2vec-*.log")
    text = log_file.read_text()
    assert "eval texts" in text  # the command line
    assert "build it first with `acg2vec build texts`" in text  # the user's mistake, as the console said it


def test_the_command_line_loads_no_heavy_library_until_a_command_runs():
    # --help and --version stay fast: every stage imports TensorFlow, torch, Beam, Scrapy or FAISS inside itself.
    heavy = ("tensorflow", "tensorflow_datasets", "keras", "torch", "sentence_transformers", "apache_beam", "scrapy")
    code = f"import sys, acg2vec.cli; print(sorted(m for m in {heavy!r} + ('faiss',) if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("args", "old", "new"),
    [
        (["embed", "--text", "{missing}/a.txt", "--out", "{missing}/v"], "--out", "--output"),
        (["train", "text", "--lr", "0.001"], "--lr", "--learning-rate"),
        (["train", "tagger", "--model", "deepdanbooru"], "--model", "--arch"),
    ],
)
def test_an_old_option_name_works_for_one_release_and_says_so_on_stderr(workdir, tmp_path, args, old, new):
    """Each command fails here on a missing input, after the old spelling was read and named as deprecated."""
    args = [a.replace("{missing}", str(tmp_path / "missing")) for a in args]
    result = runner.invoke(app, ["--workdir", str(workdir), *args])
    assert f"acg2vec: {old} is deprecated and goes in the next release; use {new}." in result.stderr
    assert old not in _help(*args[:2]).split()  # hidden from the help, which shows the one name
