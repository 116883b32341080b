"""The legacy (untyped) BigML layer format, turned into typed layers.

A legacy layer is ``{weights [out][in], offset, mean, stdev, scale,
activation_function, residuals}``: a dense product, then either a batch
normalisation (``scale * (x - mean) / stdev + offset``) or a bias, then the
activation. A layer with ``residuals`` adds the last residual point's output
(at first, the network input) tiled or cut to its width before activating;
when residual layers exist but neither of the first two has the flag, the
first layer's output is that starting point instead. Each such span becomes a
`DenseResidualBlock`, so engines only ever see typed layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sensenet.spec.fields import Fields
from sensenet.spec.layers import (
    Activation,
    BatchNormalization,
    Dense,
    DenseResidualBlock,
    Shape,
    WidthTiling,
    activation_name,
)


def is_legacy_layer(data: Any) -> bool:
    return isinstance(data, dict) and "type" not in data and "weights" in data


def _legacy_core(fields: Fields, width: int) -> tuple[list[Any], int]:
    """The dense product and its batch norm or bias, before any activation."""
    weights = fields.array("weights", [None, width]).T
    outputs = weights.shape[1]
    offset = fields.array("offset", [outputs])
    stdev = fields.array("stdev", [outputs], default=None)
    mean = fields.array("mean", [outputs], default=None)
    if mean is None or stdev is None:
        return [Dense(weights, offset, "identity")], outputs
    if np.any(stdev == 0):
        raise fields.error("stdev", "contains zeros (it divides)")
    norm = BatchNormalization(
        gamma=fields.array("scale", [outputs]),
        beta=offset,
        mean=mean,
        variance=np.square(stdev, dtype=np.float32),
        epsilon=0.0,
    )
    return [Dense(weights, np.zeros(outputs, np.float32), "identity"), norm], outputs


def convert_legacy_layers(items: list[Fields], in_shape: Shape) -> tuple[tuple[Any, ...], Shape]:
    flags = [item.boolean("residuals", default=False) for item in items]
    first_layer_is_start = any(flags) and not any(flags[:2])

    layers: list[Any] = []
    span: list[Any] = []  # layers since the last residual point
    width = identity_width = in_shape[0]

    for i, (fields, residual) in enumerate(zip(items, flags)):
        core, width = _legacy_core(fields, width)
        activation = activation_name(fields)
        if residual:
            tiling = () if identity_width == width else (WidthTiling(width),)
            layers.append(DenseResidualBlock(tuple(span + core), tiling, activation))
            span, identity_width = [], width
        else:
            span += core + [Activation(activation)]
            if first_layer_is_start and i == 0:
                layers += span
                span, identity_width = [], width

    return tuple(layers + span), (width,)
