"""Every tabular input form held column by column, before anything is encoded.

Rows (lists indexed like BigML's fields), dicts keyed by field name or id, lists of
such dicts and pandas DataFrames all become a `Table`: one column of raw values per
input field, keyed by the field's row ``index``. The encoders then work a column at
a time with numpy instead of a value at a time in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np

from sensenet.exceptions import InputDataError

ROW_TYPES = (list, tuple, np.ndarray)


@dataclass(frozen=True)
class ColumnName:
    """How a model's input field is matched in dicts and frames, and named in errors."""

    index: int  # the row column the field reads
    name: str
    id: str | None = None


@dataclass(frozen=True)
class Table:
    length: int
    columns: Mapping[int, Sequence[Any]]  # field index -> that field's values, one per row
    labels: Mapping[int, str]  # field index -> how an error names the column

    def label(self, index: int) -> str:
        return self.labels.get(index, column_label(index))


# How an error names a field's place, the one rule of every input form: after "row R" (R the
# row's 0-based position in the data given), a list row's or a frame's column by position (its
# 0-based index, then the field's name when the model names its fields), or a frame's column by
# name, or a dict's key. (The command line says a file's line and 1-based column: sensenet.cli.rows.)


def column_label(index: int, name: str | None = None) -> str:
    """A list row's value (or an unnamed frame column): "column 1 'sepal width (cm)'"."""
    return f"column {index}" if name is None else f"column {index} {name!r}"


def key_label(name: str) -> str:
    """A dict's value, by the key that names the field: "field 'sepal width (cm)'"."""
    return f"field {name!r}"


def row_labels(names: Mapping[int, str] | None) -> dict[int, str]:
    """How errors name a row's columns: by position, and by field name when the model names them."""
    return {index: column_label(index, name) for index, name in (names or {}).items()}


def table_from_rows(
    rows: Sequence[Any], indexes: Sequence[int], names: Mapping[int, str] | None = None
) -> Table:
    """Rows (each a list of values indexed like BigML's fields) as columns; `names` (field index ->
    name) names the columns in errors."""
    needed = max(indexes, default=-1) + 1
    for r, row in enumerate(rows):
        if not isinstance(row, ROW_TYPES) or (isinstance(row, np.ndarray) and row.ndim != 1):
            raise InputDataError(f"row {r}: expected a list of values, got {_kind(row)}")
        if len(row) < needed:
            raise InputDataError(
                f"row {r}: has {len(row)} values, but the model reads columns up to index "
                f"{needed - 1} (rows need at least {needed} values)"
            )
    columns = {index: [row[index] for row in rows] for index in indexes}
    return Table(len(rows), columns, row_labels(names))


def table_from_records(records: Sequence[Mapping[str, Any]], names: Sequence[ColumnName]) -> Table:
    """Dicts keyed by field name (or id): absent keys are missing values; other keys are ignored."""
    if not set(map(type, records)) <= {dict}:
        for r, record in enumerate(records):
            if not isinstance(record, Mapping):
                raise InputDataError(f"row {r}: expected a dict keyed by field name, got {_kind(record)}")
    known = {key for column in names for key in (column.name, column.id) if key is not None}
    if records and not any(key in known for record in records for key in record):
        raise InputDataError(
            f"no key of the given dicts names an input field; the model reads {[c.name for c in names]}"
        )
    columns = {column.index: _record_column(records, column) for column in names}
    return Table(len(records), columns, {c.index: key_label(c.name) for c in names})


def table_from_frame(frame: Any, names: Sequence[ColumnName], named: bool) -> Table:
    """A pandas DataFrame: columns by field name or id, or, for a model that names nothing, by position.

    When the model names its fields, every field must have a column (extra columns are
    ignored). Otherwise the frame's columns are the row's columns, in order.
    """
    by_key = {str(key): key for key in frame.columns}
    matched = {c.index: _frame_key(by_key, c) for c in names}
    if all(key is not None for key in matched.values()):
        columns = {index: _frame_column(frame[key]) for index, key in matched.items()}
        return Table(len(frame), columns, {c.index: f"column {c.name!r}" for c in names})
    if named:
        missing = [c.name for c in names if matched[c.index] is None]
        raise InputDataError(
            f"the data frame has no column for field(s) {missing}; its columns are "
            f"{[str(key) for key in frame.columns][:20]}"
        )
    needed = max((c.index for c in names), default=-1) + 1
    if frame.shape[1] < needed:
        raise InputDataError(
            f"the data frame has {frame.shape[1]} columns, but the model reads columns up to index "
            f"{needed - 1}: name the columns after the fields ({[c.name for c in names]}) or give "
            "them in field order"
        )
    columns = {c.index: _frame_column(frame.iloc[:, c.index]) for c in names}
    return Table(len(frame), columns, {c.index: column_label(c.index) for c in names})


_ABSENT = object()


def _record_column(records: Sequence[Mapping[str, Any]], column: ColumnName) -> list[Any]:
    """The field's values by name, else by id, else None (missing)."""
    try:  # every record names the field: the lookups run in C
        return list(map(itemgetter(column.name), records))
    except (KeyError, TypeError):
        pass
    values = [record.get(column.name, _ABSENT) for record in records]
    if any(value is _ABSENT for value in values):
        for r, value in enumerate(values):
            if value is _ABSENT:
                values[r] = records[r].get(column.id) if column.id is not None else None
    return values


def _frame_key(by_key: Mapping[str, Any], column: ColumnName) -> Any:
    for key in (column.name, column.id):
        if key is not None and key in by_key:
            return by_key[key]
    return None


def _frame_column(series: Any) -> Any:
    """A numeric column as a float array (missing as NaN); anything else as its objects, missing
    markers (NaN, None, pd.NA, NaT) included, for the encoders to see (`sensenet.inputs.missing`)."""
    if getattr(series.dtype, "kind", "O") in "biuf":
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return series.to_numpy(dtype=object)


def _kind(value: Any) -> str:
    return type(value).__name__
