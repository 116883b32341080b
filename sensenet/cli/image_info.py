"""`sensenet info` for image models: the image network's metadata, layers and YOLO heads.

Layer output shapes are not kept in the spec (only the network's output
shape is), so they are found again by running the spec's own layer parsers
over the model's ``image_network`` layers in graph order.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from sensenet.spec.fields import Fields
from sensenet.spec.image_layers import (
    IMAGE_INPUT,
    IMAGE_LAYER_PARSERS,
    Convolution2D,
    DepthwiseConvolution2D,
    ImageNetwork,
    MaxPool2D,
    Node,
    Padding2D,
    ResidualBlock,
    SeparableConvolution2D,
    SplitChannels,
    Upsampling2D,
)
from sensenet.spec.layers import Activation, Shape

SHOWN_AT_EACH_END = 8  # a network of more than twice this many layers lists its first and last ones


def parameters(value: Any) -> int:
    """Every number a layer holds, nested paths of residual blocks included."""
    if isinstance(value, np.ndarray):
        return int(value.size)
    if isinstance(value, Node):
        return parameters(value.layer)
    if isinstance(value, tuple):
        return sum(parameters(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(parameters(getattr(value, f.name)) for f in dataclasses.fields(value))
    return 0


def _convolution(layer: Any) -> str:
    kernel = layer.depth_kernel if isinstance(layer, SeparableConvolution2D) else layer.kernel
    height, width = kernel.shape[:2]
    stride = "x".join(str(s) for s in layer.strides)
    return f"{height}x{width} stride {stride} {layer.padding} {layer.activation}"


# layer dataclass -> a few words on its settings, after its type
LAYER_DETAILS: dict[type, Callable[[Any], str]] = {
    Activation: lambda layer: layer.function,
    Convolution2D: _convolution,
    DepthwiseConvolution2D: _convolution,
    SeparableConvolution2D: _convolution,
    MaxPool2D: lambda layer: f"{layer.pool_size[0]}x{layer.pool_size[1]} stride {layer.strides[0]}",
    Padding2D: lambda layer: f"{layer.padding}",
    Upsampling2D: lambda layer: f"x{layer.size[0]} {layer.method}",
    SplitChannels: lambda layer: f"group {layer.group_index + 1} of {layer.number_of_splits}",
    ResidualBlock: lambda layer: (
        f"{' + '.join(str(len(path)) or 'identity' for path in layer.paths)} layers {layer.activation}"
    ),
}


def node_shapes(image_network_data: dict, network: ImageNetwork) -> tuple[list[str], list[Shape]]:
    """Each layer's type name (as BigML writes it) and output shape."""
    items = Fields(image_network_data, "image_network").children("layers")
    in_shape = (network.metadata.height, network.metadata.width, network.metadata.channels)
    kinds: list[str] = []
    shapes: list[tuple[int, ...]] = []
    for item, node in zip(items, network.nodes):
        kind = item.string("type", choices=IMAGE_LAYER_PARSERS)
        inputs = [in_shape if i == IMAGE_INPUT else shapes[i] for i in node.inputs]
        shapes.append(IMAGE_LAYER_PARSERS[kind](item, inputs)[1])
        kinds.append(kind)
    return kinds, shapes


def _layer_row(position: int, kind: str, node: Node, shape: Shape) -> str:
    details = LAYER_DETAILS.get(type(node.layer))
    name = f"{kind} {details(node.layer)}" if details else kind
    wiring = (
        "" if node.inputs == ((position - 1) if position else IMAGE_INPUT,) else f" <- {list(node.inputs)}"
    )
    return f"  {position:>4} {(name + wiring)[:52]:<52} {str(shape):<16} {parameters(node.layer):>12,}"


def describe_image_network(image_network_data: dict, network: ImageNetwork, all_layers: bool) -> list[str]:
    metadata = network.metadata
    kinds, shapes = node_shapes(image_network_data, network)
    total = parameters(network.nodes)
    lines = [
        f"image network: {metadata.base_image_network or 'custom'}"
        + (f" (version {metadata.version})" if metadata.version else "")
        + f", {len(network.nodes)} layers, {total:,} parameters",
        f"  input: {metadata.width}x{metadata.height} pixels, {metadata.channels} channels (RGB)",
        f"  loading method: {metadata.loading_method}"
        + ("; mean image subtracted" if metadata.mean_image is not None else ""),
        f"  rescale type: {metadata.rescale_type} (how an image is fitted to the input size)",
        f"  output: {network.output_shape}",
        f"  {'#':>4} {'layer':<52} {'output':<16} {'parameters':>12}",
    ]
    rows = [
        _layer_row(p, kind, node, shape)
        for p, (kind, node, shape) in enumerate(zip(kinds, network.nodes, shapes))
    ]
    if all_layers or len(rows) <= 2 * SHOWN_AT_EACH_END:
        lines.extend(rows)
    else:
        hidden = len(rows) - 2 * SHOWN_AT_EACH_END
        lines.extend(rows[:SHOWN_AT_EACH_END])
        lines.append(f"  {'':>4} ... {hidden} more layers (--all-layers lists them) ...")
        lines.extend(rows[-SHOWN_AT_EACH_END:])
    counts = Counter(kinds)
    lines.append("  layer types: " + ", ".join(f"{kind} x{count}" for kind, count in counts.most_common()))
    for number, head in enumerate(metadata.heads, start=1):
        anchors = ", ".join(f"{int(w)}x{int(h)}" for w, h in head.anchors)
        lines.append(
            f"  YOLO head {number}: layer {head.layer} {shapes[head.layer]}, stride {head.stride}, "
            f"xyscale {head.xyscale:g}, anchors {anchors}"
        )
    return lines
