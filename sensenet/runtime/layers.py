"""ONNX ops for the spec's layer types: one function per layer dataclass.

`ONNX_LAYERS` is keyed by the spec's dataclasses (as the Keras builder's
`KERAS_LAYERS` is), so a new layer type needs one function here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sensenet.runtime.activations import ACTIVATIONS, identity
from sensenet.runtime.graph import GraphBuilder, Tensor
from sensenet.spec.layers import (
    Activation,
    BatchNormalization,
    Dense,
    DenseResidualBlock,
    Dropout,
    Flatten,
    WidthTiling,
)

LayerBuilder = Callable[[GraphBuilder, Any, Tensor], Tensor]


def dense(g: GraphBuilder, layer: Dense, x: Tensor) -> Tensor:
    product = g.op("Gemm", x.name, g.constant(layer.weights), g.constant(layer.bias))
    return Tensor(ACTIVATIONS[layer.activation](g, product), (layer.weights.shape[1],))


def activation(g: GraphBuilder, layer: Activation, x: Tensor) -> Tensor:
    return Tensor(ACTIVATIONS[layer.function](g, x.name), x.shape)


def _scale_and_shift(layer: BatchNormalization) -> tuple[np.ndarray, np.ndarray]:
    """gamma * (x - mean) / sqrt(variance + epsilon) + beta as x * scale + shift (in float64)."""
    scale = layer.gamma.astype(np.float64) / np.sqrt(layer.variance.astype(np.float64) + layer.epsilon)
    return scale, layer.beta - layer.mean.astype(np.float64) * scale


def batch_normalization(g: GraphBuilder, layer: BatchNormalization, x: Tensor) -> Tensor:
    scale, shift = _scale_and_shift(layer)
    return Tensor(g.op("Add", g.op("Mul", x.name, g.constant(scale)), g.constant(shift)), x.shape)


def fold_batch_norms(layers: Sequence[Any]) -> list[Any]:
    """Merge each batch norm into the dense layer before it, when nothing lies between them.

    A dense layer without activation followed by a batch norm is one affine map
    (the legacy format makes every such pair): one Gemm instead of three ops.
    """
    folded: list[Any] = []
    for layer in layers:
        previous = folded[-1] if folded else None
        if (
            isinstance(layer, BatchNormalization)
            and isinstance(previous, Dense)
            and ACTIVATIONS[previous.activation] is identity
        ):
            scale, shift = _scale_and_shift(layer)
            folded[-1] = Dense(previous.weights * scale, previous.bias * scale + shift, "identity")
        else:
            folded.append(layer)
    return folded


def dropout(g: GraphBuilder, layer: Dropout, x: Tensor) -> Tensor:
    return x


def flatten(g: GraphBuilder, layer: Flatten, x: Tensor) -> Tensor:
    if len(x.shape) == 1:
        return x
    return Tensor(g.op("Flatten", x.name, axis=1), (int(np.prod(x.shape)),))


def width_tiling(g: GraphBuilder, layer: WidthTiling, x: Tensor) -> Tensor:
    """Repeating the columns then cutting is one gather of columns i mod width."""
    columns = np.arange(layer.width) % x.width
    return Tensor(g.op("Gather", x.name, g.constant(columns, np.int32), axis=1), (layer.width,))


def dense_residual_block(g: GraphBuilder, layer: DenseResidualBlock, x: Tensor) -> Tensor:
    dense_out = apply_layers(g, layer.dense_path, x)
    identity_out = apply_layers(g, layer.identity_path, x)
    total = g.op("Add", dense_out.name, identity_out.name)
    return Tensor(ACTIVATIONS[layer.activation](g, total), dense_out.shape)


ONNX_LAYERS: dict[type, LayerBuilder] = {
    Dense: dense,
    Activation: activation,
    BatchNormalization: batch_normalization,
    Dropout: dropout,
    Flatten: flatten,
    WidthTiling: width_tiling,
    DenseResidualBlock: dense_residual_block,
}


def apply_layers(g: GraphBuilder, layers: Sequence[Any], x: Tensor) -> Tensor:
    for layer in fold_batch_norms(layers):
        x = ONNX_LAYERS[type(layer)](g, layer, x)
    return x
