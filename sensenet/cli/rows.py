"""Rows for prediction from the command line, CSV or JSON Lines files, or stdin.

Every reader returns rows as lists indexed like the model's input fields.
When the model names its fields, a CSV header and JSON objects are matched
to those names; otherwise CSV columns and JSON arrays are taken in order.
Columns and keys that name no input field are ignored, as the Python API
ignores them. Empty CSV cells (``value or None``), JSON nulls and absent
JSON keys are missing values.

Errors name the input as the user sees it: the file's line (1-based, the
header being line 1), the value's column in that line (1-based) or its JSON
key, and the field's name.
"""

from __future__ import annotations

import csv
import io
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sensenet.cli.skipping import item_message
from sensenet.exceptions import FieldValueError, InputDataError
from sensenet.files.reading import ROWS_FILE, read_text

INPUT_FORMATS = ("csv", "jsonl")
SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

Row = list[Any]


@dataclass(frozen=True)
class RowLayout:
    """What the reader needs to know of the model's fields."""

    names: tuple[str, ...] | None  # position i names row column i
    header: bool = True  # does a CSV start with a header line?
    keep: tuple[str, ...] = ()  # columns copied into each output record (--keep-columns)


@dataclass(frozen=True)
class RowSource:
    label: str  # how errors name it: a file name, "stdin" or "command-line rows"
    rows: list[Row]
    numbers: list[int]  # each row's 1-based line in the file (the argument's position for command-line rows)
    kept: list[list[Any]] | None = None  # each row's --keep-columns values
    unit: str = "line"
    names: Sequence[str] | None = None  # field index -> its name (when the input or model names it)
    columns: Mapping[int, int] = field(default_factory=dict)  # field index -> its 1-based column, if moved
    keyed: frozenset[int] = frozenset()  # positions of rows given as JSON objects (named by key)

    def where(self, position: int) -> str:
        """The row at `position` as a user finds it: "FILE, line N"."""
        return f"{self.label}, {self.unit} {self.numbers[position]}"

    def describer(self, start: int) -> Callable[[int, InputDataError], str]:
        """`describe` for a chunk of the rows that begins at `start`."""
        return lambda position, error: self.describe(start + position, error)

    def describe(self, position: int, error: InputDataError) -> str:
        """The error of the row at `position`, down to the value's column and field when it is one
        value: "FILE, line 3, column 2 'sepal width (cm)': 'x' is not a number"."""
        if not isinstance(error, FieldValueError):
            return f"{self.where(position)}: {item_message(error)}"
        index = error.index
        name = self.names[index] if self.names is not None and index < len(self.names) else None
        if position in self.keyed:
            place = f"key {name!r}"
        else:
            place = f"column {self.columns.get(index, index + 1)}" + (f" {name!r}" if name else "")
        return f"{self.where(position)}, {place}: {error.problem}"


def _looks_like_data(line: Sequence[str]) -> bool:
    def is_number(text: str) -> bool:
        try:
            float(text)
        except ValueError:
            return False
        return True

    return any(is_number(value) for value in line)


def _kept_positions(keep: tuple[str, ...], columns: Sequence[str] | None, label: str) -> list[int]:
    """Where each --keep-columns name is among the named `columns`."""
    if not keep:
        return []
    if columns is None:
        raise InputDataError(
            f"{label}: --keep-columns needs named columns (a CSV header, JSON objects, or a model that "
            "names its fields)"
        )
    positions = {name.strip(): column for column, name in reversed(list(enumerate(columns)))}
    missing = [name for name in keep if name not in positions]
    if missing:
        raise InputDataError(
            f"{label}: --keep-columns {missing} not among the columns {[name.strip() for name in columns]}"
        )
    return [positions[name] for name in keep]


def argument_rows(arguments: Sequence[str], layout: RowLayout | None = None) -> RowSource:
    """Rows written as comma-separated values, one per argument (CSV quoting allowed)."""
    rows = [[value or None for value in next(csv.reader([argument]), [])] for argument in arguments]
    label = "command-line rows"
    layout = layout or RowLayout(None)
    kept_positions = _kept_positions(layout.keep, layout.names, label)
    kept = [[_at(row, column) for column in kept_positions] for row in rows] if layout.keep else None
    return RowSource(label, rows, list(range(1, len(rows) + 1)), kept, unit="row", names=layout.names)


