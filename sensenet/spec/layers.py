"""Typed layers of a BigML network, parsed and shape-checked.

`LAYER_PARSERS` maps each JSON layer ``type`` to one small function that
reads its fields, checks every weight against the shape flowing into it and
returns a frozen dataclass plus the shape flowing out. Engines keep their own
registries keyed by these dataclasses.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from sensenet.exceptions import ModelFormatError
from sensenet.limits import MAX_LAYER_WIDTH, MAX_PARAMETERS
from sensenet.spec.fields import Fields, as_array
from sensenet.spec.initializers import initialize

Shape = tuple[int, ...]
T = TypeVar("T")

# The activation names the seed library accepts (it hands them to tf-keras 2.16's
# `activations.get`, which is case-sensitive), each computed with that Keras' formula.
ACTIVATION_FUNCTIONS = frozenset(
    {
        "identity",
        "linear",
        "relu",
        "relu6",
        "leaky_relu",  # slope 0.1, the seed's own
        "LeakyReLU",  # tf-keras' layer: slope 0.3
        "ThresholdedReLU",  # tf-keras' layer: x where x > 1, else 0
        "elu",
        "selu",
        "gelu",  # exact (erf), tf-keras' default
        "sigmoid",
        "hard_sigmoid",  # tf-keras' clip(0.2 x + 0.5, 0, 1), not Keras 3's relu6(x + 3) / 6
        "tanh",
        "softmax",
        "log_softmax",
        "softplus",
        "softsign",
        "swish",
        "mish",
        "exponential",
    }
)
# Other spellings tf-keras accepts for one of those functions (PReLU: its slopes start at zero
# and a BigML network gives none, so it is relu).
ACTIVATION_ALIASES = {"ReLU": "relu", "PReLU": "relu", "ELU": "elu", "Softmax": "softmax", "silu": "swish"}
ACTIVATION_NAMES = ACTIVATION_FUNCTIONS | ACTIVATION_ALIASES.keys()
# The constants in those functions' formulas, which every engine computes with.
LEAKY_RELU_SLOPE = 0.1  # "leaky_relu": the seed's own function
LEAKY_RELU_LAYER_SLOPE = 0.3  # "LeakyReLU": tf-keras' layer default
THRESHOLDED_RELU_THETA = 1.0  # "ThresholdedReLU": tf-keras' layer default
SQRT_2 = 1.4142135623730951  # gelu's
DROPOUT_TYPES = frozenset({"zero", "alpha", "block"})
DEFAULT_BATCH_NORM_EPSILON = 1e-3


@dataclass(frozen=True, eq=False)
class Dense:
    weights: np.ndarray  # (inputs, outputs)
    bias: np.ndarray  # (outputs,)
    activation: str


@dataclass(frozen=True)
class Activation:
    function: str


@dataclass(frozen=True, eq=False)
class BatchNormalization:
    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    epsilon: float


@dataclass(frozen=True)
class Dropout:
    """Identity at inference, whatever its kind."""

    kind: str


@dataclass(frozen=True)
class Flatten:
    pass


@dataclass(frozen=True)
class WidthTiling:
    """Repeat the features until there are `width` of them, then cut to `width`.

    Only the legacy format's residual connections need it: they add a layer's
    input to an output of another width.
    """

    width: int


@dataclass(frozen=True)
class DenseResidualBlock:
    """activation(dense_path(x) + identity_path(x)); an empty path is the identity."""

    dense_path: tuple[Any, ...]
    identity_path: tuple[Any, ...]
    activation: str


Layer = Dense | Activation | BatchNormalization | Dropout | Flatten | WidthTiling | DenseResidualBlock
LayerParser = Callable[[Fields, Shape], tuple[Any, Shape]]


def layer_seed(fields: Fields) -> int:
    """The layer's own `seed`, else one derived from its path: reproducible either way."""
    seed = fields.raw("seed", None)
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    return zlib.crc32(f"{fields.path}:{seed}".encode())


# The weights counted so far in the model being parsed (see `parameter_budget`).
_PARAMETERS_SEEN: ContextVar[list[int] | None] = ContextVar("parameters_seen", default=None)


def counting_parameters(parse: Callable[..., T]) -> Callable[..., T]:
    """Count every weight array `weight` reads during `parse` (one model) against the limit."""

    @functools.wraps(parse)
    def counted(*args: Any, **kwargs: Any) -> T:
        token = _PARAMETERS_SEEN.set([0])
        try:
            return parse(*args, **kwargs)
        finally:
            _PARAMETERS_SEEN.reset(token)

    return counted


def _spend(shape: Sequence[int], where: str) -> None:
    """Refuse an array that would take the model past the parameter limit, before allocating it."""
    size = int(np.prod(shape, dtype=object))
    seen = _PARAMETERS_SEEN.get()
    total = size + (seen[0] if seen else 0)
    if total > MAX_PARAMETERS.value():
        raise ModelFormatError(f"{where}: {MAX_PARAMETERS.exceeded('the parameter count', total)}")
    if seen is not None:
        seen[0] = total


