"""YOLOv4 box decoding and non-max suppression, in numpy.

Engines return each head's raw output; this turns them into boxes, the same
way whatever engine ran the network. Coordinates are pixels of the network
input, ``[x1, y1, x2, y2]`` with the origin top-left.
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
    offsets = _sigmoid(cells[..., 0:2]) * scale - np.float32(0.5) * (scale - 1)
    centers = (offsets + grid) * np.float32(head.stride)
    sizes = np.exp(cells[..., 2:4]) * anchors
    objectness = _sigmoid(cells[..., 4:5])
    class_scores = objectness * _sigmoid(cells[..., 5:])

    corners = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=-1).reshape(-1, 4)
    class_scores = class_scores.reshape(-1, class_count)
    classes = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(classes)), classes]
    return Detections(corners.astype(np.float32), scores.astype(np.float32), classes)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    intersection = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1), 0.0)


def non_max_suppression(
    found: Detections, iou_threshold: float, score_threshold: float, max_objects: int
) -> Detections:
    """Greedy per-class suppression, best score first, as TensorFlow's NMS selects."""
    order = np.argsort(-found.scores, kind="stable")
    order = order[found.scores[order] > score_threshold]
    kept: list[int] = []
    for index in order:
        if len(kept) == max_objects:
            break
        same_class = [k for k in kept if found.classes[k] == found.classes[index]]
        if same_class and np.any(_iou(found.boxes[index], found.boxes[same_class]) > iou_threshold):
            continue
        kept.append(int(index))
    kept_array = np.asarray(kept, dtype=np.int64)
    return Detections(found.boxes[kept_array], found.scores[kept_array], found.classes[kept_array])


def detect(
    raw_heads: list[np.ndarray],
    heads: tuple[YoloHead, ...],
    class_count: int,
    *,
    iou_threshold: float,
    score_threshold: float,
    max_objects: int,
) -> Detections:
    """Decode every head of one image and keep the best non-overlapping boxes."""
    decoded = [decode_head(raw, head, class_count) for raw, head in zip(raw_heads, heads)]
    found = Detections(
        np.concatenate([d.boxes for d in decoded]),
        np.concatenate([d.scores for d in decoded]),
        np.concatenate([d.classes for d in decoded]),
    )
    return non_max_suppression(found, iou_threshold, score_threshold, max_objects)
