"""The image network in ONNX ops: pixel standardisation and one function per CNN layer type.

Images are held channels-first (NCHW) inside the graph, as ONNX's Conv and
pooling ops want: each pixel input (rows, height, width, 3) is transposed
once. A `Tensor` keeps the spec's (height, width, channels) shape, and the
ops whose result depends on channel order (concatenate, split, flatten,
softmax) act on the channel axis, so every value and every flattened feature
comes out where Keras (channels-last) puts it. 'same' padding is TensorFlow's:
the odd pixel of padding goes at the bottom and right; average pooling leaves
padded pixels out of the mean.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sensenet.engines.onnx import proto
from sensenet.engines.onnx.graph import GraphBuilder, Tensor
from sensenet.engines.onnx.layers import ONNX_LAYERS, TO_CHANNELS_LAST, activate, flatten, is_image
from sensenet.spec.image_layers import (
    IMAGE_INPUT,
    Add,
    AveragePool2D,
    Concatenate,
    Convolution2D,
    DepthwiseConvolution2D,
    GlobalAveragePool2D,
    GlobalMaxPool2D,
    ImageMetadata,
    ImageNetwork,
    MaxPool2D,
    Node,
    Padding2D,
    ResidualBlock,
    SeparableConvolution2D,
    SplitChannels,
    Upsampling2D,
)
from sensenet.spec.layers import Flatten

ImageLayerBuilder = Callable[[GraphBuilder, Any, Sequence[Tensor]], Tensor]
Pair = tuple[int, int]

PIXELS_NAME = "pixels"
TO_CHANNELS_FIRST = [0, 3, 1, 2]


def _window(size: int, window: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    """(output size, padding before, padding after) along one axis, as TensorFlow computes them."""
    extent = (window - 1) * dilation + 1
    if padding == "valid":
        return (size - extent) // stride + 1, 0, 0
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + extent - size, 0)
    return out, total // 2, total - total // 2


def _window_attributes(
    x: Tensor, window: Pair, strides: Pair, dilation: Pair, padding: str
) -> tuple[Pair, dict[str, list[int]]]:
    """The output's (height, width) and the ONNX attributes of a sliding-window op."""
    rows, columns = (_window(x.shape[i], window[i], strides[i], dilation[i], padding) for i in range(2))
    attributes = {
        "kernel_shape": list(window),
        "strides": list(strides),
        "pads": [rows[1], columns[1], rows[2], columns[2]],  # top, left, bottom, right
    }
    return (rows[0], columns[0]), attributes


def _convolution(
    g: GraphBuilder,
    x: Tensor,
    kernel: np.ndarray,
    bias: np.ndarray | None,
    layer: Any,
    group: int = 1,
) -> Tensor:
    """Conv with an ONNX (filters, in_channels / group, height, width) kernel; no bias when all zero."""
    size, attributes = _window_attributes(x, kernel.shape[2:], layer.strides, layer.dilation, layer.padding)
    inputs = [x.name, g.constant(kernel)]
    if bias is not None and np.any(bias):
        inputs.append(g.constant(bias))
    y = g.op("Conv", *inputs, dilations=list(layer.dilation), group=group, **attributes)
    return Tensor(y, (*size, kernel.shape[0]))


