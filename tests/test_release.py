"""What the release promises about the repository itself: one version, a license, no machine's paths."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import sensenet
from tests.conftest import REPO_ROOT

# Paths that name one machine: a home, a workplace root, a Windows profile.
MACHINE_PATH = re.compile(r"(?<![\w.])(/work/|/root/|/home/\w+|/Users/\w+|[A-Z]:\\\\Users)")


def _tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    skipped = ("package-lock.json", Path(__file__).name)  # lock hashes; this file's own pattern
    return [name for name in listed.stdout.splitlines() if not name.endswith(skipped)]


def test_no_path_of_a_particular_machine_in_the_repository():
    found = []
    for name in _tracked_files():
        try:
            text = (REPO_ROOT / name).read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue  # binary files and files deleted in the working tree
        found += [f"{name}:{n}" for n, line in enumerate(text.splitlines(), 1) if MACHINE_PATH.search(line)]
    assert not found, f"paths of one machine: {found}"


def _project() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and newer
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def test_the_version_has_one_source():
    project = _project()
    assert "version" not in project and "version" in project["dynamic"]
    said = subprocess.run(
        [sys.executable, "-m", "sensenet", "--version"], capture_output=True, text=True, timeout=120
    )
    assert said.stdout.strip() == f"sensenet {sensenet.__version__}"
    assert f"## {sensenet.__version__}" in (REPO_ROOT / "CHANGELOG.md").read_text()


def test_the_license_file_matches_the_metadata():
    project = _project()
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert (
        "Apache License\n                           Version 2.0, January 2004"
        in (REPO_ROOT / "LICENSE").read_text()
    )
