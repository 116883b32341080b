"""TinyYOLOv4 and YOLOv4: CSP-Darknet backbones, SPP/PAN necks and detection heads, as BigML lays them out.

The heads are 1x1 convolutions with bias giving, per anchor, a box, an
objectness score and one score per class; ``metadata["outputs"]`` names them
with their anchors, stride and xy scale.
"""

from __future__ import annotations

from collections.abc import Sequence

from sensenet.pretrained.blocks import (
    Conv,
    LayerGraph,
    add,
    concatenate,
    conv_bn_act,
    convolution,
    max_pool,
    padding,
    parallel_conv_bn,
    split_channels,
    upsampling,
)
from sensenet.pretrained.layout import coco_labels, image_metadata, object_detector, yolo_head_filters

LEAKY = "leaky_relu"
MISH = "mish"

# per head, small objects first: (anchors in pixels, stride, xy scale)
TINYYOLOV4_SCALES = (
    ([[23, 27], [37, 58], [81, 82]], 16, 1.05),
    ([[81, 82], [135, 169], [344, 319]], 32, 1.05),
)
YOLOV4_SCALES = (
    ([[12, 16], [19, 36], [40, 28]], 8, 1.2),
    ([[36, 75], [76, 55], [72, 146]], 16, 1.1),
    ([[142, 110], [192, 243], [459, 401]], 32, 1.05),
)
# (filters, residual blocks) of each CSP-Darknet53 stage
CSPDARKNET53_STAGES = ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4))
SPP_POOL_SIZES = (13, 9, 5)


def _downsample(graph: LayerGraph, filters: int, function: str, inputs: int | None = None) -> int:
    """Darknet's stride-2 3x3 convolution: pad top and left only, then a 'valid' convolution."""
    padding(graph, 1, 0, inputs=inputs)
    return conv_bn_act(graph, filters, 3, function, strides=2, padding="valid")


def _heads(graph: LayerGraph, branches: Sequence[int], filters: Sequence[int], classes: int) -> list[int]:
    features = parallel_conv_bn(
        graph, [Conv(width, 3, inputs=branch) for branch, width in zip(branches, filters)], LEAKY
    )
    return [convolution(graph, yolo_head_filters(classes), 1, bias=True, inputs=f) for f in features]


def _detector(
    graph: LayerGraph, name: str, version: str, scales: tuple, heads: list[int], labels: list
) -> dict:
    outputs = [
        {"anchors": anchors, "strides": stride, "xyscale": xyscale, "input": head}
        for (anchors, stride, xyscale), head in zip(scales, heads)
    ]
    metadata = image_metadata(name, version, 416, "normalizing", "pad", outputs)
    return object_detector(graph, metadata, labels)


def csp_tiny_block(graph: LayerGraph, filters: int) -> tuple[int, int]:
    """Returns the block's pooled output and its inner 1x1 features (a route for the neck)."""
    whole = conv_bn_act(graph, filters, 3, LEAKY)
    split_channels(graph, 2, 1)
    half = conv_bn_act(graph, filters // 2, 3, LEAKY)
    second = conv_bn_act(graph, filters // 2, 3, LEAKY)
    concatenate(graph, second, half)
    route = conv_bn_act(graph, filters, 1, LEAKY)
    concatenate(graph, whole, route)
    return max_pool(graph, 2, 2, "same"), route


def tinyyolov4(labels: Sequence[str] | None = None) -> dict:
    labels = coco_labels(labels)
    graph = LayerGraph()
    _downsample(graph, 32, LEAKY)
    _downsample(graph, 64, LEAKY)
    for filters in (64, 128, 256):
        _, route = csp_tiny_block(graph, filters)
    conv_bn_act(graph, 512, 3, LEAKY)
    coarse = conv_bn_act(graph, 256, 1, LEAKY)
    conv_bn_act(graph, 128, 1, LEAKY)
    upsampled = upsampling(graph)
    fine = concatenate(graph, upsampled, route)
    heads = _heads(graph, [fine, coarse], [256, 512], len(labels))
    return _detector(graph, "tinyyolov4", "45a05485", TINYYOLOV4_SCALES, heads, labels)


def csp_stage(graph: LayerGraph, filters: int, blocks: int, first: bool) -> int:
    """Downsample, then residual blocks on one half of the channels, concatenated with the other half."""
    downsampled = _downsample(graph, filters, MISH)
    channels = filters if first else filters // 2
    main = conv_bn_act(graph, channels, 1, MISH)
    for _ in range(blocks):
        conv_bn_act(graph, filters // 2, 1, MISH)
        residual = conv_bn_act(graph, channels, 3, MISH)
        main = add(graph, main, residual)
    main, shortcut = parallel_conv_bn(
        graph, [Conv(channels, 1, inputs=main), Conv(channels, 1, inputs=downsampled)], MISH
    )
    concatenate(graph, main, shortcut)
    return conv_bn_act(graph, filters, 1, MISH)


def conv_stack(graph: LayerGraph, filters: int, count: int, inputs: int | None = None) -> int:
    """Alternating 1x1 (`filters`) and 3x3 (twice as many) convolutions, starting and ending with 1x1."""
    output = conv_bn_act(graph, filters, 1, LEAKY, inputs=inputs)
    for index in range(1, count):
        odd = index % 2
        output = conv_bn_act(graph, filters * (1 + odd), 1 + 2 * odd, LEAKY, inputs=output)
    return output


def _upsample_merge(graph: LayerGraph, deep: int, lateral: int, filters: int) -> int:
    to_upsample, lateral = parallel_conv_bn(
        graph, [Conv(filters, 1, inputs=deep), Conv(filters, 1, inputs=lateral)], LEAKY
    )
    upsampled = upsampling(graph, inputs=to_upsample)
    return conv_stack(graph, filters, 5, inputs=concatenate(graph, lateral, upsampled))


def _downsample_merge(graph: LayerGraph, shallow: int, deep: int, filters: int) -> int:
    downsampled = _downsample(graph, filters, LEAKY, inputs=shallow)
    return conv_stack(graph, filters, 5, inputs=concatenate(graph, downsampled, deep))


def yolov4(labels: Sequence[str] | None = None) -> dict:
    labels = coco_labels(labels)
    graph = LayerGraph()
    conv_bn_act(graph, 32, 3, MISH)
    stages = [
        csp_stage(graph, filters, blocks, index == 0)
        for index, (filters, blocks) in enumerate(CSPDARKNET53_STAGES)
    ]
    spp_input = conv_stack(graph, 512, 3)
    pools = [max_pool(graph, size, 1, "same", inputs=spp_input) for size in SPP_POOL_SIZES]
    large = conv_stack(graph, 512, 3, inputs=concatenate(graph, *pools, spp_input))
    medium = _upsample_merge(graph, large, stages[3], 256)
    small = _upsample_merge(graph, medium, stages[2], 128)
    medium = _downsample_merge(graph, small, medium, 256)
    large = _downsample_merge(graph, medium, large, 512)
    heads = _heads(graph, [small, medium, large], [256, 512, 1024], len(labels))
    return _detector(graph, "yolov4", "37999bf0", YOLOV4_SCALES, heads, labels)
