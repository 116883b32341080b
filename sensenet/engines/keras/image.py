"""Keras layers for the image network: pixel standardisation and one function per CNN layer type."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from sensenet.engines.keras.activations import ACTIVATIONS
from sensenet.engines.keras.core import KERAS_LAYERS
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


class ImageStandardization(keras.layers.Layer):
    """RGB pixels (0-255, float32) to what the network was trained on.

    See `ImageMetadata.standardization`.
    """

    def __init__(self, metadata: ImageMetadata, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reverse, self.mean, self.spread = metadata.standardization
        self.mean_image = metadata.mean_image

    def call(self, x: Any) -> Any:
        if self.reverse:
            x = ops.flip(x, axis=-1)
        if self.mean_image is not None:
            x = x - self.mean_image
        if np.any(self.mean != 0):
            x = x - self.mean
        if np.any(self.spread != 1):
            x = x / self.spread
        return x

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


def _with_weights(keras_layer: Any, x: Any, weights: list[np.ndarray]) -> Any:
    keras_layer.build(x.shape)
    keras_layer.set_weights(weights)
    return keras_layer(x)


def convolution_2d(layer: Convolution2D, inputs: Any) -> Any:
    (x,) = inputs
    keras_layer = keras.layers.Conv2D(
        layer.kernel.shape[3],
        layer.kernel.shape[:2],
        strides=layer.strides,
        padding=layer.padding,
        dilation_rate=layer.dilation,
        activation=ACTIVATIONS[layer.activation],
    )
    return _with_weights(keras_layer, x, [layer.kernel, layer.bias])


def depthwise_convolution_2d(layer: DepthwiseConvolution2D, inputs: Any) -> Any:
    (x,) = inputs
    keras_layer = keras.layers.DepthwiseConv2D(
        layer.kernel.shape[:2],
        strides=layer.strides,
        padding=layer.padding,
        depth_multiplier=layer.kernel.shape[3],
        dilation_rate=layer.dilation,
        activation=ACTIVATIONS[layer.activation],
    )
    return _with_weights(keras_layer, x, [layer.kernel, layer.bias])


def separable_convolution_2d(layer: SeparableConvolution2D, inputs: Any) -> Any:
    (x,) = inputs
    keras_layer = keras.layers.SeparableConv2D(
        layer.point_kernel.shape[3],
        layer.depth_kernel.shape[:2],
        strides=layer.strides,
        padding=layer.padding,
        depth_multiplier=layer.depth_kernel.shape[3],
        dilation_rate=layer.dilation,
        activation=ACTIVATIONS[layer.activation],
    )
    return _with_weights(keras_layer, x, [layer.depth_kernel, layer.point_kernel, layer.bias])


def max_pool_2d(layer: MaxPool2D, inputs: Any) -> Any:
    return keras.layers.MaxPooling2D(layer.pool_size, layer.strides, layer.padding)(inputs[0])


def average_pool_2d(layer: AveragePool2D, inputs: Any) -> Any:
    return keras.layers.AveragePooling2D(layer.pool_size, layer.strides, layer.padding)(inputs[0])


def global_average_pool_2d(layer: GlobalAveragePool2D, inputs: Any) -> Any:
    return keras.layers.GlobalAveragePooling2D()(inputs[0])


def global_max_pool_2d(layer: GlobalMaxPool2D, inputs: Any) -> Any:
    return keras.layers.GlobalMaxPooling2D()(inputs[0])


def padding_2d(layer: Padding2D, inputs: Any) -> Any:
    return keras.layers.ZeroPadding2D(layer.padding)(inputs[0])


def upsampling_2d(layer: Upsampling2D, inputs: Any) -> Any:
    return keras.layers.UpSampling2D(layer.size, interpolation=layer.method)(inputs[0])


def concatenate(layer: Concatenate, inputs: Any) -> Any:
    return keras.layers.Concatenate(axis=-1)(list(inputs))


def add(layer: Add, inputs: Any) -> Any:
    return keras.layers.Add()(list(inputs))


def split_channels(layer: SplitChannels, inputs: Any) -> Any:
    (x,) = inputs
    group = x.shape[-1] // layer.number_of_splits
    start = layer.group_index * group
    return x[..., start : start + group]


def residual_block(layer: ResidualBlock, inputs: Any) -> Any:
    (x,) = inputs
    total = keras.layers.Add()([apply_graph(path, x) for path in layer.paths])
    return keras.layers.Activation(ACTIVATIONS[layer.activation])(total)


def _single_input(function: Callable[[Any, Any], Any]) -> Callable[[Any, Sequence[Any]], Any]:
    """A dense-network layer function used on an image network node."""
    return lambda layer, inputs: function(layer, inputs[0])


IMAGE_KERAS_LAYERS: dict[type, Callable[[Any, Sequence[Any]], Any]] = {
    **{kind: _single_input(function) for kind, function in KERAS_LAYERS.items()},
    Convolution2D: convolution_2d,
    DepthwiseConvolution2D: depthwise_convolution_2d,
    SeparableConvolution2D: separable_convolution_2d,
    MaxPool2D: max_pool_2d,
    AveragePool2D: average_pool_2d,
    GlobalAveragePool2D: global_average_pool_2d,
    GlobalMaxPool2D: global_max_pool_2d,
    Padding2D: padding_2d,
    Upsampling2D: upsampling_2d,
    Concatenate: concatenate,
    Add: add,
    SplitChannels: split_channels,
    ResidualBlock: residual_block,
}


def graph_outputs(nodes: Sequence[Node], x: Any) -> list:
    """Every node's output, in order; `IMAGE_INPUT` reads `x`."""
    outputs: list = []
    for node in nodes:
        sources = [x if i == IMAGE_INPUT else outputs[i] for i in node.inputs]
        outputs.append(IMAGE_KERAS_LAYERS[type(node.layer)](node.layer, sources))
    return outputs


def apply_graph(nodes: Sequence[Node], x: Any) -> Any:
    """The graph's last node's output (`x` itself for an empty graph, an identity path)."""
    return graph_outputs(nodes, x)[-1] if nodes else x


def image_feature_model(network: ImageNetwork) -> keras.Model:
    """Pixels (rows, height, width, 3), RGB 0-255 float32, to the network's last node's output."""
    meta = network.metadata
    pixels = keras.Input(shape=(meta.height, meta.width, meta.channels), dtype="float32", name="pixels")
    features = apply_graph(network.nodes, ImageStandardization(meta)(pixels))
    return keras.Model(pixels, features, name=f"image_network_{meta.base_image_network or 'custom'}")
