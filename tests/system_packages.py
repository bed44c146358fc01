"""System (Debian) packages some tests drive: Chromium for the page test. Listed once, in system-packages.txt.

A test that needs one is marked ``@pytest.mark.system_package("chromium")``. When the command is missing, the test
fails under CI (``CI=true``: CI installs every package, so a missing one is a broken environment) and is skipped
elsewhere with one sentence naming the package; the run's summary counts those skips.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

LIST = Path(__file__).resolve().parents[1] / "system-packages.txt"
SKIP_PREFIX = "missing system package"


@dataclass(frozen=True)
class SystemPackage:
    command: str
    debian: str
    why: str

    def missing_sentence(self) -> str:
        return (
            f"{SKIP_PREFIX}: `{self.command}` is not on PATH; it comes from the Debian package `{self.debian}`, "
            f"used by {self.why}. Install it with `sudo apt-get install -y {self.debian}` (or run `make test`)."
        )


def read_list(path: Path = LIST) -> dict[str, SystemPackage]:
    packages = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            command, debian, why = line.split(maxsplit=2)
            packages[command] = SystemPackage(command, debian, why)
    return packages


def find(command: str) -> str | None:
    """The executable's path, looked up on PATH only (so a test can hide it with its own PATH)."""
    return shutil.which(command)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"
