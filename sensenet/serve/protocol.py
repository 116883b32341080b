"""The Open Inference Protocol (KServe v2) in JSON: tensors in, tensors out, and the metadata
that tells a generic client how to build a request (`TENSORS`, also given in each model's metadata).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensenet import __version__
from sensenet.exceptions import InputDataError
from sensenet.serve.catalog import DETECTION, ServedModel
from sensenet.serve.rows import image_bytes
from sensenet.spec.output_names import BOXES, CLASSES, COUNT, PREDICTION, PROBABILITIES, SCORES

MATRIX_TENSOR = "matrix"
FLOAT_TYPES = ("FP16", "FP32", "FP64")
INTEGER_TYPES = ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64")
NUMBER_TYPES = FLOAT_TYPES + INTEGER_TYPES
DATATYPES = (*NUMBER_TYPES, "BYTES")
# The JSON values a tensor's elements may be (null is a missing value; a boolean is no number).
NUMBER_ELEMENTS = frozenset({int, float, type(None)})
INTEGER_ELEMENTS = frozenset({int, type(None)})
STRING_ELEMENTS = frozenset({str, type(None)})
TENSORS = """\
Inputs, either:
- one tensor per input field, named by the field's name, shape [rows] (or [rows, 1]):
  numbers (FP*/INT*/UINT*, null for missing) for numeric fields, BYTES strings for categorical
  fields, BYTES base64 strings of image files for image fields (null: missing);
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
    outputs: tuple[str, ...] | None
    id: str | None


def server_metadata() -> dict[str, Any]:
    return {"name": "sensenet", "version": __version__, "extensions": []}


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
        "versions": [],
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


def _tensor(entry: Any, position: int) -> tuple[str, str, list[int], list[Any]]:
    if not isinstance(entry, dict):
        raise InputDataError(f"inputs[{position}] must be an object with name, datatype, shape and data")
    name, datatype, shape = entry.get("name"), entry.get("datatype"), entry.get("shape")
    if not isinstance(name, str):
        raise InputDataError(f"inputs[{position}]: 'name' must be a string")
    if datatype not in DATATYPES:
        raise InputDataError(
            f"input {name!r}: 'datatype' must be one of {', '.join(DATATYPES)}, got {datatype!r}"
        )
    if not isinstance(shape, list) or not shape or not all(type(n) is int and n >= 0 for n in shape):
        raise InputDataError(f"input {name!r}: 'shape' must be a non-empty list of non-negative integers")
    data = _flat(entry.get("data"), name)
    if len(data) != math.prod(shape):
        raise InputDataError(
            f"input {name!r}: shape {shape} holds {math.prod(shape)} values, 'data' has {len(data)}"
        )
    return name, datatype, shape, data


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


def _field_values(field: Any, datatype: str, data: list[Any]) -> list[Any]:
    name = field.name
    if field.optype == "numeric":
        if datatype not in NUMBER_TYPES:
            raise InputDataError(
                f"input {name!r} is numeric: datatype {'/'.join(NUMBER_TYPES)}, got {datatype}"
            )
        _check_numbers(name, datatype, data)
        return data
    if datatype != "BYTES":
        raise InputDataError(f"input {name!r} is {field.optype}: datatype BYTES, got {datatype}")
    _check_strings(name, data)
    if field.optype == "image":
        return [image_bytes(value, f"input {name!r}, element {i}") for i, value in enumerate(data)]
    return data


def _matrix(served: ServedModel, datatype: str, shape: list[int], data: list[Any]) -> np.ndarray:
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
    _check_numbers(MATRIX_TENSOR, datatype, data)
    return np.array(data, dtype=np.float32).reshape(shape)


def _requested_outputs(body: dict, served: ServedModel) -> tuple[str, ...] | None:
    outputs = body.get("outputs")
    if outputs is None:
        return None
    known = [tensor["name"] for tensor in _output_tensors(served)]
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise InputDataError("'outputs' must be a list of objects with a 'name'")
    names = tuple(o["name"] for o in outputs)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InputDataError(
            f"unknown output(s) {', '.join(map(repr, unknown))}; outputs: {', '.join(known)}"
        )
    return names


def parse_infer(body: Any, served: ServedModel) -> InferRequest:
    """A request body -> what the worker predicts on; InputDataError names what is wrong."""
    if not isinstance(body, dict):
        raise InputDataError("the request body must be a JSON object with 'inputs'")
    entries = body.get("inputs")
    if not isinstance(entries, list) or not entries:
        raise InputDataError("'inputs' must be a non-empty list of tensors")
    request_id = body.get("id") if isinstance(body.get("id"), str) else None
    outputs = _requested_outputs(body, served)
    tensors = [_tensor(entry, i) for i, entry in enumerate(entries)]
    names = [name for name, _, _, _ in tensors]
    if len(set(names)) != len(names):
        raise InputDataError(f"input names repeat: {', '.join(names)}")
    by_name = served.fields_by_name
    if names == [MATRIX_TENSOR] and MATRIX_TENSOR not in by_name:
        _, datatype, shape, data = tensors[0]
        return InferRequest(_matrix(served, datatype, shape, data), shape[0], outputs, request_id)
    unknown = [name for name in names if name not in by_name]
    missing = [name for name in by_name if name not in names]
    if unknown or missing:
        raise InputDataError(
            f"the inputs are one tensor per field: {', '.join(by_name)}"
            + ("" if served.has_images else f" (or one {MATRIX_TENSOR!r} tensor)")
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    counts = {_rows_of(name, shape) for name, _, shape, _ in tensors}
    if len(counts) != 1:
        raise InputDataError(f"every input must have the same number of rows, got {sorted(counts)}")
    rows = counts.pop()
    if rows == 0:
        raise InputDataError("the inputs hold no rows")
    columns = {name: _field_values(by_name[name], datatype, data) for name, datatype, _, data in tensors}
    if served.kind == DETECTION:
        return InferRequest(columns[served.fields[0].name], rows, outputs, request_id)
    table: list[list[Any]] = [[None] * served.row_length for _ in range(rows)]
    for name, values in columns.items():
        index = by_name[name].index
        for row, value in zip(table, values):
            row[index] = value
    return InferRequest(table, rows, outputs, request_id)


def _tensor_out(name: str, datatype: str, array: np.ndarray) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": array.ravel().tolist()}


def _prediction_tensors(served: ServedModel, outputs: np.ndarray) -> list[dict[str, Any]]:
    if served.classes is None:
        return [_tensor_out(PREDICTION, "FP32", outputs.astype(np.float32))]
    labels = np.asarray(served.classes, dtype=object)[np.argmax(outputs, axis=1)]
    return [
        _tensor_out(PROBABILITIES, "FP32", outputs.astype(np.float32)),
        _tensor_out(PREDICTION, "BYTES", labels),
    ]


def _detection_tensors(found: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
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


def infer_response(served: ServedModel, request: InferRequest, outcome: Any) -> dict[str, Any]:
    tensors = (
        _detection_tensors(outcome) if served.kind == DETECTION else _prediction_tensors(served, outcome)
    )
    if request.outputs is not None:
        tensors = [tensor for tensor in tensors if tensor["name"] in request.outputs]
    answer: dict[str, Any] = {"model_name": served.name, "outputs": tensors}
    if request.id is not None:
        answer["id"] = request.id
    return answer