def _depthwise_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras (h, w, channels, multiplier) to grouped-Conv (channels * multiplier, 1, h, w).

    Output channel c * multiplier + m reads input channel c, in both.
    """
    height, width, channels, multiplier = kernel.shape
    return kernel.transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, height, width)


def convolution_2d(g: GraphBuilder, layer: Convolution2D, inputs: Sequence[Tensor]) -> Tensor:
    (x,) = inputs
    y = _convolution(g, x, layer.kernel.transpose(3, 2, 0, 1), layer.bias, layer)
    return activate(g, layer.activation, y)


def depthwise_convolution_2d(
    g: GraphBuilder, layer: DepthwiseConvolution2D, inputs: Sequence[Tensor]
) -> Tensor:
    (x,) = inputs
    y = _convolution(g, x, _depthwise_kernel(layer.kernel), layer.bias, layer, group=x.shape[2])
    return activate(g, layer.activation, y)


def separable_convolution_2d(
    g: GraphBuilder, layer: SeparableConvolution2D, inputs: Sequence[Tensor]
) -> Tensor:
    (x,) = inputs
    depthwise = _convolution(g, x, _depthwise_kernel(layer.depth_kernel), None, layer, group=x.shape[2])
    point = layer.point_kernel.transpose(3, 2, 0, 1)
    operands = [depthwise.name, g.constant(point)] + ([g.constant(layer.bias)] if np.any(layer.bias) else [])
    y = g.op("Conv", *operands, kernel_shape=[1, 1])
    return activate(g, layer.activation, Tensor(y, (*depthwise.shape[:2], point.shape[0])))


def max_pool_2d(g: GraphBuilder, layer: MaxPool2D, inputs: Sequence[Tensor]) -> Tensor:
    (x,) = inputs
    size, attributes = _window_attributes(x, layer.pool_size, layer.strides, (1, 1), layer.padding)
    return Tensor(g.op("MaxPool", x.name, **attributes), (*size, x.shape[2]))


def average_pool_2d(g: GraphBuilder, layer: AveragePool2D, inputs: Sequence[Tensor]) -> Tensor:
    (x,) = inputs
    size, attributes = _window_attributes(x, layer.pool_size, layer.strides, (1, 1), layer.padding)
    return Tensor(g.op("AveragePool", x.name, count_include_pad=0, **attributes), (*size, x.shape[2]))


def _global_pool(op_type: str) -> ImageLayerBuilder:
    def build(g: GraphBuilder, layer: Any, inputs: Sequence[Tensor]) -> Tensor:
        (x,) = inputs
        return Tensor(g.op("Flatten", g.op(op_type, x.name), axis=1), (x.shape[2],))

    return build


def padding_2d(g: GraphBuilder, layer: Padding2D, inputs: Sequence[Tensor]) -> Tensor:
    (x,) = inputs
    (top, bottom), (left, right) = layer.padding
    pads = g.constant([0, 0, top, left, 0, 0, bottom, right], np.int64)
    return Tensor(
        g.op("Pad", x.name, pads), (x.shape[0] + top + bottom, x.shape[1] + left + right, x.shape[2])
    )


# Nearest repeats each pixel; bilinear is tf.image.resize's (half-pixel centres).
_RESIZE_MODES: dict[str, dict[str, str]] = {
    "nearest": {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
    "bilinear": {"mode": "linear", "coordinate_transformation_mode": "half_pixel"},
}


def upsampling_2d(g: GraphBuilder, layer: Upsampling2D, inputs: Sequence[Tensor]) -> Tensor:
    (x,) = inputs
    scales = g.constant([1.0, 1.0, *layer.size])
    y = g.op("Resize", x.name, "", scales, **_RESIZE_MODES[layer.method])
    return Tensor(y, (x.shape[0] * layer.size[0], x.shape[1] * layer.size[1], x.shape[2]))


def concatenate(g: GraphBuilder, layer: Concatenate, inputs: Sequence[Tensor]) -> Tensor:
    channels = sum(x.shape[2] for x in inputs)
    return Tensor(g.op("Concat", *(x.name for x in inputs), axis=1), (*inputs[0].shape[:2], channels))


def _sum(g: GraphBuilder, inputs: Sequence[Tensor]) -> Tensor:
    """Added left to right, as Keras' Add layer does."""
    total = inputs[0].name
    for x in inputs[1:]:
        total = g.op("Add", total, x.name)
    return Tensor(total, inputs[0].shape)


def add(g: GraphBuilder, layer: Add, inputs: Sequence[Tensor]) -> Tensor:
    return _sum(g, inputs)


def split_channels(g: GraphBuilder, layer: SplitChannels, inputs: Sequence[Tensor]) -> Tensor:
    (x,) = inputs
    group = x.shape[2] // layer.number_of_splits
    start = layer.group_index * group
    bounds = [g.constant([value], np.int64) for value in (start, start + group, 1)]
    return Tensor(g.op("Slice", x.name, *bounds), (*x.shape[:2], group))


def residual_block(g: GraphBuilder, layer: ResidualBlock, inputs: Sequence[Tensor]) -> Tensor:
    (x,) = inputs
    return activate(g, layer.activation, _sum(g, [apply_graph(g, path, x) for path in layer.paths]))


def _single_input(function: Callable[[GraphBuilder, Any, Tensor], Tensor]) -> ImageLayerBuilder:
    """A dense-network layer function used on an image network node."""
    return lambda g, layer, inputs: function(g, layer, inputs[0])


IMAGE_ONNX_LAYERS: dict[type, ImageLayerBuilder] = {
    **{kind: _single_input(function) for kind, function in ONNX_LAYERS.items()},
    Convolution2D: convolution_2d,
    DepthwiseConvolution2D: depthwise_convolution_2d,
    SeparableConvolution2D: separable_convolution_2d,
    MaxPool2D: max_pool_2d,
    AveragePool2D: average_pool_2d,
    GlobalAveragePool2D: _global_pool("GlobalAveragePool"),
    GlobalMaxPool2D: _global_pool("GlobalMaxPool"),
    Padding2D: padding_2d,
    Upsampling2D: upsampling_2d,
    Concatenate: concatenate,
    Add: add,
    SplitChannels: split_channels,
    ResidualBlock: residual_block,
}


