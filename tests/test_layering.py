"""The floors of DESIGN.md "Layout" hold: imports point down, never in a circle.

The rules are import-linter contracts in pyproject.toml (``[tool.importlinter]``); imports inside
functions count like any other. The linter runs in a child process started in the tree it checks,
so it reads that tree's `sensenet`, not an installed one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytest.importorskip("importlinter", reason="the layering contracts need import-linter (the test extra)")

# The child's first import path is its working directory (lint_imports puts it there).
LINT = "import sys, importlinter.cli as cli; sys.exit(cli.lint_imports(sys.argv[1], no_cache=True))"


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", LINT, str(REPO_ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=tree,
        timeout=120,
    )


def test_every_contract_is_kept():
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_an_import_up_a_floor_or_round_a_circle_breaks_the_contracts(tmp_path):
    shutil.copytree(REPO_ROOT / "sensenet", tmp_path / "sensenet", ignore=shutil.ignore_patterns("*.pyc"))
    # An engine reaching up to the doors, and a circle inside spec/, both inside functions.
    with open(tmp_path / "sensenet" / "engines" / "__init__.py", "a") as module:
        module.write("\n\ndef _up():\n    from sensenet.models.doors import create_model\n")
    with open(tmp_path / "sensenet" / "spec" / "fields.py", "a") as module:
        module.write("\n\ndef _round():\n    from sensenet.spec.model import ModelSpec\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
    assert "sensenet.engines is not allowed to import sensenet.models" in result.stdout
    assert "No cycles are allowed in sensenet.spec" in result.stdout
