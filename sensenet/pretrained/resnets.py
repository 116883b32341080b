"""ResNet18 (basic blocks, converted from PyTorch) and ResNet50 (bottlenecks), as BigML lays them out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sensenet.pretrained.blocks import (
    Conv,
    LayerGraph,
    activation,
    add,
    conv_bn,
    conv_bn_act,
    global_average_pool,
    max_pool,
    padding,
    parallel_conv_bn,
)
from sensenet.pretrained.layout import image_classifier, image_metadata, imagenet_labels

# PyTorch's batch normalization epsilon, 1e-5, as the float32 BigML stores it
RESNET18_EPSILON = float(np.float32(1e-5))

# (filters, blocks) per stage; every stage but the first starts with a stride-2 projection block
RESNET18_STAGES = ((64, 2), (128, 2), (256, 2), (512, 2))
RESNET50_STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))


def _padded_conv_bn(graph: LayerGraph, filters: int, strides: int = 1) -> int:
    padding(graph, 1)
    return conv_bn(graph, filters, 3, strides, padding="valid", epsilon=RESNET18_EPSILON)


def basic_block(graph: LayerGraph, block_input: int, filters: int, strides: int) -> int:
    """Two 3x3 convolutions added to the input, or to its 1x1 projection when the shape changes."""
    _padded_conv_bn(graph, filters, strides)
    activation(graph, "relu")
    if strides == 1:
        residual = _padded_conv_bn(graph, filters)
        add(graph, residual, block_input)
    else:
        padded = padding(graph, 1)
        residual, shortcut = parallel_conv_bn(
            graph,
            [
                Conv(filters, 3, padding="valid", inputs=padded),
                Conv(filters, 1, strides, padding="valid", inputs=block_input),
            ],
            epsilon=RESNET18_EPSILON,
        )
        add(graph, residual, shortcut)
    return activation(graph, "relu")


def resnet18(labels: Sequence[str] | None = None) -> dict:
    graph = LayerGraph()
    padding(graph, 3)
    conv_bn_act(graph, 64, 7, "relu", strides=2, padding="valid", epsilon=RESNET18_EPSILON)
    padding(graph, 1)
    output = max_pool(graph, 3, 2, "valid")
    for stage, (filters, blocks) in enumerate(RESNET18_STAGES):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            output = basic_block(graph, output, filters, strides)
    global_average_pool(graph)
    metadata = image_metadata("resnet18", "cb5ddcb5", 224, "channelwise_standardizing", "crop", 512)
    return image_classifier(graph, metadata, imagenet_labels(labels), separate_softmax=True)


def bottleneck_block(graph: LayerGraph, block_input: int, filters: int, strides: int, project: bool) -> int:
    """1x1 reduce (with the stride), 3x3, 1x1 expand to 4x filters; added to the input or its projection."""
    conv_bn_act(graph, filters, 1, "relu", strides, padding="valid", bias=True)
    expanded = conv_bn_act(graph, filters, 3, "relu", bias=True)
    if project:
        residual, shortcut = parallel_conv_bn(
            graph,
            [
                Conv(4 * filters, 1, padding="valid", inputs=expanded),
                Conv(4 * filters, 1, strides, padding="valid", inputs=block_input),
            ],
            bias=True,
        )
    else:
        residual, shortcut = conv_bn(graph, 4 * filters, 1, padding="valid", bias=True), block_input
    add(graph, residual, shortcut)
    return activation(graph, "relu")


def resnet50(labels: Sequence[str] | None = None) -> dict:
    graph = LayerGraph()
    padding(graph, 3)
    conv_bn_act(graph, 64, 7, "relu", strides=2, padding="valid", bias=True)
    output = max_pool(graph, 3, 2, "valid")
    for stage, (filters, blocks) in enumerate(RESNET50_STAGES):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            output = bottleneck_block(graph, output, filters, strides, project=block == 0)
    global_average_pool(graph)
    metadata = image_metadata("resnet50", "8705001b", 224, "channelwise_centering", "crop", 2048)
    return image_classifier(graph, metadata, imagenet_labels(labels))
