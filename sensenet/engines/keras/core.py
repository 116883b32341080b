"""Keras layers for the spec's dense-network layer types, one function each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from sensenet.engines.keras.activations import ACTIVATIONS
from sensenet.spec.layers import (
    Activation,
    BatchNormalization,
    Dense,
    DenseResidualBlock,
    Dropout,
    Flatten,
    WidthTiling,
)


def dense(layer: Dense, x: Any) -> Any:
    units = layer.weights.shape[1]
    keras_layer = keras.layers.Dense(units, activation=ACTIVATIONS[layer.activation])
    keras_layer.build(x.shape)
    keras_layer.set_weights([layer.weights, layer.bias])
    return keras_layer(x)


def activation(layer: Activation, x: Any) -> Any:
    return keras.layers.Activation(ACTIVATIONS[layer.function])(x)


def batch_normalization(layer: BatchNormalization, x: Any) -> Any:
    keras_layer = keras.layers.BatchNormalization(epsilon=layer.epsilon)
    keras_layer.build(x.shape)
    keras_layer.set_weights([layer.gamma, layer.beta, layer.mean, layer.variance])
    return keras_layer(x)


def dropout(layer: Dropout, x: Any) -> Any:
    return x


def flatten(layer: Flatten, x: Any) -> Any:
    return keras.layers.Flatten()(x)


class _WidthTilingLayer(keras.layers.Layer):
    def __init__(self, width: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.width = width

    def call(self, x: Any) -> Any:
        copies = -(-self.width // x.shape[-1])
        return ops.tile(x, (1, copies))[:, : self.width]

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], self.width)


def width_tiling(layer: WidthTiling, x: Any) -> Any:
    return _WidthTilingLayer(layer.width)(x)


def dense_residual_block(layer: DenseResidualBlock, x: Any) -> Any:
    total = keras.layers.Add()([apply_layers(layer.dense_path, x), apply_layers(layer.identity_path, x)])
    return keras.layers.Activation(ACTIVATIONS[layer.activation])(total)


KERAS_LAYERS: dict[type, Callable[[Any, Any], Any]] = {
    Dense: dense,
    Activation: activation,
    BatchNormalization: batch_normalization,
    Dropout: dropout,
    Flatten: flatten,
    WidthTiling: width_tiling,
    DenseResidualBlock: dense_residual_block,
}


def apply_layers(layers: Any, x: Any) -> Any:
    for layer in layers:
        x = KERAS_LAYERS[type(layer)](layer, x)
    return x
