"""A built model as one frozen TensorFlow graph: the common source of the TFLite and TF.js exports.

Freezing turns every variable into a constant, so converters see a pure
function of the inputs (TFLiteConverter's concrete-function path gives NaN
outputs when variables are left in) and the graph is exactly the
computation the wrapper runs. The inputs are the Keras model's: the input
matrix, then one pixel batch per image field. With ``resize_images`` an
image input takes any height and width and is resized inside the graph to
the network's size with TensorFlow's nearest-neighbour resize, which is the
"warp" rescale `sensenet.inputs` does in Python, pixel for pixel.

With ``field_inputs`` the matrix gives way to one (rows, 1) input per
non-image field (`field_input_specs`): float32 numbers (NaN missing) and
string categories, whose position the graph finds by comparing the string
with the field's values (``Equal``, a TFLite builtin on strings; -1 when
none matches, BigML's all-zero one-hot), so the graph takes raw values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sensenet.export.description import non_image_fields, unique_name

IMAGE_RANK = 4
MATRIX_INPUT = "input_matrix"  # the input of the encoded matrix, in the graphs that take one
_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_.\-/]")  # what TensorFlow refuses in an input's name


def field_input_names(model: Any) -> list[str]:
    """Each non-image field's input name: its name with what TensorFlow refuses as "_", made unique
    (also against the image inputs, ``image_<i>``)."""
    taken = {f"image_{i}" for i in range(len(model.spec.image_inputs))}
    names = []
    for field in non_image_fields(model):
        name = _NOT_IN_NAMES.sub("_", field.name)
        names.append(unique_name(name if name[:1].isalnum() else f"field{name}", field.index, taken))
    return names


def takes_field_inputs(model: Any, field_inputs: bool) -> bool:
    """Whether the graph asked for with `field_inputs` has field inputs: the model has row fields."""
    return field_inputs and model.spec is not None and bool(model.spec.numeric_inputs)


def field_input_specs(model: Any) -> list[Any]:
    from sensenet.engines.keras.backend import tf

    return [
        tf.TensorSpec((None, 1), tf.string if field.optype == "categorical" else tf.float32, name=name)
        for field, name in zip(non_image_fields(model), field_input_names(model))
    ]


def _encoded_fields(model: Any, specs: list[Any], run: Callable) -> tuple[list[Any], Callable]:
    """`run` (of the matrix, then pixels) as a function of one input per field, then pixels."""
    from sensenet.engines.keras.backend import tf

    fields = non_image_fields(model)

    def column(field: Any, x: Any) -> Any:
        if field.optype != "categorical":
            return x
        hits = tf.cast(tf.equal(x, tf.constant(list(field.values))), tf.float32)
        positions = tf.constant(list(range(1, len(field.values) + 1)), tf.float32)
        return tf.reduce_sum(hits * positions, axis=1, keepdims=True) - 1.0

    def encoded(*inputs: Any) -> Any:
        matrix = tf.concat([column(f, x) for f, x in zip(fields, inputs)], axis=1)
        return run(matrix, *inputs[len(fields) :])

    return field_input_specs(model) + specs[1:], encoded


def _model_function(model: Any) -> tuple[list[Any], Callable]:
    """The model's input specs and a function of its input tensors."""
    from sensenet.engines.keras.backend import keras, tf

    source = model._model
    if isinstance(source, keras.Model):
        specs = [tf.TensorSpec(x.shape, x.dtype, name=x.name) for x in source.inputs]
        return specs, lambda *x: source(list(x) if len(x) > 1 else x[0], training=False)
    serve = source.serve.get_concrete_function()
    specs = tf.nest.flatten(serve.structured_input_signature[0])
    # Keras' export takes several inputs as one list argument.
    return specs, lambda *x: serve(list(x)) if len(x) > 1 else serve(x[0])


def serving_function(model: Any, resize_images: bool = False, field_inputs: bool = False) -> Any:
    """The model's computation with a fixed input signature, as a concrete function."""
    from sensenet.engines.keras.backend import tf

    specs, run = _model_function(model)
    if takes_field_inputs(model, field_inputs):
        specs, run = _encoded_fields(model, specs, run)
    if not resize_images:
        return tf.function(run).get_concrete_function(*specs)

    def any_size(spec: Any) -> Any:
        if spec.shape.rank != IMAGE_RANK:
            return spec
        return tf.TensorSpec((None, None, None, spec.shape[3]), spec.dtype, name=spec.name)

    def sized(tensor: Any, spec: Any) -> Any:
        if spec.shape.rank != IMAGE_RANK:
            return tensor
        return tf.image.resize(tensor, spec.shape[1:3], method="nearest")

    resized = tf.function(lambda *x: run(*(sized(t, s) for t, s in zip(x, specs))))
    return resized.get_concrete_function(*(any_size(s) for s in specs))


def export_function(model: Any, resize_images: bool = False, field_inputs: bool = False) -> Any:
    """The function an export writes: the model's own, or a detector's detector graph."""
    if model.deepnet_type == "ObjectDetector":
        from sensenet.export.detector_graph import detector_function

        return detector_function(model, any_size=resize_images)
    return serving_function(model, resize_images, field_inputs)


def frozen_function(model: Any, resize_images: bool = False, field_inputs: bool = False) -> Any:
    """`export_function` with its variables folded into constants."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    return convert_variables_to_constants_v2(export_function(model, resize_images, field_inputs))
