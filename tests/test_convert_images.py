"""The image fixture model (two image fields and a categorical one) in every format, in its own runtime.

Each export must give the Python wrapper's predictions within 1e-5: LiteRT
for TFLite (fed each image file's pixels at their own size, warped inside the
graph), Node.js with @tensorflow/tfjs for TF.js, TensorFlow for the
.smbundle (read back with `create_model`, predicting on rows of image paths),
Keras for h5 weights and onnxruntime for ONNX.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from sensenet.exceptions import ImageError, UnsupportedError
from sensenet.models.wrappers import convert, create_model, tflite_predict
from tests.conftest import FIXTURES, dense, fixture_path, load_cases, run_tfjs

TOLERANCE = 1e-5
FIXTURE_PREFIX = "tests/data/"  # the fixture's image paths start here; FIXTURES holds images/
ROWS = 8
IMAGE_COLUMNS = (1, 3)


def _relative(value):
    return (
        value[len(FIXTURE_PREFIX) :] if isinstance(value, str) and value.startswith(FIXTURE_PREFIX) else value
    )


@pytest.fixture(scope="module")
def case():
    return load_cases("image_regression.json.gz")[0]


@pytest.fixture(scope="module")
def rows(case):
    return [[_relative(value) for value in v["input"]] for v in case["validation"][:ROWS]]


@pytest.fixture(scope="module")
def model(case):
    return create_model(case["model"], {"image_path_prefix": str(FIXTURES)})


@pytest.fixture(scope="module")
def expected(model, rows, case):
    predictions = model(rows)
    bigml = np.array([v["output"] for v in case["validation"][:ROWS]])
    assert np.abs(predictions - bigml).max() <= TOLERANCE  # the reference is BigML's own numbers
    return predictions


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("image_exports")
    paths = {}
    for to_format in ("tflite", "tfjs", "smbundle", "h5", "onnx"):
        paths[to_format] = root / f"images.{to_format}"
        # The matrix graphs: tests/test_convert_selfcontained.py feeds this model raw values.
        matrix_graph = False if to_format in ("onnx", "tflite") else None
        convert(model, None, paths[to_format], to_format, self_contained=matrix_graph)
    return paths


def _litert_row(interpreter, row, model) -> np.ndarray:
    """One row through LiteRT: the matrix, then each image file's own pixels (any size)."""
    matrix, _ = model.encode_inputs([row])
    feeds = {"input_matrix": matrix}
    for i, column in enumerate(IMAGE_COLUMNS):
        with Image.open(FIXTURES / row[column]) as image:
            feeds[f"image_{i}"] = np.asarray(image.convert("RGB"), np.float32)[np.newaxis]
    # Inputs and outputs by the names of the model's signature.
    return interpreter.get_signature_runner("serving_default")(**feeds)["probabilities"]


def test_tflite_in_litert(exported, model, rows, expected):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(exported["tflite"]))
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert "RESIZE_NEAREST_NEIGHBOR" in ops
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops
    got = np.concatenate([_litert_row(interpreter, row, model) for row in rows])
    assert np.abs(got - expected).max() <= TOLERANCE


def test_tflite_warps_a_larger_image_like_python(exported, model, rows, tmp_path):
    """A 3x bigger copy of an image, warped in the graph, gives what Python's warp gives for it."""
    from ai_edge_litert.interpreter import Interpreter

    row = list(rows[0])
    with Image.open(FIXTURES / row[1]) as image:
        image.convert("RGB").resize((84, 70), Image.NEAREST).save(tmp_path / "big.png")
    row[1] = str(tmp_path / "big.png")
    interpreter = Interpreter(model_path=str(exported["tflite"]))
    got = _litert_row(interpreter, [str(FIXTURES / v) if i == 3 else v for i, v in enumerate(row)], model)
    assert np.abs(got - model(row)).max() <= TOLERANCE


def test_tfjs_in_node(exported, model, rows, expected, tmp_path):
    matrix, images = model.encode_inputs(rows)
    inputs = {"input_matrix": matrix, **{f"image_{i}": a for i, a in enumerate(images)}}
    ((got,),) = run_tfjs([(exported["tfjs"], inputs)], tmp_path)
    assert np.abs(got - expected).max() <= TOLERANCE


def test_smbundle_reads_back_and_predicts_on_image_paths(exported, case, model, rows, expected):
    bundled = create_model(exported["smbundle"])
    assert np.abs(bundled(rows) - expected).max() <= TOLERANCE
    assert np.abs(bundled(rows[2]) - expected[2:3]).max() <= TOLERANCE
    pixels = [
        [np.asarray(Image.open(FIXTURES / v)) if i in IMAGE_COLUMNS else v for i, v in enumerate(r)]
        for r in rows
    ]
    assert np.abs(bundled(pixels) - expected).max() <= TOLERANCE
    assert bundled._classes == ["3", "8"]
    assert bundled.settings.image_path_prefix == str(FIXTURES)


