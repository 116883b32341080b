"""A built model as one frozen TensorFlow graph: the common source of the TFLite and TF.js exports.

Freezing turns every variable into a constant, so converters see a pure
function of the input (TFLiteConverter's concrete-function path gives NaN
outputs when variables are left in) and the graph is exactly the
computation the wrapper runs.
"""

from __future__ import annotations

from typing import Any


def serving_function(model: Any):
    """The model's TF function with a fixed input signature, as a concrete function."""
    import keras
    import tensorflow as tf

    source = model._model
    if isinstance(source, keras.Model):
        signature = [tf.TensorSpec(x.shape, x.dtype, name=x.name) for x in source.inputs]
        function = tf.function(lambda *x: source(list(x) if len(x) > 1 else x[0], training=False))
        return function.get_concrete_function(*signature)
    return source.serve.get_concrete_function()


def frozen_function(model: Any):
    """`serving_function` with its variables folded into constants."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    return convert_variables_to_constants_v2(serving_function(model))
