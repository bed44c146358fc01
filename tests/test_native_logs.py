"""TensorFlow's C++ start-up lines stay off the console of every command; other stderr output is kept."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from acg2vec.native_logs import STARTUP_LINE, replay, with_fd2_captured
from tests.evaluation.fakes import colour_image, jpeg_bytes, make_image_model

STARTUP_LINES = (
    "All log messages before absl::InitializeLog()",
    "oneDNN custom operations are on",
    "This TensorFlow binary is optimized",
    "cpu_feature_guard",
)


def _env_without_log_settings(workdir: Path) -> dict[str, str]:
    # The test session sets TF_CPP_MIN_LOG_LEVEL itself; the command must not rely on it.
    drop = {"TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY", "GLOG_minloglevel", "TF_ENABLE_ONEDNN_OPTS"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "ACG2VEC_HOME": str(workdir), "CUDA_VISIBLE_DEVICES": ""}


@pytest.mark.unit
def test_replay_sends_startup_lines_to_the_log_and_keeps_the_rest(caplog, capsys):
    caplog.set_level(logging.DEBUG, logger="acg2vec.native_logs")
    replay(
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on. You may see slightly different results\n"
        "a warning a user should see\n"
    )
    assert capsys.readouterr().err == "a warning a user should see\n"
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2 and all(m.startswith("native start-up: ") for m in logged)
    assert all(getattr(r, "file_only", False) for r in caplog.records)  # the log file, never the console


@pytest.mark.unit
def test_writes_to_descriptor_2_are_captured_and_replayed(capfd):
    def noisy() -> int:
        os.write(2, b"I0000 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\nkept line\n")
        return 7

    assert with_fd2_captured(noisy) == 7
    err = capfd.readouterr().err
    assert "kept line" in err and "cpu_feature_guard" not in err


@pytest.mark.integration
def test_a_find_spec_probe_before_the_import_keeps_the_capture(tmp_path):
    # Libraries ask importlib.util.find_spec("tensorflow") before importing it; the capture must survive that.
    code = (
        "import importlib.util, sys\n"
        "from acg2vec.native_logs import quiet_native_startup\n"
        "quiet_native_startup()\n"
        "assert importlib.util.find_spec('tensorflow') is not None\n"
        "import tensorflow as tf\n"
        "print(int(tf.constant(20) + 1))\n"
        "print('still on stderr', file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_env_without_log_settings(tmp_path), capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "21"
    assert "still on stderr" in proc.stderr
    assert not any(STARTUP_LINE.search(line) for line in proc.stderr.splitlines()), proc.stderr[-3000:]


@pytest.mark.unit
def test_the_cli_imports_no_tensorflow_before_main_runs():
    code = "import sys, acg2vec.cli; print('tensorflow' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "False"


@pytest.mark.integration
def test_predict_console_has_no_tensorflow_startup_lines(workdir, tmp_path):
    model = make_image_model(tmp_path / "tagger")
    image = tmp_path / "red.jpg"
    image.write_bytes(jpeg_bytes(colour_image("red", seed=0)))
    proc = subprocess.run(
        [sys.executable, "-m", "acg2vec.cli", "-v", "predict", str(image), "--model", str(model)],
        env=_env_without_log_settings(workdir),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().startswith(f"{image}: ")
    for line in STARTUP_LINES:
        assert line not in proc.stderr, proc.stderr[-3000:]
    assert not any(STARTUP_LINE.search(line) for line in proc.stderr.splitlines())
    # TensorFlow did start (the model ran) and its start-up lines are in the log file at debug level.
    (log_file,) = (workdir / "logs").glob("acg2vec-*.log")
    assert "native start-up: " in log_file.read_text()
    assert np.isfinite(float(proc.stdout.split("(")[-1].split(")")[0]))


FILTER_SCRIPT = """
import logging, os, sys
from acg2vec.native_logs import native_stderr_filtered
if sys.argv[1]:
    handler = logging.FileHandler(sys.argv[1]); handler.setLevel(logging.DEBUG); logging.getLogger().addHandler(handler)
with native_stderr_filtered():
    os.write(2, NOISE)
    os.write(2, b"a line a user must see\\n")
    print("python's own stderr", file=sys.stderr)
    if len(sys.argv) > 2:
        os.write(2, b"last words before an abort\\n")
        os.abort()
print("after the filter", file=sys.stderr)
"""
NOISE_LINE = (
    b"E0000 00:00:1796176948.986645   22982 node_def_util.cc:682] NodeDef mentions attribute use_unbounded_threadpool"
    b" which is not in the op definition: Op<name=MapDataset; ...> NodeDef: {{node ParallelMapDatasetV2/_16}}\n"
)


def _run_filter_script(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "filtered.py"
    script.write_text(f"NOISE = {NOISE_LINE!r}\n" + FILTER_SCRIPT)
    # stderr to a file that outlives the child: after an abort the filter process still writes to it.
    err_path = tmp_path / "stderr.txt"
    with err_path.open("wb") as err:
        proc = subprocess.run([sys.executable, str(script), *args], stderr=err, timeout=120)
    proc.stderr = err_path.read_text()
    return proc


@pytest.mark.unit
def test_training_noise_goes_to_the_debug_log_and_every_other_line_to_stderr_in_order(tmp_path):
    log_file = tmp_path / "debug.log"
    proc = _run_filter_script(tmp_path, str(log_file))
    assert proc.returncode == 0
    assert proc.stderr.splitlines() == ["a line a user must see", "python's own stderr", "after the filter"]
    assert "native: E0000" in log_file.read_text() and "use_unbounded_threadpool" in log_file.read_text()


@pytest.mark.unit
def test_what_native_code_writes_before_an_abort_still_reaches_stderr(tmp_path):
    proc = _run_filter_script(tmp_path, "", "abort")
    assert proc.returncode != 0
    deadline = time.monotonic() + 10  # the filter process drains the pipe after its writer died
    while "last words" not in proc.stderr and time.monotonic() < deadline:
        time.sleep(0.1)
        proc.stderr = (tmp_path / "stderr.txt").read_text()
    assert proc.stderr.splitlines() == ["a line a user must see", "python's own stderr", "last words before an abort"]
    assert "use_unbounded_threadpool" not in proc.stderr
