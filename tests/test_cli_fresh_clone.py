"""A new user's path: a fresh clone, the README's install commands, then its example and its tests;
and a clone anywhere, without BigML's fixtures beside it, whose suite runs and skips what needs them.

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

The clone-anywhere test clones into a directory with no ../shared beside it, SENSENET_FIXTURES
and CI unset: every module collects, the fixture-free tests of a selection pass and its fixture
tests skip naming tools/fetch_fixtures.py; with the fixtures that tool fetches from a local
server (BigML's published files) the same selection runs them, and only the tests of files BigML
does not publish skip; in CI a missing fixture fails.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import venv

import pytest

from tests.conftest import FIXTURES, REPO_ROOT, fixture_path
from tests.test_fetch_fixtures import Server
from tools.readme_commands import readme_command, readme_example

NODE_TESTS = ["tests/test_convert_images.py", "-k", "tfjs_in_node"]  # the smallest Node-backed selection
# Fixture tests (BigML's conformance cases, the image fixture, the unpublished detector), and
# fixture-free tests (the package's top level, the settings), out of every module collected.
ANYWHERE_SELECTION = (
    "conformance or test_networks.py or test_cats_eye_detector_finds or test_package.py or test_settings.py"
)
# the modules that selection picks from: once every module is seen to collect, runs need only these
ANYWHERE_MODULES = [
    "tests/conformance",
    "tests/test_networks.py",
    "tests/test_detection.py",
    "tests/test_package.py",
    "tests/test_settings.py",
]
FETCH_HINT = "fetch BigML's fixtures with `python tools/fetch_fixtures.py"
UNPUBLISHED_HINT = "BigML's repository does not publish it"


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


def _skip_reasons(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("SKIPPED")]


def _counts(output: str) -> dict[str, int]:
    summary = output.strip().splitlines()[-1]
    return {
        word: int(number)
        for number, word in re.findall(r"(\d+) (passed|skipped|failed|errors?|deselected)", summary)
    }


def test_a_clone_anywhere_runs_its_tests_and_fetched_fixtures_run_the_rest(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    served = fixture_path("regression.json.gz").parent
    clone = tmp_path / "anywhere" / "sensenet"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True, timeout=120)
    assert not (clone.parent / "shared").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("SENSENET_FIXTURES", "CI", "PYTHONPATH")}

    def pytest_in_clone(run: str, *words: str, **extra: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *words]
        command += ["--basetemp", str(tmp_path / f"pytest-{run}")]
        return subprocess.run(
            command, cwd=clone, env={**env, **extra}, capture_output=True, text=True, timeout=300
        )

    bare = pytest_in_clone("bare", "tests", "-k", ANYWHERE_SELECTION)
    counts = _counts(bare.stdout)
    assert bare.returncode == 0 and not {"error", "errors", "failed"} & set(counts), bare.stdout[-3000:]
    assert counts["passed"] >= 20 and counts["skipped"] >= 20 and counts["deselected"] > 500, counts
    reasons = _skip_reasons(bare.stdout)
    assert reasons and all(FETCH_HINT in r or UNPUBLISHED_HINT in r for r in reasons), reasons
    assert any(f"{FETCH_HINT} {clone.parent / 'shared' / 'fixtures'}`" in r for r in reasons), reasons
    assert any("detection/cats_eye_tinyyolov4.zip" in r and UNPUBLISHED_HINT in r for r in reasons), reasons

    server = Server(served)
    try:
        fetched = tmp_path / "fetched"
        command = [sys.executable, "tools/fetch_fixtures.py", str(fetched), "--base-url", server.url]
        fetch = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True, timeout=120)
    finally:
        server.close()
    assert fetch.returncode == 0 and "45 fixtures fetched" in fetch.stdout, fetch.stderr
    with_fixtures = pytest_in_clone(
        "fetched", *ANYWHERE_MODULES, "-k", ANYWHERE_SELECTION, SENSENET_FIXTURES=str(fetched)
    )
    assert with_fixtures.returncode == 0, with_fixtures.stdout[-3000:]
    reasons = _skip_reasons(with_fixtures.stdout)
    assert reasons and all(UNPUBLISHED_HINT in r for r in reasons), reasons
    fetched_counts = _counts(with_fixtures.stdout)
    assert fetched_counts["passed"] >= counts["passed"] + 20, (counts, fetched_counts)
    assert fetched_counts["passed"] + fetched_counts["skipped"] == counts["passed"] + counts["skipped"]

    in_ci = pytest_in_clone("ci", "tests/test_networks.py", "-x", CI="true")
    assert in_ci.returncode == 1 and "Failed: fixture" in in_ci.stdout, in_ci.stdout[-3000:]
    assert "skipped" not in _counts(in_ci.stdout)
    assert f"{FETCH_HINT} {clone.parent / 'shared' / 'fixtures'}`" in in_ci.stdout
