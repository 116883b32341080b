"""The image network of a BigML deepnet: CNN layers wired into a graph, and its metadata.

An image network is a list of layers; each reads the outputs of earlier
layers named by position in its ``inputs`` list (absent: the previous layer,
or the image for the first layer). Shapes are (height, width, channels) and
are checked as they flow through. Weights are numpy arrays, given inline or
generated from an initializer name (the pretrained topologies name them).
Everything here is plain data, so any engine can be built from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensenet.limits import MAX_IMAGE_SIDE, MAX_KERNEL_SIZE, MAX_LAYER_ELEMENTS, MAX_LAYER_WIDTH, Limit
from sensenet.spec.detection import YoloHead, parse_yolo_heads
from sensenet.spec.fields import Fields, shown
from sensenet.spec.layers import (
    LAYER_PARSERS,
    Shape,
    activation_name,
    weight,
)

IMAGE_INPUT = -1  # a node input that reads the network's input image (or a block's input)
PADDINGS = ("same", "valid")
UPSAMPLING_METHODS = ("nearest", "bilinear")
RESCALE_TYPES = ("warp", "pad", "crop")

CAFFE_MEAN = (103.939, 116.779, 123.68)  # in BGR order
TORCH_MEAN = tuple(255.0 * c for c in (0.485, 0.456, 0.406))
TORCH_STD = tuple(255.0 * c for c in (0.229, 0.224, 0.225))

# loading_method -> (reverse RGB to BGR, subtracted, divisor), as BigML's networks were trained
STANDARDIZERS: dict[str, tuple[bool, Any, Any]] = {
    "none": (False, 0.0, 1.0),
    "normalizing": (False, 0.0, 255.0),
    "centering": (False, 127.5, 127.5),
    "skewed_centering": (False, 128.0, 128.0),
    "channelwise_centering": (True, CAFFE_MEAN, 1.0),
    "channelwise_standardizing": (False, TORCH_MEAN, TORCH_STD),
}


@dataclass(frozen=True, eq=False)
class Convolution2D:
    kernel: np.ndarray  # (kernel_height, kernel_width, in_channels, filters)
    bias: np.ndarray  # (filters,), zeros when the model has none
    strides: tuple[int, int]
    padding: str
    dilation: tuple[int, int]
    activation: str


@dataclass(frozen=True, eq=False)
class DepthwiseConvolution2D:
    kernel: np.ndarray  # (kernel_height, kernel_width, in_channels, depth_multiplier)
    bias: np.ndarray  # (in_channels * depth_multiplier,)
    strides: tuple[int, int]
    padding: str
    dilation: tuple[int, int]
    activation: str


@dataclass(frozen=True, eq=False)
class SeparableConvolution2D:
    """A depthwise convolution, then a 1x1 convolution, then the bias and activation."""

    depth_kernel: np.ndarray  # (kernel_height, kernel_width, in_channels, depth_multiplier)
    point_kernel: np.ndarray  # (1, 1, in_channels * depth_multiplier, filters)
    bias: np.ndarray  # (filters,)
    strides: tuple[int, int]
    padding: str
    dilation: tuple[int, int]
    activation: str


@dataclass(frozen=True)
class MaxPool2D:
    pool_size: tuple[int, int]
    strides: tuple[int, int]
    padding: str


@dataclass(frozen=True)
class AveragePool2D:
    """Averages only the pixels inside the image when padding is 'same' (as TF and Keras do)."""

    pool_size: tuple[int, int]
    strides: tuple[int, int]
    padding: str


@dataclass(frozen=True)
class GlobalAveragePool2D:
    pass


@dataclass(frozen=True)
class GlobalMaxPool2D:
    pass


@dataclass(frozen=True)
class Padding2D:
    """Zero padding: ((top, bottom), (left, right))."""

    padding: tuple[tuple[int, int], tuple[int, int]]


@dataclass(frozen=True)
class Upsampling2D:
    """Resize by whole factors: 'nearest' repeats pixels, 'bilinear' as `tf.image.resize`."""

    size: tuple[int, int]
    method: str


@dataclass(frozen=True)
class Concatenate:
    """Join the inputs along the channel axis, in `inputs` order."""


@dataclass(frozen=True)
class Add:
    pass


@dataclass(frozen=True)
class SplitChannels:
    """Cut the channels into `number_of_splits` equal groups and keep group `group_index`."""

    number_of_splits: int
    group_index: int


@dataclass(frozen=True)
class Node:
    """One layer of a graph and the positions of the earlier nodes it reads."""

    layer: Any
    inputs: tuple[int, ...]


@dataclass(frozen=True)
class ResidualBlock:
    """activation(sum of each path applied to the block's input).

    Every path is a small graph of `Node`s whose `IMAGE_INPUT` is the block's
    input; an empty path is the identity. BigML's xception_block, resnet_block,
    resnet18_block, darknet_residual_block and mobilenet_residual_block all
    have this form; `kind` keeps the name.
    """

    kind: str
    paths: tuple[tuple[Node, ...], ...]
    activation: str


@dataclass(frozen=True, eq=False)
class ImageMetadata:
    height: int
    width: int
    channels: int
    loading_method: str
    mean_image: np.ndarray | None  # (height, width, channels), subtracted from the raw pixels
    rescale_type: str
    base_image_network: str | None
    version: str | None
    heads: tuple[YoloHead, ...]  # a detector's YOLO heads; empty for a feature network

    @property
    def output_nodes(self) -> tuple[int, ...]:
        """The node positions whose raw outputs a detector decodes."""
        return tuple(head.layer for head in self.heads)

    @property
    def standardization(self) -> tuple[bool, np.ndarray, np.ndarray]:
        """How RGB 0-255 pixels become the network's input: (reverse, mean, spread).

        In order: reverse the channels to BGR if `reverse`, subtract
        `mean_image` (when given), subtract `mean`, divide by `spread`
        (`mean` and `spread` are per channel or scalars; 0 and 1 mean skip).
        """
        reverse, mean, spread = STANDARDIZERS[self.loading_method]
        return reverse, np.asarray(mean, np.float32), np.asarray(spread, np.float32)


@dataclass(frozen=True, eq=False)
class ImageNetwork:
    """The CNN every image field runs through; its last node gives the image's features."""

    metadata: ImageMetadata
    nodes: tuple[Node, ...]
    output_shape: Shape
    node_shapes: tuple[Shape, ...] = ()  # each node's output shape (empty when read from a bundle)

    @property
    def feature_width(self) -> int:
        """How many features one image contributes to the readout's input vector."""
        return int(np.prod(self.output_shape))


ImageLayerParser = Callable[[Fields, list[Shape]], tuple[Any, Shape]]


def _one_input(fields: Fields, shapes: list[Shape]) -> Shape:
    if len(shapes) != 1:
        raise fields.error("inputs", f"this layer reads exactly one input, got {len(shapes)}")
    return shapes[0]


def _image_input(fields: Fields, shapes: list[Shape]) -> Shape:
    shape = _one_input(fields, shapes)
    if len(shape) != 3:
        raise fields.error("type", f"needs an image-shaped (height, width, channels) input, got {shape}")
    return shape


def _pair(fields: Fields, key: str, default: Any = None, limit: Limit = MAX_KERNEL_SIZE) -> tuple[int, int]:
    value = fields.raw(key, default)
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise fields.error(key, f"expected two whole numbers >= 1 (or one for both axes), got {shown(value)}")
    if max(value) > limit.value():
        raise fields.error(key, limit.exceeded("the size", max(value)))
    return int(value[0]), int(value[1])


def _window_output(size: int, window: int, stride: int, dilation: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    return (size - (window - 1) * dilation - 1) // stride + 1


def _spatial_output(
    fields: Fields,
    shape: Shape,
    window: tuple[int, int],
    strides: Sequence[int],
    dilation: Sequence[int],
    padding: str,
) -> tuple[int, int]:
    height, width = (_window_output(shape[i], window[i], strides[i], dilation[i], padding) for i in range(2))
    if min(height, width) < 1:
        raise fields.error(
            "type", f"a {window[0]}x{window[1]} window ('valid' padding) does not fit an input of {shape[:2]}"
        )
    return height, width


def _window_settings(fields: Fields) -> tuple[tuple[int, int], str, tuple[int, int]]:
    strides = _pair(fields, "strides", [1, 1])
    padding = fields.string("padding", choices=PADDINGS, default="valid")
    dilation = _pair(fields, "dilation_rate", [1, 1])
    if dilation != (1, 1) and strides != (1, 1):
        raise fields.error("dilation_rate", "a dilated convolution must have strides [1, 1]")
    return strides, padding, dilation


def _kernel(fields: Fields, key: str, in_channels: int, last: int | None) -> np.ndarray:
    """A (h, w, in_channels, last) kernel; when named, `kernel_dimensions` gives h and w."""
    value = fields.raw(key)
    if isinstance(value, str):
        height, width = _pair(fields, "kernel_dimensions")
        if last is None:
            raise fields.error(key, "a kernel given by initializer name needs 'number_of_filters'")
        return weight(fields, key, (height, width, in_channels, last))
    try:
        height, width, last_given = len(value), len(value[0]), len(value[0][0][0])
    except (TypeError, IndexError, KeyError):
        raise fields.error(
            key, "expected a 4-D kernel (height, width, input channels, outputs) or an initializer name"
        ) from None
    return weight(fields, key, (height, width, in_channels, last_given if last is None else last))


def _bias(fields: Fields, width: int) -> np.ndarray:
    return weight(fields, "bias", (width,), default="zeros")


def parse_convolution_2d(fields: Fields, shapes: list[Shape]) -> tuple[Convolution2D, Shape]:
    shape = _image_input(fields, shapes)
    filters = fields.integer("number_of_filters", minimum=1, default=None, limit=MAX_LAYER_WIDTH)
    kernel = _kernel(fields, "kernel", shape[2], filters)
    strides, padding, dilation = _window_settings(fields)
    out = _spatial_output(fields, shape, kernel.shape[:2], strides, dilation, padding)
    layer = Convolution2D(
        kernel, _bias(fields, kernel.shape[3]), strides, padding, dilation, activation_name(fields)
    )
    return layer, (*out, kernel.shape[3])


def _depth_multiplier(fields: Fields) -> int:
    return fields.integer("depth_multiplier", minimum=1, default=1, limit=MAX_LAYER_WIDTH)


def parse_depthwise_convolution_2d(
    fields: Fields, shapes: list[Shape]
) -> tuple[DepthwiseConvolution2D, Shape]:
    shape = _image_input(fields, shapes)
    kernel = _kernel(fields, "kernel", shape[2], _depth_multiplier(fields))
    strides, padding, dilation = _window_settings(fields)
    out = _spatial_output(fields, shape, kernel.shape[:2], strides, dilation, padding)
    channels = shape[2] * kernel.shape[3]
    layer = DepthwiseConvolution2D(
        kernel, _bias(fields, channels), strides, padding, dilation, activation_name(fields)
    )
    return layer, (*out, channels)


def parse_separable_convolution_2d(
    fields: Fields, shapes: list[Shape]
) -> tuple[SeparableConvolution2D, Shape]:
    shape = _image_input(fields, shapes)
    depth_kernel = _kernel(fields, "depth_kernel", shape[2], _depth_multiplier(fields))
    middle = shape[2] * depth_kernel.shape[3]
    filters = fields.integer("number_of_filters", minimum=1, default=None, limit=MAX_LAYER_WIDTH)
    if isinstance(fields.raw("point_kernel"), str):
        if filters is None:
            raise fields.error("point_kernel", "a kernel given by initializer name needs 'number_of_filters'")
        point_kernel = weight(fields, "point_kernel", (1, 1, middle, filters))
    else:
        point_kernel = fields.array("point_kernel", (1, 1, middle, None))
    strides, padding, dilation = _window_settings(fields)
    out = _spatial_output(fields, shape, depth_kernel.shape[:2], strides, dilation, padding)
    filters = point_kernel.shape[3]
    layer = SeparableConvolution2D(
        depth_kernel,
        point_kernel,
        _bias(fields, filters),
        strides,
        padding,
        dilation,
        activation_name(fields),
    )
    return layer, (*out, filters)


def _pool(kind: type) -> ImageLayerParser:
    def parse(fields: Fields, shapes: list[Shape]) -> tuple[Any, Shape]:
        shape = _image_input(fields, shapes)
        pool_size = _pair(fields, "pool_size", [2, 2])
        strides = _pair(fields, "strides", list(pool_size))
        padding = fields.string("padding", choices=PADDINGS, default="valid")
        out = _spatial_output(fields, shape, pool_size, strides, (1, 1), padding)
        return kind(pool_size, strides, padding), (*out, shape[2])

    return parse


def _global_pool(kind: type) -> ImageLayerParser:
    def parse(fields: Fields, shapes: list[Shape]) -> tuple[Any, Shape]:
        return kind(), (_image_input(fields, shapes)[2],)

    return parse


def parse_padding_2d(fields: Fields, shapes: list[Shape]) -> tuple[Padding2D, Shape]:
    shape = _image_input(fields, shapes)
    value = fields.raw("padding")
    if isinstance(value, int) and not isinstance(value, bool):
        value = [[value, value], [value, value]]
    elif isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        value = [[value[0], value[0]], [value[1], value[1]]]
    valid = (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(pair, list) and len(pair) == 2 for pair in value)
        and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_IMAGE_SIDE.value()
            for pair in value
            for v in pair
        )
    )
    if not valid:
        raise fields.error(
            "padding",
            f"expected [[top, bottom], [left, right]] whole numbers from 0 to {MAX_IMAGE_SIDE.value()} "
            f"({MAX_IMAGE_SIDE.variable}), got {shown(value)}",
        )
    (top, bottom), (left, right) = value
    return Padding2D(((top, bottom), (left, right))), (
        shape[0] + top + bottom,
        shape[1] + left + right,
        shape[2],
    )


