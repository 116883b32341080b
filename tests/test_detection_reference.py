"""Multi-class detection against a numpy reference of BigML's post-processing (`tests.reference`).

A generated TinyYOLOv4 (80 classes, the pretrained topology with generated weights, a 160 x 160
input to keep it quick) on non-square images, pad and warp. The reference takes the engine's raw
head outputs and applies the rules: best class by objectness x class probability, corners mapped
to the original image (pad: relative to the input, times the longer side) and rounded, one
class-agnostic NMS at IoU >= threshold. The test also checks that the cases the rules are about
happen: boxes of different classes suppressing each other, IoUs within 0.02 of the threshold,
boxes past the image's edges.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sensenet.exceptions import InputDataError
from sensenet.inputs import load_image, rescale
from sensenet.models.wrappers import convert, create_model, tflite_predict
from sensenet.pretrained import get_network
from tests import reference
from tests.conftest import fixture_path, run_tfjs

SIZE = 160
THRESHOLD, IOU = 0.2515, 0.35  # generated weights score about 0.25
SETTINGS = {"bounding_box_threshold": THRESHOLD, "iou_threshold": IOU, "max_objects": 60}


def _network() -> dict:
    network = copy.deepcopy(get_network("tinyyolov4"))
    network["image_network"]["metadata"]["input_image_shape"] = [SIZE, SIZE, 3]
    return network


def _images(tmp_path_factory) -> dict:
    rng = np.random.default_rng(5)
    wide = rng.integers(0, 256, (133, 300, 3), dtype=np.uint8)
    tall = np.repeat(np.repeat(rng.integers(0, 256, (25, 9, 3), dtype=np.uint8), 8, 0), 8, 1)  # 200 x 72
    return {
        "photo": str(fixture_path("detection/pexels-pixabay-33358.jpg")),
        "wide": wide,
        "tall": tall,
    }


@pytest.fixture(scope="module")
def network():
    return _network()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return _images(tmp_path_factory)


@pytest.fixture(scope="module")
def detectors(network):
    return {kind: create_model(network, {**SETTINGS, "rescale_type": kind}) for kind in ("pad", "warp")}


def _reference(detector, network, image, kind):
    """The numpy rules on the engine's raw heads; also the candidates, for the coverage checks."""
    pixels = load_image(image)
    fitted = rescale(pixels, SIZE, SIZE, kind)[np.newaxis]
    raw = [output[0] for output in detector._run_heads(fitted)]
    heads = network["image_network"]["metadata"]["outputs"]
    boxes, scores, classes = reference.yolo_candidates(raw, heads, len(detector._classes))
    to_pixels = reference.to_pixels_pad if kind == "pad" else reference.to_pixels_warp
    boxes = to_pixels(boxes, (SIZE, SIZE), pixels.shape[:2])
    kept = reference.suppress(boxes, scores, classes, THRESHOLD, IOU, SETTINGS["max_objects"])
    return kept, (boxes, scores, classes), pixels.shape[:2]


def _as_reference(objects, labels):
    return [{"box": o["box"], "class": labels.index(o["label"]), "score": o["score"]} for o in objects]


@pytest.mark.parametrize("kind,engine", [("pad", "onnx"), ("warp", "onnx"), ("pad", "keras")])
def test_detector_follows_bigmls_rules(detectors, network, images, kind, engine):
    detector = (
        detectors[kind]
        if engine == "onnx"
        else create_model(network, {**SETTINGS, "rescale_type": kind, "engine": engine})
    )
    seen = {"classes": set(), "cross_class": 0, "near_threshold": 0, "outside": 0}
    for image in images.values():
        kept, (boxes, scores, classes), (height, width) = _reference(detector, network, image, kind)
        got = _as_reference(detector(image), detector._classes)
        assert [(o["box"], o["class"]) for o in got] == [(o["box"], o["class"]) for o in kept]
        assert max((abs(a["score"] - b["score"]) for a, b in zip(got, kept)), default=0) <= 1e-6
        seen["classes"] |= {o["class"] for o in kept}
        seen["outside"] += sum(min(o["box"]) < 0 or o["box"][2] > width or o["box"][3] > height for o in kept)
        kept_boxes = [np.array(o["box"], np.float32) for o in kept]
        for i in np.flatnonzero(scores > THRESHOLD):
            ious = [reference._iou(k, boxes[i]) for k in kept_boxes]
            seen["near_threshold"] += any(0 < abs(v - IOU) < 0.02 for v in ious)
            seen["cross_class"] += any(
                v >= IOU and o["class"] != classes[i] for v, o in zip(ious, kept) if o["score"] > scores[i]
            )
    assert (
        len(seen["classes"]) >= 3 and min(seen["cross_class"], seen["near_threshold"], seen["outside"]) > 0
    ), seen


