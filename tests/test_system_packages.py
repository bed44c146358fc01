"""A fresh machine without the Debian packages the tests drive: `make test` stops with one sentence, the suite
skips (or, under CI, fails) the tests that need them, and the summary counts the skips.

Chromium is hidden from the suite by a PATH that does not hold it, the way a machine without it looks.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import system_packages

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


def _bare_path(tmp_path: Path, *commands: str) -> str:
    """A PATH holding only the named commands (as symlinks), so everything else looks uninstalled."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for command in commands:
        for directory in ("/usr/bin", "/bin"):
            if os.path.exists(f"{directory}/{command}"):
                (folder / command).symlink_to(f"{directory}/{command}")
                break
    return str(folder)


def test_the_list_names_every_package_a_test_marks() -> None:
    marked = set()
    for path in (REPO / "tests").rglob("test_*.py"):
        marked.update(re.findall(r'system_package\("([\w-]+)"\)', path.read_text(encoding="utf-8")))
    listed = system_packages.read_list()
    assert "chromium" in marked
    assert marked <= set(listed), marked - set(listed)
    assert all(package.debian and package.why for package in listed.values())


def test_make_test_stops_with_one_sentence_when_it_cannot_install(tmp_path: Path) -> None:
    # No chromium and no apt-get on PATH: the script cannot install, so it names the package and exits 1.
    env = {"PATH": _bare_path(tmp_path, "sh", "grep", "awk", "id", "dirname")}
    result = subprocess.run(
        ["sh", str(REPO / "scripts" / "system-packages.sh")], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "chromium" in lines[0] and "apt-get install -y chromium" in lines[0]
    assert "ACG2VEC_SKIP_SYSTEM_PACKAGES=1" in lines[0]


def test_a_user_can_choose_to_skip_the_packages(tmp_path: Path) -> None:
    env = {"PATH": _bare_path(tmp_path, "sh", "grep", "awk", "id", "dirname"), "ACG2VEC_SKIP_SYSTEM_PACKAGES": "1"}
    result = subprocess.run(
        ["sh", str(REPO / "scripts" / "system-packages.sh")], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "chromium" in result.stdout and "skipped" in result.stdout


def _run_page_test(tmp_path: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "PYTEST_ADDOPTS")}
    env.update(PATH=_bare_path(tmp_path, "sh"), **extra_env)
    command = [sys.executable, "-m", "pytest", "tests/serving/test_page.py", "-p", "no:cacheprovider", "-q"]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_without_chromium_the_page_tests_are_skipped_with_the_sentence_and_counted(tmp_path: Path) -> None:
    result = _run_page_test(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" not in result.stdout and "failed" not in result.stdout
    reasons = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert reasons and all("missing system package: `chromium`" in line for line in reasons)
    skipped = int(re.search(r"(\d+) skipped", result.stdout.splitlines()[-1]).group(1))
    assert skipped >= 2
    assert f"{skipped} test(s) skipped because a system package is missing" in result.stdout


def test_without_chromium_in_ci_the_page_tests_fail(tmp_path: Path) -> None:
    result = _run_page_test(tmp_path, CI="true")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "missing system package: `chromium`" in result.stdout
    assert " skipped" not in result.stdout.splitlines()[-1]
