"""The MLflow page's example (docs/mlflow.md) as a new user runs it: a clone, a fresh virtualenv
(no system site packages), `pip install ".[mlflow]"`, then the example as written, with MLflow's
default tracking store (SQLite in the working directory) and no MLFLOW_* variable set.

The install is pinned by the clone's constraints.txt (PIP_CONSTRAINT, as CI pins its own), so a
release elsewhere cannot change what is tested; pip's cache makes it about half a minute.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import venv

import pytest

from sensenet.examples import example_path
from tests.conftest import REPO_ROOT

INSTALL_TIMEOUT = 600
RUN_TIMEOUT = 300


PAGE = REPO_ROOT / "docs" / "mlflow.md"


def page_mlflow_example() -> tuple[str, str, str]:
    """The page's Python block that logs a model in a run, the model file it names and what the
    page shows it prints."""
    examples = re.findall(r"```python\n(.*?)```\n\n```text\n(.*?)```", PAGE.read_text(), re.S)
    found = next(
        (e for e in examples if "mlflow.start_run()" in e[0] and "sensenet.mlflow.log_model(" in e[0]), None
    )
    assert found is not None, "docs/mlflow.md must show sensenet.mlflow.log_model in an MLflow run"
    named = re.search(r"log_model\(\s*\"([^\"]+)\"", found[0])
    assert named is not None, "the MLflow page's example must log a model file by its path"
    return found[0], named.group(1), found[1]


def _run(command: list[str], cwd, env, timeout: float) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_the_mlflow_page_example_runs_in_a_fresh_virtualenv(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    clone, environment, work = tmp_path / "clone", tmp_path / "venv", tmp_path / "work"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True, timeout=120)
    venv.EnvBuilder(system_site_packages=False, with_pip=True).create(environment)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MLFLOW_") and key not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_CONSTRAINT")
    }
    env.update(
        PATH=f"{environment / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(environment),
        PIP_CONSTRAINT=str(clone / "constraints.txt"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    _run(["bash", "-c", 'pip install --quiet ".[mlflow]"'], clone, env, INSTALL_TIMEOUT)

    example, model_file, shown = page_mlflow_example()
    work.mkdir()
    shutil.copyfile(example_path("iris"), work / model_file)  # the page's working directory holds it
    (work / "example.py").write_text(example)
    printed = _run([str(environment / "bin" / "python"), "example.py"], work, env, RUN_TIMEOUT)
    expected = [line.split() for line in shown.splitlines() if line.strip() != "..."]  # "...": MLflow's log
    assert [line.split() for line in printed.splitlines()][-len(expected) :] == expected, printed
    assert (work / "mlflow.db").is_file(), "the example must have used MLflow's default store (SQLite)"
