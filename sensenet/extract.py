"""A trained Keras model written out in BigML's typed network JSON.

This is how the shipped example model is made (see tools/make_iris_example.py):
the network BigML would hold is the Keras model's layers, with the input
standardisation (``preprocess``) and the output description
(``output_exposition``) given by the caller, because a Keras model trained on
standardised inputs does not know them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sensenet.exceptions import UnsupportedError
from sensenet.spec.layers import ACTIVATION_FUNCTIONS

# Keras activation names that BigML spells differently.
_ACTIVATION_ALIASES = {"linear": "identity", "silu": "swish"}
# Names BigML reads as tf-keras 2.16 defined them, which Keras 3 redefined (slope 0.2 instead of
# BigML's 0.1; relu6(x + 3) / 6 instead of clip(0.2 x + 0.5, 0, 1)).
_REDEFINED_BY_KERAS_3 = frozenset({"leaky_relu", "hard_sigmoid"})


def _activation(layer: Any, value: Any) -> str:
    name = value if isinstance(value, str) else getattr(value, "__name__", repr(value))
    name = _ACTIVATION_ALIASES.get(name, name)
    if name in _REDEFINED_BY_KERAS_3:
        raise UnsupportedError(
            f"layer {layer.name!r}: Keras 3's activation {name!r} is not the function BigML's {name!r} is"
        )
    if name not in ACTIVATION_FUNCTIONS:
        raise UnsupportedError(
            f"layer {layer.name!r}: activation {name!r} has no BigML equivalent; "
            f"use one of {sorted(ACTIVATION_FUNCTIONS)}"
        )
    return name


def _numbers(array: Any) -> list:
    """Float32 weights as JSON lists, each number the float32 value exactly."""
    return np.asarray(array, dtype=np.float32).astype(np.float64).tolist()


def _dense(layer: Any) -> dict:
    kernel, *rest = layer.get_weights()
    bias = rest[0] if rest else np.zeros(kernel.shape[1], dtype=np.float32)
    return {
        "type": "dense",
        "weights": _numbers(kernel),
        "offset": _numbers(bias),
        "activation_function": _activation(layer, layer.get_config()["activation"]),
    }


def _batch_normalization(layer: Any) -> dict:
    config = layer.get_config()
    if config.get("axis") not in (-1, [-1], 1, [1]):
        raise UnsupportedError(
            f"layer {layer.name!r}: only batch normalisation over the last axis is written"
        )
    weights = dict(zip((w.path.split("/")[-1] for w in layer.weights), layer.get_weights()))
    channels = weights["moving_mean"].shape[0]
    return {
        "type": "batch_normalization",
        "gamma": _numbers(weights.get("gamma", np.ones(channels))),
        "beta": _numbers(weights.get("beta", np.zeros(channels))),
        "mean": _numbers(weights["moving_mean"]),
        "variance": _numbers(weights["moving_variance"]),
        "epsilon": float(config["epsilon"]),
    }


def _activation_layer(layer: Any) -> dict:
    return {"type": "activation", "activation_function": _activation(layer, layer.get_config()["activation"])}


def _dropout(layer: Any) -> dict:
    return {"type": "dropout", "dropout_type": "zero"}


# Keras layer class name -> its BigML layer JSON.
LAYER_WRITERS: dict[str, Callable[[Any], dict]] = {
    "Dense": _dense,
    "BatchNormalization": _batch_normalization,
    "Activation": _activation_layer,
    "Dropout": _dropout,
}


def keras_to_network(model: Any, preprocess: Sequence[dict], output_exposition: dict) -> dict:
    """BigML's ``network`` dict for a Keras Sequential of Dense/BatchNormalization/Activation/Dropout.

    `preprocess` lists the input fields as BigML does (``{"type": "numeric",
    "index": i, "mean": m, "stdev": s}`` or categorical ``values``) and the
    model must have been trained on their standardised, one-hot encoding;
    `output_exposition` is ``{"type": "categorical", "values": [...]}`` or
    ``{"type": "numeric", "mean": m, "stdev": s}``.
    """
    layers = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in LAYER_WRITERS:
            raise UnsupportedError(
                f"layer {layer.name!r} is a {kind}; only {sorted(LAYER_WRITERS)} layers can be written"
            )
        layers.append(LAYER_WRITERS[kind](layer))
    return {
        "preprocess": [dict(field) for field in preprocess],
        "layers": layers,
        "output_exposition": dict(output_exposition),
        "trees": None,
    }
