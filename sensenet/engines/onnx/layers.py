"""ONNX ops for the spec's layer types: one function per layer dataclass.

`ONNX_LAYERS` is keyed by the spec's dataclasses (as the Keras builder's
`KERAS_LAYERS` is), so a new layer type needs one function here.

A `Tensor` of shape (height, width, channels) is an image, held channels-first
(NCHW) in the graph as ONNX's convolutions want (see `sensenet.engines.onnx.image`):
the layers that may read one (activation, batch norm, flatten) act on the
channel axis, and flatten in the (height, width, channels) order Keras uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sensenet.engines.onnx.activations import ACTIVATIONS, identity
from sensenet.engines.onnx.graph import GraphBuilder, Tensor
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

TO_CHANNELS_LAST = [0, 2, 3, 1]  # Transpose perm: NCHW to Keras' NHWC


def is_image(x: Tensor) -> bool:
    """Whether `x` is an image (held channels-first) rather than a flat feature vector."""
    return len(x.shape) == 3


# The activations over an axis, by their ONNX op: on an image they run over the channels.
OVER_CHANNELS = {"softmax": "Softmax", "log_softmax": "LogSoftmax"}


def activate(g: GraphBuilder, function: str, x: Tensor) -> Tensor:
    """`function` applied to `x`; softmax and log_softmax run over the channels (axis 1 of an NCHW image)."""
    if function in OVER_CHANNELS and is_image(x):
        return Tensor(g.op(OVER_CHANNELS[function], x.name, axis=1), x.shape)
    return Tensor(ACTIVATIONS[function](g, x.name), x.shape)


def channel_constant(g: GraphBuilder, values: np.ndarray, x: Tensor) -> str:
    """Per-channel `values` shaped to broadcast over `x` (as (channels, 1, 1) on an image)."""
    return g.constant(values.reshape(-1, 1, 1) if is_image(x) else values)


def dense(g: GraphBuilder, layer: Dense, x: Tensor) -> Tensor:
    product = g.op("Gemm", x.name, g.constant(layer.weights), g.constant(layer.bias))
    return activate(g, layer.activation, Tensor(product, (layer.weights.shape[1],)))


def activation(g: GraphBuilder, layer: Activation, x: Tensor) -> Tensor:
    return activate(g, layer.function, x)


def _scale_and_shift(layer: BatchNormalization) -> tuple[np.ndarray, np.ndarray]:
    """gamma * (x - mean) / sqrt(variance + epsilon) + beta as x * scale + shift (in float64)."""
    scale = layer.gamma.astype(np.float64) / np.sqrt(layer.variance.astype(np.float64) + layer.epsilon)
    return scale, layer.beta - layer.mean.astype(np.float64) * scale


def batch_normalization(g: GraphBuilder, layer: BatchNormalization, x: Tensor) -> Tensor:
    scale, shift = _scale_and_shift(layer)
    scaled = g.op("Mul", x.name, channel_constant(g, scale, x))
    return Tensor(g.op("Add", scaled, channel_constant(g, shift, x)), x.shape)


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
    channels_last = g.op("Transpose", x.name, perm=TO_CHANNELS_LAST) if is_image(x) else x.name
    return Tensor(g.op("Flatten", channels_last, axis=1), (int(np.prod(x.shape)),))


def width_tiling(g: GraphBuilder, layer: WidthTiling, x: Tensor) -> Tensor:
    """Repeating the columns then cutting is one gather of columns i mod width."""
    columns = np.arange(layer.width) % x.width
    return Tensor(g.op("Gather", x.name, g.constant(columns, np.int32), axis=1), (layer.width,))


def dense_residual_block(g: GraphBuilder, layer: DenseResidualBlock, x: Tensor) -> Tensor:
    dense_out = apply_layers(g, layer.dense_path, x)
    identity_out = apply_layers(g, layer.identity_path, x)
    total = g.op("Add", dense_out.name, identity_out.name)
    return activate(g, layer.activation, Tensor(total, dense_out.shape))


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
