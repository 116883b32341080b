"""Values from a request -> the library's rows (lists indexed by each field's ``index``).

Images travel as base64 strings of the image file's bytes; they become bytes here, so a
string from a client is never read as a path on the server.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from sensenet.exceptions import InputDataError
from sensenet.serve.catalog import ServedModel


def image_bytes(value: Any, where: str) -> bytes | None:
    """A base64 string (the contents of an image file) as bytes; None is a missing image."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputDataError(
            f"{where}: an image is a base64 string of an image file's bytes, got {type(value).__name__}"
        )
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputDataError(
            f"{where}: not a base64 string (an image is its file's bytes in base64)"
        ) from None


def field_value(field: Any, value: Any, where: str) -> Any:
    """A JSON value for `field`: image bytes from base64, else a number, string, boolean or null."""
    if field.optype == "image":
        return image_bytes(value, f"{where} (image)")
    if isinstance(value, (list, dict)):
        raise InputDataError(
            f"{where} ({field.optype}): a value is a number, a string or null, got a {type(value).__name__}"
        )
    return value


def rows_from_lists(served: ServedModel, rows: Any) -> list[list[Any]]:
    """Rows as lists of values in field index order; image columns decoded."""
    if not isinstance(rows, list) or not rows:
        raise InputDataError('"rows" must be a non-empty list of rows (lists of values)')
    decoded = []
    for r, row in enumerate(rows):
        if not isinstance(row, list):
            raise InputDataError(f"row {r}: expected a list of values, got {type(row).__name__}")
        row = list(row)
        for field in served.fields:
            if field.index < len(row):
                row[field.index] = field_value(field, row[field.index], f"row {r}, column {field.index}")
        decoded.append(row)
    return decoded


def rows_from_records(served: ServedModel, records: Any) -> list[list[Any]]:
    """Records keyed by field name; a field left out is missing, other keys are ignored (as the
    Python API and the command line ignore them), unless no key of any record names a field."""
    if not isinstance(records, list) or not records:
        raise InputDataError('"records" must be a non-empty list of objects keyed by field name')
    by_name = served.fields_by_name
    rows = []
    for r, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InputDataError(
                f"record {r}: expected an object keyed by field name, got {type(record).__name__}"
            )
        row: list[Any] = [None] * served.row_length
        for name in record.keys() & by_name.keys():
            row[by_name[name].index] = field_value(by_name[name], record[name], f"record {r}, field {name!r}")
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
