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
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from sensenet.exceptions import UnsupportedError
from sensenet.export.graph import frozen_function
from sensenet.inputs.rescale import choose_rescale_type

TFLITE_RESCALE_TYPE = "warp"


def _rescale_type(model: Any) -> str | None:
    """The rescale type the model fits images with: its setting, else its image network's own."""
    network = model.spec.image_network if model.spec is not None else None
    if network is None:
        return model.settings.rescale_type
    return choose_rescale_type(model.settings.rescale_type, network.metadata.rescale_type)


def tflite_bytes(model: Any, self_contained: bool = True) -> bytes:
    from sensenet.engines.keras.backend import tf

    rescale_type = _rescale_type(model)
    if rescale_type not in (None, TFLITE_RESCALE_TYPE):
        raise UnsupportedError(
            f"TFLite models resize images with rescale_type {TFLITE_RESCALE_TYPE!r} only; this model was "
            f"built with {rescale_type!r}. Convert from the model JSON (rescale_type is then set for you) "
            f"or build it with rescale_type {TFLITE_RESCALE_TYPE!r}."
        )
    function = frozen_function(model, resize_images=True, field_inputs=self_contained)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
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
    """Every output of a TFLite image model for one image file, run by LiteRT.

    The input tensor is resized to the image, whose RGB pixels go in as float32.
    A detector's outputs come in the order of its signature's names (boxes, classes,
    count, scores), as LiteRT lists them.
    """
    from ai_edge_litert.interpreter import Interpreter
    from PIL import Image

    with Image.open(image_path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)[np.newaxis]
    interpreter = Interpreter(model_path=os.fspath(tflite_path))
    input_index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(input_index, pixels.shape, strict=True)
    interpreter.allocate_tensors()
    interpreter.set_tensor(input_index, pixels)
    interpreter.invoke()
    return [interpreter.get_tensor(output["index"]) for output in interpreter.get_output_details()]
