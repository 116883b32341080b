"""Values from a request -> the library's rows (lists indexed by each field's ``index``).

Images travel as base64 strings of the image file's bytes; they become bytes here, so a
string from a client is never read as a path on the server.

A bad value is placed as the Python API places it (`sensenet.inputs.table`), whether this
module or the model finds it: "row 0, column 2 'photo'" in "rows", "row 0, field 'photo'" in
"records" (rows made from records are `KeyedRows`, so the model's own errors say the key too).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from sensenet.exceptions import FieldValueError, ImageFieldError, InputDataError
from sensenet.inputs.table import column_label, key_label
from sensenet.serve.catalog import KeyedRows, ServedModel


def image_bytes(value: Any, where: str) -> bytes | None:
    """A base64 string (the contents of an image file) as bytes; None is a missing image."""
    try:
        return _decoded(value)
    except InputDataError as error:
        raise InputDataError(f"{where}: {error}") from None


def _decoded(value: Any) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputDataError(
            f"an image is a base64 string of an image file's bytes, got {type(value).__name__}"
        )
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputDataError("not a base64 string (an image is its file's bytes in base64)") from None


def field_value(field: Any, value: Any, row: int, label: str) -> Any:
    """A JSON value for `field`: image bytes from base64, else a number, string, boolean or null;
    a value it cannot take is a `FieldValueError` at (`row`, `label`)."""
    if field.optype == "image":
        try:
            return _decoded(value)
        except InputDataError as error:
            raise ImageFieldError(row, field.index, label, str(error)) from None
    if isinstance(value, (list, dict)):
        problem = f"a {field.optype} value is a number, a string or null, got a {type(value).__name__}"
        raise FieldValueError(row, field.index, label, problem)
    return value


def rows_from_lists(served: ServedModel, rows: Any) -> list[list[Any]]:
    """Rows as lists of values in field index order; image columns decoded."""
    if not isinstance(rows, list) or not rows:
        raise InputDataError('"rows" must be a non-empty list of rows (lists of values)')
    named = served.model.names_fields
    labels = {f.index: column_label(f.index, f.name if named else None) for f in served.fields}
    decoded = []
    for r, row in enumerate(rows):
        if not isinstance(row, list):
            raise InputDataError(f"row {r}: expected a list of values, got {type(row).__name__}")
        row = list(row)
        for field in served.fields:
            if field.index < len(row):
                row[field.index] = field_value(field, row[field.index], r, labels[field.index])
        decoded.append(row)
    return decoded


def rows_from_records(served: ServedModel, records: Any) -> KeyedRows:
    """Records keyed by field name; a field left out is missing, other keys are ignored (as the
    Python API and the command line ignore them), unless no key of any record names a field."""
    if not isinstance(records, list) or not records:
        raise InputDataError('"records" must be a non-empty list of objects keyed by field name')
    by_name = served.fields_by_name
    rows = KeyedRows({f.index: key_label(f.name) for f in served.fields})
    for r, record in enumerate(records):
        if not isinstance(record, Mapping):
            kind = type(record).__name__
            raise InputDataError(f"row {r}: expected an object keyed by field name, got {kind}")
        row: list[Any] = [None] * served.row_length
        for name in record.keys() & by_name.keys():
            field = by_name[name]
            row[field.index] = field_value(field, record[name], r, key_label(name))
        rows.append(row)
    if not any(key in by_name for record in records for key in record):
        raise InputDataError(
            f"no key of the records names an input field; the model reads {', '.join(map(repr, by_name))}"
        )
    return rows


def images_alone(served: ServedModel, images: Any) -> list[bytes | None]:
    """Images for a model whose only input is one image."""
    if not isinstance(images, list) or not images:
        raise InputDataError('"images" must be a non-empty list of base64 strings of image files')
    return [image_bytes(value, f"image {i}") for i, value in enumerate(images)]
