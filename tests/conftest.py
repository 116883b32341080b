"""Shared test helpers: where the BigML fixtures are, small model builders, and the Node packages.

The fixtures are in SENSENET_FIXTURES, by default ../shared/fixtures beside the repository;
tools/fetch_fixtures.py fetches them. A test that needs an absent fixture skips, saying how to
get it, or fails in CI (`CI` set), where the fixtures must be there.

The TF.js tests run exports in Node.js with the packages pinned in
tests/js/package-lock.json. When a test session selects any of them (their
modules use ``run_tfjs`` or define ``JS_DIR``) and the packages are absent, as on a fresh clone,
the session installs them first with ``npm ci`` (under a lock, so sessions
started together install once); without npm they report the missing package.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tools.fetch_fixtures import manifest as fetchable_fixtures

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("SENSENET_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))
JS_DIR = REPO_ROOT / "tests" / "js"
NPM_TIMEOUT_SECONDS = 600


def node_packages_installed() -> bool:
    return (JS_DIR / "node_modules" / "@tensorflow" / "tfjs" / "package.json").is_file()


def install_node_packages() -> str | None:
    """`npm ci` in tests/js unless its packages are there; the reason when they cannot be installed."""
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not on PATH"
    digest = hashlib.sha256(str(JS_DIR).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"sensenet-npm-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if node_packages_installed():
            return None
        command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
        try:
            result = subprocess.run(
                command, cwd=JS_DIR, capture_output=True, text=True, timeout=NPM_TIMEOUT_SECONDS
            )
        except subprocess.TimeoutExpired:
            return f"`npm ci` took more than {NPM_TIMEOUT_SECONDS} s"
        if result.returncode != 0:
            return f"`npm ci` failed: {result.stderr.strip()[-500:]}"
    return None


_SESSION_CACHES: list[tempfile.TemporaryDirectory] = []


def pytest_configure(config: pytest.Config) -> None:
    """The session's compiled-model cache is a temporary directory, never the user's ~/.cache: set
    in the environment, so the commands the tests run in subprocesses use it too. A test that
    needs its own sets SENSENET_CACHE_DIR itself (monkeypatch.setenv)."""
    _SESSION_CACHES.append(tempfile.TemporaryDirectory(prefix="sensenet-test-model-cache-"))
    os.environ["SENSENET_CACHE_DIR"] = _SESSION_CACHES[-1].name


def pytest_unconfigure(config: pytest.Config) -> None:
    for directory in _SESSION_CACHES:
        directory.cleanup()


def pytest_collection_finish(session: pytest.Session) -> None:
    if node_packages_installed():
        return
    modules = {getattr(item, "module", None) for item in session.items}
    if any(hasattr(module, "JS_DIR") or hasattr(module, "run_tfjs") for module in modules):
        reason = install_node_packages()
        if reason is not None:
            print(f"\nNode packages for the TF.js tests not installed in {JS_DIR}: {reason}", file=sys.stderr)


def invoked_litert(path: Path | str, matrix: np.ndarray) -> Any:
    """A LiteRT interpreter of a matrix-fed TFLite export, run on `matrix` (its outputs and ops readable)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, matrix.shape, strict=True)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, matrix)
    interpreter.invoke()
    return interpreter


def run_litert(path: Path | str, matrix: np.ndarray) -> np.ndarray:
    """A matrix-fed TFLite export's first output for `matrix`, run by LiteRT."""
    interpreter = invoked_litert(path, matrix)
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def run_tfjs(jobs: list[tuple[Path | str, dict[str, np.ndarray]]], workdir: Path) -> list[list[np.ndarray]]:
    """TF.js exports run in Node.js (tests/js/predict.js): per job, every output of the model.

    A job is (the export's directory, {input name: array}); arrays of strings (dtype object)
    travel as strings, the others as float32 files in `workdir`.
    """
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the TF.js check needs Node.js 20 (.ci/run installs it)")
    specs = []
    for k, (model, inputs) in enumerate(jobs):
        feeds = {}
        for i, (name, array) in enumerate(inputs.items()):
            array = np.asarray(array)
            if array.dtype == object:
                feeds[name] = {"strings": array.ravel().tolist(), "shape": list(array.shape)}
            else:
                path = workdir / f"job{k}-input{i}.bin"
                array.astype("<f4").tofile(path)
                feeds[name] = {"file": str(path), "shape": list(array.shape)}
        specs.append({"model": str(model), "inputs": feeds})
    (workdir / "jobs.json").write_text(json.dumps(specs))
    command = [node, str(JS_DIR / "predict.js"), str(workdir / "jobs.json")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout)
    return [[np.array(o["values"]).reshape(o["shape"]) for o in outputs] for outputs in results]


def fixture_path(name: str) -> Path:
    """The fixture `name` under FIXTURES; when absent the test skips, or fails in CI (`CI` set)."""
    path = FIXTURES / name
    if path.exists():
        return path
    if any(f"{known}/".startswith(f"{name.rstrip('/')}/") for known in fetchable_fixtures()):
        how = (
            f"fetch BigML's fixtures with `python tools/fetch_fixtures.py {FIXTURES}`"
            " (or into a directory, then name it in SENSENET_FIXTURES)"
        )
    else:
        how = "BigML's repository does not publish it, only the project's shared fixtures hold it"
    message = f"fixture {path} not found: {how}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def load_cases(name: str) -> list:
    with gzip.open(fixture_path(name)) as stream:
        return json.load(stream)


def dense(weights, bias=None, activation="identity") -> dict:
    weights = np.asarray(weights, dtype=float)
    bias = np.zeros(weights.shape[1]) if bias is None else np.asarray(bias, dtype=float)
    return {
        "type": "dense",
        "weights": weights.tolist(),
        "offset": bias.tolist(),
        "activation_function": activation,
    }


def numeric_field(index: int, mean: float = 0.0, stdev: float = 1.0) -> dict:
    return {"type": "numeric", "index": index, "mean": mean, "stdev": stdev}


def regression_network(layers: list, preprocess: list, mean: float = 0.0, stdev: float = 1.0) -> dict:
    return {
        "preprocess": preprocess,
        "layers": layers,
        "output_exposition": {"type": "numeric", "mean": mean, "stdev": stdev},
        "trees": None,
    }


def identity_network(preprocess: list, width: int, layers: list | None = None, trees=None) -> dict:
    """A 'classifier' whose outputs are its layers' raw outputs (no softmax): to observe features."""
    return {
        "preprocess": preprocess,
        "layers": layers if layers is not None else [dense(np.eye(width))],
        "output_exposition": {"type": "categorical", "values": [f"c{i}" for i in range(width)]},
        "trees": trees,
    }
