"""A self-contained ONNX graph: one input per field, BigML's encoding inside the graph.

The engine's graph (`sensenet.engines.onnx.deepnet`) takes the input matrix that
`sensenet.inputs.rows` builds in Python: categories as positions, NaN missing. Here
that matrix is built inside the graph instead, so any ONNX runtime serves the
file from raw values with no code of ours. Each non-image field becomes an
input named by the field (`FieldInfo.name`: BigML's name, or ``field_<index>``):

- numeric: float32 ``(rows, 1)``, NaN for missing (the field's mean after
  standardising, as in Python);
- categorical: string ``(rows, 1)``; an ``ai.onnx.ml`` ``LabelEncoder`` gives
  the category's position, -1 for an unknown or missing ("") value, which the
  engine's one-hot turns into BigML's all-zero vector.

Those columns are concatenated in ``preprocess`` order into the tensor the
engine's graph reads as its matrix; image inputs stay the engine's pixel
inputs. The graph records the fields and classes in its metadata (key
``sensenet``, JSON; see `sensenet.export.description`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sensenet.engines.onnx.deepnet import INPUT_NAME
from sensenet.engines.onnx.proto import (
    GraphProto,
    ModelProto,
    StringStringEntryProto,
    TensorProto,
    make_node,
    make_opsetid,
    make_tensor_value_info,
)
from sensenet.export.description import model_description, non_image_fields, unique_name

ML_DOMAIN = "ai.onnx.ml"
ML_OPSET = 2  # LabelEncoder with string keys and float values
METADATA_KEY = "sensenet"


def _used_names(graph: GraphProto) -> set[str]:
    names = {value.name for value in [*graph.input, *graph.output]} | {t.name for t in graph.initializer}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    return names


def with_field_inputs(model: Any, engine_model: ModelProto) -> tuple[ModelProto, list[str]]:
    """`engine_model` (the engine's graph of `model`) taking one input per field instead of the matrix.

    Also returns the field inputs' names, in ``preprocess`` order.
    """
    graph = engine_model.graph
    fields = non_image_fields(model)
    taken = _used_names(graph)
    names = [unique_name(field.name, field.index, taken) for field in fields]
    nodes, inputs, columns = [], [], []
    for field, name in zip(fields, names):
        if field.optype == "categorical":
            inputs.append(make_tensor_value_info(name, TensorProto.STRING, ["rows", 1]))
            column = unique_name(f"{name}_position", field.index, taken)
            nodes.append(
                make_node(
                    "LabelEncoder",
                    [name],
                    [column],
                    domain=ML_DOMAIN,
                    keys_strings=list(field.values),
                    values_floats=[float(i) for i in range(len(field.values))],
                    default_float=-1.0,
                )
            )
            columns.append(column)
        else:
            inputs.append(make_tensor_value_info(name, TensorProto.FLOAT, ["rows", 1]))
            columns.append(name)
    nodes.append(make_node("Concat", columns, [INPUT_NAME], axis=1))

    kept_inputs = [value for value in graph.input if value.name != INPUT_NAME]
    fields_graph = dataclasses.replace(graph, input=inputs + kept_inputs, node=nodes + graph.node)
    opsets = [*engine_model.opset_import, make_opsetid(ML_DOMAIN, ML_OPSET)]
    result = dataclasses.replace(engine_model, graph=fields_graph, opset_import=opsets)
    return result, names


def add_description(model: Any, onnx_model: ModelProto, inputs: dict[str, Any]) -> None:
    """Record the fields, classes and what each input carries in the metadata (key ``sensenet``)."""
    outputs = [value.name for value in onnx_model.graph.output]
    description = json.dumps(model_description(model, inputs, outputs))
    onnx_model.metadata_props.append(StringStringEntryProto(METADATA_KEY, description))
