"""MobileNet (depthwise separable blocks) and MobileNetV2 (inverted residuals), as BigML lays them out."""

from __future__ import annotations

from collections.abc import Sequence

from sensenet.pretrained.blocks import (
    LayerGraph,
    activation,
    add,
    batch_normalization,
    conv_bn,
    conv_bn_act,
    depthwise_convolution,
    global_average_pool,
    padding,
)
from sensenet.pretrained.layout import image_classifier, image_metadata, imagenet_labels

# (pointwise filters, depthwise stride) of MobileNet's 13 depthwise separable blocks
MOBILENET_BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    *((512, 1),) * 5,
    (1024, 2),
    (1024, 1),
)

# (expansion, output channels, repeats, first stride) of MobileNetV2's inverted residual stages
MOBILENETV2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def depthwise_separable_block(graph: LayerGraph, filters: int, strides: int) -> int:
    padding(graph, 1)
    depthwise_convolution(graph, 3, strides, padding="valid")
    batch_normalization(graph)
    activation(graph, "relu6")
    return conv_bn_act(graph, filters, 1, "relu6")


def mobilenet(labels: Sequence[str] | None = None) -> dict:
    graph = LayerGraph()
    padding(graph, 1)
    conv_bn_act(graph, 32, 3, "relu6", strides=2, padding="valid")
    for filters, strides in MOBILENET_BLOCKS:
        depthwise_separable_block(graph, filters, strides)
    global_average_pool(graph)
    metadata = image_metadata("mobilenet", "208b4ec4", 224, "centering", "crop", 1024)
    return image_classifier(graph, metadata, imagenet_labels(labels), separate_softmax=True)


def inverted_residual_block(
    graph: LayerGraph, block_input: int, in_channels: int, expansion: int, filters: int, strides: int
) -> int:
    """Expand (1x1), filter (3x3 depthwise), project (1x1, linear); add the input when shapes allow."""
    if expansion != 1:
        conv_bn_act(graph, in_channels * expansion, 1, "relu6", inputs=block_input)
    depthwise_convolution(graph, 3, strides)
    batch_normalization(graph)
    activation(graph, "relu6")
    projected = conv_bn(graph, filters, 1)
    if strides != 1 or in_channels != filters:
        return projected
    add(graph, projected, block_input)
    return activation(graph, "linear")


def mobilenetv2(labels: Sequence[str] | None = None) -> dict:
    graph = LayerGraph()
    output = conv_bn_act(graph, 32, 3, "relu6", strides=2)
    channels = 32
    for expansion, filters, repeats, first_stride in MOBILENETV2_STAGES:
        for repeat in range(repeats):
            strides = first_stride if repeat == 0 else 1
            output = inverted_residual_block(graph, output, channels, expansion, filters, strides)
            channels = filters
    conv_bn_act(graph, 1280, 1, "relu6", padding="valid")
    global_average_pool(graph)
    metadata = image_metadata("mobilenetv2", "31b538bd", 224, "skewed_centering", "crop", 1280)
    return image_classifier(graph, metadata, imagenet_labels(labels))
