"""The Open Inference Protocol (KServe v2): tensors in, tensors out, and the metadata that tells a
generic client how to build a request (`TENSORS`, also given in each model's metadata).

Tensors travel in JSON or, with the binary tensor data extension (`binary`), as raw bytes after
the JSON header. The schedule policy extension's `timeout` gives a request a deadline. The
extensions the server does not implement are refused by name when a request uses them
(`UNSUPPORTED`), never misread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensenet._version import __version__
from sensenet.exceptions import InputDataError
from sensenet.serve import binary
from sensenet.serve.catalog import DETECTION, VERSION, ServedModel
from sensenet.serve.rows import image_bytes
from sensenet.spec.output_names import BOXES, CLASSES, COUNT, PREDICTION, PROBABILITIES, SCORES

MATRIX_TENSOR = "matrix"
FLOAT_TYPES = ("FP16", "FP32", "FP64")
INTEGER_TYPES = ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64")
NUMBER_TYPES = FLOAT_TYPES + INTEGER_TYPES
DATATYPES = (*NUMBER_TYPES, "BYTES")
OTHER_DATATYPES = ("BOOL", "BF16")  # the protocol's, which no field of a deepnet takes
SCHEDULE_POLICY = "schedule_policy"  # of it, the request's `timeout` (microseconds), not `priority`
EXTENSIONS = [binary.EXTENSION, "statistics", SCHEDULE_POLICY]
TIMEOUT = "timeout"
# Parameters the server does not implement -> what they belong to, by where they appear in a
# request.
UNSUPPORTED = {
    "request": {
        "sequence_id": "the sequence extension",
        "sequence_start": "the sequence extension",
        "sequence_end": "the sequence extension",
        "priority": "priority levels (of the schedule policy extension, whose timeout is supported)",
    },
    "input": {"shared_memory_region": "the shared memory extension"},
    "output": {
        "shared_memory_region": "the shared memory extension",
        "classification": "the classification extension",
    },
}
# The JSON values a tensor's elements may be (null is a missing value; a boolean is no number).
NUMBER_ELEMENTS = frozenset({int, float, type(None)})
INTEGER_ELEMENTS = frozenset({int, type(None)})
STRING_ELEMENTS = frozenset({str, type(None)})
TENSORS = """\
Inputs, either:
- one tensor per input field, named by the field's name, shape [rows] (or [rows, 1]):
  numbers (FP*/INT*/UINT*, null for missing) for numeric fields, BYTES strings for categorical
  fields, BYTES base64 strings of image files for image fields (null: missing);
  (in binary tensor data an image element is the file's bytes as they are, and an empty
  element is missing);
- or, for a model without image fields, one FP32 tensor matrix of shape [rows, columns]:
  the encoded matrix, a column per non-image field in field order, numbers as they are (NaN or
  null for missing) and categories as the position of the value in the field's values (-1
  for missing).

