"""The examples of docs/serving/operating.md run and print exactly what the page shows: each
```python block followed by a ```text block, run in a fresh interpreter from this checkout."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

PAGE = REPO_ROOT / "docs" / "serving" / "operating.md"
EXAMPLE = re.compile(r"```python\n(.*?)```\n\n```text\n(.*?)```", re.DOTALL)

pytest.importorskip("uvicorn")


def examples() -> list[tuple[str, str]]:
    return EXAMPLE.findall(PAGE.read_text())


def test_the_page_has_examples():
    assert examples()


@pytest.mark.parametrize("code, printed", examples())
def test_example_prints_what_the_page_shows(code, printed, tmp_path):
    for port in map(int, re.findall(r'"--port", "(\d+)"', code)):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                pytest.skip(f"port {port} of the example is in use")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == printed
