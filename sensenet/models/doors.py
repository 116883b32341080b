"""The public doors: `create_model`, `create_image_feature_extractor` and `convert`.

They sit above what they build (the wrappers, the extractor, bundled models) and hand a
built model to an export, which never calls back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from sensenet.export.bundle import is_bundle_file
from sensenet.models.compiled import cache_wanted, cacheable, cached_model
from sensenet.models.deepnet import Deepnet
from sensenet.models.detector import ObjectDetector
from sensenet.models.extractor import (
    ImageFeatureExtractor,
    extractor_from_spec,
    file_extractor,
    pretrained_extractor,
)
from sensenet.settings import Settings, ensure_settings
from sensenet.spec import ModelSource, find_network, parse_network
from sensenet.spec.model import BOUNDING_BOX


def create_model(
    anobject: Any, settings: Settings | Mapping[str, Any] | None = None, *, cache_default: bool = False
) -> Deepnet | ObjectDetector | ImageFeatureExtractor:
    """A predicting model from a BigML deepnet, built once, then called on rows or images.

    YOLO ("regions") deepnets give an `ObjectDetector`, every other deepnet a `Deepnet`.
    With the setting ``extract_image_features`` it is the model's image feature extractor instead.
    A model given by path comes from the compiled-model cache (`sensenet.models.compiled`) when
    the setting ``cache`` is true, or ``SENSENET_CACHE=1``; `cache_default` is the choice when
    neither says (the command line, ``serve`` and MLflow's loading pass True).

    Args:
        anobject: the deepnet: BigML's resource (``{"resource", "object": {"deepnet": ...}}``),
            the deepnet or ``network`` dict, the path of a JSON file holding one (gzipped or
            not, or BigML's ``.zip`` download), or the path of an ``.smbundle`` (which brings its
            own settings).
        settings: a `Settings`, a dict of settings, or None for the defaults; not used for an
            ``.smbundle``.
        cache_default: whether a model given by path uses the compiled-model cache when neither
            the setting ``cache`` nor ``SENSENET_CACHE`` says.

    Returns:
        A `Deepnet`, an `ObjectDetector`, or an `ImageFeatureExtractor`.

    Raises:
        ModelNotFoundError: the path names no file.
        ModelFormatError: the file or dict is not a deepnet this library can build, naming why
            (a file that is no model at all is named by what it looks like: an image, a CSV...).
        SettingsError: an unknown setting or a bad value.
        MissingExtraError: the model needs an extra that is not installed (an ``.smbundle`` or the
            Keras engine need ``tensorflow``).
        DownloadError: ``load_pretrained_weights`` asked for weights that could not be fetched.
    """
    if is_bundle_file(anobject):
        from sensenet.models.bundled import model_from_bundle

        return model_from_bundle(anobject)
    settings_object = ensure_settings(settings)
    if (
        isinstance(anobject, (str, os.PathLike))
        and os.path.isfile(anobject)
        and cacheable(settings_object)
        and cache_wanted(settings_object, cache_default)
    ):
        return cached_model(anobject, settings_object, lambda document: _built(document, settings_object))
    return _built(anobject, settings_object)


def _built(anobject: Any, settings_object: Settings) -> Deepnet | ObjectDetector | ImageFeatureExtractor:
    source = _source(anobject, settings_object)
    spec = parse_network(source.network, source.origin)
    if settings_object.extract_image_features:
        return extractor_from_spec(spec, settings_object, source.origin)
    wrapper = ObjectDetector if spec.output.kind == BOUNDING_BOX else Deepnet
    return wrapper(spec, settings_object, source.network.get("preprocess"), source.names)


def create_image_feature_extractor(
    anobject: Any, settings: Settings | Mapping[str, Any] | None = None
) -> ImageFeatureExtractor:
    """Images in, the image network's final pooled features out (e.g. 1280 for MobileNetV2).

    A network given by name or by file path is built once and reused by later calls with the same
    engine, threads and weights, so calling this per image (as BigML's bindings do) costs about
    what a kept extractor does.

    Args:
        anobject: any form `create_model` takes of a model with an image field, or the name of a
            pretrained network (`sensenet.pretrained.NETWORKS`), whose weights are then fetched
            into the cache unless ``load_pretrained_weights`` is false (which keeps the
            initializer weights).
        settings: a `Settings`, a dict of settings, or None for the defaults.

    Returns:
        An `ImageFeatureExtractor`: call it on an image (path, bytes or pixels) or a list of them
        for a float32 array (images, features).

    Raises:
        ModelNotFoundError: a path that names no file, or a name that is no pretrained network.
        ModelFormatError: the model has no image network.
        SettingsError: an unknown setting or a bad value.
        DownloadError: the pretrained weights could not be fetched.
    """
    from sensenet.pretrained import NETWORKS

    settings_object = ensure_settings(settings)
    if isinstance(anobject, str) and anobject in NETWORKS and not os.path.exists(anobject):
        return pretrained_extractor(anobject, settings_object)
    if isinstance(anobject, (str, os.PathLike)) and not settings_object.load_pretrained_weights:
        return file_extractor(anobject, settings_object)
    source = _source(anobject, settings_object)
    return extractor_from_spec(parse_network(source.network, source.origin), settings_object, source.origin)


def _source(anobject: Any, settings: Settings) -> ModelSource:
    """The network `anobject` holds, with its pretrained weights filled in when the settings ask."""
    source = find_network(anobject)
    if not settings.load_pretrained_weights:
        return source
    from sensenet.pretrained import with_pretrained_weights  # its downloads and caches: only if asked

    return replace(source, network=with_pretrained_weights(source.network))


def convert(
    model: Any,
    settings: Settings | Mapping[str, Any] | None,
    output_path: str | bytes | os.PathLike,
    to_format: str,
    overwrite: bool = False,
    self_contained: bool | None = None,
) -> None:
    """Write `model` in `to_format` at exactly `output_path`, atomically.

    A model built here for a format gets the settings that format needs (TFLite: ``rescale_type``
    "warp"). A failed conversion leaves nothing behind.

    Args:
        model: a `Deepnet` or `ObjectDetector` from `create_model` (then `settings` is not used),
            or anything `create_model` accepts.
        settings: the settings to build `model` with, when it is not built yet.
        output_path: where to write: a file, or a directory for ``tfjs``.
        to_format: one of `sensenet.export.FORMATS`: ``tflite``, ``tfjs``, ``smbundle``, ``h5``,
            ``onnx``.
        overwrite: replace an existing output (else it is an error).
        self_contained: ONNX and TFLite (their default, True): one input per non-image field,
            named by the field, raw values in (numbers, NaN missing; category strings, "" missing);
            False: the encoded matrix of `Deepnet.encode`, as every other format takes.

    Raises:
        OutputPathError: the output exists (without `overwrite`) or cannot be written.
        UnsupportedError: the format cannot hold this model or option (e.g. ``self_contained``
            for ``h5``, ``output_unfiltered_boxes``, TFLite with ``pad``).
        MissingExtraError: the format needs the ``tensorflow`` extra.
        ModelFormatError: `model` is not a deepnet (as for `create_model`).
    """
    from sensenet.export import export_model, format_settings, warn_refitted

    if not isinstance(model, (Deepnet, ObjectDetector)):
        built_for = format_settings(settings, output_path, to_format, overwrite, self_contained)
        model = create_model(model, built_for)
        warn_refitted(model, to_format)
    export_model(model, output_path, to_format, overwrite, self_contained)


def tflite_predict(tflite_path: str | os.PathLike, image_path: str | os.PathLike) -> list[np.ndarray]:
    """Run a TFLite model whose only input is one image (from `convert`) on an image file.

    Args:
        tflite_path: the ``.tflite`` file `convert` wrote.
        image_path: an image file (JPEG, PNG, ...), warped to the network's input in the graph.

    Returns:
        Every output, in the documented order: a classifier's probabilities or a regression's
        value; for a detector boxes, scores, classes and count.

    Raises:
        MissingExtraError: LiteRT (the ``tensorflow`` extra) is not installed.
        ImageError: the image cannot be read.
        InputDataError: the model's input is not one image.
    """
    from sensenet.export.tflite import predict_image

    return predict_image(tflite_path, image_path)
