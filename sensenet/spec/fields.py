"""Typed, path-aware access to the fields of a model JSON object.

Every value the spec reads goes through a `Fields` object, so every error a
malformed model can cause names the exact place it comes from, such as
``network.layers[2].weights``.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from sensenet.exceptions import ModelFormatError
from sensenet.limits import MAX_NESTING, Limit

_MISSING = object()
_CONTAINERS = frozenset({list, dict, tuple})
FLOAT32_MAX = float(np.finfo(np.float32).max)
_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlist = 3, 60, 60, 8


def shown(value: Any) -> str:
    """A short repr for error messages, safe for values nested any depth or of any size."""
    try:
        return _SHOWN.repr(value)
    except Exception:  # a user object whose own __repr__ fails
        return f"<{type(value).__name__}>"


def _describe(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    if isinstance(value, Mapping):
        return "an object"
    return f"{type(value).__name__} {shown(value)}"[:80]


def float32_number(value: Any) -> float | None:
    """`value` as a float when it is a number (not a bool) that float32 holds finitely, else None.

    Engines compute in float32: 1e39 is finite in Python but infinite there, and an int
    such as 10**400 does not even convert to float.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if abs(number) <= FLOAT32_MAX else None


def check_nesting(value: Any, where: str, error: type[Exception] = ModelFormatError) -> None:
    """Refuse lists and objects nested deeper than the limit, before anything recurses into them.

    Iterative, so a document nested 100,000 deep gives our error, never a RecursionError.
    """
    if not isinstance(value, (list, tuple, Mapping)):
        return  # a scalar (a bundle header that is a bare number or null) nests nothing
    limit = MAX_NESTING.value()
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise error(f"{where}: {MAX_NESTING.exceeded('the nesting depth', depth)}")
        children = item.values() if isinstance(item, Mapping) else item
        # isdisjoint(map(type, ...)) runs in C: the long lists of numbers in weights cost almost nothing
        if not _CONTAINERS.isdisjoint(map(type, children)):
            stack.extend((child, depth + 1) for child in children if isinstance(child, (list, dict, tuple)))


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
        number = float32_number(value)
        if number is None:
            raise self.error(
                key, f"expected a finite number float32 holds (|x| <= 3.4e38), got {_describe(value)}"
            )
        return number

    def integer(
        self, key: str, default: Any = _MISSING, minimum: int | None = None, limit: Limit | None = None
    ) -> Any:
        if self._optional(key, default):
            return default
        value = self.raw(key)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {_describe(value)}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"expected an integer >= {minimum}, got {shown(value)}")
        if limit is not None and value > limit.value():
            raise self.error(key, limit.exceeded("the value", value))
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
    except OverflowError:
        raise ModelFormatError(f"{path}: contains values beyond float32's range (|x| <= 3.4e38)") from None
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
    if array.size and np.abs(array).max() > FLOAT32_MAX:
        raise ModelFormatError(f"{path}: contains values beyond float32's range (|x| <= 3.4e38)")
    return array.astype(np.float32)
