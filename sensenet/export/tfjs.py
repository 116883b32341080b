"""TensorFlow.js graph-model export, written directly (no ``tensorflowjs`` package).

The format is small and documented by TF.js itself: ``model.json`` holds the
frozen GraphDef as JSON (``modelTopology``), the input/output ``signature``
and a ``weightsManifest`` naming every constant with its shape and dtype;
the constants' bytes follow one another, little-endian, in binary shards.
Writing it here avoids the ``tensorflowjs`` converter, which cannot be
installed beside TensorFlow 2.21 with its declared dependencies and imports
private TensorFlow modules. Loaded with `@tensorflow/tfjs` 4.22 in Node.js
(see tests/js/predict.js).

A detector's model is its detector graph on network-size pixels
(`sensenet.export.detector_graph`), input ``pixels``, with outputs in the
order boxes, classes, count, scores; TF.js runs its NonMaxSuppression only
through ``executeAsync``.

Self-contained on request (``self_contained=True``): one input per non-image
field as the TFLite export has them (`sensenet.export.graph`), categories as
string tensors, the fields' values stored as string weights (each a uint32
little-endian length, then its UTF-8 bytes, as TF.js reads them).

Beside the model, ``sensenet.json`` (`sensenet.export.description`) names the
fields, classes, image size and rescale type, and which input is the matrix
and which the pixels: what a page needs to encode a form or an image file for
the graph (examples/web does).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sensenet._version import __version__
from sensenet.exceptions import UnsupportedError
from sensenet.export.description import model_description
from sensenet.export.detector_graph import IMAGE_SIZE_INPUT
from sensenet.export.graph import MATRIX_INPUT, field_input_names, frozen_function, takes_field_inputs
from sensenet.spec.output_names import graph_outputs

MODEL_FILE = "model.json"
DESCRIPTION_FILE = "sensenet.json"
SHARD_BYTES = 4 * 1024 * 1024
# numpy dtype of a constant -> (TF.js dtype, the dtype it is stored as). TF.js has no int64.
_WEIGHT_DTYPES = {
    np.dtype("float32"): ("float32", np.dtype("<f4")),
    np.dtype("int32"): ("int32", np.dtype("<i4")),
    np.dtype("int64"): ("int32", np.dtype("<i4")),
    np.dtype("bool"): ("bool", np.dtype("bool")),
}


def _take_weights(graph_def: Any) -> tuple[list[dict], bytes]:
    """Move every Const node's value out of the graph into (manifest entries, bytes)."""
    from sensenet.engines.keras.backend import tf

    entries, chunks = [], []
    for node in graph_def.node:
        if node.op != "Const":
            continue
        value = tf.make_ndarray(node.attr["value"].tensor)
        if value.dtype == object:  # strings: each as its uint32 little-endian length, then its bytes
            del node.attr["value"]
            entries.append({"name": node.name, "shape": list(value.shape), "dtype": "string"})
            chunks.append(b"".join(np.uint32(len(b)).astype("<u4").tobytes() + b for b in value.ravel()))
            continue
        if value.dtype not in _WEIGHT_DTYPES:
            raise UnsupportedError(f"constant {node.name} has dtype {value.dtype}, which TF.js cannot hold")
        tfjs_dtype, stored = _WEIGHT_DTYPES[value.dtype]
        if value.dtype == np.int64:
            if np.any(np.abs(value) > np.iinfo(np.int32).max):
                raise UnsupportedError(f"constant {node.name} does not fit the int32 TF.js uses for int64")
            node.attr["dtype"].type = tf.int32.as_datatype_enum
        del node.attr["value"]
        entries.append({"name": node.name, "shape": list(value.shape), "dtype": tfjs_dtype})
        chunks.append(np.ascontiguousarray(value, dtype=stored).tobytes())
    return entries, b"".join(chunks)


def _tensor_signature(tensor: Any) -> dict:
    from tensorflow.core.framework.types_pb2 import DataType

    dims = [{"size": str(-1 if size is None else size)} for size in tensor.shape.as_list()]
    dtype = DataType.Name(tensor.dtype.as_datatype_enum)
    return {"name": tensor.name, "dtype": dtype, "tensorShape": {"dim": dims}}


def _signature(function: Any) -> dict:
    def entries(tensors: Any) -> Any:
        return {tensor.name.split(":")[0]: _tensor_signature(tensor) for tensor in tensors}

    return {"inputs": entries(function.inputs), "outputs": entries(function.outputs)}


def _output_names(model: Any) -> list[str]:
    """What each output is, in the order TF.js returns them (a detector's: its dict's keys, sorted)."""
    return sorted(graph_outputs(model.spec.output))


def write_tfjs(model: Any, path: Path, self_contained: bool = False) -> None:
    from google.protobuf import json_format

    function = frozen_function(model, field_inputs=self_contained)
    graph_def = function.graph.as_graph_def()
    weights, data = _take_weights(graph_def)
    shards = max(1, -(-len(data) // SHARD_BYTES))
    names = [f"group1-shard{i + 1}of{shards}.bin" for i in range(shards)]
    path.mkdir()
    for i, name in enumerate(names):
        (path / name).write_bytes(data[i * SHARD_BYTES : (i + 1) * SHARD_BYTES])
    signature = _signature(function)
    document = {
        "format": "graph-model",
        "generatedBy": "sensenet",
        "convertedBy": f"sensenet {__version__}",
        "modelTopology": json_format.MessageToDict(graph_def),
        "signature": signature,
        "weightsManifest": [{"paths": names, "weights": weights}],
    }
    (path / MODEL_FILE).write_text(json.dumps(document))
    names = [name for name in signature["inputs"] if name != IMAGE_SIZE_INPUT]
    if takes_field_inputs(model, self_contained):
        fields = field_input_names(model)
        inputs: dict[str, Any] = {"fields": fields, "images": [name for name in names if name not in fields]}
    else:
        matrix = MATRIX_INPUT if MATRIX_INPUT in names else None
        inputs = {"matrix": matrix, "images": [name for name in names if name != MATRIX_INPUT]}
    if IMAGE_SIZE_INPUT in signature["inputs"]:
        inputs["image_size"] = IMAGE_SIZE_INPUT
    description = model_description(model, inputs, _output_names(model))
    (path / DESCRIPTION_FILE).write_text(json.dumps(description, indent=1))
