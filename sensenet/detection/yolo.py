"""YOLOv4 box decoding and BigML's post-processing, in numpy.

Engines return each head's raw output; this turns them into boxes, the same
way whatever engine ran the network, following BigML's detector:

- per candidate box, class = argmax over classes of objectness x class
  probability, score = that product (`decode_head`; corners in pixels of the
  network input, origin top-left);
- the corners are mapped onto the original image and rounded to whole pixels
  (half to even) by the caller (`sensenet.inputs.rescale.to_original_pixels`);
- ONE class-agnostic non-max suppression over all candidates, on those rounded
  boxes (`non_max_suppression`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sensenet.spec.detection import YoloHead


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray  # (n, 4) float32 x1, y1, x2, y2
    scores: np.ndarray  # (n,) float32
    classes: np.ndarray  # (n,) int64


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def decode_head(raw: np.ndarray, head: YoloHead, class_count: int) -> Detections:
    """All candidate boxes of one head's (grid_h, grid_w, anchors * (5 + classes)) output."""
    grid_h, grid_w, _ = raw.shape
    anchors = head.anchors.astype(np.float32)
    cells = raw.astype(np.float32).reshape(grid_h, grid_w, len(anchors), 5 + class_count)
    grid_x, grid_y = np.meshgrid(np.arange(grid_w, dtype=np.float32), np.arange(grid_h, dtype=np.float32))
    grid = np.stack([grid_x, grid_y], axis=-1)[:, :, np.newaxis, :]

    scale = np.float32(head.xyscale)
    # BigML's graph computes the shift in double precision, then uses it as a float32 constant.
    shift = np.float32(0.5 * (float(head.xyscale) - 1.0))
    offsets = _sigmoid(cells[..., 0:2]) * scale - shift
    centers = (offsets + grid) * np.float32(head.stride)
    sizes = np.exp(cells[..., 2:4]) * anchors
    objectness = _sigmoid(cells[..., 4:5])
    class_scores = objectness * _sigmoid(cells[..., 5:])

    half = sizes / np.float32(2)
    corners = np.concatenate([centers - half, centers + half], axis=-1).reshape(-1, 4)
    class_scores = class_scores.reshape(-1, class_count)
    classes = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(classes)), classes]
    return Detections(corners.astype(np.float32), scores.astype(np.float32), classes)


def decode(raw_heads: list[np.ndarray], heads: tuple[YoloHead, ...], class_count: int) -> Detections:
    """Every candidate box of one image, head after head."""
    decoded = [decode_head(raw, head, class_count) for raw, head in zip(raw_heads, heads)]
    return Detections(
        np.concatenate([d.boxes for d in decoded]),
        np.concatenate([d.scores for d in decoded]),
        np.concatenate([d.classes for d in decoded]),
    )


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over union in float32, as TensorFlow's padded NMS computes it."""
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    intersection = np.maximum(x2 - x1, np.float32(0)) * np.maximum(y2 - y1, np.float32(0))
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return intersection / (area + areas - intersection + np.float32(1e-8))


def non_max_suppression(
    found: Detections, iou_threshold: float, score_threshold: float, max_objects: int
) -> Detections:
    """BigML's suppression (TensorFlow's ``non_max_suppression_padded``), class-agnostic.

    Candidates scoring above ``score_threshold`` are visited best first (ties: the earlier
    candidate); one is kept unless its IoU with a kept box is at least ``iou_threshold``. A kept
    box with no corner coordinate above 0 (wholly above and left of the image) still suppresses
    others but is not returned, as BigML's op counts only boxes with a positive coordinate.
    At most ``max_objects`` boxes are returned.
    """
    boxes = found.boxes.astype(np.float32)
    scores = found.scores.astype(np.float32)
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] > np.float32(score_threshold)]
    threshold = np.float32(iou_threshold)
    kept: list[int] = []
    returned: list[int] = []
    for index in order:
        if len(returned) == max_objects:
            break
        if kept and np.any(_iou(boxes[index], boxes[kept]) >= threshold):
            continue
        kept.append(int(index))
        if np.any(boxes[index] > 0):
            returned.append(int(index))
    chosen = np.asarray(returned, dtype=np.int64)
    return Detections(found.boxes[chosen], found.scores[chosen], found.classes[chosen])
