"""An object detector as one TensorFlow function: pixels in, the kept boxes out.

The graph mirrors what `ObjectDetector` does in numpy: the image network's
raw YOLO heads, decoded with `sensenet.detection.yolo.decode_head`'s formulas in the
same float32 order (sigmoid written as 1 / (1 + exp(-x)), as numpy computes
it), then greedy per-class non-max suppression. Suppression runs one
``NonMaxSuppressionV4`` per class (padded to ``max_objects``, which TFLite,
TF.js and TensorFlow all run as builtins; the "padded" NMS op does not
convert) and the classes' survivors are merged best score first, which keeps
exactly the boxes the numpy greedy loop keeps (but for exactly equal scores
in two classes, which may come out in either order). The detector's
``bounding_box_threshold``, ``iou_threshold`` and ``max_objects`` are baked in.

Outputs, for one image: ``boxes`` (max_objects, 4) ``[x1, y1, x2, y2]``,
``scores`` (max_objects,), ``classes`` (max_objects,) int32 and ``count``
(the number of valid rows; the rest are zeros).

Two inputs are offered:

- network-size pixels (1, height, width, 3), float32 RGB 0-255, already
  fitted by any rescale type; boxes are in those pixels (the .smbundle and
  TF.js exports; the caller fits the image and maps boxes back, as
  `ObjectDetector` does with `sensenet.inputs.rescale`);
- with ``any_size``, an image of any size (1, H, W, 3), warped inside the
  graph with TensorFlow's nearest resize (sensenet's "warp", pixel for
  pixel); boxes are then in that image's pixels, clipped to it (TFLite).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sensenet.detection.yolo import Detections
from sensenet.exceptions import UnsupportedError

OUTPUT_NAMES = ("boxes", "scores", "classes", "count")
DETECTION_KEYS = ("boxes", "scores", "classes")


def _sigmoid(x):
    from sensenet.engines.keras.backend import tf

    return tf.constant(1.0, tf.float32) / (tf.constant(1.0, tf.float32) + tf.exp(-x))


def _decode_head(raw, head: Any, class_count: int) -> Detections:
    """`sensenet.detection.yolo.decode_head` for one image's (grid_h, grid_w, channels) head output."""
    from sensenet.engines.keras.backend import tf

    grid_h, grid_w = int(raw.shape[0]), int(raw.shape[1])
    anchors = head.anchors.astype(np.float32)
    cells = tf.reshape(raw, (grid_h, grid_w, len(anchors), 5 + class_count))
    grid_x, grid_y = np.meshgrid(np.arange(grid_w, dtype=np.float32), np.arange(grid_h, dtype=np.float32))
    grid = np.stack([grid_x, grid_y], axis=-1)[:, :, np.newaxis, :]

    scale = np.float32(head.xyscale)
    shift = np.float32(0.5) * (scale - np.float32(1))
    offsets = _sigmoid(cells[..., 0:2]) * scale - shift
    centers = (offsets + grid) * np.float32(head.stride)
    sizes = tf.exp(cells[..., 2:4]) * anchors
    objectness = _sigmoid(cells[..., 4:5])
    class_scores = objectness * _sigmoid(cells[..., 5:])

    half = sizes / np.float32(2)
    corners = tf.reshape(tf.concat([centers - half, centers + half], axis=-1), (-1, 4))
    class_scores = tf.reshape(class_scores, (-1, class_count))
    classes = tf.argmax(class_scores, axis=1, output_type=tf.int32)
    scores = tf.reduce_max(class_scores, axis=1)
    return Detections(corners, scores, classes)


