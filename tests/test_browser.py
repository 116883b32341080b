"""The page in examples/web, in headless Chromium, predicts what the Python API predicts.

Each model is converted to TF.js once; the page (index.html, sensenet-web.js
and the tests' own copy of tf.min.js) and the models are served from
127.0.0.1 by a server this module starts. tests/js/browser.js drives the
system's Chromium through playwright-core: it fills the form (numbers as
text, categories from the select, missing as empty) or chooses the image
file, presses Predict and reads what the page shows. Screenshots are kept in
test-artifacts/browser/ at the repository root.

Needs Node.js, tests/js/node_modules (``npm ci`` there) and /usr/bin/chromium
(Debian's ``chromium``); .ci/run installs them.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sensenet.models.wrappers import convert, create_model
from tests.conftest import FIXTURES, REPO_ROOT, fixture_path, load_cases

PAGE_DIR = REPO_ROOT / "examples" / "web"
PAGE_FILES = ("index.html", "sensenet-web.js")
JS_DIR = REPO_ROOT / "tests" / "js"
TFJS_SCRIPT = JS_DIR / "node_modules" / "@tensorflow" / "tfjs" / "dist" / "tf.min.js"
PLAYWRIGHT = JS_DIR / "node_modules" / "playwright-core"
CHROMIUM = Path(os.environ.get("SENSENET_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
BROWSER_TIMEOUT_S = 150
BACKEND = "cpu"  # TF.js' pure-JavaScript backend: twice as fast as WebGL on Chromium's software GL

TOLERANCE = 1e-5  # TF.js' pure-JavaScript float32 against onnxruntime
# (fixture, case, self_contained): the page feeds the matrix, or raw values to a self-contained export
ROW_CASES = [
    ("regression.json.gz", 0, False),
    ("regression.json.gz", 2, False),
    ("legacy_regression.json.gz", 0, False),
    ("regression.json.gz", 0, True),
]
IMAGE_ROWS = 2
# The image fixture model as built (warp, on its digits, square at the network's size), and cropping
# photos of other shapes, one per image field.
IMAGE_MODELS = {"images": (None, ()), "images-crop": ("crop", ("images/bus.jpg", "images/dog.jpg"))}
IMAGE_PREFIX = "tests/data/"  # the image fixture's paths start here; FIXTURES holds images/
DETECTOR_SETTINGS = {"bounding_box_threshold": 0.7, "iou_threshold": 0.2}
PHOTO = "detection/pexels-pixabay-33358.jpg"
BOX_TOLERANCE = 1  # pixels: Chromium's JPEG decoder may differ from Pillow's by a level here and there
SCORE_TOLERANCE = 1e-4


def _require_tools() -> str:
    node = shutil.which("node")
    missing = []
    if node is None:
        missing.append("Node.js (apt-get install nodejs npm)")
    if not PLAYWRIGHT.is_dir() or not TFJS_SCRIPT.is_file():
        missing.append("tests/js/node_modules (cd tests/js && npm ci --ignore-scripts)")
    if not CHROMIUM.is_file():
        if not os.environ.get("CI"):  # a developer's machine without a browser; CI always has one
            pytest.skip(f"no browser at {CHROMIUM}: apt-get install chromium, or set SENSENET_CHROMIUM")
        missing.append(f"{CHROMIUM} (apt-get install chromium, or set SENSENET_CHROMIUM)")
    if missing:
        pytest.fail("the browser test needs " + "; ".join(missing) + " (.ci/run installs them)")
    return node


def _text(value) -> str:
    """How a user types a row value into the form: empty when missing."""
    return "" if value is None else str(value)


def _row_key(name: str, k: int, self_contained: bool) -> str:
    return f"rows-{name.split('.')[0]}-{k}" + ("-selfcontained" if self_contained else "")


def _row_job(model, row: list) -> dict:
    fields = [(k, field) for k, field in enumerate(model.fields)]
    return {"values": {str(k): _text(row[field.index]) for k, field in fields if field.optype != "image"}}


def _image_row(row: list) -> list:
    return [v[len(IMAGE_PREFIX) :] if isinstance(v, str) and v.startswith(IMAGE_PREFIX) else v for v in row]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The served directory: the page, tf.min.js, and one converted model per subdirectory."""
    _require_tools()
    root = tmp_path_factory.mktemp("site")
    for name in PAGE_FILES:
        shutil.copy(PAGE_DIR / name, root / name)
    shutil.copy(TFJS_SCRIPT, root / "tf.min.js")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def cases(site):
    """Per model kind: the model, the page jobs and what the Python API gives for each."""
    root, _ = site
    result = {}
    for name, k, self_contained in ROW_CASES:
        case = load_cases(name)[k]
        model = create_model(case["model"])
        key = _row_key(name, k, self_contained)
        convert(model, None, root / key, "tfjs", self_contained=self_contained)
        rows = [case["validation"][0]["input"], [None] * len(case["validation"][0]["input"])]
        result[key] = (model, [_row_job(model, row) for row in rows], model(rows))

    case = load_cases("image_regression.json.gz")[0]
    for key, (rescale_type, photos) in IMAGE_MODELS.items():
        settings = {"image_path_prefix": str(FIXTURES), "rescale_type": rescale_type}
        model = create_model(case["model"], settings)
        convert(model, None, root / key, "tfjs")
        rows = [_image_row(v["input"]) for v in case["validation"][:IMAGE_ROWS]]
        image_fields = [field for field in model.fields if field.optype == "image"]
        for row in rows:
            for field, photo in zip(image_fields, photos):
                row[field.index] = photo
        jobs = []
        for row in rows:
            job = _row_job(model, row)
            images = [(k, f) for k, f in enumerate(model.fields) if f.optype == "image"]
            job["files"] = {str(k): str(FIXTURES / row[field.index]) for k, field in images}
            jobs.append(job)
        result[key] = (model, jobs, model(rows))

    with zipfile.ZipFile(fixture_path("detection/cats_eye_tinyyolov4.zip")) as archive:
        (name,) = archive.namelist()
        resource = json.loads(archive.read(name))
    detector = create_model(resource, DETECTOR_SETTINGS)
    convert(detector, None, root / "detector", "tfjs")
    photo = str(fixture_path(PHOTO))
    result["detector"] = (detector, [{"files": {"0": photo}}], detector(photo))
    return result


