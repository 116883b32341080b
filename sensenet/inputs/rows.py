"""The one place where rows become the numeric matrix every engine takes.

The matrix has one float32 column per non-image input field, in ``preprocess``
order: numeric fields hold their raw value (NaN when missing), categorical
fields the position of their value in ``values`` (-1 when missing or
unknown). Standardising and one-hot encoding happen inside the compute
graph, so exported models take the same matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sensenet.exceptions import InputDataError
from sensenet.spec.fields import shown
from sensenet.spec.inputs import CategoricalInput, InputField, NumericInput

MISSING_CATEGORY = -1.0


def _numeric_converter(field: NumericInput) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        try:
            return float(value)
        except (TypeError, ValueError):
            if value is None or (isinstance(value, str) and value == ""):
                return math.nan
            raise ValueError(f"{shown(value)} is not a number") from None
        except OverflowError:
            raise ValueError(f"{shown(value)} is too large (float32 holds |x| <= 3.4e38)") from None

    return convert


def _categorical_converter(field: CategoricalInput) -> Callable[[Any], float]:
    codes = {value: float(i) for i, value in enumerate(field.values)}

    def convert(value: Any) -> float:
        if value.__class__ is str:
            return codes.get(value, MISSING_CATEGORY)
        if value is None:
            return MISSING_CATEGORY
        if isinstance(value, (list, dict, set, tuple)):
            raise ValueError(f"expected a category name, got {type(value).__name__}")
        return codes.get(str(value), MISSING_CATEGORY)

    return convert


def encoding_tables(fields: Sequence[NumericInput | CategoricalInput]) -> dict[str, np.ndarray]:
    """How every engine encodes the matrix in its graph.

    Per output feature: source column, center, scale and category code (NaN for a numeric feature).
    """
    source, center, scale, code = [], [], [], []
    for column, field in enumerate(fields):
        if isinstance(field, NumericInput):
            source.append(column), center.append(field.center), scale.append(field.scale), code.append(np.nan)
        elif isinstance(field, CategoricalInput):
            for i in range(len(field.values)):
                source.append(column), center.append(0.0), scale.append(1.0), code.append(float(i))
    return {
        "source": np.asarray(source, np.int32),
        "center": np.asarray(center, np.float32),
        "scale": np.asarray(scale, np.float32),
        "code": np.asarray(code, np.float32),
    }


_CONVERTERS = {NumericInput: _numeric_converter, CategoricalInput: _categorical_converter}


class RowEncoder:
    """Turns rows (lists indexed by each field's ``index``) into the input matrix."""

    def __init__(self, fields: Sequence[InputField]):
        self.fields = tuple(f for f in fields if type(f) in _CONVERTERS)
        self._columns = [(f.index, _CONVERTERS[type(f)](f)) for f in self.fields]
        self.row_length = max((f.index for f in fields), default=-1) + 1

    @property
    def width(self) -> int:
        return len(self._columns)

    def encode_rows(self, rows: Sequence[Sequence[Any]]) -> np.ndarray:
        columns = self._columns
        try:
            values = [[convert(row[index]) for index, convert in columns] for row in rows]
        except Exception:  # any value's own __float__, __str__, __len__ or __getitem__ may raise
            raise_for_bad_row(rows, self._columns, self.fields, self.row_length)
            raise
        with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, refused just below
            matrix = np.array(values, dtype=np.float32).reshape(len(rows), len(columns))
        self._check_finite(matrix)
        return matrix

    def encode_array(self, array: np.ndarray) -> np.ndarray:
        """Check a user's ready-made matrix: one column per non-image field."""
        if array.ndim == 1:
            array = array[np.newaxis, :]
        if array.ndim != 2 or array.shape[1] != self.width:
            raise InputDataError(
                f"a numeric array must have shape (rows, {self.width}): one column per input field "
                f"in 'preprocess' order; got {array.shape}"
            )
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise InputDataError(f"a numeric array must hold numbers, got dtype {array.dtype}")
        matrix = np.ascontiguousarray(array, dtype=np.float32)
        self._check_finite(matrix)
        return matrix

    def _check_finite(self, matrix: np.ndarray) -> None:
        if np.isinf(matrix).any():
            row, column = np.argwhere(np.isinf(matrix))[0]
            raise InputDataError(
                f"row {row}, field index {self.fields[column].index}: infinite values cannot be standardised"
            )


def _row_length(row: Any) -> int | None:
    """The number of values in a row, None when it is no sequence (a 0-d array, a scalar)."""
    if isinstance(row, np.ndarray):
        return len(row) if row.ndim == 1 else None
    return len(row) if isinstance(row, (list, tuple)) else None


def raise_for_bad_row(
    rows: Sequence[Any],
    columns: Sequence[tuple[int, Callable[[Any], float]]],
    fields: Sequence[NumericInput | CategoricalInput],
    row_length: int,
) -> None:
    """Find the first bad row and raise an `InputDataError` naming it and its column.

    Whatever a value does (its own ``__float__`` or ``__str__`` raising, nesting thousands
    deep, an int beyond float range), the error is ours.
    """
    for r, row in enumerate(rows):
        length = _row_length(row)
        if length is None:
            raise InputDataError(f"row {r}: expected a list of values, got {_kind_of(row)}")
        if length < row_length:
            raise InputDataError(
                f"row {r}: has {length} values, but the model reads columns up to index "
                f"{row_length - 1} (rows need at least {row_length} values)"
            )
        for (index, convert), field in zip(columns, fields):
            try:
                convert(row[index])
            except Exception as error:
                kind = "numeric" if isinstance(field, NumericInput) else "categorical"
                reason = error if isinstance(error, ValueError) else f"cannot read its value ({shown(error)})"
                raise InputDataError(f"row {r}, column {index} ({kind}): {reason}") from None


def _kind_of(row: Any) -> str:
    if isinstance(row, np.ndarray):
        return f"a {row.ndim}-d array"
    return type(row).__name__
