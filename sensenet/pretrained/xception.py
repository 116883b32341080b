"""Xception: separable-convolution entry, middle and exit flows, as BigML lays them out."""

from __future__ import annotations

from collections.abc import Sequence

from sensenet.pretrained.blocks import (
    LayerGraph,
    activation,
    add,
    batch_normalization,
    conv_bn_act,
    convolution,
    global_average_pool,
    max_pool,
    separable_convolution,
)
from sensenet.pretrained.layout import image_classifier, image_metadata, imagenet_labels

ENTRY_FILTERS = (128, 256, 728)
MIDDLE_BLOCKS = 8
MIDDLE_FILTERS = 728
EXIT_FILTERS = (728, 1024)


def _separable_bn(graph: LayerGraph, filters: int, leading_relu: bool = True) -> int:
    if leading_relu:
        activation(graph, "relu")
    separable_convolution(graph, filters)
    return batch_normalization(graph)


def downsampling_block(
    graph: LayerGraph, block_input: int, filters: tuple[int, int], leading_relu: bool
) -> int:
    """Two separable convolutions then a stride-2 max pool, added to a stride-2 1x1 projection."""
    _separable_bn(graph, filters[0], leading_relu)
    residual = _separable_bn(graph, filters[1])
    projection = convolution(graph, filters[1], 1, strides=2, inputs=block_input)
    pooled = max_pool(graph, 3, 2, "same", inputs=residual)
    shortcut = batch_normalization(graph, inputs=projection)
    add(graph, pooled, shortcut)
    return activation(graph, "linear")


def middle_block(graph: LayerGraph, block_input: int) -> int:
    for _ in range(3):
        residual = _separable_bn(graph, MIDDLE_FILTERS)
    add(graph, residual, block_input)
    return activation(graph, "linear")


def xception(labels: Sequence[str] | None = None) -> dict:
    graph = LayerGraph()
    conv_bn_act(graph, 32, 3, "relu", strides=2, padding="valid")
    output = conv_bn_act(graph, 64, 3, "relu", padding="valid")
    for index, filters in enumerate(ENTRY_FILTERS):
        output = downsampling_block(graph, output, (filters, filters), leading_relu=index > 0)
    for _ in range(MIDDLE_BLOCKS):
        output = middle_block(graph, output)
    downsampling_block(graph, output, EXIT_FILTERS, leading_relu=True)
    for filters in (1536, 2048):
        separable_convolution(graph, filters)
        batch_normalization(graph)
        activation(graph, "relu")
    global_average_pool(graph)
    metadata = image_metadata("xception", "967071f6", 299, "centering", "crop", 2048)
    return image_classifier(graph, metadata, imagenet_labels(labels))
