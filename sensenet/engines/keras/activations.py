"""Activation functions by BigML name, as Keras ops.

The formulas are tf-keras 2.16's, which the seed library hands each name to; where Keras 3's
function of the same name differs (``hard_sigmoid``, ``gelu``, the layers' slopes), tf-keras'
formula is written out here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keras import ops

from sensenet.spec.layers import LEAKY_RELU_LAYER_SLOPE, LEAKY_RELU_SLOPE, SQRT_2, THRESHOLDED_RELU_THETA


def _mish(x: Any) -> Any:
    return x * ops.tanh(ops.softplus(x))


def _gelu(x: Any) -> Any:
    """TensorFlow 2.16's exact gelu; later releases write it with erfc, which TF.js cannot run."""
    return 0.5 * x * (1.0 + ops.erf(x / SQRT_2))


def _softsign(x: Any) -> Any:
    """TensorFlow's Softsign op written out: TF.js has no kernel for the op."""
    return x / (1.0 + ops.abs(x))


def _hard_sigmoid(x: Any) -> Any:
    return ops.clip(x * 0.2 + 0.5, 0.0, 1.0)


def _thresholded_relu(x: Any) -> Any:
    return x * ops.cast(ops.greater(x, THRESHOLDED_RELU_THETA), x.dtype)


ACTIVATIONS: dict[str, Callable] = {
    "identity": lambda x: x,
    "linear": lambda x: x,
    "relu": ops.relu,
    "relu6": ops.relu6,
    "leaky_relu": lambda x: ops.leaky_relu(x, negative_slope=LEAKY_RELU_SLOPE),
    "LeakyReLU": lambda x: ops.leaky_relu(x, negative_slope=LEAKY_RELU_LAYER_SLOPE),
    "ThresholdedReLU": _thresholded_relu,
    "elu": ops.elu,
    "selu": ops.selu,
    "gelu": _gelu,
    "sigmoid": ops.sigmoid,
    "hard_sigmoid": _hard_sigmoid,
    "tanh": ops.tanh,
    "softmax": lambda x: ops.softmax(x, axis=-1),
    "log_softmax": lambda x: ops.log_softmax(x, axis=-1),
    "softplus": ops.softplus,
    "softsign": _softsign,
    "swish": ops.silu,
    "mish": _mish,
    "exponential": ops.exp,
}
