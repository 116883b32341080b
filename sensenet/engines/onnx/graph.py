"""A small ONNX graph under construction: nodes, constants and unique tensor names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17; onnxruntime reads it everywhere


@dataclass(frozen=True)
class Tensor:
    """A tensor in the graph: its name and its shape without the batch dimension."""

    name: str
    shape: tuple[int, ...]

    @property
    def width(self) -> int:
        return self.shape[-1]


class GraphBuilder:
    """Collects nodes and initializers in order, then wraps them into a model."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names = 0

    def _name(self, stem: str) -> str:
        self._names += 1
        return f"{stem}_{self._names}"

    def constant(self, value: Any, dtype: Any = np.float32) -> str:
        """A constant tensor (an initializer) holding `value` as `dtype`."""
        name = self._name("const")
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        """Add one node with a single output and return that output's name."""
        output = self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attributes))
        return output

    def model(self, inputs: Sequence[Tensor], output: Tensor, output_name: str) -> onnx.ModelProto:
        """The finished model; `output` is renamed `output_name` through an Identity node."""
        return self.model_with_outputs(inputs, {output_name: output})

    def model_with_outputs(self, inputs: Sequence[Tensor], outputs: Mapping[str, Tensor]) -> onnx.ModelProto:
        """The finished model with several outputs, each renamed to its key."""
        for name, tensor in outputs.items():
            self.nodes.append(helper.make_node("Identity", [tensor.name], [name]))
        graph = helper.make_graph(
            self.nodes,
            "sensenet",
            [_value_info(tensor.name, tensor.shape) for tensor in inputs],
            [_value_info(name, tensor.shape) for name, tensor in outputs.items()],
            initializer=self.initializers,
        )
        return helper.make_model(
            graph,
            producer_name="sensenet",
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
        )


def _value_info(name: str, shape: tuple[int, ...]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["rows", *shape])
