"""An object detector as one TensorFlow function: pixels in, the kept boxes out.

The graph mirrors what `ObjectDetector` does in numpy: the image network's
raw YOLO heads, decoded with `sensenet.detection.yolo.decode_head`'s formulas in the
same float32 order (sigmoid written as 1 / (1 + exp(-x)), as numpy computes
it), then ONE class-agnostic greedy non-max suppression, as BigML's
(``NonMaxSuppressionV4`` padded to ``max_objects``, which TFLite, TF.js and
TensorFlow all run as builtins; the "padded" NMS op BigML uses does not
convert; its IoU >= threshold rule is kept by passing the float32 just below
the threshold to V4's IoU > threshold). The detector's
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
  pixel); the candidate boxes are mapped onto that image and rounded to
  whole pixels before suppression, as BigML does, and are not clipped (TFLite).

With network-size pixels the graph does not know the original image, so it
suppresses on unrounded network-pixel boxes: the caller maps and rounds the
kept boxes and suppresses them again (`sensenet.models.bundled`); a box may
then survive that BigML's rounding would have suppressed.
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
    shift = np.float32(0.5 * (float(head.xyscale) - 1.0))  # as `decode_head`: in double, then float32
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


def iou_threshold_for_strict_ops(iou_threshold: float) -> np.float32:
    """The threshold that makes an NMS op suppressing at IoU > t suppress at IoU >= iou_threshold
    (BigML's rule) on float32 IoUs: the float32 just below it."""
    return np.nextafter(np.float32(iou_threshold), np.float32(0))


def _suppress(found: Detections, settings: dict):
    """One class-agnostic greedy suppression, padded to max_objects (NonMaxSuppressionV4)."""
    from sensenet.engines.keras.backend import tf

    max_objects = settings["max_objects"]
    indices, valid = tf.raw_ops.NonMaxSuppressionV4(
        boxes=found.boxes,
        scores=found.scores,
        max_output_size=max_objects,
        iou_threshold=iou_threshold_for_strict_ops(settings["iou_threshold"]),
        score_threshold=np.float32(settings["score_threshold"]),
        pad_to_max_output_size=True,
    )
    is_valid = tf.range(max_objects) < valid
    boxes = tf.where(is_valid[:, tf.newaxis], tf.gather(found.boxes, indices), 0.0)
    scores = tf.where(is_valid, tf.gather(found.scores, indices), 0.0)
    classes = tf.where(is_valid, tf.gather(found.classes, indices), 0)
    return boxes, scores, classes, valid


def baked_settings(detector: Any) -> dict:
    """The detector's thresholds and cap, as the exported graphs hold them."""
    return {
        "score_threshold": detector._score_threshold,
        "iou_threshold": detector._iou_threshold,
        "max_objects": detector._max_objects,
    }


def _network_size_detector(detector: Any):
    """A function of one (1, height, width, 3) pixel batch giving the dict of `OUTPUT_NAMES`; its
    ``to_pixels`` maps the candidate boxes (network pixels) before suppression."""
    from sensenet.engines.keras.backend import keras, tf

    source = detector._model
    if not isinstance(source, keras.Model):  # read from a bundle: its graph is this function already

        def bundled(pixels, to_pixels=lambda boxes: boxes):  # its boxes are suppressed already
            found = dict(source.serve(pixels))
            return {**found, "boxes": to_pixels(found["boxes"])}

        return bundled
    heads, class_count, settings = detector._heads, len(detector._classes), baked_settings(detector)

    def run(pixels, to_pixels=lambda boxes: boxes):
        outputs = source(pixels, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        decoded = [_decode_head(raw[0], head, class_count) for raw, head in zip(outputs, heads)]
        boxes, scores, classes = (
            tf.concat([getattr(d, key) for d in decoded], axis=0) for key in DETECTION_KEYS
        )
        return dict(zip(OUTPUT_NAMES, _suppress(Detections(to_pixels(boxes), scores, classes), settings)))

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
    run = _network_size_detector(detector)  # built here, eagerly: the model's weights are made now
    if not any_size:
        spec = tf.TensorSpec((1, height, width, 3), tf.float32, name="pixels")
        return tf.function(lambda pixels: run(pixels)).get_concrete_function(spec)

    def warped(image):
        sides = tf.cast(tf.shape(image)[1:3], tf.float32)
        # As `sensenet.inputs.rescale.to_original_pixels` for warp: divide by the float32 resize
        # ratios, round half to even; then suppress on those boxes, as BigML does.
        ratios = tf.tile(tf.stack([np.float32(width) / sides[1], np.float32(height) / sides[0]]), [2])
        resized = tf.image.resize(image, (height, width), method="nearest")
        return run(resized, to_pixels=lambda boxes: tf.round(boxes / ratios))

    spec = tf.TensorSpec((1, None, None, 3), tf.float32, name="image")
    return tf.function(warped).get_concrete_function(spec)
