"""An image network alone: images in, its final (pooled) features out."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from sensenet.engines import make_node_engine
from sensenet.exceptions import InputDataError, ModelFormatError, UnsupportedError
from sensenet.inputs.image_fields import ImageEncoder
from sensenet.lazy import Lazy
from sensenet.settings import Settings
from sensenet.spec.image_layers import ImageNetwork
from sensenet.spec.inputs import ImageInput
from sensenet.spec.model import ModelSpec

_IMAGE_VALUES = (str, bytes, bytearray, os.PathLike, np.ndarray)


class ImageFeatureExtractor:
    """Call it with an image (path, bytes or pixel array), a list of images or a 4-D array
    (images, height, width, channels); it returns float32 (images, features).
    """

    def __init__(self, network: ImageNetwork, settings: Settings):
        if len(network.output_shape) != 1:
            raise UnsupportedError(
                f"this image network ends in shape {network.output_shape}, not a feature vector "
                "(a detector's heads): feature extraction needs a network ending in pooled features"
            )
        self._network = network
        self._settings = settings
        self._images = ImageEncoder(
            (ImageInput(0),),
            network.metadata,
            path_prefix=settings.image_path_prefix,
            color_space=settings.color_space,
            rescale_type=settings.rescale_type,
        )
        last = [len(network.nodes) - 1]
        self._engine = Lazy(lambda: make_node_engine(settings.engine, network, last, settings.threads))
        self._keras_model = Lazy(lambda: make_node_engine("keras", network, last).model)

    @property
    def feature_width(self) -> int:
        return self._network.feature_width

    @property
    def _model(self) -> Any:
        """The Keras model: float32 RGB 0-255 pixels (rows, height, width, 3) to features."""
        return self._keras_model.get()

    def encode(self, input_data: Any) -> np.ndarray:
        """The float32 pixel batch (images, height, width, 3) for `input_data`."""
        if isinstance(input_data, np.ndarray) and input_data.ndim == 4:
            return self._images.encode_images(list(input_data))
        if isinstance(input_data, _IMAGE_VALUES):
            return self._images.encode_images([input_data])
        if isinstance(input_data, (list, tuple)) and input_data:
            return self._images.encode_images(list(input_data))
        raise InputDataError(
            f"cannot extract features from {type(input_data).__name__}: "
            "expected an image (path, bytes or pixel array), a non-empty list of images or a 4-D array"
        )

    def __call__(self, input_data: Any) -> np.ndarray:
        (features,) = self._engine.get()(self.encode(input_data))
        return features


def extractor_from_spec(
    spec: ModelSpec, settings: Settings, origin: str = "network"
) -> ImageFeatureExtractor:
    if spec.image_network is None:
        raise ModelFormatError(
            f"{origin}: the model has no image fields, so it has no image network to extract features with"
        )
    return ImageFeatureExtractor(spec.image_network, settings)
