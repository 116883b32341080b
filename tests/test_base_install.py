"""The base install (no TensorFlow, Keras or LiteRT) predicts rows, images and detections; asking for
what needs the `tensorflow` extra gives our error naming the pip command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import pytest

from tests.conftest import REPO_ROOT, fixture_path, load_cases

# Runs first in the child: TensorFlow, Keras and LiteRT cannot be imported, as in a base install.
BLOCKER = textwrap.dedent(
    """
    import sys

    class NotInstalled:
        blocked = {"tensorflow", "keras", "tf_keras", "ai_edge_litert", "tensorboard"}

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.blocked:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    """
)


def _run_without_tensorflow(code: str, tmp_path) -> dict:
    script = tmp_path / "child.py"
    script.write_text(BLOCKER + textwrap.dedent(code))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}  # the tree under test, not another install
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_rows_images_and_detections_predict_without_tensorflow(tmp_path):
    case = load_cases("regression.json.gz")[2]
    image_case = load_cases("image_regression.json.gz")[0]
    images = fixture_path("images")
    image_rows = [
        [
            str(images.parent / v.removeprefix("tests/data/")) if str(v).startswith("tests/data/") else v
            for v in item["input"]
        ]
        for item in image_case["validation"]
    ]
    with zipfile.ZipFile(fixture_path("detection/cats_eye_tinyyolov4.zip")) as archive:
        (tmp_path / "eyes.json").write_bytes(archive.read(archive.namelist()[0]))
    (tmp_path / "rows.json").write_text(json.dumps(case["model"]))
    (tmp_path / "image.json").write_text(json.dumps(image_case["model"]))
    (tmp_path / "image_rows.json").write_text(json.dumps(image_rows))
    photo = fixture_path("detection/pexels-pixabay-33358.jpg")
    rows = [item["input"] for item in case["validation"]]
    out = _run_without_tensorflow(
        f"""
        import json
        from sensenet.models.wrappers import create_model

        rows = json.loads({json.dumps(json.dumps(rows))})
        tmp = {str(tmp_path)!r}
        row_outputs = create_model(tmp + "/rows.json")(rows).tolist()
        image_rows = json.load(open(tmp + "/image_rows.json"))
        image_outputs = create_model(tmp + "/image.json")(image_rows).tolist()
        detector = create_model(tmp + "/eyes.json", {{"bounding_box_threshold": 0.7, "iou_threshold": 0.2}})
        boxes = detector({str(photo)!r})
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
        print(json.dumps({{"rows": row_outputs, "images": image_outputs, "boxes": boxes, "loaded": loaded}}))
        """,
        tmp_path,
    )
    expected = [item["output"] for item in case["validation"]]
    assert max(abs(a - b) for got, want in zip(out["rows"], expected) for a, b in zip(got, want)) < 1e-6
    image_expected = [item["output"] for item in image_case["validation"]]
    assert max(abs(g[0] - w[0]) for g, w in zip(out["images"], image_expected)) < 1e-6
    assert [box["label"] for box in out["boxes"]] == ["eye", "eye"]
    assert out["loaded"] == []


@pytest.mark.parametrize(
    "call",
    [
        'create_model(model, {"engine": "keras"})([[5.1, 3.5, 1.4, 0.2]])',
        "create_model(model)._model",
        'convert(model, None, tmp + "/iris.tflite", "tflite")',
        'convert(model, None, tmp + "/iris.smbundle", "smbundle")',
    ],
)
def test_what_needs_tensorflow_names_the_extra(call, tmp_path):
    out = _run_without_tensorflow(
        f"""
        import json
        import sensenet
        from sensenet.examples import example_path
        from sensenet.models.wrappers import convert, create_model

        model, tmp = str(example_path("iris")), {str(tmp_path)!r}
        try:
            {call}
            print(json.dumps({{"error": None}}))
        except sensenet.MissingExtraError as error:
            print(json.dumps({{"error": str(error), "is_import_error": isinstance(error, ImportError)}}))
        """,
        tmp_path,
    )
    assert out["error"] is not None, "no error without TensorFlow"
    assert 'pip install "sensenet-local[tensorflow]"' in out["error"]
    assert out["is_import_error"]
    assert not any(tmp_path.glob("iris.*")), "a failed conversion left output behind"