def weight(fields: Fields, key: str, shape: Sequence[int], default: str | None = None) -> np.ndarray:
    """An array of exactly `shape`, given as numbers or as an initializer name."""
    value = fields.raw(key, default)
    _spend(shape, fields.at(key))
    if isinstance(value, str):
        # Each key gets its own stream, so a kernel and its bias differ.
        seed = layer_seed(fields) + zlib.crc32(key.encode())
        return initialize(value, tuple(shape), seed, fields.at(key))
    return as_array(value, list(shape), fields.at(key))


def activation_name(fields: Fields, key: str = "activation_function", required: bool = False) -> str:
    """The activation's name in `ACTIVATION_FUNCTIONS` (an alias becomes the name it stands for);
    "identity" when the key is absent, unless `required`."""
    if required:
        name = fields.string(key, choices=ACTIVATION_NAMES)
    else:
        name = fields.string(key, choices=ACTIVATION_NAMES, default="identity")
    return ACTIVATION_ALIASES.get(name, name)


def _require_flat(fields: Fields, in_shape: Shape) -> int:
    if len(in_shape) != 1:
        raise fields.error("type", f"needs a flat input, got shape {in_shape}; add a flatten layer")
    return in_shape[0]


def parse_dense(fields: Fields, in_shape: Shape) -> tuple[Dense, Shape]:
    inputs = _require_flat(fields, in_shape)
    raw_weights = fields.raw("weights")
    if isinstance(raw_weights, str):
        outputs = fields.integer("number_of_nodes", minimum=1, limit=MAX_LAYER_WIDTH)
    elif isinstance(raw_weights, list) and raw_weights and isinstance(raw_weights[0], list):
        outputs = len(raw_weights[0])
    elif isinstance(raw_weights, np.ndarray) and raw_weights.ndim == 2:  # as load_weights gives them
        outputs = raw_weights.shape[1]
    else:
        raise fields.error("weights", f"expected a {inputs} x N matrix or an initializer name")
    weights = weight(fields, "weights", (inputs, outputs))
    bias = weight(fields, "offset", (outputs,), default="zeros")
    return Dense(weights, bias, activation_name(fields)), (outputs,)


def parse_activation(fields: Fields, in_shape: Shape) -> tuple[Activation, Shape]:
    return Activation(activation_name(fields, required=True)), in_shape


def parse_batch_normalization(fields: Fields, in_shape: Shape) -> tuple[BatchNormalization, Shape]:
    channels = (in_shape[-1],)
    layer = BatchNormalization(
        gamma=weight(fields, "gamma", channels, default="ones"),
        beta=weight(fields, "beta", channels, default="zeros"),
        mean=weight(fields, "mean", channels),
        variance=weight(fields, "variance", channels),
        epsilon=fields.number("epsilon", default=DEFAULT_BATCH_NORM_EPSILON),
    )
    if np.any(layer.variance + layer.epsilon <= 0):
        raise fields.error("variance", "variance + epsilon must be positive")
    return layer, in_shape


def parse_dropout(fields: Fields, in_shape: Shape) -> tuple[Dropout, Shape]:
    return Dropout(fields.string("dropout_type", choices=DROPOUT_TYPES, default="zero")), in_shape


def parse_flatten(fields: Fields, in_shape: Shape) -> tuple[Flatten, Shape]:
    return Flatten(), (int(np.prod(in_shape)),)


def parse_dense_residual_block(fields: Fields, in_shape: Shape) -> tuple[DenseResidualBlock, Shape]:
    dense_path, dense_shape = parse_layers(fields.children("dense_path"), in_shape)
    identity_path, identity_shape = parse_layers(fields.children("identity_path", default=[]), in_shape)
    if dense_shape != identity_shape:
        raise fields.error(
            "dense_path",
            f"gives shape {dense_shape} but the identity path gives {identity_shape}; they must match",
        )
    return DenseResidualBlock(dense_path, identity_path, activation_name(fields)), dense_shape


LAYER_PARSERS: dict[str, LayerParser] = {
    "dense": parse_dense,
    "activation": parse_activation,
    "batch_normalization": parse_batch_normalization,
    "dropout": parse_dropout,
    "flatten": parse_flatten,
    "dense_residual_block": parse_dense_residual_block,
}


def parse_layer(fields: Fields, in_shape: Shape) -> tuple[Any, Shape]:
    kind = fields.string("type", choices=LAYER_PARSERS)
    return LAYER_PARSERS[kind](fields, in_shape)


def parse_layers(items: list[Fields], in_shape: Shape) -> tuple[tuple[Any, ...], Shape]:
    """Parse a sequence of typed layers, threading the shape through them."""
    layers = []
    shape = in_shape
    for fields in items:
        layer, shape = parse_layer(fields, shape)
        layers.append(layer)
    return tuple(layers), shape
