"""A spec's networks as one ONNX graph: input matrix in, predictions out.

The graph takes the matrix made by `sensenet.load` (input `INPUT_NAME`) and
returns class probabilities or de-normalised regression values (output
`OUTPUT_NAME`), exactly as `sensenet.models.deepnet.deepnet_model` does.
"""

from __future__ import annotations

import onnx

from sensenet.models.settings import Settings
from sensenet.runtime.encoding import input_encoding
from sensenet.runtime.graph import GraphBuilder, Tensor
from sensenet.runtime.layers import apply_layers
from sensenet.runtime.trees import tree_embedding
from sensenet.spec.model import REGRESSION, ModelSpec, Network

INPUT_NAME = "input_matrix"
OUTPUT_NAME = "predictions"


def _network_output(g: GraphBuilder, network: Network, features: Tensor) -> Tensor:
    x = features
    if network.trees is not None:
        trees = tree_embedding(g, network.trees, features)
        x = Tensor(g.op("Concat", trees.name, features.name, axis=1), (trees.width + features.width,))
    return apply_layers(g, network.layers, x)


def _average(g: GraphBuilder, outputs: list[Tensor]) -> Tensor:
    """Sum then divide, as Keras' Average layer does."""
    if len(outputs) == 1:
        return outputs[0]
    total = g.op("Sum", *(y.name for y in outputs))
    return Tensor(g.op("Div", total, g.constant(float(len(outputs)))), outputs[0].shape)


def deepnet_graph(spec: ModelSpec, settings: Settings) -> onnx.ModelProto:
    """The ONNX model computing `spec`'s predictions from the input matrix."""
    g = GraphBuilder()
    inputs = Tensor(INPUT_NAME, (len(spec.numeric_inputs),))
    features = input_encoding(g, spec.numeric_inputs, inputs)
    outputs = [_network_output(g, network, features) for network in spec.networks]
    if spec.output.kind == REGRESSION and not settings.regression_normalize:
        stdev, mean = g.constant(spec.output.stdev), g.constant(spec.output.mean)
        outputs = [Tensor(g.op("Add", g.op("Mul", y.name, stdev), mean), y.shape) for y in outputs]
    return g.model([inputs], _average(g, outputs), OUTPUT_NAME)
