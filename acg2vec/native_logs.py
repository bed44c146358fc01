"""Quiet start-up of the native libraries under the command line: TensorFlow's C++ banner stays off the console.

``import tensorflow`` writes its C++ start-up lines ("All log messages before absl::InitializeLog() is called",
"oneDNN custom operations are on", "This TensorFlow binary is optimized ...") straight to file descriptor 2,
before any Python logging exists, and the oneDNN line ignores ``TF_CPP_MIN_LOG_LEVEL``. Turning oneDNN off
(``TF_ENABLE_ONEDNN_OPTS=0``) would silence it but change the CPU kernels, so acg2vec leaves it on. Instead the
first ``import tensorflow`` in a command runs with descriptor 2 pointed at a temporary file; afterwards the known
start-up lines go to the log file at debug level (``--verbose``) and every other line goes back to stderr as it was.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable
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
        if STARTUP_LINE.search(line):
            log.debug("native start-up: %s", line, extra=FILE_ONLY)
        elif line.strip():
            other.append(line)
    if other:
        sys.stderr.write("\n".join(other) + "\n")
        sys.stderr.flush()


def with_fd2_captured(run: Callable[[], Any]) -> Any:
    """Run ``run()`` with descriptor 2 (C++ and Python stderr alike) captured, then :func:`replay` what it wrote."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 to capture (a closed or replaced stderr)
        return run()
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return run()
        finally:
            try:
                sys.stderr.flush()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
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
