"""YOLO decoding against hand-computed boxes, and our NMS against TensorFlow's."""

from __future__ import annotations

import numpy as np
import pytest

from sensenet.detection.yolo import Detections, decode, decode_head, non_max_suppression
from sensenet.spec.detection import YoloHead

HEAD = YoloHead(layer=0, anchors=np.array([[10.0, 20.0], [30.0, 15.0]], np.float32), stride=16, xyscale=1.05)


def _logit(p):
    return np.log(p / (1 - p))


def test_decode_places_a_box_by_cell_offset_anchor_and_stride():
    classes = 3
    raw = np.full((2, 3, 2 * (5 + classes)), -20.0, np.float32)  # everything improbable
    cell = raw[1, 2].reshape(2, 5 + classes)
    cell[1, 0:2] = [_logit(0.25), _logit(0.75)]  # second anchor, offsets
    cell[1, 2:4] = [np.log(2.0), np.log(0.5)]  # width x2, height x0.5
    cell[1, 4] = _logit(0.9)
    cell[1, 5:] = [_logit(0.1), _logit(0.8), _logit(0.3)]
    raw[1, 2] = cell.reshape(-1)

    found = decode_head(raw, HEAD, classes)
    best = int(np.argmax(found.scores))
    cx = (0.25 * 1.05 - 0.025 + 2) * 16
    cy = (0.75 * 1.05 - 0.025 + 1) * 16
    width, height = 60.0, 7.5
    np.testing.assert_allclose(
        found.boxes[best], [cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2], rtol=1e-5
    )
    assert found.classes[best] == 1
    assert found.scores[best] == pytest.approx(0.9 * 0.8, rel=1e-5)
    assert found.boxes.shape == (2 * 3 * 2, 4)


def _random_boxes(count, seed):
    rng = np.random.default_rng(seed)
    corners = rng.uniform(0, 200, size=(count, 2))
    sizes = rng.uniform(5, 60, size=(count, 2))
    boxes = np.concatenate([corners, corners + sizes], axis=1).astype(np.float32)
    return boxes, rng.uniform(0, 1, size=count).astype(np.float32)


@pytest.mark.parametrize("seed", range(5))
def test_nms_selects_what_tensorflow_selects(seed):
    from sensenet.engines.keras.backend import tf

    boxes, scores = _random_boxes(300, seed)
    ours = non_max_suppression(Detections(boxes, scores, np.zeros(300, np.int64)), 0.3, 0.2, 25)
    yxyx = boxes[:, [1, 0, 3, 2]]
    indices, valid = tf.image.non_max_suppression_padded(  # BigML's op
        yxyx, scores, 25, iou_threshold=0.3, score_threshold=0.2, pad_to_max_output_size=True
    )
    indices = indices.numpy()[: int(valid)]
    np.testing.assert_array_equal(ours.boxes, boxes[indices])
    np.testing.assert_array_equal(ours.scores, scores[indices])


def test_nms_suppresses_overlapping_boxes_of_any_class():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    found = Detections(boxes, np.array([0.9, 0.8, 0.7, 0.6], np.float32), np.array([0, 0, 1, 2]))
    kept = non_max_suppression(found, 0.5, 0.1, 10)
    np.testing.assert_array_equal(kept.classes, [0, 2])


def test_thresholds_and_cap():
    boxes, scores = _random_boxes(200, 9)
    found = Detections(boxes, scores, np.zeros(200, np.int64))
    strict = non_max_suppression(found, 0.5, 0.8, 100)
    loose = non_max_suppression(found, 0.5, 0.3, 100)
    assert np.all(strict.scores > 0.8) and len(loose.scores) >= len(strict.scores)
    assert {tuple(b) for b in strict.boxes} <= {tuple(b) for b in loose.boxes}
    assert len(non_max_suppression(found, 0.5, 0.0, 3).scores) == 3
    assert np.all(np.diff(loose.scores) <= 0)


def test_detect_over_two_heads_finds_nothing_in_an_empty_image():
    raw = [np.full((4, 4, 2 * 6), -20.0, np.float32), np.full((2, 2, 2 * 6), -20.0, np.float32)]
    found = non_max_suppression(decode(raw, (HEAD, HEAD), 1), 0.5, 0.5, 10)
    assert found.boxes.shape == (0, 4) and found.scores.shape == (0,)
