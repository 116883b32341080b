"""An image network alone: images in, its final (pooled) features out."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from sensenet.engines import DEFAULT_ENGINE, make_node_engine
from sensenet.exceptions import InputDataError, ModelFormatError, UnsupportedError
from sensenet.inputs.image_fields import ImageEncoder
from sensenet.lazy import Lazy
from sensenet.models.built_cache import BuiltCache
from sensenet.settings import Settings
from sensenet.spec import find_network, parse_network
from sensenet.spec.image_layers import ImageNetwork
from sensenet.spec.inputs import ImageInput
from sensenet.spec.model import ModelSpec

BUILT_CACHE_SIZE = 4
NodeEngine = Lazy[Any]

_IMAGE_VALUES = (str, bytes, bytearray, os.PathLike, np.ndarray)


class ImageFeatureExtractor:
    """An image network alone: images in, its final pooled features out.

    Made by `create_image_feature_extractor` (or `create_model` with ``extract_image_features``).
    Call it with an image (path, bytes or pixel array), a list of images or a 4-D array (images,
    height, width, channels); it returns float32 (images, features).
    """

    def __init__(self, network: ImageNetwork, settings: Settings, engine: NodeEngine | None = None):
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
        self._engine = engine or _feature_engine(network, settings)
        self._keras_model = Lazy(lambda: make_node_engine("keras", network, [len(network.nodes) - 1]).model)

    @property
    def feature_width(self) -> int:
        """How many features one image gives (e.g. 1280 for MobileNetV2)."""
        return self._network.feature_width

    @property
    def _model(self) -> Any:
        """The Keras model: float32 RGB 0-255 pixels (rows, height, width, 3) to features."""
        return self._keras_model.get()

    def encode(self, input_data: Any) -> np.ndarray:
        """The pixels the network reads, each image fitted to its input.

        Args:
            input_data: any form `__call__` takes.

        Returns:
            A float32 batch (images, height, width, 3), RGB 0-255.

        Raises:
            InputDataError: not an image, a list of images or a 4-D array.
            ImageError: an image that cannot be read or decoded.
        """
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
        """Extract the features of images.

        Args:
            input_data: an image (path, bytes or pixel array), a list of images or a 4-D array.

        Returns:
            A float32 array (images, `feature_width`).

        Raises:
            InputDataError: as `encode`.
            ImageError: as `encode`.
        """
        (features,) = self._engine.get()(self.encode(input_data))
        return features


def _feature_engine(network: ImageNetwork, settings: Settings) -> NodeEngine:
    """The engine giving the network's last node (its features), built on first use."""
    last, engine, threads = [len(network.nodes) - 1], settings.engine, settings.threads
    return Lazy(lambda: make_node_engine(engine, network, last, threads))


def _image_network(spec: ModelSpec, origin: str) -> ImageNetwork:
    if spec.image_network is None:
        raise ModelFormatError(
            f"{origin}: the model has no image fields, so it has no image network to extract features with"
        )
    return spec.image_network


def extractor_from_spec(
    spec: ModelSpec, settings: Settings, origin: str = "network"
) -> ImageFeatureExtractor:
    return ImageFeatureExtractor(_image_network(spec, origin), settings)


# Networks built lately (each up to 90 MB of weights), by what they were built from: see `reused_extractor`.
_BUILT: BuiltCache[tuple[ImageNetwork, NodeEngine]] = BuiltCache(BUILT_CACHE_SIZE)


def reused_extractor(
    what: tuple, files: Sequence[str | os.PathLike], build: Callable[[], ImageNetwork], settings: Settings
) -> ImageFeatureExtractor:
    """An extractor whose network and engine are built once per `what`, `files` (as they are on
    disk), engine and threads, and shared by later calls; the image settings (rescaling, colours,
    paths) are each call's own."""
    key = (*what, *map(str, files), settings.engine or DEFAULT_ENGINE, settings.threads)
    network, engine = _BUILT.get(key, files, lambda: _with_engine(build(), settings))
    return ImageFeatureExtractor(network, settings, engine)


def _with_engine(network: ImageNetwork, settings: Settings) -> tuple[ImageNetwork, NodeEngine]:
    return network, _feature_engine(network, settings)


def pretrained_extractor(name: str, settings: Settings) -> ImageFeatureExtractor:
    """The extractor of pretrained network `name`, with its cached weights unless
    ``load_pretrained_weights`` is false; reused while the weights file stays the same."""
    # here, not at import: create_model loads this module, and a model file needs no pretrained network
    from sensenet.pretrained import (
        get_network,
        get_weights,
        network_version,
        weights_path,
        with_pretrained_weights,
    )

    if settings.load_pretrained_weights is None:
        settings = replace(settings, load_pretrained_weights=True)
    files: list[Path] = []
    if settings.load_pretrained_weights:
        weights = weights_path(name)
        if not weights.is_file():
            get_weights(name)  # downloaded before the build, so that the first build is kept
        files.append(weights)

    def build() -> ImageNetwork:
        network = get_network(name)
        if settings.load_pretrained_weights:
            network = with_pretrained_weights(network)
        origin = f"pretrained network {name!r}"
        return _image_network(parse_network(network, origin), origin)

    return reused_extractor(("pretrained", name, network_version(name)), files, build, settings)


def file_extractor(path: str | os.PathLike, settings: Settings) -> ImageFeatureExtractor:
    """The extractor of the model in file `path` (its own weights); reused while the file stays the same."""
    real_path = os.path.realpath(path)

    def build() -> ImageNetwork:
        source = find_network(real_path)
        return _image_network(parse_network(source.network, source.origin), source.origin)

    return reused_extractor(("file",), [real_path], build, settings)
