"""A spec's networks as one Keras model, and a compiled function to run it.

The model takes the matrix made by `sensenet.inputs.rows` (when the model has
non-image fields) followed by one float32 pixel tensor (rows, height, width, 3),
RGB 0-255, per image field, and returns class probabilities or de-normalised
regression values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sensenet.engines.keras.backend import keras, tf
from sensenet.engines.keras.core import apply_layers
from sensenet.engines.keras.encoding import InputEncoding
from sensenet.engines.keras.image import ImageStandardization, graph_outputs, image_feature_model
from sensenet.engines.keras.tree import TreeEmbeddingLayer
from sensenet.exceptions import UnsupportedError
from sensenet.settings import Settings
from sensenet.spec.image_layers import ImageNetwork
from sensenet.spec.inputs import ImageInput
from sensenet.spec.model import BOUNDING_BOX, REGRESSION, ModelSpec, Network


def _network_output(network: Network, features: Any) -> Any:
    x = features
    if network.trees is not None:
        x = keras.layers.Concatenate()([TreeEmbeddingLayer(network.trees)(features), features])
    return apply_layers(network.layers, x)


def feature_order(spec: ModelSpec) -> np.ndarray | None:
    """Columns of [numeric features, image 0 features, ...] in ``preprocess`` order (None: as is)."""
    numeric = [f for f in spec.inputs if not isinstance(f, ImageInput)]
    starts, position = {}, 0
    for field in numeric + list(spec.image_inputs):
        starts[id(field)] = position
        position += spec.field_width(field)
    order = np.concatenate(
        [np.arange(spec.field_width(f)) + starts[id(f)] for f in spec.inputs] or [np.zeros(0, np.int64)]
    ).astype(np.int32)
    return None if np.array_equal(order, np.arange(position)) else order


def model_inputs(spec: ModelSpec) -> list:
    """The Keras inputs: the numeric matrix (if any non-image field), then one per image field."""
    inputs = []
    if spec.numeric_inputs:
        inputs.append(keras.Input(shape=(len(spec.numeric_inputs),), dtype="float32", name="input_matrix"))
    if spec.image_network is not None:
        meta = spec.image_network.metadata
        inputs += [
            keras.Input(shape=(meta.height, meta.width, meta.channels), dtype="float32", name=f"image_{i}")
            for i in range(len(spec.image_inputs))
        ]
    return inputs


def _features(spec: ModelSpec, inputs: list) -> Any:
    parts = []
    images = inputs
    if spec.numeric_inputs:
        parts.append(InputEncoding(spec.numeric_inputs)(inputs[0]))
        images = inputs[1:]
    if spec.image_network is not None:
        image_model = image_feature_model(spec.image_network)  # one set of weights for every image field
        # An image contributes its output flattened in (height, width, channels) order, as the spec counts it.
        parts += [keras.layers.Flatten()(image_model(pixels)) for pixels in images]
    features = parts[0] if len(parts) == 1 else keras.layers.Concatenate()(parts)
    order = feature_order(spec)
    return features if order is None else keras.ops.take(features, order, axis=1)


def deepnet_model(spec: ModelSpec, settings: Settings) -> keras.Model:
    if spec.output.kind == BOUNDING_BOX:
        raise UnsupportedError(
            "this is an object detector (bounding_box output): it needs the detection builder, "
            "not a classifier or regressor's"
        )
    inputs = model_inputs(spec)
    features = _features(spec, inputs)
    outputs = [_network_output(network, features) for network in spec.networks]
    if spec.output.kind == REGRESSION and not settings.regression_normalize:
        denormalize = keras.layers.Rescaling(scale=spec.output.stdev, offset=spec.output.mean)
        outputs = [denormalize(y) for y in outputs]
    output = outputs[0] if len(outputs) == 1 else keras.layers.Average()(outputs)
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], output, name="deepnet")


class KerasEngine:
    """Runs the Keras model through a `tf.function` with a fixed signature (no `predict`).

    Called as ``engine(matrix, images)``: `images` holds one float32 array
    (rows, height, width, 3) per image field, in ``preprocess`` order (empty
    for a model without images); `matrix` is ignored when the model has no
    non-image field.
    """

    name = "keras"

    def __init__(self, spec: ModelSpec, settings: Settings):
        self.model = deepnet_model(spec, settings)
        self._has_matrix = bool(spec.numeric_inputs)
        signature = [tf.TensorSpec(tensor.shape, tf.float32) for tensor in self.model.inputs]
        traced = tf.function(
            lambda *x: self.model(list(x) if len(x) > 1 else x[0], training=False), autograph=False
        )
        # Calling the concrete function skips tf.function's argument dispatch (~40% of a row's time).
        self._run = traced.get_concrete_function(*signature)

    def __call__(self, matrix: np.ndarray, images: Sequence[np.ndarray] = ()) -> np.ndarray:
        arrays = ([matrix] if self._has_matrix else []) + list(images)
        return self._run(*[tf.constant(array) for array in arrays]).numpy()


class KerasImageNetwork:
    """An image network's raw node outputs for a pixel batch (a detector's heads), through Keras.

    The Keras twin of `sensenet.engines.onnx.engine.OnnxImageNetwork`.
    """

    name = "keras"

    def __init__(self, network: ImageNetwork, nodes: Sequence[int], threads: int | None = None):
        """`threads` is accepted for the registry's sake: TensorFlow sizes its own thread pools."""
        meta = network.metadata
        pixels = keras.Input(shape=(meta.height, meta.width, meta.channels), dtype="float32", name="pixels")
        outputs = graph_outputs(network.nodes, ImageStandardization(meta)(pixels))
        self.model = keras.Model(pixels, [outputs[node] for node in nodes], name="image_network_nodes")
        traced = tf.function(lambda x: self.model(x, training=False), autograph=False)
        self._run = traced.get_concrete_function(tf.TensorSpec(self.model.inputs[0].shape, tf.float32))

    def __call__(self, pixels: np.ndarray) -> list[np.ndarray]:
        outputs = self._run(tf.constant(pixels))
        return [output.numpy() for output in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
