"""A built model as one frozen TensorFlow graph: the common source of the TFLite and TF.js exports.

Freezing turns every variable into a constant, so converters see a pure
function of the inputs (TFLiteConverter's concrete-function path gives NaN
outputs when variables are left in) and the graph is exactly the
computation the wrapper runs. The inputs are the Keras model's: the input
matrix, then one pixel batch per image field. With ``resize_images`` an
image input takes any height and width and is resized inside the graph to
the network's size with TensorFlow's nearest-neighbour resize, which is the
"warp" rescale `sensenet.inputs` does in Python, pixel for pixel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

IMAGE_RANK = 4


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


def serving_function(model: Any, resize_images: bool = False):
    """The model's computation with a fixed input signature, as a concrete function."""
    from sensenet.engines.keras.backend import tf

    specs, run = _model_function(model)
    if not resize_images:
        return tf.function(run).get_concrete_function(*specs)

    def any_size(spec):
        if spec.shape.rank != IMAGE_RANK:
            return spec
        return tf.TensorSpec((None, None, None, spec.shape[3]), spec.dtype, name=spec.name)

    def sized(tensor, spec):
        if spec.shape.rank != IMAGE_RANK:
            return tensor
        return tf.image.resize(tensor, spec.shape[1:3], method="nearest")

    resized = tf.function(lambda *x: run(*(sized(t, s) for t, s in zip(x, specs))))
    return resized.get_concrete_function(*(any_size(s) for s in specs))


def export_function(model: Any, resize_images: bool = False):
    """The function an export writes: the model's own, or a detector's detector graph."""
    if model.deepnet_type == "ObjectDetector":
        from sensenet.export.detector_graph import detector_function

        return detector_function(model, any_size=resize_images)
    return serving_function(model, resize_images)


def frozen_function(model: Any, resize_images: bool = False):
    """`export_function` with its variables folded into constants."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    return convert_variables_to_constants_v2(export_function(model, resize_images))
