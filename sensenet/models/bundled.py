"""Models read back from an .smbundle: they predict through the bundle's SavedModel.

``assets/settings.json`` (see `sensenet.export.smbundle`) names the wrapper
kind and carries what it needs beside the graph: settings, BigML's
``preprocess`` list, the output and, for image models, the image network's
metadata, so rows and images are prepared exactly as by the wrapper the
bundle was written from.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np

from sensenet.detection.yolo import Detections
from sensenet.exceptions import ModelFormatError, SettingsError, UnsupportedError
from sensenet.export.bundle import SETTINGS_PATH, load_bundle
from sensenet.inputs.rescale import Placement
from sensenet.lazy import Lazy
from sensenet.models.deepnet import Deepnet
from sensenet.models.detector import ObjectDetector
from sensenet.settings import Settings, ensure_settings
from sensenet.spec import ModelSpec
from sensenet.spec.fields import Fields
from sensenet.spec.image_layers import ImageNetwork, parse_image_metadata
from sensenet.spec.inputs import ImageInput, parse_inputs
from sensenet.spec.model import parse_output
from sensenet.spec.output_names import DETECTOR_OUTPUTS


class SavedModelEngine:
    """Runs a loaded SavedModel's ``serve`` function: the input matrix (if the model reads one),
    then one pixel batch per image field, as the Keras model takes them (several as one list)."""

    name = "saved_model"

    def __init__(self, saved_model: Any, takes_matrix: bool = True):
        self.model = saved_model
        self._takes_matrix = takes_matrix

    def __call__(self, matrix: np.ndarray, images: Sequence[np.ndarray] = ()) -> np.ndarray:
        arrays = ([matrix] if self._takes_matrix else []) + list(images)
        return _only_output(self.model.serve(arrays if len(arrays) > 1 else arrays[0])).numpy()


def _only_output(outputs: Any) -> Any:
    """A Deepnet's one output: named (``probabilities`` or ``prediction``), or unnamed as bundles
    written before the names were given have it."""
    return next(iter(outputs.values())) if isinstance(outputs, dict) and len(outputs) == 1 else outputs


def _refuse_pickling(model: Any) -> NoReturn:
    raise UnsupportedError(
        "a model read from an .smbundle runs a loaded SavedModel and cannot be pickled or shipped: "
        "use the model's BigML JSON instead"
    )


class BundledDeepnet(Deepnet):
    """A Deepnet whose graph is the bundle's SavedModel; its spec holds inputs and output only."""

    def __init__(self, spec: ModelSpec, settings: Settings, preprocessors: list[dict], saved_model: Any):
        super().__init__(spec, settings, preprocessors)
        engine = SavedModelEngine(saved_model, takes_matrix=bool(spec.numeric_inputs))
        self._engine = Lazy(lambda: engine)
        # `_model` is the loaded SavedModel: a bundle keeps no Keras layers.
        self._keras_model = Lazy(lambda: saved_model)

    __reduce__ = _refuse_pickling


class BundledDetector(ObjectDetector):
    """An ObjectDetector whose decoding and suppression run in the bundle's detector graph."""

    def __init__(self, spec: ModelSpec, settings: Settings, preprocessors: list[dict], saved_model: Any):
        super().__init__(spec, settings, preprocessors)
        self._saved_model = saved_model
        # `_model` is the loaded SavedModel: `sensenet.export.detector_graph` on network-size pixels.
        self._keras_model = Lazy(lambda: saved_model)

    __reduce__ = _refuse_pickling

    def _candidates(self, fitted: np.ndarray, shape: tuple[int, ...], place: Placement) -> Detections:
        """The graph's kept boxes, already in rounded original pixels and suppressed (suppressing
        them again keeps them all)."""
        found = self._saved_model.serve(fitted, np.array(shape[:2], np.float32))
        count = int(found["count"])
        return Detections(*(found[key].numpy()[:count] for key in ("boxes", "scores", "classes")))


