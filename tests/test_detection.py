"""Object detection with BigML's real TinyYOLOv4 eye detector, and generated YOLO topologies."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from sensenet import ImageError, InputDataError, ModelFormatError
from sensenet.models.detector import ObjectDetector
from sensenet.models.wrappers import create_model
from sensenet.pretrained import get_network
from tests.conftest import fixture_path

PHOTO = "detection/pexels-pixabay-33358.jpg"
# From the fixtures README: what BigML's bindings give at score 0.7, IoU 0.2.
EXPECTED = [
    ("eye", 0.79633, [0.68164, 0.30469, 0.79688, 0.36979]),
    ("eye", 0.74563, [0.38086, 0.27865, 0.50391, 0.36068]),
]
SETTINGS = {"bounding_box_threshold": 0.7, "iou_threshold": 0.2}


@pytest.fixture(scope="module")
def cats_resource():
    with zipfile.ZipFile(fixture_path("detection/cats_eye_tinyyolov4.zip")) as archive:
        (name,) = archive.namelist()
        return json.loads(archive.read(name))


@pytest.fixture(scope="module")
def detector(cats_resource):
    return create_model(cats_resource, SETTINGS)


@pytest.fixture(scope="module")
def photo():
    return str(fixture_path(PHOTO))


def _relative(objects, width=512, height=768):
    return [
        [o["box"][0] / width, o["box"][1] / height, o["box"][2] / width, o["box"][3] / height]
        for o in objects
    ]


def _assert_bigml_boxes(objects):
    """Exactly BigML's figures, rounded to 5 decimals as BigML's bindings round them."""
    assert [o["label"] for o in objects] == [label for label, _, _ in EXPECTED]
    assert [round(o["score"], 5) for o in objects] == [s for _, s, _ in EXPECTED]
    assert [[round(v, 5) for v in box] for box in _relative(objects)] == [b for _, _, b in EXPECTED]
    assert all(isinstance(v, int) for o in objects for v in o["box"])


def test_cats_eye_detector_finds_bigmls_two_eyes(detector, photo):
    assert isinstance(detector, ObjectDetector) and detector._classes == ["eye"]
    _assert_bigml_boxes(detector(photo))


def test_keras_engine_finds_the_same_boxes(cats_resource, photo):
    _assert_bigml_boxes(create_model(cats_resource, {**SETTINGS, "engine": "keras"})(photo))


def test_every_input_form_gives_the_same_boxes(detector, photo):
    expected = detector(photo)
    data = open(photo, "rb").read()
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    for form in (data, pixels, pixels.astype(np.float32), pixels / 255.0, [photo]):
        assert detector(form) == expected


def test_a_list_of_images_gives_a_list_per_image(detector, photo):
    black = np.zeros((300, 200, 3), np.uint8)
    assert detector([photo, black, photo]) == [detector(photo), [], detector(photo)]
    assert detector(np.stack([black, black])) == [[], []]


def test_lowering_the_threshold_never_removes_a_box(cats_resource, photo):
    found = {}
    for threshold in (0.9, 0.7, 0.5, 0.3, 0.1):
        objects = create_model(cats_resource, {"bounding_box_threshold": threshold, "iou_threshold": 0.2})(
            photo
        )
        found[threshold] = {tuple(o["box"]) for o in objects}
        assert all(o["score"] > threshold for o in objects)
    thresholds = sorted(found, reverse=True)
    for higher, lower in zip(thresholds, thresholds[1:]):
        assert found[higher] <= found[lower]
    assert len(found[0.1]) > len(found[0.7])


def test_max_objects_caps_and_padding_fills(cats_resource, photo):
    loose = {"bounding_box_threshold": 0.05, "iou_threshold": 0.5}
    assert len(create_model(cats_resource, loose)(photo)) > 3
    capped = create_model(cats_resource, {**loose, "max_objects": 3})(photo)
    assert len(capped) == 3 and capped == create_model(cats_resource, loose)(photo)[:3]
    padded = create_model(cats_resource, {**SETTINGS, "pad_bounding_box_output": True, "max_objects": 5})(
        photo
    )
    assert len(padded) == 5 and padded[2:] == [{"box": [0, 0, 0, 0], "label": None, "score": 0.0}] * 3


def test_unfiltered_output_holds_every_candidate_as_the_seed_did(cats_resource, detector, photo):
    boxes, scores, classes = create_model(cats_resource, {"output_unfiltered_boxes": True})(photo)
    candidates = 16 * 16 * 3 + 8 * 8 * 3
    assert boxes.shape == (1, candidates, 4) and scores.shape == classes.shape == (1, candidates)
    assert boxes.dtype == scores.dtype == np.float32 and classes.dtype == np.int32
    assert np.array_equal(boxes, np.round(boxes))  # whole pixels, unclipped
    best = np.argsort(-scores[0], kind="stable")[:2]
    assert [o["box"] for o in detector(photo)] == boxes[0, best].astype(int).tolist()
    assert [round(float(s), 5) for s in scores[0, best]] == [s for _, s, _ in EXPECTED]


def test_a_black_image_has_no_objects(detector):
    assert detector(np.zeros((256, 256, 3), np.uint8)) == []


@pytest.mark.parametrize(
    "bad,error,message",
    [
        (b"this is not an image", ImageError, "not"),
        (np.zeros((0, 10, 3), np.uint8), ImageError, "at least one pixel"),
        ([np.zeros((2, 8, 8, 3), np.uint8)], InputDataError, "4-D array"),
        (42, InputDataError, "cannot detect objects in int"),
        ([], InputDataError, "no images given"),
    ],
)
def test_bad_input_is_our_error(detector, bad, error, message):
    with pytest.raises(error, match=message):
        detector(bad)


def test_a_missing_file_is_our_error(detector, tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        detector(str(tmp_path / "absent.jpg"))


def test_a_detector_needs_heads(cats_resource):
    network = json.loads(json.dumps(cats_resource["object"]["deepnet"]["network"]))
    network["image_network"]["metadata"].pop("outputs")
    with pytest.raises(ModelFormatError, match="needs YOLO heads"):
        create_model(network)


@pytest.mark.parametrize("name", ["tinyyolov4", "yolov4"])
def test_generated_yolo_topologies_run_end_to_end(name, photo):
    detector = create_model(get_network(name), {"bounding_box_threshold": 0.0, "max_objects": 4})
    objects = detector(photo)
    assert len(objects) == 4
    assert all(o["box"][0] <= o["box"][2] and o["box"][1] <= o["box"][3] for o in objects)
    assert all(o["label"] in detector._classes for o in objects)