def parse_upsampling_2d(fields: Fields, shapes: list[Shape]) -> tuple[Upsampling2D, Shape]:
    shape = _image_input(fields, shapes)
    size = _pair(fields, "size", [2, 2])
    method = fields.string("method", choices=UPSAMPLING_METHODS, default="nearest")
    return Upsampling2D(size, method), (shape[0] * size[0], shape[1] * size[1], shape[2])


def _many_image_inputs(fields: Fields, shapes: list[Shape]) -> None:
    if len(shapes) < 2:
        raise fields.error("inputs", f"this layer joins two or more inputs, got {len(shapes)}")
    if any(len(shape) != 3 for shape in shapes):
        raise fields.error("inputs", f"expected image-shaped inputs, got shapes {shapes}")


def parse_concatenate(fields: Fields, shapes: list[Shape]) -> tuple[Concatenate, Shape]:
    _many_image_inputs(fields, shapes)
    if len({shape[:2] for shape in shapes}) != 1:
        raise fields.error("inputs", f"inputs must share height and width, got shapes {shapes}")
    return Concatenate(), (*shapes[0][:2], sum(shape[2] for shape in shapes))


def parse_add(fields: Fields, shapes: list[Shape]) -> tuple[Add, Shape]:
    if len(shapes) < 2:
        raise fields.error("inputs", f"'add' needs two or more inputs, got {len(shapes)}")
    if len(set(shapes)) != 1:
        raise fields.error("inputs", f"inputs to 'add' must have equal shapes, got {shapes}")
    return Add(), shapes[0]


