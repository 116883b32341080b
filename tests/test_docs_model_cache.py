"""docs/model-cache.md: every example runs, in order, and prints exactly what the page shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

PAGE = REPO_ROOT / "docs" / "model-cache.md"
SHOWN_DIRECTORY = "/tmp/sensenet-cache-example"
EXAMPLE = re.compile(r"```(bash|python)\n(.*?)```\n\n```text\n(.*?)```", re.DOTALL)


def _command_on_path(directory: Path) -> None:
    """A `sensenet` command running this checkout, as `pip install` puts one on PATH."""
    script = directory / "sensenet"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m sensenet "$@"\n')
    script.chmod(0o755)


def test_every_example_prints_what_the_page_shows(tmp_path):
    _command_on_path(tmp_path)
    cache = str(tmp_path / "cache")
    env = {
        **os.environ,
        "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO_ROOT),
        "SENSENET_CACHE_DIR": cache,
    }
    env.pop("SENSENET_CACHE", None)
    examples = EXAMPLE.findall(PAGE.read_text())
    assert len(examples) >= 4
    for language, code, shown in examples:
        command = ["bash", "-e", "-c"] if language == "bash" else [sys.executable, "-c"]
        result = subprocess.run(
            [*command, code.replace(SHOWN_DIRECTORY, cache)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout + result.stderr == shown.replace(SHOWN_DIRECTORY, cache), code
