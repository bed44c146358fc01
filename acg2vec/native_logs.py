"""Quiet start-up of the native libraries under the command line: TensorFlow's C++ banner stays off the console.

``import tensorflow`` writes its C++ start-up lines ("All log messages before absl::InitializeLog() is called",
"oneDNN custom operations are on", "This TensorFlow binary is optimized ...") straight to file descriptor 2,
before any Python logging exists, and the oneDNN line ignores ``TF_CPP_MIN_LOG_LEVEL``. Turning oneDNN off
(``TF_ENABLE_ONEDNN_OPTS=0``) would silence it but change the CPU kernels, so acg2vec leaves it on. Instead the
first ``import tensorflow`` in a command runs with descriptor 2 pointed at a temporary file; afterwards the known
start-up lines go to the log file at debug level (``--verbose``) and every other line goes back to stderr as it was.

Training adds runtime lines of the same kind: this TensorFlow build's tf.data rewrites a parallel map into a
sequential one and then logs, at error level, that the rewritten node carries an attribute the sequential op does
not know (``NodeDef mentions attribute use_unbounded_threadpool``), once per fresh pipeline. Nothing fails and a
user can do nothing about it. :func:`native_stderr_filtered` routes descriptor 2 through a small filter process
while a training runs, so such lines go to the log file and everything else reaches the console at once.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from types import ModuleType
from typing import Any

from acg2vec.logs import FILE_ONLY

log = logging.getLogger(__name__)

# Set before TensorFlow or gRPC load (an explicit setting of the user's wins): TensorFlow's own C++ logging
# keeps warnings and errors; gRPC only errors.
ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "2", "GRPC_VERBOSITY": "ERROR", "GLOG_minloglevel": "2"}

# Lines native start-up writes that say nothing a user can act on.
STARTUP_LINE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|cpu_feature_guard"
    r"|This TensorFlow binary is optimized"
    r"|To enable the following instructions:.*rebuild TensorFlow"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|TF-TRT Warning: Could not find TensorRT"
    r"|Could not find cuda drivers on your machine"
    r"|failed call to cuInit"
)
# Lines native code writes while it runs that say nothing a user can act on (see the module doc).
RUNTIME_LINE = re.compile(r"NodeDef mentions attribute use_unbounded_threadpool which is not in the op definition")
QUIET_IMPORTS = ("tensorflow",)


def quiet_native_startup() -> None:
    """Set the native libraries' log levels and capture TensorFlow's start-up lines; call before it is imported."""
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name in QUIET_IMPORTS:
        if name not in sys.modules and not any(isinstance(f, _QuietImport) and f.name == name for f in sys.meta_path):
            sys.meta_path.insert(0, _QuietImport(name))


def replay(text: str) -> None:
    """Start-up lines to the log file (debug); anything else back to stderr, unchanged and in order."""
    other = []
    for line in text.splitlines():
        if is_native_noise(line):
            log.debug("native start-up: %s", line, extra=FILE_ONLY)
        elif line.strip():
            other.append(line)
    if other:
        sys.stderr.write("\n".join(other) + "\n")
        sys.stderr.flush()


def _fd2_saved() -> int | None:
    """A copy of descriptor 2 to restore later (Python's stderr flushed first), or None when there is none."""
    try:
        sys.stderr.flush()
        return os.dup(2)
    except (OSError, ValueError):  # a closed or replaced stderr
        return None


def _restore_fd2(saved: int) -> None:
    """Point descriptor 2 back at ``saved`` (flushing what Python wrote meanwhile) and close the copy."""
    try:
        sys.stderr.flush()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def with_fd2_captured(run: Callable[[], Any]) -> Any:
    """Run ``run()`` with descriptor 2 (C++ and Python stderr alike) captured, then :func:`replay` what it wrote."""
    saved = _fd2_saved()
    if saved is None:
        return run()
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return run()
        finally:
            _restore_fd2(saved)
            captured.seek(0)
            replay(captured.read().decode("utf-8", errors="replace"))


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds ``name`` the usual way, once, and runs its module code with descriptor 2 captured."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, fullname: str, path: Any = None, target: ModuleType | None = None) -> Any:
        if fullname != self.name:
            return None
        # Libraries probe with importlib.util.find_spec("tensorflow") long before importing it: every spec asked
        # for is wrapped, and the finder leaves once the package has really been loaded.
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec_module(module: ModuleType) -> None:
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            with_fd2_captured(lambda: exec_module(module))

        spec.loader.exec_module = quiet_exec_module  # type: ignore[method-assign]
        return spec


def is_native_noise(line: str) -> bool:
    return bool(STARTUP_LINE.search(line) or RUNTIME_LINE.search(line))


def _debug_log_file() -> str | None:
    """The log file of this command when it records debug lines (``--verbose``), else None."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and handler.level <= logging.DEBUG:
            return handler.baseFilename
    return None


@contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Route descriptor 2 through a filter process for the duration: native noise to the log, the rest to stderr.

    A process rather than a thread, so that what native code writes just before it aborts still reaches the
    console. Lines pass through as soon as they end; Python's own stderr (logging, tracebacks) goes the same way.
    """
    saved = _fd2_saved()
    if saved is None:  # no descriptor 2 to filter
        yield
        return
    try:
        command = [sys.executable, "-m", "acg2vec.native_logs", _debug_log_file() or ""]
        filter_process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=saved, stderr=saved)
    except OSError:
        os.close(saved)
        yield
        return
    os.dup2(filter_process.stdin.fileno(), 2)
    try:
        yield
    finally:
        _restore_fd2(saved)
        filter_process.stdin.close()
        try:
            # Ends when every writer has closed the pipe; a child process still holding it keeps it alive.
            filter_process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.debug("the stderr filter is still forwarding a child process's output")


def filter_lines(source, console, log_file: str | None) -> None:
    """The filter process's loop: every line from ``source`` to ``console``, except native noise (to the log)."""
    with open(log_file, "a", encoding="utf-8") if log_file else nullcontext() as log_handle:
        for raw in iter(source.readline, b""):
            line = raw.decode("utf-8", errors="replace")
            if is_native_noise(line):
                if log_handle is not None:
                    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                    log_handle.write(f"{stamp},000 DEBUG acg2vec.native_logs: native: {line.rstrip()}\n")
                    log_handle.flush()
                continue
            console.write(raw)
            console.flush()


if __name__ == "__main__":  # the filter process of native_stderr_filtered
    filter_lines(sys.stdin.buffer, sys.stdout.buffer, sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None)
