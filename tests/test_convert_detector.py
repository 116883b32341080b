"""BigML's TinyYOLOv4 eye detector exported and run in each format's own runtime.

The exported detector graph (`sensenet.export.detector_graph`) must keep the
boxes the Python `ObjectDetector` keeps: TFLite (LiteRT, builtin ops only,
any image size warped in the graph) against the detector built with
``rescale_type`` warp; TF.js (Node.js) and the .smbundle against the
detector as BigML built it (pad), fed the fitted pixels. Conversions are
shared by the module: each takes seconds.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from sensenet.exceptions import UnsupportedError
from sensenet.inputs import load_image
from sensenet.inputs.rescale import placement, rescale
from sensenet.models.detector import ObjectDetector
from sensenet.models.wrappers import convert, create_model, tflite_predict
from tests.conftest import fixture_path, run_tfjs

SCORE_TOLERANCE = 1e-5
SETTINGS = {"bounding_box_threshold": 0.7, "iou_threshold": 0.2}
LOOSE = {"bounding_box_threshold": 0.05, "iou_threshold": 0.5, "max_objects": 6}
MAX_OBJECTS = 32  # the detector's default


@pytest.fixture(scope="module")
def resource():
    with zipfile.ZipFile(fixture_path("detection/cats_eye_tinyyolov4.zip")) as archive:
        (name,) = archive.namelist()
        return json.loads(archive.read(name))


@pytest.fixture(scope="module")
def photo():
    return str(fixture_path("detection/pexels-pixabay-33358.jpg"))


@pytest.fixture(scope="module")
def detector(resource):
    return create_model(resource, SETTINGS)


@pytest.fixture(scope="module")
def exported(resource, detector, tmp_path_factory):
    root = tmp_path_factory.mktemp("detector_exports")
    names = ("tflite", "loose.tflite", "tfjs", "smbundle", "h5", "onnx", "loose.onnx")
    paths = {name: root / f"eyes.{name}" for name in names}
    with pytest.warns(UserWarning, match="rescale_type 'pad', but a tflite model fits them with 'warp'"):
        convert(resource, SETTINGS, paths["tflite"], "tflite")
        convert(resource, LOOSE, paths["loose.tflite"], "tflite")
    convert(resource, LOOSE, paths["loose.onnx"], "onnx")
    for to_format in ("tfjs", "smbundle", "h5", "onnx"):
        convert(detector, None, paths[to_format], to_format)
    return paths


def _same_objects(got: list[dict], expected: list[dict]) -> None:
    assert [(o["box"], o["label"]) for o in got] == [(o["box"], o["label"]) for o in expected]
    assert (
        np.abs(np.array([o["score"] for o in got]) - [o["score"] for o in expected]).max(initial=0)
        <= SCORE_TOLERANCE
    )


def _objects(boxes, scores, classes, count, labels) -> list[dict]:
    """The graph's padded outputs as ObjectDetector's list of dicts."""
    return [
        {"box": [int(v) for v in np.round(box)], "label": labels[int(c)], "score": float(s)}
        for box, s, c in zip(boxes[:count], scores[:count], classes[:count])
    ]


def _tflite_objects(path, image, labels) -> list[dict]:
    """tflite_predict gives a detector's named signature outputs in the documented order."""
    boxes, scores, classes, count = tflite_predict(path, image)
    assert boxes.shape == (len(scores), 4) and classes.shape == scores.shape and count.shape == ()
    return _objects(boxes, scores, classes, int(count), labels)


def _fitted(detector, image):
    """The image as the detector fits it (its own rescale type), and where it lands."""
    pixels = load_image(image)
    height, width = detector._input_size
    fitted = rescale(pixels, height, width, detector._rescale_type)[np.newaxis].astype(np.float32)
    return fitted, pixels.shape, placement(pixels, height, width, detector._rescale_type)


def test_tflite_has_builtin_ops_only(exported):
    from ai_edge_litert.interpreter import Interpreter

    ops = {op["op_name"] for op in Interpreter(model_path=str(exported["tflite"]))._get_ops_details()}
    assert {"NON_MAX_SUPPRESSION_V4", "RESIZE_NEAREST_NEIGHBOR"} <= ops
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops


@pytest.mark.parametrize("name,settings", [("tflite", SETTINGS), ("loose.tflite", LOOSE)])
@pytest.mark.parametrize("image", ["detection/pexels-pixabay-33358.jpg", "images/dog.jpg"])
def test_tflite_in_litert_finds_the_warped_detectors_boxes(exported, resource, name, settings, image):
    warping = create_model(resource, {**settings, "rescale_type": "warp"})
    expected = warping(str(fixture_path(image)))
    got = _tflite_objects(exported[name], fixture_path(image), warping._classes)
    _same_objects(got, expected)


def test_the_loose_tflite_detector_keeps_max_objects(exported, photo):
    assert len(_tflite_objects(exported["loose.tflite"], photo, ["eye"])) == LOOSE["max_objects"]


def test_tfjs_in_node_finds_the_detectors_boxes(exported, detector, photo, tmp_path):
    fitted, shape, _ = _fitted(detector, photo)
    inputs = {"pixels": fitted, "image_size": np.array(shape[:2], np.float32)}
    ((boxes, classes, count, scores),) = run_tfjs([(exported["tfjs"], inputs)], tmp_path)
    assert boxes.shape == (MAX_OBJECTS, 4) and count.shape == ()
    _same_objects(_objects(boxes, scores, classes, int(count), ["eye"]), detector(photo))