Outputs: classifiers probabilities (FP32 [rows, classes], in classes order) and
prediction (BYTES [rows]); regressions prediction (FP32 [rows, 1]). A detector
takes images as its one BYTES input (one image per element) and answers, per image, count
(INT32 [images]) and, padded to the largest count of the request, boxes (FP32
[images, objects, 4], x1 y1 x2 y2 in pixels of the original image, origin top left),
scores (FP32 [images, objects]) and classes (BYTES [images, objects], the class names);
padding is zeros and empty names.
"""
IMAGE_CONTENT = "base64 of an image file's bytes (JPEG, PNG, GIF, TIFF, BMP, WebP); null is a missing image"


@dataclass(frozen=True)
class InferRequest:
    item: Any  # rows, an encoded matrix, or a detector's images
    rows: int
    outputs: dict[str, bool] | None  # the outputs asked for -> whether in binary; None: all
    id: str | None
    binary_outputs: bool = False  # how the outputs not named in `outputs` travel
    timeout: float | None = None  # seconds the client gives it to start (schedule policy); None: default


@dataclass(frozen=True)
class InputTensor:
    """An input as a transport decoded it: its elements a list of JSON values, or (binary data,
    gRPC) an array of numbers or a list of bytes."""

    name: str
    datatype: str
    shape: list[int]
    data: Any


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str
    array: np.ndarray


def server_metadata() -> dict[str, Any]:
    return {"name": "sensenet", "version": __version__, "extensions": EXTENSIONS}


def _field_tensor(field: Any) -> dict[str, Any]:
    parameters: dict[str, Any] = {"optype": field.optype, "index": field.index}
    if field.id is not None:
        parameters["field_id"] = field.id
    if field.optype == "categorical":
        parameters["values"] = list(field.values)
    if field.optype == "image":
        parameters["content"] = IMAGE_CONTENT
    datatype = "FP32" if field.optype == "numeric" else "BYTES"
    return {"name": field.name, "datatype": datatype, "shape": [-1], "parameters": parameters}


def _output_tensors(served: ServedModel) -> list[dict[str, Any]]:
    if served.kind == DETECTION:
        return [
            {"name": COUNT, "datatype": "INT32", "shape": [-1]},
            {"name": BOXES, "datatype": "FP32", "shape": [-1, -1, 4]},
            {"name": SCORES, "datatype": "FP32", "shape": [-1, -1]},
            {"name": CLASSES, "datatype": "BYTES", "shape": [-1, -1]},
        ]
    if served.classes is not None:
        return [
            {"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, len(served.classes)]},
            {"name": PREDICTION, "datatype": "BYTES", "shape": [-1]},
        ]
    return [{"name": PREDICTION, "datatype": "FP32", "shape": [-1, 1]}]


def model_metadata(served: ServedModel) -> dict[str, Any]:
    """The OIP metadata, with parameters saying what the protocol's types leave open."""
    parameters: dict[str, Any] = {"kind": served.kind, "tensors": " ".join(TENSORS.split())}
    if served.classes is not None:
        parameters["classes"] = served.classes
    if not served.has_images:
        parameters["matrix_input"] = {
            "name": MATRIX_TENSOR,
            "datatype": "FP32",
            "shape": [-1, served.matrix_width],
            "columns": [f.name for f in served.fields],
        }
    return {
        "name": served.name,
        "versions": [VERSION],
        "platform": "sensenet",
        "inputs": [_field_tensor(f) for f in served.fields],
        "outputs": _output_tensors(served),
        "parameters": parameters,
    }


def _flat(data: Any, name: str) -> list[Any]:
    """OIP data: row-major, flat or nested lists."""
    if not isinstance(data, list):
        raise InputDataError(f"input {name!r}: 'data' must be a list, got {type(data).__name__}")
    if list not in map(type, data):
        return data
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            flat.append(value)
        else:
            stack.pop()
    return flat


def check_parameters(parameters: Any, where: str, kind: str) -> dict[str, Any]:
    """The parameters of a request, input or output (`kind`); those of an extension not served are
    refused."""
    if not isinstance(parameters, dict):
        raise InputDataError(f"{where}: 'parameters' must be an object")
    for key, extension in UNSUPPORTED[kind].items():
        if key in parameters:
            raise InputDataError(
                f"{where}: parameter {key!r} belongs to {extension}, which this server "
                f"does not support (extensions: {', '.join(EXTENSIONS)})"
            )
    return parameters


def check_header(name: str, datatype: Any, shape: Any) -> tuple[str, list[int]]:
    """What any input tensor must be, whatever the transport: a datatype the server reads and a
    shape of non-negative integers (returned as they are)."""
    if datatype in OTHER_DATATYPES:
        raise InputDataError(
            f"input {name!r}: datatype {datatype} is not supported; inputs are {', '.join(DATATYPES)}"
        )
    if datatype not in DATATYPES:
        raise InputDataError(
            f"input {name!r}: 'datatype' must be one of {', '.join(DATATYPES)}, got {datatype!r}"
        )
    if not isinstance(shape, list) or not shape or not all(type(n) is int and n >= 0 for n in shape):
        raise InputDataError(f"input {name!r}: 'shape' must be a non-empty list of non-negative integers")
    return datatype, shape


