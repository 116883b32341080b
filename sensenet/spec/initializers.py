"""Weights named by an initializer (``"glorot_uniform"``) instead of given as numbers.

BigML writes such names for networks whose weights come from elsewhere (the
pretrained image networks) or were never trained. They are generated here,
once, in numpy, so every engine built from the spec holds identical numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sensenet.exceptions import ModelFormatError


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras' fan-in and fan-out: kernels are (..., in, out)."""
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


Initializer = Callable[[tuple[int, ...], np.random.Generator], np.ndarray]


def _uniform(scale_of: Callable[[int, int], float]) -> Initializer:
    def make(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        fan_in, fan_out = _fans(shape)
        limit = np.sqrt(3.0 * scale_of(fan_in, fan_out))
        return rng.uniform(-limit, limit, size=shape)

    return make


def _normal(scale_of: Callable[[int, int], float]) -> Initializer:
    def make(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        fan_in, fan_out = _fans(shape)
        # Keras truncates at two standard deviations; so do we.
        stddev = np.sqrt(scale_of(fan_in, fan_out)) / 0.87962566103423978
        values = rng.normal(0.0, stddev, size=shape)
        return np.clip(values, -2 * stddev, 2 * stddev)

    return make


INITIALIZERS: dict[str, Initializer] = {
    "zeros": lambda shape, rng: np.zeros(shape),
    "ones": lambda shape, rng: np.ones(shape),
    "glorot_uniform": _uniform(lambda fi, fo: 2.0 / (fi + fo)),
    "glorot_normal": _normal(lambda fi, fo: 2.0 / (fi + fo)),
    "he_uniform": _uniform(lambda fi, fo: 2.0 / fi),
    "he_normal": _normal(lambda fi, fo: 2.0 / fi),
    "lecun_uniform": _uniform(lambda fi, fo: 1.0 / fi),
    "lecun_normal": _normal(lambda fi, fo: 1.0 / fi),
}


def initialize(name: str, shape: tuple[int, ...], seed: int, path: str) -> np.ndarray:
    """Generate float32 weights of `shape` for initializer `name`, reproducibly."""
    if name not in INITIALIZERS:
        raise ModelFormatError(
            f"{path}: unknown initializer {name!r}; expected weights as numbers "
            f"or one of {sorted(INITIALIZERS)}"
        )
    rng = np.random.default_rng(seed)
    return np.asarray(INITIALIZERS[name](tuple(shape), rng), dtype=np.float32)