def _per_class_nms(found: Detections, class_count: int, settings: dict):
    """Greedy suppression within each class, survivors merged best first, padded to max_objects."""
    from sensenet.engines.keras.backend import tf

    max_objects = settings["max_objects"]
    kept_boxes, kept_scores, kept_classes = [], [], []
    for label in range(class_count):
        # A box competes only in its best class (as in numpy); -1 is below every threshold.
        scores = tf.where(found.classes == label, found.scores, tf.constant(-1.0, tf.float32))
        indices, valid = tf.raw_ops.NonMaxSuppressionV4(
            boxes=found.boxes,
            scores=scores,
            max_output_size=max_objects,
            iou_threshold=np.float32(settings["iou_threshold"]),
            score_threshold=np.float32(settings["score_threshold"]),
            pad_to_max_output_size=True,
        )
        is_valid = tf.range(max_objects) < valid
        kept_boxes.append(tf.gather(found.boxes, indices))
        kept_scores.append(tf.where(is_valid, tf.gather(scores, indices), tf.constant(-1.0, tf.float32)))
        kept_classes.append(tf.fill((max_objects,), label))
    scores = tf.concat(kept_scores, axis=0)
    best_scores, best = tf.math.top_k(scores, k=max_objects)
    is_valid = best_scores >= 0
    count = tf.reduce_sum(tf.cast(is_valid, tf.int32))
    boxes = tf.where(is_valid[:, tf.newaxis], tf.gather(tf.concat(kept_boxes, axis=0), best), 0.0)
    classes = tf.where(is_valid, tf.gather(tf.concat(kept_classes, axis=0), best), 0)
    return boxes, tf.where(is_valid, best_scores, 0.0), classes, count


def baked_settings(detector: Any) -> dict:
    """The detector's thresholds and cap, as the exported graphs hold them."""
    return {
        "score_threshold": detector._score_threshold,
        "iou_threshold": detector._iou_threshold,
        "max_objects": detector._max_objects,
    }


def _network_size_detector(detector: Any):
    """A function of one (1, height, width, 3) pixel batch giving the dict of `OUTPUT_NAMES`."""
    from sensenet.engines.keras.backend import keras, tf

    source = detector._model
    if not isinstance(source, keras.Model):  # read from a bundle: its graph is this function already
        return lambda pixels: dict(source.serve(pixels))
    heads, class_count, settings = detector._heads, len(detector._classes), baked_settings(detector)

    def run(pixels):
        outputs = source(pixels, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        decoded = [_decode_head(raw[0], head, class_count) for raw, head in zip(outputs, heads)]
        found = Detections(*(tf.concat([getattr(d, key) for d in decoded], axis=0) for key in DETECTION_KEYS))
        return dict(zip(OUTPUT_NAMES, _per_class_nms(found, class_count, settings)))

    return run


def check_exportable(detector: Any) -> None:
    """Refuse what no detector export can hold."""
    if detector._unfiltered:
        raise UnsupportedError(
            "an exported detector returns the suppressed, thresholded boxes; it cannot keep the "
            "output_unfiltered_boxes setting: convert without it"
        )


def detector_function(detector: Any, any_size: bool = False):
    """The detector graph as a concrete function (see the module docstring for its two inputs)."""
    from sensenet.engines.keras.backend import tf

    check_exportable(detector)
    height, width = detector._input_size
    run = _network_size_detector(detector)
    if not any_size:
        spec = tf.TensorSpec((1, height, width, 3), tf.float32, name="pixels")
        return tf.function(run).get_concrete_function(spec)

    def warped(image):
        sides = tf.cast(tf.shape(image)[1:3], tf.float32)
        found = run(tf.image.resize(image, (height, width), method="nearest"))
        # As `sensenet.inputs.rescale.to_original_pixels`: divide by the resize ratio, then clip.
        ratios = tf.tile(tf.stack([width / sides[1], height / sides[0]]), [2])
        limits = tf.tile(tf.stack([sides[1], sides[0]]), [2])
        return {**found, "boxes": tf.clip_by_value(found["boxes"] / ratios, 0.0, limits)}

    spec = tf.TensorSpec((1, None, None, 3), tf.float32, name="image")
    return tf.function(warped).get_concrete_function(spec)
