"""Issue 13, a new user's path: each defect a user met in the CLI, run for real in subprocesses.

Row cases use the shipped iris example; image cases a small digits network from
the fixtures; only the detection cases load BigML's eye detector (its .zip, as
BigML's downloads come).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sensenet.examples import example_path
from sensenet.exceptions import InputDataError
from sensenet.models.wrappers import tflite_predict
from tests.conftest import REPO_ROOT, fixture_path, identity_network, numeric_field
from tests.test_cli import assert_one_line_error, sensenet

DETECTOR_ZIP = "detection/cats_eye_tinyyolov4.zip"
PHOTO = "detection/pexels-pixabay-33358.jpg"
SIGNATURE_INPUTS = ["field_0", "image_0", "image_1"]  # self-contained: one input per field, by name
IRIS_ROW = "5.1,3.5,1.4,0.2"


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> dict[str, Path]:
    """The fixtures' mixed digits model (two images and other fields), as a JSON file, with its rows."""
    folder = tmp_path_factory.mktemp("digits")
    with gzip.open(fixture_path("image_regression.json.gz")) as stream:
        network = json.load(stream)[0]["model"]
    path = folder / "mixed.json"
    path.write_text(json.dumps(network))
    return {"mixed": path, "network": network, "folder": folder}


def test_usage_errors_exit_2_and_name_the_subcommand(tmp_path):
    cases = {
        ("predict",): "no model given",
        ("info", "--example", "iris", "extra.json"): "unexpected argument",
        ("convert", "a.json", "b.json", "--to", "onnx", "-o", str(tmp_path / "x.onnx")): "one model",
        ("features", "mobilenetv2"): "no images given",
        ("detect", "eyes.json"): "no images given",
        ("detect", "eyes.json", "cat.jpg", "--iou", "abc"): "argument --iou: must be a number from 0 to 1",
        ("predict", "--example", "iris", "--bogus", IRIS_ROW): "unrecognized arguments: --bogus",
    }
    for words, fragment in cases.items():
        result = sensenet(*words)
        assert_one_line_error(result, 2, fragment, f"(see sensenet {words[0]} --help)")
        assert "_fraction" not in result.stderr
    assert list(tmp_path.iterdir()) == []
    detect_help = sensenet("detect", "--help")
    assert detect_help.returncode == 0 and "--example" not in detect_help.stdout


def test_the_cli_reads_the_formats_it_writes_and_names_the_others(tmp_path):
    bundle, onnx = tmp_path / "iris.smbundle", tmp_path / "iris.onnx"
    for path, to_format in ((bundle, "smbundle"), (onnx, "onnx")):
        converted = sensenet("convert", "--example", "iris", "--to", to_format, "-o", str(path))
        assert converted.returncode == 0, converted.stderr
        size = path.stat().st_size
        assert converted.stderr == f"sensenet convert: wrote {path} ({to_format}, {size:,} bytes)\n"
    quiet = sensenet("convert", "--example", "iris", "--to", "onnx", "-o", str(onnx), "--force", "-q")
    assert quiet.returncode == 0 and quiet.stderr == ""

    expected = sensenet("predict", "--example", "iris", IRIS_ROW)
    from_bundle = sensenet("predict", str(bundle), IRIS_ROW)
    assert from_bundle.returncode == 0, from_bundle.stderr
    assert from_bundle.stdout.splitlines()[1].split(",")[0] == "setosa"
    got, want = (np.array(r.stdout.splitlines()[1].split(",")[1:], float) for r in (from_bundle, expected))
    assert np.abs(got - want).max() <= 1e-6
    info = sensenet("info", str(bundle))
    assert info.returncode == 0 and "output: classification, 3 classes" in info.stdout

    zipped = tmp_path / "iris.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(example_path("iris"), "deepnet.json")
    assert sensenet("predict", str(zipped), IRIS_ROW).stdout == expected.stdout
    from_stdin = sensenet("predict", "-", IRIS_ROW, stdin=example_path("iris").read_text())
    assert from_stdin.returncode == 0 and from_stdin.stdout == expected.stdout
    assert_one_line_error(sensenet("predict", "-", stdin="{}"), 2, "stdin")

    tflite = tmp_path / "iris.tflite"
    tflite.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(64))  # a TFLite file's header
    tfjs = tmp_path / "web"
    tfjs.mkdir()
    (tfjs / "model.json").write_text("{}")  # what marks a TF.js graph-model directory
    for path, what in ((onnx, "an ONNX model"), (tflite, "a TensorFlow Lite model"), (tfjs, "TensorFlow.js")):
        for command in ("predict", "info"):
            result = sensenet(command, str(path), *([IRIS_ROW] if command == "predict" else []))
            assert_one_line_error(
                result, 1, str(path), what, "sensenet reads BigML deepnet JSON", "Run it with"
            )
            assert "UTF-8" not in result.stderr