def _image_network(fields: Fields, inputs: tuple) -> ImageNetwork | None:
    """The image network's metadata (no layers: the graph holds them), for image models."""
    if not any(isinstance(field, ImageInput) for field in inputs):
        return None
    metadata = parse_image_metadata(fields.child("image_network").child("metadata"), 0)
    return ImageNetwork(metadata, (), ())


WRAPPERS: dict[str, Callable[..., Any]] = {"Deepnet": BundledDeepnet, "ObjectDetector": BundledDetector}
DETECTOR_OUTPUT_SET = frozenset(DETECTOR_OUTPUTS)


def _serving_signature(saved_model: Any, where: str) -> tuple[list[tuple], Any]:
    """The input shapes and the output structure of the SavedModel's ``serve`` function."""
    from sensenet.engines.keras.backend import tf

    serve = getattr(saved_model, "serve", None)
    functions = getattr(serve, "concrete_functions", None)  # a Keras export's restored tf.function
    function: Any = functions[0] if functions else serve  # else a concrete function (the detector's)
    if not hasattr(function, "structured_input_signature"):
        raise ModelFormatError(f"{where}: the bundle's SavedModel has no 'serve' function")
    inputs = [tuple(spec.shape.as_list()) for spec in tf.nest.flatten(function.structured_input_signature)]
    return inputs, function.structured_outputs


def _compatible(shape: tuple, wanted: tuple) -> bool:
    return len(shape) == len(wanted) and all(g is None or w is None or g == w for g, w in zip(shape, wanted))


def check_against_graph(spec: ModelSpec, deepnet_type: str, saved_model: Any, where: str) -> None:
    """settings.json must describe the graph it sits beside: the wrapper kind, the input matrix's
    width, the image inputs' size and the output's width. Checked at load time, so a
    contradiction never waits for the first prediction."""
    inputs, outputs = _serving_signature(saved_model, where)
    images: list[tuple[int | None, ...]] = []
    if spec.image_network is not None:
        metadata = spec.image_network.metadata
        images = [(None, metadata.height, metadata.width, 3)] * len(spec.image_inputs)
    wanted: list[tuple[int | None, ...]]
    if deepnet_type == "ObjectDetector":
        wanted = [(1, *images[0][1:]), (2,)] if images else []  # pixels, the original image's size
        kind_ok = isinstance(outputs, dict) and DETECTOR_OUTPUT_SET <= set(outputs)
    else:
        wanted = ([(None, len(spec.numeric_inputs))] if spec.numeric_inputs else []) + images
        output = _only_output(outputs)
        kind_ok = not isinstance(output, dict) and _compatible(
            tuple(output.shape.as_list()), (None, spec.output.width)
        )
    if not kind_ok:
        raise ModelFormatError(
            f"{where}: {SETTINGS_PATH} says {deepnet_type!r} with {spec.output.width} outputs, "
            "but the bundle's graph gives something else"
        )
    if len(inputs) != len(wanted) or not all(_compatible(g, w) for g, w in zip(inputs, wanted)):
        raise ModelFormatError(
            f"{where}: {SETTINGS_PATH} ('preprocess', image_network metadata) describes inputs {wanted}, "
            f"but the bundle's graph takes {inputs}"
        )


def model_from_bundle(path: str | os.PathLike) -> Deepnet | ObjectDetector:
    """The model in an .smbundle, with the settings it was written with."""
    saved_model, info = load_bundle(path)
    where = f"{os.fspath(path)}:{SETTINGS_PATH}"
    fields = Fields(info, where)
    inputs = parse_inputs(fields.children("preprocess"), fields.at("preprocess"))
    output = parse_output(fields.child("output_exposition"))
    spec = ModelSpec(inputs, (), output, _image_network(fields, inputs))
    check_against_graph(spec, info["deepnet_type"], saved_model, os.fspath(path))
    try:
        settings = ensure_settings(info.get("settings"))
    except SettingsError as error:
        raise ModelFormatError(f"{where}: settings: {error}") from None
    wrapper = WRAPPERS[info["deepnet_type"]]
    return wrapper(spec, settings, info["preprocess"], saved_model)
