"""Rows for prediction from the command line, CSV or JSON Lines files, or stdin.

Every reader returns rows as lists indexed like the model's input fields.
When the model names its fields, a CSV header and JSON objects are matched
to those names; otherwise CSV columns and JSON arrays are taken in order.
Empty CSV cells (``value or None``), JSON nulls and absent JSON keys are
missing values.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from sensenet.exceptions import InputDataError
from sensenet.files.reading import ROWS_FILE, read_text

INPUT_FORMATS = ("csv", "jsonl")
SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

Row = list[Any]


@dataclass(frozen=True)
class RowLayout:
    """What the reader needs to know of the model's fields."""

    names: tuple[str, ...] | None  # position i names row column i
    objective_name: str | None = None
    header: bool = True  # does a CSV start with a header line?


@dataclass(frozen=True)
class RowSource:
    label: str  # how errors name it: a file name, "stdin" or "command-line rows"
    rows: list[Row]


def argument_rows(arguments: Sequence[str]) -> RowSource:
    """Rows written as comma-separated values, one per argument (CSV quoting allowed)."""
    rows = [[value or None for value in next(csv.reader([argument]), [])] for argument in arguments]
    return RowSource("command-line rows", rows)


def _header_columns(header: list[str], names: tuple[str, ...], label: str) -> list[int]:
    positions: dict[str, int] = {}
    for column, name in enumerate(header):
        positions.setdefault(name.strip(), column)
    missing = [name for name in names if name not in positions]
    if missing:
        raise InputDataError(
            f"{label}: the CSV header lacks the model's input field(s) {missing}; "
            f"the model reads {list(names)}, the header has {[name.strip() for name in header]}"
        )
    return [positions[name] for name in names]


def csv_rows(text: str, label: str, layout: RowLayout) -> RowSource:
    lines = [line for line in csv.reader(io.StringIO(text)) if line]
    if not layout.header:
        return RowSource(label, [[value or None for value in line] for line in lines])
    if not lines:
        raise InputDataError(f"{label}: empty CSV; expected a header line, then one row per line")
    header, body = lines[0], lines[1:]
    if layout.names is None:
        return RowSource(label, [[value or None for value in line] for line in body])
    columns = _header_columns(header, layout.names, label)
    rows = []
    for number, line in enumerate(body, start=2):
        if len(line) != len(header):
            raise InputDataError(
                f"{label}, line {number}: {len(line)} values, but the header has {len(header)}"
            )
        rows.append([line[column] or None for column in columns])
    return RowSource(label, rows)


def _object_row(record: dict, layout: RowLayout, where: str) -> Row:
    if layout.names is None:
        raise InputDataError(
            f"{where}: a JSON object needs a model that names its fields (a full BigML resource); "
            "give a JSON array of values in field order instead"
        )
    unknown = sorted(key for key in record if key not in layout.names and key != layout.objective_name)
    if unknown:
        raise InputDataError(f"{where}: unknown field(s) {unknown}; the model reads {list(layout.names)}")
    return [record.get(name) for name in layout.names]


def jsonl_rows(text: str, label: str, layout: RowLayout) -> RowSource:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{label}, line {number}"
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            raise InputDataError(f"{where}: not valid JSON ({error})") from None
        if isinstance(record, list):
            rows.append(record)
        elif isinstance(record, dict):
            rows.append(_object_row(record, layout, where))
        else:
            raise InputDataError(f"{where}: expected a JSON array or object, got {type(record).__name__}")
    return RowSource(label, rows)


READERS: dict[str, Callable[[str, str, RowLayout], RowSource]] = {"csv": csv_rows, "jsonl": jsonl_rows}


def _sniff_format(text: str) -> str:
    return "jsonl" if text.lstrip()[:1] in ("[", "{") else "csv"


def file_rows(name: str, layout: RowLayout, input_format: str | None = None) -> RowSource:
    """Rows from a CSV or JSON Lines file, or stdin for "-"; the format from the name or the content."""
    label = "stdin" if name == "-" else name
    try:
        text = sys.stdin.read() if name == "-" else read_text(name, ROWS_FILE, encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputDataError(f"{label}: not UTF-8 text; expected CSV or JSON Lines") from None
    kind = input_format or SUFFIX_FORMATS.get(Path(name).suffix.lower()) or _sniff_format(text)
    try:
        return READERS[kind](text, label, layout)
    except csv.Error as error:
        raise InputDataError(f"{label}: unreadable CSV ({error})") from None
