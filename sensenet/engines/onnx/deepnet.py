"""A spec's networks as one ONNX graph: input matrix and pixels in, predictions out.

The graph takes the matrix made by `sensenet.inputs.rows` (input `INPUT_NAME`, when
the model has a non-image field) and one float32 (rows, height, width, 3) RGB
0-255 pixel batch per image field (inputs `image_input_name(i)`), and returns
class probabilities or de-normalised regression values (output ``probabilities`` or
``prediction``: `sensenet.spec.output_names`), exactly as `sensenet.engines.keras.deepnet.deepnet_model` does.
"""

from __future__ import annotations

import onnx

from sensenet.engines.onnx.encoding import input_encoding
from sensenet.engines.onnx.graph import GraphBuilder, Tensor
from sensenet.engines.onnx.image import image_features
from sensenet.engines.onnx.layers import apply_layers
from sensenet.engines.onnx.trees import tree_embedding
from sensenet.exceptions import UnsupportedError
from sensenet.settings import Settings
from sensenet.spec.inputs import ImageInput
from sensenet.spec.model import BOUNDING_BOX, REGRESSION, ModelSpec, Network
from sensenet.spec.output_names import graph_outputs

INPUT_NAME = "input_matrix"


def image_input_name(position: int) -> str:
    """The graph input holding the pixels of the model's `position`-th image field."""
    return f"image_{position}"


def graph_inputs(spec: ModelSpec) -> list[Tensor]:
    """The matrix (when the model has a non-image field), then one pixel batch per image field."""
    inputs = [Tensor(INPUT_NAME, (len(spec.numeric_inputs),))] if spec.numeric_inputs else []
    if spec.image_network is not None:
        meta = spec.image_network.metadata
        shape = (meta.height, meta.width, meta.channels)
        inputs += [Tensor(image_input_name(i), shape) for i in range(len(spec.image_inputs))]
    return inputs


def _columns(g: GraphBuilder, x: Tensor, start: int, end: int) -> Tensor:
    if (start, end) == (0, x.width):
        return x
    bounds = [g.constant([value], "int64") for value in (start, end, 1)]
    return Tensor(g.op("Slice", x.name, *bounds), (end - start,))


def _features(g: GraphBuilder, spec: ModelSpec, inputs: list[Tensor]) -> Tensor:
    """Every field's features in ``preprocess`` order: encoded columns, image network outputs."""
    if spec.image_network is None:
        return input_encoding(g, spec.numeric_inputs, inputs[0])
    encoded = input_encoding(g, spec.numeric_inputs, inputs[0]) if spec.numeric_inputs else None
    images = iter(image_features(g, spec.image_network, inputs[1:] if encoded is not None else inputs))
    parts, run_start, column = [], 0, 0
    for field in spec.inputs:
        if isinstance(field, ImageInput):
            parts += [_columns(g, encoded, run_start, column)] if encoded and column > run_start else []
            parts.append(next(images))
            run_start = column
        else:
            column += field.width
    parts += [_columns(g, encoded, run_start, column)] if encoded and column > run_start else []
    if len(parts) == 1:
        return parts[0]
    return Tensor(g.op("Concat", *(p.name for p in parts), axis=1), (sum(p.width for p in parts),))


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
    """The ONNX model computing `spec`'s predictions from the input matrix and pixels."""
    if spec.output.kind == BOUNDING_BOX:
        raise UnsupportedError(
            "this is an object detector (bounding_box output): it has no readout to predict with; "
            "run its heads with sensenet.engines.onnx.engine.OnnxImageNetwork and decode them with "
            "sensenet.detection.yolo"
        )
    g = GraphBuilder()
    inputs = graph_inputs(spec)
    features = _features(g, spec, inputs)
    outputs = [_network_output(g, network, features) for network in spec.networks]
    if spec.output.kind == REGRESSION and not settings.regression_normalize:
        stdev, mean = g.constant(spec.output.stdev), g.constant(spec.output.mean)
        outputs = [Tensor(g.op("Add", g.op("Mul", y.name, stdev), mean), y.shape) for y in outputs]
    (name,) = graph_outputs(spec.output)
    return g.model(inputs, _average(g, outputs), name)
