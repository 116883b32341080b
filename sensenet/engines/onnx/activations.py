"""Activation functions by BigML name, as ONNX ops.

The formulas are those of `sensenet.engines.keras.activations` (the Keras engine, tf-keras
2.16's definitions), so both engines compute the same function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sensenet.engines.onnx.graph import GraphBuilder
from sensenet.spec.layers import LEAKY_RELU_LAYER_SLOPE, LEAKY_RELU_SLOPE, SQRT_2, THRESHOLDED_RELU_THETA

Activation = Callable[[GraphBuilder, str], str]


def _relu6(g: GraphBuilder, x: str) -> str:
    return g.op("Clip", x, g.constant(0.0), g.constant(6.0))


def _swish(g: GraphBuilder, x: str) -> str:
    """x / (1 + exp(-x)): onnxruntime's Sigmoid is off by up to 1.7e-7 where it is tiny, which
    x * sigmoid(x) multiplies by |x| (2e-6 at x = -17)."""
    return g.op("Div", x, g.op("Add", g.constant(1.0), g.op("Exp", g.op("Neg", x))))


def _mish(g: GraphBuilder, x: str) -> str:
    return g.op("Mul", x, g.op("Tanh", g.op("Softplus", x)))


def _gelu(g: GraphBuilder, x: str) -> str:
    """0.5 x (1 + erf(x / sqrt 2)), in TensorFlow's order (opset 17 has no Gelu)."""
    half_x = g.op("Mul", g.constant(0.5), x)
    return g.op("Mul", half_x, g.op("Add", g.constant(1.0), g.op("Erf", g.op("Div", x, g.constant(SQRT_2)))))


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
    "LeakyReLU": _unary("LeakyRelu", alpha=LEAKY_RELU_LAYER_SLOPE),
    "ThresholdedReLU": _unary("ThresholdedRelu", alpha=THRESHOLDED_RELU_THETA),
    "elu": _unary("Elu", alpha=1.0),
    "selu": _unary("Selu"),
    "gelu": _gelu,
    "sigmoid": _unary("Sigmoid"),
    "hard_sigmoid": _unary("HardSigmoid", alpha=0.2, beta=0.5),
    "tanh": _unary("Tanh"),
    "softmax": _unary("Softmax", axis=-1),
    "log_softmax": _unary("LogSoftmax", axis=-1),
    "softplus": _unary("Softplus"),
    "softsign": _unary("Softsign"),
    "swish": _swish,
    "mish": _mish,
    "exponential": _unary("Exp"),
}
