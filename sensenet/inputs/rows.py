"""The one place where rows become the numeric matrix every engine takes.

The matrix has one float32 column per non-image input field, in ``preprocess``
order: numeric fields hold their raw value (NaN when missing), categorical
fields the position of their value in ``values`` (-1 when missing or
unknown). Standardising and one-hot encoding happen inside the compute
graph, so exported models take the same matrix.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping, Sequence
from itertools import filterfalse
from operator import itemgetter
from typing import Any

import numpy as np

from sensenet.exceptions import FieldValueError, InputDataError
from sensenet.inputs.missing import is_missing
from sensenet.inputs.table import Table, column_label, row_labels, table_from_rows
from sensenet.spec.fields import shown
from sensenet.spec.inputs import CategoricalInput, InputField, NumericInput

MISSING_CATEGORY = -1.0
ROW_CLASSES = (list, tuple)
NARROW_ROW = 32  # fields up to which one numpy call encodes a row faster than struct runs
FLOAT32_MAX = float(np.finfo(np.float32).max)
PLAIN_NUMBERS = {float, int, type(None)}  # values numpy reads as float32 without a surprise
LITTLE_FLOAT32 = np.dtype("<f4")  # what the packers write


def encoding_tables(fields: Sequence[NumericInput | CategoricalInput]) -> dict[str, np.ndarray]:
    """How every engine encodes the matrix in its graph.

    Per output feature: source column, center, scale and category code (NaN for a numeric feature).
    """
    source, center, scale, code = [], [], [], []
    for column, field in enumerate(fields):
        if isinstance(field, NumericInput):
            source.append(column)
            center.append(field.center)
            scale.append(field.scale)
            code.append(np.nan)
        elif isinstance(field, CategoricalInput):
            for i in range(len(field.values)):
                source.append(column)
                center.append(0.0)
                scale.append(1.0)
                code.append(float(i))
    return {
        "source": np.asarray(source, np.int32),
        "center": np.asarray(center, np.float32),
        "scale": np.asarray(scale, np.float32),
        "code": np.asarray(code, np.float32),
    }


class RowEncoder:
    """Turns a `Table` (any tabular input form) into the input matrix, one column at a time.

    `names` (field index -> name), when the model names its fields, names them in errors.
    """

    def __init__(self, fields: Sequence[InputField], names: Mapping[int, str] | None = None):
        self.fields = tuple(f for f in fields if type(f) in _COLUMN_ENCODERS)
        self.indexes = tuple(f.index for f in fields)
        self.row_length = max(self.indexes, default=-1) + 1  # the values a row needs
        self.names = dict(names or {})
        self._codes = {
            f.index: {value: float(i) for i, value in enumerate(f.values)}
            for f in self.fields
            if isinstance(f, CategoricalInput)
        }
        positions = list(enumerate(self.fields))
        numeric = [(c, f.index) for c, f in positions if isinstance(f, NumericInput)]
        self._numeric = [(c, itemgetter(index)) for c, index in numeric]
        categorical = [(c, f.index) for c, f in positions if isinstance(f, CategoricalInput)]
        self._categorical = [(c, itemgetter(index), self._codes[index]) for c, index in categorical]
        self._row_getter = _getter([f.index for f in self.fields])
        self._wide_plan = _wide_plan(self.fields)
        self._row_packer = struct.Struct(f"<{self.width}f")
        self._categorical_getter = _getter([index for _, index in categorical])
        self._categorical_tables = [self._codes[index] for _, index in categorical]
        self.categorical_indexes = tuple(index for _, index in categorical)
        self._encode_one = self._encode_wide if self.width > NARROW_ROW else self._encode_narrow

    @property
    def width(self) -> int:
        return len(self.fields)

    def encode_rows(self, rows: Sequence[Sequence[Any]]) -> np.ndarray:
        """Rows (lists indexed by each field's ``index``) as the input matrix.

        Well-formed rows take the fast road: every numeric field converted by numpy in one
        call, each categorical field by one dict lookup per row. Anything else goes column by
        column through `encode_table`, which names the row and column at fault.
        """
        try:
            if len(rows) == 1 and rows[0].__class__ in ROW_CLASSES:
                return self._encode_one(rows[0])
            with np.errstate(over="ignore"):  # beyond float32 range becomes inf, refused by _check_finite
                return self._encode_row_major(rows)
        except Exception:  # anything odd, even a value's own __float__ raising: column by column
            return self.encode_table(table_from_rows(rows, self.indexes, self.names))

    def _encode_row_major(self, rows: Sequence[Sequence[Any]]) -> np.ndarray:
        if not isinstance(rows, (list, tuple)) or not set(map(type, rows)) <= {list, tuple}:
            raise TypeError("not a list of lists")
        count = len(rows)
        matrix = np.empty((count, self.width), np.float32)
        for column, getter in self._numeric:
            try:  # fromiter takes numbers a third faster than a list; None and strings need numpy's reading
                matrix[:, column] = np.fromiter(map(getter, rows), np.float64, count)
            except (TypeError, ValueError):
                values = np.asarray(list(map(getter, rows)), dtype=np.float64)
                if values.shape != (count,):
                    raise TypeError("a numeric value that is not a scalar") from None
                matrix[:, column] = values
        for column, getter, codes in self._categorical:
            matrix[:, column] = _category_codes(codes, list(map(getter, rows)))
        self._check_finite(matrix, None)
        return matrix

    def _encode_narrow(self, row: Sequence[Any]) -> np.ndarray:
        """One row of a few fields: their values in one numpy call (a prediction's latency is
        mostly here). Whatever is wrong, the caller's column-by-column road names it."""
        values = list(self._row_getter(row))
        for column, _, codes in self._categorical:
            value = values[column]
            is_name = value.__class__ is str
            values[column] = codes.get(value, MISSING_CATEGORY) if is_name else _category(codes, value, 0)
        if set(map(type, values)) <= PLAIN_NUMBERS:  # the common row: checked in Python, one conversion
            if any(value is not None and (value > FLOAT32_MAX or value < -FLOAT32_MAX) for value in values):
                raise OverflowError("beyond float32: the column by column road names it")
            return np.array([values], dtype=np.float32)
        wide = np.array([values], dtype=np.float64)
        if wide.shape != (1, self.width):
            raise TypeError("a value that is not a scalar")
        if np.fmax.reduce(np.abs(wide), axis=None) > FLOAT32_MAX:  # fmax passes over NaN (missing)
            raise OverflowError("beyond float32: the column by column road names it")
        return wide.astype(np.float32)

    def _encode_wide(self, row: Sequence[Any]) -> np.ndarray:
        """One row of many fields: its values gathered in column order (runs of numeric fields
        as slices of the row, categories as their codes) and packed as float32 by one `struct`
        call, straight into the matrix's memory (numpy converts a list of floats at a third of
        that speed). None, numeric strings and anything else odd take numpy's conversion;
        whatever is wrong, the caller's column-by-column road names it."""
        codes: list[Any] = []
        if self._categorical_tables:
            names = self._categorical_getter(row)
            codes = list(map(dict.get, self._categorical_tables, names))
            if None in codes:
                codes = [
                    _category(table, name, 0) if code is None else code
                    for code, table, name in zip(codes, self._categorical_tables, names)
                ]
        values: list[Any] = []
        for from_row, part in self._wide_plan:
            values += row[part] if from_row else codes[part]
        buffer = bytearray(self._row_packer.size)
        try:
            self._row_packer.pack_into(buffer, 0, *values)
        except (struct.error, OverflowError):
            wide = np.array([values], dtype=np.float64)
            if wide.shape != (1, self.width):
                raise TypeError("a row too short, or a value that is not a scalar") from None
            with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused below
                buffer = bytearray(wide.astype(LITTLE_FLOAT32).tobytes())
        matrix = np.frombuffer(buffer, LITTLE_FLOAT32).reshape(1, self.width)
        if np.isinf(matrix).any():
            raise OverflowError("beyond float32: the column by column road names it")
        return matrix

    def encode_table(self, table: Table) -> np.ndarray:
        with np.errstate(over="ignore"):
            return self._encode_columns(table)

    def _encode_columns(self, table: Table) -> np.ndarray:
        matrix = np.empty((table.length, self.width), np.float32)
        for column, field in enumerate(self.fields):
            values = table.columns[field.index]
            try:
                matrix[:, column] = _COLUMN_ENCODERS[type(field)](self, field, values)
            except _BadValue as bad:
                raise FieldValueError(bad.row, field.index, table.label(field.index), str(bad)) from None
        self._check_finite(matrix, table)
        return matrix

    def unknown_categories(self, table: Table) -> dict[int, int]:
        """Per categorical field (by index), how many values are not among its categories.

        They encode as missing, BigML's rule; missing values (None, NaN, "") are not counted.
        A separate pass, so encoding pays nothing for it: a column of known names costs one
        lookup per value in C.
        """
        return {
            field.index: _unknown_count(self._codes[field.index], table.columns[field.index])
            for field in self.fields
            if isinstance(field, CategoricalInput)
        }

    def unknown_in_rows(self, rows: Sequence[Sequence[Any]]) -> dict[int, int]:
        """`unknown_categories` of rows (lists indexed like the fields), reading only the categorical
        columns; rows that are not lists long enough get `table_from_rows`' error."""
        if isinstance(rows, (list, tuple)) and set(map(type, rows)) <= {list, tuple}:
            try:
                columns = {index: list(map(itemgetter(index), rows)) for index in self.categorical_indexes}
                return self.unknown_categories(Table(len(rows), columns, {}))
            except IndexError:
                pass
        return self.unknown_categories(table_from_rows(rows, self.categorical_indexes))

    def unknown_codes(self, array: np.ndarray) -> dict[int, int]:
        """`unknown_categories` of a ready-made matrix: codes that are no category's position."""
        matrix = self.encode_array(array)
        counts = {}
        for column, field in enumerate(self.fields):
            if isinstance(field, CategoricalInput):
                codes = matrix[:, column]
                known = (
                    np.isnan(codes)
                    | (codes == MISSING_CATEGORY)
                    | np.isin(codes, np.arange(len(field.values)))
                )
                counts[field.index] = int(np.count_nonzero(~known))
        return counts

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
        with np.errstate(over="ignore", invalid="ignore"):
            matrix = np.ascontiguousarray(array, dtype=np.float32)
        self._check_finite(matrix, None)
        return matrix

    def _check_finite(self, matrix: np.ndarray, table: Table | None) -> None:
        infinite = np.isinf(matrix)
        if infinite.any():
            row, column = np.argwhere(infinite)[0]
            index = self.fields[column].index
            labels = table.labels if table is not None else row_labels(self.names)
            raise FieldValueError(
                int(row),
                index,
                labels.get(index, column_label(index)),
                "infinite values (or values beyond float32 range) cannot be standardised",
            )

    def _numeric_column(self, field: NumericInput, values: Sequence[Any]) -> np.ndarray:
        try:
            array = np.asarray(values, dtype=np.float64)
            if array.shape == (len(values),):
                return array
        except Exception:  # a value's own __float__ may raise anything: find it, value by value
            pass
        return np.fromiter((_number(value, r) for r, value in enumerate(values)), np.float64, len(values))

    def _categorical_column(self, field: CategoricalInput, values: Sequence[Any]) -> np.ndarray:
        return _category_codes(self._codes[field.index], values)


class _BadValue(ValueError):
    def __init__(self, message: str, row: int):
        super().__init__(message)
        self.row = row


def _number(value: Any, row: int) -> float:
    if is_missing(value) or (isinstance(value, str) and value == ""):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        raise _BadValue(f"{_short(value)} is beyond the range of a float", row) from None
    except (TypeError, ValueError):
        raise _BadValue(f"{_short(value)} is not a number", row) from None
    except Exception as error:  # the value's own __float__ failed
        raise _BadValue(f"{_short(value)} cannot be read as a number ({_short(error)})", row) from None


def _category_codes(codes: dict[str, float], values: Sequence[Any]) -> np.ndarray:
    """A categorical column's codes: one dict lookup per value in C when every value is a known
    name; otherwise value by value, misses (unknown, missing, not a plain string) included."""
    try:
        found = np.fromiter(map(codes.get, values), np.float64, len(values))  # a miss reads as NaN
        if not np.isnan(found).any():
            return found
    except TypeError:  # a value that cannot be a dict key
        pass
    return np.fromiter(
        (
            codes.get(value, MISSING_CATEGORY) if value.__class__ is str else _category(codes, value, r)
            for r, value in enumerate(values)
        ),
        np.float64,
        len(values),
    )


def _unknown_count(codes: dict[str, float], values: Sequence[Any]) -> int:
    """Known names are passed over in C; only the others (unknown, missing, odd) are looked at."""
    try:
        others: Sequence[Any] = list(filterfalse(codes.__contains__, values))
    except TypeError:  # a value that cannot be a dict key: value by value
        others = values
    return sum(_is_unknown(codes, value) for value in others)


def _is_unknown(codes: dict[str, float], value: Any) -> bool:
    """A value `_category` encodes as missing although it is not missing (nor a value it refuses)."""
    if value.__class__ is str:
        return value != "" and value not in codes
    try:
        return not is_missing(value) and _category(codes, value, 0) == MISSING_CATEGORY
    except _BadValue:  # not a category name at all: encoding refuses it
        return False


def _category(codes: dict[str, float], value: Any, row: int) -> float:
    """A category's code for a value that is not a plain string (see `is_missing`)."""
    if is_missing(value):
        return MISSING_CATEGORY
    if isinstance(value, (list, dict, set, tuple, np.ndarray)):
        raise _BadValue(f"expected a category name, got {type(value).__name__}", row)
    try:
        name = str(value)
    except Exception as error:  # the value's own __str__ failed
        raise _BadValue(f"{_short(value)} cannot be read as a category name ({_short(error)})", row) from None
    return codes.get(name, MISSING_CATEGORY)


def _getter(indexes: list[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """An itemgetter that always gives a tuple, even of one item or none."""
    if not indexes:
        return lambda row: ()
    if len(indexes) == 1:
        (index,) = indexes
        return lambda row: (row[index],)
    return itemgetter(*indexes)


def _wide_plan(fields: Sequence[InputField]) -> list[tuple[bool, slice]]:
    """How `_encode_wide` gathers a row in column order: (True, a slice of the row) for each
    run of numeric fields reading consecutive row columns, (False, a slice of the row's
    category codes) for each run of categorical fields."""
    plan: list[list[Any]] = []
    code = 0
    for field in fields:
        from_row = isinstance(field, NumericInput)
        first = field.index if from_row else code
        code += not from_row
        if plan and plan[-1][0] == from_row and plan[-1][2] == first:
            plan[-1][2] = first + 1
        else:
            plan.append([from_row, first, first + 1])
    return [(from_row, slice(first, stop)) for from_row, first, stop in plan]


def _short(value: Any) -> str:
    """A short repr for errors, safe for values nested any depth or whose own repr raises."""
    return shown(value)


_COLUMN_ENCODERS: dict[type, Callable[[RowEncoder, Any, Any], np.ndarray]] = {
    NumericInput: RowEncoder._numeric_column,
    CategoricalInput: RowEncoder._categorical_column,
}