@pytest.fixture(scope="module")
def shown(site, cases, tmp_path_factory):
    """What the page showed for every job, run in one Chromium session."""
    node = _require_tools()
    _, url = site
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    jobs = []
    for key, (_, forms, _) in cases.items():
        screenshots = [{"screenshot": str(ARTIFACTS / f"{key}-{n}.png")} for n in range(len(forms))]
        url_of_model = f"{url}?model={key}/&backend={BACKEND}"
        jobs.append({"url": url_of_model, "forms": [{**f, **s} for f, s in zip(forms, screenshots)]})
    work = tmp_path_factory.mktemp("browser")
    request = {"chromium": str(CHROMIUM), "profile": str(work / "profile"), "jobs": jobs}
    (work / "jobs.json").write_text(json.dumps(request))
    completed = subprocess.run(
        [node, str(JS_DIR / "browser.js"), str(work / "jobs.json")],
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT_S,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    print(f"\nbrowser screenshots: {ARTIFACTS}")
    grouped = {}
    for key, job, outcome in zip(cases, jobs, json.loads(completed.stdout)):
        assert outcome["errors"] == [] and len(outcome["forms"]) == len(job["forms"]), (key, outcome)
        for form, shown_form in zip(job["forms"], outcome["forms"]):
            assert shown_form["state"] == "done", (key, shown_form)
            assert Path(form["screenshot"]).stat().st_size > 0
        grouped[key] = [json.loads(shown_form["result"]) for shown_form in outcome["forms"]]
    return grouped


def _outputs(result: dict) -> list[float]:
    """What the page shows, named as every export names it: a classifier's probabilities, a
    regression's prediction."""
    return result["probabilities"] if "probabilities" in result else [result["prediction"]]


@pytest.mark.parametrize("key", [_row_key(*case) for case in ROW_CASES])
def test_row_models_show_the_python_predictions(cases, shown, key):
    model, _, expected = cases[key]
    got = np.array([_outputs(result) for result in shown[key]])
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE
    if model.classes:
        assert [r["prediction"] for r in shown[key]] == [model.classes[i] for i in expected.argmax(axis=1)]


@pytest.mark.parametrize("key", list(IMAGE_MODELS))
def test_the_image_model_shows_the_python_predictions(cases, shown, key):
    _, _, expected = cases[key]
    got = np.array([_outputs(result) for result in shown[key]])
    assert np.abs(got - expected).max() <= TOLERANCE


def test_the_detector_shows_the_python_boxes(cases, shown):
    _, _, expected = cases["detector"]
    (result,) = shown["detector"]
    got = result["objects"]
    assert len(expected) == 2  # BigML's two eyes
    assert [o["label"] for o in got] == [o["label"] for o in expected]
    assert np.abs(np.array([o["box"] for o in got]) - [o["box"] for o in expected]).max() <= BOX_TOLERANCE
    scores = np.array([o["score"] for o in got]) - [o["score"] for o in expected]
    assert np.abs(scores).max() <= SCORE_TOLERANCE
