"""TensorFlow Lite export: builtin ops only, so LiteRT runs it without the Flex delegate.

As in the seed library, image inputs take an image of any size and resize it
inside the graph ("warp", the only rescale a graph input of any size allows),
so `predict_image` feeds a decoded image file as it is. A detector is its
detector graph (`sensenet.export.detector_graph`) on such an image, NMS
included (the builtin NON_MAX_SUPPRESSION_V4), boxes in the image's pixels.

Self-contained (the default): one input per non-image field, named by the
field (`sensenet.export.graph.field_input_names`: characters TensorFlow
refuses become "_"), float32 numbers and string categories, encoded in the
graph with builtin ops; otherwise the input matrix, as the model takes it.

Every export has one signature, ``serving_default``, with named inputs
(the fields' or ``input_matrix``, then the image inputs; a detector's ``image``) and named
outputs: ``probabilities`` (classifiers) or ``prediction`` (regressions), or a
detector's ``boxes``, ``scores``, ``classes``, ``count`` (`sensenet.spec.output_names`).
Read them by name (``Interpreter.get_signature_runner()``): the plain output
tensors come in the converter's (alphabetical) order.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from sensenet.exceptions import InputDataError, UnsupportedError
from sensenet.export.graph import MATRIX_INPUT, frozen_function
from sensenet.inputs.image import load_image
from sensenet.inputs.rescale import choose_rescale_type
from sensenet.spec.output_names import DETECTOR_OUTPUTS, graph_outputs

TFLITE_RESCALE_TYPE = "warp"
SIGNATURE = "serving_default"
# How a model of several inputs is run by hand (tflite_predict's advice), by the kind of its inputs.
MATRIX_INPUTS_FED = (
    f"{MATRIX_INPUT!r}: model.encode(rows); each image input: the image's RGB pixels as float32"
)
FIELD_INPUTS_FED = (
    "one (rows, 1) array per non-image field: float32 numbers, or category strings; each image input: "
    "the image's RGB pixels as float32"
)


def _rescale_type(model: Any) -> str | None:
    """The rescale type the model fits images with: its setting, else its image network's own."""
    network = model.spec.image_network if model.spec is not None else None
    if network is None:
        return model.settings.rescale_type
    return choose_rescale_type(model.settings.rescale_type, network.metadata.rescale_type)


def output_names(model: Any) -> tuple[str, ...]:
    """The signature's output names, in the documented order."""
    if model.spec is None:  # a bare Keras model in a wrapper's place: nothing says what it gives
        return ("output",)
    return graph_outputs(model.spec.output)


def _signature_function(model: Any, self_contained: bool) -> Any:
    """The frozen export function with named inputs and a dict of named outputs."""
    from sensenet.engines.keras.backend import tf

    frozen = frozen_function(model, resize_images=True, field_inputs=self_contained)
    specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name.split(":")[0]) for t in frozen.inputs]
    names = output_names(model)

    def named(*inputs: Any) -> Any:
        outputs = frozen(*inputs)
        flat = tf.nest.flatten(outputs)
        # A frozen function gives a dict's values flat, in tf.nest's (sorted key) order.
        return tf.nest.pack_sequence_as({name: None for name in names}, flat)

    return tf.function(named, input_signature=specs)


@contextmanager
def _converter_notices_hidden() -> Iterator[None]:
    """TensorFlow's absl notices while it saves and reloads the graph (about gradients it never needs)."""
    logger = logging.getLogger("absl")

    def hidden(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR

    logger.addFilter(hidden)
    try:
        yield
    finally:
        logger.removeFilter(hidden)


def tflite_bytes(model: Any, self_contained: bool = True) -> bytes:
    from sensenet.engines.keras.backend import tf

    rescale_type = _rescale_type(model)
    if rescale_type not in (None, TFLITE_RESCALE_TYPE):
        raise UnsupportedError(
            f"TFLite models resize images with rescale_type {TFLITE_RESCALE_TYPE!r} only; this model was "
            f"built with {rescale_type!r}. Build it with the setting rescale_type {TFLITE_RESCALE_TYPE!r} "
            "(its results then differ from the model's own), or convert it to onnx, smbundle or tfjs, "
            f"which keep {rescale_type!r}."
        )
    module = tf.Module()
    module.serve = _signature_function(model, self_contained)
    with tempfile.TemporaryDirectory(prefix="sensenet-tflite-") as saved, _converter_notices_hidden():
        # Through a SavedModel, the one converter path that keeps a signature's names.
        # Gradients are not exported (some activations carry custom ones that cannot be saved).
        options = tf.saved_model.SaveOptions(experimental_custom_gradients=False)
        signatures = {SIGNATURE: module.serve.get_concrete_function()}
        tf.saved_model.save(module, saved, signatures=signatures, options=options)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        # Anything that is not a builtin op fails here, loudly, instead of needing the Flex delegate.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        try:
            return converter.convert()
        except Exception as error:  # the converter's ConverterError has no public name
            raise UnsupportedError(
                f"this model does not convert to builtin TFLite ops ({type(error).__name__}: {error})"
            ) from None


def write_tflite(model: Any, path: Path, self_contained: bool = True) -> None:
    path.write_bytes(tflite_bytes(model, self_contained))


def predict_image(tflite_path: str | os.PathLike, image_path: str | os.PathLike) -> list[np.ndarray]:
    """The outputs of a TFLite model whose one input is an image, for one image file, run by LiteRT.

    The image's RGB pixels go in as float32, at their own size. The outputs
    come in the documented order: a detector's boxes, scores, classes, count;
    an image classifier's probabilities; an image regression's prediction.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=os.fspath(tflite_path))
    signatures = interpreter.get_signature_list()
    if SIGNATURE not in signatures:
        raise UnsupportedError(
            f"{tflite_path} has no {SIGNATURE!r} signature: convert the model again with this sensenet"
        )
    inputs, outputs = signatures[SIGNATURE]["inputs"], signatures[SIGNATURE]["outputs"]
    if len(inputs) != 1 or inputs[0] == MATRIX_INPUT:
        fed = MATRIX_INPUTS_FED if MATRIX_INPUT in inputs else FIELD_INPUTS_FED
        raise InputDataError(
            f"tflite_predict runs models whose only input is one image; {tflite_path} reads {inputs}: "
            "run it with ai_edge_litert's Interpreter.get_signature_runner(), feeding each input by "
            f"name ({fed})"
        )
    pixels = load_image(image_path).astype(np.float32)[np.newaxis]
    results = interpreter.get_signature_runner(SIGNATURE)(**{inputs[0]: pixels})
    order = DETECTOR_OUTPUTS if set(outputs) == set(DETECTOR_OUTPUTS) else tuple(outputs)
    return [results[name] for name in order]
