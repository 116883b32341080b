"""The README's MLflow example as a new user runs it: a clone, a fresh virtualenv (no system site
packages), `pip install ".[mlflow]"`, then the example as written, with MLflow's default tracking
store (SQLite in the working directory) and no MLFLOW_* variable set.

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
from tools.readme_commands import README

INSTALL_TIMEOUT = 600
RUN_TIMEOUT = 300
IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def readme_mlflow_example() -> tuple[str, str]:
    """The README's Python block that logs a model in a run, and the model file it names."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    block = next((b for b in blocks if "mlflow.start_run()" in b and "sensenet.mlflow.log_model(" in b), None)
    assert block is not None, "README.md must show sensenet.mlflow.log_model in an MLflow run"
    named = re.search(r"log_model\(\s*\"([^\"]+)\"", block)
    assert named is not None, "the README's MLflow example must log a model file by its path"
    return block, named.group(1)


def _run(command: list[str], cwd, env, timeout: float) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_the_readme_mlflow_example_runs_in_a_fresh_virtualenv(tmp_path):
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

    example, model_file = readme_mlflow_example()
    work.mkdir()
    shutil.copyfile(example_path("iris"), work / model_file)
    # the example predicts `df`, "a DataFrame of records": the user's own; here one iris flower
    given = f"import pandas as pd\ndf = pd.DataFrame([dict(zip({IRIS_COLUMNS!r}, [5.1, 3.5, 1.4, 0.2]))])\n"
    shown = "\nprint(predictions.to_json(orient='records'))\n"
    (work / "example.py").write_text(given + example + shown)
    printed = _run([str(environment / "bin" / "python"), "example.py"], work, env, RUN_TIMEOUT)
    assert '"prediction":"setosa"' in printed, printed
    assert (work / "mlflow.db").is_file(), "the example must have used MLflow's default store (SQLite)"