def test_detector_in_its_zip_detects_atomically_and_skips_bad_images(tmp_path):
    model, photo = str(fixture_path(DETECTOR_ZIP)), str(fixture_path(PHOTO))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    out = tmp_path / "eyes.jsonl"

    started = time.monotonic()
    no_directory = sensenet("detect", model, photo, "-o", str(tmp_path / "nodir" / "x.jsonl"))
    assert_one_line_error(no_directory, 1, "does not exist")
    assert time.monotonic() - started < 20  # refused before the 55 MB model is even read

    failed = sensenet("detect", model, photo, str(broken), "-o", str(out), "--threshold", "0.7")
    assert_one_line_error(failed, 1, "broken.jpg", "cannot be decoded as an image", "unknown image format")
    assert "BytesIO" not in failed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.jpg"]  # no partial output, no temp file

    skipped = sensenet(
        "detect", model, photo, str(broken), "-o", str(out), "--threshold", "0.7", "--skip-errors"
    )
    assert skipped.returncode == 3, skipped.stderr
    assert skipped.stderr.splitlines()[0].startswith(f"sensenet detect: skipped {broken}: ")
    assert skipped.stderr.splitlines()[1] == "sensenet detect: 1 of 2 images skipped (see above)"
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["image"] == photo and [o["label"] for o in record["objects"]] == ["eye", "eye"]


def test_drawing_through_a_linked_directory_never_replaces_the_original(tmp_path):
    source = tmp_path / "photos"
    source.mkdir()
    original = source / "cat.jpg"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(original)
    kept = original.read_bytes()
    (tmp_path / "link").symlink_to(source)
    drawn = sensenet(
        "detect", str(fixture_path(DETECTOR_ZIP)), str(original), "--draw", str(tmp_path / "link"), "--force"
    )
    assert_one_line_error(drawn, 1, "replace the original", "--draw-suffix")
    assert original.read_bytes() == kept and sorted(p.name for p in source.iterdir()) == ["cat.jpg"]


def test_outputs_replace_links_only_with_force_and_never_write_through_them(tmp_path):
    elsewhere = tmp_path / "elsewhere.csv"
    link = tmp_path / "out.csv"
    link.symlink_to(elsewhere)  # dangling
    refused = sensenet("predict", "--example", "iris", IRIS_ROW, "-o", str(link))
    assert_one_line_error(refused, 1, "already exists", "--force")
    assert link.is_symlink() and not elsewhere.exists()

    forced = sensenet("predict", "--example", "iris", IRIS_ROW, "-o", str(link), "--force")
    assert forced.returncode == 0, forced.stderr
    assert not link.is_symlink() and link.read_text().startswith("prediction,") and not elsewhere.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_row_messages_for_new_users(tmp_path):
    missing = sensenet("predict", "--example", "iris", "flowers.txt")
    assert_one_line_error(missing, 1, "flowers.txt: no such file")

    rows = tmp_path / "flowers.csv"
    rows.write_text(
        "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n1,2,3,4\n\n5,x,1,2\n"
    )
    bad_line = sensenet("predict", "--example", "iris", str(rows))
    assert_one_line_error(
        bad_line, 1, "flowers.csv, line 4, column 2 'sepal width (cm)': 'x' is not a number"
    )

    piped = sensenet("predict", "--example", "iris", stdin=IRIS_ROW + "\n")
    assert_one_line_error(piped, 1, "stdin: the CSV header lacks", "--no-header")

    extra = sensenet("predict", "--example", "iris", IRIS_ROW + ",9,9", IRIS_ROW + ",7")
    assert extra.returncode == 0 and len(extra.stdout.splitlines()) == 3
    assert extra.stderr == (
        "sensenet predict: warning: command-line rows, row 1: 6 values, but the model reads 4: "
        "extra values are ignored (said once, for the first such row)\n"
    )

    unknown = sensenet("features", "mobilenetv9", str(fixture_path("images/dog.jpg")))
    assert_one_line_error(unknown, 1, "mobilenetv9", "mobilenet, mobilenetv2, resnet18, resnet50, xception")

    one_class = tmp_path / "one.json"
    one_class.write_text(json.dumps(identity_network([numeric_field(0)], 1)))
    info = sensenet("info", str(one_class))
    assert "1 class: c0" in info.stdout and "1 field, 1 feature" in info.stdout


