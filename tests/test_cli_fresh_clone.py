"""A new user's path: a fresh clone, the README's install commands, then its example and its tests.

A user's path: the README's first install command (the light one) in a fresh
virtual environment, then the README's example prediction, as written.

A contributor's path: the repository is cloned (its committed state) into a
temporary directory, a fresh virtual environment is made, the README's
editable install runs in the clone, then the README's test command, as written, restricted to the
TF.js tests that run in Node.js (those need packages only the test session
installs: tests/conftest.py). The virtual environment sees the machine's
site-packages (`--system-site-packages`), so the install resolves the heavy
dependencies (TensorFlow, onnxruntime) from what is installed instead of
downloading 2 GB; the package itself, its test extra and the Node packages
come from the README's commands alone.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import venv

import pytest

from tests.conftest import FIXTURES, REPO_ROOT
from tools.readme_commands import readme_command, readme_example

NODE_TESTS = ["tests/test_convert_images.py", "-k", "tfjs_in_node"]  # the smallest Node-backed selection


def _run(command: list[str], cwd, env, timeout: float) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{shlex.join(command)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_readme_commands_pass_on_a_fresh_clone(tmp_path):
    if shutil.which("npm") is None or shutil.which("git") is None:
        pytest.skip("needs git and npm (.ci/run installs Node.js and npm)")
    clone, environment = tmp_path / "clone", tmp_path / "venv"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True, timeout=120)
    assert not (clone / "tests" / "js" / "node_modules").exists()
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(environment)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        PATH=f"{environment / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(environment),
        SENSENET_FIXTURES=str(FIXTURES),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    # As written, by bash, with the venv's bin first on PATH (its own pip and python).
    _run(["bash", "-c", readme_command("pip install -e")], clone, env, timeout=300)
    found = _run(["python", "-c", "import sensenet; print(sensenet.__file__)"], tmp_path, env, timeout=60)
    assert found.stdout.strip().startswith(str(clone)), found.stdout

    test_command = f"{readme_command('python -m pytest')} {shlex.join(NODE_TESTS)}"
    tests = _run(["bash", "-c", test_command], clone, env, timeout=900)
    assert re.search(r"\b[1-9]\d* passed\b", tests.stdout) and " failed" not in tests.stdout, tests.stdout
    assert (clone / "tests" / "js" / "node_modules" / "@tensorflow" / "tfjs").is_dir()


def test_readme_user_install_then_example_on_a_fresh_clone(tmp_path):
    """`pip install .` (the README's first command) in a fresh venv, then the example, as written."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    clone, environment, elsewhere = tmp_path / "clone", tmp_path / "venv", tmp_path / "elsewhere"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True, timeout=120)
    elsewhere.mkdir()
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(environment)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        PATH=f"{environment / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(environment),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    install = readme_command("pip install")
    assert install == "pip install .", "the README's first install must be the light one"
    _run(["bash", "-c", install], clone, env, timeout=300)
    found = _run(["python", "-c", "import sensenet; print(sensenet.__file__)"], elsewhere, env, timeout=60)
    assert found.stdout.strip().startswith(str(environment)), found.stdout  # installed, not the clone
    words, shown = readme_example()
    printed = _run(["bash", "-c", shlex.join(words)], elsewhere, env, timeout=120)
    assert printed.stdout == shown and printed.stderr == ""