def test_iou_exactly_at_the_threshold_suppresses():
    from sensenet.detection.yolo import Detections, non_max_suppression

    # IoU 40 / 160 = 0.25 exactly: BigML's op suppresses at IoU >= threshold.
    boxes = np.array([[0, 0, 10, 10], [6, 0, 16, 10], [40, 40, 50, 50]], np.float32)
    found = Detections(boxes, np.array([0.9, 0.8, 0.7], np.float32), np.array([0, 1, 2]))
    assert reference._iou(boxes[0], boxes[1]) == np.float32(0.25)
    assert non_max_suppression(found, 0.25, 0.5, 10).classes.tolist() == [0, 2]
    assert non_max_suppression(found, 0.26, 0.5, 10).classes.tolist() == [0, 1, 2]


def test_a_box_that_overflows_float32_is_our_error_not_a_crash(network, images):
    """Sizes are exp(raw): a head whose width and height channels reach 100 overflows float32."""
    overflowing = copy.deepcopy(network)
    for index in (73, 74):
        bias = np.zeros(255)
        for anchor in range(3):
            bias[anchor * 85 + 2 : anchor * 85 + 4] = 100.0  # width, height -> inf
            bias[anchor * 85 + 4 : anchor * 85 + 6] = 20.0  # objectness, class 0 -> score ~1
        overflowing["image_network"]["layers"][index]["bias"] = bias.tolist()
    for engine in ("onnx", "keras"):
        detector = create_model(overflowing, {**SETTINGS, "engine": engine})
        with pytest.raises(InputDataError, match=r"shape \(133, 300, 3\): a detected box is not finite"):
            detector(images["wide"])


def _candidates():
    """Candidates where the rules bite: the best box lies wholly above-left of the image (kept, it
    suppresses its neighbour, yet is not returned and not counted in max_objects)."""
    boxes = np.array(
        [
            [-50, -40, -5, -2],
            [-45, -38, 3, 1],  # IoU 0.67 with the first: suppressed, though it has positive corners
            [10, 10, 30, 30],
            [100, 100, 140, 120],
            [12, 11, 31, 29],  # IoU 0.78 with the third
            [200, 10, 220, 40],
            [300, 300, 310, 310],  # under the score threshold
        ],
        np.float32,
    )
    scores = np.array([0.95, 0.9, 0.8, 0.7, 0.65, 0.6, 0.1], np.float32)
    return boxes, scores, np.array([3, 1, 0, 2, 0, 1, 4], np.int64)


def _suppressed_by_tensorflow(boxes, scores, classes, settings, directory):
    """The TensorFlow graphs' suppression (TF.js, .smbundle, TFLite), run in TensorFlow and in LiteRT."""
    from ai_edge_litert.interpreter import Interpreter

    from sensenet.detection.yolo import Detections
    from sensenet.engines.keras.backend import tf
    from sensenet.export.detector_graph import _suppress
    from sensenet.spec.output_names import DETECTOR_OUTPUTS

    def suppressed(b, s):
        return dict(zip(DETECTOR_OUTPUTS, _suppress(Detections(b, s, classes.astype(np.int32)), settings)))

    module = tf.Module()
    module.serve = tf.function(
        suppressed,
        input_signature=[
            tf.TensorSpec(boxes.shape, tf.float32, name="boxes"),
            tf.TensorSpec(scores.shape, tf.float32, name="scores"),
        ],
    )
    tf.saved_model.save(
        module, str(directory), signatures={"serving_default": module.serve.get_concrete_function()}
    )
    converter = tf.lite.TFLiteConverter.from_saved_model(str(directory))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    runner = Interpreter(model_content=converter.convert()).get_signature_runner("serving_default")
    in_graph = {key: value.numpy() for key, value in module.serve(boxes, scores).items()}
    return in_graph, runner(boxes=boxes, scores=scores)


def _suppressed_by_onnx(boxes, scores, classes, settings):
    """The ONNX detector's suppression as a graph of its own, run by onnxruntime."""
    import onnxruntime
    from onnx import TensorProto, helper

    from sensenet.engines.onnx.graph import IR_VERSION, OPSET, GraphBuilder
    from sensenet.export.onnx_detector import OUTPUT_TYPES, _suppress

    g = GraphBuilder()
    found = _suppress(g, "candidate_boxes", "candidate_scores", g.constant(classes, np.int64), settings)
    for name, tensor in found.items():
        g.nodes.append(helper.make_node("Identity", [tensor], [name]))
    inputs = [
        helper.make_tensor_value_info("candidate_boxes", TensorProto.FLOAT, boxes.shape),
        helper.make_tensor_value_info("candidate_scores", TensorProto.FLOAT, scores.shape),
    ]
    outputs = [helper.make_tensor_value_info(name, OUTPUT_TYPES[name], None) for name in found]
    graph = helper.make_graph(g.nodes, "suppression", inputs, outputs, initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip(found, session.run(list(found), {"candidate_boxes": boxes, "candidate_scores": scores})))


