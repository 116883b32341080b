"""Nothing on the predict path imports what prediction does not need, on the first run ever too.

Each check runs in a fresh process on a copy of the package with no bytecode (and none written),
an empty weights cache, and reports which of the heavy modules got imported: `onnx` (and the
`ml_dtypes` it imports, 0.5 s with 0.7.0), TensorFlow and Keras. The graphs onnxruntime loads
are written by `sensenet.engines.onnx.proto`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import zipfile

import pytest

from tests.conftest import REPO_ROOT, fixture_path, load_cases

HEAVY = ("onnx", "ml_dtypes", "tensorflow", "keras")
TIMEOUT_SECONDS = 300

# Runs first in the child: on exit (sys.exit, end of script, SIGTERM handled by the server),
# writes the heavy modules then imported to the file named by SENSENET_TEST_MODULES.
REPORTER = textwrap.dedent(
    f"""
    import atexit, json, os, sys

    def _report():
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
        package = getattr(sys.modules.get("sensenet"), "__file__", None)
        with open(os.environ["SENSENET_TEST_MODULES"], "w") as stream:
            json.dump({{"heavy": heavy, "package": package}}, stream)

    atexit.register(_report)
    """
)
CLI = REPORTER + "import runpy\nsys.argv[0] = 'sensenet'\nrunpy.run_module('sensenet', run_name='__main__')\n"


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """A copy of the package without bytecode, and an environment running it as on a first run."""
    root = tmp_path_factory.mktemp("first_run")
    shutil.copytree(REPO_ROOT / "sensenet", root / "sensenet", ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "PYTHONDONTWRITEBYTECODE": "1",
        "BIGML_SENSENET_CACHE_PATH": str(root / "empty_cache"),
        "SENSENET_TEST_MODULES": str(root / "modules.json"),
    }
    return root, env


def _heavy_modules(env: dict) -> list[str]:
    """The heavy modules the child imported; it ran the bytecode-free copy of the package."""
    with open(env["SENSENET_TEST_MODULES"]) as stream:
        report = json.load(stream)
    assert report["package"].startswith(env["PYTHONPATH"]), report["package"]
    return report["heavy"]


def _run(args: list[str], env: dict, cwd) -> subprocess.CompletedProcess:
    os.remove(env["SENSENET_TEST_MODULES"]) if os.path.exists(env["SENSENET_TEST_MODULES"]) else None
    result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=TIMEOUT_SECONDS)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def eye_detector(first_run):
    root, _ = first_run
    with zipfile.ZipFile(fixture_path("detection/cats_eye_tinyyolov4.zip")) as archive:
        (root / "eyes.json").write_bytes(archive.read(archive.namelist()[0]))
    return root / "eyes.json"


def _is_image_path(value) -> bool:
    return isinstance(value, str) and value.startswith("tests/data/")


def test_predicting_rows_images_detections_and_features_imports_none(first_run, eye_detector, tmp_path):
    root, env = first_run
    case = load_cases("image_regression.json.gz")[0]
    (tmp_path / "images.json").write_text(json.dumps(case["model"]))
    images = fixture_path("images").parent  # the fixture's paths start tests/data/images
    rows = [
        [str(images / value.removeprefix("tests/data/")) if _is_image_path(value) else value for value in row]
        for row in (item["input"] for item in case["validation"][:2])
    ]
    photo = fixture_path("detection/pexels-pixabay-33358.jpg")
    code = REPORTER + textwrap.dedent(
        f"""
        from sensenet.examples import example_path
        from sensenet.models.wrappers import create_image_feature_extractor, create_model

        print(create_model(str(example_path("iris")))([[5.1, 3.5, 1.4, 0.2]]).tolist())
        print(create_model({str(tmp_path / "images.json")!r})({json.dumps(rows)}).tolist())
        print(create_model({str(eye_detector)!r})({str(photo)!r}))
        extractor = create_image_feature_extractor("mobilenetv2", {{"load_pretrained_weights": False}})
        print(extractor({str(photo)!r}).shape)
        """
    )
    result = _run([sys.executable, "-c", code], env, tmp_path)
    assert "'label': 'eye'" in result.stdout and "(1, 1280)" in result.stdout, result.stdout
    assert _heavy_modules(env) == []


def test_the_command_lines_import_none(first_run, eye_detector, tmp_path):
    root, env = first_run
    photo = str(fixture_path("detection/pexels-pixabay-33358.jpg"))
    commands = {
        "predict": ["predict", "--example", "iris", "5.1,3.5,1.4,0.2"],
        "detect": ["detect", str(eye_detector), photo],
        "features": ["features", "--no-pretrained-weights", "mobilenetv2", photo],
        "info": ["info", "--example", "iris"],
    }
    for name, args in commands.items():
        result = _run([sys.executable, "-c", CLI, *args, "-q"], env, tmp_path)
        assert result.stdout.strip(), name
        assert _heavy_modules(env) == [], name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answer(url: str, body: dict | None = None) -> dict | None:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null") if response.status == 200 else None
    except OSError:  # not listening yet, or not ready (503)
        return None


def test_serving_imports_none(first_run, tmp_path):
    pytest.importorskip("uvicorn")
    root, env = first_run
    port = _free_port()
    iris = str(root / "sensenet" / "examples" / "iris.json")
    server = subprocess.Popen(
        [sys.executable, "-c", CLI, "serve", iris, "--host", "127.0.0.1", "--port", str(port), "-q"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + TIMEOUT_SECONDS
        while _answer(f"{base}/v2/health/ready") is None and time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read().decode()[-3000:]
            time.sleep(0.2)
        answer = _answer(f"{base}/v1/models/iris/predict", {"rows": [[5.1, 3.5, 1.4, 0.2]]})
        assert answer is not None and answer["predictions"][0]["prediction"] == "setosa"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert server.returncode == 0, server.stderr.read().decode()[-3000:]
    assert _heavy_modules(env) == []
