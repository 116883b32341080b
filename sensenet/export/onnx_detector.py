"""An object detector as one ONNX graph: the ONNX engine's raw YOLO heads, then decoding and NMS.

The heads come from `sensenet.engines.onnx.image.image_network_graph` (what the
``onnx`` engine runs); the rest mirrors `sensenet.detection.yolo` in ONNX ops, in the
same float32 order: each head decoded as `sensenet.detection.yolo.decode_head` does,
then ONE class-agnostic ONNX ``NonMaxSuppression`` over every candidate (each
box scoring for its best class), as BigML suppresses; a kept box with no
coordinate above 0 suppresses but is not returned, and the rest is cut to
``max_objects``. Thresholds and ``max_objects`` are baked in.

Inputs as the TensorFlow detector graph's network-size form: ``pixels``
(1, height, width, 3) float32 RGB 0-255, fitted by the detector's rescale
type, and ``image_size``, the original image's (height, width) as float32.
Outputs as the TensorFlow detector graph's: ``boxes`` (max_objects, 4)
``[x1, y1, x2, y2]`` in whole pixels of the original image (mapped and
rounded before the suppression, as BigML does), ``scores``, ``classes``
(int32) and ``count``; rows past ``count`` are zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from sensenet.engines.onnx.graph import GraphBuilder
from sensenet.engines.onnx.image import image_network_graph, node_output_name
from sensenet.export.detector_graph import baked_settings, check_exportable, iou_threshold_for_strict_ops
from sensenet.spec.output_names import BOXES, CLASSES, COUNT, SCORES

PREFIX = "detect_"


def _sigmoid(g: GraphBuilder, x: str) -> str:
    """1 / (1 + exp(-x)), as numpy computes it in `sensenet.detection.yolo`."""
    one = g.constant(1.0)
    return g.op("Div", one, g.op("Add", one, g.op("Exp", g.op("Neg", x))))


def _channels(g: GraphBuilder, cells: str, start: int, end: int) -> str:
    return g.op(
        "Slice", cells, g.constant([start], np.int64), g.constant([end], np.int64), g.constant([3], np.int64)
    )


def _decode_head(
    g: GraphBuilder, raw: str, head: Any, shape: Sequence[int], class_count: int
) -> tuple[str, str, str]:
    grid_h, grid_w = shape[1], shape[2]
    anchors = head.anchors.astype(np.float32)
    cells = g.op("Reshape", raw, g.constant([grid_h, grid_w, len(anchors), 5 + class_count], np.int64))
    grid_x, grid_y = np.meshgrid(np.arange(grid_w, dtype=np.float32), np.arange(grid_h, dtype=np.float32))
    grid = np.stack([grid_x, grid_y], axis=-1)[:, :, np.newaxis, :]

    scale = np.float32(head.xyscale)
    shift = np.float32(0.5 * (float(head.xyscale) - 1.0))  # as `decode_head`: in double, then float32
    offsets = g.op(
        "Sub", g.op("Mul", _sigmoid(g, _channels(g, cells, 0, 2)), g.constant(scale)), g.constant(shift)
    )
    centers = g.op("Mul", g.op("Add", offsets, g.constant(grid)), g.constant(np.float32(head.stride)))
    sizes = g.op("Mul", g.op("Exp", _channels(g, cells, 2, 4)), g.constant(anchors))
    objectness = _sigmoid(g, _channels(g, cells, 4, 5))
    class_scores = g.op("Mul", objectness, _sigmoid(g, _channels(g, cells, 5, 5 + class_count)))

    half = g.op("Div", sizes, g.constant(np.float32(2)))
    corners = g.op("Concat", g.op("Sub", centers, half), g.op("Add", centers, half), axis=-1)
    boxes = g.op("Reshape", corners, g.constant([-1, 4], np.int64))
    class_scores = g.op("Reshape", class_scores, g.constant([-1, class_count], np.int64))
    classes = g.op("ArgMax", class_scores, axis=1, keepdims=0)
    scores = g.op("ReduceMax", class_scores, axes=[1], keepdims=0)
    return boxes, scores, classes


def _suppress(g: GraphBuilder, boxes: str, scores: str, classes: str, settings: dict) -> dict[str, str]:
    """One class-agnostic NonMaxSuppression over every candidate, best first, padded to max_objects.

    Every candidate may be kept: as BigML's op, a kept box with no coordinate above 0 still
    suppresses others but is not returned, and ``max_objects`` counts the returned ones.
    """
    max_objects = settings["max_objects"]
    axis0 = g.constant([0], np.int64)
    selected = g.op(
        "NonMaxSuppression",
        g.op("Unsqueeze", boxes, axis0),
        g.op("Unsqueeze", g.op("Unsqueeze", scores, axis0), axis0),  # (1, 1, boxes): one class
        g.op("Shape", scores),
        g.constant([iou_threshold_for_strict_ops(settings["iou_threshold"])]),
        g.constant([settings["score_threshold"]]),
    )
    # The (kept, 3) [image, class, box] indices come best first: keep the box column.
    box_column = g.op("Gather", selected, g.constant([2], np.int64), axis=1)
    kept = g.op("Squeeze", box_column, g.constant([1], np.int64))
    highest = g.op("ReduceMax", g.op("Gather", boxes, kept, axis=0), axes=[1], keepdims=0)
    returned = g.op("Compress", kept, g.op("Greater", highest, g.constant(0.0)), axis=0)
    kept = g.op("Slice", returned, axis0, g.constant([max_objects], np.int64), axis0)
    count = g.op("Shape", kept)
    missing = g.op("Sub", g.constant([max_objects], np.int64), count)
    zero = g.constant([0], np.int64)

    def padded(x: str, rank: int) -> str:
        pads = g.op("Concat", zero, *([zero] * (rank - 1)), missing, *([zero] * (rank - 1)), axis=0)
        return g.op("Pad", x, pads)

    return {
        BOXES: padded(g.op("Gather", boxes, kept, axis=0), 2),
        SCORES: padded(g.op("Gather", scores, kept, axis=0), 1),
        CLASSES: g.op("Cast", padded(g.op("Gather", classes, kept, axis=0), 1), to=TensorProto.INT32),
        COUNT: g.op("Cast", g.op("Squeeze", count, zero), to=TensorProto.INT32),
    }


IMAGE_SIZE = "image_size"


def _to_original_pixels(g: GraphBuilder, boxes: str, rescale_type: str, height: int, width: int) -> str:
    """`sensenet.inputs.rescale.to_original_pixels` in ONNX ops, same float32 order, from the
    graph input ``image_size`` (the original (height, width), float32)."""
    target = g.constant(np.array([height, width], np.float32))

    def xyxy(pair: str) -> str:  # (y, x) -> (x, y, x, y)
        return g.op("Gather", pair, g.constant([1, 0, 1, 0], np.int64), axis=0)

    if rescale_type == "pad":
        sides = g.constant(np.array([width, height, width, height], np.float32))
        mapped = g.op("Mul", g.op("Div", boxes, sides), g.op("ReduceMax", IMAGE_SIZE, keepdims=1))
    elif rescale_type == "warp":
        mapped = g.op("Div", boxes, xyxy(g.op("Div", target, IMAGE_SIZE)))
    else:  # crop
        scale = g.op("ReduceMax", g.op("Div", target, IMAGE_SIZE), keepdims=1)
        scaled = g.op("Mul", IMAGE_SIZE, scale)
        offsets = g.op("Round", g.op("Div", g.op("Sub", scaled, target), g.constant(np.float32(2))))
        first = g.constant([0], np.int64)
        ratio = g.op("Div", g.op("Gather", scaled, first, axis=0), g.op("Gather", IMAGE_SIZE, first, axis=0))
        mapped = g.op("Div", g.op("Add", boxes, xyxy(offsets)), ratio)
    return g.op("Round", mapped)


OUTPUT_TYPES = {
    BOXES: TensorProto.FLOAT,
    SCORES: TensorProto.FLOAT,
    CLASSES: TensorProto.INT32,
    COUNT: TensorProto.INT32,
}


def _decoder(detector: Any, head_shapes: list[list[int]], heads_model: onnx.ModelProto) -> onnx.ModelProto:
    """Raw heads (inputs ``head_<k>``, batch of one) to the kept boxes."""
    g = GraphBuilder()
    class_count = len(detector._classes)
    settings = baked_settings(detector)
    max_objects = settings["max_objects"]
    decoded = [
        _decode_head(g, f"head_{k}", head, shape, class_count)
        for k, (head, shape) in enumerate(zip(detector._heads, head_shapes))
    ]
    boxes, scores, classes = (g.op("Concat", *parts, axis=0) for parts in zip(*decoded))
    height, width = detector._input_size
    boxes = _to_original_pixels(g, boxes, detector._rescale_type, height, width)
    outputs = _suppress(g, boxes, scores, classes, settings)
    for name, tensor in outputs.items():
        g.nodes.append(helper.make_node("Identity", [tensor], [name]))
    sizes = {BOXES: [max_objects, 4], SCORES: [max_objects], CLASSES: [max_objects], COUNT: []}
    graph = helper.make_graph(
        g.nodes,
        "sensenet_detector",
        [helper.make_tensor_value_info(f"head_{k}", TensorProto.FLOAT, s) for k, s in enumerate(head_shapes)]
        + [helper.make_tensor_value_info(IMAGE_SIZE, TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info(name, OUTPUT_TYPES[name], sizes[name]) for name in outputs],
        initializer=g.initializers,
    )
    return helper.make_model(graph, opset_imports=heads_model.opset_import, ir_version=heads_model.ir_version)


def _fixed_batch(model: onnx.ModelProto) -> None:
    """The detector takes one image: fix the inputs' and outputs' batch dimension to 1."""
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = 1


def detector_graph(detector: Any) -> onnx.ModelProto:
    """The whole detector: inputs ``pixels`` and ``image_size``, outputs ``boxes``, ``scores``,
    ``classes``, ``count``."""
    check_exportable(detector)
    network = detector.spec.image_network
    nodes = network.metadata.output_nodes
    heads = image_network_graph(network, nodes)
    _fixed_batch(heads)
    outputs = {output.name: output for output in heads.graph.output}
    head_shapes = [
        [d.dim_value for d in outputs[node_output_name(n)].type.tensor_type.shape.dim] for n in nodes
    ]
    # Both parts name their tensors alike: prefix the decoder's (but its outputs, the graph's).
    decoder = onnx.compose.add_prefix(_decoder(detector, head_shapes, heads), PREFIX, rename_outputs=False)
    io_map = [(node_output_name(n), f"{PREFIX}head_{k}") for k, n in enumerate(nodes)]
    merged = onnx.compose.merge_models(heads, decoder, io_map=io_map)
    _rename_input(merged, PREFIX + IMAGE_SIZE, IMAGE_SIZE)
    return merged


def _rename_input(model: onnx.ModelProto, old: str, new: str) -> None:
    for value in model.graph.input:
        if value.name == old:
            value.name = new
    for node in model.graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