def test_smbundle_reads_back_as_a_detector(exported, detector, photo):
    bundled = create_model(exported["smbundle"])
    assert isinstance(bundled, ObjectDetector) and bundled._classes == ["eye"]
    expected = detector(photo)
    assert len(expected) == 2
    _same_objects(bundled(photo), expected)
    _same_objects(bundled(open(photo, "rb").read()), expected)
    assert bundled(np.zeros((300, 200, 3), np.uint8)) == []
    assert bundled.settings.to_dict() == SETTINGS


def test_smbundle_keeps_padding_and_rescale_settings(resource, photo, tmp_path):
    settings = {"bounding_box_threshold": 0.3, "pad_bounding_box_output": True, "max_objects": 9}
    settings["rescale_type"] = "crop"
    original = create_model(resource, settings)
    convert(original, None, tmp_path / "padded.smbundle", "smbundle")
    bundled = create_model(tmp_path / "padded.smbundle")
    got, expected = bundled(photo), original(photo)
    assert len(got) == 9 and got[-1] == {"box": [0, 0, 0, 0], "label": None, "score": 0.0}
    real = [o for o in expected if o["label"] is not None]
    assert 0 < len(real) < 9
    _same_objects(got[: len(real)], real)
    assert got[len(real) :] == expected[len(real) :]


def test_h5_weights_in_keras(exported, resource, detector, photo):
    import tensorflow as tf

    from sensenet.export.h5 import load_h5_weights

    fresh = create_model(resource, SETTINGS)._model
    for variable in fresh.weights:
        variable.assign(tf.zeros_like(variable))
    load_h5_weights(fresh, exported["h5"])
    fitted, _, _ = _fitted(detector, photo)
    for got, expected in zip(fresh(fitted, training=False), detector._model(fitted, training=False)):
        assert np.abs(got.numpy() - expected.numpy()).max() <= SCORE_TOLERANCE


def _onnx_objects(path, detector, image) -> list[dict]:
    """onnxruntime on the image as `detector` fits it and its size: boxes in its pixels."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["pixels", "image_size"]
    fitted, shape, _ = _fitted(detector, image)
    feed = {"pixels": fitted, "image_size": np.array(shape[:2], np.float32)}
    found = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))
    count = int(found["count"])
    assert found["boxes"].shape == (detector._max_objects, 4)
    return _objects(found["boxes"], found["scores"], found["classes"], count, detector._classes)


@pytest.mark.parametrize("name,settings", [("onnx", SETTINGS), ("loose.onnx", LOOSE)])
@pytest.mark.parametrize("image", ["detection/pexels-pixabay-33358.jpg", "images/dog.jpg"])
def test_onnx_in_onnxruntime_finds_the_detectors_boxes(exported, resource, name, settings, image):
    original = create_model(resource, settings)
    image = str(fixture_path(image))
    _same_objects(_onnx_objects(exported[name], original, image), original(image))


def test_a_bundled_detector_converts_again_but_not_to_onnx(resource, photo, tmp_path):
    """A bundle's detector graph, wrapped again: any-size warp for TFLite, as it is for a bundle."""
    warping = create_model(resource, {**SETTINGS, "rescale_type": "warp"})
    convert(warping, None, tmp_path / "warp.smbundle", "smbundle")
    bundled = create_model(tmp_path / "warp.smbundle")
    convert(bundled, None, tmp_path / "again.tflite", "tflite")
    convert(bundled, None, tmp_path / "again.smbundle", "smbundle")
    expected = warping(photo)
    _same_objects(_tflite_objects(tmp_path / "again.tflite", photo, ["eye"]), expected)
    _same_objects(create_model(tmp_path / "again.smbundle")(photo), expected)
    for to_format in ("onnx", "h5"):
        with pytest.raises(UnsupportedError, match=f"convert to {to_format} from the model JSON"):
            convert(bundled, None, tmp_path / f"again.{to_format}", to_format)


@pytest.mark.parametrize(
    "to_format,settings,message",
    [
        ("tflite", {**SETTINGS, "rescale_type": "pad"}, "rescale_type 'warp' only.*'pad'"),
        ("smbundle", {"output_unfiltered_boxes": True}, "cannot keep the output_unfiltered_boxes"),
        ("onnx", {"output_unfiltered_boxes": True}, "cannot keep the output_unfiltered_boxes"),
    ],
)
def test_what_cannot_be_exported_is_refused(resource, tmp_path, to_format, settings, message):
    with pytest.raises(UnsupportedError, match=message):
        convert(create_model(resource, settings), None, tmp_path / f"eyes.{to_format}", to_format)
    assert list(tmp_path.iterdir()) == []


def test_a_generated_80_class_tinyyolov4_keeps_its_boxes_in_tflite_and_onnx(photo, tmp_path):
    """Many classes exercise the one class-agnostic suppression over every class's boxes."""
    from sensenet.pretrained import get_network

    settings = {
        "bounding_box_threshold": 0.0,
        "iou_threshold": 0.3,
        "max_objects": 20,
        "rescale_type": "warp",
    }
    generated = create_model(get_network("tinyyolov4"), settings)
    expected = generated(photo)
    assert len({o["label"] for o in expected}) > 3
    convert(generated, None, tmp_path / "yolo.tflite", "tflite")
    convert(generated, None, tmp_path / "yolo.onnx", "onnx")
    _same_objects(_tflite_objects(tmp_path / "yolo.tflite", photo, generated._classes), expected)
    _same_objects(_onnx_objects(tmp_path / "yolo.onnx", generated, photo), expected)
