"""float64 reference formulas for every activation, the definitions both engines implement in float32.

Written from tf-keras 2.16's definitions (the Keras the seed library hands activation names to),
and the seed's own functions for "leaky_relu", "mish" and "relu6".
"""

from __future__ import annotations

import math

import numpy as np

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _softplus(x):
    return np.logaddexp(0.0, x)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
    exps = np.exp(x - x.max(-1, keepdims=True))
    return exps / exps.sum(-1, keepdims=True)


def _log_softmax(x):
    shifted = x - x.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


_erf = np.vectorize(math.erf, otypes=[np.float64])


ACTIVATION_REFERENCE = {
    "identity": lambda x: x,
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.1 * x),
    "LeakyReLU": lambda x: np.where(x > 0, x, 0.3 * x),
    "ThresholdedReLU": lambda x: np.where(x > 1.0, x, 0.0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "sigmoid": _sigmoid,
    "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0),
    "tanh": np.tanh,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "softplus": _softplus,
    "softsign": lambda x: x / (1 + np.abs(x)),
    "swish": lambda x: x * _sigmoid(x),
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "exponential": np.exp,
}

# Other spellings the seed's Keras takes for the same functions.
ALIASES = {"ReLU": "relu", "PReLU": "relu", "ELU": "elu", "Softmax": "softmax", "silu": "swish"}


def activation(name: str):
    """The reference formula for an activation name or alias."""
    return ACTIVATION_REFERENCE[ALIASES.get(name, name)]
