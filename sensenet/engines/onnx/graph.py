"""A small ONNX graph under construction: nodes, constants and unique tensor names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensenet.engines.onnx import proto
from sensenet.engines.onnx.proto import TensorProto

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
        self.nodes: list[proto.NodeProto] = []
        self.initializers: list[proto.TensorProto] = []
        self._names = 0

    def _name(self, stem: str) -> str:
        self._names += 1
        return f"{stem}_{self._names}"

    def constant(self, value: Any, dtype: Any = np.float32) -> str:
        """A constant tensor (an initializer) holding `value` as `dtype`."""
        name = self._name("const")
        self.initializers.append(proto.from_array(np.ascontiguousarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        """Add one node with a single output and return that output's name."""
        output = self._name(op_type.lower())
        self.nodes.append(proto.make_node(op_type, inputs, [output], **attributes))
        return output

    def model(self, inputs: Sequence[Tensor], output: Tensor, output_name: str) -> proto.ModelProto:
        """The finished model; `output` is renamed `output_name` through an Identity node."""
        return self.model_with_outputs(inputs, {output_name: output})

    def model_with_outputs(self, inputs: Sequence[Tensor], outputs: Mapping[str, Tensor]) -> proto.ModelProto:
        """The finished model with several outputs, each renamed to its key."""
        self.rename(outputs)
        return self.finish(
            [_value_info(tensor.name, tensor.shape) for tensor in inputs],
            [_value_info(name, tensor.shape) for name, tensor in outputs.items()],
        )

    def rename(self, outputs: Mapping[str, Tensor | str]) -> None:
        """Identity nodes giving each tensor (or tensor name) the name it is keyed by."""
        for name, tensor in outputs.items():
            source = tensor if isinstance(tensor, str) else tensor.name
            self.nodes.append(proto.make_node("Identity", [source], [name]))

    def finish(
        self, inputs: Sequence[proto.ValueInfoProto], outputs: Sequence[proto.ValueInfoProto]
    ) -> proto.ModelProto:
        """The model of the nodes and constants so far, for the graph inputs and outputs given."""
        graph = proto.make_graph(self.nodes, "sensenet", inputs, outputs, initializer=self.initializers)
        opsets = [proto.make_opsetid("", OPSET)]
        return proto.make_model(graph, opset_imports=opsets, ir_version=IR_VERSION, producer_name="sensenet")


def _value_info(name: str, shape: tuple[int, ...]) -> proto.ValueInfoProto:
    return proto.make_tensor_value_info(name, TensorProto.FLOAT, ["rows", *shape])