def parse_split_channels(fields: Fields, shapes: list[Shape]) -> tuple[SplitChannels, Shape]:
    shape = _image_input(fields, shapes)
    splits = fields.integer("number_of_splits", minimum=1)
    group = fields.integer("group_index", minimum=0)
    if shape[2] % splits:
        raise fields.error("number_of_splits", f"{shape[2]} channels do not split into {splits} equal groups")
    if group >= splits:
        raise fields.error("group_index", f"must be below number_of_splits ({splits}), got {group}")
    return SplitChannels(splits, group), (*shape[:2], shape[2] // splits)


def _from_sequential(parser: Callable[[Fields, Shape], tuple[Any, Shape]]) -> ImageLayerParser:
    """A dense-network layer parser (one input shape) used inside an image network."""

    def parse(fields: Fields, shapes: list[Shape]) -> tuple[Any, Shape]:
        return parser(fields, _one_input(fields, shapes))

    return parse


def _block(kind: str, path_keys: tuple[str, str]) -> ImageLayerParser:
    def parse(fields: Fields, shapes: list[Shape]) -> tuple[ResidualBlock, Shape]:
        shape = _one_input(fields, shapes)
        paths, out_shapes = [], []
        for key in path_keys:
            nodes, out_shape = parse_graph(fields.children(key, default=[]), shape)
            paths.append(nodes)
            out_shapes.append(out_shape)
        if out_shapes[0] != out_shapes[1]:
            raise fields.error(
                path_keys[0],
                f"gives shape {out_shapes[0]} but {path_keys[1]} gives {out_shapes[1]}; they must match",
            )
        return ResidualBlock(kind, tuple(paths), activation_name(fields)), out_shapes[0]

    return parse


_CONVOLUTION_PATHS = ("convolution_path", "identity_path")

IMAGE_LAYER_PARSERS: dict[str, ImageLayerParser] = {
    **{name: _from_sequential(parser) for name, parser in LAYER_PARSERS.items()},
    "convolution_2d": parse_convolution_2d,
    "depthwise_convolution_2d": parse_depthwise_convolution_2d,
    "separable_convolution_2d": parse_separable_convolution_2d,
    "max_pool_2d": _pool(MaxPool2D),
    "average_pool_2d": _pool(AveragePool2D),
    "global_average_pool_2d": _global_pool(GlobalAveragePool2D),
    "global_max_pool_2d": _global_pool(GlobalMaxPool2D),
    "padding_2d": parse_padding_2d,
    "upsampling_2d": parse_upsampling_2d,
    "concatenate": parse_concatenate,
    "add": parse_add,
    "split_channels": parse_split_channels,
    "xception_block": _block("xception_block", ("separable_convolution_path", "single_convolution_path")),
    "resnet_block": _block("resnet_block", _CONVOLUTION_PATHS),
    "resnet18_block": _block("resnet18_block", _CONVOLUTION_PATHS),
    "darknet_residual_block": _block("darknet_residual_block", _CONVOLUTION_PATHS),
    "mobilenet_residual_block": _block("mobilenet_residual_block", _CONVOLUTION_PATHS),
}


def _node_inputs(fields: Fields, position: int) -> tuple[int, ...]:
    """Positions this node reads: its ``inputs``, else the previous node (or the input)."""
    value = fields.raw("inputs", None)
    if value is None:
        return (position - 1 if position > 0 else IMAGE_INPUT,)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise fields.error(
            "inputs", f"expected a non-empty list of earlier layer positions, got {shown(value)}"
        )
    for source in value:
        if not 0 <= source < position:
            raise fields.error(
                "inputs", f"layer {position} can only read earlier layers (0 to {position - 1}), got {source}"
            )
    return tuple(value)


def parse_graph(items: Sequence[Fields], in_shape: Shape) -> tuple[tuple[Node, ...], Shape]:
    """Parse layers wired by ``inputs``; the graph's output is its last node's."""
    nodes, shapes = _parse_graph_shapes(items, in_shape)
    return nodes, (shapes[-1] if shapes else in_shape)


def _parse_graph_shapes(items: Sequence[Fields], in_shape: Shape) -> tuple[tuple[Node, ...], list[Shape]]:
    """The nodes and each node's output shape."""
    nodes: list[Node] = []
    shapes: list[Shape] = []
    for position, fields in enumerate(items):
        kind = fields.string("type", choices=IMAGE_LAYER_PARSERS)
        inputs = _node_inputs(fields, position)
        layer, shape = IMAGE_LAYER_PARSERS[kind](
            fields, [in_shape if i == IMAGE_INPUT else shapes[i] for i in inputs]
        )
        _check_output_size(fields, shape)
        nodes.append(Node(layer, inputs))
        shapes.append(shape)
    return tuple(nodes), shapes


def _check_output_size(fields: Fields, shape: Shape) -> None:
    """A layer's output must fit the limits before any engine allocates it."""
    if len(shape) == 3 and max(shape[:2]) > MAX_IMAGE_SIDE.value():
        raise fields.error(
            "type", f"output shape {shape}: " + MAX_IMAGE_SIDE.exceeded("a side", max(shape[:2]))
        )
    elements = int(np.prod(shape, dtype=object))
    if elements > MAX_LAYER_ELEMENTS.value():
        raise fields.error(
            "type", f"output shape {shape}: " + MAX_LAYER_ELEMENTS.exceeded("its size", elements)
        )


def parse_image_metadata(fields: Fields, layer_count: int) -> ImageMetadata:
    shape = fields.raw("input_image_shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape)
    ):
        raise fields.error(
            "input_image_shape", f"expected [width, height, channels] whole numbers, got {shown(shape)}"
        )
    if max(shape[:2]) > MAX_IMAGE_SIDE.value():
        raise fields.error("input_image_shape", MAX_IMAGE_SIDE.exceeded("a side", max(shape[:2])))
    width, height, channels = shape
    if channels != 3:
        raise fields.error(
            "input_image_shape", f"only 3-channel (RGB) networks are supported, got {channels}"
        )
    mean_image = fields.array("mean_image", (height, width, channels), default=None)
    return ImageMetadata(
        height=height,
        width=width,
        channels=channels,
        loading_method=fields.string("loading_method", choices=STANDARDIZERS, default="none"),
        mean_image=mean_image,
        rescale_type=fields.string("rescale_type", choices=RESCALE_TYPES, default="warp"),
        base_image_network=fields.string("base_image_network", default=None),
        version=fields.string("version", default=None),
        heads=parse_yolo_heads(fields, layer_count) if isinstance(fields.raw("outputs", None), list) else (),
    )


def parse_image_network(fields: Fields) -> ImageNetwork:
    """Parse BigML's ``image_network`` (``metadata`` and ``layers``)."""
    items = fields.children("layers")
    if not items:
        raise fields.error("layers", "an image network needs at least one layer")
    metadata = parse_image_metadata(fields.child("metadata"), len(items))
    in_shape = (metadata.height, metadata.width, metadata.channels)
    nodes, shapes = _parse_graph_shapes(items, in_shape)
    return ImageNetwork(metadata, nodes, shapes[-1], tuple(shapes))