def check_count(name: str, shape: list[int], count: int, holder: str) -> None:
    """A tensor's elements must fill its shape."""
    if count != math.prod(shape):
        raise InputDataError(
            f"input {name!r}: shape {shape} holds {math.prod(shape)} values, {holder} has {count}"
        )


def _tensor(entry: Any, position: int, data_after: binary.BinaryData) -> InputTensor:
    """An input of a JSON request (its elements a flat list, or from binary data an array of
    numbers or a list of bytes)."""
    if not isinstance(entry, dict):
        raise InputDataError(f"inputs[{position}] must be an object with name, datatype, shape and data")
    name = entry.get("name")
    if not isinstance(name, str):
        raise InputDataError(f"inputs[{position}]: 'name' must be a string")
    datatype, shape = check_header(name, entry.get("datatype"), entry.get("shape"))
    parameters = check_parameters(entry.get("parameters", {}), f"input {name!r}", "input")
    if binary.SIZE_PARAMETER in parameters:
        if "data" in entry:
            raise InputDataError(f"input {name!r}: both 'data' and {binary.SIZE_PARAMETER}; send one")
        raw = data_after.take(name, parameters[binary.SIZE_PARAMETER])
        return InputTensor(name, datatype, shape, binary.decode(name, datatype, shape, raw))
    data = _flat(entry.get("data"), name)
    check_count(name, shape, len(data), "'data'")
    return InputTensor(name, datatype, shape, data)


def _check_numbers(name: str, datatype: str, data: list[Any]) -> None:
    allowed = INTEGER_ELEMENTS if datatype in INTEGER_TYPES else NUMBER_ELEMENTS
    if not all(type(value) in allowed for value in data):
        i, value = next((i, value) for i, value in enumerate(data) if type(value) not in allowed)
        raise InputDataError(f"input {name!r}, element {i}: {value!r} is not a {datatype} number")


def _check_strings(name: str, data: list[Any]) -> None:
    if not all(type(value) in STRING_ELEMENTS for value in data):
        i, value = next((i, value) for i, value in enumerate(data) if type(value) not in STRING_ELEMENTS)
        raise InputDataError(f"input {name!r}, element {i}: a BYTES element is a string, got {value!r}")


def _rows_of(name: str, shape: list[int]) -> int:
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise InputDataError(f"input {name!r}: one value per row, shape [rows] or [rows, 1]; got {shape}")
    return shape[0]


def _field_values(field: Any, datatype: str, data: Any) -> list[Any]:
    name = field.name
    if field.optype == "numeric":
        if datatype not in NUMBER_TYPES:
            raise InputDataError(
                f"input {name!r} is numeric: datatype {'/'.join(NUMBER_TYPES)}, got {datatype}"
            )
        if isinstance(data, np.ndarray):  # binary: numbers by construction, NaN for missing
            return data.tolist()
        _check_numbers(name, datatype, data)
        return data
    if datatype != "BYTES":
        raise InputDataError(f"input {name!r} is {field.optype}: datatype BYTES, got {datatype}")
    if data and type(data[0]) is bytes:  # binary: every element is bytes
        return _binary_values(field, data)
    _check_strings(name, data)
    if field.optype == "image":
        return [image_bytes(value, f"input {name!r}, element {i}") for i, value in enumerate(data)]
    return data


def _binary_values(field: Any, data: list[bytes]) -> list[Any]:
    """BYTES elements from binary data: an image file's bytes or UTF-8 text; empty is missing."""
    if field.optype == "image":
        return [value or None for value in data]
    try:
        return [value.decode() or None for value in data]
    except UnicodeDecodeError:
        i = next(i for i, value in enumerate(data) if not _is_utf8(value))
        raise InputDataError(f"input {field.name!r}, element {i}: a category is UTF-8 text") from None


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True


