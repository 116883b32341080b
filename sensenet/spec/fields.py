"""Typed, path-aware access to the fields of a model JSON object.

Every value the spec reads goes through a `Fields` object, so every error a
malformed model can cause names the exact place it comes from, such as
``network.layers[2].weights``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from sensenet.exceptions import ModelFormatError

_MISSING = object()


def _describe(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    if isinstance(value, Mapping):
        return "an object"
    return f"{type(value).__name__} {value!r}"[:80]


class Fields:
    """A JSON object together with the path it was found at."""

    def __init__(self, data: Any, path: str):
        if not isinstance(data, Mapping):
            raise ModelFormatError(f"{path}: expected an object, got {_describe(data)}")
        self.data = data
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def error(self, key: str, message: str) -> ModelFormatError:
        return ModelFormatError(f"{self.at(key)}: {message}")

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        """The value at key; a missing key or null gives default (required if none)."""
        value = self.data.get(key)
        if value is None:
            if default is _MISSING:
                raise self.error(key, "missing (required)")
            return default
        return value

    def _optional(self, key: str, default: Any) -> bool:
        return default is not _MISSING and self.data.get(key) is None

    def string(self, key: str, choices: Iterable[str] | None = None, default: Any = _MISSING) -> Any:
        if self._optional(key, default):
            return default
        value = self.raw(key)
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_describe(value)}")
        if choices is not None and value not in choices:
            raise self.error(key, f"unknown value {value!r}; expected one of {sorted(choices)}")
        return value

    def number(self, key: str, default: Any = _MISSING) -> Any:
        if self._optional(key, default):
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise self.error(key, f"expected a finite number, got {_describe(value)}")
        return float(value)

    def integer(self, key: str, default: Any = _MISSING, minimum: int | None = None) -> Any:
        if self._optional(key, default):
            return default
        value = self.raw(key)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {_describe(value)}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"expected an integer >= {minimum}, got {value}")
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        if self._optional(key, default):
            return default
        value = self.raw(key)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_describe(value)}")
        return value

    def array(self, key: str, shape: Sequence[int | None], default: Any = _MISSING) -> Any:
        """A float32 array of the given shape (None: any size on that axis)."""
        if self._optional(key, default):
            return default
        return as_array(self.raw(key), shape, self.at(key))

    def child(self, key: str) -> Fields:
        return Fields(self.raw(key), self.at(key))

    def children(self, key: str, default: Any = _MISSING) -> Any:
        if self._optional(key, default):
            return default
        value = self.raw(key)
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {_describe(value)}")
        return [Fields(item, f"{self.at(key)}[{i}]") for i, item in enumerate(value)]


def as_array(value: Any, shape: Sequence[int | None], path: str) -> np.ndarray:
    """Convert nested lists to float32, checking rank, sizes and finiteness."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelFormatError(
            f"{path}: expected a rectangular array of numbers, got {_describe(value)}"
        ) from None
    if array.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(array.shape, shape)
    ):
        want = " x ".join("?" if s is None else str(s) for s in shape)
        got = " x ".join(str(s) for s in array.shape) or "a scalar"
        raise ModelFormatError(f"{path}: expected shape {want}, got {got}")
    if not np.all(np.isfinite(array)):
        raise ModelFormatError(f"{path}: contains NaN or infinite values")
    return array.astype(np.float32)
