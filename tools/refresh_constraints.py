"""Rewrite constraints.txt, the versions CI installs, from what pip resolves today for the test extras.

    python3 tools/refresh_constraints.py

A fresh virtualenv (no system site packages) gets `pip install -e ".[test,release]"` with the
newest releases the ranges in pyproject.toml allow; its `pip freeze` (without this project) becomes
constraints.txt, written whole or not at all. Review the diff, run CI, commit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET = REPO_ROOT / "constraints.txt"
HEADER = (
    "# The versions CI installs (.ci/run: pip install -c constraints.txt ...); users get the ranges in"
    " pyproject.toml.\n# Refresh (docs/contributing.md): python3 tools/refresh_constraints.py\n"
)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sensenet-pins-") as temporary:
        environment = Path(temporary) / "venv"
        venv.EnvBuilder(with_pip=True).create(environment)
        python = str(environment / "bin" / "python")
        pip = [python, "-m", "pip", "--disable-pip-version-check"]
        subprocess.run([*pip, "install", "--quiet", "-e", ".[test,release]"], cwd=REPO_ROOT, check=True)
        subprocess.run([*pip, "check"], check=True)
        frozen = subprocess.run(
            [*pip, "freeze", "--exclude-editable"], check=True, capture_output=True, text=True
        ).stdout
        staged = TARGET.with_name(f".{TARGET.name}.{os.getpid()}")
        staged.write_text(HEADER + frozen)
        staged.replace(TARGET)
    print(f"{TARGET.name}: {len(frozen.splitlines())} pins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