def _matrix(served: ServedModel, datatype: str, shape: list[int], data: Any) -> np.ndarray:
    if served.has_images:
        raise InputDataError(
            f"model {served.name!r} reads images: send one tensor per field, not {MATRIX_TENSOR!r}"
        )
    width = served.matrix_width
    if len(shape) != 2 or shape[1] != width:
        raise InputDataError(
            f"input {MATRIX_TENSOR!r}: shape [rows, {width}] (a column per field), got {shape}"
        )
    if datatype not in NUMBER_TYPES:
        raise InputDataError(f"input {MATRIX_TENSOR!r}: a numeric datatype (FP32), got {datatype}")
    if not isinstance(data, np.ndarray):
        _check_numbers(MATRIX_TENSOR, datatype, data)
    return np.asarray(data, dtype=np.float32).reshape(shape)


def _binary_flag(parameters: dict, key: str, where: str) -> bool:
    value = parameters.get(key, False)
    if type(value) is not bool:
        raise InputDataError(f"{where}: parameter {key!r} must be true or false, got {value!r}")
    return value


def _requested_outputs(body: dict, served: ServedModel, binary_outputs: bool) -> dict[str, bool] | None:
    """The outputs a JSON request asks for, each with whether it goes back in binary."""
    outputs = body.get("outputs")
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise InputDataError("'outputs' must be a list of objects with a 'name'")
    check_outputs(served, [output["name"] for output in outputs])
    requested = {}
    for output in outputs:
        where = f"output {output['name']!r}"
        parameters = check_parameters(output.get("parameters", {}), where, "output")
        requested[output["name"]] = (
            _binary_flag(parameters, "binary_data", where) if "binary_data" in parameters else binary_outputs
        )
    return requested


def check_outputs(served: ServedModel, names: list[str]) -> None:
    """The outputs a request names must be the model's."""
    known = [tensor["name"] for tensor in _output_tensors(served)]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InputDataError(
            f"unknown output(s) {', '.join(map(repr, unknown))}; outputs: {', '.join(known)}"
        )


def parse_infer(body: Any, served: ServedModel, data_after: memoryview) -> InferRequest:
    """A request's JSON header and the binary data after it -> what the worker predicts on;
    InputDataError names what is wrong."""
    if not isinstance(body, dict):
        raise InputDataError("the request body must be a JSON object with 'inputs'")
    entries = body.get("inputs")
    if not isinstance(entries, list) or not entries:
        raise InputDataError("'inputs' must be a non-empty list of tensors")
    request_id = body.get("id") if isinstance(body.get("id"), str) else None
    parameters = check_parameters(body.get("parameters", {}), "the request", "request")
    binary_outputs = _binary_flag(parameters, "binary_data_output", "the request")
    timeout = request_timeout(parameters)
    outputs = _requested_outputs(body, served, binary_outputs)
    data = binary.BinaryData(data_after)
    tensors = [_tensor(entry, i, data) for i, entry in enumerate(entries)]
    data.check_used()
    return infer_request(served, tensors, outputs, request_id, binary_outputs, timeout)


