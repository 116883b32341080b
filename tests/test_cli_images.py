"""The `sensenet` command on image models, a detector, features and conversion, run in a subprocess.

Models are BigML's own: the digits model of image_regression.json.gz (two
image fields, a categorical field), a one-image model cut from it (its image
network and readout, the first dense layer keeping the first image's rows),
and the TinyYOLOv4 eye detector, unzipped once for the module.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sensenet.models.wrappers import create_image_feature_extractor, create_model, tflite_predict
from tests.conftest import REPO_ROOT, fixture_path, load_cases
from tests.test_cli import assert_one_line_error, sensenet

IMAGE_TOLERANCE = 1e-5
PHOTO = "detection/pexels-pixabay-33358.jpg"
# From the fixtures README: BigML's boxes at score threshold 0.7, IoU 0.2, relative to the image size.
EXPECTED_EYES = [
    (0.79633, [0.68164, 0.30469, 0.79688, 0.36979]),
    (0.74563, [0.38086, 0.27865, 0.50391, 0.36068]),
]


@pytest.fixture(scope="module")
def digits_case():
    return load_cases("image_regression.json.gz")[0]


@pytest.fixture(scope="module")
def models(digits_case, tmp_path_factory) -> dict[str, Path]:
    """The mixed digits model, a one-image digits model, and the detector, as JSON files."""
    folder = tmp_path_factory.mktemp("models")
    network = digits_case["model"]
    first_image_columns = slice(3, 3 + 64)  # one-hot categorical (3), then the first image's 64 features
    readout = [dict(layer) for layer in network["layers"]]
    readout[0]["weights"] = readout[0]["weights"][first_image_columns]
    one_image = {
        "preprocess": [{"index": 0, "type": "image"}],
        "image_network": network["image_network"],
        "layers": readout,
        "output_exposition": network["output_exposition"],
    }
    paths = {"mixed": folder / "mixed.json", "digits": folder / "digits.json"}
    paths["mixed"].write_text(json.dumps(network))
    paths["digits"].write_text(json.dumps(one_image))
    with zipfile.ZipFile(fixture_path("detection/cats_eye_tinyyolov4.zip")) as archive:
        (name,) = archive.namelist()
        paths["detector"] = Path(archive.extract(name, folder))
    return paths


def digits(number: str) -> Path:
    return fixture_path("images/digits") / number


def test_predict_images_from_a_directory_a_glob_and_a_file(models, tmp_path):
    threes = sorted(digits("3").glob("*.png"))
    eights = sorted(digits("8").glob("1*.png"))
    single = digits("8") / "97.png"
    # The glob is quoted, as a shell that does not expand it passes it on.
    result = sensenet(
        "predict", str(models["digits"]), str(digits("3")), str(digits("8") / "1*.png"), str(single)
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["image", "prediction", "probability", "3", "8"]
    images = [*threes, *eights, single]
    assert [row[0] for row in rows[1:]] == [str(path) for path in images]

    expected = create_model(str(models["digits"]))([[str(path)] for path in images])
    got = np.array([[float(x) for x in row[3:]] for row in rows[1:]])
    assert np.abs(got - expected).max() <= IMAGE_TOLERANCE
    assert [row[1] for row in rows[1:]] == [["3", "8"][i] for i in expected.argmax(axis=1)]
    assert sum(row[1] == "3" for row in rows[1:]) == len(threes)  # the real model knows its digits

    jsonl = sensenet("predict", str(models["digits"]), str(single), "--format", "jsonl", "-q")
    record = json.loads(jsonl.stdout)
    assert record["image"] == str(single) and record["prediction"] == "8"
    assert abs(record["probabilities"]["8"] - expected[-1][1]) <= IMAGE_TOLERANCE


def _bigml_rows(case: dict, strip: str) -> str:
    """The validation rows as CSV, image paths made relative to the fixtures' `images/` parent."""
    text = io.StringIO()
    writer = csv.writer(text)
    for validation in case["validation"]:
        writer.writerow(
            "" if value is None else value.removeprefix(strip) if isinstance(value, str) else value
            for value in validation["input"]
        )
    return text.getvalue()


