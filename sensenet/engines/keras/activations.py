"""Activation functions by BigML name, as Keras ops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keras import ops

LEAKY_RELU_SLOPE = 0.1


def _mish(x: Any) -> Any:
    return x * ops.tanh(ops.softplus(x))


ACTIVATIONS: dict[str, Callable] = {
    "identity": lambda x: x,
    "linear": lambda x: x,
    "relu": ops.relu,
    "relu6": ops.relu6,
    "leaky_relu": lambda x: ops.leaky_relu(x, negative_slope=LEAKY_RELU_SLOPE),
    "elu": ops.elu,
    "selu": ops.selu,
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "softmax": lambda x: ops.softmax(x, axis=-1),
    "softplus": ops.softplus,
    "softsign": ops.softsign,
    "swish": ops.silu,
    "mish": _mish,
    "exponential": ops.exp,
}