def infer_request(
    served: ServedModel,
    tensors: list[InputTensor],
    outputs: dict[str, bool] | None,
    request_id: str | None,
    binary_outputs: bool = False,
    timeout: float | None = None,
) -> InferRequest:
    """The inputs of a request, however they travelled -> what the worker predicts on: one
    `matrix` tensor, or one tensor per field."""
    names = [tensor.name for tensor in tensors]
    if len(set(names)) != len(names):
        raise InputDataError(f"input names repeat: {', '.join(names)}")
    by_name = served.fields_by_name
    if names == [MATRIX_TENSOR] and MATRIX_TENSOR not in by_name:
        (tensor,) = tensors
        matrix = _matrix(served, tensor.datatype, tensor.shape, tensor.data)
        return InferRequest(matrix, tensor.shape[0], outputs, request_id, binary_outputs, timeout)
    unknown = [name for name in names if name not in by_name]
    missing = [name for name in by_name if name not in names]
    if unknown or missing:
        raise InputDataError(
            f"the inputs are one tensor per field: {', '.join(by_name)}"
            + ("" if served.has_images else f" (or one {MATRIX_TENSOR!r} tensor)")
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    counts = {_rows_of(tensor.name, tensor.shape) for tensor in tensors}
    if len(counts) != 1:
        raise InputDataError(f"every input must have the same number of rows, got {sorted(counts)}")
    rows = counts.pop()
    if rows == 0:
        raise InputDataError("the inputs hold no rows")
    columns = {t.name: _field_values(by_name[t.name], t.datatype, t.data) for t in tensors}
    if served.kind == DETECTION:
        return InferRequest(
            columns[served.fields[0].name], rows, outputs, request_id, binary_outputs, timeout
        )
    table: list[list[Any]] = [[None] * served.row_length for _ in range(rows)]
    for name, values in columns.items():
        index = by_name[name].index
        for row, value in zip(table, values):
            row[index] = value
    return InferRequest(table, rows, outputs, request_id, binary_outputs, timeout)


def request_timeout(parameters: dict) -> float | None:
    """The schedule policy's `timeout`: microseconds, 0 or absent for the server's default."""
    value = parameters.get(TIMEOUT, 0)
    if type(value) is not int or value < 0:
        raise InputDataError(
            f"the request: parameter {TIMEOUT!r} is a whole number of microseconds (0: the server's "
            f"default), got {value!r}"
        )
    return value / 1_000_000 if value else None


def _tensor_out(name: str, datatype: str, array: np.ndarray) -> Tensor:
    return Tensor(name, datatype, array)


def _prediction_tensors(served: ServedModel, outputs: np.ndarray) -> list[Tensor]:
    if served.classes is None:
        return [_tensor_out(PREDICTION, "FP32", outputs.astype(np.float32))]
    labels = np.asarray(served.classes, dtype=object)[np.argmax(outputs, axis=1)]
    return [
        _tensor_out(PROBABILITIES, "FP32", outputs.astype(np.float32)),
        _tensor_out(PREDICTION, "BYTES", labels),
    ]


def _detection_tensors(found: list[list[dict[str, Any]]]) -> list[Tensor]:
    width = max((len(objects) for objects in found), default=0)
    count = np.array([len(objects) for objects in found], dtype=np.int32)
    boxes = np.zeros((len(found), width, 4), np.float32)
    scores = np.zeros((len(found), width), np.float32)
    labels = np.full((len(found), width), "", dtype=object)
    for i, objects in enumerate(found):
        for j, obj in enumerate(objects):
            boxes[i, j], scores[i, j], labels[i, j] = obj["box"], obj["score"], obj["label"]
    return [
        _tensor_out(COUNT, "INT32", count),
        _tensor_out(BOXES, "FP32", boxes),
        _tensor_out(SCORES, "FP32", scores),
        _tensor_out(CLASSES, "BYTES", labels),
    ]


def _encoded(tensor: Tensor, in_binary: bool, chunks: list[bytes]) -> dict[str, Any]:
    """A tensor's JSON; in binary, its bytes go to `chunks` and the JSON says how many."""
    answer: dict[str, Any] = {
        "name": tensor.name,
        "datatype": tensor.datatype,
        "shape": list(tensor.array.shape),
    }
    if in_binary:
        chunks.append(binary.encode(tensor.datatype, tensor.array))
        answer["parameters"] = {binary.SIZE_PARAMETER: len(chunks[-1])}
    else:
        answer["data"] = tensor.array.ravel().tolist()
    return answer


def output_tensors(served: ServedModel, request: InferRequest, outcome: Any) -> list[Tensor]:
    """The outputs a request asked for (all when it named none), in the model's order."""
    tensors = (
        _detection_tensors(outcome) if served.kind == DETECTION else _prediction_tensors(served, outcome)
    )
    if request.outputs is None:
        return tensors
    return [tensor for tensor in tensors if tensor.name in request.outputs]


def infer_response(
    served: ServedModel, request: InferRequest, outcome: Any
) -> tuple[dict[str, Any], list[bytes]]:
    """The answer's JSON and the binary data that follows it (in the order of its outputs)."""
    wanted = request.outputs
    chunks: list[bytes] = []
    outputs = [
        _encoded(t, request.binary_outputs if wanted is None else wanted[t.name], chunks)
        for t in output_tensors(served, request, outcome)
    ]
    answer: dict[str, Any] = {"model_name": served.name, "outputs": outputs}
    if request.id is not None:
        answer["id"] = request.id
    return answer, chunks
