"""The one place where rows become the numeric matrix every engine takes.

The matrix has one float32 column per non-image input field, in ``preprocess``
order: numeric fields hold their raw value (NaN when missing), categorical
fields the position of their value in ``values`` (-1 when missing or
unknown). Standardising and one-hot encoding happen inside the compute
graph, so exported models take the same matrix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sensenet.exceptions import InputDataError
from sensenet.inputs.table import Table, table_from_rows
from sensenet.spec.inputs import CategoricalInput, InputField, NumericInput

MISSING_CATEGORY = -1.0


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


class RowEncoder:
    """Turns a `Table` (any tabular input form) into the input matrix, one column at a time."""

    def __init__(self, fields: Sequence[InputField]):
        self.fields = tuple(f for f in fields if type(f) in _COLUMN_ENCODERS)
        self.indexes = tuple(f.index for f in fields)
        self._codes = {
            f.index: {value: float(i) for i, value in enumerate(f.values)}
            for f in self.fields
            if isinstance(f, CategoricalInput)
        }

    @property
    def width(self) -> int:
        return len(self.fields)

    def encode_rows(self, rows: Sequence[Sequence[Any]]) -> np.ndarray:
        """Rows (lists indexed by each field's ``index``) as the input matrix."""
        if self.fields and all(isinstance(f, NumericInput) for f in self.fields):
            matrix = self._numeric_rows(rows)
            if matrix is not None:
                return matrix
        return self.encode_table(table_from_rows(rows, self.indexes))

    def encode_table(self, table: Table) -> np.ndarray:
        matrix = np.empty((table.length, self.width), np.float32)
        for column, field in enumerate(self.fields):
            values = table.columns[field.index]
            try:
                matrix[:, column] = _COLUMN_ENCODERS[type(field)](self, field, values)
            except _BadValue as bad:
                kind = "numeric" if isinstance(field, NumericInput) else "categorical"
                raise InputDataError(f"row {bad.row}, {table.label(field.index)} ({kind}): {bad}") from None
        self._check_finite(matrix, table)
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
        self._check_finite(matrix, None)
        return matrix

    def _numeric_rows(self, rows: Sequence[Sequence[Any]]) -> np.ndarray | None:
        """All-numeric models: the whole list of rows converted by numpy in one call, when it can be."""
        try:
            array = np.asarray(rows, dtype=np.float64)
        except (ValueError, TypeError, OverflowError):
            return None
        if array.ndim != 2 or array.shape[1] <= max(self.indexes):
            return None
        matrix = array[:, list(self.indexes)].astype(np.float32)
        self._check_finite(matrix, None)
        return matrix

    def _check_finite(self, matrix: np.ndarray, table: Table | None) -> None:
        infinite = np.isinf(matrix)
        if infinite.any():
            row, column = np.argwhere(infinite)[0]
            index = self.fields[column].index
            where = table.label(index) if table is not None else f"field index {index}"
            raise InputDataError(
                f"row {row}, {where}: infinite values (or values beyond float32 range) cannot be standardised"
            )

    def _numeric_column(self, field: NumericInput, values: Sequence[Any]) -> np.ndarray:
        try:
            return np.asarray(values, dtype=np.float64)
        except (ValueError, TypeError, OverflowError):
            return np.fromiter((_number(value, r) for r, value in enumerate(values)), np.float64, len(values))

    def _categorical_column(self, field: CategoricalInput, values: Sequence[Any]) -> np.ndarray:
        codes = self._codes[field.index]
        lookup = codes.get
        encoded = [lookup(value, MISSING_CATEGORY) if value.__class__ is str else None for value in values]
        for r, code in enumerate(encoded):
            if code is None:
                encoded[r] = _category(codes, values[r], r)
        return np.asarray(encoded, np.float64)


class _BadValue(ValueError):
    def __init__(self, message: str, row: int):
        super().__init__(message)
        self.row = row


def _number(value: Any, row: int) -> float:
    if value is None or (isinstance(value, str) and value == ""):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        raise _BadValue(f"{_short(value)} is beyond the range of a float", row) from None
    except (TypeError, ValueError):
        raise _BadValue(f"{_short(value)} is not a number", row) from None


def _category(codes: dict[str, float], value: Any, row: int) -> float:
    """A category's code for a value that is not a plain string: None and NaN are missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_CATEGORY
    if isinstance(value, (list, dict, set, tuple, np.ndarray)):
        raise _BadValue(f"expected a category name, got {type(value).__name__}", row)
    return codes.get(str(value), MISSING_CATEGORY)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_COLUMN_ENCODERS = {
    NumericInput: RowEncoder._numeric_column,
    CategoricalInput: RowEncoder._categorical_column,
}
