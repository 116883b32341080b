"""The few ONNX protobuf messages sensenet emits, written without the `onnx` package.

`onnx` imports `ml_dtypes`, whose import alone can cost more than a whole
prediction; a graph for onnxruntime needs only the wire format (varints and
length-delimited fields), so the engine and the ONNX export build their
graphs here. The names and signatures are those of the subset of
`onnx.helper`, `onnx.numpy_helper` and `onnx.TensorProto` they use, and the
bytes are those `onnx` writes for the same calls (proto2: fields in number
order, repeated scalars unpacked; the tests compare both). Field numbers are
onnx.proto's.
"""

from __future__ import annotations

import numbers
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

Chunks = list[bytes]

_VARINT, _FIXED32, _BYTES = 0, 5, 2


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # a negative int64 as its two's complement, as protobuf writes it
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _int(number: int, value: int) -> Chunks:
    return [_key(number, _VARINT), _varint(value)]


def _float(number: int, value: float) -> Chunks:
    return [_key(number, _FIXED32), struct.pack("<f", value)]


def _bytes(number: int, value: bytes | str) -> Chunks:
    data = value.encode() if isinstance(value, str) else value
    return [_key(number, _BYTES), _varint(len(data)), data]


def _nested(number: int, chunks: Chunks) -> Chunks:
    """A nested message's fields: kept as chunks, so large weights are copied once, at the end."""
    return [_key(number, _BYTES), _varint(sum(map(len, chunks))), *chunks]


def _message(number: int, message: Any) -> Chunks:
    return _nested(number, message.chunks())


def _dimension(number: int, value: int | str | None) -> Chunks:
    """A TensorShapeProto.Dimension: dim_value (1), dim_param (2) or neither (unknown)."""
    if value is None:
        return _nested(number, [])
    return _nested(number, _bytes(2, value) if isinstance(value, str) else _int(1, value))


def _all(write: Callable[[int, Any], Chunks], number: int, values: Iterable[Any]) -> Chunks:
    return [chunk for value in values for chunk in write(number, value)]


class _Message:
    def chunks(self) -> Chunks:
        raise NotImplementedError

    def SerializeToString(self) -> bytes:  # noqa: N802 (onnx's name)
        return b"".join(self.chunks())


@dataclass
class TensorProto(_Message):
    """A constant tensor; its values little-endian in `raw_data`."""

    FLOAT: ClassVar[int] = 1
    UINT8: ClassVar[int] = 2
    INT8: ClassVar[int] = 3
    INT32: ClassVar[int] = 6
    INT64: ClassVar[int] = 7
    STRING: ClassVar[int] = 8
    BOOL: ClassVar[int] = 9
    DOUBLE: ClassVar[int] = 11

    dims: list[int]
    data_type: int
    raw_data: bytes
    name: str = ""

    def chunks(self) -> Chunks:
        name = _bytes(8, self.name) if self.name else []
        return [*_all(_int, 1, self.dims), *_int(2, self.data_type), *name, *_bytes(9, self.raw_data)]


@dataclass
class AttributeProto(_Message):
    """A node attribute: one number, string or list of one kind (`make_attribute` infers it)."""

    FLOAT: ClassVar[int] = 1
    INT: ClassVar[int] = 2
    STRING: ClassVar[int] = 3
    FLOATS: ClassVar[int] = 6
    INTS: ClassVar[int] = 7
    STRINGS: ClassVar[int] = 8

    name: str
    type: int
    value: Any

    def chunks(self) -> Chunks:
        number, write, repeated = _ATTRIBUTE_VALUES[self.type]
        value = _all(write, number, self.value) if repeated else write(number, self.value)
        return [*_bytes(1, self.name), *value, *_int(20, self.type)]


# attribute type -> the value's field number, its writer, whether it holds a list
_ATTRIBUTE_VALUES: dict[int, tuple[int, Callable[[int, Any], Chunks], bool]] = {
    AttributeProto.FLOAT: (2, _float, False),
    AttributeProto.INT: (3, _int, False),
    AttributeProto.STRING: (4, _bytes, False),
    AttributeProto.FLOATS: (7, _float, True),
    AttributeProto.INTS: (8, _int, True),
    AttributeProto.STRINGS: (9, _bytes, True),
}


@dataclass
class NodeProto(_Message):
    """One operator: its type, input and output tensor names, attributes and (other than ONNX's) domain."""

    op_type: str
    input: list[str]
    output: list[str]
    attribute: list[AttributeProto] = field(default_factory=list)
    name: str = ""
    domain: str | None = None

    def chunks(self) -> Chunks:
        return [
            *_all(_bytes, 1, self.input),
            *_all(_bytes, 2, self.output),
            *(_bytes(3, self.name) if self.name else []),
            *_bytes(4, self.op_type),
            *_all(_message, 5, self.attribute),
            *(_bytes(7, self.domain) if self.domain is not None else []),
        ]


@dataclass
class ValueInfoProto(_Message):
    """A graph input or output: name, element type and shape (ints fixed, strings symbolic)."""

    name: str
    elem_type: int
    shape: list[int | str | None] | None

    def chunks(self) -> Chunks:
        # TypeProto (2) > tensor_type (1) > elem_type (1), shape (2) > dim (1): written inline
        shape = _nested(2, _all(_dimension, 1, self.shape)) if self.shape is not None else []
        tensor_type = _nested(1, [*_int(1, self.elem_type), *shape])
        return [*_bytes(1, self.name), *_nested(2, tensor_type)]


