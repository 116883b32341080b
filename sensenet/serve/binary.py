"""The binary tensor data extension of the Open Inference Protocol (as Triton and KServe define it).

A body may carry a JSON header followed by raw tensor bytes: the ``Inference-Header-Content-Length``
header gives the JSON's length, each binary input names its byte count in
``parameters.binary_data_size`` and its bytes follow in input order. Numbers are little-endian
in their native size, row-major; a BYTES element is a 4-byte little-endian length and the bytes.
Answers use the same layout for the outputs a request asks in binary.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from sensenet.exceptions import InputDataError

HEADER_LENGTH = "inference-header-content-length"
EXTENSION = "binary_tensor_data"
SIZE_PARAMETER = "binary_data_size"
# The datatypes the server reads and writes, with their little-endian numpy types (BYTES: objects).
NUMPY_TYPES = {
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
    "INT8": "i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
}
LENGTH = struct.Struct("<I")


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """(JSON header, binary part) of a body; without the header, all of it is JSON."""
    view = memoryview(body)
    if header_length is None:
        return body, view[len(body) :]
    if not header_length.isdigit() or not 0 < int(header_length) <= len(body):
        raise InputDataError(
            f"Inference-Header-Content-Length must be the JSON header's length in bytes, between 1 "
            f"and the body's {len(body)}; got {header_length[:40]!r}"
        )
    length = int(header_length)
    return body[:length], view[length:]


class BinaryData:
    """The binary part of a request, handed out to the inputs in order."""

    def __init__(self, data: memoryview):
        self.data = data
        self.offset = 0

    def take(self, name: str, size: Any) -> memoryview:
        if type(size) is not int or size < 0:
            raise InputDataError(
                f"input {name!r}: {SIZE_PARAMETER} must be a non-negative integer, got {size!r}"
            )
        left = len(self.data) - self.offset
        if size > left:
            raise InputDataError(
                f"input {name!r} declares {size} bytes of binary data; the body has {left} left"
            )
        self.offset += size
        return self.data[self.offset - size : self.offset]

    def check_used(self) -> None:
        left = len(self.data) - self.offset
        if left:
            raise InputDataError(
                f"the body has {left} bytes after the binary data the inputs declare "
                f"(sum of their {SIZE_PARAMETER})"
            )


def decode(
    name: str, datatype: str, shape: list[int], raw: memoryview | bytes, sized_by: str = SIZE_PARAMETER
) -> np.ndarray | list[bytes]:
    """One input's elements: a flat array of numbers, or a list of bytes for BYTES. `sized_by` is
    what gave the length of `raw` (named when it disagrees with the shape)."""
    count = math.prod(shape)
    if datatype == "BYTES":
        return _decode_bytes(name, count, raw)
    itemsize = np.dtype(NUMPY_TYPES[datatype]).itemsize
    if len(raw) != count * itemsize:
        raise InputDataError(
            f"input {name!r}: shape {shape} of {datatype} is {count * itemsize} bytes, "
            f"{sized_by} says {len(raw)}"
        )
    return np.frombuffer(raw, dtype=NUMPY_TYPES[datatype])


def _decode_bytes(name: str, count: int, raw: memoryview | bytes) -> list[bytes]:
    elements: list[bytes] = []
    offset = 0
    while offset < len(raw) and len(elements) < count:
        if offset + LENGTH.size > len(raw):
            raise InputDataError(f"input {name!r}, element {len(elements)}: its 4-byte length is cut short")
        (length,) = LENGTH.unpack_from(raw, offset)
        offset += LENGTH.size
        if offset + length > len(raw):
            raise InputDataError(
                f"input {name!r}, element {len(elements)}: declares {length} bytes, "
                f"{len(raw) - offset} are left in its binary data"
            )
        elements.append(bytes(raw[offset : offset + length]))
        offset += length
    if len(elements) != count or offset != len(raw):
        raise InputDataError(
            f"input {name!r}: its shape holds {count} BYTES elements, its binary data "
            f"({len(raw)} bytes) holds {len(elements)}" + ("" if offset == len(raw) else " and more bytes")
        )
    return elements


def encode(datatype: str, array: np.ndarray) -> bytes:
    """An output's elements as binary data."""
    if datatype != "BYTES":
        return np.ascontiguousarray(array, dtype=NUMPY_TYPES[datatype]).tobytes()
    parts: list[bytes] = []
    for value in array.ravel():
        data = value if isinstance(value, bytes) else str(value).encode()
        parts += (LENGTH.pack(len(data)), data)
    return b"".join(parts)
