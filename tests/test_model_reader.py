"""One reader of model files for the Python API and the command line (issue 31, item 2): BigML's
.zip read everywhere a model path is read, and a file that is not a model named for what it is."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import numpy as np
import pytest

from sensenet import ModelFormatError, UnsupportedError
from sensenet.examples import example_path
from sensenet.models.wrappers import convert, create_image_feature_extractor, create_model
from tests.conftest import fixture_path, load_cases
from tests.test_cli import assert_one_line_error, sensenet

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
IRIS_ROW_TEXT = "5.1,3.5,1.4,0.2"


def _zipped(path, payload: bytes, member: str = "deepnet.json") -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, payload)
    return str(path)


@pytest.fixture(scope="module")
def iris_zip(tmp_path_factory):
    return _zipped(tmp_path_factory.mktemp("zip") / "iris.zip", example_path("iris").read_bytes())


def test_the_api_reads_bigml_zip_as_the_cli_does(iris_zip, tmp_path):
    expected = create_model(str(example_path("iris")))(IRIS_ROW)
    assert np.array_equal(create_model(iris_zip)(IRIS_ROW), expected)
    inside = gzip.compress(example_path("iris").read_bytes())
    gzipped_inside = _zipped(tmp_path / "gz.zip", inside, "m.json.gz")
    assert np.array_equal(create_model(gzipped_inside)(IRIS_ROW), expected)
    out = tmp_path / "iris.onnx"
    convert(iris_zip, None, out, "onnx")
    assert out.stat().st_size > 0


def test_the_api_reads_the_detector_zip():
    detector = create_model(str(fixture_path("detection/cats_eye_tinyyolov4.zip")))
    assert detector.kind == "detection" and detector.classes


def test_the_feature_extractor_reads_zip_too(tmp_path):
    document = json.dumps(load_cases("image_regression.json.gz")[0]["model"]).encode()
    plain, zipped = tmp_path / "m.json", _zipped(tmp_path / "m.zip", document)
    plain.write_bytes(document)
    image = np.full((32, 32, 3), 90, np.uint8)
    settings = {"load_pretrained_weights": False}
    expected = create_image_feature_extractor(str(plain), settings)(image)
    assert np.array_equal(create_image_feature_extractor(zipped, settings)(image), expected)


def _image_bytes(kind: str) -> bytes:
    from PIL import Image

    stream = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(stream, format=kind)
    return stream.getvalue()


NOT_MODELS = {
    "dog.jpg": (lambda: _image_bytes("JPEG"), "is a JPEG image, not a model"),
    "dog.png": (lambda: _image_bytes("PNG"), "is a PNG image, not a model"),
    "dog.gif": (lambda: _image_bytes("GIF"), "is a GIF image, not a model"),
    "dog.tiff": (lambda: _image_bytes("TIFF"), "is a TIFF image, not a model"),
    "dog.webp": (lambda: _image_bytes("WEBP"), "is a WebP image, not a model"),
    "rows.csv": (lambda: b"sepal length,sepal width\n5.1,3.5\n", "is CSV text (it begins 'sepal length"),
    "empty.json": (lambda: b"", "is empty, not a model"),
    "notes.txt": (lambda: "naïve notes\n".encode(), "is text (it begins 'naïve notes')"),
    "blob.bin": (lambda: bytes(range(200, 256)) * 4, "is binary data (it begins c8 c9 ca"),
    "weights.h5": (lambda: b"\x89HDF\r\n\x1a\n" + bytes(64), "is a Keras weights file"),
    "m.tflite": (lambda: b"\x1c\x00\x00\x00TFL3" + bytes(64), "is a TensorFlow Lite model"),
    "m.onnx": (lambda: b"\x08\x08\x12\x08sensenet" + bytes(64), "is an ONNX model"),
}


@pytest.mark.parametrize("name", sorted(NOT_MODELS))
def test_a_file_that_is_not_a_model_says_what_it_looks_like_in_the_api(name, tmp_path):
    make, message = NOT_MODELS[name]
    path = tmp_path / name
    path.write_bytes(make())
    for settings in ({"cache": False}, {"cache": True}):  # read alike through the compiled-model cache
        with pytest.raises((ModelFormatError, UnsupportedError)) as caught:
            create_model(str(path), settings)
        assert message in str(caught.value) and "surrogates" not in str(caught.value)


def test_swapped_arguments_on_the_command_line_name_the_image(tmp_path):
    image = tmp_path / "dog.jpg"
    image.write_bytes(_image_bytes("JPEG"))
    result = sensenet("predict", str(image), IRIS_ROW_TEXT)
    assert_one_line_error(result, 1, f"{image} is a JPEG image, not a model")


def test_an_image_inside_a_zip_is_named_with_its_member(tmp_path):
    path = _zipped(tmp_path / "photos.zip", _image_bytes("PNG"), "dog.png")
    with pytest.raises(ModelFormatError, match=r"photos.zip:dog.png is a PNG image, not a model"):
        create_model(path)


def test_a_zip_of_many_files_names_them(tmp_path):
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.json", "{}")
        archive.writestr("b.json", "{}")
    with pytest.raises(ModelFormatError, match=r"hold one .json or .json.gz file; it holds \['a.json'"):
        create_model(str(path))


def test_stdin_reads_the_zip_and_names_an_image(iris_zip, tmp_path):
    import subprocess
    import sys

    from tests.test_cli import REPO_ROOT

    def piped(data: bytes) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "sensenet", "predict", "-", IRIS_ROW_TEXT],
            input=data,
            capture_output=True,
            cwd=REPO_ROOT,
            env={**__import__("os").environ, "PYTHONPATH": str(REPO_ROOT)},
            timeout=300,
        )

    zipped = piped(open(iris_zip, "rb").read())
    assert zipped.returncode == 0, zipped.stderr
    image = piped(_image_bytes("JPEG"))
    assert image.returncode == 1 and b"stdin is a JPEG image, not a model" in image.stderr


def test_mlflow_save_model_reads_the_zip(iris_zip, tmp_path):
    pytest.importorskip("mlflow")
    import sensenet.mlflow

    sensenet.mlflow.save_model(iris_zip, tmp_path / "m")
    loaded = sensenet.mlflow.load_model(tmp_path / "m")
    assert np.array_equal(loaded(IRIS_ROW), create_model(str(example_path("iris")))(IRIS_ROW))


def test_an_smbundle_is_found_by_its_bytes_whatever_its_name(tmp_path):
    pytest.importorskip("tensorflow")
    bundle = tmp_path / "iris.smbundle"
    convert(str(example_path("iris")), None, bundle, "smbundle")
    renamed = tmp_path / "iris.model"
    bundle.rename(renamed)
    expected = create_model(str(example_path("iris")))(IRIS_ROW)
    assert np.allclose(create_model(str(renamed))(IRIS_ROW), expected, atol=1e-6)