def test_predict_rows_with_image_paths_matches_bigml(models, digits_case, tmp_path):
    expected = np.array([v["output"] for v in digits_case["validation"]])
    rows_dir = tmp_path / "rows"
    rows_dir.mkdir()
    (rows_dir / "images").symlink_to(fixture_path("images"), target_is_directory=True)
    (rows_dir / "rows.csv").write_text(_bigml_rows(digits_case, "tests/data/"))

    # Paths are relative to the CSV file's directory by default; the command runs elsewhere.
    result = sensenet(
        "predict", str(models["mixed"]), str(rows_dir / "rows.csv"), "--no-header", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    # BigML's rows hold a value past the last column the model reads: said once.
    assert result.stderr.count("\n") == 1 and "extra values are ignored" in result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    got = np.array([[float(x) for x in row[2:]] for row in rows[1:]])
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= IMAGE_TOLERANCE

    # With --image-prefix, paths are relative to it (the image_path_prefix setting).
    (tmp_path / "elsewhere.csv").write_text(_bigml_rows(digits_case, "tests/data/images/"))
    prefixed = sensenet(
        "predict", str(models["mixed"]), "elsewhere.csv", "--no-header", "--format", "jsonl",
        "--image-prefix", str(fixture_path("images")), cwd=tmp_path,
    )  # fmt: skip
    assert prefixed.returncode == 0, prefixed.stderr
    records = [json.loads(line) for line in prefixed.stdout.splitlines()]
    got = np.array([[r["probabilities"]["3"], r["probabilities"]["8"]] for r in records])
    assert np.abs(got - expected).max() <= IMAGE_TOLERANCE

    missing = sensenet("predict", str(models["mixed"]), "elsewhere.csv", "--no-header", cwd=tmp_path)
    assert_one_line_error(missing, 1, "elsewhere.csv, line 1", "does not exist")


def test_detect_finds_bigmls_boxes_and_draws_them(models, tmp_path):
    photo = fixture_path(PHOTO)
    drawn = tmp_path / "drawn"
    drawn.mkdir()
    result = sensenet(
        "detect",
        str(models["detector"]),
        str(photo),
        "--threshold",
        "0.7",
        "--iou",
        "0.2",
        "--draw",
        str(drawn),
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    (line,) = result.stdout.splitlines()
    record = json.loads(line)
    assert record["image"] == str(photo)
    width, height = Image.open(photo).size
    sizes = (width, height, width, height)
    boxes = [[round(v / size, 5) for v, size in zip(o["box"], sizes)] for o in record["objects"]]
    assert [o["label"] for o in record["objects"]] == ["eye", "eye"]
    assert boxes == [box for _, box in EXPECTED_EYES]
    scores = np.array([o["score"] for o in record["objects"]])
    assert np.abs(scores - [score for score, _ in EXPECTED_EYES]).max() <= IMAGE_TOLERANCE

    copy = drawn / photo.name
    original = np.asarray(Image.open(photo).convert("RGB"), dtype=np.int16)
    with Image.open(copy) as image:
        assert image.size == (width, height)
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    x1, y1, x2, y2 = record["objects"][0]["box"]
    assert (
        np.abs(pixels[y1 + 3 : y2 - 3, x1 - 1 : x1 + 2] - original[y1 + 3 : y2 - 3, x1 - 1 : x1 + 2]).max()
        > 60
    )
    far_corner = (slice(height - 40, height), slice(width - 40, width))
    assert np.abs(pixels[far_corner] - original[far_corner]).mean() < 8  # only JPEG re-encoding noise

    copy.write_bytes(b"precious")
    again = sensenet("detect", str(models["detector"]), str(photo), "--draw", str(drawn))
    assert_one_line_error(again, 1, str(copy), "already exists", "--force")
    assert copy.read_bytes() == b"precious"
    into_source = sensenet("detect", str(models["detector"]), str(photo), "--draw", str(photo.parent))
    assert_one_line_error(into_source, 1, "replace the original", "--draw-suffix")


def test_detect_limits_objects_and_rejects_other_models(models):
    photo = str(fixture_path(PHOTO))
    result = sensenet(
        "detect", str(models["detector"]), photo, "--threshold", "0.7", "--max-objects", "1", "-q"
    )
    assert result.returncode == 0, result.stderr
    (best,) = json.loads(result.stdout)["objects"]
    assert abs(best["score"] - EXPECTED_EYES[0][0]) <= IMAGE_TOLERANCE

    not_a_detector = sensenet("detect", str(models["digits"]), str(digits("3") / "7.png"))
    assert_one_line_error(not_a_detector, 1, "not an object detector", "sensenet predict")
    bad_threshold = sensenet("detect", str(models["detector"]), photo, "--threshold", "2")
    assert_one_line_error(bad_threshold, 2, "--threshold", "from 0 to 1")


def test_features_of_a_pretrained_network_and_of_a_model(models, tmp_path):
    images = [fixture_path("images/bus.jpg"), fixture_path("images/dog.jpg")]
    out = tmp_path / "features.npy"
    result = sensenet(
        "features", "mobilenetv2", "--no-pretrained-weights", *map(str, images), "-o", str(out), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""  # TensorFlow's start-up logs stay off stderr
    features = np.load(out)
    assert features.shape == (2, 1280) and features.dtype == np.float32
    extractor = create_image_feature_extractor("mobilenetv2", {"load_pretrained_weights": False})
    assert np.abs(features - extractor([str(path) for path in images])).max() <= IMAGE_TOLERANCE

    csv_result = sensenet(
        "features", str(models["mixed"]), str(digits("8")), "-o", "digits.csv", cwd=tmp_path
    )
    assert csv_result.returncode == 0, csv_result.stderr
    rows = list(csv.reader(open(tmp_path / "digits.csv")))
    assert rows[0] == ["image", *(f"feature_{i}" for i in range(64))]
    eights = sorted(digits("8").glob("*.png"))
    assert [row[0] for row in rows[1:]] == [str(path) for path in eights]
    expected = create_image_feature_extractor(str(models["mixed"]))([str(path) for path in eights])
    assert (
        np.abs(np.array([[float(x) for x in row[1:]] for row in rows[1:]]) - expected).max()
        <= IMAGE_TOLERANCE
    )

    refused = sensenet("features", str(models["mixed"]), str(digits("8")), "-o", "digits.csv", cwd=tmp_path)
    assert_one_line_error(refused, 1, "digits.csv", "already exists")
    bad_format = sensenet(
        "features", str(models["mixed"]), str(digits("8")), "-o", "digits.txt", cwd=tmp_path
    )
    assert_one_line_error(bad_format, 2, ".txt", ".npy or .csv")


def test_convert_to_tflite_predicts_as_the_model(models, tmp_path):
    out = tmp_path / "digits.tflite"
    result = sensenet("convert", str(models["digits"]), "--to", "tflite", "-o", str(out))
    assert result.returncode == 0, result.stderr
    # The converter's native logs stay off stderr: only the line naming what was written.
    assert result.stdout == "" and result.stderr.startswith(f"sensenet convert: wrote {out} (tflite, ")
    assert result.stderr.count("\n") == 1
    image = str(digits("3") / "12.png")
    (probabilities,) = tflite_predict(out, image)
    expected = create_model(str(models["digits"]))([[image]])
    assert np.abs(np.asarray(probabilities).reshape(expected.shape) - expected).max() <= IMAGE_TOLERANCE

    size = out.stat().st_size
    refused = sensenet("convert", str(models["digits"]), "--to", "onnx", "-o", str(out))
    assert_one_line_error(refused, 1, "already exists", "--force")
    assert out.stat().st_size == size
    assert_one_line_error(sensenet("convert", str(models["digits"]), "--to", "pdf", "-o", "x"), 2, "pdf")


def _array_count(value) -> int:
    if isinstance(value, list):
        if value and isinstance(value[0], (int, float)) and not isinstance(value[0], bool):
            return len(value)
        return sum(_array_count(item) for item in value)
    if isinstance(value, dict):
        return sum(
            _array_count(item) for key, item in value.items() if key not in ("inputs", "strides", "pool_size")
        )
    return 0


def test_info_on_image_models_and_the_detector(models, digits_case):
    mixed = sensenet("info", str(models["mixed"]))
    assert mixed.returncode == 0, mixed.stderr
    text = mixed.stdout
    image_layers = digits_case["model"]["image_network"]["layers"]
    assert "image network: simple, 16 layers" in text
    assert f"{_array_count(image_layers):,} parameters" in text
    assert text.count("image: decoded to RGB, fitted to 28x28 (warp), normalizing; 64 features") == 2
    assert "(28, 28, 64)" in text and "global_average_pool_2d" in text and "(64,)" in text
    assert "output: classification, 2 classes: 3, 8" in text

    detector = sensenet("info", str(models["detector"]))
    assert detector.returncode == 0, detector.stderr
    text = detector.stdout
    assert "image network: tinyyolov4" in text and "75 layers" in text
    assert "rescale type: pad" in text and "input: 256x256 pixels" in text
    assert "more layers (--all-layers lists them)" in text
    assert "YOLO head 1: layer 73 (16, 16, 18), stride 16" in text
    assert "YOLO head 2: layer 74 (8, 8, 18), stride 32" in text
    assert "output: object detection" in text and "1 class: eye" in text


def test_bad_image_arguments_are_one_line_errors(models, tmp_path):
    model = str(models["digits"])
    assert_one_line_error(sensenet("predict", model, "absent.png", cwd=tmp_path), 1, "absent.png", "no such")
    assert_one_line_error(sensenet("predict", model, "*.png", cwd=tmp_path), 1, "*.png", "no file matches")
    assert_one_line_error(sensenet("predict", model, str(tmp_path)), 1, "holds no image files")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert_one_line_error(sensenet("predict", model, str(tmp_path / "broken.png")), 1, "broken.png")


def _run_with_terminal_stderr(*args: str) -> tuple[int, str, str]:
    """Run the command with stderr on a pseudo-terminal (as in an interactive shell), stdout piped."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "sensenet", *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, env=env, cwd=REPO_ROOT,
    )  # fmt: skip
    os.close(terminal)
    written = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closes when the command ends
            break
        if not chunk:
            break
        written += chunk
    stdout = process.stdout.read().decode()
    process.wait(timeout=300)
    os.close(controller)
    return process.returncode, stdout, written.decode()


def test_progress_bar_on_a_terminal_and_quiet(models):
    photos = [str(fixture_path(PHOTO))] * 80  # long enough (over half a second) to draw the bar
    status, stdout, terminal = _run_with_terminal_stderr("detect", str(models["detector"]), *photos)
    assert status == 0, terminal
    assert len(stdout.splitlines()) == 80
    last = terminal.rstrip("\r\n").split("\r")[-1]
    assert "80/80 images" in last and "/s" in last and "ETA 00:00" in last and "#" * 24 in last

    status, stdout, terminal = _run_with_terminal_stderr("detect", str(models["detector"]), "-q", *photos)
    assert status == 0 and len(stdout.splitlines()) == 80
    assert terminal == ""
