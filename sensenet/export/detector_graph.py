"""An object detector as one TensorFlow function: pixels in, the kept boxes out.

The graph mirrors what `ObjectDetector` does in numpy: the image network's
raw YOLO heads, decoded with `sensenet.detection.yolo.decode_head`'s formulas in the
same float32 order (sigmoid written as 1 / (1 + exp(-x)), as numpy computes
it), then ONE class-agnostic greedy non-max suppression, as BigML's
(``NonMaxSuppressionV4`` padded to ``max_objects``, which TFLite, TF.js and
TensorFlow all run as builtins; the "padded" NMS op BigML uses does not
convert; its IoU >= threshold rule is kept by passing the float32 just below
the threshold to V4's IoU > threshold); as BigML's op, a kept box with no
coordinate above 0 suppresses but is not returned, and ``max_objects`` counts
the returned boxes. The detector's ``bounding_box_threshold``,
``iou_threshold`` and ``max_objects`` are baked in.

Outputs, for one image: ``boxes`` (max_objects, 4) ``[x1, y1, x2, y2]`` in
whole pixels of the original image (origin top-left, not clipped to it, as
BigML's), ``scores`` (max_objects,), ``classes`` (max_objects,) int32 and
``count`` (the number of valid rows; the rest are zeros). As BigML does, the
candidate boxes are mapped onto the original image and rounded before the
suppression, which compares those rounded boxes.

Two input forms are offered:

- ``pixels`` (1, height, width, 3), float32 RGB 0-255, already fitted by the
  detector's rescale type (`sensenet.inputs.rescale.rescale`), and
  ``image_size``, the original image's (height, width) as float32, from which
  the graph maps boxes back as `sensenet.inputs.rescale.to_original_pixels`
  does (the .smbundle and TF.js exports);
- with ``any_size``, ``image``: an image of any size (1, H, W, 3), warped
  inside the graph with TensorFlow's nearest resize (sensenet's "warp", pixel
  for pixel) (TFLite).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sensenet.detection.yolo import Detections
from sensenet.exceptions import UnsupportedError
from sensenet.spec.output_names import BOXES, CLASSES, DETECTOR_OUTPUTS, SCORES

IMAGE_SIZE_INPUT = "image_size"  # the original image's (height, width), float32
DETECTION_KEYS = (BOXES, SCORES, CLASSES)


def _sigmoid(x: Any) -> Any:
    from sensenet.engines.keras.backend import tf

    return tf.constant(1.0, tf.float32) / (tf.constant(1.0, tf.float32) + tf.exp(-x))


def _decode_head(raw: Any, head: Any, class_count: int) -> Detections:
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


def _suppress(found: Detections, settings: dict) -> Any:
    """One class-agnostic greedy suppression, padded to max_objects (NonMaxSuppressionV4).

    Every candidate may be kept: as BigML's op, a kept box with no coordinate above 0 still
    suppresses others but is not returned, and ``max_objects`` counts the returned ones. The
    returned boxes are brought to the front, in order, by ``top_k`` on their rank (an op TFLite
    and TF.js both run, with static shapes).
    """
    from sensenet.engines.keras.backend import tf

    max_objects, candidates = settings["max_objects"], int(found.scores.shape[0])
    indices, valid = tf.raw_ops.NonMaxSuppressionV4(
        boxes=found.boxes,
        scores=found.scores,
        max_output_size=candidates,
        iou_threshold=iou_threshold_for_strict_ops(settings["iou_threshold"]),
        score_threshold=np.float32(settings["score_threshold"]),
        pad_to_max_output_size=True,
    )
    returned = (tf.range(candidates) < valid) & tf.reduce_any(tf.gather(found.boxes, indices) > 0, axis=1)
    rank = tf.cumsum(tf.cast(returned, tf.float32)) - np.float32(1)
    first = min(max_objects, candidates)
    _, order = tf.math.top_k(tf.where(returned, -rank, np.float32(-candidates)), k=first)
    chosen = tf.gather(indices, order)
    count = tf.minimum(tf.reduce_sum(tf.cast(returned, tf.int32)), max_objects)
    is_valid = tf.range(first) < count

    def placed(values: Any, zero: Any) -> Any:
        picked = tf.gather(values, chosen)
        mask = is_valid[:, tf.newaxis] if len(picked.shape) == 2 else is_valid
        rows = [[0, max_objects - first]] + [[0, 0]] * (len(picked.shape) - 1)
        return tf.pad(tf.where(mask, picked, zero), rows)

    return placed(found.boxes, 0.0), placed(found.scores, 0.0), placed(found.classes, 0), count


def baked_settings(detector: Any) -> dict:
    """The detector's thresholds and cap, as the exported graphs hold them."""
    return {
        "score_threshold": detector._score_threshold,
        "iou_threshold": detector._iou_threshold,
        "max_objects": detector._max_objects,
    }


