"""The `ObjectDetector` wrapper: YOLO models that return boxes, labels and scores."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sensenet.detection.yolo import Detections, decode, non_max_suppression
from sensenet.engines import make_node_engine
from sensenet.exceptions import InputDataError
from sensenet.inputs import load_image
from sensenet.inputs.rescale import Placement, choose_rescale_type, placement, rescale, to_original_pixels
from sensenet.lazy import Lazy
from sensenet.models.model_wrapper import ModelWrapper
from sensenet.models.records import as_frame as to_frame
from sensenet.settings import Settings
from sensenet.spec.image_layers import ImageNetwork
from sensenet.spec.model import ModelSpec
from sensenet.spec.source import FieldNames

DEFAULT_SCORE_THRESHOLD = 0.5
DEFAULT_IOU_THRESHOLD = 0.5
DEFAULT_MAX_OBJECTS = 32
PADDING_BOX = {"box": [0, 0, 0, 0], "label": None, "score": 0.0}

_IMAGE_TYPES = (str, bytes, bytearray, memoryview, os.PathLike, np.ndarray)


class ObjectDetector(ModelWrapper):
    """Finds objects in images with a BigML YOLO deepnet.

    ``detector(image)`` takes one image (a path, the bytes of an image file or a
    pixel array) and returns its objects, best first, as
    ``{"box": [x1, y1, x2, y2], "label": str, "score": float}`` with the box in
    integer pixels of the original image (origin top-left). A list of images,
    or a 4-D array, gives one such list per image.
    """

    deepnet_type = "ObjectDetector"  # the wrapper kind a bundle records

    def __init__(
        self,
        spec: ModelSpec,
        settings: Settings,
        preprocessors: list[dict] | None = None,
        names: FieldNames | None = None,
        *,
        compiled: Mapping[str, Any] | None = None,
        full_spec: Callable[[], ModelSpec] | None = None,
    ):
        network = spec.image_network
        assert network is not None, "a detector's spec always holds its image network"
        super().__init__(spec, settings, preprocessors, names, compiled=compiled, full_spec=full_spec)
        self._classes = list(spec.classes or ())
        self._heads = network.metadata.heads
        self._input_size = (network.metadata.height, network.metadata.width)
        self._rescale_type = choose_rescale_type(settings.rescale_type, network.metadata.rescale_type)
        self._score_threshold = _setting(settings.bounding_box_threshold, DEFAULT_SCORE_THRESHOLD)
        self._iou_threshold = _setting(settings.iou_threshold, DEFAULT_IOU_THRESHOLD)
        self._max_objects = _setting(settings.max_objects, DEFAULT_MAX_OBJECTS)
        self._unfiltered = bool(settings.output_unfiltered_boxes)
        self._padded = bool(settings.pad_bounding_box_output)
        self._clip = bool(settings.clip_boxes)
        self._nodes = network.metadata.output_nodes
        self._engine = Lazy(self._build_engine)
        self._keras_model = Lazy(lambda: make_node_engine("keras", self._network(), self._nodes).model)

    def _network(self) -> ImageNetwork:
        network = self.spec.image_network
        assert network is not None, "a detector's spec always holds its image network"
        return network

    def _build_engine(self) -> Any:
        threads, onnx = self._settings.threads, self._engine_arguments()
        if onnx is not None:
            spec, compiled = onnx
            return make_node_engine("onnx", spec.image_network, self._nodes, threads, **compiled)
        return make_node_engine(self._settings.engine, self._network(), self._nodes, threads)

    def _run_heads(self, pixels: np.ndarray) -> list[np.ndarray]:
        return self._engine.get()(pixels)

    @property
    def _model(self) -> Any:
        """The Keras model from pixels to the raw YOLO head outputs, built on first use."""
        return self._keras_model.get()

    def __call__(self, input_data: Any) -> Any:
        """Find the objects in one image, or in each of several.

        Args:
            input_data: an image (a path, joined to ``image_path_prefix``; the bytes of an image
                file; a pixel array), a list of images, or a 4-D array of images.

        Returns:
            For one image, its objects, best first: ``{"box": [x1, y1, x2, y2], "label", "score"}``
            in integer pixels of the original image; for several, one such list per image. With
            ``output_unfiltered_boxes``, the seed's ``[boxes, scores, classes]`` instead.

        Raises:
            InputDataError: not an image or a list of images.
            ImageError: an image that cannot be read or decoded.
        """
        if isinstance(input_data, np.ndarray) and input_data.ndim == 4:
            return [self._detect_one(image) for image in input_data]
        if isinstance(input_data, list) and not (
            len(input_data) == 1 and isinstance(input_data[0], _IMAGE_TYPES)
        ):
            if not input_data:
                raise InputDataError("no images given: expected an image or a list of images")
            return [self(item) if isinstance(item, list) else self._detect_one(item) for item in input_data]
        if isinstance(input_data, list):
            return self._detect_one(input_data[0])
        if isinstance(input_data, _IMAGE_TYPES) or input_data is None:
            return self._detect_one(input_data)
        raise InputDataError(
            f"cannot detect objects in {type(input_data).__name__}: expected an image (path, bytes or "
            "pixel array) or a list of images"
        )

    def predict(self, images: Any, as_frame: bool = False) -> Any:
        """Find the objects in images, as records.

        Args:
            images: any form `__call__` takes.
            as_frame: give a pandas DataFrame of the records (the ``pandas`` extra).

        Returns:
            One record per image, ``{"objects": [{"box", "label", "score"}, ...]}``, or their
            DataFrame.

        Raises:
            InputDataError: as `__call__`.
        """
        found = self(images)
        one = not found or isinstance(found[0], dict)
        records = [{"objects": objects} for objects in ([found] if one else found)]
        return to_frame(records) if as_frame else records

    def _detect_one(self, image: Any) -> Any:
        if isinstance(image, np.ndarray) and image.ndim == 4:
            raise InputDataError("expected one image, got a 4-D array (several images) in its place")
        pixels = load_image(
            image,
            color_space=self._settings.color_space or "rgb",
            path_prefix=self._settings.image_path_prefix,
        )
        height, width = self._input_size
        fitted = rescale(pixels, height, width, self._rescale_type)[np.newaxis]
        place = placement(pixels, height, width, self._rescale_type)
        # Boxes that overflow float32 are refused below, not warned about on the way.
        with np.errstate(over="ignore", invalid="ignore"):
            candidates = self._candidates(fitted, pixels.shape, place)
            if self._unfiltered:
                return _unfiltered_output(candidates)
            found = non_max_suppression(
                candidates, self._iou_threshold, self._score_threshold, self._max_objects
            )
        if not np.isfinite(found.boxes).all():
            raise InputDataError(
                f"{_described(image)}: a detected box is not finite (float32 overflowed inside the "
                "network: the model's weights or the image are far from what it was trained on)"
            )
        boxes = np.clip(found.boxes, 0, _limits(pixels.shape)) if self._clip else found.boxes
        objects = [
            {"box": [int(v) for v in box], "label": self._classes[int(cls)], "score": float(score)}
            for box, score, cls in zip(boxes, found.scores, found.classes)
        ]
        if self._padded:
            objects += [dict(PADDING_BOX) for _ in range(self._max_objects - len(objects))]
        return objects

    def _candidates(self, fitted: np.ndarray, shape: tuple[int, ...], place: Placement) -> Detections:
        """Every candidate box of one fitted (1, height, width, 3) image, in rounded original pixels."""
        raw = [output[0] for output in self._run_heads(fitted)]
        found = decode(raw, self._heads, len(self._classes))
        return Detections(to_original_pixels(found.boxes, shape, place), found.scores, found.classes)


def _described(image: Any) -> str:
    if isinstance(image, (str, os.PathLike)):
        return f"image {os.fspath(image)!r}"
    if isinstance(image, np.ndarray):
        return f"image array of shape {image.shape}"
    return f"image ({type(image).__name__})"


def _limits(shape: tuple[int, ...]) -> np.ndarray:
    height, width = shape[:2]
    return np.array([width, height, width, height], dtype=np.float32)


def _unfiltered_output(found: Detections) -> list[np.ndarray]:
    """Every candidate, as the seed library returned them: ``[boxes, scores, classes]`` with a batch
    axis of one, boxes (1, n, 4) float32 [x1, y1, x2, y2] rounded original pixels (not clipped),
    scores (1, n) float32, classes (1, n) int32."""
    return [
        found.boxes.astype(np.float32)[np.newaxis],
        found.scores.astype(np.float32)[np.newaxis],
        found.classes.astype(np.int32)[np.newaxis],
    ]


def _setting(value: Any, default: Any) -> Any:
    return default if value is None else value
