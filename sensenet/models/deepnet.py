"""A spec's networks as one Keras model, and a compiled function to run it.

The model takes the matrix made by `sensenet.load` and returns class
probabilities or de-normalised regression values.
"""

from __future__ import annotations

import numpy as np

from sensenet.layers.backend import keras, tf
from sensenet.layers.core import apply_layers
from sensenet.layers.encoding import InputEncoding
from sensenet.layers.tree import TreeEmbeddingLayer
from sensenet.models.settings import Settings
from sensenet.spec.model import REGRESSION, ModelSpec, Network


def _network_output(network: Network, features):
    x = features
    if network.trees is not None:
        x = keras.layers.Concatenate()([TreeEmbeddingLayer(network.trees)(features), features])
    return apply_layers(network.layers, x)


def deepnet_model(spec: ModelSpec, settings: Settings) -> keras.Model:
    inputs = keras.Input(shape=(len(spec.numeric_inputs),), dtype="float32", name="input_matrix")
    features = InputEncoding(spec.numeric_inputs)(inputs)
    outputs = [_network_output(network, features) for network in spec.networks]
    if spec.output.kind == REGRESSION and not settings.regression_normalize:
        denormalize = keras.layers.Rescaling(scale=spec.output.stdev, offset=spec.output.mean)
        outputs = [denormalize(y) for y in outputs]
    output = outputs[0] if len(outputs) == 1 else keras.layers.Average()(outputs)
    return keras.Model(inputs, output, name="deepnet")


class KerasEngine:
    """Runs the Keras model through a `tf.function` with a fixed signature (no `predict`)."""

    name = "keras"

    def __init__(self, spec: ModelSpec, settings: Settings):
        self.model = deepnet_model(spec, settings)
        signature = tf.TensorSpec((None, len(spec.numeric_inputs)), tf.float32)
        traced = tf.function(lambda x: self.model(x, training=False), autograph=False)
        # Calling the concrete function skips tf.function's argument dispatch (~40% of a row's time).
        self._run = traced.get_concrete_function(signature)

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        return self._run(tf.constant(matrix)).numpy()