def _at(row: Sequence[Any], column: int) -> Any:
    return row[column] if column < len(row) else None


def _header_columns(header: list[str], names: tuple[str, ...], label: str) -> list[int]:
    positions: dict[str, int] = {}
    for column, name in enumerate(header):
        positions.setdefault(name.strip(), column)
    missing = [name for name in names if name not in positions]
    if missing:
        advice = (
            "; the first line looks like data: pass --no-header if the CSV has no header line"
            if _looks_like_data(header)
            else ""
        )
        raise InputDataError(
            f"{label}: the CSV header lacks the model's input field(s) {missing}; "
            f"the model reads {list(names)}, the header has {[name.strip() for name in header]}{advice}"
        )
    return [positions[name] for name in names]


def _csv_lines(text: str) -> list[tuple[int, list[str]]]:
    """The non-empty CSV records, each with the file line it starts on (a quoted cell may span lines)."""
    reader = csv.reader(io.StringIO(text))
    lines, first = [], 1
    for line in reader:
        if line:
            lines.append((first, line))
        first = reader.line_num + 1
    return lines


def csv_rows(text: str, label: str, layout: RowLayout) -> RowSource:
    lines = _csv_lines(text)
    if not layout.header:
        kept_positions = _kept_positions(layout.keep, layout.names, label)
        rows = [[value or None for value in line] for _, line in lines]
        kept = [[_at(line, c) for c in kept_positions] for _, line in lines] if layout.keep else None
        return RowSource(label, rows, [number for number, _ in lines], kept, names=layout.names)
    if not lines:
        raise InputDataError(f"{label}: empty CSV; expected a header line, then one row per line")
    (_, header), body = lines[0], lines[1:]
    kept_positions = _kept_positions(layout.keep, header, label)
    kept = [[_at(line, c) for c in kept_positions] for _, line in body] if layout.keep else None
    numbers = [number for number, _ in body]
    if layout.names is None:
        if _looks_like_data(header):
            warnings.warn(
                f"{label}: the first line ({','.join(header)}) was read as a header, not predicted; "
                "pass --no-header if it is data",
                stacklevel=2,
            )
        rows = [[value or None for value in line] for _, line in body]
        return RowSource(label, rows, numbers, kept, names=[name.strip() for name in header])
    columns = _header_columns(header, layout.names, label)
    rows = []
    for number, line in body:
        if len(line) != len(header):
            raise InputDataError(
                f"{label}, line {number}: {len(line)} values, but the header has {len(header)}"
            )
        rows.append([line[column] or None for column in columns])
    moved = {index: column + 1 for index, column in enumerate(columns)}
    return RowSource(label, rows, numbers, kept, names=layout.names, columns=moved)


def _object_row(record: dict, layout: RowLayout, where: str) -> Row:
    """The values of the keys that name input fields; other keys are ignored (--keep-columns reads them)."""
    if layout.names is None:
        raise InputDataError(
            f"{where}: a JSON object needs a model that names its fields (a full BigML resource); "
            "give a JSON array of values in field order instead"
        )
    return [record.get(name) for name in layout.names]


def _check_keys(records: list[dict], layout: RowLayout, label: str) -> None:
    """Refuse JSON objects none of whose keys names an input field, as the Python API does with dicts."""
    names = list(layout.names or ())
    known = set(names)
    if records and not any(key in known for record in records for key in record):
        raise InputDataError(
            f"{label}: no key of its JSON objects names an input field; the model reads {names}"
        )


def jsonl_rows(text: str, label: str, layout: RowLayout) -> RowSource:
    rows, numbers, kept = [], [], []
    records, keyed = [], set()
    array_positions = None
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
            if layout.keep:
                if array_positions is None:
                    array_positions = _kept_positions(layout.keep, layout.names, where)
                kept.append([_at(record, c) for c in array_positions])
        elif isinstance(record, dict):
            keyed.add(len(rows))
            records.append(record)
            rows.append(_object_row(record, layout, where))
            kept.append([record.get(name) for name in layout.keep])
        else:
            raise InputDataError(f"{where}: expected a JSON array or object, got {type(record).__name__}")
        numbers.append(number)
    _check_keys(records, layout, label)
    return RowSource(
        label, rows, numbers, kept if layout.keep else None, names=layout.names, keyed=frozenset(keyed)
    )


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