def test_smbundle_reconverts_to_tflite_and_smbundle(exported, model, rows, expected, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    bundled = create_model(exported["smbundle"])
    convert(bundled, None, tmp_path / "again.tflite", "tflite", self_contained=False)
    convert(bundled, None, tmp_path / "again.smbundle", "smbundle")
    interpreter = Interpreter(model_path=str(tmp_path / "again.tflite"))
    got = np.concatenate([_litert_row(interpreter, row, model) for row in rows[:3]])
    assert np.abs(got - expected[:3]).max() <= TOLERANCE
    assert np.abs(create_model(tmp_path / "again.smbundle")(rows) - expected).max() <= TOLERANCE


def test_a_bundle_keeps_the_models_rescale_type(case, rows, tmp_path):
    cropping = create_model(case["model"], {"image_path_prefix": str(FIXTURES), "rescale_type": "crop"})
    convert(cropping, None, tmp_path / "crop.smbundle", "smbundle")
    bundled = create_model(tmp_path / "crop.smbundle")
    assert bundled.settings.rescale_type == "crop"
    assert np.abs(bundled(rows) - cropping(rows)).max() <= TOLERANCE


def test_tflite_refuses_an_image_model_that_pads(case, tmp_path):
    padding = create_model(case["model"], {"rescale_type": "pad"})
    with pytest.raises(UnsupportedError, match="rescale_type 'warp' only.*'pad'"):
        convert(padding, None, tmp_path / "pad.tflite", "tflite")
    assert list(tmp_path.iterdir()) == []


def test_h5_weights_in_keras(exported, case, model, rows, expected):
    import tensorflow as tf

    from sensenet.export.h5 import load_h5_weights

    fresh = create_model(case["model"])._model
    for variable in fresh.weights:
        variable.assign(tf.zeros_like(variable))
    load_h5_weights(fresh, exported["h5"])
    matrix, images = model.encode_inputs(rows)
    got = fresh([matrix, *images], training=False).numpy()
    assert np.abs(got - expected).max() <= TOLERANCE


def test_onnx_in_onnxruntime(exported, model, rows, expected):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(exported["onnx"]), providers=["CPUExecutionProvider"])
    matrix, images = model.encode_inputs(rows)
    feeds = {"input_matrix": matrix, **{f"image_{i}": a for i, a in enumerate(images)}}
    assert sorted(i.name for i in session.get_inputs()) == sorted(feeds)
    got = session.run(None, feeds)[0]
    assert np.abs(got - expected).max() <= TOLERANCE


# A generated single-image classifier: ResNet-18 (its initializer weights, crop rescale) under a
# random 10-class readout steep enough that the exports' outputs differ when anything is off.
GENERATED_IMAGES = ["images/dog.jpg", "images/bus.jpg", "images/model_t.jpg"]


def generated_network() -> dict:
    from sensenet.pretrained import get_network

    network = get_network("resnet18")
    rng = np.random.default_rng(5)
    network["layers"] = [dense(rng.normal(size=(512, 10)) * 0.5, rng.normal(size=10), "softmax")]
    network["output_exposition"] = {"type": "categorical", "values": [f"k{i}" for i in range(10)]}
    return network


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Built as BigML built it (crop) and as TFLite needs it (warp), with each one's exports."""
    root = tmp_path_factory.mktemp("generated_exports")
    cropping, warping = (
        create_model(generated_network()),
        create_model(generated_network(), {"rescale_type": "warp"}),
    )
    images = [[str(fixture_path(image))] for image in GENERATED_IMAGES]  # rows of one image
    paths = {to_format: root / f"resnet.{to_format}" for to_format in ("tflite", "tfjs", "smbundle", "onnx")}
    convert(warping, None, paths["tflite"], "tflite")
    for to_format in ("tfjs", "smbundle", "onnx"):
        convert(cropping, None, paths[to_format], to_format)
    return cropping, warping, images, paths


def test_generated_model_is_not_flat(generated):
    cropping, _, images, _ = generated
    predictions = cropping(images)
    assert predictions.shape == (len(images), 10)
    assert 0.2 < predictions.max() < 0.999
    assert np.abs(predictions[1:] - predictions[0]).max() > 0.01  # the images are told apart


def test_generated_model_in_litert_with_any_image_size(generated):
    _, warping, images, paths = generated
    got = np.concatenate([tflite_predict(paths["tflite"], image)[0] for (image,) in images])
    assert got.shape == (len(images), 10)
    assert np.abs(got - warping(images)).max() <= TOLERANCE


def test_litert_images_are_read_by_the_rules_for_image_files(generated, tmp_path, monkeypatch):
    """tflite_predict reads as every image reader does: regular files only, the pixel budget first."""
    _, _, _, paths = generated
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="expected a regular file"):
        tflite_predict(paths["tflite"], fifo)
    monkeypatch.setenv("SENSENET_MAX_IMAGE_PIXELS", "100")
    with pytest.raises(ImageError, match="SENSENET_MAX_IMAGE_PIXELS"):
        tflite_predict(paths["tflite"], fixture_path(GENERATED_IMAGES[0]))


def test_generated_model_bundle_keeps_crop(generated):
    cropping, _, images, paths = generated
    bundled = create_model(paths["smbundle"])
    assert bundled.settings.rescale_type is None  # the model's own (crop) applies, as for the original
    assert np.abs(bundled(images[0][0]) - cropping(images[:1])).max() <= TOLERANCE
    assert np.abs(bundled(images) - cropping(images)).max() <= TOLERANCE


def test_generated_model_in_onnxruntime_and_node(generated, tmp_path):
    import onnxruntime

    cropping, _, images, paths = generated
    _, (pixels,) = cropping.encode_inputs(images)
    expected = cropping(images)
    session = onnxruntime.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
    assert np.abs(session.run(None, {"image_0": pixels})[0] - expected).max() <= TOLERANCE

    ((got,),) = run_tfjs([(paths["tfjs"], {"image_0": pixels})], tmp_path)
    assert np.abs(got - expected).max() <= TOLERANCE
