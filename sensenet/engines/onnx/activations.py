"""Activation functions by BigML name, as ONNX ops.

The formulas are those of `sensenet.engines.keras.activations` (the Keras engine),
so both engines compute the same function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sensenet.engines.onnx.graph import GraphBuilder

Activation = Callable[[GraphBuilder, str], str]

LEAKY_RELU_SLOPE = 0.1  # as in sensenet.engines.keras.activations (a test checks they agree)


def _relu6(g: GraphBuilder, x: str) -> str:
    return g.op("Clip", x, g.constant(0.0), g.constant(6.0))


def _swish(g: GraphBuilder, x: str) -> str:
    return g.op("Mul", x, g.op("Sigmoid", x))


def _mish(g: GraphBuilder, x: str) -> str:
    return g.op("Mul", x, g.op("Tanh", g.op("Softplus", x)))


def _unary(op_type: str, **attributes: Any) -> Activation:
    return lambda g, x: g.op(op_type, x, **attributes)


def identity(g: GraphBuilder, x: str) -> str:
    """No op at all: "identity" and "linear" add nothing to the graph."""
    return x


ACTIVATIONS: dict[str, Activation] = {
    "identity": identity,
    "linear": identity,
    "relu": _unary("Relu"),
    "relu6": _relu6,
    "leaky_relu": _unary("LeakyRelu", alpha=LEAKY_RELU_SLOPE),
    "elu": _unary("Elu", alpha=1.0),
    "selu": _unary("Selu"),
    "sigmoid": _unary("Sigmoid"),
    "tanh": _unary("Tanh"),
    "softmax": _unary("Softmax", axis=-1),
    "softplus": _unary("Softplus"),
    "softsign": _unary("Softsign"),
    "swish": _swish,
    "mish": _mish,
    "exponential": _unary("Exp"),
}