def graph_outputs(g: GraphBuilder, nodes: Sequence[Node], x: Tensor) -> list[Tensor]:
    """Every node's output, in order; `IMAGE_INPUT` reads `x`."""
    outputs: list[Tensor] = []
    for node in nodes:
        sources = [x if i == IMAGE_INPUT else outputs[i] for i in node.inputs]
        outputs.append(IMAGE_ONNX_LAYERS[type(node.layer)](g, node.layer, sources))
    return outputs


def apply_graph(g: GraphBuilder, nodes: Sequence[Node], x: Tensor) -> Tensor:
    """The graph's last node's output (`x` itself for an empty graph, an identity path)."""
    return graph_outputs(g, nodes, x)[-1] if nodes else x


def standardize(g: GraphBuilder, metadata: ImageMetadata, pixels: Tensor) -> Tensor:
    """Channels-last RGB 0-255 pixels to the network's channels-first input.

    The steps of `ImageMetadata.standardization`, in its order.
    """
    reverse, mean, spread = metadata.standardization
    x = g.op("Transpose", pixels.name, perm=TO_CHANNELS_FIRST)
    if reverse:
        x = g.op("Gather", x, g.constant([2, 1, 0], np.int64), axis=1)
    if metadata.mean_image is not None:
        x = g.op("Sub", x, g.constant(metadata.mean_image.transpose(2, 0, 1)))
    if np.any(mean != 0):
        x = g.op("Sub", x, g.constant(mean.reshape(-1, 1, 1)))
    if np.any(spread != 1):
        x = g.op("Div", x, g.constant(spread.reshape(-1, 1, 1)))
    return Tensor(x, pixels.shape)


def channels_last(g: GraphBuilder, x: Tensor) -> Tensor:
    """`x` as Keras holds it: an image back to (rows, height, width, channels)."""
    return Tensor(g.op("Transpose", x.name, perm=TO_CHANNELS_LAST), x.shape) if is_image(x) else x


def image_features(g: GraphBuilder, network: ImageNetwork, pixels: Sequence[Tensor]) -> list[Tensor]:
    """Each pixel input's features: the network's output, flattened channels-last.

    Every image field shares the network, so all images go through it as one
    batch (fields stacked on the rows axis) and are taken apart after.
    """
    batch = pixels[0]
    if len(pixels) > 1:
        batch = Tensor(g.op("Concat", *(p.name for p in pixels), axis=0), batch.shape)
    features = flatten(g, Flatten(), apply_graph(g, network.nodes, standardize(g, network.metadata, batch)))
    if len(pixels) == 1:
        return [features]
    fields = g.op("Reshape", features.name, g.constant([len(pixels), -1, features.width], np.int64))
    first_axis = g.constant([0], np.int64)
    return [
        Tensor(
            g.op("Squeeze", g.op("Gather", fields, g.constant([i], np.int64), axis=0), first_axis),
            features.shape,
        )
        for i in range(len(pixels))
    ]


def image_network_graph(network: ImageNetwork, nodes: Sequence[int]) -> proto.ModelProto:
    """Pixels (input `PIXELS_NAME`) to the raw outputs of the image network's `nodes`.

    Output ``node_<i>`` is node i's output as Keras gives it (channels-last):
    for a detector, the YOLO heads' raw outputs that `sensenet.detection.yolo` decodes.
    """
    g = GraphBuilder()
    pixels = pixels_input(network.metadata)
    heads = node_outputs(g, network, nodes, pixels)
    return g.model_with_outputs([pixels], {node_output_name(i): head for i, head in zip(nodes, heads)})


def pixels_input(metadata: ImageMetadata) -> Tensor:
    """The graph input (`PIXELS_NAME`) of a batch of (height, width, channels) images."""
    return Tensor(PIXELS_NAME, (metadata.height, metadata.width, metadata.channels))


def node_outputs(
    g: GraphBuilder, network: ImageNetwork, nodes: Sequence[int], pixels: Tensor
) -> list[Tensor]:
    """The outputs of the network's `nodes` for `pixels`, channels-last as Keras gives them."""
    outputs = graph_outputs(g, network.nodes, standardize(g, network.metadata, pixels))
    return [channels_last(g, outputs[i]) for i in nodes]


def node_output_name(position: int) -> str:
    return f"node_{position}"