@dataclass
class OperatorSetIdProto(_Message):
    """The version of an operator domain the graph uses ("" is ONNX's own)."""

    domain: str
    version: int

    def chunks(self) -> Chunks:
        return [*_bytes(1, self.domain), *_int(2, self.version)]


@dataclass
class StringStringEntryProto(_Message):
    """A metadata entry of the model."""

    key: str
    value: str

    def chunks(self) -> Chunks:
        return [*_bytes(1, self.key), *_bytes(2, self.value)]


@dataclass
class GraphProto(_Message):
    """The nodes in order, their constants (initializers), the graph's inputs and outputs."""

    node: list[NodeProto]
    name: str
    input: list[ValueInfoProto]
    output: list[ValueInfoProto]
    initializer: list[TensorProto] = field(default_factory=list)

    def chunks(self) -> Chunks:
        return [
            *_all(_message, 1, self.node),
            *_bytes(2, self.name),
            *_all(_message, 5, self.initializer),
            *_all(_message, 11, self.input),
            *_all(_message, 12, self.output),
        ]


@dataclass
class ModelProto(_Message):
    """The graph with the IR version and operator sets it is written for, and metadata."""

    graph: GraphProto
    ir_version: int
    opset_import: list[OperatorSetIdProto]
    producer_name: str = ""
    metadata_props: list[StringStringEntryProto] = field(default_factory=list)

    def chunks(self) -> Chunks:
        return [
            *_int(1, self.ir_version),
            *(_bytes(2, self.producer_name) if self.producer_name else []),
            *_message(7, self.graph),
            *_all(_message, 8, self.opset_import),
            *_all(_message, 14, self.metadata_props),
        ]


# numpy dtype name -> TensorProto data type
_DATA_TYPES = {
    "float32": TensorProto.FLOAT,
    "uint8": TensorProto.UINT8,
    "int8": TensorProto.INT8,
    "int32": TensorProto.INT32,
    "int64": TensorProto.INT64,
    "bool": TensorProto.BOOL,
    "float64": TensorProto.DOUBLE,
}


def from_array(array: np.ndarray, name: str = "") -> TensorProto:
    """`onnx.numpy_helper.from_array` for the numeric types above."""
    if array.dtype.name not in _DATA_TYPES:
        raise ValueError(f"cannot write a {array.dtype} tensor: only {', '.join(_DATA_TYPES)}")
    raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return TensorProto(list(array.shape), _DATA_TYPES[array.dtype.name], raw, name)


def make_attribute(name: str, value: Any) -> AttributeProto:
    """As `onnx.helper.make_attribute`: the type inferred from the value (a list's from its items)."""
    if isinstance(value, numbers.Integral):
        return AttributeProto(name, AttributeProto.INT, int(value))
    if isinstance(value, numbers.Real):
        return AttributeProto(name, AttributeProto.FLOAT, float(value))
    if isinstance(value, str | bytes):
        return AttributeProto(name, AttributeProto.STRING, value)
    items = list(value)
    if items and all(isinstance(item, numbers.Integral) for item in items):
        return AttributeProto(name, AttributeProto.INTS, [int(item) for item in items])
    if items and all(isinstance(item, numbers.Real) for item in items):
        return AttributeProto(name, AttributeProto.FLOATS, [float(item) for item in items])
    if items and all(isinstance(item, str | bytes) for item in items):
        return AttributeProto(name, AttributeProto.STRINGS, items)
    raise ValueError(f"cannot write attribute {name!r} = {value!r}: not a number, string or list of one")


def make_node(
    op_type: str, inputs: Sequence[str], outputs: Sequence[str], domain: str | None = None, **attributes: Any
) -> NodeProto:
    """As `onnx.helper.make_node`: attributes sorted by name, None ones left out."""
    attribute = [make_attribute(key, value) for key, value in sorted(attributes.items()) if value is not None]
    return NodeProto(op_type, list(inputs), list(outputs), attribute, domain=domain)


def make_tensor_value_info(
    name: str, elem_type: int, shape: Sequence[int | str | None] | None
) -> ValueInfoProto:
    """A tensor of `elem_type`; `shape` None for an unknown rank, a dimension None for an unknown size."""
    dims = None if shape is None else [d if d is None or isinstance(d, str) else int(d) for d in shape]
    return ValueInfoProto(name, elem_type, dims)


def make_graph(
    nodes: Sequence[NodeProto],
    name: str,
    inputs: Sequence[ValueInfoProto],
    outputs: Sequence[ValueInfoProto],
    initializer: Sequence[TensorProto] = (),
) -> GraphProto:
    return GraphProto(list(nodes), name, list(inputs), list(outputs), list(initializer))


def make_opsetid(domain: str, version: int) -> OperatorSetIdProto:
    return OperatorSetIdProto(domain, version)


def make_model(
    graph: GraphProto, opset_imports: Sequence[OperatorSetIdProto], ir_version: int, producer_name: str = ""
) -> ModelProto:
    return ModelProto(graph, ir_version, list(opset_imports), producer_name)
