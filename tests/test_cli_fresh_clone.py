"""A new user's path: a fresh clone, the README's install command, then the README's test command.

The repository is cloned (its committed state) into a temporary directory,
a fresh virtual environment is made, the README's install command runs in
the clone, then the README's test command, as written, restricted to the
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

NODE_TESTS = ["tests/test_convert_images.py", "-k", "tfjs_in_node"]  # the smallest Node-backed selection


def _readme_command(prefix: str) -> str:
    blocks = re.findall(r"```bash\n(.*?)```", (REPO_ROOT / "README.md").read_text(), re.S)
    return next(line for block in blocks for line in block.splitlines() if line.startswith(prefix))


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
    _run(["bash", "-c", _readme_command("pip install")], clone, env, timeout=300)
    found = _run(["python", "-c", "import sensenet; print(sensenet.__file__)"], tmp_path, env, timeout=60)
    assert found.stdout.strip().startswith(str(clone)), found.stdout

    test_command = f"{_readme_command('python -m pytest')} {shlex.join(NODE_TESTS)}"
    tests = _run(["bash", "-c", test_command], clone, env, timeout=900)
    assert re.search(r"\b[1-9]\d* passed\b", tests.stdout) and " failed" not in tests.stdout, tests.stdout
    assert (clone / "tests" / "js" / "node_modules" / "@tensorflow" / "tfjs").is_dir()