def _to_original_pixels(boxes: Any, image_size: Any, rescale_type: str, height: int, width: int) -> Any:
    """`sensenet.inputs.rescale.to_original_pixels` in TensorFlow ops, same float32 order:
    ``image_size`` is the original (height, width), float32."""
    from sensenet.engines.keras.backend import tf

    def xyxy(y: Any, x: Any) -> Any:
        return tf.stack([x, y, x, y])

    target = np.array([height, width], np.float32)
    if rescale_type == "pad":
        mapped = boxes / xyxy(*target) * tf.reduce_max(image_size)
    elif rescale_type == "warp":
        ratios = target / image_size
        mapped = boxes / xyxy(ratios[0], ratios[1])
    else:  # crop
        scaled = image_size * tf.reduce_max(target / image_size)
        offsets = tf.round((scaled - target) / np.float32(2))
        mapped = (boxes + xyxy(offsets[0], offsets[1])) / (scaled[0] / image_size[0])
    return tf.round(mapped)


def _network_size_detector(detector: Any) -> Any:
    """A function of one (1, height, width, 3) pixel batch and the original image's (height, width)
    giving the dict of `DETECTOR_OUTPUTS`: boxes in rounded original pixels, suppressed on those."""
    from sensenet.engines.keras.backend import keras, tf

    source = detector._model
    if not isinstance(source, keras.Model):  # read from a bundle: its graph is this function already
        return lambda pixels, image_size: dict(source.serve(pixels, image_size))
    heads, class_count, settings = detector._heads, len(detector._classes), baked_settings(detector)
    height, width = detector._input_size

    def run(pixels: Any, image_size: Any) -> Any:
        outputs = source(pixels, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        decoded = [_decode_head(raw[0], head, class_count) for raw, head in zip(outputs, heads)]
        boxes, scores, classes = (
            tf.concat([getattr(d, key) for d in decoded], axis=0) for key in DETECTION_KEYS
        )
        boxes = _to_original_pixels(boxes, image_size, detector._rescale_type, height, width)
        return dict(zip(DETECTOR_OUTPUTS, _suppress(Detections(boxes, scores, classes), settings)))

    return run


def check_exportable(detector: Any) -> None:
    """Refuse what no detector export can hold."""
    if detector._unfiltered:
        raise UnsupportedError(
            "an exported detector returns the suppressed, thresholded boxes; it cannot keep the "
            "output_unfiltered_boxes setting: convert without it"
        )


def detector_function(detector: Any, any_size: bool = False) -> Any:
    """The detector graph as a concrete function (see the module docstring for its two inputs)."""
    from sensenet.engines.keras.backend import tf

    check_exportable(detector)
    height, width = detector._input_size
    run = _network_size_detector(detector)  # built here, eagerly: the model's weights are made now
    if not any_size:
        pixels = tf.TensorSpec((1, height, width, 3), tf.float32, name="pixels")
        image_size = tf.TensorSpec((2,), tf.float32, name="image_size")
        return tf.function(run).get_concrete_function(pixels, image_size)

    def warped(image: Any) -> Any:
        resized = tf.image.resize(image, (height, width), method="nearest")
        return run(resized, tf.cast(tf.shape(image)[1:3], tf.float32))

    spec = tf.TensorSpec((1, None, None, 3), tf.float32, name="image")
    return tf.function(warped).get_concrete_function(spec)