def test_keep_columns_and_skip_errors_on_rows(tmp_path):
    rows = tmp_path / "flowers.csv"
    rows.write_text(
        "id,sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"
        f"a,{IRIS_ROW}\nb,1,2,x,4\nc,6,3,5,2\n"
    )
    out = tmp_path / "out.jsonl"
    failed = sensenet("predict", "--example", "iris", str(rows), "--keep-columns", "id", "-o", str(out))
    assert_one_line_error(failed, 1, "flowers.csv, line 3")
    assert not out.exists()

    result = sensenet(
        "predict",
        "--example",
        "iris",
        str(rows),
        "--keep-columns",
        "id",
        "--skip-errors",
        "--format",
        "jsonl",
        "-o",
        str(out),
    )
    assert result.returncode == 3
    assert result.stderr.splitlines() == [
        f"sensenet predict: skipped {rows}, line 3, column 4 'petal length (cm)': 'x' is not a number",
        "sensenet predict: 1 of 3 rows skipped (see above)",
    ]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["prediction"]) for r in records] == [("a", "setosa"), ("c", "virginica")]
    assert list(records[0]) == ["id", "prediction", "probability", "probabilities"]

    csv_out = sensenet(
        "predict", "--example", "iris", str(rows), "--keep-columns", "id,petal width (cm)", "--skip-errors"
    )
    assert (
        csv_out.stdout.splitlines()[0]
        == "id,petal width (cm),prediction,probability,setosa,versicolor,virginica"
    )
    assert csv_out.stdout.splitlines()[2].startswith("c,2,virginica,")
    absent = sensenet("predict", "--example", "iris", str(rows), "--keep-columns", "name")
    assert_one_line_error(absent, 1, "--keep-columns ['name']")


def test_pad_model_to_tflite_warns_refuses_pad_fast_and_gets_named_signature(digits, tmp_path):
    network = dict(digits["network"])
    image_network = dict(network["image_network"])
    image_network["metadata"] = {**image_network["metadata"], "rescale_type": "pad"}
    network["image_network"] = image_network
    model = tmp_path / "pad.json"
    model.write_text(json.dumps(network))
    out = tmp_path / "pad.tflite"

    started = time.monotonic()
    refused = sensenet("convert", str(model), "--to", "tflite", "-o", str(out), "--rescale-type", "pad")
    assert_one_line_error(refused, 1, "'pad' cannot be exported to tflite", "onnx or smbundle or tfjs")
    assert time.monotonic() - started < 15 and list(tmp_path.iterdir()) == [model]

    # From Python: the warning, and nothing else on stderr (no absl notice from the converter).
    converted = _python(
        "from sensenet.models.wrappers import convert\n"
        f"convert({str(model)!r}, None, {str(out)!r}, 'tflite')",
        tmp_path,
    )
    assert converted.returncode == 0, converted.stderr
    assert (
        "UserWarning: this model fits images with rescale_type 'pad', but a tflite model" in converted.stderr
    )
    assert "absl" not in converted.stderr and "trackable_obj" not in converted.stderr

    from ai_edge_litert.interpreter import Interpreter

    signature = Interpreter(model_path=str(out)).get_signature_list()["serving_default"]
    assert signature == {"inputs": SIGNATURE_INPUTS, "outputs": ["probabilities"]}
    with pytest.raises(InputDataError, match="tflite_predict runs models whose only input is one image"):
        tflite_predict(out, fixture_path("images/dog.jpg"))


def test_conversion_staging_of_a_killed_run_is_cleaned_and_directories_are_never_emptied(tmp_path):
    out = tmp_path / "iris.onnx"
    stale = tmp_path / ".iris.onnx.999999999.abc123.staging"  # a pid that cannot be running
    (stale / "iris.onnx").mkdir(parents=True)
    live = tmp_path / f".iris.onnx.{os.getpid()}.def456.staging"  # a conversion still running
    live.mkdir()
    result = sensenet("convert", "--example", "iris", "--to", "onnx", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "iris.onnx"])

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "keep.jpg").write_bytes(b"precious")
    forced = sensenet("convert", "--example", "iris", "--to", "tfjs", "-o", str(folder), "--force")
    assert_one_line_error(forced, 1, "a directory this format did not write")
    assert (folder / "keep.jpg").read_bytes() == b"precious"


def test_features_skip_bad_images_and_write_nothing_on_failure(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    dog, out = str(fixture_path("images/dog.jpg")), tmp_path / "features.npy"
    words = ("features", "mobilenetv2", "--no-pretrained-weights", dog, str(broken), "-o", str(out))
    failed = sensenet(*words)
    assert_one_line_error(failed, 1, str(broken), "cannot be decoded")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.png"]
    skipped = sensenet(*words, "--skip-errors")
    assert skipped.returncode == 3, skipped.stderr
    assert skipped.stderr.splitlines()[0].startswith(f"sensenet features: skipped {broken}: ")
    assert np.load(out).shape == (1, 1280)