@pytest.mark.parametrize("max_objects", [1, 2, 3, 10])
def test_every_export_returns_only_boxes_with_a_positive_corner_and_counts_only_those(max_objects, tmp_path):
    from sensenet.detection.yolo import Detections, non_max_suppression

    boxes, scores, classes = _candidates()
    settings = {"score_threshold": 0.5, "iou_threshold": 0.5, "max_objects": max_objects}
    expected = reference.suppress(boxes, scores, classes, 0.5, 0.5, max_objects)
    assert [o["class"] for o in expected] == [0, 2, 1][:max_objects]
    python = non_max_suppression(Detections(boxes, scores, classes), 0.5, 0.5, max_objects)
    assert _graph_objects(python.boxes, python.scores, python.classes, len(python.scores)) == expected
    in_graph, tflite = _suppressed_by_tensorflow(boxes, scores, classes, settings, tmp_path / "saved")
    for found in (in_graph, tflite, _suppressed_by_onnx(boxes, scores, classes, settings)):
        assert found["boxes"].shape == (max_objects, 4)
        objects = _graph_objects(found["boxes"], found["scores"], found["classes"], found["count"])
        assert objects == expected


def test_clip_boxes_clips_only_the_returned_coordinates(network, images):
    plain = create_model(network, {**SETTINGS, "rescale_type": "pad"})(images["wide"])
    clipped = create_model(network, {**SETTINGS, "rescale_type": "pad", "clip_boxes": True})(images["wide"])
    assert [o["score"] for o in plain] == [o["score"] for o in clipped]
    limits = [300, 133, 300, 133]
    assert [o["box"] for o in clipped] == [
        [min(max(v, 0), m) for v, m in zip(o["box"], limits)] for o in plain
    ]
    assert [o["box"] for o in clipped] != [o["box"] for o in plain]


def test_tflite_detector_gives_the_same_boxes(detectors, images, tmp_path):
    """TFLite warps in the graph: the warp detector's boxes, from LiteRT."""
    warp = detectors["warp"]
    convert(warp, None, tmp_path / "yolo.tflite", "tflite")
    for name in ("photo", "wide"):
        image = images[name]
        if not isinstance(image, str):
            from PIL import Image

            Image.fromarray(image).save(tmp_path / f"{name}.png")
            image = str(tmp_path / f"{name}.png")
        boxes, scores, classes, count = tflite_predict(tmp_path / "yolo.tflite", image)
        count = int(count)
        got = [
            {"box": [int(v) for v in b], "class": int(c), "score": float(s)}
            for b, c, s in zip(boxes[:count], classes[:count], scores[:count])
        ]
        expected = _as_reference(warp(image), warp._classes)
        assert [(o["box"], o["class"]) for o in got] == [(o["box"], o["class"]) for o in expected]
        assert max((abs(a["score"] - b["score"]) for a, b in zip(got, expected)), default=0) <= 1e-5


def _graph_objects(boxes, scores, classes, count) -> list[dict]:
    count = int(count)
    return [
        {"box": [int(v) for v in b], "class": int(c), "score": float(s)}
        for b, c, s in zip(boxes[:count], classes[:count], scores[:count])
    ]


def _same(got: list[dict], expected: list[dict]) -> None:
    assert [(o["box"], o["class"]) for o in got] == [(o["box"], o["class"]) for o in expected]
    assert max((abs(a["score"] - b["score"]) for a, b in zip(got, expected)), default=0) <= 1e-5


@pytest.mark.parametrize("kind", ["crop"])  # pad: the eye detector's, in test_convert_detector
def test_onnx_and_tfjs_detectors_give_the_same_boxes(network, images, kind, tmp_path):
    """Both take the fitted pixels and the original size; boxes come in that image's pixels."""
    import onnxruntime

    detector = create_model(network, {**SETTINGS, "rescale_type": kind})
    convert(detector, None, tmp_path / "yolo.onnx", "onnx")
    convert(detector, None, tmp_path / "yolo.tfjs", "tfjs")
    session = onnxruntime.InferenceSession(str(tmp_path / "yolo.onnx"), providers=["CPUExecutionProvider"])
    jobs, expected = [], []
    for image in images.values():
        pixels = load_image(image)
        fitted = rescale(pixels, SIZE, SIZE, kind)[np.newaxis]
        size = np.array(pixels.shape[:2], np.float32)
        expected.append(_as_reference(detector(image), detector._classes))
        found = dict(
            zip(
                [o.name for o in session.get_outputs()],
                session.run(None, {"pixels": fitted, "image_size": size}),
            )
        )
        _same(_graph_objects(found["boxes"], found["scores"], found["classes"], found["count"]), expected[-1])
        jobs.append((tmp_path / "yolo.tfjs", {"pixels": fitted, "image_size": size}))
    assert sum(len(objects) for objects in expected) > 10
    for (boxes, classes, count, scores), objects in zip(run_tfjs(jobs, tmp_path), expected):
        _same(_graph_objects(boxes, scores, classes, count), objects)
